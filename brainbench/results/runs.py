"""Find a run's stored score or compute it: the one path of ``score``, ``leaderboard run``, ``verify``, ``analyze``.

:func:`run` takes a :class:`Request` (what to score: the things that enter the run's
content key) and an :class:`Execution` (how to compute it: device, threads, caches,
progress, an output folder; none of it enters the key; both defined in
:mod:`brainbench.scoring.request` and re-exported here) and, given a
:class:`~brainbench.results.store.ResultStore`, returns

* ``stored``: the stored score of the run's key. First without importing torch, building
  the network or loading the data, when the request's key is remembered
  (:mod:`brainbench.results.known_runs`; a composite's parts each by theirs); else the
  full key is computed by stages 1-2 (:func:`brainbench.scoring.scorer.prepare`) and
  looked up;
* ``scored``: the run computed by stages 3-6 (:func:`brainbench.scoring.scorer.score_prepared`),
  recorded in the store, and its key remembered for the next request of the same kind.

Without a store it just computes (``brainbench.score``, ``leaderboard verify``). The CPU
thread count (:mod:`brainbench.scoring.threads`) is resolved and applied here, once, around
the computation. A composite benchmark's parts go one by one through the same
single-benchmark path (each found or scored and stored as its own run, its features and
predictions freed before the next part is loaded); their aggregation is
:mod:`brainbench.scoring.composite`'s (pure: no store).
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brainbench.errors import BrainbenchError
from brainbench.registry import get_registry
from brainbench.registry.registry import Registry
from brainbench.results import known_runs
from brainbench.results.store import Recorder, ResultStore
from brainbench.scoring.arguments import check_request
from brainbench.scoring.request import Execution, Request

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

    from brainbench.models.base import TorchModel
    from brainbench.models.rdm import RDMModel
    from brainbench.scoring.arguments import CheckedRequest
    from brainbench.scoring.benchmark import Benchmark
    from brainbench.scoring.spec import RunSpec

__all__ = ["SCORED", "STORED", "Execution", "Outcome", "Request", "run", "score"]

#: :attr:`Outcome.status` of a run read from the store / computed by this call.
STORED, SCORED = "stored", "scored"


@dataclass
class Outcome:
    """What :func:`run` did.

    Attributes:
        dataset: the score dataset (layout in :mod:`brainbench.scoring`).
        status: :data:`STORED` (read from the store) or :data:`SCORED` (computed by this call).
        key: the run's content key.
        spec: the run's spec (when found by its remembered key: the remembered content, see
            :meth:`brainbench.scoring.spec.RunSpec.remembered`).
        record_error: why the computed score could not be recorded (only with ``keep_unrecorded``).
    """

    dataset: xr.Dataset
    status: str
    key: str
    spec: RunSpec
    record_error: BrainbenchError | None = None

    @property
    def stored(self) -> bool:
        return self.status == STORED


def run(
    request: Request,
    how: Execution | None = None,
    store: ResultStore | None = None,
    registry: Registry | None = None,
    keep_unrecorded: bool = False,
) -> Outcome:
    """The stored score of ``request`` or, when absent (or ``how.use_cache`` is False), its computed score.

    The boundary of every scoring path: the request and ``how`` are checked here, once
    (:func:`brainbench.scoring.arguments.check_request`: each id looked up once, the options
    checked, one sentence before any work); nothing below looks an id up again.

    Args:
        request: what to score.
        how: how to compute it (default :class:`Execution`).
        store: where to look the run up and record it; None: compute only, record nothing.
        registry: the registry (default: the installed plugins').
        keep_unrecorded: when recording the computed score fails (a full disk), return it with
            the error in :attr:`Outcome.record_error` instead of raising (the CLI shows the
            numbers, then the error).
    Returns:
        The dataset, whether it was stored or scored, and its key.
    """
    how = how or Execution()
    registry = registry or get_registry()
    # the one check of ids and options (each id looked up once, here): one sentence before any work
    checked = check_request(request, how, registry=registry)
    if store is not None:
        store.check()  # a damaged or unwritable store is refused before the work, not after
    recorder = Recorder(store, keep_unrecorded)
    if isinstance(checked.benchmark, str) and checked.benchmark_entry.kind == "composite":
        outcome = _run_composite(checked, how, recorder, registry)
    else:
        outcome = _run_single(checked, how, recorder)
    outcome.record_error = recorder.error
    if how.out is not None:
        from brainbench.identifiers import check_identifier, model_file_name
        from brainbench.scoring.summary import write_score

        attrs = outcome.dataset.attrs
        name = f"{model_file_name(str(attrs['model']))}__{check_identifier(str(attrs['benchmark']), 'benchmark id')}.nc"
        write_score(outcome.dataset, Path(how.out) / name)
    return outcome


def score(
    model: str | TorchModel | RDMModel,
    benchmark: str | Benchmark,
    *,
    layers: list[str] | None = None,
    readout: str | None = None,
    device: str = "auto",
    seed: int = 0,
    out: str | os.PathLike | None = None,
    progress: bool = True,
    use_cache: bool = True,
    batch_size: int = 32,
    registry: Registry | None = None,
    splits: list | None = None,
    readout_params: dict[str, Any] | None = None,
    threads: int | None = None,
) -> xr.Dataset:
    """Score every requested layer of a model on a benchmark (any kind, composites included); store nothing.

    This is ``brainbench.score``: :func:`run` without a store.

    Args:
        model: a model id, a :class:`brainbench.models.base.TorchModel` or an RDM model.
        benchmark: a benchmark id (or alias) or a :class:`brainbench.scoring.benchmark.Benchmark`.
        layers: layer names (default: every layer the model declares).
        readout: a readout id overriding the benchmark's (e.g. ``spatial``, ``s2``).
        device: ``auto``, ``cpu`` or ``cuda``.
        seed: seeds the splits (with the benchmark's own seed), the ceiling halvings and
            any stochastic readout. Same seed, same numbers.
        out: folder to also write ``<model>__<benchmark>.nc`` into.
        use_cache: reuse cached activations.
        batch_size: images per forward pass.
        splits: your own train/test split instead of the benchmark's: a list of
            ``(train_indices, test_indices)`` pairs or :class:`brainbench.data.splits.Split`,
            positions into the assembly's stimulus axis (checked: in range, disjoint,
            non-empty). Recorded in attrs ``custom_splits`` (1/0) and ``split_spec``.
        readout_params: overrides of the readout's declared params, e.g.
            ``{"alphas": [0.1, 1, 10]}`` or ``{"alphas": {"start": -2, "stop": 2, "num": 9}}``;
            each key must be a constructor argument of the readout. Recorded in attrs
            ``readout_params`` (the merged params) and ``readout_overrides``.
        threads: CPU threads for torch and BLAS during the call (default: see
            :mod:`brainbench.scoring.threads`); recorded in attrs ``threads``.
    Returns:
        The score dataset described in :mod:`brainbench.scoring` (a composite's in
        :mod:`brainbench.scoring.composite`).
    """
    request = Request(
        model, benchmark, layers=layers, readout=readout, readout_params=readout_params, splits=splits, seed=seed
    )
    how = Execution(
        device=device, progress=progress, use_cache=use_cache, batch_size=batch_size, threads=threads, out=out
    )
    return run(request, how, store=None, registry=registry).dataset


# ---------------------------------------------------------------------------- one benchmark
def _run_single(
    request: CheckedRequest, how: Execution, recorder: Recorder, network: _Network | None = None
) -> Outcome:
    """One non-composite benchmark: the remembered key, else stages 1-2, the full key, else stages 3-6.

    ``network``: a composite's network, built at its first part that must be computed; the
    part's remembered key is looked up by the request's ids before it is built.
    """
    store = recorder.store
    fingerprint = None  # the request's fingerprint; none for a request with the caller's own splits
    if store is not None and how.use_cache and request.splits is None:
        fingerprint = known_runs.request_inputs(request)
        known = known_runs.known_spec(fingerprint)
        if known is not None:  # no torch, no network, no data: the stored run of a remembered key
            found = store.reusable(known[1], warn=False)
            if found is not None:
                from brainbench.scoring.spec import RunSpec

                return Outcome(found, STORED, known[1], RunSpec.remembered(request, known[0]))
    # imports torch: only when the key must be computed
    from brainbench.scoring.scorer import prepare_checked, score_prepared
    from brainbench.scoring.threads import limit_threads, resolve_threads

    count = resolve_threads(how.threads)
    with limit_threads(count):
        started = time.perf_counter()
        net = None if network is None else network()
        resolved, data, spec = prepare_checked(request, device=how.device, progress=how.progress, network=net)
        if fingerprint is None and request.splits is None:  # not needed until now, or its data just fetched
            fingerprint = known_runs.request_inputs(request)
        known_runs.remember(fingerprint, spec.content)  # found without building or loading next time
        if store is not None and how.use_cache:
            found = store.reusable(spec.key)
            if found is not None:
                return Outcome(found, STORED, spec.key, spec)
        dataset = score_prepared(
            resolved,
            data,
            spec,
            progress=how.progress,
            use_cache=how.use_cache,
            batch_size=how.batch_size,
            threads=count,
            load_s=time.perf_counter() - started,
        )
    recorder.record(dataset)
    return Outcome(dataset, SCORED, spec.key, spec)


# ---------------------------------------------------------------------------- a composite
class _Network:
    """A composite's network: built once, at the first part that must be computed.

    A composite whose parts are all stored under their remembered keys builds none (and
    imports no torch). A network passed as an object is checked at once.
    """

    def __init__(self, request: CheckedRequest, composite: str) -> None:
        self.request, self.composite = request, composite
        self.net: TorchModel | None = None
        if not isinstance(request.model, str):
            self()  # an object: nothing to build, so its refusal comes first

    def __call__(self) -> TorchModel:
        if self.net is None:
            from brainbench.models.base import TorchModel, load_model

            model = self.request.model
            if isinstance(model, str):
                assert self.request.model_entry is not None  # check_request looked the id up
                model = load_model(self.request.model_entry)
            if not isinstance(model, TorchModel):
                raise _supplies_rdm(model.identifier, self.composite)
            self.net = model
        return self.net


def _supplies_rdm(model: str, composite: str) -> BrainbenchError:
    return BrainbenchError(
        f"model {model!r} supplies an RDM, not activations, so it cannot be scored by "
        f"composite benchmark {composite!r}; score it on a representation benchmark of its stimuli."
    )


def _run_composite(request: CheckedRequest, how: Execution, recorder: Recorder, registry: Registry) -> Outcome:
    """A composite: planned once, each part through :func:`_run_single` (model built once), aggregated once.

    :func:`brainbench.scoring.composite.plan_composite` checks the request and looks up all
    the composite needs before any work; :func:`brainbench.scoring.composite.assemble_composite`
    turns the parts' per-neuroid numbers into the composite's spec and dataset. A part is
    first looked up by its remembered key (the ids of the composite's request and the
    part's benchmark), so a stored composite is read without building the network or
    loading any part's data; the network is built, once, for the first part that is not.
    """
    from brainbench.progress import tqdm
    from brainbench.scoring.composite import assemble_composite, plan_composite, reduce_part
    from brainbench.scoring.threads import resolve_threads

    plan = plan_composite(request, registry)  # one sentence before any work; no id looked up after it
    if request.model_entry is not None and request.model_entry.supplies == "rdm":
        raise _supplies_rdm(request.model_entry.id, plan.entry.id)
    started = time.perf_counter()
    network = _Network(request, plan.entry.id)
    part_how = replace(how, out=None)
    parts = []
    bar = tqdm(total=len(plan.parts), desc=f"{plan.entry.id} parts", unit="part", disable=not how.progress, leave=False)
    for entry, references, declared in zip(plan.parts, plan.references, plan.declared, strict=True):
        begun = time.perf_counter()
        part = replace(  # the part's run is the run of its benchmark scored alone (its own registered entry)
            request,
            benchmark=entry.id,
            benchmark_entry=entry,
            registered_benchmark=entry,
            benchmark_as_declared=declared,
            references=references,
        )
        outcome = _run_single(part, part_how, recorder, network)
        parts.append(reduce_part(outcome.spec, outcome.dataset, outcome.stored, time.perf_counter() - begun))
        del outcome  # free this part's data, features and predictions before the next part is loaded
        gc.collect()
        bar.update(1)
    bar.close()
    # the aggregation is pure and cheap (per-neuroid numbers only): done before the lookup of its key
    spec, dataset = assemble_composite(plan, parts, time.perf_counter() - started, resolve_threads(how.threads))
    if recorder.store is not None and how.use_cache and all(p.stored for p in parts):
        found = recorder.store.reusable(spec.key)
        if found is not None:  # the stored composite run, exactly as it was recorded
            return Outcome(found, STORED, spec.key, spec)
    recorder.record(dataset)
    return Outcome(dataset, SCORED, spec.key, spec)
