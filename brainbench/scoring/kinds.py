"""Benchmark kinds: what stages 4-6 are for a benchmark, chosen by its declared ``kind``.

A kind is data the scorer looks up, never a special case inside it: :data:`KINDS` maps
each declared ``kind`` to a :class:`Kind` that says which metric kind its benchmarks
list, whether they fit a readout, and how a layer's features become the score dataset.

* ``regression``: the readout cross-validated per layer (:mod:`~brainbench.scoring.fit`),
  per-neuroid metrics and the nested headline (:mod:`~brainbench.scoring.measure`), the
  dataset (:mod:`~brainbench.scoring.assemble`).
* ``representation``: no readout. Each layer's RDM is compared directly with each site's
  neural RDM (:mod:`~brainbench.scoring.representation`); a site is a ``region`` of the
  assembly (or all its neuroids), its ceiling the reliability of its RDM.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import xarray as xr

from brainbench.registry.registry import BENCHMARK_METRIC_KINDS


@dataclass(frozen=True)
class Kind:
    """One benchmark kind.

    Attributes:
        name: the ``kind`` a benchmark declares.
        metric_kind: the kind of metric entry its ``metrics`` must name.
        uses_readout: whether it fits the benchmark's readout.
        evaluate: ``(run, data, spec, features, progress, clock, threads) -> xr.Dataset``:
            stages 4-6.
    """

    name: str
    metric_kind: str
    uses_readout: bool
    evaluate: Callable[..., xr.Dataset]


def _regression(
    run: Any, data: Any, spec: Any, features: Mapping[str, Any], progress: bool, clock: Any, threads: int
) -> xr.Dataset:
    from brainbench.scoring.assemble import assemble
    from brainbench.scoring.fit import fit
    from brainbench.scoring.measure import measure

    fits = fit(run, data, features, progress=progress)
    clock.lap("readout_s")
    measured = measure(run, data, fits)
    clock.lap("metrics_s")
    return assemble(run, spec, data, measured, features, clock.finish(), threads=threads)


def _representation(
    run: Any, data: Any, spec: Any, features: Mapping[str, Any], progress: bool, clock: Any, threads: int
) -> xr.Dataset:
    from brainbench.scoring.representation import evaluate

    return evaluate(run, data, spec, features, progress=progress, clock=clock, threads=threads)


KINDS: dict[str, Kind] = {
    "regression": Kind("regression", BENCHMARK_METRIC_KINDS["regression"], True, _regression),
    "representation": Kind("representation", BENCHMARK_METRIC_KINDS["representation"], False, _representation),
}
