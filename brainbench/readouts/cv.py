"""Cross-validation of any readout: the one split loop.

The readout reads the feature source once (:meth:`Readout.prepare`: a Gram matrix, the
whole tensor, ...), then an unfitted clone is fitted per split on its training stimuli
and predicts its test stimuli. The readout passed in is never fitted, so calling this
twice gives the same result.
"""

from __future__ import annotations

import numpy as np
import torch

from brainbench.data.splits import Split
from brainbench.readouts.base import CVResult, Readout, clone, pool_predictions
from brainbench.readouts.features import FeatureSource


def cross_validate(
    readout: Readout,
    features: FeatureSource,
    Y: torch.Tensor,
    splits: list[Split],
    device: torch.device | str | None = None,
) -> CVResult:
    """Fit on each split's train stimuli, predict its test stimuli.

    Args:
        readout: an (unfitted) readout; only its parameters are used.
        features: ``(n, ...)`` feature source (:class:`brainbench.scoring.activations.NpyRows`,
            an array or a tensor).
        Y: ``(n, N)`` responses, a tensor on the compute device.
        splits: train/test positions into the n stimuli.
        device: compute device (default: ``Y.device``).

    Returns:
        Out-of-fold predictions, per-split predictions, training-only validation scores
        ``(n_splits, N)``, the chosen hyperparameters and ``info["solver"]``.
    """
    Y = torch.as_tensor(Y)
    device = torch.device(device) if device is not None else Y.device
    Y = Y.to(device)
    n, N = Y.shape
    prepared = readout.prepare(features, device)
    split_predictions = np.full((len(splits), n, N), np.nan)
    val = np.full((len(splits), N), np.nan)
    params: dict[str, list[np.ndarray]] = {}
    solver = getattr(readout, "solver", "unknown")
    for k, split in enumerate(splits):
        train = torch.as_tensor(split.train, device=device)
        test = torch.as_tensor(split.test, device=device)
        fitted = clone(readout).fit_prepared(prepared, Y, train)
        split_predictions[k, split.test] = fitted.predict_prepared(prepared, test).double().cpu().numpy()
        val[k] = fitted.validation_score().double().cpu().numpy()
        for name, value in fitted.chosen_params().items():
            params.setdefault(name, []).append(value.double().cpu().numpy())
        solver = getattr(fitted, "solver_", solver)
    return CVResult(
        predictions=pool_predictions(split_predictions),
        split_predictions=split_predictions,
        val_score=val,
        params={k: np.stack(v) for k, v in params.items()},
        info={"solver": solver},
    )
