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
from functools import partial
from typing import TYPE_CHECKING, Any

from brainbench.caching.content import KEY_FORMAT, PROSE_FIELDS, content_key, declaration
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

from brainbench.registry.manifest import BenchmarkEntry, MetricEntry, ModelEntry


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

    def with_data(
        self,
        data_sha256: str,
        stimuli_sha256: str,
        splits: dict[str, Any] | None = None,
        grouped: dict[str, Any] | None = None,
    ) -> RunSpec:
        """The spec completed with the hashes of the assembly and stimuli actually scored.

        ``splits``: the record of splits that are not the benchmark's declared ones (their
        sizes and sha256, see :func:`brainbench.data.splits.split_spec`). ``grouped``: the
        declared splits' record of the identical images they keep together (none when the
        stimuli are all different, so such a run's key is what it was before images were
        grouped).
        """
        extra: dict[str, Any] = {"data_sha256": data_sha256, "stimuli_sha256": stimuli_sha256}
        if splits is not None:
            extra["splits"] = splits
        if grouped is not None:
            extra["split_groups"] = grouped
        return replace(self, content={**self.content, **extra})

    def to_json(self) -> str:
        return json.dumps(self.content, sort_keys=True, default=str)

    @classmethod
    def remembered(cls, request: CheckedRequest, content: dict[str, Any]) -> RunSpec:
        """The complete spec of a by-id ``request`` from the content remembered for it.

        ``content`` is what :mod:`brainbench.results.known_runs` remembered when the same
        request was last resolved and loaded (data hashes included). The two fields the
        content does not hold come from the checked request, as :func:`resolve_checked`
        sets them: the readout actually used (the head of the readout chain) and the
        benchmark's declared one.
        """
        refs = request.references
        assert refs is not None  # a remembered request names a registered, non-composite benchmark
        return cls(
            model=str(content["model"]["id"]),
            benchmark=str(content["benchmark"]["id"]),
            readout=refs.readouts[0].id,
            layers=tuple(str(x) for x in content["layers"]),
            seed=int(content["seed"]),
            content=content,
            declared_readout=refs.declared_readout,
        )


@dataclass(frozen=True)
class Resolved:
    """A run spec plus the live objects the later stages use.

    Attributes:
        spec: the run spec (without data hashes until loaded).
        net: the model (a network, or a model that supplies an RDM).
        bench: the benchmark.
        device: the compute device.
        kind: the benchmark's kind (:mod:`brainbench.scoring.kinds`).
        new_readout: ``() -> Readout``, a fresh, unfitted readout with the run's params
            (a benchmark kind that fits no readout has none: it raises).
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
    from brainbench.scoring.arguments import check_readout_params

    checked = check_readout_params(overrides)
    return _readout_instance(readout_id, registry.resolve_readout(readout_id), seed, checked)


def _readout_instance(
    readout_id: str, declared: tuple[str, str, dict[str, Any]], seed: int, overrides: dict[str, Any] | None
) -> tuple[Readout, str, dict[str, Any]]:
    """:func:`build_readout` of a readout's ``(python_name, solver, params)`` after its ``base`` links.

    ``overrides`` are checked to be a dict of argument names (or None).
    """
    python_name, solver, params = declared
    cls = load_object(python_name)
    accepted = inspect.signature(cls).parameters
    if overrides and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted(set(overrides) - set(accepted))
        if unknown:
            raise BrainbenchError(
                f"readout {readout_id!r} has no parameter {unknown[0]!r}; it accepts {', '.join(accepted) or 'none'}."
            )
    params = {**params, **(overrides or {})}
    if "seed" in accepted:
        params.setdefault("seed", seed)
    try:
        readout = cls(**params)
    except TypeError as error:
        raise BrainbenchError(f"readout {readout_id!r} does not accept its declared params: {error}.") from error
    instance_solver = str(getattr(readout, "solver", "") or "")
    return readout, (instance_solver if instance_solver not in ("", "unknown") else solver), params


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
    return resolve_checked(checked, device=device)


def resolve_checked(request: CheckedRequest, *, device: str = "auto", network: TorchModel | None = None) -> Resolved:
    """Stage 1 of a checked request: check it against the benchmark, build the network, make the run spec.

    The ids, and the entries the benchmark's declaration refers to (readout chain, metrics,
    headline, ceiling, assembly: :class:`~brainbench.registry.registry.References`), were
    looked up by :func:`brainbench.scoring.arguments.check_request`; no registry is asked
    here (plugins' python objects are imported). Everything the declarations alone decide
    (the benchmark's kind against the model and the readout options, the readout and
    metrics, what the run's key holds) is settled first; then the benchmark and the network
    are built, and a layer the model does not have is refused when the network is, before
    any data is loaded.

    ``network``: the network of the request's model id, already built by the caller (a
    composite builds its network once for all its parts); the run and its key are those of
    the id.
    """
    from brainbench.models.base import TorchModel, load_model, resolve_device
    from brainbench.models.preprocess import PREPROCESSING_VERSION
    from brainbench.models.rdm import RDMModel
    from brainbench.scoring.benchmark import Benchmark, benchmark_of_entry
    from brainbench.scoring.kinds import KINDS

    model, benchmark, layers, seed = request.model, request.benchmark, request.layers, request.seed
    readout, readout_params, splits = request.readout, request.readout_params, request.splits
    entry = request.benchmark_entry  # a benchmark object's own entry
    if isinstance(benchmark, str) and entry.kind == "composite":
        raise BrainbenchError(
            f"benchmark {benchmark!r} is a composite: score it with brainbench.score, which scores its parts "
            "one by one."
        )
    kind = KINDS[entry.kind]
    model_entry = request.model_entry
    identifier = model_entry.id if model_entry is not None else str(getattr(model, "identifier", ""))
    supplies_rdm = model_entry.supplies == "rdm" if model_entry is not None else isinstance(model, RDMModel)
    if supplies_rdm:
        _check_rdm_model(identifier, entry, kind.name, request.declared_model)
    if not kind.uses_readout and (readout is not None or readout_params):
        raise BrainbenchError(
            f"benchmark {entry.id!r} is a {kind.name} benchmark: it fits no readout, "
            "so --readout and readout_params do not apply."
        )
    refs = request.references
    assert refs is not None  # check_request looked up what a non-composite benchmark refers to
    registered = request.registered_benchmark or entry  # a custom benchmark: its object's own entry
    override = _benchmark_override(entry, registered)
    # the readout first: its params are checked before any network is built
    readout_part: dict[str, Any] | None = None
    params: dict[str, Any] = {}
    solver, new_readout = "none", _no_readout
    readout_chain = refs.readouts  # the readout, then its ``base`` links
    readout_id = readout_chain[0].id
    if kind.uses_readout:
        instance, solver, params = _readout_instance(readout_id, refs.readout, seed, readout_params)
        new_readout = partial(type(instance), **params)
        # the python name at the end of the chain and every numerics version along it
        readout_part = {
            "id": readout_id,
            "python_name": readout_chain[-1].python_name,
            "versions": {e.id: e.version for e in readout_chain},
            "solver": solver,
            "params": params,
        }
    headline_entry, ceiling_entry, metric_entries = refs.headline, refs.ceiling, refs.metrics
    metrics: dict[str, Any] = {}  # a metric's function, or a representation metric's instance
    for metric_id, metric_entry in metric_entries.items():
        metric = load_object(metric_entry.python_name)
        if metric_entry.kind == "representation":
            try:
                metric = metric(**metric_entry.params)
            except TypeError as error:
                raise BrainbenchError(
                    f"metric {metric_entry.id!r} does not accept its declared params: {error}."
                ) from error
        if supplies_rdm and getattr(metric, "input", "rdm") != "rdm":
            raise BrainbenchError(
                f"model {identifier!r} supplies an RDM, not activations, and benchmark "
                f"{entry.id!r} compares activations ({metric_id}); score it on an RDM benchmark."
            )
        metrics[metric_entry.variable_name] = metric
    # the declarations are settled: build the benchmark and the network, then the key's content
    if isinstance(benchmark, Benchmark):
        bench = benchmark
    else:
        assert refs.assembly is not None  # a benchmark id's assembly is looked up (or refused) at the boundary
        bench = benchmark_of_entry(entry, refs.assembly)
    if isinstance(model, TorchModel | RDMModel):
        net = model
    elif network is not None:
        net = network
    else:
        assert model_entry is not None  # check_request looked the id up
        net = load_model(model_entry)
        if request.tokens is not None and isinstance(net, TorchModel):  # the rule enters the key below
            net.tokens = request.tokens
    torch_device = resolve_device(device)
    chosen = net.check_layers(list(layers) if layers else net.layers)
    tokens = net.token_key() if isinstance(net, TorchModel) else None
    declared = request.declared_model  # the entry the network was built from, or that declares its id
    model_part = (
        {"id": declared.id, **declaration(declared)}
        if declared is not None  # else a model object no manifest declares: its id, layers and preprocessing
        else {"id": net.identifier, "layers": list(net.layers), "preprocessing": net.preprocessing.model_dump()}
    )
    if declared is not None and isinstance(net, TorchModel):
        own = net.preprocessing.model_dump(mode="json")
        if own != declared.preprocessing.model_dump(mode="json"):  # an object prepared otherwise: its own
            model_part["preprocessing"] = own
    content: dict[str, Any] = {
        "format": KEY_FORMAT,
        "model": model_part,
        "weights": net.weights_hash,
        "preprocessing_version": PREPROCESSING_VERSION,
        "benchmark": {"id": bench.identifier, **declaration(entry)},
        "assembly": declaration(refs.assembly) if refs.assembly is not None else None,
        "readout": readout_part,
        "metrics": {m: declaration(e) for m, e in metric_entries.items()},
        "ceiling": declaration(ceiling_entry) if ceiling_entry is not None else None,
        "headline": {"id": headline_entry.id, **declaration(headline_entry)},
        "seed": int(seed),
        "layers": list(chosen),
    }
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
        declared_readout=refs.declared_readout,
    )
    return Resolved(
        spec=spec,
        net=net,
        bench=bench,
        device=torch_device,
        kind=kind,
        new_readout=new_readout,
        solver=solver,
        readout_params=params,
        metrics=metrics,
        ceiling=ceiling_entry,
        headline=headline_entry,
        splits=splits,
    )


def _check_rdm_model(identifier: str, bench: BenchmarkEntry, kind: str, entry: ModelEntry | None) -> None:
    """Refuse, in one sentence, a model that supplies an RDM where it cannot be scored.

    It needs a representation benchmark on the stimuli its matrix covers (its entry's
    ``stimuli`` assembly), and is never scored against a benchmark whose data it is
    (its entry's ``data_of``).
    """
    if kind != "representation":
        raise BrainbenchError(
            f"model {identifier!r} supplies an RDM, not activations, so it cannot be scored by "
            f"{kind} benchmark {bench.id!r}; score it on a representation benchmark of its stimuli."
        )
    if entry is None:  # an RDM model object no manifest declares: its stimulus ids are checked on load
        return
    if bench.id in entry.data_of:
        raise BrainbenchError(
            f"model {identifier!r} is the data of benchmark {bench.id!r} itself, not a model of it; "
            "it is scored on the other benchmarks of its stimulus set only."
        )
    if bench.source != "<custom>" and entry.stimuli != bench.assembly:
        raise BrainbenchError(
            f"model {identifier!r} supplies an RDM over the stimuli of assembly {entry.stimuli!r}, but benchmark "
            f"{bench.id!r} scores assembly {bench.assembly!r}; "
            f"score it on a benchmark of {entry.stimuli!r}."
        )


def _benchmark_override(entry: BenchmarkEntry, registered: BenchmarkEntry) -> dict[str, Any]:
    """The fields of the benchmark object's entry that differ from its registered declaration (e.g. ``split``)."""
    ours = entry.model_dump(mode="json", exclude=set(PROSE_FIELDS))
    theirs = registered.model_dump(mode="json", exclude=set(PROSE_FIELDS))
    return {k: ours.get(k) for k in sorted(set(ours) | set(theirs)) if ours.get(k) != theirs.get(k)}


def _no_readout() -> Readout:
    """The readout factory of a benchmark that fits none (never called)."""
    raise BrainbenchError("this benchmark fits no readout.")
