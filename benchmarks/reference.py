"""A plain exact dual-ridge reference, written here in numpy/scipy on purpose.

The "within 1.5x of a plain reference" target compares brainbench's ``simple`` readout
with the straightforward implementation anyone would write: one Gram matrix of the
mean-centred features for all stimuli; per split, centre the training block,
``scipy.linalg.eigh`` it, pick each neuroid's alpha by closed-form leave-one-out
(``e_i / (1 - H_ii)``, exact for ridge with an unpenalised intercept) and predict the
test stimuli. Same maths as :mod:`brainbench.readouts.solvers.ridge`, independent code.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg


def centred_gram(X: np.ndarray) -> np.ndarray:
    """``(n, n)`` float64 Gram matrix of ``X (n, F)`` after subtracting the column means."""
    Xc = X - X.mean(0, dtype=np.float64).astype(X.dtype)
    return (Xc @ Xc.T).astype(np.float64)


def dual_ridge_loo_cv(
    X: np.ndarray, Y: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]], alphas: np.ndarray
) -> np.ndarray:
    """Pooled out-of-fold predictions ``(n, N)`` of per-neuroid-alpha ridge.

    Args:
        X: ``(n, F)`` float32 features.
        Y: ``(n, N)`` float64 responses.
        splits: ``(train, test)`` index arrays.
        alphas: ``(A,)`` absolute penalties.
    """
    K = centred_gram(X.reshape(X.shape[0], -1))
    prediction = np.full(Y.shape, np.nan)
    for train, test in splits:
        Kt = K[np.ix_(train, train)]
        row = Kt.mean(0)
        Kc = Kt - row[None] - row[:, None] + row.mean()
        s, U = scipy.linalg.eigh(Kc)
        s = np.clip(s, 0, None)
        y_mean = Y[train].mean(0)
        Yc = Y[train] - y_mean
        Q = U.T @ Yc
        n = len(train)
        best_mse = np.full(Y.shape[1], np.inf)
        best_alpha = np.empty(Y.shape[1])
        for alpha in alphas:
            shrink = s / (s + alpha)
            leverage = 1.0 / n + (U**2) @ shrink
            loo = (Yc - U @ (shrink[:, None] * Q)) / (1.0 - leverage)[:, None]
            mse = (loo**2).mean(0)
            better = mse < best_mse
            best_mse[better] = mse[better]
            best_alpha[better] = alpha
        coef = U @ (Q / (s[:, None] + best_alpha[None]))
        Ktest = K[np.ix_(test, train)]
        Ktest_c = Ktest - row[None] - Ktest.mean(1, keepdims=True) + row.mean()
        prediction[test] = y_mean + Ktest_c @ coef
    return prediction
