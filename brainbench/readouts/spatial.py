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
  matrix ``P = Lap^T Lap`` (:mod:`brainbench.readouts.solvers.laplacian`, zero-padded 'same'
  boundary). With ``P = V diag(e) V^T`` (one eigendecomposition per map shape) and
  ``Z_c = X_c V`` the problem is plain ridge in features ``Z_c diag(l2 + laplace e)^{-1/2}``,
  whose stimulus x stimulus Gram matrix is
  ``K = sum_c Z_c diag(1 / (1 + rho e)) Z_c^T`` with ridge penalty ``l2`` and ``rho =
  laplace / l2`` (``K = sum_c Z_c diag(1/e) Z_c^T`` with penalty ``laplace`` when l2 = 0).
  The data-fit term stays in that dual form: no ``(C*H*W) x N`` weight matrix is built
  (:meth:`SpatialReadout.kernel` builds it in neuroid batches only when asked). The
  Gram matrices of every stimulus are streamed from row blocks of the feature source
  once (:meth:`SpatialReadout.prepare`) and serve every split. The maths is in
  :mod:`brainbench.readouts.solvers.generalized`. Unfixed hyperparameters (``l2``/``laplace``
  None) are chosen per neuroid by exact leave-one-out on the training fold over
  ``laplace_ratios`` (rho) x ``alphas`` (l2, relative to the mean eigenvalue of the
  centred training Gram matrix), with the core's :func:`fit_dual_ridge_loo`.
* ``adam``: the paper's method (any of L1/L2/Laplacian), as in
  :mod:`brainbench.readouts.sgd`. With ``l1 > 0`` the closed form does not apply and
  ``fit`` runs ``adam`` whatever ``solver`` says; ``solver_`` records what ran
  (``solver`` itself is kept as given).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from brainbench.errors import BrainbenchError
from brainbench.readouts.base import Readout, as_tensor, grid_shape
from brainbench.readouts.features import FeatureSource
from brainbench.readouts.solvers.adam import fit_linear_adam
from brainbench.readouts.solvers.common import Grid, as_list, choose_solver, parse_alphas, penalty_grid
from brainbench.readouts.solvers.generalized import (
    Family,
    family_grams,
    family_grams_streamed,
    predict_families,
    solve_families,
    spectral_weights,
)
from brainbench.readouts.solvers.scaling import Standardizer

DEFAULT_ALPHAS = {"start": -3.0, "stop": 4.0, "num": 15}


@dataclass
class SpatialGrams:
    """What ``exact`` cross-validation needs of a layer: Gram matrices of all stimuli.

    Attributes:
        grams: one ``(n, n)`` float64 Gram per family of :meth:`SpatialReadout.families`.
        K_plain: ``(n, n)`` Gram of the unsmoothed features (for the feature scale).
        map_shape: ``(C, H, W)``.
    """

    grams: list[torch.Tensor]
    K_plain: torch.Tensor
    map_shape: tuple[int, int, int]


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

    SOLVERS = {"exact": solve_families, "adam": fit_linear_adam}
    name = "spatial"
    spatial = True

    def __init__(
        self,
        solver: str = "exact",
        l2: Grid | None = None,
        laplace: Grid | None = None,
        l1: Grid = 0.0,
        laplace_ratios: Sequence[float] = (0.0, 1.0, 10.0, 100.0),
        alphas: Sequence[float] | Mapping[str, float] | None = None,
        lr: float | None = None,
        max_iter: int = 1000,
        patience: int = 50,
        val_fraction: float = 0.15,
        neuroid_batch: int = 256,
        channel_batch: int = 16,
        seed: int = 0,
        dtype: str = "float32",
    ) -> None:
        self.solver = solver
        self.l1, self.l2, self.laplace = l1, l2, laplace
        self.laplace_ratios = laplace_ratios
        self.alphas = alphas
        self.lr, self.max_iter, self.patience = lr, max_iter, patience
        self.val_fraction = val_fraction
        self.neuroid_batch, self.channel_batch = neuroid_batch, channel_batch
        self.seed = seed
        self.dtype = dtype

    def resolve_solver(self) -> str:
        """``solver``, or ``"adam"`` when an L1 weight is set (it has no closed form)."""
        choose_solver(self.SOLVERS, self.solver, self.name)
        return "adam" if any(v != 0 for v in as_list(self.l1)) else self.solver

    # ------------------------------------------------------------------ exact
    def families(self) -> list[Family]:
        """The smoothing families ``exact`` searches (validates ``l2`` / ``laplace``)."""
        if self.l2 is None and self.laplace is None:
            rel = parse_alphas(DEFAULT_ALPHAS if self.alphas is None else self.alphas)
            return [Family(float(rho), rel, True) for rho in self.laplace_ratios]
        by_rho: dict[float, list[float]] = {}
        for g in penalty_grid(l2=self.l2 or 0.0, laplace=self.laplace or 0.0):
            if g["l2"] < 0 or g["laplace"] < 0 or g["l2"] + g["laplace"] == 0:
                raise BrainbenchError(
                    "spatial exact needs l2 > 0 or laplace > 0 (and neither negative); "
                    "set one, or leave both unset to search them by leave-one-out."
                )
            if g["l2"] > 0:
                by_rho.setdefault(g["laplace"] / g["l2"], []).append(g["l2"])
            else:
                by_rho.setdefault(math.inf, []).append(g["laplace"])
        return [Family(rho, torch.tensor(a, dtype=torch.float64), False) for rho, a in by_rho.items()]

    def _responses(self, Y: torch.Tensor, device: torch.device | str) -> torch.Tensor:
        # responses at the working precision, solved in float64
        return as_tensor(Y, device, self.working_dtype).to(torch.float64)

    @staticmethod
    def _map_shape(shape: tuple[int, ...]) -> tuple[int, int, int]:
        """``(C, H, W)`` of ``(n, C, H, W)`` features (else one sentence: no spatial grid)."""
        return grid_shape(shape, "spatial")

    # ------------------------------------------------------------------ cross-validation hooks
    def prepare(self, features: FeatureSource, device: torch.device | str) -> SpatialGrams | torch.Tensor:
        """``exact``: :class:`SpatialGrams` streamed from row blocks; ``adam``: the whole tensor."""
        map_shape = self._map_shape(tuple(features.shape))
        if self.resolve_solver() == "adam":
            return super().prepare(features, device)
        grams = family_grams_streamed(
            features,
            self.families() + [Family(0.0, torch.ones(1), False)],
            device,
            self.working_dtype,
            self.channel_batch,
        )
        K_plain = grams.pop()
        return SpatialGrams(grams, K_plain, map_shape)

    def fit_prepared(
        self, prepared: SpatialGrams | torch.Tensor, Y: torch.Tensor, rows: torch.Tensor
    ) -> SpatialReadout:
        """Fit on the stimuli ``rows``; ``exact`` reads only the ``rows`` of the Gram matrices."""
        if not isinstance(prepared, SpatialGrams):
            return self.fit(prepared[rows], Y[rows])  # the base's default, typed as this class
        self.solver_ = self.resolve_solver()
        self.families_ = self.families()
        self.map_shape_ = prepared.map_shape
        self.rows_ = rows
        Y_train = self._responses(Y, prepared.K_plain.device)[rows]
        self.state_ = solve_families(
            self.families_,
            prepared.grams,
            prepared.K_plain,
            rows,
            Y_train,
            math.prod(prepared.map_shape),
            self.neuroid_batch,
        )
        self.val_score_ = self.state_["val"]
        return self

    def predict_prepared(self, prepared: SpatialGrams | torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """``(len(rows), N)`` predictions for the stimuli ``rows``."""
        if not isinstance(prepared, SpatialGrams):
            return super().predict_prepared(prepared, rows)
        return predict_families(
            self.state_,
            [K[rows][:, self.rows_] for K in prepared.grams],
            [K[self.rows_][:, self.rows_] for K in prepared.grams],
        )

    # ------------------------------------------------------------------ API
    def fit(self, X: torch.Tensor, Y: torch.Tensor) -> SpatialReadout:
        """X ``(n, C, H, W)``, Y ``(n, N)``."""
        map_shape = self._map_shape(tuple(X.shape))
        self.solver_ = self.resolve_solver()
        self.map_shape_ = map_shape
        if self.solver_ == "adam":
            return self._fit_adam(X, Y)
        X = X.to(self.working_dtype)
        Y = self._responses(Y, X.device)
        self.families_ = self.families()
        self.x_mean_ = X.mean(0, keepdim=True)
        grams, Z, self.projected_ = family_grams(
            X - self.x_mean_,
            self.families_ + [Family(0.0, torch.ones(1), False)],
            self.channel_batch,
            keep_projection=True,
        )
        K_plain = grams.pop()
        train = torch.arange(X.shape[0], device=X.device)
        self.state_ = solve_families(self.families_, grams, K_plain, train, Y, int(X[0].numel()), self.neuroid_batch)
        self.Z_train_, self.grams_train_ = Z, grams
        self.val_score_ = self.state_["val"]
        return self

    def _test_grams(self, X: torch.Tensor) -> list[torch.Tensor]:
        n_test = X.shape[0]
        C, H, W = self.map_shape_
        V, weights = spectral_weights(self.families_, self.projected_, H, W, X.device, self.Z_train_.dtype)
        Xc = (X.to(self.Z_train_.dtype) - self.x_mean_).reshape(n_test, C, H * W)
        out = [
            torch.zeros(n_test, self.Z_train_.shape[0], dtype=torch.float64, device=X.device) for _ in self.families_
        ]
        for c0 in range(0, C, self.channel_batch):
            c1 = min(C, c0 + self.channel_batch)
            Zt = Xc[:, c0:c1] if V is None else Xc[:, c0:c1] @ V
            Ztr = self.Z_train_[:, c0:c1].reshape(self.Z_train_.shape[0], -1)
            for K, d in zip(out, weights, strict=False):
                Zw = Zt if d is None else Zt * d
                K += (Zw.reshape(n_test, -1) @ Ztr.T).double()
        return out

    def _need_features(self) -> None:
        if not hasattr(self, "Z_train_"):
            raise BrainbenchError(
                "this spatial readout was fitted on Gram matrices; "
                "refit it with fit(X, Y) to predict new features or read its kernel."
            )

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        """``(m, C, H, W) -> (m, N)``."""
        if self.solver_ == "adam":
            Z = self.scaler_.x(X.reshape(X.shape[0], -1).to(self.coef_.dtype))
            return self.scaler_.unscale_y(Z @ self.coef_.T + self.intercept_)
        self._need_features()
        return predict_families(self.state_, self._test_grams(X), self.grams_train_)

    def chosen_params(self) -> dict[str, torch.Tensor]:
        if self.solver_ == "adam":
            return {
                k: torch.tensor([g[k] for g in self.grid_], device=self.chosen_.device)[self.chosen_]
                for k in ("l1", "l2", "laplace")
            }
        return {"l2": self.state_["l2"], "laplace": self.state_["laplace"]}

    def kernel(self, neuroids: slice | None = None) -> torch.Tensor:
        """Weights ``(N', C, H, W)`` on standardised features (centred, divided by the RMS).

        For ``exact`` they are rebuilt from the dual coefficients in neuroid batches;
        pass ``neuroids`` to bound memory.
        """
        C, H, W = self.map_shape_
        if self.solver_ == "adam":
            # back to response units (adam fits z-scored responses)
            coef = self.coef_ * self.scaler_.y_std[:, None]
            coef = coef if neuroids is None else coef[neuroids]
            return coef.reshape(-1, C, H, W)
        self._need_features()
        V, weights = spectral_weights(self.families_, self.projected_, H, W, self.Z_train_.device, torch.float64)
        family = self.state_["family"]
        idx = torch.arange(len(family), device=family.device)
        if neuroids is not None:
            idx = idx[neuroids]
        out = torch.zeros(len(idx), C, H * W, dtype=torch.float64, device=family.device)
        Zc = self.Z_train_.double()
        Zc = Zc - Zc.mean(0, keepdim=True)
        scale = self.state_["scale2"].sqrt()
        for i, (d, fit) in enumerate(zip(weights, self.state_["fits"], strict=False)):
            sel = (family[idx] == i).nonzero().squeeze(1)
            if len(sel) == 0:
                continue
            u = torch.einsum("nck,nl->lck", Zc, fit.coef[:, idx[sel]])  # (l, C, HW)
            if d is not None:
                u = u * d
            out[sel] = (u if V is None else u @ V.T) / scale
        return out.reshape(len(idx), C, H, W)

    # ------------------------------------------------------------------ adam
    def _fit_adam(self, X: torch.Tensor, Y: torch.Tensor) -> SpatialReadout:
        dtype = self.working_dtype
        Xf = X.reshape(X.shape[0], -1).to(dtype)
        Y = as_tensor(Y, X.device, dtype)
        self.scaler_ = Standardizer.fit(Xf, Y)
        laplace = 1.0 if self.laplace is None else self.laplace
        self.grid_ = penalty_grid(l1=self.l1, l2=self.l2 or 0.0, laplace=laplace)
        W, b, val, chosen, iters = fit_linear_adam(
            self.scaler_.x(Xf),
            self.scaler_.y(Y),
            self.grid_,
            map_shape=self.map_shape_,
            lr=self.lr,
            max_iter=self.max_iter,
            patience=self.patience,
            val_fraction=self.val_fraction,
            neuroid_batch=self.neuroid_batch,
            seed=self.seed,
        )
        self.coef_, self.intercept_, self.val_score_, self.chosen_ = W, b, val, chosen
        self.n_iter_ = iters
        return self
