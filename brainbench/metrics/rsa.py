"""Representational similarity: dissimilarity matrices, their comparison and their reliability.

Convention: a representational dissimilarity matrix (RDM) is ``1 - Pearson r`` between
the response patterns of every pair of stimuli (a model layer's feature vectors, or a
site's population vector of trial-averaged responses), as in Kriegeskorte, Mur &
Bandettini (2008) and Conwell et al. (2021). Two RDMs are compared on their upper
triangles (stimulus pairs), by Pearson r (Conwell's choice) or Spearman's rho.

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
"""

from __future__ import annotations

from typing import Any

import numpy as np

METHODS = ("pearson", "spearman")


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


def compare_rdms(a: np.ndarray, b: np.ndarray, stimuli: np.ndarray | None = None, method: str = "pearson") -> float:
    """Correlation of two RDMs' upper triangles over the pairs of ``stimuli`` (default: all).

    Args:
        a, b: ``(n, n)`` RDMs.
        stimuli: positions of the stimuli whose pairs are compared.
        method: ``pearson`` or ``spearman``.
    """
    if method not in METHODS:
        from brainbench.errors import BrainbenchError

        raise BrainbenchError(f"unknown RDM comparison {method!r}; use one of {', '.join(METHODS)}.")
    index = np.arange(a.shape[0]) if stimuli is None else np.asarray(stimuli)
    rows, cols = np.triu_indices(index.size, k=1)
    x = a[np.ix_(index, index)][rows, cols]
    y = b[np.ix_(index, index)][rows, cols]
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if method == "spearman":
        from scipy.stats import rankdata

        x, y = rankdata(x), rankdata(y)
    if x.size < 3 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


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
    trials = np.asarray(trials, dtype=np.float64)
    valid = np.isfinite(trials).all(axis=2)  # (rep, stim): a presentation is all units at once
    if (valid.sum(axis=0) < 2).any():
        return float("nan")
    rng = np.random.default_rng(seed)
    filled = np.where(np.isfinite(trials), trials, 0.0)
    values = []
    for _ in range(n_splits):
        keys = np.where(valid, rng.random(valid.shape), np.inf)
        ranks = keys.argsort(0).argsort(0)
        first = valid & (ranks < (valid.sum(0) // 2)[None])
        second = valid & ~first
        a = (filled * first[..., None]).sum(0) / first.sum(0)[:, None]
        b = (filled * second[..., None]).sum(0) / second.sum(0)[:, None]
        r = compare_rdms(pattern_rdm(a), pattern_rdm(b), method=method)
        values.append(2 * r / (1 + r))
    return float(np.mean(values))


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
        method: ``pearson`` (Conwell et al.'s choice) or ``spearman``.
        n_splits: halvings averaged by :meth:`reliability`.
    """

    def __init__(self, method: str = "pearson", n_splits: int = 20) -> None:
        if method not in METHODS:
            from brainbench.errors import BrainbenchError

            raise BrainbenchError(f"unknown RDM comparison {method!r}; use one of {', '.join(METHODS)}.")
        self.method = method
        self.n_splits = n_splits

    def compare(self, model_rdm: np.ndarray, neural_rdm: np.ndarray, stimuli: np.ndarray | None = None) -> float:
        """:func:`compare_rdms` with this metric's method."""
        return compare_rdms(model_rdm, neural_rdm, stimuli, self.method)

    def reliability(self, trials: np.ndarray, seed: int = 0) -> float:
        """:func:`split_half_rdm_reliability` of ``trials (repetition, stimulus, unit)``."""
        return split_half_rdm_reliability(trials, self.n_splits, seed, self.method)
