"""Representational dissimilarity matrices of six mouse visual areas (Conwell et al. 2021).

Conwell, C., Mayo, D., Barbu, A., Buice, M., Alvarez, G., & Katz, B. (2021). Neural
regression, representational similarity, model zoology & neural taskonomy at scale in
rodent visual cortex. NeurIPS 34. The responses are the Allen Brain Observatory's
(de Vries et al. 2020, Nat. Neurosci. 23, 138-151), two-photon calcium imaging of the
118 natural scenes of session B.

Files (public repository ``ColinConwell/DeepMouseTrap``, pinned at commit
``706ab15a823db0067af9eae31efba872e0c0825c``, folder ``neural_data/``):

* ``rdms_reliable.pkl``: a pickle of ``{area: {cortical layer: (119, 119) float64}}``,
  21 matrices (VISp, VISl, VISpm: layers 2/3, 4, 5, 6; VISal, VISam, VISrl: 2/3, 4, 5).
  Each is ``np.corrcoef`` over the trial-averaged natural-scene responses of that site's
  reliable cells (split-half r > 0.75, not running-modulated, responsive to scenes): a
  stimulus x stimulus *similarity* matrix, 118 scenes then the blank. It is read by
  :class:`NumpyOnlyUnpickler`, never by plain ``pickle.load``.
* ``rdms_noise_ceiling.csv`` (``area,layer,mean,sem``): the split-half reliability of each
  matrix (mean and standard error over the authors' random halvings of the trials).

The scenes (public repository ``psailamul/Allen_Brain_Observatory``, pinned at commit
``44c5e0bb3342ef20611a320ef9d023c9620d8acb``): ``all_input_scenes_118_961.npy``, float64
``(118, 961)``, each row one scene as a 31 x 31 grayscale image (0-255), in the Brain
Observatory's scene order 0..117: the only copy of the scenes reachable without the NWB
files, far below the 918 x 1174 template shown to the mice.

Built assembly: an RDM assembly (:func:`brainbench.data.assembly.make_rdm_assembly`) of
dims ``(site, stimulus, stimulus_b)`` = ``(21, 118, 118)`` holding **dissimilarities**
``1 - r`` (the convention of :mod:`brainbench.metrics.rsa`), the blank row and column
dropped once :func:`check_alignment` has confirmed that rows 0..117 are the scenes in the
file's order and the last is the blank. Site coordinates: ``site_id``
(``VISp-layer23``), ``region`` (the area), ``cortical_layer`` (``L2/3`` ... ``L6``),
``ceiling`` and ``ceiling_sem`` (the CSV's ``mean`` and ``sem``). The number of cells per
site is not in these files (attr ``n_cells``).
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from brainbench.assemblies.base import AssemblySource, LoadedAssembly, build_key, cached_build
from brainbench.data.assembly import AssemblyError, make_rdm_assembly
from brainbench.data.fetch import RemoteFile, fetch, load_npy
from brainbench.data.stimuli import StimulusSet
from brainbench.metrics.rsa import compare_rdms, correlation_rdm, similarity_to_rdm

DATASET = "conwell2021"
COMMIT = "706ab15a823db0067af9eae31efba872e0c0825c"
BASE_URL = f"https://raw.githubusercontent.com/ColinConwell/DeepMouseTrap/{COMMIT}"
SCENES_DATASET = "allen-scenes-31px"
SCENES_COMMIT = "44c5e0bb3342ef20611a320ef9d023c9620d8acb"
SCENES_URL = f"https://raw.githubusercontent.com/psailamul/Allen_Brain_Observatory/{SCENES_COMMIT}"
CITATION = (
    "Conwell, C., Mayo, D., Barbu, A., Buice, M., Alvarez, G., & Katz, B. (2021). Neural regression, "
    "representational similarity, model zoology & neural taskonomy at scale in rodent visual cortex. NeurIPS 34; "
    "data: de Vries, S. E. J., Lecoq, J. A., Buice, M. A., et al. (2020). A large-scale standardized physiological "
    "survey reveals functional organization of the mouse visual cortex. Nature Neuroscience 23, 138-151."
)
#: Bump when the built assembly changes for the same files.
READER_VERSION = 1

RDMS = RemoteFile(
    DATASET,
    "neural_data/rdms_reliable.pkl",
    f"{BASE_URL}/neural_data/rdms_reliable.pkl",
    "sha256:4008746e62c7e687c7ad81d2db6828eafd85277d99c3b8efb67278eb3b608f12",
    2_380_220,
)
CEILINGS = RemoteFile(
    DATASET,
    "neural_data/rdms_noise_ceiling.csv",
    f"{BASE_URL}/neural_data/rdms_noise_ceiling.csv",
    "sha256:967f6478c7ed33228dd21cf98fd44a735dcc6d7cd661b8054055c921bfd75a0c",
    1_134,
)
SCENES = RemoteFile(
    SCENES_DATASET,
    "Allen_data_170513/all_input_scenes_118_961.npy",
    f"{SCENES_URL}/Allen_data_170513/all_input_scenes_118_961.npy",
    "sha256:0d40bbf7490200a0f833c8ca942773c60e72959c32a9810baeae73972ac73ea2",
    907_264,
)

AREAS = ("VISp", "VISl", "VISal", "VISam", "VISpm", "VISrl")
LAYER_NAMES = {"layer23": "L2/3", "layer4": "L4", "layer5": "L5", "layer6": "L6"}
N_SCENES = 118
SCENE_SIDE = 31
SCENE_IDS = [f"scene{k:03d}" for k in range(N_SCENES)]

#: The alignment check refuses the data unless the declared order beats a random scene
#: order with this permutation p-value or smaller ...
ALIGNMENT_MAX_P = 0.01
#: ... and beats the other plausible order (blank first) by at least this much r.
ALIGNMENT_MIN_MARGIN = 0.03


# ------------------------------------------------------------------ the pickle, safely
class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and nothing else.

    A pickle can name any importable callable and have it called while loading (a
    "payload": ``os.system``, ``subprocess.Popen``, ...). This unpickler resolves only
    numpy's array-reconstruction globals -- ``_reconstruct`` (under ``numpy.core`` or
    ``numpy._core``), ``ndarray`` and ``dtype`` -- and refuses every other global before
    anything is called.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise AssemblyError(
                f"the pickle asks for {module}.{name}, which is not one of numpy's "
                "array-reconstruction globals, so it is refused unread."
            )
        if name == "_reconstruct":
            return _numpy_multiarray()._reconstruct
        return getattr(np, name)


def _numpy_multiarray() -> Any:
    """numpy's ``multiarray`` module (``numpy._core`` in numpy 2, ``numpy.core`` before)."""
    try:
        return importlib.import_module("numpy._core.multiarray")
    except ImportError:  # numpy < 2
        return importlib.import_module("numpy.core.multiarray")


def restricted_load(data: bytes) -> Any:
    """Unpickle ``data`` with :class:`NumpyOnlyUnpickler`; a malformed pickle is a one-sentence error."""
    try:
        return NumpyOnlyUnpickler(io.BytesIO(data)).load()
    except AssemblyError:
        raise
    except Exception as error:  # a truncated or non-pickle file
        raise AssemblyError(f"the RDM pickle could not be read ({type(error).__name__}: {error}).") from error


def read_similarities(path: str | Path) -> dict[tuple[str, str], np.ndarray]:
    """``(area, layer key) -> (119, 119)`` similarity matrices of the pickle, checked.

    Raises:
        AssemblyError: unless the pickle is ``{area: {layer: (n, n) finite symmetric
            matrix with unit diagonal}}`` with every matrix of one size.
    """
    loaded = restricted_load(Path(path).read_bytes())
    if not isinstance(loaded, dict) or not all(isinstance(v, dict) for v in loaded.values()):
        raise AssemblyError(f"{path} must hold a dict of area -> layer -> matrix.")
    out: dict[tuple[str, str], np.ndarray] = {}
    for area, layers in loaded.items():
        for layer, matrix in layers.items():
            matrix = np.asarray(matrix, dtype=np.float64)
            where = f"{area}/{layer}"
            if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != N_SCENES + 1:
                raise AssemblyError(f"{where} has shape {matrix.shape}; expected ({N_SCENES + 1}, {N_SCENES + 1}).")
            if not np.isfinite(matrix).all() or not np.allclose(matrix, matrix.T, atol=1e-9):
                raise AssemblyError(f"{where} is not a finite symmetric similarity matrix.")
            if not np.allclose(np.diag(matrix), 1.0, atol=1e-9):
                raise AssemblyError(f"{where} has a diagonal other than 1, so it is not a correlation matrix.")
            out[(str(area), str(layer))] = (matrix + matrix.T) / 2
    return out


def read_ceilings(path: str | Path) -> dict[tuple[str, str], tuple[float, float]]:
    """``(area, layer key) -> (mean, sem)`` of ``rdms_noise_ceiling.csv``."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or set(rows[0]) != {"area", "layer", "mean", "sem"}:
        raise AssemblyError(f"{path} must have the columns area, layer, mean, sem.")
    return {(row["area"], row["layer"]): (float(row["mean"]), float(row["sem"])) for row in rows}


# ------------------------------------------------------------------ the alignment check
@dataclass(frozen=True)
class AlignmentEvidence:
    """How well the neural RDMs match an image-based RDM under two row orders.

    Attributes:
        sites: the sites averaged (the layer-2/3 sites).
        declared_r: mean over ``sites`` of Pearson r between the pixel RDM of the scenes
            and the neural RDM with rows 0..117 as the scenes (blank last).
        blank_first_r: the same with the blank taken as the first row (rows 1..118 as the scenes).
        null_mean, null_sd: the same statistic over random scene orders (rows 0..117 permuted).
        p_declared: permutation p-value of ``declared_r`` (``(1 + #null >= it) / (1 + n)``).
        p_blank_first: the same of ``blank_first_r``.
        n_permutations, seed: the permutations.
        image_rdm: what the neural RDMs are compared with.
        passed: whether the declared order is confirmed (p <= ALIGNMENT_MAX_P and a margin
            of at least ALIGNMENT_MIN_MARGIN over blank-first).
    """

    sites: list[str]
    declared_r: float
    blank_first_r: float
    null_mean: float
    null_sd: float
    p_declared: float
    p_blank_first: float
    n_permutations: int
    seed: int
    image_rdm: str
    passed: bool


def check_alignment(
    similarities: dict[tuple[str, str], np.ndarray],
    scenes: np.ndarray,
    layer: str = "layer23",
    n_permutations: int = 1000,
    seed: int = 0,
) -> AlignmentEvidence:
    """Test the declared row order of the neural matrices against the scenes themselves.

    The pixel correlation RDM of the 31 x 31 scenes is a weak but real predictor of a
    neural RDM in the right order and of none in a wrong one, so the mean over the
    ``layer`` sites of its correlation with each neural RDM tells orders apart.

    Args:
        similarities: ``(area, layer key) -> (119, 119)`` similarity matrices.
        scenes: ``(118, pixels)`` the scenes in the file's order.
        layer: the cortical layer whose sites are averaged.
        n_permutations: random scene orders of the null distribution.
        seed: seed of the permutations.
    """
    image_rdm = correlation_rdm(np.asarray(scenes, dtype=np.float64))
    keys = [key for key in similarities if key[1] == layer]
    if not keys:
        raise AssemblyError(f"the RDM pickle has no {layer} site to check its row order with.")
    declared = np.stack([similarity_to_rdm(similarities[k])[:N_SCENES, :N_SCENES] for k in keys])
    blank_first = np.stack([similarity_to_rdm(similarities[k])[1:, 1:] for k in keys])
    rows, cols = np.triu_indices(N_SCENES, k=1)

    def mean_r(rdms: np.ndarray, order: np.ndarray | None = None) -> float:
        image = image_rdm if order is None else image_rdm[np.ix_(order, order)]
        return float(np.mean([compare_rdms(image, rdm) for rdm in rdms]))

    declared_r, blank_first_r = mean_r(declared), mean_r(blank_first)
    rng = np.random.default_rng(seed)
    # permuting the image RDM's scenes = permuting the neural RDM's rows: one vector per site
    upper = declared[:, rows, cols]
    upper = (upper - upper.mean(1, keepdims=True)) / upper.std(1, keepdims=True)
    null = np.empty(n_permutations)
    for k in range(n_permutations):
        order = rng.permutation(N_SCENES)
        x = image_rdm[np.ix_(order, order)][rows, cols]
        x = (x - x.mean()) / x.std()
        null[k] = float((upper @ x).mean() / x.size)
    p_declared = (1 + int((null >= declared_r).sum())) / (1 + n_permutations)
    p_blank = (1 + int((null >= blank_first_r).sum())) / (1 + n_permutations)
    passed = p_declared <= ALIGNMENT_MAX_P and declared_r - blank_first_r >= ALIGNMENT_MIN_MARGIN
    return AlignmentEvidence(
        sites=[f"{a}-{lay}" for a, lay in keys],
        declared_r=round(declared_r, 6),
        blank_first_r=round(blank_first_r, 6),
        null_mean=round(float(null.mean()), 6),
        null_sd=round(float(null.std()), 6),
        p_declared=p_declared,
        p_blank_first=p_blank,
        n_permutations=n_permutations,
        seed=seed,
        image_rdm=f"1 - Pearson r between the {SCENE_SIDE} x {SCENE_SIDE} scenes' pixels",
        passed=passed,
    )


# ------------------------------------------------------------------ the assembly
def build_rdm_assembly(
    similarities: dict[tuple[str, str], np.ndarray],
    ceilings: dict[tuple[str, str], tuple[float, float]],
    scenes: np.ndarray,
    n_permutations: int = 1000,
    seed: int = 0,
) -> xr.DataArray:
    """The RDM assembly ``(site=21, stimulus=118, stimulus_b=118)`` of dissimilarities.

    Raises:
        AssemblyError: when a site has no ceiling row, or the alignment check fails.
    """
    evidence = check_alignment(similarities, scenes, n_permutations=n_permutations, seed=seed)
    if not evidence.passed:
        raise AssemblyError(
            f"the neural RDMs do not match the scenes in the declared order (blank last): mean r with the pixel "
            f"RDM {evidence.declared_r:.3f} (permutation p = {evidence.p_declared:.3g}) against "
            f"{evidence.blank_first_r:.3f} with the blank first, so the data are refused; check the files' versions."
        )
    keys = sorted(similarities, key=lambda k: (AREAS.index(k[0]) if k[0] in AREAS else len(AREAS), k[1]))
    missing = [f"{a}/{lay}" for a, lay in keys if (a, lay) not in ceilings]
    if missing:
        raise AssemblyError(
            f"the noise-ceiling file has no row for {missing[0]}; both files must come from one commit."
        )
    rdms = np.stack([similarity_to_rdm(similarities[k])[:N_SCENES, :N_SCENES] for k in keys])
    rdms[:, np.arange(N_SCENES), np.arange(N_SCENES)] = 0.0  # 1 - 1, without rounding residue
    return make_rdm_assembly(
        rdms,
        site_ids=[f"{a}-{lay}" for a, lay in keys],
        stimulus_ids=SCENE_IDS,
        identifier="conwell2021-rdms",
        species="mouse",
        citation=CITATION,
        site_coords={
            "region": [a for a, _ in keys],
            "cortical_layer": [LAYER_NAMES.get(lay, lay) for _, lay in keys],
            "source_layer_key": [lay for _, lay in keys],
            "ceiling": np.asarray([ceilings[k][0] for k in keys]),
            "ceiling_sem": np.asarray([ceilings[k][1] for k in keys]),
        },
        attrs={
            "rdm": "1 - Pearson r between trial-averaged population responses (the source's similarity matrices, "
            "converted); the blank (last row and column) dropped",
            "n_cells": "not in the source files (the pickle holds only the matrices)",
            "ceiling_definition": "split-half reliability of each site's matrix as published beside it "
            "(rdms_noise_ceiling.csv: mean and sem over the authors' random halvings)",
            "alignment_check": json.dumps(asdict(evidence)),
            "source_commit": COMMIT,
            "scenes_commit": SCENES_COMMIT,
            "license": "no licence file upstream; Allen Institute terms of use (data)",
        },
    )


def scene_images(path: str | Path) -> np.ndarray:
    """``(118, 31, 31)`` uint8 scenes of the 31 x 31 file, in the file's order."""
    scenes = load_npy(path)
    if scenes.shape != (N_SCENES, SCENE_SIDE * SCENE_SIDE):
        raise AssemblyError(f"{path} has shape {scenes.shape}; expected ({N_SCENES}, {SCENE_SIDE**2}).")
    if scenes.min() < 0 or scenes.max() > 255:
        raise AssemblyError(f"{path} has pixels outside 0-255.")
    return np.rint(scenes).astype(np.uint8).reshape(N_SCENES, SCENE_SIDE, SCENE_SIDE)


class Conwell2021(AssemblySource):
    """The 21 site RDMs of Conwell et al. (2021) with the 118 scenes they were measured on."""

    identifier = "conwell2021-rdms"

    def __init__(self, n_permutations: int = 1000, seed: int = 0) -> None:
        self.n_permutations = int(n_permutations)
        self.seed = int(seed)

    def remote_files(self) -> list[RemoteFile]:
        return [RDMS, CEILINGS, SCENES]

    def load(self, progress: bool = True) -> LoadedAssembly:
        images = scene_images(fetch(SCENES, progress))
        stimuli = StimulusSet.from_arrays(
            list(images), ids=SCENE_IDS, identifier=self.identifier, metadata={"scene_index": list(range(N_SCENES))}
        )
        key = build_key(
            rdms=RDMS.known_hash,
            ceilings=CEILINGS.known_hash,
            scenes=SCENES.known_hash,
            reader=READER_VERSION,
            n_permutations=self.n_permutations,
            seed=self.seed,
        )

        def build() -> xr.DataArray:
            similarities = read_similarities(fetch(RDMS, progress))
            ceilings = read_ceilings(fetch(CEILINGS, progress))
            return build_rdm_assembly(
                similarities, ceilings, images.reshape(N_SCENES, -1), self.n_permutations, self.seed
            )

        return LoadedAssembly(cached_build(self.identifier, key, build), stimuli)


def load(n_permutations: int = 1000, seed: int = 0) -> Conwell2021:
    """Assembly plugin factory (named in ``registry.toml``)."""
    return Conwell2021(n_permutations, seed)
