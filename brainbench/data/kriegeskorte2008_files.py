"""The files of the 92-image set (Kriegeskorte et al. 2008) and their MATLAB readers.

Kriegeskorte, N., Mur, M., Ruff, D. A., Kiani, R., Bodurka, J., Esteky, H., Tanaka, K.,
& Bandettini, P. A. (2008). Matching categorical object representations in inferior
temporal cortex of man and monkey. Neuron 60, 1126-1141.

The four ``.mat`` files of the public repository ``rsagroup/rsatoolbox`` (MIT licence,
folder ``demos/92imageData/``, pinned at :data:`COMMIT`), the 92 image ids and the
readers both of their users share: the assembly
(:mod:`brainbench.assemblies.kriegeskorte2008`, which describes the files' contents) and
the reference model RDMs scored as models (:func:`brainbench.models.rdm.kriegeskorte2008_reference`).
Kept in the data layer so that neither imports the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from brainbench.data.assembly import AssemblyError
from brainbench.data.fetch import RemoteFile

DATASET = "kriegeskorte2008"
COMMIT = "f1f83cadb7243492a1aae7460466e0f0140b20ac"
BASE_URL = f"https://raw.githubusercontent.com/rsagroup/rsatoolbox/{COMMIT}/demos/92imageData"

SUPPLEMENT = RemoteFile(
    DATASET,
    "Kriegeskorte_Neuron2008_supplementalData.mat",
    f"{BASE_URL}/Kriegeskorte_Neuron2008_supplementalData.mat",
    "sha256:06f21214399a5d43dc264eed19a7f4b8daf11c8622a59eec3e106064ce5e3504",
    3_603_779,
)
BRAIN = RemoteFile(
    DATASET,
    "92_brainRDMs.mat",
    f"{BASE_URL}/92_brainRDMs.mat",
    "sha256:1743f90a15e895798a94318649e80e1123a7e5943a1703fa1dd7c31ea5780b7c",
    224_663,
)
BEHAVIOUR = RemoteFile(
    DATASET,
    "92_behavRDMs.mat",
    f"{BASE_URL}/92_behavRDMs.mat",
    "sha256:7a8e118c144c3840adeeeef6ea0706a0be2b3e80df719af15fbb56fc62562f5f",
    982_719,
)
MODELS = RemoteFile(
    DATASET,
    "92_modelRDMs.mat",
    f"{BASE_URL}/92_modelRDMs.mat",
    "sha256:e1d2b58bb2f9508bc13da4c81b94d1ab07823b25ed30b9563bd9d6d730c2a00a",
    333_004,
)

N_IMAGES = 92
IMAGE_IDS = [f"obj{k + 1:02d}" for k in range(N_IMAGES)]
#: The reference model RDMs of 92_modelRDMs.mat, in the file's order.
REFERENCE_MODELS = ("animacy", "FaceBodyManmadeNatobj", "monkeyIT", "EVA", "HMAX", "V1", "Silhouette", "RADON")


def read_mat(path: str | Path) -> dict[str, Any]:
    """The variables of a MATLAB 5 file, structs as attribute objects; one sentence if it is not one."""
    from scipy.io import loadmat

    try:
        return loadmat(str(path), squeeze_me=True, struct_as_record=False)
    except Exception as error:  # a file that is not MATLAB 5 data
        raise AssemblyError(f"{path} could not be read as a MATLAB file ({type(error).__name__}: {error}).") from error


def square_rdm(values: Any, where: str) -> np.ndarray:
    """A ``(92, 92)`` symmetric, finite, zero-diagonal float64 RDM from a matrix or its condensed form."""
    from scipy.spatial.distance import squareform

    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim == 1:
        if matrix.size != N_IMAGES * (N_IMAGES - 1) // 2:
            raise AssemblyError(
                f"{where} has {matrix.size} condensed values; expected {N_IMAGES * (N_IMAGES - 1) // 2}."
            )
        matrix = squareform(matrix, checks=False)
    if matrix.shape != (N_IMAGES, N_IMAGES):
        raise AssemblyError(f"{where} has shape {matrix.shape}; expected ({N_IMAGES}, {N_IMAGES}).")
    if not np.isfinite(matrix).all():
        raise AssemblyError(f"{where} has non-finite dissimilarities.")
    if not np.allclose(matrix, matrix.T, atol=1e-6) or np.abs(np.diag(matrix)).max() > 1e-6:
        raise AssemblyError(f"{where} is not a symmetric dissimilarity matrix with a zero diagonal.")
    matrix = (matrix + matrix.T) / 2
    np.fill_diagonal(matrix, 0.0)
    return matrix


def reference_rdms(path: str | Path) -> dict[str, np.ndarray]:
    """The reference model RDMs of ``92_modelRDMs.mat``: name -> ``(92, 92)``."""
    models = {str(item.name): square_rdm(item.RDM, str(item.name)) for item in np.atleast_1d(read_mat(path)["Models"])}
    if tuple(models) != REFERENCE_MODELS:
        raise AssemblyError(f"{path} holds the models {list(models)}; expected {list(REFERENCE_MODELS)}.")
    return models
