"""The readout contract: a linear map from model features to neuroid responses.

A readout is scikit-learn-like: hyperparameters are constructor arguments, ``fit(X, Y)``
learns state stored in attributes with a trailing underscore and returns ``self``,
``predict(X)`` returns predictions. Inputs are torch tensors; the readout computes on
``X.device`` (CPU or CUDA) and is batched over neuroids.

Shapes:
    X: ``(n, C, H, W)`` convolutional features (spatial readouts use the layout) or
       ``(n, F)`` flat features; readouts that do not need the layout flatten it.
    Y: ``(n, N)`` responses of N neuroids to n stimuli.

:meth:`Readout.cross_validate` runs every split. The default fits once per split; a
readout with a cheaper route (the dual ridge shares one Gram matrix across splits)
overrides it. It returns a :class:`CVResult` whose ``val_score`` is computed from
training data only (leave-one-out or an inner validation split), so that the scorer can
choose a layer without looking at any test fold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class Split:
    """One train/test split of stimulus positions.

    Attributes:
        train: ``(n_train,)`` int64 positions into the stimulus axis.
        test: ``(n_test,)`` int64 positions, disjoint from ``train``.
    """

    train: np.ndarray
    test: np.ndarray


@dataclass
class CVResult:
    """Out-of-fold predictions and training-only validation scores.

    Attributes:
        predictions: ``(n, N)`` float64, each stimulus predicted by the split that held
            it out; NaN for stimuli no split tested (e.g. the train part of a holdout).
        split_predictions: ``(n_splits, n, N)`` float64 predictions of each split's model
            on its own test stimuli, NaN elsewhere (for per-split metrics).
        val_score: ``(n_splits, N)`` float64 validation R^2 from training data only.
        params: chosen hyperparameters, each ``(n_splits, N)`` (e.g. ``{"alpha": ...}``).
        info: anything else worth recording (solver, iterations, timings).
    """

    predictions: np.ndarray
    split_predictions: np.ndarray
    val_score: np.ndarray
    params: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, object] = field(default_factory=dict)


def as_tensor(array, device: torch.device | str | None = None,
              dtype: torch.dtype | None = None) -> torch.Tensor:
    """Convert numpy arrays or memmaps to a tensor on ``device`` without an extra copy."""
    if isinstance(array, torch.Tensor):
        return array.to(device=device or array.device, dtype=dtype or array.dtype)
    array = np.asarray(array)
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor.to(device=device or "cpu", dtype=dtype or tensor.dtype)


def r2_columns(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """Per-column R^2 = 1 - SSE/SST, ``(n, N) -> (N,)``; 0 where SST is 0."""
    resid = ((y_true - y_pred) ** 2).sum(0)
    total = ((y_true - y_true.mean(0)) ** 2).sum(0)
    return torch.where(total > 0, 1 - resid / total.clamp_min(1e-300), torch.zeros_like(total))


class Readout:
    """Base class of every readout. Subclasses implement ``fit`` and ``predict``.

    Class attributes:
        needs_spatial: the readout uses the ``(C, H, W)`` layout of X.
        uses_gram: the readout can work from the ``(n, n)`` Gram matrix alone
            (see :meth:`cross_validate_gram`); the scorer then streams activations.
        solver: a short name of the fitting method, recorded with every score.
    """

    needs_spatial: bool = False
    uses_gram: bool = False
    solver: str = "unknown"

    def fit(self, X: torch.Tensor, Y: torch.Tensor) -> Readout:  # pragma: no cover - contract
        raise NotImplementedError

    def predict(self, X: torch.Tensor) -> torch.Tensor:  # pragma: no cover - contract
        raise NotImplementedError

    def validation_score(self) -> torch.Tensor:
        """``(N,)`` R^2 on training data only (LOO or inner split), set by ``fit``."""
        score = getattr(self, "val_score_", None)
        if score is None:
            raise NotImplementedError(f"{type(self).__name__} does not record a validation score.")
        return score

    def get_params(self) -> dict[str, object]:
        """Constructor arguments (for provenance)."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}

    def chosen_params(self) -> dict[str, torch.Tensor]:
        """Hyperparameters chosen during fit, each ``(N,)``; empty if none."""
        return {}

    def cross_validate(self, X: torch.Tensor, Y: torch.Tensor, splits: list[Split]) -> CVResult:
        """Fit on each split's train stimuli, predict its test stimuli.

        Args:
            X: ``(n, ...)`` features on the compute device.
            Y: ``(n, N)`` responses on the same device.
            splits: train/test positions into the n stimuli.
        """
        n, N = Y.shape
        split_predictions = np.full((len(splits), n, N), np.nan)
        val = np.full((len(splits), N), np.nan)
        params: dict[str, list[np.ndarray]] = {}
        for k, split in enumerate(splits):
            train = torch.as_tensor(split.train, device=X.device)
            test = torch.as_tensor(split.test, device=X.device)
            self.fit(X[train], Y[train])
            split_predictions[k, split.test] = self.predict(X[test]).double().cpu().numpy()
            val[k] = self.validation_score().double().cpu().numpy()
            for name, value in self.chosen_params().items():
                params.setdefault(name, []).append(value.double().cpu().numpy())
        return CVResult(
            predictions=pool_predictions(split_predictions),
            split_predictions=split_predictions,
            val_score=val,
            params={k: np.stack(v) for k, v in params.items()},
            info={"solver": self.solver},
        )


def pool_predictions(split_predictions: np.ndarray) -> np.ndarray:
    """``(n_splits, n, N) -> (n, N)``: each stimulus from the split that tested it.

    Where several splits test the same stimulus (repeated holdouts) their mean is used.
    """
    with np.errstate(invalid="ignore"):
        counts = np.isfinite(split_predictions).sum(0)
        total = np.nansum(split_predictions, axis=0)
        return np.where(counts > 0, total / np.maximum(counts, 1), np.nan)
