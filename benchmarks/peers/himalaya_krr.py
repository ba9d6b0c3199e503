"""himalaya ``KernelRidgeCV`` (linear kernel) with the numpy or a torch backend.

himalaya picks each target's alpha by its own inner cross-validation (``cv=5``, its
default; it has no closed-form leave-one-out), from the same absolute alpha grid.
``fit_intercept=True`` centres the kernel like the other methods.
"""

from __future__ import annotations

import numpy as np


def run(
    X: np.ndarray, Y: np.ndarray, splits, alphas: np.ndarray, backend: str = "numpy", device: str = "cpu"
) -> np.ndarray:
    """Pooled out-of-fold predictions ``(n, N)``.

    Args:
        backend: ``numpy`` or ``torch``; with ``device="cuda"`` the torch backend becomes
            himalaya's ``torch_cuda``.
    """
    from himalaya.backend import get_backend, set_backend
    from himalaya.kernel_ridge import KernelRidgeCV

    name = "torch_cuda" if backend == "torch" and device == "cuda" else backend
    set_backend(name, on_error="raise")
    backend_module = get_backend()
    prediction = np.full(Y.shape, np.nan)
    for train, test in splits:
        model = KernelRidgeCV(alphas=alphas, kernel="linear", fit_intercept=True, cv=5)
        model.fit(X[train], Y[train])
        prediction[test] = backend_module.to_numpy(model.predict(X[test]))
    return prediction
