"""Read Allen Brain Observatory NWB (version 1) files with h5py, without allensdk.

The Visual Coding 2-photon files (de Vries et al. 2020, Nat. Neurosci. 23:138) are plain
HDF5 in the NWB 1.0 layout. Every path below was checked against AllenSDK's public
``allensdk/core/brain_observatory_nwb_data_set.py`` (``BrainObservatoryNwbDataSet``) and
``allensdk/core/h5_utilities.py``, AllenSDK commit ``1bdca3ad`` (2026-02-20):

Paths (``P`` = ``processing/brain_observatory_pipeline``):

* dF/F ``(cell, time)``: ``P/DfOverF/imaging_plane_1/data``; its timestamps ``(time,)``
  in seconds: ``P/DfOverF/imaging_plane_1/timestamps``.
* fluorescence timestamps: ``P/Fluorescence/imaging_plane_1/timestamps``.
* pipeline < 2.0: raw fluorescence ``P/Fluorescence/imaging_plane_1/data``, neuropil
  ``.../imaging_plane_1/neuropil_traces`` and ``r`` ``.../imaging_plane_1/r``.
* pipeline >= 2.0: demixed fluorescence ``P/Fluorescence/imaging_plane_1_demixed_signal/data``,
  neuropil ``P/Fluorescence/imaging_plane_1_neuropil_response/data`` and its ``r``.
* cell specimen ids ``(cell,)``: ``P/ImageSegmentation/cell_specimen_ids``.
* natural-scene table: the group ``natural_scenes`` or ``natural_scenes_stimulus`` under
  ``stimulus/presentation``, datasets ``data`` (scene index per presentation, -1 = blank)
  and ``frame_duration`` ``(presentation, 2)`` = start and end imaging frame.
* template ``(118, 918, 1174)`` uint8: ``stimulus/templates/natural_scenes_image_stack/data``.
* session type: ``general/session_type`` (``three_session_B``).
* experiment and container id: ``general/session_id``, ``general/experiment_container_id``.
* area and depth: ``general/optophysiology/imaging_plane_1/location`` and
  ``.../imaging_plane_1/imaging depth`` (e.g. ``"175 microns"``).
* genotype: ``general/subject/genotype`` (the Cre line is its first ``;`` part).
* pipeline version: last element of ``general/generated_by`` (``"0.9"`` if absent).

AllenSDK's ``get_corrected_fluorescence_traces`` (the trace its ``NaturalScenes``
analysis uses) is ``cell - r * neuropil`` with the demixed signal as ``cell`` from pipeline
version 2.0 on and the raw ``Fluorescence`` trace before; :func:`read_session` does the
same. The stimulus table is sorted by ``(start, end)`` as AllenSDK does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from brainbench.errors import DataError

if TYPE_CHECKING:
    import h5py

READER_VERSION = 1
PIPELINE = "processing/brain_observatory_pipeline"
DFF = f"{PIPELINE}/DfOverF/imaging_plane_1"
FLUORESCENCE = f"{PIPELINE}/Fluorescence"
CELL_IDS = f"{PIPELINE}/ImageSegmentation/cell_specimen_ids"
PRESENTATION = "stimulus/presentation"
TEMPLATE = "stimulus/templates/natural_scenes_image_stack/data"
STIMULUS = "natural_scenes"
N_SCENES = 118
TRACES = ("corrected", "dff")


@dataclass
class NaturalScenesSession:
    """One experiment's natural-scene data, as read from its NWB file.

    Attributes:
        experiment_id: ophys experiment id (``general/session_id``).
        metadata: ``container_id``, ``area``, ``imaging_depth`` (um), ``cre_line``,
            ``session_type``, ``pipeline_version`` as far as the file states them.
        cell_specimen_ids: ``(cell,)`` int64.
        timestamps: ``(time,)`` float64, seconds, one per imaging frame (about 30 Hz).
        traces: ``(cell, time)`` float64; corrected fluorescence (a.u.) or dF/F
            (fraction), see ``trace``.
        trace: ``"corrected"`` or ``"dff"``.
        frame: ``(presentation,)`` int64 scene index 0..117, -1 for a blank.
        start, end: ``(presentation,)`` int64 imaging frame of onset and offset.
    """

    path: Path
    experiment_id: int
    metadata: dict
    cell_specimen_ids: np.ndarray
    timestamps: np.ndarray
    traces: np.ndarray
    trace: str
    frame: np.ndarray
    start: np.ndarray
    end: np.ndarray


def _open(path: str | os.PathLike) -> h5py.File:
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DataError(f"NWB file {path} does not exist.")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise DataError(
            f"{path} is not a readable HDF5/NWB file ({error}); it is truncated or corrupt: "
            "delete it and fetch it again."
        ) from None


def _dataset(handle: h5py.Group, key: str, path: Path) -> np.ndarray:
    try:
        return handle[key][()]
    except KeyError:
        raise DataError(f"{path} lacks {key}; it is not an Allen Brain Observatory NWB v1 file.") from None
    except OSError as error:  # a truncated file can open but fail on a dataset read
        raise DataError(
            f"{path}: reading {key} failed ({error}); the file is corrupt: delete it and fetch it again."
        ) from None


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return _text(value[()])
        return _text(value.ravel()[-1]) if value.size else ""
    return str(value)


def read_metadata(handle: h5py.Group, path: Path) -> dict[str, Any]:
    """Experiment metadata from ``general/``; missing fields are left out."""
    fields = {
        "experiment_id": "general/session_id",
        "container_id": "general/experiment_container_id",
        "session_type": "general/session_type",
        "area": "general/optophysiology/imaging_plane_1/location",
        "imaging_depth": "general/optophysiology/imaging_plane_1/imaging depth",
        "genotype": "general/subject/genotype",
    }
    meta: dict[str, Any] = {}
    for name, key in fields.items():
        if key in handle:
            meta[name] = _text(handle[key][()])
    if "genotype" in meta:
        meta["cre_line"] = meta["genotype"].split(";")[0]
    # unparsable metadata is left out: the pinned list, not the file, is authoritative
    for name, parse in (
        ("imaging_depth", lambda v: int(v.split()[0])),
        ("experiment_id", int),
        ("container_id", int),
    ):
        if name in meta:
            try:
                meta[name] = parse(meta[name])
            except (ValueError, IndexError):
                del meta[name]
    generated_by = handle["general/generated_by"][()] if "general/generated_by" in handle else None
    meta["pipeline_version"] = _text(generated_by) if generated_by is not None else "0.9"
    return meta


def _pipeline_major(version: str) -> float:
    try:
        return float(".".join(version.split(".")[:2]))
    except ValueError:
        return 0.0


def _presentation_group(handle: h5py.Group, path: Path) -> h5py.Group:
    if PRESENTATION not in handle:
        raise DataError(f"{path} has no {PRESENTATION} group; it is not a Brain Observatory NWB v1 file.")
    matches: list[h5py.Group] = []
    handle[PRESENTATION].visititems(
        lambda name, obj: matches.append(obj) if name.split("/")[-1] in (STIMULUS, f"{STIMULUS}_stimulus") else None
    )
    if not matches:
        shown = sorted(k.replace("_stimulus", "") for k in handle[PRESENTATION].keys())
        raise DataError(
            f"{path} has no natural_scenes stimulus (it shows {', '.join(shown) or 'nothing'}); "
            "only three_session_B experiments show the natural scenes: pin another experiment."
        )
    if len(matches) > 1:
        raise DataError(f"{path} has {len(matches)} natural_scenes stimulus groups; expected one.")
    return matches[0]


def read_stimulus_table(handle: h5py.Group, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(frame, start, end)``, each ``(presentation,)`` int64, sorted by ``(start, end)``."""
    group = _presentation_group(handle, path)
    frame = np.asarray(_dataset(group, "data", path)).reshape(-1)
    duration = np.asarray(_dataset(group, "frame_duration", path))
    if duration.ndim != 2 or duration.shape[1] != 2 or duration.shape[0] != frame.shape[0]:
        raise DataError(
            f"{path}: natural_scenes frame_duration has shape {duration.shape}; expected "
            f"({frame.shape[0]}, 2) start and end imaging frames."
        )
    frame = frame.astype(np.int64)
    start = duration[:, 0].astype(np.int64)
    end = duration[:, 1].astype(np.int64)
    order = np.lexsort((end, start))
    return frame[order], start[order], end[order]


def read_template(path: str | os.PathLike) -> np.ndarray:
    """The natural-scene template ``(118, 918, 1174)`` uint8 of one NWB file."""
    path = Path(path)
    with _open(path) as handle:
        if TEMPLATE not in handle:
            raise DataError(f"{path} has no {TEMPLATE}; it does not hold the natural scenes.")
        template = _dataset(handle, TEMPLATE, path)
    if template.ndim != 3 or template.shape[0] != N_SCENES:
        raise DataError(f"{path}: natural-scene template has shape {template.shape}; expected (118, H, W).")
    return np.asarray(template, dtype=np.uint8)


def _corrected_traces(handle: h5py.Group, path: Path, version: str) -> np.ndarray:
    if _pipeline_major(version) >= 2.0:
        cell = _dataset(handle, f"{FLUORESCENCE}/imaging_plane_1_demixed_signal/data", path)
        neuropil = _dataset(handle, f"{FLUORESCENCE}/imaging_plane_1_neuropil_response/data", path)
        r = _dataset(handle, f"{FLUORESCENCE}/imaging_plane_1_neuropil_response/r", path)
    else:
        cell = _dataset(handle, f"{FLUORESCENCE}/imaging_plane_1/data", path)
        neuropil = _dataset(handle, f"{FLUORESCENCE}/imaging_plane_1/neuropil_traces", path)
        r = _dataset(handle, f"{FLUORESCENCE}/imaging_plane_1/r", path)
    r = np.asarray(r, dtype=np.float64).reshape(-1)
    return np.asarray(cell, dtype=np.float64) - np.asarray(neuropil, dtype=np.float64) * r[:, None]


def read_session(path: str | os.PathLike, trace: str = "corrected") -> NaturalScenesSession:
    """Read one experiment's traces, cell ids and natural-scene table.

    Args:
        path: an Allen Brain Observatory NWB v1 file of a ``three_session_B`` experiment.
        trace: ``"corrected"`` (neuropil-corrected fluorescence, the trace of Allen's
            NaturalScenes analysis) or ``"dff"`` (Allen's DfOverF).

    Raises:
        DataError: unreadable file, missing datasets, no natural scenes, shapes that
            disagree, or non-finite traces.
    """
    if trace not in TRACES:
        raise DataError(f"trace must be one of {TRACES}, got {trace!r}.")
    path = Path(path)
    with _open(path) as handle:
        meta = read_metadata(handle, path)
        frame, start, end = read_stimulus_table(handle, path)
        cell_ids = np.asarray(_dataset(handle, CELL_IDS, path)).reshape(-1).astype(np.int64)
        if trace == "dff":
            timestamps = _dataset(handle, f"{DFF}/timestamps", path)
            traces = np.asarray(_dataset(handle, f"{DFF}/data", path), dtype=np.float64)
        else:
            timestamps = _dataset(handle, f"{FLUORESCENCE}/imaging_plane_1/timestamps", path)
            traces = _corrected_traces(handle, path, meta["pipeline_version"])
    timestamps = np.asarray(timestamps, dtype=np.float64).reshape(-1)
    if traces.ndim != 2 or traces.shape != (cell_ids.shape[0], timestamps.shape[0]):
        raise DataError(
            f"{path}: {trace} traces have shape {traces.shape}; expected "
            f"(cells={cell_ids.shape[0]}, "
            f"frames={timestamps.shape[0]})."
        )
    bad = ~np.isfinite(traces)
    if bad.any():
        cell, when = np.argwhere(bad)[0]
        raise DataError(
            f"{path}: {int(bad.sum())} non-finite {trace} values (first: cell specimen "
            f"{cell_ids[cell]} at frame {when}); the file is damaged: delete it and fetch it again."
        )
    if start.size and (start.min() < 0 or end.max() >= timestamps.shape[0]):
        raise DataError(f"{path}: natural_scenes presentations run outside the {timestamps.shape[0]} imaging frames.")
    experiment_id = int(meta.get("experiment_id", -1))
    return NaturalScenesSession(path, experiment_id, meta, cell_ids, timestamps, traces, trace, frame, start, end)
