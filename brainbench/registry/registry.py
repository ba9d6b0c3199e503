"""Lookup of plugins declared in manifests, and the registry of every installed manifest.

:mod:`brainbench.registry.discovery` finds the manifests (entry-point group
``brainbench.manifests`` -- the built-in ``registry.toml`` registers exactly like a
third-party package -- plus the paths in ``BRAINBENCH_MANIFESTS``). :func:`get_registry`
reads them: an installed plugin's manifest that is broken (malformed TOML or entries, an
unknown reference, a schema newer than this brainbench, a file that cannot be found or
read) is skipped with one :class:`~brainbench.errors.ManifestWarning` naming it; the
built-in manifest and a user's own manifests are errors. An installed plugin that
declares an id another manifest already declares (e.g. a built-in model id) is skipped
the same way, so it can never replace or block the other (two plugins that declare the
same id are both skipped); an id declared by both the built-in and a user's own
manifest is an error. Plugin code is imported only by
:func:`load_object`.
"""

from __future__ import annotations

import difflib
import importlib
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from brainbench.errors import BrainbenchError, ManifestError, ManifestWarning, UnknownIdError
from brainbench.registry.discovery import ENTRY_POINT_GROUP, ManifestSource, manifest_sources
from brainbench.registry.manifest import (
    KINDS,
    AnalysisEntry,
    AssemblyEntry,
    BenchmarkEntry,
    CheckpointEntry,
    Manifest,
    MetricEntry,
    ModelEntry,
    ReadoutEntry,
    _Entry,
    read_manifest,
    singular,
)

__all__ = [
    "BENCHMARK_METRIC_KINDS",
    "ENTRY_POINT_GROUP",
    "MODEL_FAMILIES",
    "ManifestProblem",
    "ModelFamily",
    "References",
    "Registry",
    "build_registry",
    "get_registry",
    "load_object",
    "refresh",
]


@dataclass(frozen=True)
class ModelFamily:
    """Models named ``PREFIX/NAME`` that no manifest lists one by one (e.g. every torchvision network).

    ``resolver`` names (as ``"package.module:attribute"``, imported only when such an id is
    looked up) a function ``(model id) -> ModelEntry`` that synthesizes the id's entry, or
    raises a :class:`~brainbench.errors.BrainbenchError` saying in one sentence what is wrong
    with it. ``pattern`` and ``description`` are what ``brainbench list models`` shows.
    """

    prefix: str
    resolver: str
    pattern: str
    description: str


#: The model families :meth:`Registry.model` resolves; an id a manifest declares always wins.
MODEL_FAMILIES: dict[str, ModelFamily] = {
    "torchvision": ModelFamily(
        prefix="torchvision",
        resolver="brainbench.models.torchvision_zoo:model_entry",
        pattern="torchvision/<arch>[:WEIGHTS|:untrained]",
        description="any torchvision classification network, with its torchvision weights (default DEFAULT) or "
        "seeded random init; `brainbench layers MODEL` lists its module paths",
    ),
    "timm": ModelFamily(
        prefix="timm",
        resolver="brainbench.models.timm_zoo:model_entry",
        pattern="timm/<arch>[:<pretrained tag>|:untrained]",
        description="any timm network (the `timm` extra), with one of its pretrained tags (default: timm's default) "
        "or seeded random init; preprocessing from its data config",
    ),
    "hf": ModelFamily(
        prefix="hf",
        resolver="brainbench.models.hf_zoo:model_entry",
        pattern="hf/<model id>[:untrained]",
        description="a Hugging Face vision encoder (ViT, DINOv2, CLIP's image tower; the `huggingface` extra) "
        "by model id, with its weights or seeded random init",
    ),
}


#: The metric kind that the ``metrics`` of each benchmark kind must name (see
#: :mod:`brainbench.scoring.kinds`, which reads it); checked when the registry is built.
BENCHMARK_METRIC_KINDS: dict[str, str] = {"regression": "metric", "representation": "representation"}


@dataclass(frozen=True)
class ManifestProblem:
    """Why a manifest was skipped: its ``file`` (or, when none was found, the entry point), ``key``, ``problem``."""

    file: str
    key: str
    problem: str
    declared_by: str

    def __str__(self) -> str:
        key = f"key {self.key!r}: " if self.key else ""
        return f"{self.file}: {key}{self.problem}"


def _problem(message: str, file: str, declared_by: str) -> ManifestProblem:
    """Split a :class:`ManifestError` message (``"FILE: key 'KEY': PROBLEM"``) into its parts."""
    rest = message.removeprefix(f"{file}: ") if message.startswith(f"{file}: ") else message
    match = re.match(r"^key '([^']+)'(?::\s*|\s+)(.*)$", rest, flags=re.DOTALL)
    if match:
        return ManifestProblem(file, match.group(1), match.group(2), declared_by)
    return ManifestProblem(file, "", rest, declared_by)


@dataclass(frozen=True)
class References:
    """The entries a benchmark's declaration refers to, each looked up once (:meth:`Registry.references`).

    Carried by a checked scoring request (:class:`brainbench.scoring.arguments.CheckedRequest`),
    so that the stages below its boundary (the remembered key, stage 1 and the benchmark it
    builds) read these entries instead of asking the registry again.

    Attributes:
        readouts: the readout the run uses (the override, else the benchmark's), then the
            entries its ``base`` links lead to, in order.
        readout: ``(python_name, solver, params)`` of that chain (:func:`merged_readout`).
        declared_readout: the canonical id of the readout the registered benchmark declares
            (as written when no manifest declares it).
        metrics: the entry of each metric the benchmark names, by the id it names it with, in order.
        headline: the headline metric's entry.
        ceiling: the ceiling's entry, or None when the benchmark has none.
        assembly: the assembly's entry; None for a benchmark object whose assembly no
            manifest declares (its data hash stands for it).
    """

    readouts: tuple[ReadoutEntry, ...]
    readout: tuple[str, str, dict[str, Any]]
    declared_readout: str
    metrics: dict[str, MetricEntry]
    headline: MetricEntry
    ceiling: MetricEntry | None
    assembly: AssemblyEntry | None


class Registry:
    """All entries of all manifests, with ids unique across manifests.

    Aliases resolve to their entry; ``list`` shows each entry once. Without ``problems``
    the first clash or unknown reference raises :class:`ManifestError`; with a list, every
    one is appended to it (``plugin check`` reports all of them).
    """

    def __init__(self, manifests: Iterable[Manifest], problems: list[str] | None = None) -> None:
        self._problems = problems
        self.unresolved: list[tuple[str, str]] = []  # (manifest source, message) of each bad reference
        self.clashes: list[tuple[str, str, str]] = []  # (first source, second source, message) of each id clash
        self.skipped: list[ManifestProblem] = []  # installed manifests left out (see get_registry)
        self.manifests = list(manifests)
        self._entries: dict[str, dict[str, _Entry]] = {kind: {} for kind in KINDS}
        self._aliases: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
        owner: dict[str, tuple[str, str]] = {}  # id -> (kind, source)
        for manifest in self.manifests:
            for kind, entries in manifest.entries.items():
                for entry_id, entry in entries.items():
                    for name in (entry_id, *entry.aliases):
                        if name in owner:
                            other_kind, other_source = owner[name]
                            message = (
                                f"id {name!r} is declared twice: as {other_kind}.{name} in "
                                f"{other_source} and as {kind}.{entry_id} in {manifest.source}."
                            )
                            self.clashes.append((other_source, manifest.source, message))
                            self._report(message)
                        owner[name] = (kind, manifest.source)
                    self._entries[kind][entry_id] = entry
                    for alias in entry.aliases:
                        self._aliases[kind][alias] = entry_id
        self._check_references()

    def _report(self, message: str, source: str | None = None) -> None:
        """Raise, or collect ``message``; ``source`` names the manifest at fault for a bad reference."""
        if self._problems is None:
            raise ManifestError(message)
        self._problems.append(message)
        if source is not None:
            self.unresolved.append((source, message))

    @classmethod
    def from_paths(cls, paths: Iterable[str | Path]) -> Registry:
        return cls(read_manifest(p) for p in paths)

    def _check_references(self) -> None:
        for readout in self._entries["readouts"].values():
            assert isinstance(readout, ReadoutEntry)
            seen = {readout.id}
            current = readout
            while current.base is not None:
                if current.base not in self._entries["readouts"] and current.base not in self._aliases["readouts"]:
                    if current is readout:  # a broken link further down is reported for its own entry
                        self._report(
                            f"{readout.source}: key 'readouts.{current.id}.base': unknown readout "
                            f"{current.base!r}{_suggest(current.base, self.ids('readouts'))}.",
                            readout.source,
                        )
                    break
                current = self.get("readouts", current.base)
                if current.id in seen:
                    self._report(f"{readout.source}: readouts.{readout.id}: base chain loops.", readout.source)
                    break
                seen.add(current.id)
        for bench in self._entries["benchmarks"].values():
            assert isinstance(bench, BenchmarkEntry)
            refs = [("readout", "readouts", bench.readout)]
            if bench.assembly:
                refs.append(("assembly", "assemblies", bench.assembly))
            refs += [("parts", "benchmarks", p) for p in bench.parts]
            refs += [("metrics", "metrics", m) for m in bench.metrics]
            if bench.ceiling:
                refs.append(("ceiling", "metrics", bench.ceiling))
            refs.append(("headline", "metrics", bench.headline))
            unknown = False
            for field, kind, ref in refs:
                if ref not in self._entries[kind] and ref not in self._aliases[kind]:
                    unknown = True
                    self._report(
                        f"{bench.source}: key 'benchmarks.{bench.id}.{field}': unknown {singular(kind)} "
                        f"{ref!r}{_suggest(ref, self.ids(kind))}.",
                        bench.source,
                    )
            if not unknown:
                self._check_metric_kinds(bench)

    def _check_metric_kinds(self, bench: BenchmarkEntry) -> None:
        for field, problem in self.benchmark_problems(bench):
            self._report(f"{bench.source}: key 'benchmarks.{bench.id}.{field}': {problem}", bench.source)

    def benchmark_problems(self, bench: BenchmarkEntry) -> list[tuple[str, str]]:
        """``(field, problem)`` for each metric, ceiling or headline of the wrong kind for ``bench``'s kind.

        Checked for every manifest's benchmark when the registry is built (so ``plugin
        check`` refuses what ``score`` could not run), and for a custom benchmark object
        when it is scored. The references must resolve (see :meth:`_check_references`).
        """
        problems: list[tuple[str, str]] = []
        wanted = BENCHMARK_METRIC_KINDS.get(bench.kind, "")
        for metric_id in bench.metrics if wanted else []:
            entry = self.get("metrics", metric_id)
            if entry.kind != wanted:
                problems.append(
                    (
                        "metrics",
                        f"{metric_id!r} is a {entry.kind}, but a {bench.kind} benchmark needs metrics of kind "
                        f"{wanted!r}; name such metrics (`brainbench list metrics`).",
                    )
                )
                break
        if wanted == "representation" and len(bench.metrics) != 1:
            problems.append(
                (
                    "metrics",
                    f"a representation benchmark lists exactly one representation metric, not {len(bench.metrics)}.",
                )
            )
        if bench.ceiling:
            entry = self.get("metrics", bench.ceiling)
            if entry.kind != "ceiling":
                problems.append(
                    (
                        "ceiling",
                        f"{bench.ceiling!r} is a {entry.kind}, not a ceiling; name a metric of kind 'ceiling' "
                        "(e.g. split-half), or leave ceiling out.",
                    )
                )
        entry = self.get("metrics", bench.headline)
        if entry.kind != "ceiled":
            problems.append(
                (
                    "headline",
                    f"{bench.headline!r} is a {entry.kind}, not a ceiled score; name a metric of kind 'ceiled' "
                    "(e.g. ceiled-r2).",
                )
            )
        return problems

    # lookup -------------------------------------------------------------------------
    def ids(self, kind: str) -> list[str]:
        return sorted(self._entries[kind])

    def entries(self, kind: str) -> list[_Entry]:
        return [self._entries[kind][i] for i in self.ids(kind)]

    def get(self, kind: str, entry_id: str) -> Any:
        """The entry of ``kind`` named ``entry_id`` (or one of its aliases)."""
        if kind not in KINDS:
            raise UnknownIdError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}.")
        resolved = self._aliases[kind].get(entry_id, entry_id)
        try:
            return self._entries[kind][resolved]
        except KeyError:
            everything = [i for k in KINDS for i in (*self._entries[k], *self._aliases[k])]
            elsewhere = [k for k in KINDS if entry_id in self._entries[k] or entry_id in self._aliases[k]]
            hint = f" ({entry_id!r} is one of the {elsewhere[0]})" if elsewhere else ""
            raise UnknownIdError(
                f"unknown {singular(kind)} {entry_id!r}{hint}"
                f"{_suggest(entry_id, self.ids(kind) or everything)}; `brainbench list {kind}` shows them all."
            ) from None

    def find(self, entry_id: str) -> tuple[str, _Entry]:
        """``(kind, entry)`` for an id of any kind (a composite's part ``COMPOSITE.VALUE`` too)."""
        for kind in KINDS:
            if entry_id in self._entries[kind] or entry_id in self._aliases[kind]:
                return kind, self.get(kind, entry_id)
        composite = self._entries["benchmarks"].get(entry_id.partition(".")[0])
        if "." in entry_id and isinstance(composite, BenchmarkEntry) and composite.part_param:
            return "benchmarks", self.benchmark(entry_id)
        everything = [i for k in KINDS for i in (*self._entries[k], *self._aliases[k])]
        raise UnknownIdError(
            f"unknown id {entry_id!r}{_suggest(entry_id, everything)}; `brainbench list` shows every id."
        )

    def model(self, entry_id: str) -> ModelEntry:
        """A model's entry; an undeclared id ``PREFIX/NAME`` of a :data:`MODEL_FAMILIES` family is synthesized."""
        family = MODEL_FAMILIES.get(entry_id.partition("/")[0]) if "/" in entry_id else None
        if family is not None and entry_id not in self._entries["models"] and entry_id not in self._aliases["models"]:
            return load_object(family.resolver)(entry_id)
        entry = self.get("models", entry_id)
        if isinstance(entry, CheckpointEntry):  # a checkpoint file: resolved (hashed) only when used
            return load_object("brainbench.models.checkpoint:manifest_checkpoint_entry")(entry)
        return entry

    def assembly(self, entry_id: str) -> AssemblyEntry:
        return self.get("assemblies", entry_id)

    def readout(self, entry_id: str) -> ReadoutEntry:
        return self.get("readouts", entry_id)

    def metric(self, entry_id: str) -> MetricEntry:
        return self.get("metrics", entry_id)

    def analysis(self, entry_id: str) -> AnalysisEntry:
        return self.get("analyses", entry_id)

    def benchmark(self, entry_id: str) -> BenchmarkEntry:
        """A benchmark's entry; ``COMPOSITE.VALUE`` is a part of a composite that declares ``part_param``.

        A part is the composite's entry as a regression benchmark on one value of its
        assembly's ``part_param`` (e.g. one session); the value is checked when its data load.
        """
        composite_id, _, value = entry_id.partition(".")
        if value and entry_id not in self._entries["benchmarks"] and entry_id not in self._aliases["benchmarks"]:
            composite = self.get("benchmarks", composite_id)
            if composite.kind != "composite" or not composite.part_param:
                raise UnknownIdError(
                    f"unknown benchmark {entry_id!r}: {composite.id!r} has no parts named by value; "
                    "`brainbench list benchmarks` shows them all."
                )
            return composite.model_copy(
                update={
                    "id": f"{composite.id}.{value}",
                    "kind": "regression",
                    "assembly_params": {**composite.assembly_params, composite.part_param: value},
                    "part_param": "",
                    "aggregate": None,
                    "aliases": [],
                }
            )
        return self.get("benchmarks", entry_id)

    def benchmark_species(self, entry: BenchmarkEntry) -> str:
        """The species a benchmark declares, else its assembly's (empty when neither says)."""
        if entry.species:
            return entry.species
        try:
            return self.assembly(entry.assembly).species
        except BrainbenchError:  # an assembly no manifest declares
            return ""

    def readout_chain(self, entry_id: str) -> list[ReadoutEntry]:
        """A readout's entry, then the entries its ``base`` links lead to, in order."""
        chain = [self.readout(entry_id)]
        while chain[-1].base is not None:
            chain.append(self.readout(chain[-1].base))
        return chain

    def resolve_readout(self, entry_id: str) -> tuple[str, str, dict[str, Any]]:
        """Follow ``base`` links: ``(python_name, solver, merged params)`` of a readout id."""
        return merged_readout(self.readout_chain(entry_id))

    def references(
        self,
        entry: BenchmarkEntry,
        *,
        readout: ReadoutEntry | None = None,
        registered: BenchmarkEntry | None = None,
        as_declared: bool = True,
        custom: bool = False,
        found: dict[tuple[str, str], Any] | None = None,
    ) -> References:
        """The entries ``entry``'s declaration refers to, each looked up once; a bad one fails in one sentence.

        A benchmark that is not a manifest's own declaration (``as_declared`` False: a custom
        benchmark object) first has the kinds of its metrics, ceiling and headline checked
        (:meth:`benchmark_problems`, which a manifest's benchmark passed when the registry
        was built), so a metric of the wrong kind is reported as such, not as a failed lookup.

        Args:
            entry: the benchmark's entry (not a composite: its parts are planned by
                :func:`brainbench.scoring.composite.plan_composite`).
            readout: the entry of a readout overriding the benchmark's (already looked up).
            registered: the declaration whose readout is the run's declared one (default ``entry``).
            as_declared: whether ``entry`` is a manifest's declaration, checked when the registry was built.
            custom: whether the benchmark is an object with its own data: an assembly no
                manifest declares is then None instead of an error.
            found: entries already looked up, by ``(kind, id as written)``; filled in, so
                several benchmarks (a composite's parts) share one lookup of each entry.
        """
        found = {} if found is None else found

        def look_up(kind: str, entry_id: str) -> Any:
            if (kind, entry_id) not in found:
                found[kind, entry_id] = self.readout(entry_id) if kind == "readout" else self.metric(entry_id)
            return found[kind, entry_id]

        problems = [] if as_declared else self.benchmark_problems(entry)
        if problems:
            field, problem = problems[0]
            raise BrainbenchError(f"benchmark {entry.id!r}: {field}: {problem}")
        chain = [readout or look_up("readout", entry.readout)]  # the readout, then its ``base`` links
        while chain[-1].base is not None:
            chain.append(look_up("readout", chain[-1].base))
        declared = (registered or entry).readout
        try:  # the canonical id of the readout the registered benchmark declares (as written when unknown)
            declared_readout = look_up("readout", declared).id
        except BrainbenchError:
            declared_readout = declared
        headline = look_up("metric", entry.headline)
        ceiling = look_up("metric", entry.ceiling) if entry.ceiling else None
        metrics = {m: look_up("metric", m) for m in entry.metrics}
        try:
            assembly = self.assembly(entry.assembly)
        except BrainbenchError:
            if not custom:
                raise
            assembly = None  # a custom benchmark: its data hash stands for it
        return References(tuple(chain), merged_readout(chain), declared_readout, metrics, headline, ceiling, assembly)


def merged_readout(chain: Sequence[ReadoutEntry]) -> tuple[str, str, dict[str, Any]]:
    """``(python_name, solver, params)`` of a readout chain (:meth:`Registry.readout_chain`).

    The python name is the last entry's; the solver and params are the chain's, each link's
    overriding those of the entries it is based on.
    """
    params: dict[str, Any] = {}
    solver = ""
    for entry in reversed(chain):
        params.update(entry.params)
        solver = entry.solver or solver
    python_name = chain[-1].python_name
    assert python_name is not None
    return python_name, solver, params


def _suggest(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=3, cutoff=0.5)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def build_registry(sources: Iterable[ManifestSource]) -> Registry:
    """The registry of ``sources``, leaving out broken third-party manifests (see the module docstring).

    Each one left out is in ``registry.skipped`` and is warned about once, as a
    :class:`ManifestWarning` naming the file (or entry point), the key and the problem.
    An installed plugin that declares an id another manifest already declares (e.g. a
    built-in model id) is left out the same way (two clashing plugins both). A broken
    built-in or user manifest, and an id declared by two of them, raise
    :class:`ManifestError`.
    """
    skipped: list[ManifestProblem] = []

    def skip(source: ManifestSource, message: str, file: str) -> None:
        if source.strict:
            raise ManifestError(message)
        problem = _problem(message, file, source.declared_by)
        skipped.append(problem)
        text = " ".join(message.split()).rstrip(".")
        if file != source.declared_by:
            text += f" (declared by {source.declared_by})"
        warnings.warn(
            f"skipped plugin manifest {text}; `brainbench list --problems` lists what was skipped.",
            ManifestWarning,
            stacklevel=3,
        )

    loaded: list[tuple[ManifestSource, Manifest]] = []
    for source in sources:
        if source.path is None:
            skip(source, source.problem, source.declared_by)
            continue
        try:
            loaded.append((source, read_manifest(source.path)))
        except ManifestError as error:
            skip(source, str(error), str(source.path))
    while True:  # leaving a manifest out may break references into it, so check again
        messages: list[str] = []
        registry = Registry([manifest for _, manifest in loaded], messages)
        if registry.clashes:
            # an id declared twice: a plugin's manifest is skipped, never the built-in or a
            # user's own; two plugins that clash are both skipped (neither is preferred);
            # two strict manifests clashing are an error
            strict = {manifest.source for source, manifest in loaded if source.strict}
            clashing: dict[str, str] = {}
            for first, second, message in registry.clashes:
                if first in strict and second in strict:
                    raise ManifestError(message)
                for culprit in (first, second):
                    if culprit not in strict:
                        clashing.setdefault(culprit, message)
            for source, manifest in loaded:
                if manifest.source in clashing:
                    skip(source, f"{manifest.source}: {clashing[manifest.source]}", manifest.source)
            loaded = [(source, manifest) for source, manifest in loaded if manifest.source not in clashing]
            continue
        culprits = {file for file, _ in registry.unresolved}
        if not culprits:
            registry.skipped = skipped
            return registry
        for source, manifest in loaded:
            if manifest.source in culprits:
                first = next(message for file, message in registry.unresolved if file == manifest.source)
                skip(source, first, manifest.source)
        loaded = [(source, manifest) for source, manifest in loaded if manifest.source not in culprits]


@lru_cache(maxsize=1)
def _cached_registry(sources: tuple[ManifestSource, ...]) -> Registry:
    return build_registry(sources)


def get_registry() -> Registry:
    """The registry of every installed manifest (cached per set of manifests found)."""
    return _cached_registry(tuple(manifest_sources()))


def refresh() -> None:
    """Forget the cached registry, so the next :func:`get_registry` reads every manifest again.

    Call it in a running process after a manifest's text or a ``BRAINBENCH_*`` environment
    variable changed: the cache is keyed on which manifest files are found, not on what
    they say.
    """
    _cached_registry.cache_clear()


def load_object(python_name: str) -> Any:
    """Import ``"package.module:attribute"`` and return the attribute."""
    module_name, _, attribute = python_name.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise ManifestError(f"cannot import {module_name!r} (named by {python_name!r}): {error}.") from error
    except Exception as error:  # a plugin's module that fails while it is imported: its bug, one sentence
        detail = " ".join(str(error).split()).rstrip(".") or "no message"
        raise ManifestError(
            f"importing {module_name!r} (named by {python_name!r}) raised {type(error).__name__}: {detail}; "
            "fix or uninstall the plugin that declares it."
        ) from error
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ManifestError(f"{module_name!r} has no attribute {attribute!r} (named by {python_name!r}).") from None
    return obj
