"""The benchmark suite's own comparison, once, on tiny generated data.

The suite's plain reference, brainbench's ``simple`` readout and scikit-learn's RidgeCV
compute the same exact per-neuroid-alpha ridge, so given the same features, splits and
absolute alpha grid their out-of-fold predictions must agree.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers.benchmarks import load

methods = load("methods")
suite = load("run")


@pytest.fixture()
def tiny():
    rng = np.random.default_rng(3)
    n, N = 48, 6
    X = rng.standard_normal((n, 4, 5, 5)).astype(np.float32) + 2.0
    W = rng.standard_normal((100, N))
    Y = X.reshape(n, -1) @ W * 0.1 + rng.standard_normal((n, N)) * np.linspace(0.2, 3, N)
    splits = suite.kfold(n, seed=0, n_splits=4)
    alphas = 10.0**suite.ALPHA_EXPONENTS * suite.mean_eigenvalue(X)
    return X, Y, splits, alphas


def test_mean_eigenvalue_is_trace_of_centred_gram_over_n(tiny):
    X = tiny[0].reshape(48, -1).astype(np.float64)
    Xc = X - X.mean(0)
    eig = np.linalg.eigvalsh(Xc @ Xc.T)
    assert suite.mean_eigenvalue(tiny[0], block=7) == pytest.approx(eig.mean(), rel=1e-6)


def test_reference_brainbench_and_sklearn_agree(tiny):
    X, Y, splits, alphas = tiny
    reference = methods.reference_dual(X, Y, splits, alphas)
    ours = methods.brainbench_simple(X, Y, splits, alphas)
    assert np.isfinite(reference).all()
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-5)
    sklearn = pytest.importorskip("sklearn")
    del sklearn
    theirs = methods.sklearn_ridgecv(X, Y, splits, alphas)
    np.testing.assert_allclose(theirs, reference, rtol=1e-4, atol=1e-5)
    torch_reference = methods.reference_dual_torch(X, Y, splits, alphas)
    np.testing.assert_allclose(torch_reference, reference, rtol=1e-4, atol=1e-5)
