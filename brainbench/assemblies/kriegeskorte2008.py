"""The 92-image set: monkey IT, human IT and human similarity judgements as RDMs.

Kriegeskorte, N., Mur, M., Ruff, D. A., Kiani, R., Bodurka, J., Esteky, H., Tanaka, K.,
& Bandettini, P. A. (2008). Matching categorical object representations in inferior
temporal cortex of man and monkey. Neuron 60, 1126-1141. Monkey data: Kiani, R., Esteky,
H., Mirpour, K., & Tanaka, K. (2007). Object category structure in response patterns of
neuronal population in monkey inferior temporal cortex. J. Neurophysiol. 97, 4296-4309.
Judgements: Mur, M., Meys, M., Bodurka, J., Goebel, R., Bandettini, P. A., & Kriegeskorte,
N. (2013). Human object-similarity judgments reflect and transcend the primate-IT object
representation. Front. Psychol. 4:128.

Files (public repository ``rsagroup/rsatoolbox``, MIT licence, pinned at commit
``f1f83cadb7243492a1aae7460466e0f0140b20ac``, folder ``demos/92imageData/``), each read
with ``scipy.io.loadmat(f, squeeze_me=True, struct_as_record=False)``:

* ``Kriegeskorte_Neuron2008_supplementalData.mat``: ``stimuli_92objs`` (92 structs: a
  175 x 175 x 3 uint8 ``image`` of an object on a uniform grey (RGB 128) background, its
  ``category`` and flags ``human``, ``face``, ``animal``, ``natural``) and
  ``RDMs_mIT_hIT_fig1``: the monkey IT RDM (``mIT_674neurons``: 674 cells of two monkeys,
  1 - Pearson r of the response patterns) and the subject-averaged human IT RDM
  (``hITvisStim_316vx``), each as 4,186 condensed values in scipy ``squareform`` order.
* ``92_brainRDMs.mat``: ``RDMs (4, 2)``: the human IT fMRI RDMs (92 x 92) of 4 subjects
  (BE, KO, SN, TI) x 2 sessions.
* ``92_behavRDMs.mat``: ``rdms_behav_92 (16,)``: the similarity-judgement RDMs (92 x 92)
  of 16 people (Mur et al. 2013: dissimilarities from the inverse MDS of object arrangements).
* ``92_modelRDMs.mat``: ``Models (8,)``: reference model RDMs (read by
  :func:`brainbench.data.kriegeskorte2008_files.reference_rdms`, scored as models by
  :mod:`brainbench.models.rdm`).

The pinned files, the image ids and the MATLAB readers are in
:mod:`brainbench.data.kriegeskorte2008_files`, shared with the reference models.

Built assembly: an RDM assembly (:func:`brainbench.data.assembly.make_rdm_assembly`)
``(site=21, stimulus=92, stimulus_b=92)``: one site ``monkeyIT`` (group ``monkey-IT``),
four human IT subjects ``humanIT-BE`` ... (group ``human-IT``; each subject's RDM is the
mean of its two session RDMs; coordinate ``session_r``, the Spearman rho between the
two), and sixteen judgement subjects ``judgements-s01`` ... (group ``judgements``).
Site coordinates: ``group``, ``region`` (``IT`` or ``behaviour``), ``species``
(``macaque`` or ``human``), ``subject``, ``measurement``. The files are checked against
each other before anything is built: the mean of the eight human session RDMs must equal
the published averaged human RDM (to float32 rounding).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from brainbench.assemblies.base import AssemblySource, LoadedAssembly, build_key, cached_build
from brainbench.data.assembly import AssemblyError, make_rdm_assembly
from brainbench.data.fetch import RemoteFile, fetch

# the files (pinned), the image ids and the MATLAB readers, shared with the reference RDM models
from brainbench.data.kriegeskorte2008_files import (
    BEHAVIOUR,
    BRAIN,
    COMMIT,
    IMAGE_IDS,
    MODELS,
    N_IMAGES,
    SUPPLEMENT,
    read_mat,
    square_rdm,
)
from brainbench.data.kriegeskorte2008_files import REFERENCE_MODELS as REFERENCE_MODELS  # re-exported
from brainbench.data.kriegeskorte2008_files import reference_rdms as reference_rdms  # re-exported
from brainbench.data.stimuli import StimulusSet

CITATION = (
    "Kriegeskorte, N., Mur, M., Ruff, D. A., Kiani, R., Bodurka, J., Esteky, H., Tanaka, K., & Bandettini, P. A. "
    "(2008). Matching categorical object representations in inferior temporal cortex of man and monkey. Neuron 60, "
    "1126-1141; Kiani, R., Esteky, H., Mirpour, K., & Tanaka, K. (2007). J. Neurophysiol. 97, 4296-4309; Mur, M., "
    "Meys, M., Bodurka, J., Goebel, R., Bandettini, P. A., & Kriegeskorte, N. (2013). Front. Psychol. 4:128."
)
LICENSE = "MIT (rsagroup/rsatoolbox, LICENSE.upstream)"
#: Bump when the built assembly changes for the same files.
READER_VERSION = 1

IMAGE_SIDE = 175
#: The uniform background of every image (RGB), which a benchmark's placement continues.
BACKGROUND_RGB = (128, 128, 128)


def read_stimuli(path: str | Path) -> tuple[np.ndarray, dict[str, list[Any]]]:
    """``(92, 175, 175, 3)`` uint8 images and their metadata (category and flags) in the file's order."""
    items = np.atleast_1d(read_mat(path)["stimuli_92objs"])
    if items.size != N_IMAGES:
        raise AssemblyError(f"{path} holds {items.size} stimuli; expected {N_IMAGES}.")
    images = np.stack([np.asarray(item.image) for item in items])
    if images.shape != (N_IMAGES, IMAGE_SIDE, IMAGE_SIDE, 3) or images.dtype != np.uint8:
        raise AssemblyError(f"{path} images are {images.dtype} {images.shape}; expected uint8 (92, 175, 175, 3).")
    metadata: dict[str, list[Any]] = {"category": [str(item.category) for item in items]}
    for flag in ("human", "face", "animal", "natural"):
        metadata[flag] = [int(getattr(item, flag)) for item in items]
    return images, metadata


def read_monkey_and_average(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The monkey IT RDM (674 cells) and the subject-averaged human IT RDM of the supplement."""
    rdms = {str(item.name): item.RDM for item in np.atleast_1d(read_mat(path)["RDMs_mIT_hIT_fig1"])}
    missing = {"mIT_674neurons", "hITvisStim_316vx"} - set(rdms)
    if missing:
        raise AssemblyError(f"{path} lacks the RDM {sorted(missing)[0]!r}.")
    return square_rdm(rdms["mIT_674neurons"], "mIT_674neurons"), square_rdm(
        rdms["hITvisStim_316vx"], "hITvisStim_316vx"
    )


def read_human_sessions(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Subject codes and ``(subject=4, session=2, 92, 92)`` human IT RDMs."""
    grid = np.asarray(read_mat(path)["RDMs"], dtype=object)
    if grid.shape != (4, 2):
        raise AssemblyError(f"{path} RDMs has shape {grid.shape}; expected (4, 2) subjects x sessions.")
    subjects = [str(grid[s, 0].name).split("|")[1].strip() for s in range(4)]
    rdms = np.stack([[square_rdm(grid[s, k].RDM, str(grid[s, k].name)) for k in range(2)] for s in range(4)])
    return subjects, rdms


def read_judgements(path: str | Path) -> np.ndarray:
    """``(16, 92, 92)`` similarity-judgement RDMs."""
    items = np.atleast_1d(read_mat(path)["rdms_behav_92"])
    if items.size != 16:
        raise AssemblyError(f"{path} holds {items.size} judgement RDMs; expected 16.")
    return np.stack([square_rdm(item.RDM, str(item.name)) for item in items])


def build_rdm_assembly(
    monkey: np.ndarray,
    human_average: np.ndarray,
    subjects: list[str],
    sessions: np.ndarray,
    judgements: np.ndarray,
) -> xr.DataArray:
    """The RDM assembly of the 21 sites (see the module docstring), after the cross-file check."""
    from scipy.stats import spearmanr

    gap = float(np.abs(sessions.mean(axis=(0, 1)) - human_average).max())
    if gap > 1e-5:
        raise AssemblyError(
            f"the mean of the eight human session RDMs differs from the published average by up to {gap:.3g}; "
            "the files come from different versions: fetch them again."
        )
    rows, cols = np.triu_indices(N_IMAGES, k=1)
    session_r = [float(spearmanr(s[0][rows, cols], s[1][rows, cols]).statistic) for s in sessions]
    n_behaviour = judgements.shape[0]
    rdms = np.concatenate([monkey[None], sessions.mean(axis=1), judgements])
    n_sites = rdms.shape[0]
    return make_rdm_assembly(
        rdms,
        site_ids=["monkeyIT"]
        + [f"humanIT-{s}" for s in subjects]
        + [f"judgements-s{k + 1:02d}" for k in range(n_behaviour)],
        stimulus_ids=IMAGE_IDS,
        identifier="kriegeskorte2008",
        species="macaque (monkeyIT), human (humanIT-*, judgements-*)",
        citation=CITATION,
        site_coords={
            "group": ["monkey-IT"] + ["human-IT"] * len(subjects) + ["judgements"] * n_behaviour,
            "region": ["IT"] * (1 + len(subjects)) + ["behaviour"] * n_behaviour,
            "species": ["macaque"] + ["human"] * (len(subjects) + n_behaviour),
            "subject": ["two monkeys, pooled"] + subjects + [f"s{k + 1:02d}" for k in range(n_behaviour)],
            "measurement": ["674 IT cells, 1 - Pearson r"]
            + ["fMRI, 316 IT voxels, 1 - Pearson r, mean of 2 sessions"] * len(subjects)
            + ["similarity judgements (object arrangement)"] * n_behaviour,
            "session_r": np.concatenate([[np.nan], session_r, np.full(n_behaviour, np.nan)]),
        },
        attrs={
            "units": "dissimilarity (see each site's measurement)",
            "rdm": "monkey IT and human IT: 1 - Pearson r between response patterns; judgements: "
            "dissimilarities from object arrangements (Mur et al. 2013)",
            "source_commit": COMMIT,
            "license": LICENSE,
            "n_sites": n_sites,
        },
    )


class Kriegeskorte2008(AssemblySource):
    """The 92 images with the RDMs of monkey IT, human IT and human judgements."""

    identifier = "kriegeskorte2008"

    def remote_files(self) -> list[RemoteFile]:
        return [SUPPLEMENT, BRAIN, BEHAVIOUR, MODELS]

    def stimuli(self, progress: bool = True) -> StimulusSet:
        """The 92 images in the files' order (ids ``obj01`` ... ``obj92``)."""
        images, metadata = read_stimuli(fetch(SUPPLEMENT, progress))
        return StimulusSet.from_arrays(list(images), ids=IMAGE_IDS, identifier=self.identifier, metadata=metadata)

    def load(self, progress: bool = True) -> LoadedAssembly:
        stimuli = self.stimuli(progress)
        key = build_key(
            supplement=SUPPLEMENT.known_hash,
            brain=BRAIN.known_hash,
            behaviour=BEHAVIOUR.known_hash,
            reader=READER_VERSION,
        )

        def build() -> xr.DataArray:
            monkey, average = read_monkey_and_average(fetch(SUPPLEMENT, progress))
            subjects, sessions = read_human_sessions(fetch(BRAIN, progress))
            return build_rdm_assembly(monkey, average, subjects, sessions, read_judgements(fetch(BEHAVIOUR, progress)))

        return LoadedAssembly(cached_build(self.identifier, key, build), stimuli)


def load() -> Kriegeskorte2008:
    """Assembly plugin factory (named in ``registry.toml``)."""
    return Kriegeskorte2008()
