"""Ridge regression with per-target alpha chosen by closed-form leave-one-out (LOO).

For ridge with hat matrix ``H = K (K + a I)^{-1}`` the LOO residual of stimulus i is
``(y_i - (H y)_i) / (1 - H_ii)`` (Allen 1974; Golub, Heath & Wahba 1979), so one
eigendecomposition gives the LOO error of every alpha on a grid. Data are assumed
centred on the training fold (the intercept is not refitted per left-out stimulus, a
small optimistic bias of order 1/n).

Two shapes of problem:

* :func:`loo_ridge_gram`: one shared Gram matrix ``K`` ``(n, n)`` for all N targets
  (the spatial readout's dual form).
* :func:`loo_ridge_batched`: a different design ``A_b`` ``(n, d)`` per target b (the
  factored readout's half steps), solved by batched SVD in whichever of the primal
  ``(d, d)`` or dual ``(n, n)`` space is smaller (the thin SVD does that implicitly).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class GramEigh:
    """Eigendecomposition ``K = Q diag(s) Q^T`` of a training Gram matrix.

    Attributes:
        s: ``(n,)`` eigenvalues (clamped at 0).
        Q: ``(n, n)`` eigenvectors.
    """

    s: torch.Tensor
    Q: torch.Tensor

    @classmethod
    def of(cls, K: torch.Tensor) -> GramEigh:
        s, Q = torch.linalg.eigh(0.5 * (K + K.T))
        return cls(s.clamp_min(0.0), Q)

    @property
    def mean_eigenvalue(self) -> torch.Tensor:
        return self.s.mean()


def loo_r2_table(eig: GramEigh, Y: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    """LOO R^2 of every alpha for every target.

    Args:
        eig: eigendecomposition of the ``(n, n)`` training Gram matrix.
        Y: ``(n, N)`` centred training targets.
        alphas: ``(A,)`` absolute ridge penalties (> 0).

    Returns:
        ``(A, N)`` LOO R^2 = 1 - sum LOO residual^2 / sum y^2.
    """
    QtY = eig.Q.T @ Y                                   # (n, N)
    Q2 = eig.Q.pow(2)                                   # (n, n)
    total = Y.pow(2).sum(0).clamp_min(1e-300)           # (N,)
    out = torch.empty(len(alphas), Y.shape[1], dtype=Y.dtype, device=Y.device)
    for a, alpha in enumerate(alphas):
        shrink = eig.s / (eig.s + alpha)                # (n,)
        fitted = eig.Q @ (shrink[:, None] * QtY)
        hat_diag = (Q2 @ shrink).clamp_max(1 - 1e-12)   # (n,)
        loo = (Y - fitted) / (1 - hat_diag)[:, None]
        out[a] = 1 - loo.pow(2).sum(0) / total
    return out


def dual_coef(eig: GramEigh, Y: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Dual coefficients ``c_l = (K + alpha_l I)^{-1} y_l``.

    Args:
        eig: eigendecomposition of ``K`` ``(n, n)``.
        Y: ``(n, N)`` centred targets.
        alpha: ``(N,)`` per-target penalty (or a scalar tensor).

    Returns:
        ``(n, N)``; predictions are ``K_test,train @ c``.
    """
    alpha = torch.as_tensor(alpha, dtype=Y.dtype, device=Y.device).expand(Y.shape[1])
    return eig.Q @ ((eig.Q.T @ Y) / (eig.s[:, None] + alpha[None, :]))


def loo_ridge_gram(K: torch.Tensor, Y: torch.Tensor, alphas: torch.Tensor,
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-target alpha by LOO on one shared Gram matrix.

    Args:
        K: ``(n, n)`` training Gram matrix of centred features.
        Y: ``(n, N)`` centred training targets.
        alphas: ``(A,)`` absolute penalties.

    Returns:
        ``coef`` ``(n, N)`` dual coefficients at the chosen alphas, ``alpha`` ``(N,)``,
        ``loo_r2`` ``(N,)``.
    """
    eig = GramEigh.of(K)
    table = loo_r2_table(eig, Y, alphas)
    best = table.argmax(0)
    alpha = alphas[best]
    return dual_coef(eig, Y, alpha), alpha, table.gather(0, best[None]).squeeze(0)


def loo_ridge_batched(A: torch.Tensor, y: torch.Tensor, alphas: torch.Tensor,
                      relative: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One ridge problem per batch element, alpha by LOO per element.

    Args:
        A: ``(B, n, d)`` centred designs.
        y: ``(B, n)`` centred targets.
        alphas: ``(G,)`` penalties; if ``relative`` they multiply each element's mean
            eigenvalue ``trace(A^T A) / n``.
        relative: see ``alphas``.

    Returns:
        ``coef`` ``(B, d)``, ``alpha`` ``(B,)`` absolute chosen penalty, ``loo_r2`` ``(B,)``.
    """
    U, s, Vh = torch.linalg.svd(A, full_matrices=False)   # (B,n,r), (B,r), (B,r,d)
    s2 = s.pow(2)
    n = A.shape[1]
    scale = s2.sum(1, keepdim=True) / n if relative else torch.ones_like(s2[:, :1])
    grid = alphas.to(A.dtype)[None, :] * scale.clamp_min(1e-30)          # (B, G)
    Uty = torch.einsum("bnr,bn->br", U, y)                                  # (B, r)
    U2 = U.pow(2)
    total = y.pow(2).sum(1).clamp_min(1e-300)
    scores = torch.empty_like(grid)
    for g in range(grid.shape[1]):
        shrink = s2 / (s2 + grid[:, g:g + 1])                               # (B, r)
        fitted = torch.einsum("bnr,br->bn", U, shrink * Uty)
        hat = torch.einsum("bnr,br->bn", U2, shrink).clamp_max(1 - 1e-12)
        scores[:, g] = 1 - ((y - fitted) / (1 - hat)).pow(2).sum(1) / total
    best = scores.argmax(1)
    alpha = grid.gather(1, best[:, None]).squeeze(1)
    coef = torch.einsum("brd,br->bd", Vh, s / (s2 + alpha[:, None]) * Uty)
    return coef, alpha, scores.gather(1, best[:, None]).squeeze(1)
