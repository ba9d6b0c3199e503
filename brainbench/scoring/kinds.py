"""Benchmark kinds: what a benchmark's declared ``kind`` means to the scorer.

A kind is data the scorer looks up, never a special case inside it: :data:`KINDS` maps
each declared ``kind`` to a :class:`Kind` that says which metric kind its benchmarks
list and whether they fit a readout; :mod:`brainbench.scoring.stages` maps it to its
stages 4-6.

* ``regression``: the readout cross-validated per layer (:mod:`~brainbench.scoring.fit`),
  per-neuroid metrics and the nested headline (:mod:`~brainbench.scoring.measure`), the
  dataset (:mod:`~brainbench.scoring.assemble`).
* ``representation``: no readout. Each layer's RDM is compared directly with each site's
  neural RDM (:mod:`~brainbench.scoring.representation`); a site is a ``region`` of the
  assembly (or all its neuroids), its ceiling the reliability of its RDM.

This module also names what stage 3 hands the later stages (:data:`Features`) and the
clock that times them (:class:`Clock`); it imports nothing of the other stages, so each
of them can import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from brainbench.registry.registry import BENCHMARK_METRIC_KINDS

if TYPE_CHECKING:  # pragma: no cover
    from brainbench.models.rdm import SuppliedRDM
    from brainbench.readouts.features import FeatureSource

#: Stage 3's output: layer -> its activations (a feature source, rows ``(stimulus, ...)``),
#: or, for a model that supplies an RDM, its one "layer"'s ``(stimulus, stimulus)`` matrix.
Features = Mapping[str, "FeatureSource | SuppliedRDM"]


class Clock(Protocol):
    """Wall seconds of the stages of one call (the scorer's clock)."""

    def lap(self, name: str) -> None:
        """Record the seconds since the previous lap as ``name`` (e.g. ``readout_s``)."""

    def finish(self) -> dict[str, float]:
        """Every lap so far plus ``elapsed_s``, the whole call's seconds."""
        ...


@dataclass(frozen=True)
class Kind:
    """One benchmark kind.

    Attributes:
        name: the ``kind`` a benchmark declares.
        metric_kind: the kind of metric entry its ``metrics`` must name.
        uses_readout: whether it fits the benchmark's readout.
    """

    name: str
    metric_kind: str
    uses_readout: bool


KINDS: dict[str, Kind] = {
    "regression": Kind("regression", BENCHMARK_METRIC_KINDS["regression"], True),
    "representation": Kind("representation", BENCHMARK_METRIC_KINDS["representation"], False),
}
