"""Miniature Allen Brain Observatory NWB v1 files in the real layout (for tests only).

:func:`write_nwb` writes a few cells, 118 tiny scenes and a natural_scenes stimulus table
with repeats and blanks, timed like the real sessions (about 30 Hz imaging, 250 ms
presentations back to back, so 7 or 8 imaging frames each). The HDF5 paths are those
:mod:`brainbench.assemblies.allen.nwb` documents (checked against AllenSDK's
``BrainObservatoryNwbDataSet``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

RATE_HZ = 30.0
N_SCENES = 118
PIPE = "processing/brain_observatory_pipeline"


@dataclass
class Truth:
    """What a miniature file contains, for hand-computed expectations."""

    path: Path
    experiment_id: int
    cell_specimen_ids: np.ndarray  # (cell,)
    tuning: np.ndarray  # (scene, cell) response amplitude in corrected-fluorescence units
    corrected: np.ndarray  # (cell, time) demixed - r * neuropil
    dff: np.ndarray  # (cell, time)
    frame: np.ndarray  # (presentation,) in time order, -1 = blank
    start: np.ndarray  # (presentation,) imaging frames
    end: np.ndarray
    template: np.ndarray  # (118, H, W) uint8


def make_template(seed: int = 0, shape: tuple[int, int] = (6, 8)) -> np.ndarray:
    """118 tiny grayscale scenes, uint8 ``(118, H, W)``."""
    return np.random.default_rng(1000 + seed).integers(0, 256, size=(N_SCENES, *shape), dtype=np.uint8)


def write_nwb(
    path: str | Path,
    experiment_id: int,
    *,
    container_id: int = 1,
    area: str = "VISl",
    n_cells: int = 4,
    n_repeats: int = 4,
    blanks_per_block: int = 3,
    seed: int = 0,
    template: np.ndarray | None = None,
    pipeline_version: str = "2.0",
    natural_scenes: bool = True,
    drop_presentation_of: int | None = None,
    noise: float = 2.0,
) -> Truth:
    """Write one miniature session-B NWB v1 file and return what it holds.

    Blocks of the 118 scenes plus ``blanks_per_block`` blanks are shown ``n_repeats``
    times in shuffled order, one presentation every 250 ms, starting 40 s into a
    recording at 30 Hz. Cell ``c`` responds to scene ``s`` with amplitude
    ``tuning[s, c]`` during the presentation and the next 250 ms.
    ``drop_presentation_of``: remove one presentation of this scene (unequal repeats).
    """
    path = Path(path)
    rng = np.random.default_rng(seed)
    template = make_template(seed) if template is None else template
    order = []
    for _ in range(n_repeats):
        block = np.concatenate([np.arange(N_SCENES), -np.ones(blanks_per_block, dtype=int)])
        order.append(rng.permutation(block))
    frame = np.concatenate(order)
    if drop_presentation_of is not None:
        frame = np.delete(frame, np.flatnonzero(frame == drop_presentation_of)[0])
    onset_s = 40.02 + 0.25 * np.arange(frame.size)
    start = np.floor(onset_s * RATE_HZ).astype(np.int64)
    end = np.floor((onset_s + 0.25) * RATE_HZ).astype(np.int64)
    n_frames = int(end[-1] + 60 * RATE_HZ)
    timestamps = np.arange(n_frames) / RATE_HZ + 0.5

    tuning = rng.gamma(2.0, 10.0, size=(N_SCENES, n_cells))
    f0 = 200.0 + 50.0 * np.arange(n_cells)
    signal = np.zeros((n_cells, n_frames))
    for f, s in zip(frame, start, strict=True):
        if f >= 0:
            signal[:, s : s + 15] += tuning[f][:, None]  # response lasts ~500 ms
    cell = f0[:, None] + signal + noise * rng.standard_normal((n_cells, n_frames))
    neuropil = 80.0 + 5.0 * rng.standard_normal((n_cells, n_frames))
    r = np.full(n_cells, 0.7)
    demixed = cell + r[:, None] * neuropil
    corrected = demixed - r[:, None] * neuropil
    dff = (cell - f0[:, None]) / f0[:, None]
    cell_ids = np.arange(n_cells, dtype=np.int64) + 517000000 + 1000 * seed

    # Scalar strings are fixed-length bytes (np.bytes_), as in Allen's files; allensdk's
    # get_metadata relies on their dtype.
    with h5py.File(path, "w") as h:
        h["general/session_id"] = np.bytes_(str(experiment_id))
        h["general/experiment_container_id"] = np.bytes_(str(container_id))
        h["general/session_type"] = np.bytes_(b"three_session_B")
        h["general/subject/genotype"] = np.bytes_(
            b"Cux2-CreERT2/wt;Camk2a-tTA/wt;Ai93(TITL-GCaMP6f)/Ai93(TITL-GCaMP6f)"
        )
        h["general/optophysiology/imaging_plane_1/location"] = np.bytes_(area)
        h["general/optophysiology/imaging_plane_1/imaging depth"] = np.bytes_(b"175 microns")
        h["general/generated_by"] = np.array([b"brainbench-test-fixture", pipeline_version.encode()])
        h[f"{PIPE}/DfOverF/imaging_plane_1/data"] = dff
        h[f"{PIPE}/DfOverF/imaging_plane_1/timestamps"] = timestamps
        fl = f"{PIPE}/Fluorescence"
        h[f"{fl}/imaging_plane_1/timestamps"] = timestamps
        if pipeline_version.startswith(("0", "1")):
            h[f"{fl}/imaging_plane_1/data"] = demixed
            h[f"{fl}/imaging_plane_1/neuropil_traces"] = neuropil
            h[f"{fl}/imaging_plane_1/r"] = r
        else:
            h[f"{fl}/imaging_plane_1/data"] = demixed + 3.0  # raw signal: not what Allen corrects
            h[f"{fl}/imaging_plane_1_demixed_signal/data"] = demixed
            h[f"{fl}/imaging_plane_1_neuropil_response/data"] = neuropil
            h[f"{fl}/imaging_plane_1_neuropil_response/r"] = r
        h[f"{PIPE}/ImageSegmentation/cell_specimen_ids"] = cell_ids
        # running speed (cm/s): allensdk's NaturalScenes analysis reads it
        h[f"{PIPE}/BehavioralTimeSeries/running_speed/data"] = np.abs(rng.normal(size=len(timestamps)))
        h[f"{PIPE}/BehavioralTimeSeries/running_speed/timestamps"] = timestamps
        if natural_scenes:
            g = h.create_group("stimulus/presentation/natural_scenes_stimulus")
            g["data"] = frame.astype(np.float64)
            g["frame_duration"] = np.stack([start, end], axis=1).astype(np.float64)
            h["stimulus/templates/natural_scenes_image_stack/data"] = template
        g = h.create_group("stimulus/presentation/spontaneous_stimulus")
        g["data"] = np.array([1.0, -1.0])
        g["frame_duration"] = np.array([[10.0, 900.0]])
    return Truth(path, experiment_id, cell_ids, tuning, corrected, dff, frame, start, end, template)


def write_area(folder: str | Path, experiments, **kwargs) -> dict[int, Truth]:
    """One miniature file per pinned experiment, at ``folder/ophys_experiment_data/<id>.nwb``.

    ``experiments``: :class:`brainbench.assemblies.allen.experiments.Experiment` rows.
    """
    folder = Path(folder) / "ophys_experiment_data"
    folder.mkdir(parents=True, exist_ok=True)
    template = kwargs.pop("template", None)
    if template is None:
        template = make_template(0)
    return {
        e.experiment_id: write_nwb(
            folder / f"{e.experiment_id}.nwb",
            e.experiment_id,
            container_id=e.container_id,
            area=e.area,
            seed=k,
            template=template,
            **kwargs,
        )
        for k, e in enumerate(experiments)
    }
