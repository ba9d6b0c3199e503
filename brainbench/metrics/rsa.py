"""Representational similarity: dissimilarity matrices, their comparison and their reliability.

Convention: a representational dissimilarity matrix (RDM) is ``1 - Pearson r`` between
the response patterns of every pair of stimuli (a model layer's feature vectors, or a
site's population vector of trial-averaged responses), as in Kriegeskorte, Mur &
Bandettini (2008) and Conwell et al. (2021). Two RDMs are compared on their upper
triangles (stimulus pairs), by Pearson r (Conwell's choice), Spearman's rho (the usual
choice for the 92-image set of Kriegeskorte et al. 2008) or Kendall's tau-a (Nili et al.
2014: the right one when an RDM has ties, like a categorical model RDM), all behind one
entry point, :func:`compare` (``method=``, as rsatoolbox's ``compare``).

The reliability of a neural RDM is its split-half reliability: the repetitions of each
stimulus are split in two halves, one RDM is built from each half's means, the two
upper triangles are correlated and the correlation is Spearman-Brown corrected,
averaged over seeded halvings. It plays the role the per-neuroid split-half reliability
plays for regression benchmarks, so the ceiled score of :mod:`brainbench.metrics.ceiled`
(``sign(r) r^2 / reliability``) is the signed fraction of the RDM's explainable
variance that the model's RDM explains.

References:
    Kriegeskorte, N., Mur, M., & Bandettini, P. (2008). Representational similarity
    analysis -- connecting the branches of systems neuroscience. Front. Syst. Neurosci. 2:4.
    Conwell, C., Mayo, D., Barbu, A., Buice, M., Alvarez, G., & Katz, B. (2021). Neural
    regression, representational similarity, model zoology & neural taskonomy at scale
    in rodent visual cortex. NeurIPS 34.
    Nili, H., Wingfield, C., Walther, A., Su, L., Marslen-Wilson, W., & Kriegeskorte, N.
    (2014). A toolbox for representational similarity analysis. PLoS Comput. Biol.
    10:e1003553.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

#: The RDM comparisons :func:`compare` offers (``tau-a``: Kendall's tau-a, see :func:`kendall_tau_a`).
METHODS = ("pearson", "spearman", "tau-a")


def correlation_rdm(features: Any, block: int = 256) -> np.ndarray:
    """``1 - Pearson r`` between the rows of ``features``, streamed in row blocks.

    Args:
        features: ``(n, ...)`` array-like with row slicing (an ``NpyRows`` activation
            file is read block by block, never whole).
        block: rows per block.
    Returns:
        ``(n, n)`` float64 RDM; NaN rows/columns for constant rows.
    """
    n = features.shape[0]

    def standardised(start: int, stop: int) -> np.ndarray:
        rows = np.asarray(features[start:stop], dtype=np.float64).reshape(stop - start, -1)
        rows = rows - rows.mean(axis=1, keepdims=True)
        norm = np.sqrt((rows**2).sum(axis=1, keepdims=True))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(norm > 0, rows / norm, np.nan)

    similarity = np.empty((n, n))
    starts = list(range(0, n, block))
    for i, a in enumerate(starts):
        left = standardised(a, min(n, a + block))
        for b in starts[i:]:
            right = left if b == a else standardised(b, min(n, b + block))
            product = left @ right.T
            similarity[a : a + left.shape[0], b : b + right.shape[0]] = product
            similarity[b : b + right.shape[0], a : a + left.shape[0]] = product.T
    return 1.0 - similarity


def pattern_rdm(responses: np.ndarray) -> np.ndarray:
    """``(stimulus, unit) -> (stimulus, stimulus)`` correlation RDM of population patterns."""
    return correlation_rdm(np.asarray(responses, dtype=np.float64))


def stimulus_pairs(stimuli: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stimulus pairs an RDM comparison over ``stimuli`` uses, as row and column indices.

    Every pair of distinct positions of ``stimuli`` (the upper triangle over positions)
    whose two stimuli differ: with repeated stimuli (a bootstrap resample), a stimulus
    paired with its own copy is dropped, since its dissimilarity is the diagonal, not data.

    Args:
        stimuli: ``(n,)`` stimulus positions, repeats allowed.
    Returns:
        ``(first, second)``: index arrays into an RDM, one entry per pair.
    """
    index = np.asarray(stimuli)
    rows, cols = np.triu_indices(index.size, k=1)
    first, second = index[rows], index[cols]
    distinct = first != second
    return first[distinct], second[distinct]


def correlate_pairs(x: np.ndarray, y: np.ndarray, method: str = "pearson") -> np.ndarray:
    """Correlation of every row of ``x`` with every row of ``y`` over their pairs (columns).

    Pairs where either value is not finite are dropped for that row pair; a row pair with
    fewer than 3 pairs left or no variance gives NaN.

    Args:
        x: ``(L, P)`` dissimilarities of ``P`` stimulus pairs (e.g. one row per model layer).
        y: ``(N, P)`` dissimilarities of the same pairs (e.g. one row per neural site).
        method: ``pearson``, ``spearman`` or ``tau-a`` (:func:`kendall_tau_a`).
    Returns:
        ``(L, N)`` float64.
    """
    if method not in METHODS:
        from brainbench.errors import BrainbenchError

        raise BrainbenchError(f"unknown RDM comparison {method!r}; use one of {', '.join(METHODS)}.")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        out = np.full((x.shape[0], y.shape[0]), np.nan)
        for i, row in enumerate(x):
            for j, col in enumerate(y):
                keep = np.isfinite(row) & np.isfinite(col)
                out[i, j] = correlate_pairs(row[keep][None], col[keep][None], method)[0, 0]
        return out
    if method == "tau-a":
        return np.asarray([[kendall_tau_a(row, col) for col in y] for row in x]).reshape(x.shape[0], y.shape[0])
    if method == "spearman":
        from scipy.stats import rankdata

        x, y = rankdata(x, axis=1), rankdata(y, axis=1)
    if x.shape[1] < 3:
        return np.full((x.shape[0], y.shape[0]), np.nan)

    def unit(rows: np.ndarray) -> np.ndarray:
        centred = rows - rows.mean(axis=1, keepdims=True)
        norm = np.sqrt((centred**2).sum(axis=1, keepdims=True))
        # relative guard: a constant row leaves only rounding noise after centring
        flat = norm <= 1e-12 * np.sqrt((rows**2).sum(axis=1, keepdims=True))
        return np.where(flat, np.nan, centred / np.where(flat, 1.0, norm))

    return np.clip(unit(x) @ unit(y).T, -1.0, 1.0)


def kendall_tau_a(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-a of two vectors: ``(concordant - discordant) / (n (n - 1) / 2)``.

    Unlike tau-b (scipy's default), tau-a keeps every pair in its denominator, tied or
    not, so a model RDM with ties (a categorical model: every within-category pair equal)
    is not rewarded for them: a pair the model ties counts as neither concordant nor
    discordant, and the ceiling of a tied model is below 1 (Nili et al. 2014). Without
    ties tau-a equals tau-b.

    ``concordant - discordant`` is counted exactly in O(n log n): scipy's ``kendalltau``
    counts it (Knight's merge-sort algorithm) and divides it by the tau-b normaliser
    ``sqrt((n0 - ties_x) (n0 - ties_y))``, ``n0 = n (n - 1) / 2``, ``ties_*`` the pairs tied
    in that vector, which this multiplies back and divides by ``n0`` instead. 4,186 values
    (the 92-image set's pairs) take about 1 ms here, against about 0.35 s for the blocked
    pair-by-pair count of the definition (medians on 2 shared CPU cores).

    Args:
        x, y: ``(n,)`` finite values (e.g. two RDMs' upper triangles).
    Returns:
        tau-a in [-1, 1]; NaN for fewer than 3 values or a constant vector.
    """
    from scipy.stats import kendalltau

    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    n = x.size
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    n0 = n * (n - 1) / 2
    tau_b = float(kendalltau(x, y, variant="b").statistic)
    normaliser = np.sqrt((n0 - _tied_pairs(x)) * (n0 - _tied_pairs(y)))
    return float(np.clip(tau_b * normaliser / n0, -1.0, 1.0))


def _tied_pairs(values: np.ndarray) -> float:
    """Pairs of equal values: ``sum over distinct values of count (count - 1) / 2``."""
    _, counts = np.unique(values, return_counts=True)
    return float((counts * (counts - 1) // 2).sum())


def compare(rdm1: np.ndarray, rdm2: np.ndarray, method: str = "spearman", stimuli: np.ndarray | None = None) -> float:
    """The one entry point of RDM comparison (as rsatoolbox's ``compare(rdm1, rdm2, method=...)``).

    Args:
        rdm1, rdm2: ``(n, n)`` RDMs over the same stimuli in the same order.
        method: ``spearman`` (the default of the RSA literature on the 92-image set),
            ``pearson`` or ``tau-a`` (Kendall's tau-a, :func:`kendall_tau_a`).
        stimuli: positions of the stimuli whose pairs are compared (default: all; repeats
            allowed, see :func:`stimulus_pairs`).
    Returns:
        The comparison over the upper triangle of the chosen stimuli's pairs.
    """
    first, second = stimulus_pairs(np.arange(rdm1.shape[0]) if stimuli is None else stimuli)
    return float(correlate_pairs(rdm1[first, second][None], rdm2[first, second][None], method)[0, 0])


def compare_rdms(a: np.ndarray, b: np.ndarray, stimuli: np.ndarray | None = None, method: str = "pearson") -> float:
    """Correlation of two RDMs' upper triangles over the pairs of ``stimuli`` (default: all).

    :func:`compare` with the argument order and Pearson default of the first representation
    benchmarks.

    Args:
        a, b: ``(n, n)`` RDMs.
        stimuli: positions of the stimuli whose pairs are compared (repeats allowed: see
            :func:`stimulus_pairs`).
        method: one of :data:`METHODS`.
    """
    return compare(a, b, method, stimuli)


def bootstrap_rdm_similarity(
    model_rdms: np.ndarray, neural_rdms: np.ndarray, n_boot: int, rng: np.random.Generator, method: str = "pearson"
) -> np.ndarray:
    """RDM similarity of every model RDM with every neural RDM on stimuli resampled with replacement.

    Each resample draws ``S`` stimulus indices with replacement and compares the RDMs on
    the pairs of :func:`stimulus_pairs` of the draw: pairs of distinct positions, less the
    pairs of a stimulus with its own copy. The model and neural RDMs stay fixed (nothing
    is recomputed from features or responses), so the spread is that of the comparison
    over another sample of stimuli.

    Args:
        model_rdms: ``(L, S, S)`` one RDM per layer.
        neural_rdms: ``(N, S, S)`` one RDM per site, same stimulus order.
        n_boot: resamples.
        rng: the resampling's generator.
        method: ``pearson`` or ``spearman`` (as in :func:`compare_rdms`).
    Returns:
        ``(n_boot, L, N)`` float64.
    """
    n_stimuli = model_rdms.shape[-1]
    out = np.empty((n_boot, model_rdms.shape[0], neural_rdms.shape[0]))
    for k in range(n_boot):
        first, second = stimulus_pairs(np.asarray(rng.integers(0, n_stimuli, size=n_stimuli)))
        out[k] = correlate_pairs(model_rdms[:, first, second], neural_rdms[:, first, second], method)
    return out


def split_half_rdm_reliability(trials: np.ndarray, n_splits: int = 20, seed: int = 0, method: str = "pearson") -> float:
    """Spearman-Brown corrected split-half reliability of one site's RDM.

    Args:
        trials: ``(repetition, stimulus, unit)`` responses, NaN for missing trials.
        n_splits: seeded random halvings of each stimulus's repetitions averaged.
        seed: seed of the halvings.
        method: the RDM comparison (as in :func:`compare_rdms`).
    Returns:
        The mean over halvings of ``2 r / (1 + r)``; NaN when a stimulus has fewer than
        two valid repetitions.
    """
    halves = split_half_means(trials, n_splits, seed)
    if halves is None:
        return float("nan")
    values = []
    for a, b in halves:
        r = compare_rdms(pattern_rdm(a), pattern_rdm(b), method=method)
        values.append(2 * r / (1 + r))
    return float(np.mean(values))


def split_half_means(trials: np.ndarray, n_splits: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]] | None:
    """Seeded random halvings of each stimulus's presentations: ``n_splits`` pairs of half means.

    Args:
        trials: ``(repetition, stimulus, unit)`` responses, NaN for missing trials (a
            presentation counts only when every unit has a value).
        n_splits: how many halvings; seed: their seed.
    Returns:
        An iterator of ``(a, b)``, each ``(stimulus, unit)`` the mean of one half of each
        stimulus's valid presentations; None when a stimulus has fewer than two.
    """
    trials = np.asarray(trials, dtype=np.float64)
    valid = np.isfinite(trials).all(axis=2)  # (rep, stim): a presentation is all units at once
    if (valid.sum(axis=0) < 2).any():
        return None
    filled = np.where(np.isfinite(trials), trials, 0.0)

    def halvings() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng(seed)
        for _ in range(n_splits):
            keys = np.where(valid, rng.random(valid.shape), np.inf)
            ranks = keys.argsort(0).argsort(0)
            first = valid & (ranks < (valid.sum(0) // 2)[None])
            second = valid & ~first
            a = (filled * first[..., None]).sum(0) / first.sum(0)[:, None]
            b = (filled * second[..., None]).sum(0) / second.sum(0)[:, None]
            yield a, b

    return halvings()


def given_rdm_reliability(assembly: Any, coord: str = "ceiling") -> np.ndarray:
    """The reliability an RDM assembly gives with its matrices: its ``coord`` coordinate.

    For data published as RDMs (no trials to split), the reliability of each site's
    matrix can only be the one its authors computed and published beside it.

    Args:
        assembly: an RDM assembly ``(site, stimulus, stimulus_b)``.
        coord: the ``(site,)`` coordinate holding each matrix's reliability.
    Returns:
        ``(site,)`` float64.
    """
    from brainbench.data.assembly import AssemblyError

    if coord not in assembly.coords or assembly[coord].dims != ("site",):
        raise AssemblyError(f"the RDM assembly has no per-site {coord!r} coordinate to read its ceiling from.")
    return np.asarray(assembly[coord].values, dtype=np.float64)


given_rdm_reliability.input = "rdm-assembly"  # type: ignore[attr-defined]  # read by the load stage


def similarity_to_rdm(similarity: np.ndarray) -> np.ndarray:
    """``(..., n, n)`` similarity matrices (Pearson r) as dissimilarities ``1 - r`` (this module's convention)."""
    return 1.0 - np.asarray(similarity, dtype=np.float64)


class RDMSimilarity:
    """The representation metric of representation benchmarks (``kind = "representation"``).

    The contract of a representation metric is this pair of methods: ``compare`` scores a
    model RDM against a neural RDM on a subset of stimuli, ``reliability`` is the ceiling
    of one site's neural RDM from its trials.

    Args:
        method: ``pearson`` (Conwell et al.'s choice), ``spearman`` or ``tau-a``.
        n_splits: halvings averaged by :meth:`reliability`.
    """

    #: what the scorer hands :meth:`compare`: RDMs (``gram``: Gram matrices, :class:`~brainbench.metrics.cka.LinearCKA`)
    input = "rdm"

    def __init__(self, method: str = "pearson", n_splits: int = 20) -> None:
        if method not in METHODS:
            from brainbench.errors import BrainbenchError

            raise BrainbenchError(f"unknown RDM comparison {method!r}; use one of {', '.join(METHODS)}.")
        self.method = method
        self.n_splits = n_splits

    def compare(self, model_rdm: np.ndarray, neural_rdm: np.ndarray, stimuli: np.ndarray | None = None) -> float:
        """:func:`compare` of two ``(n, n)`` RDMs by this metric's method over ``stimuli`` (default all)."""
        return compare(model_rdm, neural_rdm, self.method, stimuli)

    def reliability(self, trials: np.ndarray, seed: int = 0) -> float:
        """:func:`split_half_rdm_reliability` of ``trials (repetition, stimulus, unit)``."""
        return split_half_rdm_reliability(trials, self.n_splits, seed, self.method)
