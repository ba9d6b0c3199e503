"""Readouts that cheat, for the scorer's leakage guard (registered by tests/test_leakage.py)."""

from __future__ import annotations

import numpy as np
import torch

from brainbench.readouts.base import CVResult, Readout, pool_predictions
from brainbench.readouts.ridge import RidgeReadout


class FitsOnEveryStimulus(RidgeReadout):
    """Dual ridge that also fits on each split's test stimuli (the blatant leak)."""

    def cross_validate_gram(self, K, Y, splits):
        everything = [type(s)(train=np.arange(Y.shape[0]), test=s.test) for s in splits]
        return super().cross_validate_gram(K, Y, everything)


class CentresOnAllResponses(Readout):
    """Predicts the mean over *all* stimuli plus a small ridge fit: a subtle intercept leak."""

    solver = "leaky-mean"

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def cross_validate(self, X, Y, splits):
        n, N = Y.shape
        grand_mean = Y.mean(0)  # uses the test stimuli's responses
        split_predictions = np.full((len(splits), n, N), np.nan)
        for k, split in enumerate(splits):
            train = torch.as_tensor(split.train)
            Xt = X[train].reshape(len(split.train), -1).double()
            Yt = Y[train].double() - grand_mean.double()
            weights = torch.linalg.solve(Xt.T @ Xt + self.alpha * torch.eye(Xt.shape[1], dtype=Xt.dtype), Xt.T @ Yt)
            test = torch.as_tensor(split.test)
            pred = X[test].reshape(len(split.test), -1).double() @ weights + grand_mean.double()
            split_predictions[k, split.test] = pred.numpy()
        val = np.zeros((len(splits), N))
        return CVResult(pool_predictions(split_predictions), split_predictions, val)
