"""Small pieces every solver shares: the alpha grid, penalty grids, R^2, the inner split.

Pure functions on torch tensors (or plain Python values); nothing here knows about a
readout class.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence

import torch

from brainbench.errors import BrainbenchError

Grid = float | Sequence[float]
AlphaSpec = Sequence[float] | Mapping[str, float]


def alpha_grid(start: float, stop: float, num: int) -> torch.Tensor:
    """``(num,)`` float64 ``10**linspace(start, stop, num)``."""
    return torch.logspace(start, stop, num, dtype=torch.float64)


def parse_alphas(alphas: AlphaSpec, what: str = "alphas") -> torch.Tensor:
    """``(A,)`` float64 candidates from a list or ``{start, stop, num}`` (log10 range).

    Raises:
        BrainbenchError: for a malformed mapping or a non-positive candidate.
    """
    if isinstance(alphas, Mapping):
        try:
            grid = alpha_grid(float(alphas["start"]), float(alphas["stop"]), int(alphas["num"]))
        except (KeyError, TypeError, ValueError) as error:
            raise BrainbenchError(
                f"{what} as a mapping needs numeric start, stop and num, got {dict(alphas)!r}."
            ) from error
    else:
        grid = torch.tensor([float(a) for a in alphas], dtype=torch.float64)
    if grid.numel() == 0 or (grid <= 0).any():
        raise BrainbenchError("ridge alphas must be positive.")
    return grid


def penalty_grid(**weights: Grid) -> list[dict[str, float]]:
    """Cartesian product of penalty weights given as floats or lists, one dict per point."""
    names = list(weights)
    values = [[float(v)] if isinstance(v, (int, float)) else [float(x) for x in v] for v in weights.values()]
    return [dict(zip(names, combo, strict=False)) for combo in itertools.product(*values)]


def as_list(value: Grid) -> list[float]:
    """A float or a list of floats as a list."""
    return [float(value)] if isinstance(value, (int, float)) else [float(v) for v in value]


def r2_from_sse(sse: torch.Tensor, sst: torch.Tensor) -> torch.Tensor:
    """``1 - sse / sst`` elementwise (any matching shapes); 0 where ``sst`` is 0."""
    return torch.where(sst > 0, 1 - sse / sst.clamp_min(1e-300), torch.zeros_like(sst))


def constant_columns(values: torch.Tensor) -> torch.Tensor:
    """``(n, N) -> (N,)`` bool: whether every value of a column equals its first.

    Such a column has no variance, though centring it leaves rounding residue (a column
    of 0.1 minus its computed mean is about 1e-17, not 0).
    """
    return (values == values[:1]).all(0)


def total_sum_of_squares(y: torch.Tensor) -> torch.Tensor:
    """``(n, N) -> (N,)`` sum of squares about the column means; exactly 0 for a constant column."""
    return torch.where(constant_columns(y), 0.0, ((y - y.mean(0)) ** 2).sum(0))


def r2_columns(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """Per-column R^2 = 1 - SSE/SST, ``(n, N) -> (N,)``; 0 where SST is 0 (``y_true`` constant)."""
    resid = ((y_true - y_pred) ** 2).sum(0)
    return r2_from_sse(resid, total_sum_of_squares(y_true))


def inner_split(
    n: int, val_fraction: float, seed: int, device: torch.device | str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded random ``(fit, val)`` positions of ``n`` training stimuli.

    ``val_fraction`` 0 gives an empty validation set (no early stopping).
    """
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=gen)
    n_val = int(round(val_fraction * n)) if val_fraction > 0 else 0
    n_val = min(max(n_val, 1 if val_fraction > 0 else 0), n - 2)
    return order[n_val:].sort().values.to(device), order[:n_val].sort().values.to(device)


def choose_solver(table: Mapping[str, Callable], name: str, readout: str) -> Callable:
    """The solver function registered under ``name`` for ``readout``.

    Raises:
        BrainbenchError: naming the readout and its solvers when ``name`` is unknown.
    """
    if name not in table:
        raise BrainbenchError(f"{readout} solver must be one of {tuple(table)}, not {name!r}.")
    return table[name]
