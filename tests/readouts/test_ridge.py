"""Exact dual ridge: primal agreement, brute-force leave-one-out, planted R^2."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainbench.data.splits import make_splits
from brainbench.readouts.base import Split
from brainbench.readouts.cv import cross_validate
from brainbench.readouts.ridge import RidgeReadout
from brainbench.readouts.solvers.ridge import fit_dual_ridge_loo, gram, predict_dual_ridge
from brainbench.registry.manifest import SplitSpec


def primal_ridge(X, y, alpha):
    """Ridge with unpenalised intercept by the normal equations (float64)."""
    mean_x, mean_y = X.mean(0), y.mean(0)
    Xc, yc = X - mean_x, y - mean_y
    w = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(X.shape[1]), Xc.T @ yc)
    return w, mean_y - mean_x @ w


def test_dual_matches_primal_and_brute_force_loo():
    rng = np.random.default_rng(0)
    n, p, N = 30, 12, 4
    X = rng.normal(size=(n, p)) + 3.0  # offset: the intercept matters
    Y = X @ rng.normal(size=(p, N)) + rng.normal(size=(n, N)) + 5.0
    alphas = np.array([0.1, 3.0, 100.0])
    K = torch.from_numpy(X @ X.T)
    fit = fit_dual_ridge_loo(K, torch.from_numpy(Y), torch.from_numpy(alphas))
    X_test = rng.normal(size=(7, p))
    pred = predict_dual_ridge(fit, torch.from_numpy(X_test @ X.T), K).numpy()
    for j in range(N):
        w, b = primal_ridge(X, Y[:, j], fit.alpha[j].item())
        np.testing.assert_allclose(pred[:, j], X_test @ w + b, rtol=0, atol=1e-8)
    # brute-force leave-one-out for every alpha and neuroid
    for a, alpha in enumerate(alphas):
        errors = np.empty((n, N))
        for i in range(n):
            keep = np.arange(n) != i
            for j in range(N):
                w, b = primal_ridge(X[keep], Y[keep, j], alpha)
                errors[i, j] = Y[i, j] - (X[i] @ w + b)
        np.testing.assert_allclose(fit.loo_mse[a].numpy(), (errors**2).mean(0), rtol=1e-8, atol=1e-10)
    assert np.array_equal(fit.alpha.numpy(), alphas[fit.loo_mse.argmin(0).numpy()])


def test_gram_streams_blocks_of_a_memmap(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(37, 3, 4, 5)).astype(np.float32) + 10
    np.save(tmp_path / "x.npy", X)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    K = gram(mapped, block=8).numpy()
    flat = X.reshape(37, -1).astype(np.float64)
    centred = flat - flat.mean(0)
    np.testing.assert_allclose(K, centred @ centred.T, rtol=1e-4, atol=1e-3)


def test_fit_predict_equals_cross_validate_gram():
    rng = np.random.default_rng(2)
    X = torch.from_numpy(rng.normal(size=(40, 15)))
    Y = torch.from_numpy(rng.normal(size=(40, 3)))
    splits = make_splits(SplitSpec(n_splits=4), 40)
    # cross-validation reads one Gram matrix of all stimuli; fit() builds its own per split
    fast = cross_validate(RidgeReadout(alphas={"start": -2, "stop": 2, "num": 9}), X, Y, splits)
    for k, split in enumerate(splits):
        single = RidgeReadout(alphas={"start": -2, "stop": 2, "num": 9}).fit(X[split.train], Y[split.train])
        np.testing.assert_allclose(fast.predictions[split.test], single.predict(X[split.test]).numpy(), atol=1e-8)
        np.testing.assert_allclose(fast.val_score[k], single.val_score_.numpy(), atol=1e-8)
        np.testing.assert_allclose(fast.params["alpha"][k], single.alpha_.numpy(), rtol=1e-10)


def test_planted_weights_give_the_known_out_of_fold_r2():
    """y = Xw + noise with var(Xw) = var(noise) * 3 -> best possible R^2 = 0.75."""
    rng = np.random.default_rng(3)
    n, p, N = 600, 20, 40
    X = rng.normal(size=(n, p))
    W = rng.normal(size=(p, N))
    signal = X @ W
    noise_sd = np.sqrt(signal.var(0) / 3)
    Y = signal + rng.normal(size=(n, N)) * noise_sd
    splits = make_splits(SplitSpec(n_splits=5), n)
    cv = cross_validate(
        RidgeReadout(alphas={"start": -4, "stop": 2, "num": 13}), torch.from_numpy(X), torch.from_numpy(Y), splits
    )
    from brainbench.metrics.regression import explained_variance

    ev = explained_variance(cv.predictions, Y)
    assert np.median(ev) == pytest.approx(0.75, abs=0.03)
    # the leave-one-out validation score on training folds tracks it too
    assert np.median(cv.val_score) == pytest.approx(0.75, abs=0.03)


def test_per_neuroid_alpha_follows_noise_level():
    """A noisy neuroid needs a larger penalty than a clean one."""
    rng = np.random.default_rng(4)
    n, p = 80, 60
    X = rng.normal(size=(n, p))
    w = rng.normal(size=p)
    clean = X @ w + 0.05 * rng.normal(size=n)
    noisy = X @ w + 20 * rng.normal(size=n)
    K = torch.from_numpy(X @ X.T)
    fit = fit_dual_ridge_loo(K, torch.from_numpy(np.stack([clean, noisy], 1)), torch.logspace(-3, 5, 17))
    assert fit.alpha[1] > 10 * fit.alpha[0]


def test_bad_alphas_refused():
    from brainbench.errors import BrainbenchError

    with pytest.raises(BrainbenchError, match="positive"):
        cross_validate(
            RidgeReadout(alphas=[0.0, 1.0], alpha_scale="none"),
            torch.ones(4, 2, dtype=torch.float64).cumsum(0),
            torch.ones(4, 1, dtype=torch.float64),
            [Split(np.arange(3), np.array([3]))],
        )
