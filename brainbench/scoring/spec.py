"""Stage 1, resolve: ids and options become one frozen :class:`RunSpec`.

A run spec holds everything that determines a run's numbers, as JSON-able data: the
model's declaration and weights hash, the benchmark's, assembly's, readout's (after
``base`` links, with every numerics version along the chain), metrics', ceiling's and
headline's declarations (without their prose), the preprocessing code's numerics
version, the seed, the layers, any caller overrides (readout params, own splits) and,
once loaded (:meth:`RunSpec.with_data`), the sha256 of the assembly values and the
stimulus images actually scored. Its :attr:`RunSpec.key` is the results store's one
key: ``score``, ``analyze``, ``leaderboard run`` and ``verify`` all compute it here, so
a numerics change (a bumped version) re-scores instead of reusing, and the same inputs
are never scored twice.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from brainbench.caching.content import KEY_FORMAT, content_key, declaration
from brainbench.errors import BrainbenchError
from brainbench.registry import load_object
from brainbench.registry.registry import Registry
from brainbench.scoring.protocol import run_protocol

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from brainbench.models.base import TorchModel
    from brainbench.models.rdm import RDMModel
    from brainbench.readouts.base import Readout
    from brainbench.scoring.arguments import CheckedRequest
    from brainbench.scoring.benchmark import Benchmark
    from brainbench.scoring.kinds import Kind

from brainbench.registry.manifest import MetricEntry, ModelEntry


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one run's numbers (see the module docstring).

    Attributes:
        model: model id.
        benchmark: benchmark id.
        readout: readout id actually used (the benchmark's or an override), canonical.
        layers: scored layers, in order.
        seed: the run's seed.
        content: the JSON-able content the key hashes.
        declared_readout: the canonical id of the readout the benchmark declares (not in
            the key: the content holds the declaration as written, which may be an alias).
    """

    model: str
    benchmark: str
    readout: str
    layers: tuple[str, ...]
    seed: int
    content: dict[str, Any] = field(repr=False)
    declared_readout: str | None = None

    @property
    def protocol(self) -> str:
        """``declared`` (may fill a leaderboard cell) or ``custom``: see :mod:`brainbench.scoring.protocol`."""
        return run_protocol(self.content, self.layers, self.readout, self.declared_readout)[0]

    @property
    def protocol_detail(self) -> dict[str, Any]:
        """What differs from the declared protocol (``{}`` when declared)."""
        return run_protocol(self.content, self.layers, self.readout, self.declared_readout)[1]

    @property
    def complete(self) -> bool:
        """Whether the data hashes are in (:meth:`with_data`); only then is the key final."""
        return "data_sha256" in self.content

    @property
    def key(self) -> str:
        """sha256 (hex) of :attr:`content`: the results store's content key."""
        if not self.complete:
            raise BrainbenchError("a run's key needs its data hashes; load the benchmark first.")
        return content_key(self.content)

    def with_data(self, data_sha256: str, stimuli_sha256: str, splits: dict[str, Any] | None = None) -> RunSpec:
        """The spec completed with the hashes of the assembly and stimuli actually scored.

        ``splits``: the record of splits that are not the benchmark's declared ones (their
        sizes and sha256, see :func:`brainbench.data.splits.split_spec`).
        """
        extra: dict[str, Any] = {"data_sha256": data_sha256, "stimuli_sha256": stimuli_sha256}
        if splits is not None:
            extra["splits"] = splits
        return replace(self, content={**self.content, **extra})

    def to_json(self) -> str:
        return json.dumps(self.content, sort_keys=True, default=str)


@dataclass(frozen=True)
class Resolved:
    """A run spec plus the live objects the later stages use.

    Attributes:
        spec: the run spec (without data hashes until loaded).
        net: the model (a network, or a model that supplies an RDM).
        bench: the benchmark.
        device: the compute device.
        kind: the benchmark's kind (:mod:`brainbench.scoring.kinds`).
        new_readout: ``() -> Readout``, a fresh, unfitted readout with the run's params.
        solver: the readout's solver name, as recorded.
        readout_params: the readout's params after overrides.
        metrics: declared metrics' variable name -> ``fn(prediction (n, N), target (n, N)) -> (N,)``
            (regression), or the representation metric's instance (representation).
        ceiling: the ceiling's entry, or None.
        headline: the headline metric's entry.
        splits: the caller's own splits (None: the benchmark's).
    """

    spec: RunSpec
    net: TorchModel | RDMModel
    bench: Benchmark
    device: torch.device
    kind: Kind
    new_readout: Callable[[], Readout]
    solver: str
    readout_params: dict[str, Any]
    metrics: dict[str, Any]
    ceiling: MetricEntry | None
    headline: MetricEntry
    splits: list | None = None


def build_readout(
    readout_id: str, registry: Registry, seed: int, overrides: dict[str, Any] | None = None
) -> tuple[Readout, str, dict[str, Any]]:
    """Instantiate a registered readout (following ``base`` links), passing ``seed`` if accepted.

    ``overrides`` replace declared params (e.g. ``{"alphas": [0.1, 1, 10]}``); each key
    must be an argument of the readout's constructor.

    Returns:
        ``(readout, solver name, params used)``.
    """
    python_name, solver, params = registry.resolve_readout(readout_id)
    cls = load_object(python_name)
    params = {**params, **_check_overrides(readout_id, cls, overrides)}
    if "seed" in inspect.signature(cls).parameters:
        params.setdefault("seed", seed)
    try:
        readout = cls(**params)
    except TypeError as error:
        raise BrainbenchError(f"readout {readout_id!r} does not accept its declared params: {error}.") from error
    instance_solver = str(getattr(readout, "solver", "") or "")
    return readout, (instance_solver if instance_solver not in ("", "unknown") else solver), params


def _check_overrides(readout_id: str, cls: type, overrides: dict[str, Any] | None) -> dict[str, Any]:
    from brainbench.scoring.arguments import check_readout_params

    if check_readout_params(overrides) is None:
        return {}
    assert overrides is not None
    accepted = inspect.signature(cls).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted(set(overrides) - set(accepted))
        if unknown:
            raise BrainbenchError(
                f"readout {readout_id!r} has no parameter {unknown[0]!r}; it accepts {', '.join(accepted) or 'none'}."
            )
    return dict(overrides)


def resolve(
    model: Any,
    benchmark: Any,
    *,
    layers: Sequence[str] | None = None,
    readout: str | None = None,
    readout_params: dict[str, Any] | None = None,
    splits: list | None = None,
    seed: int = 0,
    device: str = "auto",
    registry: Registry,
) -> Resolved:
    """Stage 1: resolve ids (or objects) into a :class:`Resolved` run.

    The request is checked by :func:`brainbench.scoring.arguments.check_request` (the
    boundary check of :func:`brainbench.results.runs.run`), then :func:`resolve_checked`.

    Args:
        model: a model id or a :class:`~brainbench.models.base.TorchModel`.
        benchmark: a benchmark id (or alias) or a :class:`~brainbench.scoring.benchmark.Benchmark`.
        layers: layers to score (default: every layer the model declares).
        readout: a readout id overriding the benchmark's.
        readout_params: overrides of the readout's declared params.
        splits: the caller's own ``(train, test)`` splits.
        seed: the run's seed.
        device: ``auto``, ``cpu`` or ``cuda``.
    """
    from brainbench.scoring.arguments import check_request
    from brainbench.scoring.request import Execution, Request

    request = Request(
        model, benchmark, layers=layers, readout=readout, readout_params=readout_params, splits=splits, seed=seed
    )
    checked = check_request(request, Execution(device=device), registry=registry)
    return resolve_checked(checked, device=device, registry=registry)


def resolve_checked(request: CheckedRequest, *, device: str = "auto", registry: Registry) -> Resolved:
    """Stage 1 of a checked request: build the network, check its layers, and make the run spec.

    The ids were looked up by :func:`brainbench.scoring.arguments.check_request`; only the
    entries those declarations reference (assembly, readout chain, metrics) are read here.
    A layer the model does not have is refused here, when the network is built, before
    any data is loaded.
    """
    from brainbench.models.base import TorchModel, load_model, resolve_device
    from brainbench.models.preprocess import PREPROCESSING_VERSION
    from brainbench.models.rdm import RDMModel
    from brainbench.scoring.benchmark import Benchmark, benchmark_of_entry
    from brainbench.scoring.kinds import KINDS

    model, benchmark, layers, seed = request.model, request.benchmark, request.layers, request.seed
    readout, readout_params, splits = request.readout, request.readout_params, request.splits
    if isinstance(benchmark, str) and request.benchmark_entry.kind == "composite":
        raise BrainbenchError(
            f"benchmark {benchmark!r} is a composite: score it with brainbench.score, which scores its parts "
            "one by one."
        )
    bench = benchmark if isinstance(benchmark, Benchmark) else benchmark_of_entry(request.benchmark_entry, registry)
    # a manifest's benchmark had the kinds of its metrics, ceiling and headline checked when
    # the registry was built; a custom benchmark object is checked here, the same way
    if not request.benchmark_as_declared:
        problems = registry.benchmark_problems(bench.entry)
        if problems:
            field, problem = problems[0]
            raise BrainbenchError(f"benchmark {bench.identifier!r}: {field}: {problem}")
    kind = KINDS[bench.entry.kind]
    if isinstance(model, TorchModel | RDMModel):
        net = model
    else:
        assert request.model_entry is not None  # check_request looked the id up
        net = load_model(request.model_entry)
    if isinstance(net, RDMModel):
        _check_rdm_model(net, bench, kind.name, request.declared_model)
    torch_device = resolve_device(device)
    chosen = net.check_layers(list(layers) if layers else net.layers)
    if not kind.uses_readout and (readout is not None or readout_params):
        raise BrainbenchError(
            f"benchmark {bench.identifier!r} is a {kind.name} benchmark: it fits no readout, "
            "so --readout and readout_params do not apply."
        )
    readout_id = readout or registry.readout(bench.entry.readout).id
    if kind.uses_readout:
        _, solver, params = build_readout(readout_id, registry, seed, readout_params)
        readout_part: dict[str, Any] | None = {
            "id": readout_id,
            **_readout_part(readout_id, registry),
            "solver": solver,
            "params": params,
        }
    else:
        solver, params, readout_part = "none", {}, None
    headline_entry = registry.metric(bench.entry.headline)
    ceiling_entry = registry.metric(bench.entry.ceiling) if bench.entry.ceiling else None
    metric_entries = {m: registry.metric(m) for m in bench.entry.metrics}
    registered = request.registered_benchmark or bench.entry  # a custom benchmark: its object's own entry
    override = _benchmark_override(bench, registered)
    declared_readout = _readout_id(registered.readout, registry)
    content: dict[str, Any] = {
        "format": KEY_FORMAT,
        "model": _model_part(net, request.declared_model),
        "weights": net.weights_hash,
        "preprocessing_version": PREPROCESSING_VERSION,
        "benchmark": {"id": bench.identifier, **declaration(bench.entry)},
        "assembly": _assembly_part(bench, registry),
        "readout": readout_part,
        "metrics": {m: declaration(e) for m, e in metric_entries.items()},
        "ceiling": declaration(ceiling_entry) if ceiling_entry is not None else None,
        "headline": {"id": headline_entry.id, **declaration(headline_entry)},
        "seed": int(seed),
        "layers": list(chosen),
    }
    tokens = net.token_key() if isinstance(net, TorchModel) else None
    if tokens is not None:  # the rule that turned tokens into features (brainbench.models.tokens)
        content["tokens"] = tokens
    if readout_params:
        content["readout_overrides"] = readout_params
    if override:
        content["benchmark_override"] = override
    if splits is not None:
        content["splits"] = "custom"  # completed with their hash by the load stage
    spec = RunSpec(
        model=net.identifier,
        benchmark=bench.identifier,
        readout=readout_id,
        layers=tuple(chosen),
        seed=int(seed),
        content=content,
        declared_readout=declared_readout,
    )
    metrics = {e.variable_name: _load_metric(e) for e in metric_entries.values()}
    if isinstance(net, RDMModel):
        for entry_id, metric in zip(metric_entries, metrics.values(), strict=True):
            if getattr(metric, "input", "rdm") != "rdm":
                raise BrainbenchError(
                    f"model {net.identifier!r} supplies an RDM, not activations, and benchmark "
                    f"{bench.identifier!r} compares activations ({entry_id}); score it on an RDM benchmark."
                )
    return Resolved(
        spec=spec,
        net=net,
        bench=bench,
        device=torch_device,
        kind=kind,
        new_readout=lambda: build_readout(readout_id, registry, seed, readout_params)[0],
        solver=solver,
        readout_params=params,
        metrics=metrics,
        ceiling=ceiling_entry,
        headline=headline_entry,
        splits=splits,
    )


def _check_rdm_model(net: RDMModel, bench: Benchmark, kind: str, entry: ModelEntry | None) -> None:
    """Refuse, in one sentence, a model that supplies an RDM where it cannot be scored.

    It needs a representation benchmark on the stimuli its matrix covers (its entry's
    ``stimuli`` assembly), and is never scored against a benchmark whose data it is
    (its entry's ``data_of``).
    """
    if kind != "representation":
        raise BrainbenchError(
            f"model {net.identifier!r} supplies an RDM, not activations, so it cannot be scored by "
            f"{kind} benchmark {bench.identifier!r}; score it on a representation benchmark of its stimuli."
        )
    if entry is None:  # an RDM model object no manifest declares: its stimulus ids are checked on load
        return
    if bench.identifier in entry.data_of:
        raise BrainbenchError(
            f"model {net.identifier!r} is the data of benchmark {bench.identifier!r} itself, not a model of it; "
            "it is scored on the other benchmarks of its stimulus set only."
        )
    if bench.entry.source != "<custom>" and entry.stimuli != bench.entry.assembly:
        raise BrainbenchError(
            f"model {net.identifier!r} supplies an RDM over the stimuli of assembly {entry.stimuli!r}, but benchmark "
            f"{bench.identifier!r} scores assembly {bench.entry.assembly!r}; "
            f"score it on a benchmark of {entry.stimuli!r}."
        )


def _benchmark_override(bench: Benchmark, registered: Any) -> dict[str, Any]:
    """The fields of the benchmark object that differ from its registered declaration (e.g. ``split``)."""
    from brainbench.caching.content import PROSE_FIELDS

    ours = bench.entry.model_dump(mode="json", exclude=set(PROSE_FIELDS))
    theirs = registered.model_dump(mode="json", exclude=set(PROSE_FIELDS))
    return {k: ours.get(k) for k in sorted(set(ours) | set(theirs)) if ours.get(k) != theirs.get(k)}


def _readout_id(name: str | None, registry: Registry) -> str | None:
    """The canonical id of a readout id or alias (the name itself when it is not registered)."""
    if name is None:
        return None
    try:
        return registry.readout(name).id
    except BrainbenchError:
        return name


def _load_metric(entry: MetricEntry) -> Any:
    """A metric's function, or for a representation metric the instance its params build."""
    target = load_object(entry.python_name)
    if entry.kind != "representation":
        return target
    try:
        return target(**entry.params)
    except TypeError as error:
        raise BrainbenchError(f"metric {entry.id!r} does not accept its declared params: {error}.") from error


def _model_part(net: TorchModel | RDMModel, declared: ModelEntry | None) -> dict[str, Any]:
    """The model's part of the run's content: its declaration (``declared``, from the boundary check).

    A model object no manifest declares stands for itself by its id, layers and preprocessing.
    """
    entry = getattr(net, "entry", None)
    if entry is not None and entry.id == net.identifier:  # built by load_model (a checkpoint's too)
        return {"id": entry.id, **declaration(entry)}
    if declared is None:  # a model object no manifest declares
        return {"id": net.identifier, "layers": list(net.layers), "preprocessing": net.preprocessing.model_dump()}
    return {"id": declared.id, **declaration(declared)}


def _assembly_part(bench: Benchmark, registry: Registry) -> dict[str, Any] | None:
    try:
        return declaration(registry.assembly(bench.entry.assembly))
    except BrainbenchError:  # a custom benchmark: its data hash stands for it
        return None


def _readout_part(readout_id: str, registry: Registry) -> dict[str, Any]:
    """The python name at the end of the ``base`` chain and every numerics version along it."""
    chain = [registry.readout(readout_id)]
    while chain[-1].base is not None:
        chain.append(registry.readout(chain[-1].base))
    return {"python_name": chain[-1].python_name, "versions": {e.id: e.version for e in chain}}
