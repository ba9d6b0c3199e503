"""Per-neuroid agreement between predictions and trial-averaged responses.

Both functions take ``(n, N)`` predictions and targets, ignore stimuli whose prediction
is NaN (stimuli no split tested) and return ``(N,)`` float64.
"""

from __future__ import annotations

import numpy as np


def _valid(prediction: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    prediction = np.asarray(prediction, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if prediction.shape != target.shape or prediction.ndim != 2:
        raise ValueError(f"prediction {prediction.shape} and target {target.shape} must both be (n, N).")
    rows = np.isfinite(prediction).all(axis=1)
    return prediction[rows], target[rows]


def pearson_r(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Pearson correlation per column; NaN where either column is constant."""
    p, t = _valid(prediction, target)
    p = p - p.mean(0)
    t = t - t.mean(0)
    denominator = np.sqrt((p**2).sum(0) * (t**2).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (p * t).sum(0) / denominator, np.nan)


def explained_variance(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """R^2 = 1 - SSE/SST per column (can be negative); NaN where SST is 0."""
    p, t = _valid(prediction, target)
    sse = ((t - p) ** 2).sum(0)
    sst = ((t - t.mean(0)) ** 2).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sst > 0, 1.0 - sse / sst, np.nan)
