"""Models that supply an RDM instead of activations: the reference models of an RSA literature.

A model entry with ``supplies = "rdm"`` names a factory that returns an :class:`RDMModel`:
one representational dissimilarity matrix over a stimulus set (the assembly named by
the entry's ``stimuli``), given as its one "layer" (``rdm``). The scorer asks it for
:meth:`RDMModel.features` instead of running a network, and the representation stage
compares the supplied matrix with each site's RDM exactly as it compares a layer's RDM
(:func:`brainbench.scoring.representation.layer_matrix`); the run is keyed and stored
like any other (its "weights" hash is the sha256 of the matrix and its stimulus ids).

Such a model has no activations: it cannot be scored by a regression benchmark, by a
comparison of activations (linear CKA), or on stimuli its matrix does not cover; each is
refused with one sentence before anything is computed. A model RDM that *is* a
benchmark's data (the ``monkeyIT`` RDM of the 92-image set) is declared with
``data_of``, and the representation stage refuses any model RDM identical to a site's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from brainbench.errors import ModelError
from brainbench.registry.manifest import Preprocessing

LAYER = "rdm"


@dataclass(frozen=True)
class SuppliedRDM:
    """A model's RDM over a benchmark's stimuli, in their order: the "activations" of an RDM model.

    Attributes:
        matrix: ``(stimulus, stimulus)`` float64 dissimilarities.
        sha256: hash of the matrix bytes (recorded as the layer's activations hash).
    """

    matrix: np.ndarray
    sha256: str

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.matrix.shape)


class RDMModel:
    """A model that supplies one RDM over a stimulus set (see the module docstring).

    Args:
        rdm: ``(n, n)`` symmetric dissimilarities with a zero diagonal.
        stimulus_ids: ``(n,)`` the stimuli of its rows and columns, in order.
        identifier: model id (set from the registry by :func:`brainbench.models.base.load_model`).
    """

    supplies = "rdm"

    def __init__(self, rdm: np.ndarray, stimulus_ids: Sequence[str], identifier: str = "") -> None:
        matrix = np.asarray(rdm, dtype=np.float64)
        ids = [str(s) for s in stimulus_ids]
        if matrix.ndim != 2 or matrix.shape != (len(ids), len(ids)):
            raise ModelError(f"an RDM model needs an (n, n) matrix for its {len(ids)} stimuli, got {matrix.shape}.")
        if not np.isfinite(matrix).all() or not np.allclose(matrix, matrix.T):
            raise ModelError("an RDM model's matrix must be finite and symmetric.")
        self.rdm = matrix
        self.stimulus_ids = ids
        self.identifier = identifier
        self.preprocessing = Preprocessing()  # no image reaches it; kept for the scorer's uniform view
        self.layers = [LAYER]
        self.layer_modules: dict[str, str] = {}

    @cached_property
    def weights_hash(self) -> str:
        """sha256 over the stimulus ids and the matrix bytes."""
        digest = hashlib.sha256("\0".join(self.stimulus_ids).encode())
        digest.update(np.ascontiguousarray(self.rdm).tobytes())
        return digest.hexdigest()

    def check_layers(self, layers: Sequence[str]) -> list[str]:
        unknown = [layer for layer in layers if layer != LAYER]
        if unknown:
            raise ModelError(
                f"model {self.identifier!r} supplies one RDM, whose only layer is {LAYER!r}; "
                f"it has no layer {unknown[0]!r}."
            )
        return list(layers)

    def features(self, stimulus_ids: Sequence[str]) -> dict[str, SuppliedRDM]:
        """The RDM over ``stimulus_ids`` (rows and columns in that order), as the one layer.

        Raises:
            ModelError: when a stimulus is not one the matrix covers.
        """
        position = {sid: k for k, sid in enumerate(self.stimulus_ids)}
        missing = [str(s) for s in stimulus_ids if str(s) not in position]
        if missing:
            raise ModelError(
                f"model {self.identifier!r} supplies an RDM over {len(self.stimulus_ids)} stimuli that lack "
                f"{len(missing)} of the benchmark's (e.g. {missing[0]!r}); score it on a benchmark of its own stimuli."
            )
        order = np.asarray([position[str(s)] for s in stimulus_ids])
        matrix = self.rdm[np.ix_(order, order)]
        return {LAYER: SuppliedRDM(matrix, hashlib.sha256(np.ascontiguousarray(matrix).tobytes()).hexdigest())}

    def to(self, device: Any) -> RDMModel:
        return self


def kriegeskorte2008_reference(name: str) -> RDMModel:
    """A reference model RDM of the 92-image set (``92_modelRDMs.mat``: HMAX, V1, EVA, animacy, ...).

    Args:
        name: the model's name in the file (see
            :data:`brainbench.data.kriegeskorte2008_files.REFERENCE_MODELS`).
    """
    from brainbench.data.fetch import fetch
    from brainbench.data.kriegeskorte2008_files import IMAGE_IDS, MODELS, REFERENCE_MODELS, reference_rdms

    if name not in REFERENCE_MODELS:
        raise ModelError(f"the 92-image set has no reference model {name!r}; it has {', '.join(REFERENCE_MODELS)}.")
    return RDMModel(reference_rdms(fetch(MODELS, progress=False))[name], IMAGE_IDS)
