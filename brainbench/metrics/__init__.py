"""Metrics (prediction vs response, per neuroid) and ceilings (reliability of the data).

The public API (docs/api.md) is the built-in metrics a manifest names, each a plain
function or class following one contract per metric ``kind``:

* ``metric``: ``(prediction (n, N), target (n, N)) -> (N,)`` (:func:`pearson_r`,
  :func:`explained_variance`);
* ``ceiling``: ``(trials (repetition, stimulus, neuroid), **params) -> (N,)``
  (:func:`split_half_reliability`);
* ``ceiled``: ``(r (..., N), ceiling (N,), **params) -> (..., N)`` (:func:`signed_ceiled_r2`);
* ``representation``: a class with ``input`` (``"rdm"`` or ``"gram"``),
  ``compare(model, neural, stimuli=None) -> float`` and ``reliability(trials, seed) -> float``
  (:class:`RDMSimilarity`, :class:`LinearCKA`); :func:`correlation_rdm` and
  :func:`compare` are the RDM helpers behind them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from brainbench.faces import lazy_face

if TYPE_CHECKING:  # pragma: no cover - what mypy and readers see; _HOMES says the same
    from brainbench.metrics.ceiled import signed_ceiled_r2
    from brainbench.metrics.ceiling import split_half_reliability
    from brainbench.metrics.cka import LinearCKA
    from brainbench.metrics.noise_ceiling import nili_noise_ceiling
    from brainbench.metrics.regression import explained_variance, pearson_r
    from brainbench.metrics.rsa import RDMSimilarity, compare, correlation_rdm

#: Where each public name is defined. The face is lazy: importing this package (or any
#: module in it) imports none of them; each is imported on first use.
_HOMES = {
    "signed_ceiled_r2": "brainbench.metrics.ceiled",
    "split_half_reliability": "brainbench.metrics.ceiling",
    "LinearCKA": "brainbench.metrics.cka",
    "nili_noise_ceiling": "brainbench.metrics.noise_ceiling",
    "explained_variance": "brainbench.metrics.regression",
    "pearson_r": "brainbench.metrics.regression",
    "RDMSimilarity": "brainbench.metrics.rsa",
    "compare": "brainbench.metrics.rsa",
    "correlation_rdm": "brainbench.metrics.rsa",
}

__all__ = [
    "LinearCKA",
    "RDMSimilarity",
    "compare",
    "correlation_rdm",
    "explained_variance",
    "nili_noise_ceiling",
    "pearson_r",
    "signed_ceiled_r2",
    "split_half_reliability",
]

if not TYPE_CHECKING:  # mypy reads the imports above: a misspelt name is an error, not Any
    __getattr__, __dir__ = lazy_face(__name__, _HOMES, __all__)
