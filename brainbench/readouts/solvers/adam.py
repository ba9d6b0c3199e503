"""Full-batch Adam (Kingma & Ba 2015) with per-target early stopping.

This is the paper's fitting method (Cocjin, Sanchez & Iglesias, Sec. 3.2.3), made
batched: every parameter tensor has the target (neuroid, or neuroid x grid point) as its
leading axis, the loss is a sum over targets so the targets do not interact, and each
target keeps the parameters of the iteration with its lowest validation error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

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


def adam_fit(params: dict[str, torch.Tensor], forward: Forward, penalty: Penalty,
             X_fit: torch.Tensor, Y_fit: torch.Tensor,
             X_val: torch.Tensor | None = None, Y_val: torch.Tensor | None = None, *,
             lr: float, max_iter: int, patience: int, cosine: bool = True) -> AdamResult:
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
    sched = (torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / max_iter)))
             if cosine else None)
    n_fit = X_fit.shape[0]
    early = X_val is not None and Y_val is not None and len(Y_val) > 0
    B = Y_fit.shape[1]
    best = {k: v.detach().clone() for k, v in zip(names, leaves, strict=False)}
    best_sse = torch.full((B,), math.inf, dtype=Y_fit.dtype, device=Y_fit.device)
    best_iter = torch.zeros(B, dtype=torch.long, device=Y_fit.device)
    if early:
        sst = (Y_val - Y_val.mean(0)).pow(2).sum(0)
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
        if not early:
            continue
        with torch.no_grad():
            sse = (Y_val - forward(current, X_val)).pow(2).sum(0)
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
        if early:
            val_r2 = 1 - best_sse / sst.clamp_min(1e-300)
        else:
            best = {k: v.detach().clone() for k, v in zip(names, leaves, strict=False)}
            best_iter.fill_(it)
            fitted = forward(best, X_fit)
            sst_fit = (Y_fit - Y_fit.mean(0)).pow(2).sum(0)
            val_r2 = 1 - (Y_fit - fitted).pow(2).sum(0) / sst_fit.clamp_min(1e-300)
    return AdamResult(best, val_r2, best_iter, it)


def inner_split(n: int, val_fraction: float, seed: int, device: torch.device | str
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded random ``(fit, val)`` positions of ``n`` training stimuli.

    ``val_fraction`` 0 gives an empty validation set (no early stopping).
    """
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=gen)
    n_val = int(round(val_fraction * n)) if val_fraction > 0 else 0
    n_val = min(max(n_val, 1 if val_fraction > 0 else 0), n - 2)
    return order[n_val:].sort().values.to(device), order[:n_val].sort().values.to(device)
