"""``spatial``: eq. 2 of Cocjin, Sanchez & Iglesias with the Laplacian penalty of eq. 5.

    y_l = sum_{i,j,k} K_ijkl r_ijk + b_l                                  (eq. 2)

The kernel ``K`` is ``(H, W, D, N)``; stored here per neuroid as ``(C=D, H, W)``.
Loss per neuroid l (eq. 6-7) in standardised units (features centred and divided by one
RMS scalar per layer on the training fold, see :mod:`brainbench.readouts.solvers.scaling`):

    J_l = sum_b (y_bl - yhat_bl)^2 + l1 |K_l|_1 + l2 |K_l|^2 + laplace * sum_k |Lap K_l[k]|^2

summed over neuroids; the penalty weights are per neuroid and independent of N, and as
the data term sums over stimuli a fixed weight regularises relatively less as the
number of training stimuli n grows (per-stimulus strength ``lam / n``). For ``adam`` the
responses are also z-scored per neuroid (only L1 depends on their scale); ridge-type
solutions are linear in y so ``exact`` needs no response scaling.

Solvers:

* ``exact`` (L2 + Laplacian, no L1): a generalised ridge. The penalty
  ``w^T (l2 I + laplace P) w`` is block diagonal over channels with one ``(HW, HW)``
  matrix ``P = Lap^T Lap`` (:mod:`brainbench.readouts.laplacian`, zero-padded 'same'
  boundary). With ``P = V diag(e) V^T`` (one eigendecomposition per map shape) and
  ``Z_c = X_c V`` the problem is plain ridge in features ``Z_c diag(l2 + laplace e)^{-1/2}``,
  whose stimulus x stimulus Gram matrix is
  ``K = sum_c Z_c diag(1 / (1 + rho e)) Z_c^T`` with ridge penalty ``l2`` and ``rho =
  laplace / l2`` (``K = sum_c Z_c diag(1/e) Z_c^T`` with penalty ``laplace`` when l2 = 0).
  The data-fit term stays in that dual form: no ``(C*H*W) x N`` weight matrix is built
  (:meth:`SpatialReadout.kernel` builds it in neuroid batches only when asked). The
  Gram matrices of every stimulus are computed once and serve every split in
  :meth:`SpatialReadout.cross_validate`. Unfixed hyperparameters (``l2``/``laplace``
  None) are chosen per neuroid by exact leave-one-out on the training fold over
  ``laplace_ratios`` (rho) x ``alphas`` (l2, relative to the mean eigenvalue of the
  centred training Gram matrix), with the core's :func:`fit_dual_ridge_loo`.
* ``adam``: the paper's method (any of L1/L2/Laplacian), as in
  :mod:`brainbench.readouts.sgd`. With ``l1 > 0`` the closed form does not apply and the
  readout uses ``adam`` whatever ``solver`` says (``self.solver`` records it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from brainbench.errors import BrainbenchError
from brainbench.readouts.base import CVResult, Readout, Split, as_tensor, pool_predictions
from brainbench.readouts.laplacian import penalty_eigh
from brainbench.readouts.ridge_solvers import (
    DualRidgeFit,
    alpha_grid,
    center_train,
    fit_dual_ridge_loo,
    predict_dual_ridge,
)
from brainbench.readouts.sgd import Grid, fit_linear_adam, penalty_grid
from brainbench.readouts.solvers.scaling import Standardizer

SOLVERS = ("exact", "adam")


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


def family_grams(X: torch.Tensor, families: list[Family], channel_batch: int = 16,
                 keep_projection: bool = False) -> tuple[list[torch.Tensor], torch.Tensor | None, bool]:
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
    evals, V = penalty_eigh(H, W, X.device, X.dtype) if project else (None, None)
    weights = [f.weights(evals) if project else None for f in families]
    grams = [torch.zeros(n, n, dtype=torch.float64, device=X.device) for _ in families]
    Z_all = torch.empty(n, C, H * W, dtype=X.dtype, device=X.device) if keep_projection else None
    for c0 in range(0, C, channel_batch):
        c1 = min(C, c0 + channel_batch)
        block = X[:, c0:c1].reshape(n, c1 - c0, H * W)
        Z = block @ V if project else block
        if Z_all is not None:
            Z_all[:, c0:c1] = Z
        flat = Z.reshape(n, -1)
        for K, d in zip(grams, weights, strict=True):
            # V is orthonormal, so the identity family's Gram is the same in either basis
            Zw = flat if d is None else (Z * d).reshape(n, -1)
            K += (Zw @ flat.T).double()
    return grams, Z_all, project


def _feature_scale2(K_plain_train: torch.Tensor, n_features: int) -> torch.Tensor:
    """Squared RMS of the centred training features, from their Gram matrix."""
    n = K_plain_train.shape[0]
    return (torch.diagonal(center_train(K_plain_train)).sum() / (n * n_features)).clamp_min(1e-30)


class SpatialReadout(Readout):
    """Eq. 2 readout with L2 + Laplacian (``exact`` or ``adam``) and optional L1 (``adam``).

    Args:
        solver: ``"exact"`` (closed-form generalised ridge, dual form) or ``"adam"``.
        l2, laplace: penalty weights (standardised units). ``exact``: None for both picks
            them per neuroid by LOO over ``laplace_ratios`` x ``alphas``; floats or lists
            give an absolute grid (searched per neuroid by LOO). ``adam``: None means 0
            for ``l2`` and 1 for ``laplace``; lists are searched on the inner split.
        l1: L1 weight (forces ``adam``); a list is searched on the inner split.
        laplace_ratios: rho = laplace / l2 candidates of the automatic ``exact`` grid.
        alphas: l2 candidates of the automatic grid, ``{start, stop, num}`` (log10) or a
            list, multiplied by the mean eigenvalue of the centred training Gram matrix
            (None: ``10**linspace(-3, 4, 15)``).
        lr, max_iter, patience, val_fraction: ``adam`` settings (see ``simple-sgd``).
        neuroid_batch: neuroids per Adam run / per kernel reconstruction.
        channel_batch: channels projected at once by ``exact`` (bounds memory).
        seed: seeds the inner split of ``adam``.
    """

    needs_spatial = True
    uses_gram = False

    def __init__(self, solver: str = "exact", l2: Grid | None = None, laplace: Grid | None = None,
                 l1: Grid = 0.0, laplace_ratios: Sequence[float] = (0.0, 1.0, 10.0, 100.0),
                 alphas: Sequence[float] | Mapping[str, float] | None = None,
                 lr: float | None = None, max_iter: int = 1000, patience: int = 50,
                 val_fraction: float = 0.15, neuroid_batch: int = 256, channel_batch: int = 16,
                 seed: int = 0, dtype: str = "float32") -> None:
        if solver not in SOLVERS:
            raise BrainbenchError(f"spatial solver must be one of {SOLVERS}, not {solver!r}.")
        self.l1, self.l2, self.laplace = l1, l2, laplace
        has_l1 = any(float(v) != 0 for v in ([l1] if isinstance(l1, (int, float)) else l1))
        # L1 has no closed form: fall back to the paper's optimiser and record it.
        self.solver = "adam" if has_l1 else solver
        self.laplace_ratios = [float(r) for r in laplace_ratios]
        if alphas is None:
            alphas = {"start": -3.0, "stop": 4.0, "num": 15}
        self.alphas = dict(alphas) if isinstance(alphas, Mapping) else [float(a) for a in alphas]
        self.lr, self.max_iter, self.patience = lr, max_iter, patience
        self.val_fraction = val_fraction
        self.neuroid_batch, self.channel_batch = neuroid_batch, channel_batch
        self.seed = seed
        self.dtype = dtype

    # ------------------------------------------------------------------ exact
    def _families(self) -> list[Family]:
        if self.l2 is None and self.laplace is None:
            if isinstance(self.alphas, dict):
                rel = alpha_grid(float(self.alphas["start"]), float(self.alphas["stop"]), int(self.alphas["num"]))
            else:
                rel = torch.tensor(self.alphas, dtype=torch.float64)
            return [Family(rho, rel, True) for rho in self.laplace_ratios]
        by_rho: dict[float, list[float]] = {}
        for g in penalty_grid(l2=self.l2 or 0.0, laplace=self.laplace or 0.0):
            if g["l2"] < 0 or g["laplace"] < 0 or g["l2"] + g["laplace"] == 0:
                raise BrainbenchError("spatial exact needs l2 > 0 or laplace > 0 (and neither negative); "
                                      "set one, or leave both unset to search them by leave-one-out.")
            if g["l2"] > 0:
                by_rho.setdefault(g["laplace"] / g["l2"], []).append(g["l2"])
            else:
                by_rho.setdefault(math.inf, []).append(g["laplace"])
        return [Family(rho, torch.tensor(a, dtype=torch.float64), False) for rho, a in by_rho.items()]

    def _solve(self, grams: list[torch.Tensor], K_plain: torch.Tensor, train: torch.Tensor,
               Y_train: torch.Tensor, n_features: int) -> dict:
        """Fit every family on ``train`` positions of the Gram matrices, pick per neuroid."""
        scale2 = _feature_scale2(K_plain[train][:, train], n_features)
        fits: list[DualRidgeFit] = []
        for fam, K in zip(self.families_, grams, strict=False):
            K_tt = K[train][:, train] / scale2
            alphas = fam.alphas.to(K.device)
            if fam.relative:
                alphas = alphas * torch.diagonal(center_train(K_tt)).mean().clamp_min(1e-12)
            fits.append(fit_dual_ridge_loo(K_tt, Y_train, alphas, self.neuroid_batch))
        loo = torch.stack([f.loo_r2 for f in fits])          # (n_fam, N)
        family = loo.argmax(0)
        l2 = torch.zeros_like(fits[0].alpha)
        lap = torch.zeros_like(l2)
        for i, (fam, fit) in enumerate(zip(self.families_, fits, strict=False)):
            a, b = fam.params(fit.alpha)
            l2 = torch.where(family == i, a, l2)
            lap = torch.where(family == i, b, lap)
        return {"fits": fits, "family": family, "scale2": scale2, "val": loo.gather(0, family[None]).squeeze(0),
                "l2": l2, "laplace": lap}

    def _predict_exact(self, state: dict, grams_test_train: list[torch.Tensor],
                       grams_train: list[torch.Tensor]) -> torch.Tensor:
        out = None
        for i, (fit, K_mt, K_tt) in enumerate(zip(state["fits"], grams_test_train, grams_train, strict=False)):
            pred = predict_dual_ridge(fit, K_mt / state["scale2"], K_tt / state["scale2"])
            out = pred if out is None else torch.where(state["family"] == i, pred, out)
        return out

    # ------------------------------------------------------------------ API
    def fit(self, X: torch.Tensor, Y: torch.Tensor) -> SpatialReadout:
        """X ``(n, C, H, W)``, Y ``(n, N)``."""
        if X.dim() != 4:
            raise BrainbenchError(f"the spatial readout needs (n, C, H, W) features, got shape {tuple(X.shape)}.")
        self.map_shape_ = tuple(X.shape[1:])
        if self.solver == "adam":
            return self._fit_adam(X, Y)
        X = X.to(getattr(torch, self.dtype))
        Y = as_tensor(Y, X.device, torch.float64)
        self.families_ = self._families()
        self.x_mean_ = X.mean(0, keepdim=True)
        Xc = X - self.x_mean_
        grams, Z, self.projected_ = family_grams(
            Xc, self.families_ + [Family(0.0, torch.ones(1), False)], self.channel_batch,
            keep_projection=True)
        K_plain = grams.pop()
        train = torch.arange(X.shape[0], device=X.device)
        self.state_ = self._solve(grams, K_plain, train, Y, int(X[0].numel()))
        self.Z_train_, self.grams_train_ = Z, grams
        self.val_score_ = self.state_["val"]
        return self

    def _test_grams(self, X: torch.Tensor) -> list[torch.Tensor]:
        n_test = X.shape[0]
        C, H, W = self.map_shape_
        evals, V = (penalty_eigh(H, W, X.device, self.Z_train_.dtype) if self.projected_
                    else (None, None))
        Xc = (X.to(self.Z_train_.dtype) - self.x_mean_).reshape(n_test, C, H * W)
        out = [torch.zeros(n_test, self.Z_train_.shape[0], dtype=torch.float64, device=X.device)
               for _ in self.families_]
        for c0 in range(0, C, self.channel_batch):
            c1 = min(C, c0 + self.channel_batch)
            Zt = Xc[:, c0:c1] @ V if self.projected_ else Xc[:, c0:c1]
            Ztr = self.Z_train_[:, c0:c1].reshape(self.Z_train_.shape[0], -1)
            for K, fam in zip(out, self.families_, strict=False):
                d = fam.weights(evals) if self.projected_ else None
                Zw = Zt if d is None else Zt * d
                K += (Zw.reshape(n_test, -1) @ Ztr.T).double()
        return out

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        """``(m, C, H, W) -> (m, N)``."""
        if self.solver == "adam":
            Z = self.scaler_.x(X.reshape(X.shape[0], -1).to(self.coef_.dtype))
            return self.scaler_.unscale_y(Z @ self.coef_.T + self.intercept_)
        return self._predict_exact(self.state_, self._test_grams(X), self.grams_train_)

    def chosen_params(self) -> dict[str, torch.Tensor]:
        if self.solver == "adam":
            return {k: torch.tensor([g[k] for g in self.grid_], device=self.chosen_.device)[self.chosen_]
                    for k in ("l1", "l2", "laplace")}
        return {"l2": self.state_["l2"], "laplace": self.state_["laplace"]}

    def kernel(self, neuroids: slice | None = None) -> torch.Tensor:
        """Weights ``(N', C, H, W)`` on standardised features (centred, divided by the RMS).

        For ``exact`` they are rebuilt from the dual coefficients in neuroid batches;
        pass ``neuroids`` to bound memory.
        """
        C, H, W = self.map_shape_
        if self.solver == "adam":
            # back to response units (adam fits z-scored responses)
            coef = self.coef_ * self.scaler_.y_std[:, None]
            coef = coef if neuroids is None else coef[neuroids]
            return coef.reshape(-1, C, H, W)
        evals, V = (penalty_eigh(H, W, self.Z_train_.device, torch.float64) if self.projected_
                    else (None, None))
        family = self.state_["family"]
        idx = torch.arange(len(family), device=family.device)
        if neuroids is not None:
            idx = idx[neuroids]
        out = torch.zeros(len(idx), C, H * W, dtype=torch.float64, device=family.device)
        Zc = self.Z_train_.double()
        Zc = Zc - Zc.mean(0, keepdim=True)
        scale = self.state_["scale2"].sqrt()
        for i, (fam, fit) in enumerate(zip(self.families_, self.state_["fits"], strict=False)):
            sel = (family[idx] == i).nonzero().squeeze(1)
            if len(sel) == 0:
                continue
            d = fam.weights(evals) if self.projected_ else None
            u = torch.einsum("nck,nl->lck", Zc, fit.coef[:, idx[sel]])      # (l, C, HW)
            if d is not None:
                u = u * d
            out[sel] = (u @ V.T if self.projected_ else u) / scale
        return out.reshape(len(idx), C, H, W)

    def cross_validate(self, X: torch.Tensor, Y: torch.Tensor, splits: list[Split]) -> CVResult:
        """``exact``: one set of family Gram matrices over all stimuli serves every split."""
        if self.solver == "adam":
            return super().cross_validate(X, Y, splits)
        if X.dim() != 4:
            raise BrainbenchError(f"the spatial readout needs (n, C, H, W) features, got shape {tuple(X.shape)}.")
        X = X.to(getattr(torch, self.dtype))
        Y = as_tensor(Y, X.device, torch.float64)
        self.families_ = self._families()
        grams, _, _ = family_grams(X - X.mean(0, keepdim=True),
                                   self.families_ + [Family(0.0, torch.ones(1), False)],
                                   self.channel_batch)
        K_plain = grams.pop()
        n, N = Y.shape
        split_predictions = np.full((len(splits), n, N), np.nan)
        val = np.empty((len(splits), N))
        params = {"l2": np.empty((len(splits), N)), "laplace": np.empty((len(splits), N))}
        for k, split in enumerate(splits):
            train = torch.as_tensor(split.train, device=X.device)
            test = torch.as_tensor(split.test, device=X.device)
            state = self._solve(grams, K_plain, train, Y[train], int(X[0].numel()))
            pred = self._predict_exact(state, [K[test][:, train] for K in grams],
                                       [K[train][:, train] for K in grams])
            split_predictions[k, split.test] = pred.cpu().numpy()
            val[k] = state["val"].cpu().numpy()
            for name in params:
                params[name][k] = state[name].cpu().numpy()
        return CVResult(pool_predictions(split_predictions), split_predictions, val, params,
                        info={"solver": self.solver})

    # ------------------------------------------------------------------ adam
    def _fit_adam(self, X: torch.Tensor, Y: torch.Tensor) -> SpatialReadout:
        dtype = getattr(torch, self.dtype)
        Xf = X.reshape(X.shape[0], -1).to(dtype)
        Y = as_tensor(Y, X.device, dtype)
        self.scaler_ = Standardizer.fit(Xf, Y)
        laplace = 1.0 if self.laplace is None else self.laplace
        self.grid_ = penalty_grid(l1=self.l1, l2=self.l2 or 0.0, laplace=laplace)
        W, b, val, chosen, iters = fit_linear_adam(
            self.scaler_.x(Xf), self.scaler_.y(Y), self.grid_, map_shape=self.map_shape_, lr=self.lr,
            max_iter=self.max_iter, patience=self.patience, val_fraction=self.val_fraction,
            neuroid_batch=self.neuroid_batch, seed=self.seed)
        self.coef_, self.intercept_, self.val_score_, self.chosen_ = W, b, val, chosen
        self.n_iter_ = iters
        return self
