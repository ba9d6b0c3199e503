"""Checks of the arguments a user passes, run before any data is loaded or any activation computed.

The command line and :func:`brainbench.score` share them, so a bad ``seed``,
``device``, ``batch_size``, ``layers`` or ``out`` fails in a second with one sentence
instead of a traceback from deep inside torch after minutes of work. Nothing here
imports torch.
"""

from __future__ import annotations

import numbers
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brainbench.errors import BrainbenchError

if TYPE_CHECKING:  # pragma: no cover
    from brainbench.registry.manifest import BenchmarkEntry, ModelEntry, ReadoutEntry, TokenRule
    from brainbench.registry.registry import References, Registry
    from brainbench.scoring.request import Execution, Request

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device(device: object) -> str:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (a :class:`torch.device` passes as its string)."""
    text = str(device)
    if not DEVICE_PATTERN.match(text):
        raise BrainbenchError(
            f"device {text!r} is not one of auto, cpu, cuda or cuda:N; pass --device auto, cpu or cuda."
        )
    return text


def check_seed(seed: object) -> int:
    """``seed`` as an int: any integer >= 0 (a numpy integer too), never a bool."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise BrainbenchError(f"seed must be an integer >= 0, got {seed!r}; pass --seed 0 or any larger integer.")
    return int(seed)


def check_batch_size(batch_size: object) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise BrainbenchError(
            f"batch size must be an integer >= 1, got {batch_size!r}; "
            "pass --batch-size 32 or another positive number of images."
        )
    return batch_size


def check_tolerance(tolerance: float) -> float:
    if not tolerance >= 0:  # also refuses NaN
        raise BrainbenchError(
            f"tolerance must be a number >= 0, got {tolerance!r}; "
            "pass --tolerance 1e-6 or another non-negative difference."
        )
    return tolerance


def check_workers(workers: int | None) -> int | None:
    if workers is not None and workers < 0:
        raise BrainbenchError(f"--workers must be >= 0, got {workers}; pass 0 to run serially or a number of workers.")
    return workers


def check_out_dir(out: str | os.PathLike | None) -> Path | None:
    """``out`` must be a folder or not exist yet (it is created when results are written), and be writable.

    Writability is probed (a file created and removed, folders created and removed
    again), so ``--out /proc/x`` fails here, not after the whole run.
    """
    if out is None:
        return None
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise BrainbenchError(
            f"--out {path} is an existing file, but it must be a folder (or not exist yet); pass a folder path."
        )
    reason = writable_folder(path)
    if reason is not None:
        raise BrainbenchError(f"--out {path} cannot be written ({reason}); pass a folder you may write to.")
    return path


def writable_folder(folder: str | os.PathLike, keep: bool = False) -> str | None:
    """Why files cannot be written into ``folder`` (created if needed), or None.

    Probes for real (permissions alone say nothing for root, or on ``/proc``): creates
    the missing folders and one empty file, then removes the file and, unless ``keep``,
    the folders it created (a folder that will be written anyway, such as a results
    store's, is kept, so concurrent callers never remove it under each other).
    """
    folder = Path(os.path.abspath(folder))
    created: list[Path] = []
    try:
        if keep:
            folder.mkdir(parents=True, exist_ok=True)
        else:
            for part in reversed([p for p in (folder, *folder.parents) if not p.exists()]):
                part.mkdir()
                created.append(part)
        if not folder.is_dir():
            return f"{folder} is not a folder"
        # unique per call (threads of one process probe at once); ends in .PID.tmp like every temporary
        probe = folder / f".brainbench-write-probe-{uuid.uuid4().hex}.{os.getpid()}.tmp"
        probe.open("xb").close()
        probe.unlink()
    except OSError as error:
        return error.strerror or str(error)
    finally:
        for part in reversed(created):
            try:
                part.rmdir()
            except OSError:
                pass
    return None


def split_ids(value: str | None, option: str) -> list[str] | None:
    """A comma-separated option: ``None`` when not given; an empty list is an error."""
    if value is None:
        return None
    items = [part.strip() for part in value.split(",") if part.strip()]
    if not items:
        raise BrainbenchError(f"{option} {value!r} names nothing; give comma-separated names, or leave {option} out.")
    return items


def check_layer_names(
    layers: Sequence[str] | None, declared: Sequence[str] | None = None, model: str = ""
) -> list[str] | None:
    """``None`` (every layer) or a non-empty list of layer names, each one of ``declared`` when given."""
    if layers is None:
        return None
    try:  # read once: an iterator of names (a generator) is used up by reading it
        names = None if isinstance(layers, str) else list(layers)
    except TypeError:  # not iterable
        names = None
    if names is None or not all(isinstance(layer, str) for layer in names):
        raise BrainbenchError(f"layers must be a list of layer names, got {layers!r}; pass e.g. --layers conv1,conv2.")
    layers = names
    if not layers:
        raise BrainbenchError(
            "layers is an empty list; name at least one layer (--layers conv1,conv2), "
            "or leave it out to score every layer."
        )
    twice = next((layer for k, layer in enumerate(layers) if layer in layers[:k]), None)
    if twice is not None:  # the score's layer axis would hold it twice (it failed after the whole run)
        raise BrainbenchError(f"layers names {twice!r} twice; name each layer once.")
    if declared is not None:
        unknown = [layer for layer in layers if layer not in declared]
        if unknown:
            raise BrainbenchError(f"model {model!r} has no layer {unknown[0]!r}; its layers are {', '.join(declared)}.")
    return layers


def check_score_arguments(
    *, layers: Sequence[str] | None, device: object, seed: object, batch_size: object, out: str | os.PathLike | None
) -> None:
    """A run's option checks (a trajectory's; :func:`check_request` runs the same) before any loading."""
    check_layer_names(layers)
    check_device(device)
    check_seed(seed)
    check_batch_size(batch_size)
    check_out_dir(out)


@dataclass(frozen=True)
class CheckedRequest:
    """A scoring request whose ids, and the entries its benchmark refers to, were looked up once.

    Made by :func:`check_request` at the boundary (:func:`brainbench.results.runs.run`);
    the stages below it (:func:`brainbench.results.known_runs.request_inputs`,
    :func:`brainbench.scoring.spec.resolve_checked`) take these entries instead of
    asking the registry again.

    Attributes:
        model: the model's canonical id, or the model object as given.
        model_entry: the model's entry (None for a model object).
        declared_model: the entry that declares the model: ``model_entry`` for an id; for a
            model object the entry it was built from, else its identifier's entry; None
            when no manifest declares it.
        benchmark: the benchmark's canonical id, or the benchmark object as given.
        benchmark_entry: the benchmark's entry (a benchmark object's own ``entry``).
        registered_benchmark: the registry's entry of the benchmark's id (for an id, ``benchmark_entry``
            itself; for a benchmark object, None when no manifest declares its id).
        benchmark_as_declared: whether ``benchmark_entry`` is a manifest's own declaration, whose
            metrics, ceiling and headline the registry checked when it was built (not a composite's
            part, which is derived from its composite, nor a custom benchmark object).
        readout: the canonical id of the readout overriding the benchmark's, or None.
        readout_entry: that readout's entry, or None.
        layers: layer names (None: every layer the model declares); their membership in
            the model is checked when the network is built (stage 1), not here.
        readout_params: overrides of the readout's declared params.
        splits: the caller's own ``(train, test)`` splits (checked against the data on load).
        seed: the run's seed.
        tokens: the token rule in place of a model id's declared one (None: the model's own).
        references: the entries the benchmark's declaration refers to
            (:class:`~brainbench.registry.registry.References`); None for a composite, whose
            parts are planned by :func:`brainbench.scoring.composite.plan_composite`.
    """

    model: Any
    model_entry: ModelEntry | None
    declared_model: ModelEntry | None
    benchmark: Any
    benchmark_entry: BenchmarkEntry
    registered_benchmark: BenchmarkEntry | None = None
    benchmark_as_declared: bool = False
    readout: str | None = None
    readout_entry: ReadoutEntry | None = None
    layers: tuple[str, ...] | None = None
    readout_params: dict[str, Any] | None = None
    splits: list | None = None
    seed: int = 0
    tokens: TokenRule | None = None
    references: References | None = None

    @property
    def by_id(self) -> bool:
        """Whether both the model and the benchmark were named by id (not passed as objects)."""
        return self.model_entry is not None and isinstance(self.benchmark, str)


def check_readout_params(readout_params: object) -> dict[str, Any] | None:
    """``None`` or a dict of argument names to values (each name is checked against the readout when it is built)."""
    if readout_params is None:
        return None
    if not isinstance(readout_params, dict) or not all(isinstance(k, str) for k in readout_params):
        raise BrainbenchError(f"readout_params must be a dict of argument names to values, got {readout_params!r}.")
    return readout_params


def check_token_rule(rule: object, model: object) -> TokenRule | None:
    """``rule`` if it is None, or a token rule (:mod:`brainbench.models.tokens`) for a model named by id."""
    from typing import get_args

    from brainbench.registry.manifest import TokenRule

    if rule is None:
        return None
    rules = get_args(TokenRule)
    if rule not in rules:
        raise BrainbenchError(f"token rule {rule!r} is not one of {', '.join(rules)}; pass one of them.")
    if not isinstance(model, str):
        raise BrainbenchError(
            "a token rule applies to a model named by id; set the tokens attribute of a model object instead."
        )
    return rule  # type: ignore[return-value]


def check_request(request: Request, how: Execution, *, registry: Registry) -> CheckedRequest:
    """The one check of a scoring request and how it is computed, before anything is built, loaded or scored.

    Checks the layer names' shape, the device, seed, batch size, readout overrides, token
    rule and ``out``, then looks each id up once (aliases resolved to canonical ids; an unknown id
    fails with the registry's one sentence), and then, for a benchmark that is not a
    composite, the entries its declaration refers to (:meth:`Registry.references`). Imports
    no torch and builds nothing (a family or checkpoint model's entry is synthesized by
    :meth:`Registry.model`).

    Args:
        request: what to score (its model and benchmark an id or an object).
        how: how the run is computed; its device, batch size and ``out`` are checked, not kept.
        registry: where the ids are looked up.
    """
    checked_layers = check_layer_names(request.layers)
    check_device(how.device)
    checked_seed = check_seed(request.seed)
    check_batch_size(how.batch_size)
    checked_params = check_readout_params(request.readout_params)
    checked_tokens = check_token_rule(request.tokens, request.model)
    check_out_dir(how.out)
    model = request.model
    benchmark = request.benchmark
    readout = request.readout
    # every registry lookup of the request, here and nowhere below it
    model_entry = declared_model = registry.model(model) if isinstance(model, str) else None
    if model_entry is None:  # a model object: the entry it was built from, else its id's, else none
        declared_model = getattr(model, "entry", None)
        identifier = str(getattr(model, "identifier", ""))
        if declared_model is None or declared_model.id != identifier:
            try:
                declared_model = registry.model(identifier)
            except BrainbenchError:  # a model object no manifest declares
                declared_model = None
    registered: BenchmarkEntry | None
    if isinstance(benchmark, str):
        benchmark_entry = registered = registry.benchmark(benchmark)
        as_declared = benchmark_entry.id in registry.ids("benchmarks")  # a composite's part is derived
    else:
        benchmark_entry = benchmark.entry
        try:
            registered = registry.benchmark(benchmark_entry.id)
        except BrainbenchError:  # a custom benchmark no manifest declares
            registered = None
        as_declared = registered is benchmark_entry
    readout_entry = registry.readout(readout) if readout is not None else None
    references = None  # a composite's parts are planned by scoring.composite.plan_composite
    if not (isinstance(benchmark, str) and benchmark_entry.kind == "composite"):
        references = registry.references(
            benchmark_entry,
            readout=readout_entry,
            registered=registered,
            as_declared=as_declared,
            custom=not isinstance(benchmark, str),
        )
    return CheckedRequest(
        model=model if model_entry is None else model_entry.id,
        model_entry=model_entry,
        declared_model=declared_model,
        benchmark=benchmark_entry.id if isinstance(benchmark, str) else benchmark,
        benchmark_entry=benchmark_entry,
        registered_benchmark=registered,
        benchmark_as_declared=as_declared,
        readout=None if readout_entry is None else readout_entry.id,
        readout_entry=readout_entry,
        layers=None if checked_layers is None else tuple(checked_layers),
        readout_params=checked_params,
        splits=request.splits,
        seed=checked_seed,
        tokens=checked_tokens,
        references=references,
    )
