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
  Each sweep is feature step then mask step; the half steps' penalties are searched by
  LOO in the first sweep and kept (batched Cholesky solves) afterwards, each neuroid
  keeps its best sweep on the inner holdout and the sweeps stop when none improves
  (:mod:`brainbench.readouts.solvers.als`).

  ``val_score_`` is an honest inner holdout score (``val_fraction`` of the training
  stimuli, seeded by ``seed``): ALS (warm start included) is run on the inner-fit part
  for every ``laplace_ratio``, each run is scored by R^2 on the inner-validation part,
  the ratio is chosen per neuroid there, and the chosen configuration is refitted on all
  training stimuli for ``refit_iter`` sweeps, warm-started from its inner-fit mask and
  penalties. The half steps' own LOO
  scores cannot serve: after the feature step has fitted the C weights on every
  stimulus, the mask step's LOO sees a design built with the left-out stimulus, which
  on V4 gave scores of 0.42-0.44 for held-out EVs of 0.06-0.16 and ranked the worse
  layer first. ``val_fraction = 0`` restores that (optimistic) LOO score and choice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from brainbench.errors import BrainbenchError
from brainbench.readouts.base import Readout, as_tensor
from brainbench.readouts.solvers.adam import fit_factored_adam
from brainbench.readouts.solvers.als import fit_factored_als
from brainbench.readouts.solvers.common import Grid, alpha_grid, as_list, parse_alphas, penalty_grid
from brainbench.readouts.solvers.scaling import Standardizer

WARM_START_ALPHAS = {"start": -3.0, "stop": 4.0, "num": 15}


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
        n_iter: most ``als`` sweeps on the inner-fit stimuli (fewer when the inner
            holdout stops improving).
        refit_iter: ``als`` sweeps of the refit on all training stimuli.
        lr, max_iter, patience: ``adam`` settings.
        val_fraction: inner validation fraction of the training stimuli (``adam``: early
            stopping and grid search; ``als``: ``val_score_``, early stopping and the
            ``laplace_ratio`` choice; 0 gives ``als`` the optimistic last-mask-step LOO).
        neuroid_batch: neuroids per batch (``als`` memory ~ batch * n * H*W floats).
        seed: seeds the ``adam`` initialisation and the inner split of both solvers.
        dtype: working precision.
    """

    SOLVERS = {"als": fit_factored_als, "adam": fit_factored_adam}
    name = "factored"
    spatial = True

    def __init__(
        self,
        solver: str = "als",
        l1_mask: Grid = 10.0,
        l1_feature: Grid = 10.0,
        l2: Grid = 0.0,
        laplace: Grid = 0.0,
        laplace_ratio: Grid = (0.0, 10.0),
        alphas: Sequence[float] | Mapping[str, float] | None = None,
        n_iter: int = 5,
        refit_iter: int = 1,
        lr: float = 1e-3,
        max_iter: int = 3000,
        patience: int = 300,
        val_fraction: float = 0.15,
        neuroid_batch: int = 64,
        seed: int = 0,
        dtype: str = "float32",
    ) -> None:
        self.solver = solver
        self.l1_mask, self.l1_feature, self.l2, self.laplace = l1_mask, l1_feature, l2, laplace
        self.laplace_ratio = laplace_ratio
        self.alphas = alphas
        self.n_iter = n_iter
        self.refit_iter = refit_iter
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
        return parse_alphas(self.alphas)

    def fit(self, X: torch.Tensor, Y: torch.Tensor) -> FactoredReadout:
        """X ``(n, C, H, W)``, Y ``(n, N)``."""
        if X.dim() != 4:
            raise BrainbenchError(f"the factored readout needs (n, C, H, W) features, got shape {tuple(X.shape)}.")
        solve = self.solver_function()
        self.solver_ = self.resolve_solver()
        X = X.to(self.working_dtype)
        Y = as_tensor(Y, X.device, self.working_dtype)
        self.map_shape_ = tuple(X.shape[1:])
        self.scaler_ = Standardizer.fit(X, Y)
        Xs, Ys = self.scaler_.x(X), self.scaler_.y(Y)
        if self.solver_ == "als":
            fit = solve(
                Xs,
                Ys,
                ratios=as_list(self.laplace_ratio),
                alphas=self._alpha_grid(),
                warm_alphas=parse_alphas(WARM_START_ALPHAS),
                n_iter=self.n_iter,
                refit_iter=self.refit_iter,
                val_fraction=self.val_fraction,
                neuroid_batch=self.neuroid_batch,
                seed=self.seed,
            )
            self.mask_, self.feature_, self.val_score_ = fit.mask, fit.feature, fit.val_score
            self.alpha_mask_, self.alpha_feature_ = fit.alpha_mask, fit.alpha_feature
            self.laplace_ratio_ = fit.laplace_ratio
            self.intercept_ = torch.zeros(Y.shape[1], dtype=X.dtype, device=X.device)
        else:
            self.grid_ = penalty_grid(
                l1_mask=self.l1_mask, l1_feature=self.l1_feature, l2=self.l2, laplace=self.laplace
            )
            res = solve(
                Xs,
                Ys,
                self.grid_,
                lr=self.lr,
                max_iter=self.max_iter,
                patience=self.patience,
                val_fraction=self.val_fraction,
                neuroid_batch=self.neuroid_batch,
                seed=self.seed,
            )
            self.mask_, self.feature_ = res.params["mask"], res.params["feature"]
            self.intercept_, self.val_score_, self.chosen_ = res.params["b"], res.val_r2, res.chosen
            self.n_iter_ = res.n_iter
        return self

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
        if self.solver_ == "als":
            return {
                "alpha_mask": self.alpha_mask_,
                "alpha_feature": self.alpha_feature_,
                "laplace_ratio": self.laplace_ratio_,
            }
        return {
            k: torch.tensor([g[k] for g in self.grid_], device=self.chosen_.device)[self.chosen_] for k in self.grid_[0]
        }
