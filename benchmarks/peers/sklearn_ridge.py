"""scikit-learn ``RidgeCV``: per-target alpha by its efficient leave-one-out.

With more features than samples ``RidgeCV`` (``gcv_mode="auto"``) eigendecomposes the
centred ``X X^T`` of each training split: the same exact solution as brainbench's
``simple`` readout, so its median r is the accuracy reference (target: within 0.01).
"""

from __future__ import annotations

import numpy as np


def run(X: np.ndarray, Y: np.ndarray, splits, alphas: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Pooled out-of-fold predictions ``(n, N)``; ``X (n, F)``, ``Y (n, N)``, absolute ``alphas``."""
    from sklearn.linear_model import RidgeCV

    prediction = np.full(Y.shape, np.nan)
    for train, test in splits:
        model = RidgeCV(alphas=alphas, alpha_per_target=True, fit_intercept=True)
        model.fit(X[train], Y[train])
        prediction[test] = model.predict(X[test])
    return prediction
