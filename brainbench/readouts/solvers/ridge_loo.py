"""Batched ridge with a different design per target, alpha chosen by closed-form LOO.

The shared-Gram case (one ``(n, n)`` kernel for all neuroids) lives in the core's
:mod:`brainbench.readouts.ridge_solvers`; this module adds the case the factored
readout's half steps need: a design ``A_b`` ``(n, d)`` per target b, solved by one
batched thin SVD, i.e. implicitly in whichever of the primal ``(d, d)`` or dual
``(n, n)`` space is smaller. For ridge with an unpenalised intercept on centred data
the hat matrix is ``11^T/n + U diag(s^2/(s^2+a)) U^T`` and the LOO residual of stimulus
i is ``e_i / (1 - H_ii)`` (Allen 1974; Golub, Heath & Wahba 1979), so one SVD gives the
LOO error of every alpha on a grid.
"""

from __future__ import annotations

import torch


def loo_ridge_batched(A: torch.Tensor, y: torch.Tensor, alphas: torch.Tensor,
                      relative: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One ridge problem per batch element, alpha by LOO per element.

    Solved by a batched eigendecomposition of ``A^T A`` ``(B, d, d)`` when d < n (primal)
    or of ``A A^T`` ``(B, n, n)`` otherwise (dual); both give the left singular vectors U
    and squared singular values s2 of A, from which every alpha's hat matrix follows.

    Args:
        A: ``(B, n, d)`` designs, centred over the n stimuli.
        y: ``(B, n)`` targets, centred over the n stimuli.
        alphas: ``(G,)`` penalties; if ``relative`` they multiply each element's mean
            eigenvalue ``trace(A^T A) / n``.
        relative: see ``alphas``.

    Returns:
        ``coef`` ``(B, d)``, ``alpha`` ``(B,)`` absolute chosen penalty, ``loo_r2`` ``(B,)``.
    """
    _, n, d = A.shape
    if d < n:
        s2, Vv = torch.linalg.eigh(A.transpose(1, 2) @ A)                   # (B,d), (B,d,d)
        s2 = s2.clamp_min(0)
        inv = torch.where(s2 > 1e-12 * s2.amax(1, keepdim=True).clamp_min(1e-300),
                          s2.clamp_min(1e-300).rsqrt(), torch.zeros_like(s2))
        U = (A @ Vv) * inv[:, None, :]                                      # (B,n,d)
    else:
        s2, U = torch.linalg.eigh(A @ A.transpose(1, 2))                    # (B,n), (B,n,n)
        s2 = s2.clamp_min(0)
    scale = s2.sum(1, keepdim=True) / n if relative else torch.ones_like(s2[:, :1])
    grid = alphas.to(A.dtype).to(A.device)[None, :] * scale.clamp_min(1e-30)   # (B, G)
    Uty = torch.einsum("bnr,bn->br", U, y)                                   # (B, r)
    U2 = U.pow(2)
    total = y.pow(2).sum(1).clamp_min(1e-300)
    scores = torch.empty_like(grid)
    for g in range(grid.shape[1]):
        shrink = s2 / (s2 + grid[:, g:g + 1])                                # (B, r)
        fitted = torch.einsum("bnr,br->bn", U, shrink * Uty)
        hat = (1.0 / n + torch.einsum("bnr,br->bn", U2, shrink)).clamp_max(1 - 1e-12)
        scores[:, g] = 1 - ((y - fitted) / (1 - hat)).pow(2).sum(1) / total
    best = scores.argmax(1)
    alpha = grid.gather(1, best[:, None]).squeeze(1)
    dual = torch.einsum("bnr,br->bn", U, Uty / (s2 + alpha[:, None]))        # (B, n)
    coef = torch.einsum("bnd,bn->bd", A, dual)
    return coef, alpha, scores.gather(1, best[:, None]).squeeze(1)
