"""The eq. 5 Laplacian penalty and the batched LOO ridge solver against hand/brute values."""

from __future__ import annotations

import pytest
import torch

from brainbench.readouts.solvers.laplacian import (
    laplacian,
    laplacian_operator,
    laplacian_penalty,
    penalty_eigh,
)
from brainbench.readouts.solvers.ridge import heldout_ridge_path, loo_ridge_batched

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_penalty_of_a_centred_delta_is_the_sum_of_squared_kernel_entries():
    w = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
    w[0, 0, 1, 1] = 1.0
    # filtered map = the kernel itself: 4 * 0.5^2 + 4 * 1^2 + 6^2 = 41
    assert laplacian_penalty(w).item() == pytest.approx(41.0)


def test_penalty_of_a_2x2_block_uses_zero_padding():
    w = torch.ones(1, 1, 2, 2, dtype=torch.float64)
    # each pixel: -6 (itself) + 1 + 1 (its two neighbours) + 0.5 (diagonal); outside = 0
    out = laplacian(w)
    assert torch.allclose(out, torch.full((1, 1, 2, 2), -3.5, dtype=torch.float64))
    assert laplacian_penalty(w).item() == pytest.approx(4 * 3.5**2)


def test_penalty_sums_over_channels_per_neuroid():
    torch.manual_seed(0)
    w = torch.randn(3, 2, 4, 5, dtype=torch.float64)
    per = laplacian_penalty(w)
    assert per.shape == (3,)
    assert per[1].item() == pytest.approx(laplacian_penalty(w[1:2, :1]).item() + laplacian_penalty(w[1:2, 1:]).item())


def test_operator_quadratic_form_and_eigendecomposition_match_the_convolution():
    torch.manual_seed(1)
    H, W = 4, 5
    w = torch.randn(H * W, dtype=torch.float64)
    lap = laplacian_operator(H, W)
    direct = laplacian_penalty(w.view(1, 1, H, W)).item()
    assert (w @ lap.T @ lap @ w).item() == pytest.approx(direct)
    e, V = penalty_eigh(H, W)
    assert (w @ V @ torch.diag(e) @ V.T @ w).item() == pytest.approx(direct)
    # zero padding makes the operator non-singular: a pure Laplacian penalty is proper
    assert e.min().item() > 1e-6


@pytest.mark.parametrize("d", [4, 30])
def test_batched_loo_ridge_matches_brute_force(d):
    torch.manual_seed(2)
    n = 16
    A = torch.randn(2, n, d, dtype=torch.float64)
    A = A - A.mean(1, keepdim=True)
    y = torch.randn(2, n, dtype=torch.float64)
    y = y - y.mean(1, keepdim=True)
    coef, alpha, loo = loo_ridge_batched(A, y, torch.tensor([0.1, 1.0, 10.0]), relative=False)
    for b in range(2):
        a = alpha[b]
        w = torch.linalg.solve(A[b].T @ A[b] + a * torch.eye(d, dtype=A.dtype), A[b].T @ y[b])
        assert torch.allclose(w, coef[b], atol=1e-10)
        resid = []
        for i in range(n):
            keep = torch.arange(n) != i
            Ai, yi = A[b][keep], y[b][keep]
            mu, my = Ai.mean(0), yi.mean()
            wi = torch.linalg.solve((Ai - mu).T @ (Ai - mu) + a * torch.eye(d, dtype=A.dtype), (Ai - mu).T @ (yi - my))
            resid.append(y[b][i] - my - (A[b][i] - mu) @ wi)
        brute = 1 - torch.stack(resid).pow(2).sum() / y[b].pow(2).sum()
        assert loo[b].item() == pytest.approx(brute.item(), abs=1e-10)


@pytest.mark.parametrize("d", [4, 30])
def test_heldout_ridge_path_matches_direct_solves(d):
    # d = 4 < n solves in the primal, d = 30 > n in the dual: both must equal a direct solve
    torch.manual_seed(3)
    n, m = 16, 7
    A, A_val = torch.randn(2, n, d, dtype=torch.float64), torch.randn(2, m, d, dtype=torch.float64)
    y, y_val = torch.randn(2, n, dtype=torch.float64), torch.randn(2, m, dtype=torch.float64)
    alphas = torch.tensor([[0.1, 1.0, 10.0], [0.5, 5.0, 50.0]], dtype=torch.float64)
    coefs, scores = heldout_ridge_path(A, y, A_val, y_val, alphas)
    assert coefs.shape == (3, 2, d) and scores.shape == (3, 2)
    for b in range(2):
        for g in range(3):
            w = torch.linalg.solve(A[b].T @ A[b] + alphas[b, g] * torch.eye(d, dtype=A.dtype), A[b].T @ y[b])
            assert torch.allclose(coefs[g, b], w, atol=1e-10)
            resid = y_val[b] - A_val[b] @ w
            expected = 1 - resid.pow(2).sum() / (y_val[b] - y_val[b].mean()).pow(2).sum()
            assert torch.allclose(scores[g, b], expected, atol=1e-12)
