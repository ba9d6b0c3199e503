"""Full-batch Adam (Kingma & Ba 2015) with per-target early stopping, and its grid search.

This is the paper's fitting method (Cocjin, Sanchez & Iglesias, Sec. 3.2.3), made
batched: every parameter tensor has the target (neuroid, or neuroid x grid point) as its
leading axis, the loss is a sum over targets so the targets do not interact, and each
target keeps the parameters of the iteration with its lowest validation error.
:func:`adam_grid_search` is the one batch-and-pick loop (neuroid batches x penalty grid,
best grid point per neuroid on the inner validation split) every Adam readout uses;
:func:`fit_linear_adam` and :func:`fit_factored_adam` are its two models.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from brainbench.readouts.solvers.common import inner_split, r2_from_sse, total_sum_of_squares
from brainbench.readouts.solvers.laplacian import laplacian_penalty

Forward = Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]
Penalty = Callable[[dict[str, torch.Tensor]], torch.Tensor]


@dataclass
class AdamResult:
    """Attributes:
    params: best parameters per target, each ``(B, ...)``.
    val_r2: ``(B,)`` R^2 on the validation stimuli at the kept iteration (training
        R^2 at the last iteration when no validation data were given).
    best_iter: ``(B,)`` iteration kept per target.
    n_iter: iterations run.
    """

    params: dict[str, torch.Tensor]
    val_r2: torch.Tensor
    best_iter: torch.Tensor
    n_iter: int


def adam_fit(
    params: dict[str, torch.Tensor],
    forward: Forward,
    penalty: Penalty,
    X_fit: torch.Tensor,
    Y_fit: torch.Tensor,
    X_val: torch.Tensor | None = None,
    Y_val: torch.Tensor | None = None,
    *,
    lr: float,
    max_iter: int,
    patience: int,
    cosine: bool = True,
) -> AdamResult:
    """Minimise ``(sum_b sum_l (y_bl - f(x_b)_l)^2 + sum_l penalty_l) / n_fit``.

    Args:
        params: initial parameters, each ``(B, ...)``; updated in place.
        forward: ``(params, X (n, ...)) -> (n, B)`` predictions.
        penalty: ``params -> (B,)`` weighted penalty per target.
        X_fit: ``(n_fit, ...)`` features; Y_fit ``(n_fit, B)`` targets.
        X_val, Y_val: validation stimuli for early stopping (or None: run ``max_iter``).
        lr: Adam step size; ``cosine`` anneals it to 0 over ``max_iter``.
        max_iter: iteration cap; patience: stop when no target improved for this many.
    """
    leaves = [p.detach().requires_grad_(True) for p in params.values()]
    names = list(params)
    opt = torch.optim.Adam(leaves, lr=lr)
    sched = (
        torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / max_iter)))
        if cosine
        else None
    )
    n_fit = X_fit.shape[0]
    # early stopping on (X_val, Y_val, their total sum of squares), or None: run max_iter
    held_out: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
    if X_val is not None and Y_val is not None and len(Y_val) > 0:
        held_out = (X_val, Y_val, total_sum_of_squares(Y_val))
    B = Y_fit.shape[1]
    best = {k: v.detach().clone() for k, v in zip(names, leaves, strict=False)}
    best_sse = torch.full((B,), math.inf, dtype=Y_fit.dtype, device=Y_fit.device)
    best_iter = torch.zeros(B, dtype=torch.long, device=Y_fit.device)
    it = 0
    for it in range(1, max_iter + 1):
        current = dict(zip(names, leaves, strict=False))
        opt.zero_grad(set_to_none=True)
        resid = Y_fit - forward(current, X_fit)
        loss = (resid.pow(2).sum() + penalty(current).sum()) / n_fit
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        if held_out is None:
            continue
        X_v, Y_v, _ = held_out
        with torch.no_grad():
            sse = (Y_v - forward(current, X_v)).pow(2).sum(0)
            better = sse < best_sse
            if better.any():
                best_sse = torch.where(better, sse, best_sse)
                best_iter = torch.where(better, torch.full_like(best_iter, it), best_iter)
                for k, v in zip(names, leaves, strict=False):
                    mask = better.view(-1, *([1] * (v.dim() - 1)))
                    best[k] = torch.where(mask, v.detach(), best[k])
            if it - int(best_iter.max()) >= patience:
                break
    with torch.no_grad():
        if held_out is not None:
            val_r2 = r2_from_sse(best_sse, held_out[2])  # 0 for a constant neuroid, not -inf
        else:
            best = {k: v.detach().clone() for k, v in zip(names, leaves, strict=False)}
            best_iter.fill_(it)
            fitted = forward(best, X_fit)
            val_r2 = r2_from_sse((Y_fit - fitted).pow(2).sum(0), total_sum_of_squares(Y_fit))
    return AdamResult(best, val_r2, best_iter, it)


Init = Callable[[int], dict[str, torch.Tensor]]
GridPenalty = Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor]], torch.Tensor]


@dataclass
class GridResult:
    """Attributes:
    params: the kept parameters per neuroid, each ``(N, ...)``.
    val_r2: ``(N,)`` inner-validation R^2 of the kept grid point.
    chosen: ``(N,)`` index into the grid.
    n_iter: the largest iteration count of any batch.
    """

    params: dict[str, torch.Tensor]
    val_r2: torch.Tensor
    chosen: torch.Tensor
    n_iter: int


def adam_grid_search(
    init: Init,
    forward: Forward,
    penalty: GridPenalty,
    grid: list[dict[str, float]],
    X: torch.Tensor,
    Y: torch.Tensor,
    *,
    lr: float,
    max_iter: int,
    patience: int,
    val_fraction: float,
    neuroid_batch: int,
    seed: int,
) -> GridResult:
    """Adam per neuroid batch over every grid point at once; keep each neuroid's best point.

    Targets of one Adam run are ``G * nb`` columns: column ``g * nb + j`` is neuroid j of
    the batch at grid point g. The inner split is seeded by ``seed``.

    Args:
        init: ``B -> params``, initial parameters for B targets, each ``(B, ...)`` (called
            once per batch, in batch order).
        forward: ``(params, X (n, ...)) -> (n, B)``.
        penalty: ``(params, lam) -> (B,)`` with ``lam`` the grid's weights, each ``(B,)``.
        grid: penalty settings, each a dict of weights.
        X: ``(n, ...)`` standardised features; Y: ``(n, N)`` standardised responses.
    """
    n, N = X.shape[0], Y.shape[1]
    fit_idx, val_idx = inner_split(n, val_fraction, seed, X.device)
    X_fit, X_val = X[fit_idx], X[val_idx]
    G = len(grid)
    weights = {k: torch.tensor([g[k] for g in grid], dtype=X.dtype, device=X.device) for k in grid[0]}
    out: dict[str, torch.Tensor] = {}
    val_out = torch.full((N,), -math.inf, dtype=X.dtype, device=X.device)
    chosen = torch.zeros(N, dtype=torch.long, device=X.device)
    iters = 0
    for start in range(0, N, neuroid_batch):
        cols = slice(start, min(N, start + neuroid_batch))
        nb = cols.stop - cols.start
        Yb = Y[:, cols].repeat(1, G)
        lam = {k: v.repeat_interleave(nb) for k, v in weights.items()}

        def batch_penalty(p: dict[str, torch.Tensor], lam: dict[str, torch.Tensor] = lam) -> torch.Tensor:
            return penalty(p, lam)

        res = adam_fit(
            init(G * nb),
            forward,
            batch_penalty,
            X_fit,
            Yb[fit_idx],
            X_val,
            Yb[val_idx],
            lr=lr,
            max_iter=max_iter,
            patience=patience,
        )
        iters = max(iters, res.n_iter)
        score = res.val_r2.view(G, nb)
        best = score.argmax(0)  # (nb,)
        pick = best * nb + torch.arange(nb, device=X.device)
        for name, value in res.params.items():
            if name not in out:
                out[name] = torch.zeros(N, *value.shape[1:], dtype=value.dtype, device=value.device)
            out[name][cols] = value[pick]
        val_out[cols] = score.gather(0, best[None]).squeeze(0)
        chosen[cols] = best
    return GridResult(out, val_out, chosen, iters)


def fit_linear_adam(
    X: torch.Tensor,
    Y: torch.Tensor,
    grid: list[dict[str, float]],
    *,
    map_shape: tuple[int, int, int] | None,
    lr: float | None,
    max_iter: int,
    patience: int,
    val_fraction: float,
    neuroid_batch: int,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Adam fit of ``yhat = X W^T + b`` with L1/L2/Laplacian penalties, per neuroid grid search.

    Args:
        X: ``(n, F)`` standardised features; Y: ``(n, N)`` standardised responses.
        grid: penalty settings, each ``{"l1", "l2", "laplace"}`` (missing ones are 0).
        map_shape: ``(C, H, W)`` with ``F = C*H*W`` when ``laplace`` is used.
        lr: Adam step; None picks ``0.05 / sqrt(F)`` (per-weight steps of that size move a
            prediction by O(0.05) standard deviations on standardised features).
        neuroid_batch: neuroids per Adam run (memory ~ 4 x batch x F floats per grid point).

    Returns:
        ``W`` ``(N, F)``, ``b`` ``(N,)``, ``val_r2`` ``(N,)``, ``chosen`` ``(N,)`` grid
        index, and the largest iteration count.
    """
    F = X.shape[1]
    lr = lr if lr is not None else 0.05 / math.sqrt(F)

    def init(B: int) -> dict[str, torch.Tensor]:
        return {
            "w": torch.zeros(B, F, dtype=X.dtype, device=X.device),
            "b": torch.zeros(B, dtype=X.dtype, device=X.device),
        }

    def forward(p: dict[str, torch.Tensor], Xs: torch.Tensor) -> torch.Tensor:
        return Xs @ p["w"].T + p["b"]

    def penalty(p: dict[str, torch.Tensor], lam: dict[str, torch.Tensor]) -> torch.Tensor:
        w = p["w"]
        out = torch.zeros(w.shape[0], dtype=w.dtype, device=w.device)
        if bool((lam.get("l1", out) != 0).any()):
            out = out + lam["l1"] * w.abs().sum(1)
        if bool((lam.get("l2", out) != 0).any()):
            out = out + lam["l2"] * w.pow(2).sum(1)
        if map_shape is not None and bool((lam.get("laplace", out) != 0).any()):
            out = out + lam["laplace"] * laplacian_penalty(w.view(w.shape[0], *map_shape))
        return out

    res = adam_grid_search(
        init,
        forward,
        penalty,
        grid,
        X,
        Y,
        lr=lr,
        max_iter=max_iter,
        patience=patience,
        val_fraction=val_fraction,
        neuroid_batch=neuroid_batch,
        seed=seed,
    )
    return res.params["w"], res.params["b"], res.val_r2, res.chosen, res.n_iter


def fit_factored_adam(
    X: torch.Tensor,
    Y: torch.Tensor,
    grid: list[dict[str, float]],
    *,
    lr: float,
    max_iter: int,
    patience: int,
    val_fraction: float,
    neuroid_batch: int,
    seed: int,
) -> GridResult:
    """Adam fit of eq. 3, ``yhat_l = sum_ck M_kl W_cl x_ck + b_l``, per neuroid grid search.

    Args:
        X: ``(n, C, H, W)`` standardised features; Y: ``(n, N)`` standardised responses.
        grid: settings ``{"l1_mask", "l1_feature", "l2", "laplace"}``.
        lr, max_iter, patience, val_fraction, neuroid_batch, seed: as :func:`adam_grid_search`;
            ``seed`` also seeds the initialisation (Klindt et al.: small positive masks,
            small random features).

    Returns:
        params ``mask`` ``(N, H*W)``, ``feature`` ``(N, C)``, ``b`` ``(N,)``.
    """
    n, C, H, W = X.shape
    Xf = X.reshape(n, C, H * W)
    gen = torch.Generator().manual_seed(seed)

    def init(B: int) -> dict[str, torch.Tensor]:
        mask0 = torch.rand(B, H * W, generator=gen, dtype=X.dtype) / (H * W)
        feat0 = torch.randn(B, C, generator=gen, dtype=X.dtype) / math.sqrt(C)
        return {
            "mask": mask0.to(X.device),
            "feature": feat0.to(X.device),
            "b": torch.zeros(B, dtype=X.dtype, device=X.device),
        }

    def forward(p: dict[str, torch.Tensor], Xb: torch.Tensor) -> torch.Tensor:
        return torch.einsum("nck,bk,bc->nb", Xb, p["mask"], p["feature"]) + p["b"]

    def penalty(p: dict[str, torch.Tensor], lam: dict[str, torch.Tensor]) -> torch.Tensor:
        m, w = p["mask"], p["feature"]
        out = lam["l1_mask"] * m.abs().sum(1) + lam["l1_feature"] * w.abs().sum(1)
        out = out + lam["l2"] * (m.pow(2).sum(1) + w.pow(2).sum(1))
        if bool((lam["laplace"] != 0).any()):
            out = out + lam["laplace"] * laplacian_penalty(m.view(-1, H, W))
        return out

    return adam_grid_search(
        init,
        forward,
        penalty,
        grid,
        Xf,
        Y,
        lr=lr,
        max_iter=max_iter,
        patience=patience,
        val_fraction=val_fraction,
        neuroid_batch=neuroid_batch,
        seed=seed,
    )
