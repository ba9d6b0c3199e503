"""Generalised (L2 + Laplacian) ridge in dual form: the ``spatial`` readout's exact solver.

The penalty ``w^T (l2 I + laplace P) w`` of a ``(C, H, W)`` kernel is block diagonal over
channels with one ``(HW, HW)`` matrix ``P = Lap^T Lap``
(:mod:`brainbench.readouts.solvers.laplacian`). With ``P = V diag(e) V^T`` and
``Z_c = X_c V`` the problem is plain ridge in features ``Z_c diag(l2 + laplace e)^{-1/2}``,
whose stimulus x stimulus Gram matrix is ``K = sum_c Z_c diag(1 / (1 + rho e)) Z_c^T``
with ridge penalty ``l2`` and ``rho = laplace / l2`` (a *family* of Gram matrices, one per
rho). Each family is solved by :func:`brainbench.readouts.solvers.ridge.fit_dual_ridge_loo`
and the family is chosen per neuroid by leave-one-out. Notation: n stimuli, C channels,
H x W map, N neuroids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, overload

import torch

from brainbench.errors import BrainbenchError
from brainbench.readouts.features import FeatureSource, block_rows, read_rows, torch_dtype
from brainbench.readouts.solvers.laplacian import penalty_eigh
from brainbench.readouts.solvers.ridge import (
    DualRidgeFit,
    center_train,
    fit_dual_ridge_loo,
    mean_eigenvalue,
    predict_dual_ridge,
)

GRAM_BLOCK_BYTES = 512 * 2**20


@dataclass
class Family:
    """One spatial smoothing of the features: Gram ``sum_c Z_c diag(d) Z_c^T``.

    Attributes:
        rho: laplace / l2 of this family (``inf`` for a pure Laplacian, l2 = 0).
        alphas: ``(A,)`` ridge penalties; relative to the mean eigenvalue if ``relative``.
        relative: see ``alphas``.
    """

    rho: float
    alphas: torch.Tensor
    relative: bool

    def weights(self, evals: torch.Tensor) -> torch.Tensor | None:
        """``(HW,)`` spectral weights ``d``, or None for the identity (rho = 0)."""
        if self.rho == 0:
            return None
        if math.isinf(self.rho):
            return 1.0 / evals.clamp_min(1e-12)
        return 1.0 / (1.0 + self.rho * evals)

    def params(self, alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Absolute ``(l2, laplace)`` of chosen absolute ``alpha`` ``(N,)``."""
        if math.isinf(self.rho):
            return torch.zeros_like(alpha), alpha
        return alpha, alpha * self.rho


def spectral_weights(
    families: list[Family], project: bool, height: int, width: int, device: torch.device | str, dtype: torch.dtype
) -> tuple[torch.Tensor | None, list[torch.Tensor | None]]:
    """The Laplacian eigenbasis ``V`` ``(HW, HW)`` and each family's weights ``d`` ``(HW,)``.

    Without ``project`` (no family smooths) the ``(HW, HW)`` eigendecomposition is skipped:
    ``V`` is None (the pixel basis) and so is every ``d`` (the identity).
    """
    if not project:
        return None, [None] * len(families)
    evals, V = penalty_eigh(height, width, device, dtype)
    return V, [f.weights(evals) for f in families]


@overload
def family_grams(
    X: torch.Tensor, families: list[Family], channel_batch: int = ..., keep_projection: Literal[False] = ...
) -> tuple[list[torch.Tensor], None, bool]: ...


@overload
def family_grams(
    X: torch.Tensor, families: list[Family], channel_batch: int = ..., *, keep_projection: Literal[True]
) -> tuple[list[torch.Tensor], torch.Tensor, bool]: ...


def family_grams(
    X: torch.Tensor, families: list[Family], channel_batch: int = 16, keep_projection: bool = False
) -> tuple[list[torch.Tensor], torch.Tensor | None, bool]:
    """Gram matrices of every family over all stimuli of ``X``.

    Args:
        X: ``(n, C, H, W)`` features, already centred (any centring: kernel centring on
            a training subset removes it).
        families: the smoothings.
        channel_batch: channels projected at once (bounds memory at ``n*batch*H*W``).
        keep_projection: also return the features in the basis used, ``(n, C, H*W)``.

    Returns:
        one ``(n, n)`` float64 Gram per family; the features ``Z`` (or None); whether
        ``Z`` is in the Laplacian eigenbasis ``X V`` (True) or the pixel basis (False:
        no family smooths, so the ``n*C*(H*W)^2`` projection is skipped).
    """
    n, C, H, W = X.shape
    project = any(f.rho != 0 for f in families)
    # the (HW, HW) eigendecomposition is only needed when some family smooths
    V, weights = spectral_weights(families, project, H, W, X.device, X.dtype)
    grams = [torch.zeros(n, n, dtype=torch.float64, device=X.device) for _ in families]
    Z_all = torch.empty(n, C, H * W, dtype=X.dtype, device=X.device) if keep_projection else None
    for c0 in range(0, C, channel_batch):
        c1 = min(C, c0 + channel_batch)
        block = X[:, c0:c1].reshape(n, c1 - c0, H * W)
        Z = block if V is None else block @ V
        if Z_all is not None:
            Z_all[:, c0:c1] = Z
        flat = Z.reshape(n, -1)
        for K, d in zip(grams, weights, strict=True):
            # V is orthonormal, so the identity family's Gram is the same in either basis
            Zw = flat if d is None else (Z * d).reshape(n, -1)
            K += (Zw @ flat.T).double()
    return grams, Z_all, project


def feature_scale2(K_plain_train: torch.Tensor, n_features: int) -> torch.Tensor:
    """Squared RMS of the centred training features, from their Gram matrix."""
    n = K_plain_train.shape[0]
    scale2 = torch.diagonal(center_train(K_plain_train)).sum() / (n * n_features)
    # floored relative to the data (see mean_eigenvalue), not at an absolute 1e-30
    floor = torch.finfo(K_plain_train.dtype).eps * torch.diagonal(K_plain_train).abs().mean() / n_features
    scale2 = torch.maximum(scale2, floor)
    return torch.where(scale2 > 0, scale2, torch.ones_like(scale2))


def family_grams_streamed(
    source: FeatureSource,
    families: list[Family],
    device: torch.device | str,
    dtype: torch.dtype | None = None,
    channel_batch: int = 16,
    block_bytes: int | None = None,
) -> list[torch.Tensor]:
    """Gram matrices of every family over all stimuli, read from ``source`` in row blocks.

    Features are centred by their mean over all n stimuli (which kernel centring on any
    training subset removes; it only avoids float32 cancellation). When one block of
    ``block_bytes`` holds every row this is :func:`family_grams` on the whole tensor,
    to the bit; otherwise the mean is accumulated in float64 and each ``(i, j)`` block of
    every Gram matrix is accumulated over channel batches, so at most two row blocks are
    held at a time.

    Args:
        source: ``(n, C, H, W)`` features.
        families: the smoothings.
        dtype: product dtype (default: the source's).
        block_bytes: bytes per row block (default :data:`GRAM_BLOCK_BYTES`).

    Returns:
        one ``(n, n)`` float64 Gram per family, on ``device``.
    """
    n, C, H, W = source.shape
    dtype = dtype or torch_dtype(source.dtype)
    rows = block_rows(source, block_bytes or GRAM_BLOCK_BYTES, torch.empty(0, dtype=dtype).element_size())
    if rows >= n:
        X = read_rows(source, 0, n, device, dtype)
        return family_grams(X - X.mean(0, keepdim=True), families, channel_batch)[0]
    mean = torch.zeros(C, H, W, dtype=torch.float64, device=device)
    for start in range(0, n, rows):
        mean += read_rows(source, start, min(n, start + rows), device, dtype).sum(0).double()
    mean = (mean / n).to(dtype)
    V, weights = spectral_weights(families, any(f.rho != 0 for f in families), H, W, device, dtype)
    grams = [torch.zeros(n, n, dtype=torch.float64, device=device) for _ in families]

    def centred(start: int) -> torch.Tensor:
        stop = min(n, start + rows)
        return (read_rows(source, start, stop, device, dtype) - mean).reshape(stop - start, C, H * W)

    for i in range(0, n, rows):
        left = centred(i)
        for j in range(i, n, rows):
            right = left if j == i else centred(j)
            bi, bj = left.shape[0], right.shape[0]
            for c0 in range(0, C, channel_batch):
                c1 = min(C, c0 + channel_batch)
                Zl = left[:, c0:c1] if V is None else left[:, c0:c1] @ V
                Zr = (right[:, c0:c1] if V is None else right[:, c0:c1] @ V).reshape(bj, -1)
                for K, d in zip(grams, weights, strict=True):
                    Zw = Zl.reshape(bi, -1) if d is None else (Zl * d).reshape(bi, -1)
                    K[i : i + bi, j : j + bj] += (Zw @ Zr.T).double()
            for K in grams:
                K[j : j + bj, i : i + bi] = K[i : i + bi, j : j + bj].T
    return grams


def solve_families(
    families: list[Family],
    grams: list[torch.Tensor],
    K_plain: torch.Tensor,
    train: torch.Tensor,
    Y_train: torch.Tensor,
    n_features: int,
    neuroid_batch: int,
) -> dict:
    """Fit every family on the ``train`` positions of its Gram matrix; pick one per neuroid.

    Args:
        families: the smoothings, with their alpha grids.
        grams: one ``(n, n)`` Gram per family; K_plain ``(n, n)`` of the unsmoothed features.
        train: ``(n_train,)`` positions; Y_train ``(n_train, N)`` float64.
        n_features: ``C*H*W`` (the features are divided by their training RMS).

    Returns:
        ``fits`` (one :class:`DualRidgeFit` per family), ``family`` ``(N,)``, ``scale2``,
        ``val`` ``(N,)`` LOO R^2, absolute ``l2`` and ``laplace`` ``(N,)``.
    """
    scale2 = feature_scale2(K_plain[train][:, train], n_features)
    fits: list[DualRidgeFit] = []
    for fam, K in zip(families, grams, strict=False):
        K_tt = K[train][:, train] / scale2
        alphas = fam.alphas.to(K.device)
        if fam.relative:
            alphas = alphas * mean_eigenvalue(K_tt)
        fits.append(fit_dual_ridge_loo(K_tt, Y_train, alphas, neuroid_batch))
    loo = torch.stack([f.loo_r2 for f in fits])  # (n_fam, N)
    family = loo.argmax(0)
    l2 = torch.zeros_like(fits[0].alpha)
    lap = torch.zeros_like(l2)
    for i, (fam, fit) in enumerate(zip(families, fits, strict=False)):
        a, b = fam.params(fit.alpha)
        l2 = torch.where(family == i, a, l2)
        lap = torch.where(family == i, b, lap)
    return {
        "fits": fits,
        "family": family,
        "scale2": scale2,
        "val": loo.gather(0, family[None]).squeeze(0),
        "l2": l2,
        "laplace": lap,
    }


def predict_families(
    state: dict, grams_test_train: list[torch.Tensor], grams_train: list[torch.Tensor]
) -> torch.Tensor:
    """``(m, N)`` predictions of :func:`solve_families`'s ``state`` from ``(m, n_train)`` kernels."""
    out: torch.Tensor | None = None
    for i, (fit, K_mt, K_tt) in enumerate(zip(state["fits"], grams_test_train, grams_train, strict=False)):
        pred = predict_dual_ridge(fit, K_mt / state["scale2"], K_tt / state["scale2"])
        out = pred if out is None else torch.where(state["family"] == i, pred, out)
    if out is None:
        raise BrainbenchError("predict_families needs at least one fitted family and its Gram matrices.")
    return out
