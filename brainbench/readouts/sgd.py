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

Fitting: full-batch Adam, zero initialisation, cosine-annealed step size, early stopping
per neuroid on a seeded inner validation split (``val_fraction`` of the training fold,
0.15 = the paper's 85/15). The kept model is the one fitted on the inner-fit part at its
best validation iteration; ``val_score_`` is its R^2 on the inner validation stimuli.
Penalty weights given as lists form a grid that is searched per neuroid on the same
inner validation split. L1 enters as its subgradient (plain Adam, as in the paper), so
weights become small rather than exactly zero.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch

from brainbench.readouts.base import Readout, as_tensor
from brainbench.readouts.laplacian import laplacian_penalty
from brainbench.readouts.solvers.adam import adam_fit, inner_split
from brainbench.readouts.solvers.scaling import Standardizer
from brainbench.readouts.subsample import subsample_units

Grid = float | Sequence[float]


def penalty_grid(**weights: Grid) -> list[dict[str, float]]:
    """Cartesian product of penalty weights given as floats or lists."""
    names = list(weights)
    values = [[float(v)] if isinstance(v, (int, float)) else [float(x) for x in v] for v in weights.values()]
    return [dict(zip(names, combo, strict=False)) for combo in itertools.product(*values)]


def fit_linear_adam(X: torch.Tensor, Y: torch.Tensor, grid: list[dict[str, float]], *,
                    map_shape: tuple[int, int, int] | None, lr: float | None, max_iter: int,
                    patience: int, val_fraction: float, neuroid_batch: int, seed: int,
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Adam fit of ``yhat = X W^T + b`` with L1/L2/Laplacian penalties, per neuroid grid search.

    Args:
        X: ``(n, F)`` standardised features; Y: ``(n, N)`` standardised responses.
        grid: penalty settings, each ``{"l1", "l2", "laplace"}``.
        map_shape: ``(C, H, W)`` with ``F = C*H*W`` when ``laplace`` is used.
        lr: Adam step; None picks ``0.05 / sqrt(F)`` (per-weight steps of that size move a
            prediction by O(0.05) standard deviations on standardised features).
        neuroid_batch: neuroids per Adam run (memory ~ 4 x batch x F floats per grid point).

    Returns:
        ``W`` ``(N, F)``, ``b`` ``(N,)``, ``val_r2`` ``(N,)``, ``chosen`` ``(N,)`` grid
        index, and the largest iteration count.
    """
    n, F = X.shape
    N = Y.shape[1]
    lr = lr if lr is not None else 0.05 / math.sqrt(F)
    fit_idx, val_idx = inner_split(n, val_fraction, seed, X.device)
    X_fit, X_val = X[fit_idx], X[val_idx]
    G = len(grid)
    W_out = torch.zeros(N, F, dtype=X.dtype, device=X.device)
    b_out = torch.zeros(N, dtype=X.dtype, device=X.device)
    val_out = torch.full((N,), -math.inf, dtype=X.dtype, device=X.device)
    chosen = torch.zeros(N, dtype=torch.long, device=X.device)
    iters = 0
    weights = {k: torch.tensor([g[k] for g in grid], dtype=X.dtype, device=X.device) for k in grid[0]}
    for start in range(0, N, neuroid_batch):
        cols = slice(start, min(N, start + neuroid_batch))
        nb = cols.stop - cols.start
        # column g*nb + j is neuroid j at grid point g
        Yb = Y[:, cols].repeat(1, G)
        lam = {k: v.repeat_interleave(nb) for k, v in weights.items()}

        def forward(p: dict[str, torch.Tensor], Xs: torch.Tensor) -> torch.Tensor:
            return Xs @ p["w"].T + p["b"]

        def penalty(p: dict[str, torch.Tensor], lam: dict[str, torch.Tensor] = lam) -> torch.Tensor:
            w = p["w"]
            out = torch.zeros(w.shape[0], dtype=w.dtype, device=w.device)
            if bool((lam.get("l1", out) != 0).any()):
                out = out + lam["l1"] * w.abs().sum(1)
            if bool((lam.get("l2", out) != 0).any()):
                out = out + lam["l2"] * w.pow(2).sum(1)
            if map_shape is not None and bool((lam.get("laplace", out) != 0).any()):
                out = out + lam["laplace"] * laplacian_penalty(w.view(w.shape[0], *map_shape))
            return out

        params = {"w": torch.zeros(G * nb, F, dtype=X.dtype, device=X.device),
                  "b": torch.zeros(G * nb, dtype=X.dtype, device=X.device)}
        res = adam_fit(params, forward, penalty, X_fit, Yb[fit_idx], X_val, Yb[val_idx],
                       lr=lr, max_iter=max_iter, patience=patience)
        iters = max(iters, res.n_iter)
        score = res.val_r2.view(G, nb)
        best = score.argmax(0)                                   # (nb,)
        pick = best * nb + torch.arange(nb, device=X.device)
        W_out[cols] = res.params["w"][pick]
        b_out[cols] = res.params["b"][pick]
        val_out[cols] = score.gather(0, best[None]).squeeze(0)
        chosen[cols] = best
    return W_out, b_out, val_out, chosen, iters


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
    """

    needs_spatial = False
    uses_gram = False

    def __init__(self, l1: Grid = 1.0, l2: Grid = 1.0, subsample_features: int | float | bool | None = None,
                 lr: float | None = None, max_iter: int = 1000, patience: int = 50,
                 val_fraction: float = 0.15, neuroid_batch: int = 256, seed: int = 0,
                 solver: str = "adam", dtype: str = "float32") -> None:
        if solver != "adam":
            raise ValueError(f"simple-sgd has only the 'adam' solver, not {solver!r}.")
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
        flat = X.reshape(X.shape[0], -1).to(getattr(torch, self.dtype))
        return flat if self.units_ is None else flat[:, self.units_.to(X.device)]

    def fit(self, X: torch.Tensor, Y: torch.Tensor) -> SimpleSGDReadout:
        """X ``(n, C, H, W)`` or ``(n, F)``; Y ``(n, N)``."""
        Y = as_tensor(Y, X.device, getattr(torch, self.dtype))
        self.units_ = subsample_units(int(X[0].numel()), self.subsample_features, self.seed)
        Xf = self._features(X)
        self.scaler_ = Standardizer.fit(Xf, Y)
        grid = penalty_grid(l1=self.l1, l2=self.l2)
        W, b, val, chosen, iters = fit_linear_adam(
            self.scaler_.x(Xf), self.scaler_.y(Y), grid, map_shape=None, lr=self.lr,
            max_iter=self.max_iter, patience=self.patience, val_fraction=self.val_fraction,
            neuroid_batch=self.neuroid_batch, seed=self.seed)
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
