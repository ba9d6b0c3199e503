"""Readouts that cheat, for the scorer's leakage guard (registered by tests/scoring/test_leakage.py)."""

from __future__ import annotations

import torch

from brainbench.readouts.base import Readout
from brainbench.readouts.ridge import RidgeReadout


class FitsOnEveryStimulus(RidgeReadout):
    """Dual ridge that also fits on each split's test stimuli (the blatant leak)."""

    def fit_prepared(self, prepared, Y, rows):
        return super().fit_prepared(prepared, Y, torch.arange(Y.shape[0], device=Y.device))


class CentresOnAllResponses(Readout):
    """Predicts the mean over *all* stimuli plus a small ridge fit: a subtle intercept leak."""

    name = "leaky-mean"

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def fit_prepared(self, prepared, Y, rows):
        self.grand_mean_ = Y.double().mean(0)  # uses the test stimuli's responses
        Xt = prepared[rows].double()
        Yt = Y[rows].double() - self.grand_mean_
        eye = torch.eye(Xt.shape[1], dtype=Xt.dtype)
        self.weights_ = torch.linalg.solve(Xt.T @ Xt + self.alpha * eye, Xt.T @ Yt)
        self.val_score_ = torch.zeros(Y.shape[1], dtype=torch.float64)
        return self

    def predict_prepared(self, prepared, rows):
        return prepared[rows].double() @ self.weights_ + self.grand_mean_
