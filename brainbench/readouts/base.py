"""The readout contract: a linear map from model features to neuroid responses.

A readout is scikit-learn-like: hyperparameters are constructor arguments stored
unchanged (:meth:`Readout.get_params`, :func:`clone`), ``fit(X, Y)`` validates them,
learns state stored in attributes with a trailing underscore (``solver_`` is the solver
actually run) and returns ``self``, ``predict(X)`` returns predictions. Inputs are torch
tensors; the readout computes on the requested device and is batched over neuroids.

Shapes:
    X: ``(n, C, H, W)`` convolutional features (spatial readouts use the layout) or
       ``(n, F)`` flat features; readouts that do not need the layout flatten it.
    Y: ``(n, N)`` responses of N neuroids to n stimuli.

Cross-validation lives outside the estimator, in :func:`brainbench.readouts.cv.cross_validate`,
and talks to a readout through three methods:

* ``prepare(features, device)``: the readout reads a feature source
  (:class:`brainbench.readouts.features.FeatureSource`) once, in the form it needs (the
  default: the whole ``(n, ...)`` tensor; the dual ridges: Gram matrices streamed from
  row blocks), for all stimuli of every split;
* ``fit_prepared(prepared, Y, rows)``: fit on the stimuli ``rows`` (reading only
  ``Y[rows]``);
* ``predict_prepared(prepared, rows)``: predict the stimuli ``rows``.

``val_score_`` is computed from training data only (leave-one-out or an inner validation
split), so that the scorer can choose a layer without looking at any test fold.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import torch

from brainbench.data.splits import Split
from brainbench.errors import BrainbenchError
from brainbench.readouts.features import FeatureSource, load_rows
from brainbench.readouts.solvers.common import choose_solver, r2_columns

__all__ = ["CVResult", "Readout", "Split", "as_tensor", "clone", "grid_shape", "pool_predictions", "r2_columns"]


@dataclass
class CVResult:
    """Out-of-fold predictions and training-only validation scores.

    Attributes:
        predictions: ``(n, N)`` float64, each stimulus predicted by the split that held
            it out; NaN for stimuli no split tested (e.g. the train part of a holdout).
        split_predictions: ``(n_splits, n, N)`` float64 predictions of each split's model
            on its own test stimuli, NaN elsewhere (for per-split metrics).
        val_score: ``(n_splits, N)`` float64 validation R^2 from training data only.
        params: chosen hyperparameters, each ``(n_splits, N)`` (e.g. ``{"alpha": ...}``).
        info: anything else worth recording (solver, iterations, timings).
    """

    predictions: np.ndarray
    split_predictions: np.ndarray
    val_score: np.ndarray
    params: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, object] = field(default_factory=dict)


def as_tensor(
    array: npt.ArrayLike | torch.Tensor, device: torch.device | str | None = None, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Convert numpy arrays or memmaps to a tensor on ``device`` without an extra copy."""
    if isinstance(array, torch.Tensor):
        return array.to(device=device or array.device, dtype=dtype or array.dtype)
    array = np.asarray(array)
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor.to(device=device or "cpu", dtype=dtype or tensor.dtype)


def pool_predictions(split_predictions: np.ndarray) -> np.ndarray:
    """``(n_splits, n, N) -> (n, N)``: each stimulus from the split that tested it.

    Where several splits test the same stimulus (repeated holdouts) their mean is used.
    """
    with np.errstate(invalid="ignore"):
        counts = np.isfinite(split_predictions).sum(0)
        total = np.nansum(split_predictions, axis=0)
        return np.where(counts > 0, total / np.maximum(counts, 1), np.nan)


class Readout:
    """Base class of every readout.

    Subclasses implement ``fit`` and ``predict`` on tensors, and may override
    ``prepare`` / ``fit_prepared`` / ``predict_prepared`` for a cheaper route through
    cross-validation (the defaults load the whole layer once and call ``fit`` /
    ``predict`` on row subsets).

    Class attributes:
        SOLVERS: solver name -> pure solver function (see :mod:`brainbench.readouts.solvers`).
        name: the readout's name in messages.
        spatial: ``prepare`` keeps the ``(C, H, W)`` layout (else ``(n, F)``).
    """

    SOLVERS: ClassVar[Mapping[str, Callable]] = {}
    name: ClassVar[str] = "readout"
    spatial: ClassVar[bool] = False

    # ---------------------------------------------------------------- parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [
            p.name
            for p in signature.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self) -> dict[str, object]:
        """Constructor arguments, as given (for provenance and :func:`clone`)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def resolve_solver(self) -> str:
        """The solver ``fit`` will run (validated); subclasses may map choices onto names.

        A readout without a ``SOLVERS`` table (e.g. a plugin's own) reports its
        ``solver`` attribute, or ``"unknown"``.
        """
        name = str(getattr(self, "solver", next(iter(self.SOLVERS), "unknown")))
        if self.SOLVERS:
            choose_solver(self.SOLVERS, name, self.name)
        return name

    def solver_function(self) -> Callable:
        """The pure solver function of :meth:`resolve_solver`."""
        return choose_solver(self.SOLVERS, self.resolve_solver(), self.name)

    @property
    def working_dtype(self) -> torch.dtype:
        """The torch dtype named by the ``dtype`` parameter (float32 if none)."""
        return getattr(torch, str(getattr(self, "dtype", "float32")))

    # ---------------------------------------------------------------- estimator
    def fit(self, X: torch.Tensor, Y: torch.Tensor) -> Readout:  # pragma: no cover - contract
        """Fit on features ``X`` ``(n, F)`` (``(n, C, H, W)`` if :attr:`spatial`) and responses ``Y`` ``(n, N)``."""
        raise NotImplementedError

    def predict(self, X: torch.Tensor) -> torch.Tensor:  # pragma: no cover - contract
        """``(n, N)`` predictions for features ``X`` laid out as in :meth:`fit`."""
        raise NotImplementedError

    def validation_score(self) -> torch.Tensor:
        """``(N,)`` R^2 on training data only (LOO or inner split), set by ``fit``."""
        score = getattr(self, "val_score_", None)
        if score is None:
            raise NotImplementedError(f"{type(self).__name__} does not record a validation score.")
        return score

    def chosen_params(self) -> dict[str, torch.Tensor]:
        """Hyperparameters chosen during fit, each ``(N,)``; empty if none."""
        return {}

    # ---------------------------------------------------------------- cross-validation hooks
    def prepare(self, features: FeatureSource, device: torch.device | str) -> Any:
        """Read ``features`` ``(n, ...)`` once for every split; default: the whole tensor.

        Spatial readouts keep ``(n, C, H, W)``, the others get ``(n, F)``, in the
        readout's ``dtype`` on ``device``.
        """
        self.resolve_solver()
        return load_rows(features, device, self.working_dtype, flatten=not self.spatial)

    def fit_prepared(self, prepared: Any, Y: torch.Tensor, rows: torch.Tensor) -> Readout:
        """Fit on the stimuli ``rows`` ``(n_train,)`` of ``prepared``; reads ``Y[rows]`` only."""
        return self.fit(prepared[rows], Y[rows])

    def predict_prepared(self, prepared: Any, rows: torch.Tensor) -> torch.Tensor:
        """``(len(rows), N)`` predictions for the stimuli ``rows`` of ``prepared``."""
        return self.predict(prepared[rows])


def grid_shape(shape: tuple[int, ...], readout: str, layer: str = "") -> tuple[int, int, int]:
    """``(C, H, W)`` of ``(n, C, H, W)`` features, else one sentence: the layer has no spatial grid.

    Transformer tokens ``(n, T, D)`` and flat vectors ``(n, F)`` have no grid a spatial
    readout can place a mask on; ``--tokens grid`` reshapes patch tokens into one.
    """
    if len(shape) == 4:
        return int(shape[1]), int(shape[2]), int(shape[3])
    what = "transformer tokens (T, D)" if len(shape) == 3 else f"a {len(shape) - 1}-d feature vector"
    name = f"layer {layer!r}" if layer else "this layer"
    raise BrainbenchError(
        f"the {readout} readout needs a (C, H, W) feature map per stimulus, but {name} gives {what} of shape "
        f"{tuple(shape[1:])}, which has no spatial grid; score a convolutional layer, score transformer layers with "
        "--tokens grid, or use a readout without a spatial mask (e.g. simple)."
    )


def clone(readout: Readout) -> Readout:
    """An unfitted copy of ``readout`` with the same constructor arguments."""
    return type(readout)(**copy.deepcopy(readout.get_params()))
