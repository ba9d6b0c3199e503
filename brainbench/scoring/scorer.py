"""The scorer's entry points: :func:`prepare` (stages 1-2) and :func:`score_prepared` (stages
3-6); the stages are described in :mod:`brainbench.scoring`. The one call that runs them all,
finding a stored score first, is :func:`brainbench.results.runs.run` (``brainbench.score``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import xarray as xr

from brainbench.registry import get_registry
from brainbench.registry.registry import Registry
from brainbench.scoring.load import LoadedData, load
from brainbench.scoring.spec import Resolved, RunSpec, resolve, resolve_checked

if TYPE_CHECKING:  # pragma: no cover
    from brainbench.models.base import TorchModel
    from brainbench.models.rdm import RDMModel
    from brainbench.scoring.arguments import CheckedRequest
    from brainbench.scoring.benchmark import Benchmark


def prepare(
    model: str | TorchModel | RDMModel,
    benchmark: str | Benchmark,
    *,
    layers: list[str] | None = None,
    readout: str | None = None,
    readout_params: dict[str, Any] | None = None,
    splits: list | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
    registry: Registry | None = None,
) -> tuple[Resolved, LoadedData, RunSpec]:
    """Stages 1 and 2: the resolved run, its loaded data and its complete spec (with the key).

    The arguments are those of ``brainbench.score``. :mod:`brainbench.results.runs` calls
    :func:`prepare_checked` on the request it checked, to look a run up by its full key
    before deciding whether to score it.
    """
    run = resolve(
        model,
        benchmark,
        layers=layers,
        readout=readout,
        readout_params=readout_params,
        splits=splits,
        seed=seed,
        device=device,
        registry=registry or get_registry(),
    )
    data = load(run, progress=progress)
    return run, data, data.spec


def prepare_checked(
    request: CheckedRequest, *, device: str = "auto", progress: bool = True, network: TorchModel | None = None
) -> tuple[Resolved, LoadedData, RunSpec]:
    """:func:`prepare` of a request checked at the boundary (:func:`brainbench.scoring.arguments.check_request`).

    The request carries every registry entry the run reads; no registry is asked here.
    ``network``: the model's network, already built by the caller (see
    :func:`~brainbench.scoring.spec.resolve_checked`).
    """
    run = resolve_checked(request, device=device, network=network)
    data = load(run, progress=progress)
    return run, data, data.spec


def score_prepared(
    run: Resolved,
    data: LoadedData,
    spec: RunSpec,
    *,
    progress: bool = True,
    use_cache: bool = True,
    batch_size: int = 32,
    threads: int = 1,
    load_s: float = 0.0,
    inputs: Any = None,
) -> xr.Dataset:
    """Stages 3 to 6 on the result of :func:`prepare` (whose key the caller looked up); compute only.

    ``inputs``: a :class:`brainbench.scoring.activations.PlacedImages` shared by several models
    scored on the same stimuli (a trajectory's checkpoints).
    """
    from brainbench.models.preprocess import with_placement
    from brainbench.scoring.activations import get_activations
    from brainbench.scoring.kinds import Features
    from brainbench.scoring.stages import evaluate

    clock = _Clock(started=time.perf_counter() - load_s)
    clock.laps["load_s"] = round(load_s, 3)
    from brainbench.models.rdm import RDMModel

    features: Features
    if isinstance(run.net, RDMModel):  # a model that supplies its RDM: no image reaches it
        features = run.net.features(data.stimuli.ids)
    else:
        prep = with_placement(run.net.preprocessing, run.bench.entry.stimulus_placement)
        features = get_activations(
            run.net,
            data.stimuli,
            list(spec.layers),
            prep,
            run.device,
            batch_size=batch_size,
            progress=progress,
            use_cache=use_cache,
            inputs=inputs,
        )
    clock.lap("activations_s")
    return evaluate(run, data, spec, features, progress, clock, threads)


class _Clock:
    """Wall seconds of consecutive stages of one call."""

    def __init__(self, started: float) -> None:
        self.laps: dict[str, float] = {}
        self._started = started
        self._tick = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._tick, 3)
        self._tick = now

    def finish(self) -> dict[str, float]:
        """The laps plus ``elapsed_s``: this call only, not the process (a notebook, a worker)."""
        self.laps["elapsed_s"] = round(time.perf_counter() - self._started, 3)
        return self.laps
