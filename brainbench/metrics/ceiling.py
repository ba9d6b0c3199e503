"""Split-half reliability of trial-averaged responses (the ceiling).

For each of ``n_splits`` seeded random halvings of every stimulus's valid repetitions,
the two half-means are correlated across stimuli per neuroid and the correlation is
Spearman-Brown corrected to the full number of trials, ``2 r / (1 + r)``; the ceiling is
the mean over halvings. Under ``response = signal + independent noise`` this estimates
``var(signal) / var(trial mean)``: the largest r^2 any model can reach against the
trial mean; :mod:`brainbench.metrics.ceiled` turns it into the ceiled score.

Whether a neuroid's trial mean is reliable at all -- more stimulus-driven than chance
gives for its numbers of stimuli and repetitions -- is tested by
:func:`stimulus_permutation_p`.
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


def stimulus_permutation_p(
    trials: np.ndarray,
    n_permutations: int = 199,
    seed: int = 0,
    max_blocks: int = 10,
    max_elements: int = 1_000_000,
) -> np.ndarray:
    """Per neuroid, the permutation p-value of its repeatable stimulus-driven variance.

    The test asks whether the trial average varies across stimuli more than chance allows
    for these numbers of stimuli and repetitions. Its statistic is the between-stimulus
    sum of squares of the trial means, ``B = sum_s S_s**2 / k_s`` (``S_s`` the sum and
    ``k_s`` the number of valid trials of stimulus ``s``): the one-way ANOVA
    ``F = MS_between / MS_within`` is an increasing function of it, and so is the
    reliability of the trial mean, ``1 - 1/F``, which :func:`split_half_reliability`
    estimates by halvings. The null permutes, independently for each repetition, which
    stimulus each trial belongs to, among the stimuli that have that repetition: every
    stimulus keeps its number of trials and every repetition its values (so drift across
    repetitions stays in the null), and the total and within-neuroid sums that ``F`` also
    depends on are unchanged. With more than ``max_blocks`` repetitions, repetitions ``r,
    r + G, r + 2G, ...`` (``G = max_blocks``) move together as one block, whose sum goes to
    a stimulus with as many trials in that block: the null then keeps the covariance of
    trials within a block, so only pairs of trials in different blocks (at least 90% of
    them at ``G = 10``) carry evidence, and the cost stays ``G`` instead of the number of
    repetitions. Only the stimuli :func:`split_half_reliability` correlates (2 or more
    trials of every neuroid) take part. ``p = (1 + #{B_null >= B}) / (1 + n_permutations)``;
    under the null (responses exchangeable across stimuli within a repetition) ``P(p <=
    alpha) <= alpha`` for every ``alpha``, with equality where ``alpha (1 + n_permutations)``
    is an integer (``alpha = 0.01`` at 199 permutations).

    Cost: ``n_permutations x min(repetition, max_blocks) x stimulus x neuroid`` gathers
    (0.2-0.5 s on 50 neurons x 640 stimuli x 10 repetitions at 199 permutations, 1.4-1.8x
    :func:`split_half_reliability` at 100 halvings; 16 s at 46 x 3,200 x 256, where the
    halvings took 28 s; ``benchmarks/reliability_test.py`` on a shared 2-core CPU).

    Args:
        trials: ``(repetition, stimulus, neuroid)`` responses, NaN for missing trials.
        n_permutations: permutations of the null.
        seed: seed of the permutations.
        max_blocks: the most blocks of repetitions permuted independently.
        max_elements: the largest ``(permutation, stimulus, neuroid)`` block held at once.
    Returns:
        ``(neuroid,)`` float64 in ``(0, 1]``; NaN where fewer than 2 stimuli have 2 or
        more trials (as :func:`split_half_reliability`).
    """
    trials = np.asarray(trials, dtype=np.float64)
    if trials.ndim != 3:
        raise ValueError(f"trials must be (repetition, stimulus, neuroid), got shape {trials.shape}.")
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be at least 1, got {n_permutations}.")
    n_rep, n_stim, n_neuroid = trials.shape
    valid = np.isfinite(trials)
    usable = (valid.sum(0) >= 2).all(axis=1)  # the stimuli split_half_reliability correlates
    if usable.sum() < 2:
        return np.full(n_neuroid, np.nan)
    valid &= usable[None, :, None]
    shared = bool((valid == valid[:, :, :1]).all())
    # repetitions r, r + G, r + 2G, ... form block r (every repetition its own block when
    # there are at most G); layout (block, neuroid, stimulus): gathers run along the last axis
    n_blocks = min(n_rep, max_blocks)
    block_of = np.arange(n_rep) % n_blocks
    filled = np.where(valid, trials, 0.0)
    sums = np.stack([filled[block_of == b].sum(0).T for b in range(n_blocks)])  # (G, N, stim)
    mask = valid[:, :, :1] if shared else valid
    block_counts = np.stack([mask[block_of == b].sum(0).T for b in range(n_blocks)])  # (G, 1 or N, stim)
    counts = np.maximum(block_counts.sum(0), 1)  # (1 or N, stim); unusable stimuli contribute 0
    observed = (sums.sum(0) ** 2 / counts).sum(-1)  # (N,)
    # a block's sum moves only to a stimulus with as many trials in that block: the targets
    # ordered by count (then index), the sources by count (then at random), matched in order
    slots = np.argsort(block_counts, axis=-1, kind="stable")
    # with many neuroids, gathering whole (stimulus,) rows of N values is faster than gathering along N rows
    rows = np.ascontiguousarray(sums.transpose(0, 2, 1)) if shared and n_neuroid >= 128 else None  # (G, stim, N)
    rng = np.random.default_rng(seed)
    exceed = np.zeros(n_neuroid)
    chunk = max(1, max_elements // (n_stim * n_neuroid))
    for start in range(0, n_permutations, chunk):
        size = min(chunk, n_permutations - start)
        keys = block_counts[None] + 0.5 * rng.random((size, *block_counts.shape))
        source = np.argsort(keys, axis=-1)
        index = np.empty_like(source)  # index[..., s]: the stimulus whose block sum stimulus s receives
        np.put_along_axis(index, np.broadcast_to(slots[None], source.shape), source, axis=-1)
        if rows is not None:  # (size, stim, N)
            gathered = rows[0][index[:, 0, 0]]
            for block in range(1, n_blocks):
                gathered += rows[block][index[:, block, 0]]
            null = (gathered**2 / counts.T).sum(1)
        elif shared:  # one permutation per block serves every neuroid: (N, size, stim)
            total = np.take(sums[0], index[:, 0, 0], axis=-1)
            for block in range(1, n_blocks):
                total += np.take(sums[block], index[:, block, 0], axis=-1)
            null = (total**2 / counts[:, None]).sum(-1).T  # (size, N)
        else:  # (size, N, stim)
            total = np.take_along_axis(sums[0][None], index[:, 0], axis=-1)
            for block in range(1, n_blocks):
                total += np.take_along_axis(sums[block][None], index[:, block], axis=-1)
            null = (total**2 / counts).sum(-1)
        # ties (e.g. a permutation that changes nothing) count against the neuroid
        exceed += (null >= observed * (1 - 1e-12)).sum(0)
    return (1.0 + exceed) / (1.0 + n_permutations)
