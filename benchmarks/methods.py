"""Every method the suite compares, as ``run(X, Y, splits, alphas, device) -> (n, N)``.

``X (n, C, H, W)`` float32 features, ``Y (n, N)`` float64 responses, ``splits`` a list of
``(train, test)`` index arrays, ``alphas (A,)`` absolute ridge penalties (computed once
per layer by the suite), ``device`` ``cpu`` or ``cuda``. Each returns pooled
out-of-fold predictions. Imports happen inside the functions: a worker process imports
only what its one method needs (the Brain-Score worker runs in another environment).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def brainbench_simple(X, Y, splits, alphas, device="cpu"):
    """brainbench ``simple``: ``RidgeReadout(alphas=<same list>, alpha_scale="none")``."""
    import torch

    from brainbench.data.splits import Split
    from brainbench.readouts.cv import cross_validate
    from brainbench.readouts.ridge import RidgeReadout

    readout = RidgeReadout(alphas=list(map(float, alphas)), alpha_scale="none")
    Y_t = torch.as_tensor(Y, dtype=torch.float64, device=device)
    cv = cross_validate(readout, X, Y_t, [Split(train=tr, test=te) for tr, te in splits])
    return cv.predictions


def _brainbench_registered(readout_id: str, solver: str) -> Callable:
    def run(X, Y, splits, alphas, device="cpu"):
        """brainbench ``{readout_id}`` readout, its registered grids, solver ``{solver}``."""
        import torch

        from brainbench.data.splits import Split
        from brainbench.readouts.cv import cross_validate
        from brainbench.registry import get_registry, load_object

        python_name, _, params = get_registry().resolve_readout(readout_id)
        readout = load_object(python_name)(**{**params, "solver": solver})
        X_t = torch.as_tensor(np.ascontiguousarray(X), device=device)
        Y_t = torch.as_tensor(Y, dtype=torch.float32, device=device)
        cv = cross_validate(readout, X_t, Y_t, [Split(train=tr, test=te) for tr, te in splits])
        return cv.predictions

    return run


def reference_dual(X, Y, splits, alphas, device="cpu"):
    """The plain numpy/scipy dual ridge of :mod:`reference` (CPU only)."""
    from reference import dual_ridge_loo_cv

    return dual_ridge_loo_cv(X.reshape(X.shape[0], -1), Y, splits, np.asarray(alphas))


def reference_dual_torch(X, Y, splits, alphas, device="cpu"):
    """The same plain reference with torch for the Gram matrix and eigh (for the GPU table)."""
    import torch

    Xt = torch.as_tensor(np.ascontiguousarray(X.reshape(X.shape[0], -1)), device=device)
    Xt = Xt - Xt.mean(0)
    K = (Xt @ Xt.T).double()
    del Xt
    Yt = torch.as_tensor(Y, dtype=torch.float64, device=device)
    alphas_t = torch.as_tensor(np.asarray(alphas), dtype=torch.float64, device=device)
    prediction = np.full(Y.shape, np.nan)
    for train, test in splits:
        tr = torch.as_tensor(train, device=device)
        te = torch.as_tensor(test, device=device)
        Kt = K[tr][:, tr]
        row = Kt.mean(0)
        s, U = torch.linalg.eigh(Kt - row[None] - row[:, None] + row.mean())
        s = s.clamp_min(0)
        y_mean = Yt[tr].mean(0)
        Yc = Yt[tr] - y_mean
        Q = U.T @ Yc
        shrink = s[None] / (s[None] + alphas_t[:, None])  # (A, n)
        leverage = 1.0 / len(train) + (U**2) @ shrink.T  # (n, A)
        loo = (Yc[None] - U[None] @ (shrink[:, :, None] * Q[None])) / (1 - leverage.T)[:, :, None]
        best = (loo**2).mean(1).argmin(0)
        coef = U @ (Q / (s[:, None] + alphas_t[best][None]))
        Kx = K[te][:, tr]
        prediction[test] = (y_mean + (Kx - row[None] - Kx.mean(1, keepdim=True) + row.mean()) @ coef).cpu().numpy()
    return prediction


def sklearn_ridgecv(X, Y, splits, alphas, device="cpu"):
    from peers.sklearn_ridge import run

    return run(X.reshape(X.shape[0], -1), Y, splits, np.asarray(alphas))


def himalaya_numpy(X, Y, splits, alphas, device="cpu"):
    from peers.himalaya_krr import run

    return run(X.reshape(X.shape[0], -1), Y, splits, np.asarray(alphas), backend="numpy")


def himalaya_torch(X, Y, splits, alphas, device="cpu"):
    from peers.himalaya_krr import run

    return run(X.reshape(X.shape[0], -1), Y, splits, np.asarray(alphas), backend="torch", device=device)


def brainscore_pls(X, Y, splits, alphas, device="cpu"):
    from peers.brainscore_pls import run

    return run(X.reshape(X.shape[0], -1), Y, splits)


METHODS: dict[str, Callable] = {
    "brainbench-simple": brainbench_simple,
    "reference-dual": reference_dual,
    "reference-dual-torch": reference_dual_torch,
    "sklearn-ridgecv": sklearn_ridgecv,
    "himalaya-numpy": himalaya_numpy,
    "himalaya-torch": himalaya_torch,
    "brainscore-pls": brainscore_pls,
    "brainbench-spatial-exact": _brainbench_registered("spatial", "exact"),
    "brainbench-spatial-adam": _brainbench_registered("spatial", "adam"),
    "brainbench-factored-als": _brainbench_registered("factored", "als"),
    "brainbench-factored-adam": _brainbench_registered("factored", "adam"),
}
"""Method name -> runner. ``brainbench-spatial-*``/``-factored-*`` use their own
registered hyperparameter grids (they have no single alpha), on the same data and splits."""

PREIMPORT: dict[str, list[str]] = {
    "brainbench": ["torch", "brainbench.readouts.ridge", "brainbench.readouts.base", "brainbench.registry"],
    "reference-dual-torch": ["torch"],
    "reference-dual": ["scipy.linalg"],
    "sklearn": ["sklearn.linear_model"],
    "himalaya": ["torch", "himalaya.kernel_ridge", "himalaya.backend"],
    "brainscore": ["brainscore_vision", "brainscore_vision.metrics.regression_correlation"],
}
"""Modules a worker imports before the clock starts (prefix of the method name -> modules)."""
