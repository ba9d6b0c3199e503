"""Stages 4-6 of each benchmark kind, behind one typed signature (:class:`Evaluate`).

:func:`evaluate` runs the stages that the run's kind (:mod:`brainbench.scoring.kinds`)
names in :data:`STAGES`: the resolved run, its loaded data, its complete spec, each
layer's features, whether to show progress, the clock that times the stages, and the CPU
threads in use go in; the score dataset (layout in :mod:`brainbench.scoring`) comes out.

* ``regression`` (:func:`regression`): fit (:mod:`~brainbench.scoring.fit`), measure
  (:mod:`~brainbench.scoring.measure`), assemble (:mod:`~brainbench.scoring.assemble`).
* ``representation`` (:func:`brainbench.scoring.representation.evaluate`): layer RDMs
  against site RDMs, no readout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, cast

import xarray as xr

from brainbench.scoring.assemble import assemble
from brainbench.scoring.fit import fit
from brainbench.scoring.kinds import Clock, Features
from brainbench.scoring.load import LoadedData
from brainbench.scoring.measure import measure
from brainbench.scoring.representation import evaluate as representation
from brainbench.scoring.spec import Resolved, RunSpec

if TYPE_CHECKING:  # pragma: no cover
    from brainbench.readouts.features import FeatureSource


class Evaluate(Protocol):
    """Stages 4-6 of one benchmark kind: from features to the score dataset."""

    def __call__(
        self,
        run: Resolved,
        data: LoadedData,
        spec: RunSpec,
        features: Features,
        progress: bool,
        clock: Clock,
        threads: int,
    ) -> xr.Dataset:
        """The score dataset of ``run`` on ``data`` (layout in :mod:`brainbench.scoring`)."""
        ...


def regression(
    run: Resolved,
    data: LoadedData,
    spec: RunSpec,
    features: Features,
    progress: bool,
    clock: Clock,
    threads: int,
) -> xr.Dataset:
    """Stages 4-6 of a regression benchmark: the readout per layer, its metrics and headline, the dataset."""
    # activations only: resolve refuses a model that supplies an RDM on a regression benchmark
    fits = fit(run, data, cast("Mapping[str, FeatureSource]", features), progress=progress)
    clock.lap("readout_s")
    measured = measure(run, data, fits)
    clock.lap("metrics_s")
    return assemble(run, spec, data, measured, features, clock.finish(), threads=threads)


#: A benchmark kind's name -> its stages 4-6.
STAGES: dict[str, Evaluate] = {"regression": regression, "representation": representation}


def evaluate(
    run: Resolved,
    data: LoadedData,
    spec: RunSpec,
    features: Features,
    progress: bool,
    clock: Clock,
    threads: int,
) -> xr.Dataset:
    """Stages 4-6 of ``run``'s benchmark kind (:data:`STAGES`): the score dataset."""
    return STAGES[run.kind.name](run, data, spec, features, progress, clock, threads)
