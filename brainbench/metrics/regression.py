"""Per-neuroid agreement between predictions and trial-averaged responses.

Both functions take ``(n, N)`` predictions and targets, ignore stimuli whose prediction
is NaN (stimuli no split tested) and return ``(N,)`` float64.

A column that is constant (every value equal) has no variance: its r, and its R^2 as a
target, is NaN. That is decided on the values themselves, not on the centred sums of
squares, which for a constant such as 0.1 are rounding residue (about 1e-33) rather
than 0 and would turn R^2 into -1e32 and r into +-1e-17.

Both are scale-invariant, and computed so at any finite scale: each column is first
multiplied by a power of two that brings its largest magnitude into ``[0.5, 1)``. That
is exact in floating point (the result is bit for bit what it would be without it),
and the sums of squares can then neither overflow (responses of 1e200) nor underflow
(1e-200).
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


def constant_columns(values: np.ndarray) -> np.ndarray:
    """``(n, N) -> (N,)`` bool: whether every value of a column equals its first (True for n = 0)."""
    return (values == values[:1]).all(axis=0)


def unit_scale(values: np.ndarray) -> np.ndarray:
    """Per column, the power of two that brings its largest finite magnitude into ``[0.5, 1)`` (1 for zeros).

    ``values`` ``(n, N)``; returns ``(N,)`` float64. Multiplying by it is exact.
    """
    magnitude = np.abs(np.where(np.isfinite(values), values, 0.0)).max(axis=0, initial=0.0)
    return np.ldexp(1.0, -np.frexp(magnitude)[1])


def pearson_r(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``(n, N)`` predictions and targets -> ``(N,)`` Pearson r per column; NaN where either column is constant."""
    p, t = _valid(prediction, target)
    flat = constant_columns(p) | constant_columns(t)
    p = p * unit_scale(p)  # r is scale-invariant; the sums of squares below stay finite
    t = t * unit_scale(t)
    p = p - p.mean(0)
    t = t - t.mean(0)
    denominator = np.sqrt((p**2).sum(0) * (t**2).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((denominator > 0) & ~flat, (p * t).sum(0) / denominator, np.nan)


def explained_variance(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``(n, N)`` predictions and targets -> ``(N,)`` R^2 = 1 - SSE/SST per column (may be negative; NaN at SST 0)."""
    p, t = _valid(prediction, target)
    flat = constant_columns(t)
    scale = unit_scale(np.concatenate([p, t]))  # one factor for both: R^2 is invariant to it
    p, t = p * scale, t * scale
    sse = ((t - p) ** 2).sum(0)
    sst = ((t - t.mean(0)) ** 2).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((sst > 0) & ~flat, 1.0 - sse / sst, np.nan)
