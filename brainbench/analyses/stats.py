"""Resampling statistics on per-neuroid layer profiles (pure numpy functions).

Shapes: ``N`` neuroids, ``L`` layers, ``S`` stimuli, ``B`` resamples, ``K`` regions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def stimulus_bootstrap_ev(
    prediction: np.ndarray, target: np.ndarray, counts: np.ndarray, debias: bool = False
) -> np.ndarray:
    """Held-out EV recomputed on resampled stimuli, without copying the data per resample.

    A bootstrap sample of stimuli is a vector of counts ``w`` (how often each stimulus was
    drawn, summing to ``S``); then ``SSE = sum_s w_s (t_s - p_s)^2`` and
    ``SST = sum_s w_s t_s^2 - (sum_s w_s t_s)^2 / S``, two matrix products per resample batch.

    Args:
        prediction: ``(L, S, N)`` out-of-fold predictions (response units).
        target: ``(S, N)`` trial-averaged responses.
        counts: ``(B, S)`` non-negative draw counts per stimulus.
        debias: scale each resample's SST by ``S / (S - 1)``. A resample's sum of squares
            about its own mean has expectation ``(S - 1) / S`` times the original SST while
            its SSE is unbiased, so without this the resampled EV sits about
            ``(1 - EV) / S`` below the point estimate (0.008 at 118 stimuli, EV near 0).
    Returns:
        ``(B, L, N)`` EV = 1 - SSE/SST; NaN where a resample has no target variance.
    """
    prediction = np.asarray(prediction, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum(axis=1, keepdims=True)  # (B, 1)
    n_layers, n_stimuli, n_neuroids = prediction.shape
    squared_error = ((target[None] - prediction) ** 2).transpose(1, 0, 2).reshape(n_stimuli, -1)
    sse = (counts @ squared_error).reshape(-1, n_layers, n_neuroids)
    second = counts @ target**2  # (B, N)
    sst = second - (counts @ target) ** 2 / total
    if debias:
        sst = sst * total / (total - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        # relative guard: a constant resample leaves only rounding noise in sst
        return np.where((sst > 1e-12 * np.abs(second))[:, None], 1.0 - sse / sst[:, None], np.nan)


def named_rng(seed: int, *names: str) -> np.random.Generator:
    """A generator seeded by ``seed`` and ``names`` (e.g. an area or a benchmark id) alone.

    Resampling an area from its own stream makes its interval the same whichever other
    areas are analysed with it, and in whatever order. The names enter through sha256
    (Python's ``hash`` of a string changes between processes).
    """
    import hashlib

    digest = hashlib.sha256("\0".join(names).encode()).digest()
    words = [int.from_bytes(digest[k : k + 4], "little") for k in range(0, 16, 4)]
    return np.random.default_rng([int(seed), *words])


def multinomial_counts(n_items: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, n_items)`` counts of a with-replacement resample of ``n_items`` items."""
    return rng.multinomial(n_items, np.full(n_items, 1.0 / n_items), size=n_boot)


def bootstrap_rows(
    values: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray], n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Statistic of row-resampled ``values``.

    Args:
        values: ``(N, L)``; rows (neuroids) are resampled with replacement.
        statistic: ``(n, L) -> (L,)``, e.g. ``lambda v: np.nanmedian(v, axis=0)``.
    Returns:
        ``(n_boot, L)``.
    """
    n = values.shape[0]
    return np.stack([statistic(values[rng.integers(0, n, size=n)]) for _ in range(n_boot)])


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> np.ndarray:
    """``(2, ...)`` lower and upper percentile bounds over axis 0, ignoring NaN."""
    tail = 100 * (1 - level) / 2
    with np.errstate(invalid="ignore"):
        return np.nanpercentile(samples, [tail, 100 - tail], axis=0)


def profile_correlation(profiles: np.ndarray) -> np.ndarray:
    """Pearson correlation between rows.

    Args:
        profiles: ``(N, L)`` one layer profile per neuroid.
    Returns:
        ``(N, N)``; rows with a NaN or a constant profile are NaN (no defined correlation).
    """
    profiles = np.asarray(profiles, dtype=np.float64)
    centred = profiles - profiles.mean(axis=1, keepdims=True)
    norm = np.sqrt((centred**2).sum(axis=1))
    ok = np.isfinite(norm) & (norm > 1e-12)
    unit = np.where(ok[:, None], centred / np.where(ok, norm, 1.0)[:, None], np.nan)
    corr = np.clip(unit @ unit.T, -1.0, 1.0)
    corr[~ok] = np.nan
    corr[:, ~ok] = np.nan
    return corr


def pair_values(corr: np.ndarray, labels: np.ndarray, first: str, second: str) -> np.ndarray:
    """Correlations of distinct neuroid pairs: within ``first`` (upper triangle) or between two regions."""
    a = np.flatnonzero(labels == first)
    if first == second:
        block = corr[np.ix_(a, a)]
        return block[np.triu_indices(a.size, k=1)]
    b = np.flatnonzero(labels == second)
    return corr[np.ix_(a, b)].ravel()


def within_and_between(corr: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correlations of all distinct same-region pairs and of all different-region pairs (pooled)."""
    labels = np.asarray(labels)
    rows, cols = np.triu_indices(labels.size, k=1)
    same = labels[rows] == labels[cols]
    values = corr[rows, cols]
    return values[same], values[~same]


def within_minus_between(corr: np.ndarray, labels: np.ndarray) -> float:
    """Mean correlation of same-region pairs minus mean of different-region pairs.

    Pairs are distinct neuroids (the diagonal, a neuroid with itself, is excluded);
    every pair counts once, so large regions weigh more.
    """
    return float(_within_minus_between_batch(corr, labels[None])[0])


def _within_minus_between_batch(corr: np.ndarray, label_sets: np.ndarray) -> np.ndarray:
    """Vectorised :func:`within_minus_between` for ``(P, N)`` label vectors."""
    n = corr.shape[0]
    c = np.where(np.isfinite(corr), corr, 0.0)
    np.fill_diagonal(c, 0.0)
    total = c.sum() / 2
    n_pairs = n * (n - 1) / 2
    out = np.empty(label_sets.shape[0])
    for p, labels in enumerate(label_sets):
        _, codes = np.unique(labels, return_inverse=True)
        onehot = np.zeros((n, codes.max() + 1))
        onehot[np.arange(n), codes] = 1.0
        within = float(((c @ onehot) * onehot).sum()) / 2
        sizes = onehot.sum(axis=0)
        n_within = float((sizes * (sizes - 1) / 2).sum())
        n_between = n_pairs - n_within
        out[p] = within / n_within - (total - within) / n_between
    return out


def permutation_test(
    corr: np.ndarray,
    labels: np.ndarray,
    n_permutations: int,
    rng: np.random.Generator,
    strata: np.ndarray | None = None,
) -> tuple[float, np.ndarray, float]:
    """Are layer profiles more similar within regions than between them?

    Statistic: :func:`within_minus_between`. Null: region labels shuffled across neuroids
    (region sizes kept); with ``strata``, shuffled only among neuroids of the same stratum
    (e.g. sites of one cortical layer), so what the strata share cannot pass for a region
    effect. One-sided p-value with the +1 correction (Phipson & Smyth 2010,
    "Permutation p-values should never be zero", Stat. Appl. Genet. Mol. Biol. 9(1)).

    Args:
        corr: ``(N, N)`` profile correlations of neuroids with a defined profile (no NaN rows).
        labels: ``(N,)`` region per neuroid; needs at least two regions, one of them with two neuroids.
        strata: ``(N,)`` optional stratum per neuroid.
    Returns:
        ``(observed, null (n_permutations,), p)``.
    """
    labels = np.asarray(labels)
    regions, sizes = np.unique(labels, return_counts=True)
    if regions.size < 2:
        raise ValueError("the within-vs-between permutation test needs neuroids of at least two regions")
    if sizes.max() < 2:
        raise ValueError("the within-vs-between permutation test needs a region with at least two neuroids")
    observed = within_minus_between(corr, labels)
    if strata is None:
        shuffled = np.stack([rng.permutation(labels) for _ in range(n_permutations)])
    else:
        strata = np.asarray(strata)
        groups = [np.flatnonzero(strata == value) for value in np.unique(strata)]
        shuffled = np.tile(labels, (n_permutations, 1))
        for row in shuffled:
            for index in groups:
                row[index] = labels[rng.permutation(index)]
    null = _within_minus_between_batch(corr, shuffled)
    p = (1 + int((null >= observed - 1e-12).sum())) / (1 + n_permutations)
    return observed, null, float(p)


def cluster_order(corr: np.ndarray, method: str = "average") -> tuple[np.ndarray, np.ndarray]:
    """Hierarchical clustering of neuroids on correlation distance ``1 - r``.

    Args:
        corr: ``(N, N)`` finite correlations.
        method: scipy linkage method (``average``: UPGMA, defined for any distance).
    Returns:
        ``(linkage (N-1, 4), leaf order (N,))`` with optimal leaf ordering.
    """
    from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
    from scipy.spatial.distance import squareform

    distance = np.clip(1.0 - corr, 0.0, 2.0)
    distance = (distance + distance.T) / 2
    np.fill_diagonal(distance, 0.0)
    condensed = squareform(distance, checks=False)
    tree = linkage(condensed, method=method)
    if corr.shape[0] > 2:
        tree = optimal_leaf_ordering(tree, condensed)
    return tree, leaves_list(tree)


def adjusted_rand_index(first: np.ndarray, second: np.ndarray) -> float:
    """Adjusted Rand index between two labelings (Hubert & Arabie 1985); 0 = chance, 1 = identical."""
    from scipy.special import comb

    _, a = np.unique(first, return_inverse=True)
    _, b = np.unique(second, return_inverse=True)
    table = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(table, (a, b), 1)
    sum_cells = comb(table, 2).sum()
    sum_a = comb(table.sum(axis=1), 2).sum()
    sum_b = comb(table.sum(axis=0), 2).sum()
    expected = sum_a * sum_b / comb(a.size, 2)
    maximum = (sum_a + sum_b) / 2
    if maximum == expected:
        return 1.0
    return float((sum_cells - expected) / (maximum - expected))
