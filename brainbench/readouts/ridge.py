"""The ``simple`` readout: exact ridge regression, per-neuroid alpha by leave-one-out.

Eq. 1 of the reference paper (a weight per feature and neuroid plus a bias) with an L2
penalty, solved exactly in the dual (stimulus x stimulus) form; see
:mod:`brainbench.readouts.solvers.ridge` for the maths. In cross-validation
:meth:`RidgeReadout.prepare` streams one Gram matrix of all stimuli from row blocks; it
serves every split, and each split's alpha is chosen per neuroid by closed-form
leave-one-out on that split's training stimuli only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from brainbench.errors import BrainbenchError
from brainbench.readouts.base import Readout
from brainbench.readouts.features import FeatureSource
from brainbench.readouts.solvers.common import parse_alphas
from brainbench.readouts.solvers.ridge import fit_dual_ridge_loo, gram, mean_eigenvalue, predict_dual_ridge

ALPHA_SCALES = ("mean-eigenvalue", "none")


class RidgeReadout(Readout):
    """Ridge regression with an unpenalised intercept and per-neuroid alpha.

    Args:
        alphas: candidate penalties: a list of values, or ``{start, stop, num}`` giving
            ``10**linspace(start, stop, num)``.
        alpha_scale: ``"mean-eigenvalue"`` multiplies the candidates by the mean
            eigenvalue of the centred training Gram matrix (so one grid suits layers of
            any scale); ``"none"`` uses them as absolute penalties.
        neuroid_batch: neuroids per batch in the leave-one-out search.
        solver: only ``"exact-dual"``.
    """

    SOLVERS = {"exact-dual": fit_dual_ridge_loo}
    name = "simple"

    def __init__(
        self,
        alphas: Sequence[float] | Mapping[str, float] = (0.1, 1.0, 10.0),
        alpha_scale: str = "mean-eigenvalue",
        neuroid_batch: int = 4096,
        solver: str = "exact-dual",
    ) -> None:
        self.alphas = alphas
        self.alpha_scale = alpha_scale
        self.neuroid_batch = neuroid_batch
        self.solver = solver

    def _validate(self) -> None:
        self.resolve_solver()
        if self.alpha_scale not in ALPHA_SCALES:
            raise BrainbenchError(f"alpha_scale must be 'mean-eigenvalue' or 'none', not {self.alpha_scale!r}.")

    def _candidates(self, K_train: torch.Tensor) -> torch.Tensor:
        grid = parse_alphas(self.alphas).to(K_train.device)
        if self.alpha_scale == "mean-eigenvalue":
            grid = grid * mean_eigenvalue(K_train.double())
        return grid

    # ------------------------------------------------------------------ on a Gram matrix
    def prepare(self, features: FeatureSource, device: torch.device | str) -> torch.Tensor:
        """``(n, n)`` float64 Gram matrix of ``features`` ``(n, ...)``, streamed in row blocks."""
        self._validate()
        return gram(features, device=device)

    def fit_prepared(self, prepared: torch.Tensor, Y: torch.Tensor, rows: torch.Tensor) -> RidgeReadout:
        """Fit on the ``rows`` of the Gram matrix ``prepared`` ``(n, n)`` and ``Y[rows]``."""
        self._validate()
        K = prepared.double()
        self.rows_ = rows
        self.K_train_ = K[rows][:, rows]
        Y_train = Y.to(device=K.device, dtype=torch.float64)[rows]
        self.fit_ = self.solver_function()(self.K_train_, Y_train, self._candidates(self.K_train_), self.neuroid_batch)
        self.val_score_ = self.fit_.loo_r2
        self.alpha_ = self.fit_.alpha
        self.solver_ = self.solver
        return self

    def predict_prepared(self, prepared: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """``(len(rows), N)`` predictions from the Gram matrix rows of the stimuli ``rows``."""
        return predict_dual_ridge(self.fit_, prepared.double()[rows][:, self.rows_], self.K_train_)

    # ------------------------------------------------------------------ on tensors
    def fit(self, X: torch.Tensor, Y: torch.Tensor) -> RidgeReadout:
        """Fit on ``X (n, ...)`` and ``Y (n, N)``; keeps the training features for predict."""
        self._validate()
        self.X_train_ = X.reshape(X.shape[0], -1)
        K = (self.X_train_ @ self.X_train_.T).double()
        return self.fit_prepared(K, Y, torch.arange(X.shape[0], device=K.device))

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        """``(m, N)`` predictions for ``X (m, ...)``."""
        K_test = (X.reshape(X.shape[0], -1) @ self.X_train_.T).double()
        return predict_dual_ridge(self.fit_, K_test, self.K_train_)

    def chosen_params(self) -> dict[str, torch.Tensor]:
        return {"alpha": self.alpha_}
