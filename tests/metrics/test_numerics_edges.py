"""Numerical edge cases of the metrics and the ridge solver against plain references.

A constant column (every value equal) has no variance, but centring it leaves rounding
residue unless its value happens to be a power of two times its count: 0.1 - mean(0.1 x 37)
is about 1e-17, not 0. The answers must not depend on which constant it is.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainbench.metrics.regression import explained_variance, pearson_r
from brainbench.readouts.solvers.common import r2_columns
from brainbench.readouts.solvers.ridge import fit_dual_ridge_loo

CONSTANTS = [0.1, 1 / 3, 7.7, 3.0]


@pytest.mark.parametrize("value", CONSTANTS)
def test_constant_columns_have_no_r_and_no_r2(value):
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(37, 2))
    flat = np.full((37, 2), value)
    flat[:, 1] = noise[:, 1]  # the other column is ordinary
    assert np.isnan(explained_variance(noise, flat)[0])  # was -8e32 at 0.1
    assert np.isnan(pearson_r(flat, noise)[0])  # was +-1e-17 (a constant prediction)
    assert np.isnan(pearson_r(noise, flat)[0])
    assert pearson_r(flat, noise)[1] == pytest.approx(1.0, abs=1e-15)
    assert explained_variance(noise, flat)[1] == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize("value", CONSTANTS)
def test_ridge_loo_of_a_constant_neuroid_is_zero(value):
    rng = np.random.default_rng(1)
    X = torch.from_numpy(rng.normal(size=(37, 50)))
    Y = torch.from_numpy(rng.normal(size=(37, 2)))
    Y[:, 0] = value
    fit = fit_dual_ridge_loo(X @ X.T, Y, torch.logspace(-2, 4, 7, dtype=torch.float64))
    assert fit.loo_r2[0].item() == 0.0  # no variance, nothing to explain (was about -2/n)
    assert (fit.loo_mse[:, 0] == 0).all()
    assert (fit.coef[:, 0] == 0).all()  # predictions are the training mean exactly
    truth = torch.full((37,), value, dtype=torch.float64)
    assert r2_columns(truth[:, None], truth[:, None] + X[:, :1])[0].item() == 0.0  # was -7e33 at 0.1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_adam_validation_score_of_a_constant_neuroid_is_zero(dtype):
    from brainbench.readouts.sgd import SimpleSGDReadout

    rng = np.random.default_rng(2)
    X = torch.from_numpy(rng.normal(size=(40, 12))).to(dtype)
    Y = torch.from_numpy(rng.normal(size=(40, 2))).to(dtype)
    Y[:, 0] = 0.1
    score = SimpleSGDReadout(max_iter=5).fit(X, Y).validation_score()
    assert score[0].item() == 0.0  # was -inf: 1 - SSE / 0
    assert np.isfinite(score[1].item())


@pytest.mark.parametrize("power", [-70, 70])
def test_float32_gram_is_exact_at_any_scale(power):
    """float32 activations of 1e-21 or 1e21: the Gram is the unit-scale one times 2**(2 power), bit for bit."""
    from brainbench.readouts.solvers.ridge import gram

    rng = np.random.default_rng(3)
    X = np.maximum(rng.normal(size=(40, 3, 5)), 0).astype(np.float32)
    expected = gram(X, block=16) * 2.0 ** (2 * power)
    scaled = gram(np.ldexp(X, power), block=16)  # ldexp is exact in float32
    assert torch.isfinite(scaled).all()  # the float32 products overflowed to inf at 2**70
    assert torch.equal(scaled, expected)  # and lost digits to underflow at 2**-70


@pytest.mark.parametrize("power", [-300, 250])
def test_cka_is_invariant_to_scale_and_rotation_at_any_scale(power):
    from brainbench.metrics.cka import linear_cka

    rng = np.random.default_rng(4)
    X = rng.normal(size=(25, 10))
    Y = rng.normal(size=(25, 7)) + X[:, :7]
    rotation = np.linalg.qr(rng.normal(size=(10, 10)))[0]
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)  # the feature-space form (Kornblith et al. 2019)
    reference = np.linalg.norm(Yc.T @ Xc) ** 2 / (np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc))
    assert linear_cka(X, Y) == pytest.approx(reference, rel=1e-12)
    assert linear_cka(X, X) == pytest.approx(1.0, abs=1e-15)
    assert linear_cka(np.ldexp(X, power), Y) == linear_cka(X, Y)  # was NaN: its sums of squares left float64
    assert linear_cka(X @ rotation * 3.0, Y) == pytest.approx(linear_cka(X, Y), rel=1e-12)
