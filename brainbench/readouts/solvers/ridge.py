"""Ridge regression solvers: shared-Gram dual ridge and per-target batched ridge, with LOO.

Pure functions on torch tensors, batched over neuroids. Notation: n training stimuli,
m test stimuli, F features, N neuroids, A candidate alphas, B targets of a batch.

**Shared Gram** (:func:`gram`, :func:`fit_dual_ridge_loo`, :func:`predict_dual_ridge`).
With an unpenalised intercept, ridge predictions are
``y_hat = mean(y) + Kc (Kc + alpha I)^-1 (y - mean(y))`` where ``Kc = H K H`` is the
training Gram matrix centred by ``H = I - 11^T/n``. With ``Kc = U diag(s) U^T`` the hat
matrix is ``11^T/n + U diag(s/(s+alpha)) U^T``, so every alpha's fitted values and
leave-one-out residuals ``e_i / (1 - H_ii)`` (exact for ridge with an unpenalised
intercept) cost one eigendecomposition in total. Nothing of size F x N is ever built.

**A design per target** (:func:`loo_ridge_batched`, :func:`ridge_batched`), the case of
the factored readout's half steps: a design ``A_b`` ``(n, d)`` per target b, solved by
one batched eigendecomposition (or Cholesky factorisation for a fixed penalty) in
whichever of the primal ``(d, d)`` or dual ``(n, n)`` space is smaller. The hat matrix is
``11^T/n + U diag(s^2/(s^2+a)) U^T`` and the LOO residual of stimulus i is
``e_i / (1 - H_ii)`` (Allen 1974; Golub, Heath & Wahba 1979).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from brainbench.readouts.features import FeatureSource
from brainbench.readouts.solvers.common import constant_columns, r2_from_sse


def gram(
    X: FeatureSource, block: int = 256, dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> torch.Tensor:
    """Gram matrix of mean-centred features, accumulated over row blocks.

    Centring by the mean over all n rows changes nothing downstream (kernel centring on
    any training subset removes it) but avoids cancellation in float32. The rows are
    multiplied by the power of two that brings their largest magnitude into ``[0.5, 1)``
    and the products by its inverse square: exact (the Gram matrix is bit for bit the
    same), but the float32 products can neither overflow (activations of 1e20 gave inf)
    nor lose their digits to underflow (1e-20 gave 1e-5 errors, 1e-30 a Gram of zeros).

    Args:
        X: ``(n, ...)`` features: a tensor, array or read-only memmap (never loaded whole).
        block: rows per block.
        dtype: product dtype; default float64 for float64 input, float32 otherwise.
    Returns:
        ``(n, n)`` float64 tensor on ``device``.
    """
    n = X.shape[0]
    if isinstance(X, torch.Tensor):
        device = device or X.device
    device = torch.device(device or "cpu")
    in_dtype = X.dtype if isinstance(X, torch.Tensor) else torch.from_numpy(np.empty(0, X.dtype)).dtype
    dtype = dtype or (torch.float64 if in_dtype == torch.float64 else torch.float32)

    def raw_rows(start: int, stop: int) -> torch.Tensor:
        chunk = X[start:stop]
        if not isinstance(chunk, torch.Tensor):
            chunk = torch.from_numpy(np.array(chunk, copy=not chunk.flags.writeable))
        return chunk.reshape(stop - start, -1).to(device=device, dtype=dtype)

    total = torch.zeros(raw_rows(0, 1).shape[1], dtype=torch.float64, device=device)
    peak = torch.zeros((), dtype=torch.float64, device=device)
    for start in range(0, n, block):
        chunk = raw_rows(start, min(n, start + block))
        # sum in the product dtype, accumulate blocks in float64: a float64 reduction of
        # float32 rows is ~10x slower and this mean only needs to be roughly right (any
        # offset cancels in kernel centring; it only limits float32 cancellation)
        total += chunk.sum(0).double()
        if chunk.numel():
            peak = torch.maximum(peak, chunk.abs().amax().double())
    # the power of two 2**-e with peak * 2**-e in [0.5, 1); e kept where 2**-e is a
    # normal number of the product dtype (non-finite or zero features: no scaling)
    e = int(np.frexp(peak.item())[1]) if np.isfinite(peak.item()) else 0
    limit = int(np.log2(torch.finfo(dtype).max)) - 2
    e = max(-limit, min(limit, e))
    scale = 2.0**-e

    def rows(start: int, stop: int) -> torch.Tensor:
        return raw_rows(start, stop) * scale if e else raw_rows(start, stop)

    mean = (total * scale / n).to(dtype)
    K = torch.empty((n, n), dtype=torch.float64, device=device)
    for i in range(0, n, block):
        left = rows(i, min(n, i + block)) - mean
        for j in range(i, n, block):
            right = left if j == i else rows(j, min(n, j + block)) - mean
            product = (left @ right.T).double() * 2.0**e * 2.0**e  # exact, in two factors that never overflow
            K[i : i + left.shape[0], j : j + right.shape[0]] = product
            K[j : j + right.shape[0], i : i + left.shape[0]] = product.T
    return K


def center_train(K_train: torch.Tensor) -> torch.Tensor:
    """``H K H`` for an ``(n, n)`` training Gram matrix."""
    row = K_train.mean(0, keepdim=True)
    return K_train - row - row.T + K_train.mean()


def mean_eigenvalue(K_train: torch.Tensor) -> torch.Tensor:
    """Mean eigenvalue ``trace(H K H) / n`` of an ``(n, n)`` training Gram matrix: the scale of its penalties.

    Scaling the features by c scales it by c^2, so a grid of relative penalties times
    this value gives the same predictions at every scale. It has no absolute floor (an
    untrained network's deep layers reach 1e-13, a layer x 1e-8 far less): the floor is
    relative to the data, ``eps * mean(|diag K|)``, the rounding left where centring
    cancels features that are constant up to rounding. A layer of zeros, where every
    penalty gives the same predictions (the training mean), gets 1 so that no
    penalty is 0. Returns a 0-d tensor in ``K_train``'s dtype.
    """
    scale = torch.diagonal(center_train(K_train)).mean()
    floor = torch.finfo(K_train.dtype).eps * torch.diagonal(K_train).abs().mean()
    scale = torch.maximum(scale, floor)
    return torch.where(scale > 0, scale, torch.ones_like(scale))


def center_test(K_test_train: torch.Tensor, K_train: torch.Tensor) -> torch.Tensor:
    """Centre ``(m, n)`` test-by-train kernel rows consistently with :func:`center_train`."""
    return K_test_train - K_train.mean(0, keepdim=True) - K_test_train.mean(1, keepdim=True) + K_train.mean()


@dataclass
class DualRidgeFit:
    """A fitted dual ridge with one alpha per neuroid.

    Attributes:
        coef: ``(n, N)`` dual coefficients on the centred training kernel.
        y_mean: ``(N,)`` training means (the intercept).
        alpha: ``(N,)`` chosen alphas.
        loo_r2: ``(N,)`` leave-one-out R^2 at the chosen alpha (training data only).
        loo_mse: ``(A, N)`` leave-one-out mean squared error for every candidate alpha.
    """

    coef: torch.Tensor
    y_mean: torch.Tensor
    alpha: torch.Tensor
    loo_r2: torch.Tensor
    loo_mse: torch.Tensor


def fit_dual_ridge_loo(
    K_train: torch.Tensor, Y: torch.Tensor, alphas: torch.Tensor, neuroid_batch: int = 4096
) -> DualRidgeFit:
    """Fit ridge for every alpha and keep, per neuroid, the one with least LOO error.

    Args:
        K_train: ``(n, n)`` uncentred Gram matrix of the training stimuli.
        Y: ``(n, N)`` training responses.
        alphas: ``(A,)`` positive candidate penalties (absolute, same units as K).
        neuroid_batch: neuroids per batch (bounds memory at a few ``n * batch`` arrays).
    """
    K_train = K_train.double()
    Y = Y.to(K_train)
    alphas = alphas.to(K_train)
    n = K_train.shape[0]
    s, U = torch.linalg.eigh(center_train(K_train))
    s = s.clamp_min(0)
    y_mean = Y.mean(0)
    # a constant neuroid centres to rounding residue (0.1 - mean(0.1, ...) is 1e-17, not 0),
    # whose LOO "R^2" would be about -2/n instead of the 0 of no variance: centre it to 0
    Yc = torch.where(constant_columns(Y), torch.zeros_like(Y), Y - y_mean)
    Q = U.T @ Yc  # (n, N) responses in the eigenbasis
    shrink = s[None, :] / (s[None, :] + alphas[:, None])  # (A, n)
    leverage = 1.0 / n + (U**2) @ shrink.T  # (n, A): diagonal of the hat matrix
    sst = (Yc**2).mean(0)
    loo_mse = torch.empty((len(alphas), Y.shape[1]), dtype=K_train.dtype, device=K_train.device)
    for start in range(0, Y.shape[1], neuroid_batch):
        cols = slice(start, start + neuroid_batch)
        # one alpha at a time: an (A, n, b) batch is memory-bound on CPU (3x slower measured)
        for a in range(len(alphas)):
            fitted = U @ (shrink[a, :, None] * Q[:, cols])  # (n, b), centred
            loo = (Yc[:, cols] - fitted) / (1.0 - leverage[:, a, None])
            loo_mse[a, cols] = (loo**2).mean(0)
    best = loo_mse.argmin(0)
    alpha = alphas[best]
    coef = U @ (Q / (s[:, None] + alpha[None, :]))
    best_mse = loo_mse.gather(0, best[None]).squeeze(0)
    loo_r2 = r2_from_sse(best_mse, sst)
    return DualRidgeFit(coef=coef, y_mean=y_mean, alpha=alpha, loo_r2=loo_r2, loo_mse=loo_mse)


def predict_dual_ridge(fit: DualRidgeFit, K_test_train: torch.Tensor, K_train: torch.Tensor) -> torch.Tensor:
    """``(m, N)`` predictions from the ``(m, n)`` test-by-train kernel."""
    Kc = center_test(K_test_train.double(), K_train.double())
    return fit.y_mean + Kc @ fit.coef


def loo_ridge_batched(
    A: torch.Tensor, y: torch.Tensor, alphas: torch.Tensor, relative: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
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
        s2, Vv = torch.linalg.eigh(A.transpose(1, 2) @ A)  # (B,d), (B,d,d)
        s2 = s2.clamp_min(0)
        inv = torch.where(
            s2 > 1e-12 * s2.amax(1, keepdim=True).clamp_min(1e-300), s2.clamp_min(1e-300).rsqrt(), torch.zeros_like(s2)
        )
        U = (A @ Vv) * inv[:, None, :]  # (B,n,d)
    else:
        s2, U = torch.linalg.eigh(A @ A.transpose(1, 2))  # (B,n), (B,n,n)
        s2 = s2.clamp_min(0)
    scale = s2.sum(1, keepdim=True) / n if relative else torch.ones_like(s2[:, :1])
    grid = alphas.to(A.dtype).to(A.device)[None, :] * scale.clamp_min(1e-30)  # (B, G)
    Uty = torch.einsum("bnr,bn->br", U, y)  # (B, r)
    shrink = s2[:, :, None] / (s2[:, :, None] + grid[:, None, :])  # (B, r, G)
    # every alpha at once: fitted values and hat diagonals are (B, n, G) batched products
    fitted = U @ (shrink * Uty[:, :, None])
    hat = (1.0 / n + U.pow(2) @ shrink).clamp_max(1 - 1e-12)
    scores = r2_from_sse(((y[:, :, None] - fitted) / (1 - hat)).pow(2).sum(1), y.pow(2).sum(1, keepdim=True))
    best = scores.argmax(1)
    alpha = grid.gather(1, best[:, None]).squeeze(1)
    dual = torch.einsum("bnr,br->bn", U, Uty / (s2 + alpha[:, None]))  # (B, n)
    coef = torch.einsum("bnd,bn->bd", A, dual)
    return coef, alpha, scores.gather(1, best[:, None]).squeeze(1)


def ridge_batched(A: torch.Tensor, y: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """One ridge problem per batch element at a given penalty, by Cholesky.

    Solved in the primal ``(A^T A + alpha I) w = A^T y`` when d < n, else in the dual
    ``w = A^T (A A^T + alpha I)^-1 y``.

    Args:
        A: ``(B, n, d)`` designs, centred over the n stimuli.
        y: ``(B, n)`` targets, centred over the n stimuli.
        alpha: ``(B,)`` absolute positive penalties.

    Returns:
        ``coef`` ``(B, d)``.
    """
    _, n, d = A.shape
    alpha = alpha.to(A.dtype)
    if d < n:
        G = A.transpose(1, 2) @ A  # (B, d, d)
        G.diagonal(dim1=1, dim2=2).add_(alpha[:, None])
        L = torch.linalg.cholesky(G)
        rhs = torch.einsum("bnd,bn->bd", A, y)[..., None]
        return torch.cholesky_solve(rhs, L).squeeze(-1)
    G = A @ A.transpose(1, 2)  # (B, n, n)
    G.diagonal(dim1=1, dim2=2).add_(alpha[:, None])
    L = torch.linalg.cholesky(G)
    dual = torch.cholesky_solve(y[..., None], L).squeeze(-1)
    return torch.einsum("bnd,bn->bd", A, dual)


def heldout_ridge_path(
    A: torch.Tensor, y: torch.Tensor, A_val: torch.Tensor, y_val: torch.Tensor, alphas: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Ridge for every candidate penalty of a short grid, scored on held-out rows.

    One Gram matrix (primal ``(B, d, d)`` when d < n, else dual ``(B, n, n)``) and one
    Cholesky factorisation per candidate: cheaper than :func:`loo_ridge_batched`'s
    eigendecomposition when the grid is short.

    Args:
        A: ``(B, n, d)`` designs, centred over the n stimuli; y: ``(B, n)`` centred targets.
        A_val: ``(B, m, d)`` held-out designs and y_val ``(B, m)`` held-out targets, both
            centred with the n stimuli's means.
        alphas: ``(B, G)`` absolute penalties.

    Returns:
        ``coef`` ``(G, B, d)`` and held-out ``r2`` ``(G, B)``.
    """
    _, n, d = A.shape
    primal = d < n
    G = A.transpose(1, 2) @ A if primal else A @ A.transpose(1, 2)
    rhs = torch.einsum("bnd,bn->bd", A, y)[..., None] if primal else y[..., None]
    total = (y_val - y_val.mean(1, keepdim=True)).pow(2).sum(1)
    eye = torch.eye(G.shape[-1], dtype=A.dtype, device=A.device)
    coefs, scores = [], []
    for g in range(alphas.shape[1]):
        L = torch.linalg.cholesky(G + alphas[:, g, None, None].to(A.dtype) * eye)
        sol = torch.cholesky_solve(rhs, L).squeeze(-1)
        coef = sol if primal else torch.einsum("bnd,bn->bd", A, sol)
        coefs.append(coef)
        scores.append(r2_from_sse((y_val - torch.einsum("bmd,bd->bm", A_val, coef)).pow(2).sum(1), total))
    return torch.stack(coefs), torch.stack(scores)
