"""Alternating least squares for the factored (mask x features) readout, batched over neuroids.

Model (eq. 3, standardised units): ``yhat_bl = sum_ck M_kl W_cl z_bck + b_l`` with a
spatial mask ``M_l`` ``(K = H*W,)`` and feature weights ``W_l`` ``(C,)`` per neuroid.
Each half step is a ridge problem with an unpenalised intercept and a design per neuroid
(:mod:`brainbench.readouts.solvers.ridge`): W given M uses ``A_l = sum_k M_kl z_:,:,k``
``(n, C)``; M given W uses ``B_l = sum_c W_cl z_:,c,:`` ``(n, K)``, times
``(1 + rho e)^{-1/2}`` for the Laplacian-smoothed mask penalty
``alpha (|M|^2 + rho |Lap M|^2)``.

Layout (:class:`FactoredLayouts`, built once for every split): the layer is held in the
Laplacian eigenbasis of the ``H x W`` grid (an orthonormal basis, so ``|M|^2`` and every
design are unchanged; the Laplacian penalty becomes diagonal), centred over all stimuli,
divided by one RMS scalar, in two layouts, ``(K, n, C)`` and ``(C, n, K)``, so that each
half step's designs for a batch of neuroids are one matrix product with no transposed
copy. The centred Gram matrix of the flattened layer ``(n, n)`` serves every split's warm
start. Designs are built over all n stimuli and then restricted to a split's rows, which
is exact: a design is linear in the features, so centring the design over the fit rows
equals centring the features there. The global centre and scale do not change any
prediction (penalties are relative to each design's mean eigenvalue, which scales with
the features; the intercept is refitted per split); they only keep float32 well
conditioned.

Per split (:func:`fit_factored_als`): a warm start (plain ridge on the full
``(C, K)`` kernel from the shared Gram, alpha by LOO, its leading singular pair per
neuroid), then sweeps (feature step, mask step) on the inner-fit stimuli. The first sweep
searches the penalties: the feature step's one value per batch (the best mean R^2 on the
inner-validation stimuli, one Cholesky factorisation per candidate), the mask step's per
neuroid by exact leave-one-out, for every Laplacian ratio, each neuroid keeping the ratio
that predicts the inner-validation stimuli best. Later sweeps keep each neuroid's
relative penalties and solve by batched Cholesky; each neuroid keeps its best sweep on
the inner-validation stimuli and the sweeps stop when the batch's mean gain falls below
``tol``. The kept configuration is refitted on all training stimuli for ``refit_iter``
sweeps.

Cost per split and batch (n stimuli, C channels, K positions, B neuroids): two design
products of ``B K n C`` multiply-adds per sweep, one ``(B, C, C)`` Gram and Cholesky per
feature step, one ``(B, K, K)`` eigendecomposition per ratio in the first mask step; no
``(C, C)`` eigendecomposition and no copy of the layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from brainbench.readouts.features import FeatureSource, block_rows, row_blocks
from brainbench.readouts.solvers.common import inner_split, r2_columns
from brainbench.readouts.solvers.laplacian import penalty_eigh
from brainbench.readouts.solvers.ridge import (
    fit_dual_ridge_loo,
    heldout_ridge_path,
    loo_ridge_batched,
    mean_eigenvalue,
    ridge_batched,
)


@dataclass
class FactoredLayouts:
    """A layer prepared for ALS: every split reads it, none copies it.

    Attributes:
        zk: ``(K, n, C)`` features in the Laplacian eigenbasis, centred over all n
            stimuli and divided by ``scale``.
        zc: ``(C, n, K)`` the same values, channel-major.
        gram: ``(n, n)`` float64 Gram matrix of the flattened centred features (any basis).
        evals: ``(K,)`` eigenvalues of the grid Laplacian's penalty ``|Lap M|^2``.
        basis: ``(K, K)`` its orthonormal eigenvectors (columns): ``z_eig = z_pixel @ basis``.
        mean: ``(C, K)`` the pixel-basis centre subtracted; scale: the RMS divided by.
        map_shape: ``(C, H, W)``.
    """

    zk: torch.Tensor
    zc: torch.Tensor
    gram: torch.Tensor
    evals: torch.Tensor
    basis: torch.Tensor
    mean: torch.Tensor
    scale: torch.Tensor
    map_shape: tuple[int, int, int]

    @property
    def n(self) -> int:
        return self.zk.shape[1]

    def feature_design(self, mask: torch.Tensor) -> torch.Tensor:
        """``(B, n, C)`` designs ``sum_k M_bk z_nck`` for eigenbasis masks ``(B, K)``."""
        K, n, C = self.zk.shape
        return (mask @ self.zk.reshape(K, n * C)).reshape(-1, n, C)

    def mask_design(self, feat: torch.Tensor) -> torch.Tensor:
        """``(B, n, K)`` designs ``sum_c W_bc z_nck`` for features ``(B, C)``."""
        C, n, K = self.zc.shape
        return (feat @ self.zc.reshape(C, n * K)).reshape(-1, n, K)


def factored_layouts(
    source: FeatureSource, device: torch.device | str, dtype: torch.dtype, block_bytes: int = 256 * 2**20
) -> FactoredLayouts:
    """Read ``(n, C, H, W)`` features once, in row blocks, into :class:`FactoredLayouts`.

    Memory: the two layouts (``2 n C H W`` values) plus one row block and the ``(n, n)``
    Gram matrix; the layer is never held a third time.
    """
    n, C, H, W = (int(s) for s in source.shape)
    K = H * W
    evals, basis = penalty_eigh(H, W, device, dtype)
    step = block_rows(source, block_bytes, torch.empty(0, dtype=dtype).element_size())
    zk = torch.empty(K, n, C, dtype=dtype, device=device)
    zc = torch.empty(C, n, K, dtype=dtype, device=device)
    total = torch.zeros(C, K, dtype=torch.float64, device=device)
    for start, block in row_blocks(source, step, device, dtype):
        eig = block.reshape(-1, C, K) @ basis  # (b, C, K); rotating commutes with centring
        total += eig.sum(0, dtype=torch.float64)
        stop = start + eig.shape[0]
        zc[:, start:stop] = eig.transpose(0, 1)
        zk[:, start:stop] = eig.permute(2, 0, 1)
    centre = (total / n).to(dtype)  # (C, K), eigenbasis
    zc -= centre[:, None, :]
    zk -= centre.T[:, None, :]
    gram = torch.zeros(n, n, dtype=torch.float64, device=device)
    for k in range(K):  # sum over positions of (n, C) x (C, n) products
        gram += (zk[k] @ zk[k].T).double()
    # one RMS scalar over the centred layer: trace(gram) is its sum of squares
    scale = (torch.diagonal(gram).sum() / (n * C * K)).sqrt()
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    gram /= scale**2
    scale = scale.to(dtype)
    zk /= scale
    zc /= scale
    mean = centre @ basis.T  # pixel basis
    return FactoredLayouts(zk, zc, gram, evals, basis, mean, scale, (C, H, W))


def leading_masks(kernels: torch.Tensor) -> torch.Tensor:
    """``(B, K)`` unit-norm leading right singular vectors of ``(B, C, K)`` kernels.

    From one batched eigendecomposition of the smaller of ``K^T K`` ``(B, K, K)`` and
    ``K K^T`` ``(B, C, C)`` (not a full SVD); the sign makes each mask's largest entry
    positive (readability only).
    """
    _, C, HW = kernels.shape
    if HW <= C:
        _, vecs = torch.linalg.eigh(kernels.transpose(1, 2) @ kernels)
        mask = vecs[:, :, -1]
    else:
        _, vecs = torch.linalg.eigh(kernels @ kernels.transpose(1, 2))
        mask = torch.einsum("bck,bc->bk", kernels, vecs[:, :, -1])
        mask = mask / mask.norm(dim=1, keepdim=True).clamp_min(1e-30)
    return mask * torch.sign(mask.gather(1, mask.abs().argmax(1, keepdim=True)))


def warm_start_coef(
    data: FactoredLayouts, fit_rows: torch.Tensor, y: torch.Tensor, alphas: torch.Tensor
) -> torch.Tensor:
    """``(n, N)`` dual coefficients of plain ridge on the flattened layer (zero off ``fit_rows``).

    Ridge of the ``(len(fit_rows), N)`` responses ``y``, solved in the dual from the
    shared Gram's sub-block, alpha by LOO per neuroid (``alphas`` relative to the centred
    sub-block's mean eigenvalue). The warm start of ALS: see :func:`warm_start_masks`.
    """
    K_fit = data.gram[fit_rows[:, None], fit_rows]
    grid = alphas.to(K_fit) * mean_eigenvalue(K_fit)
    coef = fit_dual_ridge_loo(K_fit, y.double(), grid).coef
    full = torch.zeros(data.n, coef.shape[1], dtype=data.zk.dtype, device=data.zk.device)
    full[fit_rows] = (coef - coef.mean(0)).to(full.dtype)  # orthogonal to the constant
    return full


def warm_start_masks(data: FactoredLayouts, coef: torch.Tensor) -> torch.Tensor:
    """``(B, K)`` eigenbasis masks: the leading singular vector of each ridge kernel.

    The kernel ``(C, K)`` of a neuroid is its dual coefficients ``coef`` ``(n, B)`` times
    the features.
    """
    kernels = (coef.T @ data.zk).permute(1, 2, 0)  # (K, B, C) -> (B, C, K)
    return leading_masks(kernels)


def _restrict(
    design: torch.Tensor, fit: torch.Tensor, other: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``design`` ``(B, n, d)`` at the ``fit`` rows centred there, that mean ``(B, 1, d)``,
    and the ``other`` rows centred with it (None without ``other``)."""
    part = design[:, fit]
    mean = part.mean(1, keepdim=True)
    part -= mean
    return part, mean, design[:, other] - mean if other is not None else None


def _design_scale(A: torch.Tensor) -> torch.Tensor:
    """``(B,)`` mean eigenvalue ``trace(A^T A) / n`` of centred designs ``(B, n, d)``."""
    return (A.pow(2).sum((1, 2)) / A.shape[1]).clamp_min(1e-30)


@dataclass
class ALSState:
    """One configuration per neuroid of a batch (eigenbasis, standardised units).

    Attributes:
        mask: ``(B, K)`` unit-norm masks; feat: ``(B, C)``.
        ratio: ``(B,)`` Laplacian ratios; rel_feature, rel_mask: ``(B,)`` penalties relative
            to each design's mean eigenvalue; alpha_feature, alpha_mask: ``(B,)`` absolute.
        score: ``(B,)`` inner-validation R^2 (or the LOO R^2 of the last mask step).
        intercept: ``(B,)`` so that ``yhat = <feature_design(mask), feat> + intercept``.
    """

    mask: torch.Tensor
    feat: torch.Tensor
    ratio: torch.Tensor
    rel_feature: torch.Tensor
    rel_mask: torch.Tensor
    alpha_feature: torch.Tensor
    alpha_mask: torch.Tensor
    score: torch.Tensor
    intercept: torch.Tensor

    def where(self, take: torch.Tensor, other: ALSState) -> ALSState:
        """Per neuroid: this state where ``take`` ``(B,)`` is true, else ``other``."""
        values = {}
        for name, mine in vars(self).items():
            theirs = getattr(other, name)
            values[name] = torch.where(take.view((-1,) + (1,) * (mine.dim() - 1)), mine, theirs)
        return ALSState(**values)


@dataclass
class MaskStep:
    """Result of a mask half step for a batch of B neuroids.

    Attributes:
        mask: ``(B, K)`` eigenbasis masks (not normalised); ratio, alpha, rel: ``(B,)``
            Laplacian ratio, absolute and relative penalty.
        score: ``(B,)`` validation R^2 (LOO R^2 without validation rows when searching;
            None with fixed penalties and no validation rows).
        design_mean: ``(B, 1, K)`` the design's mean over the fit rows (for the intercept).
    """

    mask: torch.Tensor
    ratio: torch.Tensor
    alpha: torch.Tensor
    rel: torch.Tensor
    score: torch.Tensor | None
    design_mean: torch.Tensor


def _mask_step(
    data: FactoredLayouts,
    feat: torch.Tensor,
    y: torch.Tensor,
    fit: torch.Tensor,
    val: torch.Tensor | None,
    y_val: torch.Tensor | None,
    alphas: torch.Tensor,
    ratios: Sequence[float] | torch.Tensor,
    rel: torch.Tensor | None,
) -> MaskStep:
    """The mask half step given features ``(B, C)``.

    With ``rel`` None the penalty is searched by LOO for each of the Laplacian ``ratios``
    (a sequence) and each neuroid keeps the ratio with the best validation R^2 (LOO R^2
    without validation rows); otherwise ``ratios`` ``(B,)`` and ``rel`` ``(B,)`` are fixed.
    """
    Bf, mean, held_out = _restrict(data.mask_design(feat), fit, val)

    def val_r2(mask: torch.Tensor) -> torch.Tensor | None:
        if held_out is None or y_val is None:
            return None
        return r2_columns(y_val.T, torch.einsum("bmk,bk->mb", held_out, mask))

    def smoothed(ratio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The design in the penalty's scaled basis and the scale ``(1 + rho e)^-1/2``, per neuroid."""
        shrink = (1.0 + ratio[:, None] * data.evals[None]).rsqrt()  # (B, K)
        return Bf * shrink[:, None], shrink

    if rel is not None:
        ratio_b = torch.as_tensor(ratios, dtype=Bf.dtype, device=Bf.device)
        scaled, shrink = smoothed(ratio_b)
        alpha = rel * _design_scale(scaled)
        mask = ridge_batched(scaled, y, alpha) * shrink
        return MaskStep(mask, ratio_b, alpha, rel, val_r2(mask), mean)
    steps = []
    for ratio in ratios:
        ratio_b = torch.full((Bf.shape[0],), float(ratio), dtype=Bf.dtype, device=Bf.device)
        scaled, shrink = smoothed(ratio_b)
        u, alpha, loo = loo_ridge_batched(scaled, y, alphas)
        mask = u * shrink
        score = val_r2(mask)
        steps.append(
            MaskStep(mask, ratio_b, alpha, alpha / _design_scale(scaled), loo if score is None else score, mean)
        )
    best = torch.stack([step.score for step in steps if step.score is not None]).argmax(0)  # (B,)
    batch = torch.arange(best.shape[0], device=best.device)

    def pick(name: str) -> torch.Tensor:
        return torch.stack([getattr(step, name) for step in steps])[best, batch]

    return MaskStep(pick("mask"), pick("ratio"), pick("alpha"), pick("rel"), pick("score"), mean)


def _feature_step(
    data: FactoredLayouts,
    mask: torch.Tensor,
    y: torch.Tensor,
    fit: torch.Tensor,
    val: torch.Tensor | None,
    y_val: torch.Tensor | None,
    alphas: torch.Tensor,
    rel: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The feature half step given unit masks ``(B, K)``: feat ``(B, C)``, alpha, rel ``(B,)``.

    With ``rel`` None and several candidates the penalty is searched: on the validation
    rows ``val`` (targets ``y_val`` ``(B, m)``) if given, one Cholesky factorisation per
    candidate, else by LOO (one eigendecomposition). Otherwise the given relative
    penalties ``(B,)``, or the one candidate.
    """
    Af, _, held_out = _restrict(data.feature_design(mask), fit, val if rel is None and len(alphas) > 1 else None)
    scale = _design_scale(Af)
    if rel is None and len(alphas) == 1:
        rel = alphas.to(scale).expand_as(scale)
    if rel is None:
        if held_out is not None and y_val is not None:
            # one penalty for the whole batch, the best mean validation R^2: chosen per
            # neuroid, 86 V4 validation stimuli overfit it (held-out EV 0.21 vs 0.24)
            grid = alphas[None].to(scale) * scale[:, None]  # (B, G)
            coefs, scores = heldout_ridge_path(Af, y, held_out, y_val, grid)
            g = int(scores.mean(1).argmax())
            return coefs[g], grid[:, g], alphas[g].to(scale).expand_as(scale).clone()
        feat, alpha, _ = loo_ridge_batched(Af, y, alphas)
        return feat, alpha, alpha / scale
    alpha = rel * scale
    return ridge_batched(Af, y, alpha), alpha, rel


def _sweep(
    data: FactoredLayouts,
    state: ALSState | None,
    mask: torch.Tensor,
    targets: tuple[torch.Tensor, torch.Tensor],
    fit: torch.Tensor,
    val: torch.Tensor | None,
    y_val: torch.Tensor | None,
    alphas: tuple[torch.Tensor, torch.Tensor],
    ratios: Sequence[float],
    search: bool,
) -> ALSState:
    """One sweep (feature step, then mask step) from unit masks ``(B, K)``.

    ``targets``: centred fit responses ``(B, n_fit)`` and their means ``(B,)``;
    ``alphas``: the feature and mask steps' relative grids. With ``search`` the penalties
    (and the ratio) are searched; otherwise ``state``'s are kept.
    """
    y, y_mean = targets
    keep = None if search or state is None else state
    feat, a_f, rel_f = _feature_step(
        data, mask, y, fit, val, y_val, alphas[0], None if keep is None else keep.rel_feature
    )
    step = _mask_step(
        data,
        feat,
        y,
        fit,
        val,
        y_val,
        alphas[1],
        ratios if keep is None else keep.ratio,
        None if keep is None else keep.rel_mask,
    )
    intercept = y_mean - torch.einsum("bk,bk->b", step.design_mean[:, 0], step.mask)
    # move the mask's norm into the features so the next feature step sees a unit mask
    norm = step.mask.norm(dim=1).clamp_min(1e-30)
    score = step.score
    if score is None:
        score = state.score if state is not None else torch.full_like(norm, -math.inf)
    return ALSState(
        step.mask / norm[:, None], feat * norm[:, None], step.ratio, rel_f, step.rel, a_f, step.alpha, score, intercept
    )


@dataclass
class FactoredFit:
    """Attributes (N neuroids, standardised units, the layouts' centred and scaled features):
    mask: ``(N, K)`` unit-norm eigenbasis masks; feature: ``(N, C)``; intercept: ``(N,)``.
    val_score: ``(N,)`` inner-holdout R^2 (or the optimistic LOO, ``val_fraction = 0``).
    alpha_mask, alpha_feature: ``(N,)`` absolute penalties (in the layouts' units);
    rel_mask, rel_feature: ``(N,)`` the same relative to each design's mean eigenvalue
    (unit-free); laplace_ratio: ``(N,)``.
    n_sweeps: ``(N,)`` sweeps run on the inner-fit stimuli.
    """

    mask: torch.Tensor
    feature: torch.Tensor
    intercept: torch.Tensor
    val_score: torch.Tensor
    alpha_mask: torch.Tensor
    alpha_feature: torch.Tensor
    rel_mask: torch.Tensor
    rel_feature: torch.Tensor
    laplace_ratio: torch.Tensor
    n_sweeps: torch.Tensor


def fit_factored_als(
    data: FactoredLayouts,
    rows: torch.Tensor,
    Ys: torch.Tensor,
    *,
    ratios: list[float],
    alphas: torch.Tensor,
    feature_alphas: torch.Tensor,
    warm_alphas: torch.Tensor,
    n_iter: int,
    refit_iter: int,
    val_fraction: float,
    neuroid_batch: int,
    seed: int,
    tol: float = 1e-3,
) -> FactoredFit:
    """The factored readout's ALS on the training stimuli ``rows`` of ``data``.

    1. Inner split of ``rows`` (``val_fraction``, seeded); warm start on the inner-fit part.
    2. Sweeps on the inner-fit part: the first searches the penalties by LOO and the
       Laplacian ratio on the inner-validation part; later ones keep them (Cholesky).
       Each neuroid keeps its best sweep there; at most ``n_iter`` sweeps, fewer when the
       mean gain is below ``tol``.
    3. The kept configuration is refitted on all ``rows`` for ``refit_iter`` sweeps.

    With ``val_fraction = 0`` every sweep searches by LOO on all ``rows``, the ratio is
    chosen by the mask step's LOO R^2, all ``n_iter`` sweeps run, the last is kept and
    its (optimistic) LOO R^2 is the score; there is no refit.

    Args:
        data: the layer, prepared once (:func:`factored_layouts`).
        rows: ``(n_train,)`` positions of the training stimuli in ``data``.
        Ys: ``(n_train, N)`` standardised training responses.
        ratios: Laplacian ratios rho of the mask penalty ``alpha (|M|^2 + rho |Lap M|^2)``.
        alphas: ``(G,)`` relative grid of the mask step; feature_alphas: ``(F,)`` of the
            feature step (one value: fixed, no search); warm_alphas: ``(A,)`` relative
            ridge grid of the warm start.
    """
    device, dtype = data.zk.device, data.zk.dtype
    N = Ys.shape[1]
    fit_pos, val_pos = inner_split(len(rows), val_fraction, seed, device)
    honest = len(val_pos) > 0
    rows = rows.to(device)
    fit = rows[fit_pos] if honest else rows
    val = rows[val_pos] if honest else None
    Y_fit = Ys[fit_pos] if honest else Ys
    grids = (feature_alphas.to(device), alphas.to(device))
    out = {
        name: torch.empty(N, dtype=dtype, device=device)
        for name in (
            "intercept",
            "val_score",
            "alpha_mask",
            "alpha_feature",
            "rel_mask",
            "rel_feature",
            "laplace_ratio",
            "n_sweeps",
        )
    }
    C, K = data.zc.shape[0], data.zk.shape[0]
    mask_out = torch.empty(N, K, dtype=dtype, device=device)
    feat_out = torch.empty(N, C, dtype=dtype, device=device)
    coef = warm_start_coef(data, fit, Y_fit, warm_alphas)
    for start in range(0, N, neuroid_batch):
        cols = slice(start, min(N, start + neuroid_batch))
        y_mean = Y_fit[:, cols].mean(0)
        targets = ((Y_fit[:, cols] - y_mean).T.contiguous(), y_mean)
        y_val = (Ys[val_pos][:, cols] - y_mean).T.contiguous() if honest else None
        # the first sweep searches the penalties; without validation rows every sweep does
        # and the last is kept, else each neuroid keeps its best sweep there
        state = _sweep(data, None, warm_start_masks(data, coef[:, cols]), targets, fit, val, y_val, grids, ratios, True)
        kept, sweeps = state, 1
        while sweeps < n_iter:
            state = _sweep(data, state, state.mask, targets, fit, val, y_val, grids, ratios, not honest)
            sweeps += 1
            if not honest:
                kept = state
                continue
            gain = float((torch.maximum(state.score, kept.score) - kept.score).mean())
            kept = state.where(state.score > kept.score, kept)
            if gain < tol:
                break
        final = kept
        if honest:
            y_all_mean = Ys[:, cols].mean(0)
            all_targets = ((Ys[:, cols] - y_all_mean).T.contiguous(), y_all_mean)
            for _ in range(refit_iter):
                final = _sweep(data, final, final.mask, all_targets, rows, None, None, grids, ratios, False)
        mask_out[cols], feat_out[cols] = final.mask, final.feat
        out["intercept"][cols] = final.intercept
        out["val_score"][cols] = kept.score
        out["alpha_mask"][cols], out["alpha_feature"][cols] = final.alpha_mask, final.alpha_feature
        out["rel_mask"][cols], out["rel_feature"][cols] = final.rel_mask, final.rel_feature
        out["laplace_ratio"][cols] = final.ratio
        out["n_sweeps"][cols] = float(sweeps)
    return FactoredFit(
        mask_out,
        feat_out,
        out["intercept"],
        out["val_score"],
        out["alpha_mask"],
        out["alpha_feature"],
        out["rel_mask"],
        out["rel_feature"],
        out["laplace_ratio"],
        out["n_sweeps"],
    )


def predict_factored(data: FactoredLayouts, rows: torch.Tensor, fit: FactoredFit, neuroid_batch: int) -> torch.Tensor:
    """``(len(rows), N)`` standardised predictions for the stimuli ``rows`` of ``data``."""
    part = replace(data, zk=data.zk[:, rows.to(data.zk.device)])  # those rows only, copied once
    out = torch.empty(len(rows), fit.mask.shape[0], dtype=data.zk.dtype, device=data.zk.device)
    for start in range(0, fit.mask.shape[0], neuroid_batch):
        cols = slice(start, start + neuroid_batch)
        design = part.feature_design(fit.mask[cols])
        out[:, cols] = torch.einsum("bmc,bc->mb", design, fit.feature[cols]) + fit.intercept[cols]
    return out
