"""Per-trial responses to the natural scenes, as Allen's NaturalScenes analysis defines them.

AllenSDK's ``StimulusAnalysis.get_sweep_response`` / ``mean_sweep_response`` with the
lengths set by ``NaturalScenes.populate_stimulus_table`` (``allensdk/brain_observatory/
stimulus_analysis.py`` and ``natural_scenes.py``, commit ``1bdca3ad``), stated as facts:

* ``sweeplength`` = ``end - start`` of the second row of the stimulus table sorted by
  start (7 imaging frames for a 250 ms presentation at 30 Hz);
  ``interlength`` = 4 x sweeplength (the baseline, about 1 s); ``extralength`` = sweeplength.
* For a presentation starting at imaging frame ``s`` the trace ``F`` (the
  neuropil-corrected fluorescence) is cut to ``F[s - interlength : s + sweeplength +
  interlength]`` and expressed as ``100 * (F / mean(F[s - interlength : s]) - 1)``:
  percent dF/F relative to the mean of the preceding ~1 s.
* The trial's response is the mean of that over frames ``[s, s + sweeplength +
  extralength)``: the ~500 ms (14 frames, 467 ms) from onset.

``window="500ms"`` (default) is exactly that; ``window="250ms"`` keeps the baseline and
averages over ``[s, s + sweeplength)`` only, the 250 ms presentation itself (the window of
Cocjin & Sanchez-Iglesias). With ``trace="dff"`` the input is Allen's DfOverF trace and
the response is ``mean(dff[window]) - mean(dff[baseline])`` (a fraction, not percent).
"""

from __future__ import annotations

import numpy as np

from brainbench.errors import DataError

WINDOWS = {"500ms": 2, "250ms": 1}  # window length in sweeplengths
WINDOW_MS = {"500ms": (0.0, 500.0), "250ms": (0.0, 250.0)}
BASELINE_SWEEPS = 4


def sweep_length(start: np.ndarray, end: np.ndarray) -> int:
    """Allen's ``sweeplength``: ``end - start`` of the second presentation (in frames)."""
    if start.shape[0] < 2:
        raise DataError("the natural_scenes table has fewer than two presentations.")
    length = int(end[1] - start[1])
    if length <= 0:
        raise DataError(f"natural_scenes presentation 1 lasts {length} imaging frames; expected about 7.")
    return length


def trial_responses(
    traces: np.ndarray,
    start: np.ndarray,
    sweeplength: int,
    window: str = "500ms",
    trace: str = "corrected",
) -> np.ndarray:
    """Mean response of every cell to every presentation.

    Args:
        traces: ``(cell, time)`` corrected fluorescence or dF/F, one column per imaging frame.
        start: ``(presentation,)`` onset imaging frame of each presentation.
        sweeplength: Allen's presentation length in frames, see :func:`sweep_length`.
        window: ``"500ms"`` (Allen's ``mean_sweep_response``) or ``"250ms"``.
        trace: ``"corrected"``: percent change of the window from the baseline mean;
            ``"dff"``: window mean minus baseline mean.

    Returns:
        ``(presentation, cell)`` float64; NaN for a presentation whose baseline or window
        falls outside the recording.
    """
    if window not in WINDOWS:
        raise DataError(f"window must be one of {sorted(WINDOWS)}, got {window!r}.")
    baseline = BASELINE_SWEEPS * sweeplength
    length = WINDOWS[window] * sweeplength
    n_frames = traces.shape[1]
    out = np.full((start.shape[0], traces.shape[0]), np.nan)
    # a cumulative sum turns every window mean into two look-ups (no Python loop over trials)
    cumulative = np.concatenate([np.zeros((traces.shape[0], 1)), np.cumsum(traces, axis=1)], axis=1)
    valid = (start - baseline >= 0) & (start + length <= n_frames)
    s = start[valid]
    base = (cumulative[:, s] - cumulative[:, s - baseline]) / baseline
    resp = (cumulative[:, s + length] - cumulative[:, s]) / length
    if trace == "corrected":
        with np.errstate(divide="ignore", invalid="ignore"):
            value = 100.0 * (resp / base - 1.0)
        if not np.isfinite(value).all():
            raise DataError(
                "a corrected-fluorescence baseline is zero; this trace cannot be expressed as dF/F (use trace='dff')."
            )
    elif trace == "dff":
        value = resp - base
    else:
        raise DataError(f"trace must be 'corrected' or 'dff', got {trace!r}.")
    out[valid] = value.T
    return out


def repetitions(
    frame: np.ndarray, responses: np.ndarray, n_scenes: int = 118, n_repetitions: int | None = None
) -> np.ndarray:
    """Arrange per-presentation responses as ``(repetition, scene, cell)``.

    Blank presentations (``frame == -1``) and NaN trials are dropped; the k-th valid
    presentation of a scene in time order is repetition k. Scenes with fewer repetitions
    are NaN-padded up to ``n_repetitions`` (default: the largest count).

    Args:
        frame: ``(presentation,)`` scene index, -1 for a blank.
        responses: ``(presentation, cell)`` from :func:`trial_responses`.
    """
    keep = (frame >= 0) & np.isfinite(responses).all(axis=1)
    if (frame[frame >= 0] >= n_scenes).any():
        raise DataError(f"a natural_scenes presentation shows scene {frame.max()}; expected 0..{n_scenes - 1}.")
    frame, responses = frame[keep], responses[keep]
    counts = np.bincount(frame, minlength=n_scenes)
    if (counts == 0).any():
        missing = int(np.flatnonzero(counts == 0)[0])
        raise DataError(f"scene {missing} has no valid presentation; the stimulus table is incomplete.")
    size = int(counts.max()) if n_repetitions is None else n_repetitions
    if size < counts.max():
        raise DataError(f"n_repetitions={size} is less than the {counts.max()} presentations of a scene.")
    out = np.full((size, n_scenes, responses.shape[1]), np.nan)
    rank = np.zeros(frame.shape[0], dtype=np.int64)
    seen = np.zeros(n_scenes, dtype=np.int64)
    for k, f in enumerate(frame):  # presentations are already in time order
        rank[k] = seen[f]
        seen[f] += 1
    out[rank, frame] = responses
    return out
