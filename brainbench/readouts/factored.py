"""``factored``: eq. 3 of Cocjin, Sanchez & Iglesias, after Klindt et al. (2017).

    y_l = sum_{i,j,k} M_ijl W_kl r_ijk + b_l                               (eq. 3)

A spatial mask ``M_l`` ``(H, W)`` ("where") times feature weights ``W_l`` ``(C,)``
("what") per neuroid, plus a bias. Klindt, D., Ecker, A. S., Euler, T. & Bethge, M.
(2017), Neural system identification for large populations separating "what" and
"where", NeurIPS 30.

Loss per neuroid l (eq. 6-7), in standardised units (features centred and divided by one
RMS scalar per layer, responses z-scored per neuroid, on the training fold):

    J_l = sum_b (y_bl - yhat_bl)^2 + l1_mask |M_l|_1 + l1_feature |W_l|_1
          + l2 (|M_l|^2 + |W_l|^2) + laplace |Lap M_l|^2

summed over neuroids: penalty weights are per neuroid, independent of N, and regularise
relatively less as the number of training stimuli n grows (per-stimulus ``lam / n``).

Solvers:

* ``adam``: the paper's method on exactly that loss (full batch, batched over neuroids,
  seeded random initialisation, early stopping on a seeded inner validation split).
* ``als``: alternating closed-form ridge half steps, batched over neuroids. L1 has no
  closed form, so ``als`` uses a ridge (L2) *surrogate*: each half step is ridge with an
  unpenalised intercept whose penalty is chosen per neuroid by exact leave-one-out over
  ``alphas`` (relative to the half step's mean eigenvalue); the mask step adds
  ``laplace_ratio`` times the Laplacian penalty (solved in the Laplacian eigenbasis, as
  in the spatial readout). Half steps: W given M uses per-neuroid features
  ``A_l = sum_ij M_ijl r_ij:`` ``(n, C)``; M given W uses ``B_l = sum_k W_kl r_::k``
  ``(n, H*W)``; each is solved by one batched eigendecomposition in the smaller of the
  primal and dual spaces (:func:`loo_ridge_batched`). Warm start: the rank-1 SVD
  factorisation of each neuroid's ``(C, H*W)`` ridge (``spatial`` with L2 only) kernel.
  Each sweep is feature step then mask step.

  ``val_score_`` is an honest inner holdout score (``val_fraction`` of the training
  stimuli, seeded by ``seed``): ALS (warm start included) is run on the inner-fit part
  for every ``laplace_ratio``, each run is scored by R^2 on the inner-validation part,
  the ratio is chosen per neuroid there, and the chosen configuration is refitted on all
  training stimuli, warm-started from its inner-fit mask. The half steps' own LOO
  scores cannot serve: after the feature step has fitted the C weights on every
  stimulus, the mask step's LOO sees a design built with the left-out stimulus, which
  on V4 gave scores of 0.42-0.44 for held-out EVs of 0.06-0.16 and ranked the worse
  layer first. ``val_fraction = 0`` restores that (optimistic) LOO score and choice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from brainbench.errors import BrainbenchError
from brainbench.readouts.base import Readout, as_tensor, r2_columns
from brainbench.readouts.laplacian import laplacian_penalty, penalty_eigh
from brainbench.readouts.ridge_solvers import alpha_grid
from brainbench.readouts.sgd import Grid, penalty_grid
from brainbench.readouts.solvers.adam import adam_fit, inner_split
from brainbench.readouts.solvers.ridge_loo import loo_ridge_batched
from brainbench.readouts.solvers.scaling import Standardizer
from brainbench.readouts.spatial import SpatialReadout

SOLVERS = ("als", "adam")


def rank1_init(kernels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank-1 factors of ``(B, C, HW)`` kernels: mask ``(B, HW)`` (unit norm), features ``(B, C)``."""
    U, s, Vh = torch.linalg.svd(kernels, full_matrices=False)
    mask = Vh[:, 0, :]
    feat = U[:, :, 0] * s[:, :1]
    # fix the sign so that the mask's largest entry is positive (readability only)
    sign = torch.sign(mask.gather(1, mask.abs().argmax(1, keepdim=True)))
    return mask * sign, feat * sign


def als_fit(Z: torch.Tensor, Y: torch.Tensor, mask: torch.Tensor, feat: torch.Tensor,
            alphas: torch.Tensor, n_iter: int, mask_scale: torch.Tensor | None = None,
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Alternating ridge half steps for a batch of neuroids.

    Args:
        Z: ``(n, C, K)`` centred features, space in some orthonormal basis of K = H*W
            coordinates (pixels, or Laplacian eigenvectors).
        Y: ``(n, B)`` centred responses.
        mask: ``(B, K)`` initial masks (same basis); feat: ``(B, C)`` initial features.
        alphas: ``(G,)`` relative ridge penalties searched by LOO in every half step.
        n_iter: feature-then-mask sweeps.
        mask_scale: ``(K,)`` ``(1 + rho e)^{-1/2}`` for a Laplacian-penalised mask in the
            eigenbasis (None: plain ridge on the mask).

    Returns:
        mask ``(B, K)``, feat ``(B, C)``, LOO R^2 of the last mask step ``(B,)``,
        and the chosen absolute penalties ``{"alpha_mask", "alpha_feature"}`` ``(B,)``.
    """
    y = Y.T.contiguous()                                            # (B, n)
    loo = torch.zeros(Y.shape[1], dtype=Z.dtype, device=Z.device)
    chosen: dict[str, torch.Tensor] = {}
    for _ in range(n_iter):
        A_design = torch.einsum("nck,bk->bnc", Z, mask)              # (B, n, C)
        feat, chosen["alpha_feature"], _ = loo_ridge_batched(A_design, y, alphas)
        B_design = torch.einsum("nck,bc->bnk", Z, feat)              # (B, n, K)
        if mask_scale is not None:
            B_design = B_design * mask_scale
        u, chosen["alpha_mask"], loo = loo_ridge_batched(B_design, y, alphas)
        mask = u * mask_scale if mask_scale is not None else u
        # move the scale into the features so the next feature step sees a unit mask
        norm = mask.norm(dim=1, keepdim=True).clamp_min(1e-30)
        mask, feat = mask / norm, feat * norm
    return mask, feat, loo, chosen


class FactoredReadout(Readout):
    """Eq. 3 readout: per-neuroid spatial mask x feature weights + bias.

    Args:
        solver: ``"als"`` (alternating closed-form ridge, L2 surrogate) or ``"adam"``.
        l1_mask, l1_feature, l2, laplace: ``adam`` penalty weights (lists are searched
            per neuroid on the inner validation split).
        laplace_ratio: ``als`` mask penalty is ``alpha (|M|^2 + laplace_ratio |Lap M|^2)``;
            a list is searched per neuroid on the inner validation split (one ALS run per
            value on the inner-fit stimuli, then one refit with the chosen value).
        alphas: ``als`` relative ridge grid (``{start, stop, num}`` in log10, or a list;
            None: ``10**linspace(0, 4, 9)`` times each half step's mean eigenvalue).
        n_iter: ``als`` sweeps.
        lr, max_iter, patience: ``adam`` settings.
        val_fraction: inner validation fraction of the training stimuli (``adam``: early
            stopping and grid search; ``als``: ``val_score_`` and the ``laplace_ratio``
            choice; 0 gives ``als`` the optimistic last-mask-step LOO instead).
        neuroid_batch: neuroids per batch (``als`` memory ~ batch * n * H*W floats).
        seed: seeds the ``adam`` initialisation and the inner split of both solvers.
    """

    needs_spatial = True
    uses_gram = False

    def __init__(self, solver: str = "als", l1_mask: Grid = 10.0, l1_feature: Grid = 10.0,
                 l2: Grid = 0.0, laplace: Grid = 0.0, laplace_ratio: Grid = (0.0, 10.0),
                 alphas: Sequence[float] | Mapping[str, float] | None = None, n_iter: int = 5,
                 lr: float = 1e-3, max_iter: int = 3000, patience: int = 300,
                 val_fraction: float = 0.15, neuroid_batch: int = 64, seed: int = 0,
                 dtype: str = "float32") -> None:
        if solver not in SOLVERS:
            raise BrainbenchError(f"factored solver must be one of {SOLVERS}, not {solver!r}.")
        self.solver = solver
        self.l1_mask, self.l1_feature, self.l2, self.laplace = l1_mask, l1_feature, l2, laplace
        self.laplace_ratio = laplace_ratio
        self.alphas = alphas
        self.n_iter = n_iter
        self.lr, self.max_iter, self.patience = lr, max_iter, patience
        self.val_fraction = val_fraction
        self.neuroid_batch = neuroid_batch
        self.seed = seed
        self.dtype = dtype

    def _alpha_grid(self) -> torch.Tensor:
        if self.alphas is None:
            # alpha >= the mean eigenvalue: smaller penalties let the feature step (C often
            # > n) interpolate, after which the mask step's LOO score is meaningless
            return alpha_grid(0.0, 4.0, 9)
        if isinstance(self.alphas, Mapping):
            return alpha_grid(float(self.alphas["start"]), float(self.alphas["stop"]),
                              int(self.alphas["num"]))
        return torch.tensor([float(a) for a in self.alphas], dtype=torch.float64)

    def fit(self, X: torch.Tensor, Y: torch.Tensor) -> FactoredReadout:
        """X ``(n, C, H, W)``, Y ``(n, N)``."""
        if X.dim() != 4:
            raise BrainbenchError(
                f"the factored readout needs (n, C, H, W) features, got shape {tuple(X.shape)}.")
        dtype = getattr(torch, self.dtype)
        X = X.to(dtype)
        Y = as_tensor(Y, X.device, dtype)
        self.map_shape_ = tuple(X.shape[1:])
        self.scaler_ = Standardizer.fit(X, Y)
        Xs, Ys = self.scaler_.x(X), self.scaler_.y(Y)
        if self.solver == "als":
            self._fit_als(X, Y, Xs, Ys)
        else:
            self._fit_adam(Xs, Ys)
        return self

    # ------------------------------------------------------------------ als
    def _fit_als(self, X: torch.Tensor, Y: torch.Tensor, Xs: torch.Tensor, Ys: torch.Tensor) -> None:
        n, C, H, W = X.shape
        N = Y.shape[1]
        ratios = [float(r) for r in ([self.laplace_ratio] if isinstance(self.laplace_ratio, (int, float))
                                      else self.laplace_ratio)]
        fit_idx, val_idx = inner_split(n, self.val_fraction, self.seed, X.device)
        honest = len(val_idx) > 0
        warm_idx = fit_idx if honest else torch.arange(n, device=X.device)
        # warm start: plain ridge (spatial, L2 only, alpha by LOO) -> rank-1 per neuroid,
        # fitted on the stimuli of the first (selection) stage only
        ridge = SpatialReadout(solver="exact", laplace_ratios=(0.0,), neuroid_batch=self.neuroid_batch,
                               dtype=self.dtype).fit(X[warm_idx], Y[warm_idx])
        Z = Xs.reshape(n, C, H * W)
        V = evals = Zv = None
        if any(r > 0 for r in ratios):
            evals, V = penalty_eigh(H, W, X.device, X.dtype)
            Zv = Z @ V          # features in the Laplacian eigenbasis, shared by all ratios
        alphas = self._alpha_grid().to(X.device)

        def run(rows: torch.Tensor, cols: torch.Tensor, mask0: torch.Tensor, ratio: float):
            """ALS on stimuli ``rows`` (recentred there) for neuroids ``cols``; pixel-basis mask."""
            Zr = Z[rows] if ratio == 0 else Zv[rows]
            Yr = Ys[rows][:, cols]
            scales = (1.0 + ratio * evals).rsqrt() if ratio > 0 else None
            mask0 = mask0 if ratio == 0 else mask0 @ V
            mask, feat, loo, chosen = als_fit(Zr - Zr.mean(0), Yr - Yr.mean(0), mask0, mask0.new_zeros(
                mask0.shape[0], C), alphas, self.n_iter, scales)
            return (mask if ratio == 0 else mask @ V.T), feat, loo, chosen

        self.mask_ = torch.empty(N, H * W, dtype=X.dtype, device=X.device)
        self.feature_ = torch.empty(N, C, dtype=X.dtype, device=X.device)
        self.val_score_ = torch.empty(N, dtype=X.dtype, device=X.device)
        self.alpha_mask_ = torch.empty(N, dtype=X.dtype, device=X.device)
        self.alpha_feature_ = torch.empty(N, dtype=X.dtype, device=X.device)
        self.laplace_ratio_ = torch.empty(N, dtype=X.dtype, device=X.device)
        Zfit_mean = Z[fit_idx].mean(0)
        for start in range(0, N, self.neuroid_batch):
            cols = torch.arange(start, min(N, start + self.neuroid_batch), device=X.device)
            kern = ridge.kernel(slice(start, start + len(cols))).to(X.dtype).reshape(-1, C, H * W)
            mask0, _ = rank1_init(kern)
            # stage 1: every ratio on the inner-fit stimuli, scored where it was not fitted
            scores, fits = [], []
            for ratio in ratios:
                mask, feat, loo, chosen = run(warm_idx, cols, mask0, ratio)
                if honest:
                    Yfit_mean = Ys[fit_idx][:, cols].mean(0)
                    pred = torch.einsum("nck,bk,bc->nb", Z[val_idx] - Zfit_mean, mask, feat) + Yfit_mean
                    loo = r2_columns(Ys[val_idx][:, cols], pred)
                scores.append(loo)
                fits.append((mask, feat, chosen))
            score = torch.stack(scores)                                   # (R, B)
            best = score.argmax(0)
            self.val_score_[cols] = score.gather(0, best[None]).squeeze(0)
            # stage 2: refit each neuroid's chosen ratio on all training stimuli
            for r, ratio in enumerate(ratios):
                sel = (best == r).nonzero().squeeze(1)
                if len(sel) == 0:
                    continue
                if honest:
                    mask, feat, _, chosen = run(torch.arange(n, device=X.device), cols[sel], fits[r][0][sel], ratio)
                else:      # stage 1 already used every stimulus
                    mask, feat = fits[r][0][sel], fits[r][1][sel]
                    chosen = {k: v[sel] for k, v in fits[r][2].items()}
                self.mask_[cols[sel]] = mask
                self.feature_[cols[sel]] = feat
                self.alpha_mask_[cols[sel]] = chosen["alpha_mask"]
                self.alpha_feature_[cols[sel]] = chosen["alpha_feature"]
                self.laplace_ratio_[cols[sel]] = ratio
        self.intercept_ = torch.zeros(N, dtype=X.dtype, device=X.device)

    # ------------------------------------------------------------------ adam
    def _fit_adam(self, Xs: torch.Tensor, Ys: torch.Tensor) -> None:
        n, C, H, W = Xs.shape
        N = Ys.shape[1]
        self.grid_ = penalty_grid(l1_mask=self.l1_mask, l1_feature=self.l1_feature, l2=self.l2,
                                  laplace=self.laplace)
        G = len(self.grid_)
        weights = {k: torch.tensor([g[k] for g in self.grid_], dtype=Xs.dtype, device=Xs.device)
                   for k in self.grid_[0]}
        fit_idx, val_idx = inner_split(n, self.val_fraction, self.seed, Xs.device)
        Xf = Xs.reshape(n, C, H * W)
        gen = torch.Generator().manual_seed(self.seed)
        self.mask_ = torch.empty(N, H * W, dtype=Xs.dtype, device=Xs.device)
        self.feature_ = torch.empty(N, C, dtype=Xs.dtype, device=Xs.device)
        self.intercept_ = torch.empty(N, dtype=Xs.dtype, device=Xs.device)
        self.val_score_ = torch.empty(N, dtype=Xs.dtype, device=Xs.device)
        self.chosen_ = torch.empty(N, dtype=torch.long, device=Xs.device)
        self.n_iter_ = 0
        for start in range(0, N, self.neuroid_batch):
            cols = slice(start, min(N, start + self.neuroid_batch))
            nb = cols.stop - cols.start
            lam = {k: v.repeat_interleave(nb) for k, v in weights.items()}
            Yb = Ys[:, cols].repeat(1, G)

            def forward(p: dict[str, torch.Tensor], Xb: torch.Tensor) -> torch.Tensor:
                return torch.einsum("nck,bk,bc->nb", Xb, p["mask"], p["feature"]) + p["b"]

            def penalty(p: dict[str, torch.Tensor], lam: dict[str, torch.Tensor] = lam) -> torch.Tensor:
                m, w = p["mask"], p["feature"]
                out = lam["l1_mask"] * m.abs().sum(1) + lam["l1_feature"] * w.abs().sum(1)
                out = out + lam["l2"] * (m.pow(2).sum(1) + w.pow(2).sum(1))
                if bool((lam["laplace"] != 0).any()):
                    out = out + lam["laplace"] * laplacian_penalty(m.view(-1, H, W))
                return out

            # Klindt et al. initialise masks small and positive; features small and random
            mask0 = torch.rand(G * nb, H * W, generator=gen, dtype=Xs.dtype) / (H * W)
            feat0 = torch.randn(G * nb, C, generator=gen, dtype=Xs.dtype) / math.sqrt(C)
            params = {"mask": mask0.to(Xs.device), "feature": feat0.to(Xs.device),
                      "b": torch.zeros(G * nb, dtype=Xs.dtype, device=Xs.device)}
            res = adam_fit(params, forward, penalty, Xf[fit_idx], Yb[fit_idx], Xf[val_idx],
                           Yb[val_idx], lr=self.lr, max_iter=self.max_iter, patience=self.patience)
            self.n_iter_ = max(self.n_iter_, res.n_iter)
            score = res.val_r2.view(G, nb)
            best = score.argmax(0)
            pick = best * nb + torch.arange(nb, device=Xs.device)
            self.mask_[cols] = res.params["mask"][pick]
            self.feature_[cols] = res.params["feature"][pick]
            self.intercept_[cols] = res.params["b"][pick]
            self.val_score_[cols] = score.gather(0, best[None]).squeeze(0)
            self.chosen_[cols] = best

    # ------------------------------------------------------------------ API
    def predict(self, X: torch.Tensor) -> torch.Tensor:
        """``(m, C, H, W) -> (m, N)``."""
        m = X.shape[0]
        Xs = self.scaler_.x(X.to(self.mask_.dtype)).reshape(m, self.map_shape_[0], -1)
        out = torch.empty(m, self.mask_.shape[0], dtype=self.mask_.dtype, device=X.device)
        for start in range(0, self.mask_.shape[0], self.neuroid_batch):
            cols = slice(start, start + self.neuroid_batch)
            out[:, cols] = torch.einsum("nck,bk,bc->nb", Xs, self.mask_[cols], self.feature_[cols])
        return self.scaler_.unscale_y(out + self.intercept_)

    def masks(self) -> torch.Tensor:
        """``(N, H, W)`` spatial masks (unit norm for ``als``)."""
        return self.mask_.reshape(-1, *self.map_shape_[1:])

    def chosen_params(self) -> dict[str, torch.Tensor]:
        if self.solver == "als":
            return {"alpha_mask": self.alpha_mask_, "alpha_feature": self.alpha_feature_,
                    "laplace_ratio": self.laplace_ratio_}
        return {k: torch.tensor([g[k] for g in self.grid_], device=self.chosen_.device)[self.chosen_]
                for k in self.grid_[0]}
