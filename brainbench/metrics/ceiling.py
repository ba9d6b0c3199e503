"""Split-half reliability of trial-averaged responses (the ceiling).

For each of ``n_splits`` seeded random halvings of every stimulus's valid repetitions,
the two half-means are correlated across stimuli per neuroid and the correlation is
Spearman-Brown corrected to the full number of trials, ``2 r / (1 + r)``; the ceiling is
the mean over halvings. Under ``response = signal + independent noise`` this estimates
``var(signal) / var(trial mean)``: the largest r^2 any model can reach against the
trial mean; :mod:`brainbench.metrics.ceiled` turns it into the ceiled score.
"""

from __future__ import annotations

import numpy as np

from brainbench.metrics.regression import pearson_r


def split_half_reliability(
    trials: np.ndarray, n_splits: int = 100, seed: int = 0, neuroid_batch: int = 2048
) -> np.ndarray:
    """Spearman-Brown corrected split-half reliability per neuroid.

    Args:
        trials: ``(repetition, stimulus, neuroid)`` responses, NaN for missing trials.
        n_splits: number of random halvings averaged.
        seed: seed of the halvings.
    Returns:
        ``(neuroid,)`` float64; NaN where fewer than 2 stimuli have 2 or more trials.
    """
    trials = np.asarray(trials, dtype=np.float64)
    if trials.ndim != 3:
        raise ValueError(f"trials must be (repetition, stimulus, neuroid), got shape {trials.shape}.")
    n_rep, n_stim, n_neuroid = trials.shape
    rng = np.random.default_rng(seed)
    valid = np.isfinite(trials)
    counts = valid.sum(0)  # (stimulus, neuroid)
    usable = (counts >= 2).all(axis=1)  # stimuli every neuroid saw at least twice
    # Missing trials usually miss for every neuroid at once (a presentation was dropped):
    # then one halving per (repetition, stimulus) serves all neuroids, which is much cheaper.
    shared = bool((valid == valid[:, :, :1]).all())
    mask = valid[:, :, :1] if shared else valid
    mask_counts = counts[:, :1] if shared else counts
    filled = np.where(valid, trials, 0.0)
    corrected = np.zeros(n_neuroid)
    for _ in range(n_splits):
        keys = np.where(mask, rng.random((n_rep, n_stim, 1)), np.inf)
        ranks = keys.argsort(0).argsort(0)  # rank of each trial among its stimulus's trials
        first = mask & (ranks < (mask_counts // 2)[None])
        second = mask & ~first
        for start in range(0, n_neuroid, neuroid_batch):
            cols = slice(start, start + neuroid_batch)
            first_cols = first if shared else first[:, :, cols]
            second_cols = second if shared else second[:, :, cols]
            a = _masked_mean(filled[:, :, cols], first_cols)[usable]
            b = _masked_mean(filled[:, :, cols], second_cols)[usable]
            r = pearson_r(a, b)
            corrected[cols] += 2 * r / (1 + r)
    out = corrected / n_splits
    if usable.sum() < 2:
        out[:] = np.nan
    return out


def _masked_mean(filled: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over axis 0 of ``filled`` (zeros at invalid trials) where ``mask`` is True.

    ``mask`` is ``(rep, stim, N)`` or ``(rep, stim, 1)``; returns ``(stim, N)``.
    """
    total = (
        np.einsum("rsn,rsn->sn", filled, mask.astype(filled.dtype))
        if mask.shape == filled.shape
        else np.einsum("rsn,rs->sn", filled, mask[:, :, 0].astype(filled.dtype))
    )
    return total / np.maximum(mask.sum(0), 1)
