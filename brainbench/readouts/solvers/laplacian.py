"""The Laplacian smoothness penalty of eq. 5 (Cocjin, Sanchez & Iglesias; Klindt et al. 2017).

    L_laplace = lam * sum_{i,j,k,l} ((K[:, :, k, l] * L)_{ij})^2,
    L = [[0.5, 1, 0.5], [1, -6, 1], [0.5, 1, 0.5]]

Boundary handling: the 3x3 kernel is applied as a zero-padded 'same' convolution (output
H x W, weights outside the map count as 0), as in neuralpredictors' ``LaplaceL2``
(Klindt et al. 2017, Lurz et al. 2021). With zero padding the operator is non-singular,
so even a pure Laplacian penalty (no L2) defines a proper generalised ridge.

As a linear map on a flattened ``(H*W,)`` map the convolution is a matrix ``Lap``
``(H*W, H*W)`` (symmetric, since the kernel is); the penalty of one map ``w`` is
``w^T P w`` with ``P = Lap^T Lap``. :func:`penalty_eigh` diagonalises ``P`` once per map
shape, which is what the closed-form spatial solver needs.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

LAPLACE_3X3 = ((0.5, 1.0, 0.5), (1.0, -6.0, 1.0), (0.5, 1.0, 0.5))


def laplace_kernel(device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(1, 1, 3, 3)`` conv weight of the eq. 5 kernel."""
    return torch.tensor(LAPLACE_3X3, device=device, dtype=dtype).view(1, 1, 3, 3)


def laplacian(maps: torch.Tensor) -> torch.Tensor:
    """Zero-padded 'same' convolution of every ``(H, W)`` map with the eq. 5 kernel.

    Computed as a sum of nine shifted copies of the zero-padded maps rather than with
    ``conv2d``: the same numbers, and on CPU far faster for one-channel maps.

    Args:
        maps: ``(..., H, W)``.

    Returns:
        ``(..., H, W)`` filtered maps.
    """
    height, width = maps.shape[-2:]
    padded = F.pad(maps, (1, 1, 1, 1))
    out = torch.zeros_like(maps)
    for di, row in enumerate(LAPLACE_3X3):
        for dj, weight in enumerate(row):
            out = out + weight * padded[..., di : di + height, dj : dj + width]
    return out


def laplacian_penalty(maps: torch.Tensor, map_dims: int = 2) -> torch.Tensor:
    """Sum of squared Laplacian responses (eq. 5 without ``lam``).

    Args:
        maps: ``(B, ..., H, W)``; the sum runs over every axis but the first (e.g. the
            channels of one neuroid's ``(C, H, W)`` kernel).
        map_dims: kept for clarity: the last two axes are the map.

    Returns:
        ``(B,)`` penalty per leading index (per neuroid).
    """
    del map_dims
    return laplacian(maps).pow(2).flatten(1).sum(1)


def laplacian_operator(height: int, width: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Dense ``(H*W, H*W)`` matrix of the zero-padded 'same' convolution (row-major maps)."""
    eye = torch.eye(height * width, dtype=dtype).view(height * width, height, width)
    # Column j of the operator is the filtered j-th basis map; the kernel is symmetric so
    # the operator is symmetric too, but build it as columns to stay correct regardless.
    return laplacian(eye).reshape(height * width, height * width).T.contiguous()


@lru_cache(maxsize=16)
def _penalty_eigh_cpu(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    lap = laplacian_operator(height, width)
    penalty = lap.T @ lap
    evals, evecs = torch.linalg.eigh(penalty)
    return evals.clamp_min(0.0), evecs


def penalty_eigh(
    height: int, width: int, device: torch.device | str | None = None, dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigendecomposition ``P = V diag(e) V^T`` of ``P = Lap^T Lap``, cached per shape.

    Returns:
        ``e`` ``(H*W,)`` ascending, non-negative; ``V`` ``(H*W, H*W)`` orthonormal columns.
    """
    evals, evecs = _penalty_eigh_cpu(height, width)
    return evals.to(device=device, dtype=dtype), evecs.to(device=device, dtype=dtype)
