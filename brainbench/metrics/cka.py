"""Linear centred kernel alignment (CKA) between a layer's activations and neural responses.

Kornblith, S., Norouzi, M., Lee, H., & Hinton, G. (2019). Similarity of neural network
representations revisited. ICML (PMLR 97), 3519-3529.

For two representations of the same ``n`` stimuli, ``X (n, p)`` and ``Y (n, q)``, with
``K = X X^T`` and ``L = Y Y^T`` their linear kernels (Gram matrices) and ``H = I - 1/n``
the centring matrix::

    CKA(X, Y) = <H K H, H L H>_F / (||H K H||_F ||H L H||_F)
              = ||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F)

with ``X_c``, ``Y_c`` the column-centred representations. It is invariant to orthogonal
transforms and isotropic scaling of either representation (``X Q``, ``a X``), and not to
general invertible linear maps (``X A``): what it compares is the geometry of the
stimuli's patterns, not what a linear readout could find in them. Computed from the Gram
matrices, a subset of stimuli (a split's test stimuli) needs only the subset's rows and
columns of ``K`` and ``L``, centred over that subset: the activations are read once.

A representation metric (``kind = "representation"``, see :class:`LinearCKA`) of a
benchmark with activations and responses: its ``input`` is ``gram``, so the scorer hands
it Gram matrices instead of RDMs; an RDM assembly, or a model that supplies an RDM, has no
patterns to build them from and is refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def gram_matrix(features: Any, block: int = 256) -> np.ndarray:
    """``X X^T`` of the rows of ``features`` (flattened), streamed in row blocks, float64.

    Args:
        features: ``(n, ...)`` array-like with row slicing (an ``NpyRows`` file is read
            block by block, never whole).
        block: rows per block.
    Returns:
        ``(n, n)`` float64, uncentred (centring is per stimulus subset, :func:`cka_from_grams`).
    """
    n = features.shape[0]
    gram = np.empty((n, n))
    starts = list(range(0, n, block))
    for i, a in enumerate(starts):
        left = np.asarray(features[a : min(n, a + block)], dtype=np.float64).reshape(min(n, a + block) - a, -1)
        for b in starts[i:]:
            right = (
                left
                if b == a
                else np.asarray(features[b : min(n, b + block)], dtype=np.float64).reshape(min(n, b + block) - b, -1)
            )
            product = left @ right.T
            gram[a : a + left.shape[0], b : b + right.shape[0]] = product
            gram[b : b + right.shape[0], a : a + left.shape[0]] = product.T
    return gram


def centre_gram(gram: np.ndarray) -> np.ndarray:
    """``H K H``: the Gram matrix of the column-centred representation."""
    gram = np.asarray(gram, dtype=np.float64)
    row_mean = gram.mean(axis=0, keepdims=True)
    return gram - row_mean - row_mean.T + gram.mean()


def cka_from_grams(gram_x: np.ndarray, gram_y: np.ndarray, stimuli: np.ndarray | None = None) -> float:
    """Linear CKA of two Gram matrices over the stimuli at positions ``stimuli`` (default: all).

    Args:
        gram_x, gram_y: ``(n, n)`` uncentred Gram matrices over the same stimuli.
        stimuli: positions of the stimuli compared; the Grams are centred over them.
    Returns:
        CKA in [0, 1]; NaN when either representation is constant over the stimuli.
    """
    if stimuli is not None:
        index = np.asarray(stimuli)
        gram_x, gram_y = gram_x[np.ix_(index, index)], gram_y[np.ix_(index, index)]
    # CKA is invariant to scaling either representation; a power of two that brings each
    # Gram's largest magnitude into [0.5, 1) is exact (nothing moves where the sums of
    # squares below are finite and normal), and keeps them so at any scale: a layer of 1e-100
    # or 1e150 gave NaN from their underflow or overflow
    gram_x, gram_y = _unit(np.asarray(gram_x, dtype=np.float64)), _unit(np.asarray(gram_y, dtype=np.float64))
    kx, ky = centre_gram(gram_x), centre_gram(gram_y)
    norm = np.sqrt((kx * kx).sum() * (ky * ky).sum())
    # relative guard: a constant representation leaves only rounding noise after centring
    scale = np.sqrt((np.asarray(gram_x) ** 2).sum() * (np.asarray(gram_y) ** 2).sum())
    if not np.isfinite(norm) or norm <= 1e-12 * scale or norm == 0:
        return float("nan")
    return float(np.clip((kx * ky).sum() / norm, 0.0, 1.0))


def _unit(gram: np.ndarray) -> np.ndarray:
    """``gram`` times the power of two that brings its largest finite magnitude into ``[0.5, 1)`` (exact)."""
    finite = np.abs(gram[np.isfinite(gram)])
    peak = float(finite.max()) if finite.size else 0.0
    return np.ldexp(gram, -np.frexp(peak)[1]) if peak > 0 else gram


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two representations ``x (n, p)`` and ``y (n, q)`` of the same ``n`` stimuli."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    return cka_from_grams(x @ x.T, y @ y.T)


class LinearCKA:
    """Linear CKA as a representation metric: layer activations against neural responses.

    The representation-metric contract (:class:`brainbench.metrics.rsa.RDMSimilarity`)
    with ``input = "gram"``: :meth:`compare` takes the Gram matrices of the layer and of a
    site's trial-averaged responses, :meth:`reliability` is the split-half CKA of a site's
    responses (two halves of each stimulus's repetitions), averaged over seeded halvings
    and not Spearman-Brown corrected: CKA is not a correlation coefficient, so the
    correction has no basis; a benchmark that ceils by it should use a ratio headline
    (``ceiling-ratio``), not ``ceiled-r2``.

    Args:
        n_splits: halvings averaged by :meth:`reliability`.
    """

    input = "gram"
    method = "cka-linear"

    def __init__(self, n_splits: int = 20) -> None:
        self.n_splits = int(n_splits)

    def compare(self, model_gram: np.ndarray, neural_gram: np.ndarray, stimuli: np.ndarray | None = None) -> float:
        """:func:`cka_from_grams` of two ``(n, n)`` Gram matrices over ``stimuli`` (positions; default all)."""
        return cka_from_grams(model_gram, neural_gram, stimuli)

    def reliability(self, trials: np.ndarray, seed: int = 0) -> float:
        """Mean split-half CKA of ``trials (repetition, stimulus, unit)`` (NaN: missing trials).

        Returns NaN when a stimulus has fewer than two valid repetitions.
        """
        from brainbench.metrics.rsa import split_half_means

        halves = split_half_means(trials, self.n_splits, seed)
        if halves is None:
            return float("nan")
        return float(np.mean([linear_cka(a, b) for a, b in halves]))
