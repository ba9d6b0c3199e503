"""Stage 4, fit: the benchmark's readout cross-validated on each layer's features.

The scorer hands the readout each layer's feature source (rows streamed from the
activation cache) and lets it choose its own input form; see
:mod:`brainbench.readouts.base`. Before any score is kept, one split is refitted with its
test responses hidden (:func:`check_no_test_leak`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from brainbench.errors import BrainbenchError
from brainbench.readouts.base import CVResult, Readout, grid_shape
from brainbench.readouts.features import FeatureSource
from brainbench.scoring.load import LoadedData
from brainbench.scoring.spec import Resolved

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from brainbench.data.splits import Split


class LeakageError(BrainbenchError):
    """A readout whose test predictions depend on the responses of its test stimuli."""


def cross_validate(readout: Readout, features: FeatureSource, Y: torch.Tensor, splits: list[Split]) -> CVResult:
    """Cross-validate ``readout`` on one layer's feature source ``(n, ...)`` and responses ``Y (n, N)``.

    The readout reads the source in the form it needs (:meth:`~brainbench.readouts.base.Readout.prepare`);
    the scorer never looks inside it.
    """
    from brainbench.readouts.cv import cross_validate as run

    return run(readout, features, Y, splits)


def fit(
    run: Resolved, data: LoadedData, features: Mapping[str, FeatureSource], progress: bool = True
) -> dict[str, CVResult]:
    """Stage 4: one cross-validated fit per layer, then the leakage guard.

    Returns:
        layer -> :class:`~brainbench.readouts.base.CVResult`, in the run's layer order.
    """
    import torch

    from brainbench.progress import tqdm

    Y = torch.as_tensor(data.target, device=run.device)
    readout = run.new_readout()
    if getattr(readout, "spatial", False):  # every layer's grid checked before the first fit
        for layer in run.spec.layers:
            grid_shape(tuple(features[layer].shape), readout.name, layer)
    fits = {}
    for layer in tqdm(
        run.spec.layers, desc=f"{run.bench.identifier} readout", unit="layer", disable=not progress, leave=False
    ):
        fits[layer] = cross_validate(readout, features[layer], Y, data.splits)
    guard = min(run.spec.layers, key=lambda name: int(np.prod(features[name].shape[1:])))
    check_no_test_leak(
        run.new_readout, features[guard], Y, data.splits[0], fits[guard].split_predictions[0], run.spec.readout
    )
    return fits


def check_no_test_leak(
    new_readout: Callable[[], Readout],
    features: FeatureSource,
    Y: torch.Tensor,
    split: Split,
    reference: np.ndarray,
    readout_id: str,
) -> None:
    """Refit one split with its test responses hidden; its test predictions must not change.

    A fresh readout is cross-validated on ``split`` alone with the responses of the
    split's test stimuli set to NaN. A readout that touches them in any arithmetic (a
    fit on all rows, a mean over all stimuli, a penalty chosen on test data) then
    predicts NaN, or something else than it did with them visible.

    Args:
        new_readout: ``() -> Readout``, a fresh instance with the run's parameters.
        features: the layer's features ``(n, ...)``.
        Y: ``(n, N)`` responses on the compute device.
        split: the split to refit.
        reference: ``(n, N)`` that split's predictions from the scoring run.
    Raises:
        LeakageError: naming the readout.
    """
    hidden = Y.clone()
    hidden[split.test] = float("nan")
    guard = cross_validate(new_readout(), features, hidden, [split]).split_predictions[0][split.test]
    expected = reference[split.test]
    scale = float(np.nanstd(expected)) or 1.0
    if not np.isfinite(guard).all() or np.abs(guard - expected).max() > 1e-5 * scale:
        raise LeakageError(
            f"readout {readout_id!r} uses the responses of test stimuli: its test predictions changed when "
            "those responses were hidden, so its scores would be inflated; fit on the training stimuli only."
        )
