"""The ``simple`` readout: exact ridge regression, per-neuroid alpha by leave-one-out.

Eq. 1 of the reference paper (a weight per feature and neuroid plus a bias) with an L2
penalty, solved exactly in the dual (stimulus x stimulus) form; see
:mod:`brainbench.readouts.ridge_solvers` for the maths. In cross-validation one Gram
matrix of all stimuli serves every split, and each split's alpha is chosen per neuroid
by closed-form leave-one-out error on that split's training stimuli only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from brainbench.errors import BrainbenchError
from brainbench.readouts.base import CVResult, Readout, Split, pool_predictions
from brainbench.readouts.ridge_solvers import (
    DualRidgeFit,
    alpha_grid,
    center_train,
    fit_dual_ridge_loo,
    gram,
    predict_dual_ridge,
)


class RidgeReadout(Readout):
    """Ridge regression with an unpenalised intercept and per-neuroid alpha.

    Args:
        alphas: candidate penalties: a list of values, or ``{start, stop, num}`` giving
            ``10**linspace(start, stop, num)``.
        alpha_scale: ``"mean-eigenvalue"`` multiplies the candidates by the mean
            eigenvalue of the centred training Gram matrix (so one grid suits layers of
            any scale); ``"none"`` uses them as absolute penalties.
        neuroid_batch: neuroids per batch in the leave-one-out search.
    """

    uses_gram = True
    solver = "exact-dual"

    def __init__(self, alphas: Sequence[float] | Mapping[str, float] = (0.1, 1.0, 10.0),
                 alpha_scale: str = "mean-eigenvalue", neuroid_batch: int = 4096) -> None:
        if alpha_scale not in ("mean-eigenvalue", "none"):
            raise BrainbenchError(f"alpha_scale must be 'mean-eigenvalue' or 'none', not {alpha_scale!r}.")
        self.alphas = dict(alphas) if isinstance(alphas, Mapping) else [float(a) for a in alphas]
        self.alpha_scale = alpha_scale
        self.neuroid_batch = neuroid_batch

    def _candidates(self, K_train: torch.Tensor) -> torch.Tensor:
        if isinstance(self.alphas, dict):
            grid = alpha_grid(float(self.alphas["start"]), float(self.alphas["stop"]), int(self.alphas["num"]))
        else:
            grid = torch.tensor(self.alphas, dtype=torch.float64)
        if (grid <= 0).any():
            raise BrainbenchError("ridge alphas must be positive.")
        grid = grid.to(K_train.device)
        if self.alpha_scale == "mean-eigenvalue":
            scale = torch.diagonal(center_train(K_train.double())).mean().clamp_min(1e-12)
            grid = grid * scale
        return grid

    # scikit-learn-like API -------------------------------------------------------
    def fit(self, X: torch.Tensor, Y: torch.Tensor) -> RidgeReadout:
        """Fit on ``X (n, ...)`` and ``Y (n, N)``; keeps the training features for predict."""
        self.X_train_ = X.reshape(X.shape[0], -1)
        K = self.X_train_ @ self.X_train_.T
        self.K_train_ = K.double()
        self.fit_ = fit_dual_ridge_loo(self.K_train_, Y, self._candidates(self.K_train_), self.neuroid_batch)
        self.val_score_ = self.fit_.loo_r2
        self.alpha_ = self.fit_.alpha
        return self

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        """``(m, N)`` predictions for ``X (m, ...)``."""
        K_test = (X.reshape(X.shape[0], -1) @ self.X_train_.T).double()
        return predict_dual_ridge(self.fit_, K_test, self.K_train_)

    def chosen_params(self) -> dict[str, torch.Tensor]:
        return {"alpha": self.alpha_}

    # fast cross-validation -------------------------------------------------------
    def cross_validate(self, X, Y: torch.Tensor, splits: list[Split]) -> CVResult:
        """Cross-validate from one Gram matrix of ``X (n, ...)``, streamed in row blocks."""
        return self.cross_validate_gram(gram(X, device=Y.device), Y, splits)

    def cross_validate_gram(self, K: torch.Tensor, Y: torch.Tensor, splits: list[Split]) -> CVResult:
        """Cross-validate from the ``(n, n)`` Gram matrix ``K`` of all stimuli.

        Args:
            K: ``(n, n)`` Gram matrix (any feature centring).
            Y: ``(n, N)`` responses.
            splits: train/test positions.
        """
        K = K.double()
        Y = Y.to(device=K.device, dtype=torch.float64)
        n, N = Y.shape
        split_predictions = np.full((len(splits), n, N), np.nan)
        val = np.empty((len(splits), N))
        alpha = np.empty((len(splits), N))
        for k, split in enumerate(splits):
            train = torch.as_tensor(split.train, device=K.device)
            test = torch.as_tensor(split.test, device=K.device)
            K_train = K[train][:, train]
            fit: DualRidgeFit = fit_dual_ridge_loo(K_train, Y[train], self._candidates(K_train),
                                                   self.neuroid_batch)
            split_predictions[k, split.test] = predict_dual_ridge(fit, K[test][:, train], K_train).cpu().numpy()
            val[k] = fit.loo_r2.cpu().numpy()
            alpha[k] = fit.alpha.cpu().numpy()
        return CVResult(
            predictions=pool_predictions(split_predictions),
            split_predictions=split_predictions,
            val_score=val,
            params={"alpha": alpha},
            info={"solver": self.solver},
        )
