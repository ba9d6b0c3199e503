"""``simple-sgd``: eq. 1 of Cocjin, Sanchez & Iglesias, fitted by Adam as in the paper.

    y_l = sum_{i,j,k} W_ijkl r_ijk + b_l                                   (eq. 1)

Loss (eq. 6-7), per neuroid l, in standardised units (see
:mod:`brainbench.readouts.solvers.scaling`: features centred and divided by one RMS scalar
per layer, responses z-scored per neuroid on the training fold):

    J_l = sum_b (y_bl - yhat_bl)^2 + l1 * sum |W_l| + l2 * sum W_l^2 [+ laplace * eq. 5]

and the total loss is ``sum_l J_l`` (eq. 6 sums over stimuli b and neuroids l, eq. 4-5
over every weight). Scaling: the penalty weights are per neuroid and independent of the
number of neuroids N (the neuroids decouple); the data term is a *sum* over stimuli, so a
fixed ``l1``/``l2`` regularises relatively less as the number of training stimuli n
grows (the effective ridge strength per stimulus is ``l2 / n``). Adam minimises
``sum_l J_l / n_fit``, which has the same minimiser.

Fitting (:func:`brainbench.readouts.solvers.adam.fit_linear_adam`): full-batch Adam, zero
initialisation, cosine-annealed step size, early stopping per neuroid on a seeded inner
validation split (``val_fraction`` of the training fold, 0.15 = the paper's 85/15). The
kept model is the one fitted on the inner-fit part at its best validation iteration;
``val_score_`` is its R^2 on the inner validation stimuli. Penalty weights given as
lists form a grid that is searched per neuroid on the same inner validation split. L1
enters as its subgradient (plain Adam, as in the paper), so weights become small rather
than exactly zero.
"""

from __future__ import annotations

import torch

from brainbench.readouts.base import Readout, as_tensor
from brainbench.readouts.solvers.adam import fit_linear_adam
from brainbench.readouts.solvers.common import Grid, penalty_grid
from brainbench.readouts.solvers.scaling import Standardizer
from brainbench.readouts.subsample import subsample_units

__all__ = ["Grid", "SimpleSGDReadout", "penalty_grid"]


class SimpleSGDReadout(Readout):
    """Eq. 1 readout (a weight per unit and neuroid + bias), L1 and L2 penalties, Adam.

    Args:
        l1, l2: penalty weights of eq. 4 (floats, or lists to search per neuroid).
        subsample_features: the paper's subsampling (see :mod:`brainbench.readouts.subsample`):
            None keeps every unit, True keeps 1000, an int that many, a float that fraction.
        lr: Adam step size (None: ``0.05 / sqrt(F)``).
        max_iter, patience: Adam iterations cap and early-stopping patience.
        val_fraction: inner validation fraction of the training fold (0.15: the paper).
        neuroid_batch: neuroids per Adam run (bounds memory).
        seed: seeds the subsample draw and the inner split.
        solver: only ``"adam"``.
        dtype: working precision of features and responses.
    """

    SOLVERS = {"adam": fit_linear_adam}
    name = "simple-sgd"

    def __init__(
        self,
        l1: Grid = 1.0,
        l2: Grid = 1.0,
        subsample_features: int | float | bool | None = None,
        lr: float | None = None,
        max_iter: int = 1000,
        patience: int = 50,
        val_fraction: float = 0.15,
        neuroid_batch: int = 256,
        seed: int = 0,
        solver: str = "adam",
        dtype: str = "float32",
    ) -> None:
        self.l1 = l1
        self.l2 = l2
        self.subsample_features = subsample_features
        self.lr = lr
        self.max_iter = max_iter
        self.patience = patience
        self.val_fraction = val_fraction
        self.neuroid_batch = neuroid_batch
        self.seed = seed
        self.solver = solver
        self.dtype = dtype

    def _features(self, X: torch.Tensor) -> torch.Tensor:
        flat = X.reshape(X.shape[0], -1).to(self.working_dtype)
        return flat if self.units_ is None else flat[:, self.units_.to(X.device)]

    def fit(self, X: torch.Tensor, Y: torch.Tensor) -> SimpleSGDReadout:
        """X ``(n, C, H, W)`` or ``(n, F)``; Y ``(n, N)``."""
        solve = self.solver_function()
        self.solver_ = self.resolve_solver()
        Y = as_tensor(Y, X.device, self.working_dtype)
        self.units_ = subsample_units(int(X[0].numel()), self.subsample_features, self.seed)
        Xf = self._features(X)
        self.scaler_ = Standardizer.fit(Xf, Y)
        grid = penalty_grid(l1=self.l1, l2=self.l2)
        W, b, val, chosen, iters = solve(
            self.scaler_.x(Xf),
            self.scaler_.y(Y),
            grid,
            map_shape=None,
            lr=self.lr,
            max_iter=self.max_iter,
            patience=self.patience,
            val_fraction=self.val_fraction,
            neuroid_batch=self.neuroid_batch,
            seed=self.seed,
        )
        self.coef_, self.intercept_, self.val_score_ = W, b, val
        self.grid_, self.chosen_ = grid, chosen
        self.n_iter_ = iters
        return self

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        """``(n, ...) -> (n, N)`` in response units."""
        Z = self.scaler_.x(self._features(X))
        return self.scaler_.unscale_y(Z @ self.coef_.T + self.intercept_)

    def chosen_params(self) -> dict[str, torch.Tensor]:
        out = {}
        for name in ("l1", "l2"):
            values = torch.tensor([g[name] for g in self.grid_], device=self.chosen_.device)
            out[name] = values[self.chosen_]
        return out
