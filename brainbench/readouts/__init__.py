"""Readouts: linear maps from a layer's features to neuroid responses, and their one CV loop.

The public API (docs/api.md): a readout plugin subclasses :class:`Readout`
(scikit-learn-like ``fit(X, Y)`` / ``predict(X)`` on tensors, optional
``prepare`` / ``fit_prepared`` / ``predict_prepared`` for a cheaper route through
cross-validation, see :mod:`brainbench.readouts.base`); :func:`cross_validate` runs any
readout over train/test splits and returns a :class:`CVResult`. The built-in readouts
are :class:`RidgeReadout` (``simple``), :class:`SimpleSGDReadout` (``simple-sgd``),
:class:`SpatialReadout` (``spatial``) and :class:`FactoredReadout` (``factored``). A
:class:`FeatureSource` is what a readout reads (``(n, ...)`` rows by slices);
:func:`load_rows` and :func:`row_blocks` are the two ways to read one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from brainbench.faces import lazy_face

if TYPE_CHECKING:  # pragma: no cover - what mypy and readers see; _HOMES says the same
    from brainbench.readouts.base import CVResult, Readout, clone, pool_predictions
    from brainbench.readouts.cv import cross_validate
    from brainbench.readouts.factored import FactoredReadout
    from brainbench.readouts.features import FeatureSource, load_rows, row_blocks
    from brainbench.readouts.ridge import RidgeReadout
    from brainbench.readouts.sgd import SimpleSGDReadout
    from brainbench.readouts.spatial import SpatialReadout

#: Where each public name is defined. The face is lazy: importing this package (or any
#: module in it) imports none of them; each is imported on first use.
_HOMES = {
    "CVResult": "brainbench.readouts.base",
    "Readout": "brainbench.readouts.base",
    "clone": "brainbench.readouts.base",
    "pool_predictions": "brainbench.readouts.base",
    "cross_validate": "brainbench.readouts.cv",
    "FactoredReadout": "brainbench.readouts.factored",
    "FeatureSource": "brainbench.readouts.features",
    "load_rows": "brainbench.readouts.features",
    "row_blocks": "brainbench.readouts.features",
    "RidgeReadout": "brainbench.readouts.ridge",
    "SimpleSGDReadout": "brainbench.readouts.sgd",
    "SpatialReadout": "brainbench.readouts.spatial",
}

__all__ = [
    "CVResult",
    "FactoredReadout",
    "FeatureSource",
    "Readout",
    "RidgeReadout",
    "SimpleSGDReadout",
    "SpatialReadout",
    "clone",
    "cross_validate",
    "load_rows",
    "pool_predictions",
    "row_blocks",
]

if not TYPE_CHECKING:  # mypy reads the imports above: a misspelt name is an error, not Any
    __getattr__, __dir__ = lazy_face(__name__, _HOMES, __all__)
