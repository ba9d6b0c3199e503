"""Discovery and lookup of plugins declared in manifests.

Manifests are found through the entry-point group ``brainbench.manifests`` (the
built-in ``registry.toml`` registers exactly like a third-party package) plus any paths
in ``BRAINBENCH_MANIFESTS`` (separated by ``os.pathsep``) for a user's own manifest
that is not packaged. An entry point's target is a path (``str``/``Path``/importlib
resource) or a callable returning one. Plugin code is imported only by :func:`load_object`.
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from brainbench.errors import ManifestError, UnknownIdError
from brainbench.registry.manifest import (
    KINDS,
    AnalysisEntry,
    AssemblyEntry,
    BenchmarkEntry,
    Manifest,
    MetricEntry,
    ModelEntry,
    ReadoutEntry,
    _Entry,
    read_manifest,
    singular,
)

ENTRY_POINT_GROUP = "brainbench.manifests"


def _manifest_paths() -> list[Path]:
    import entrypoints

    paths: list[Path] = []
    for ep in sorted(entrypoints.get_group_all(ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            target = ep.load()
        except Exception as error:
            raise ManifestError(
                f"entry point {ep.name!r} in group {ENTRY_POINT_GROUP} ({ep.module_name}:{ep.object_name}) "
                f"could not be loaded: {error}."
            ) from error
        target = target() if callable(target) else target
        paths.append(Path(str(target)))
    extra = os.environ.get("BRAINBENCH_MANIFESTS", "")
    paths.extend(Path(p) for p in extra.split(os.pathsep) if p.strip())
    return paths


class Registry:
    """All entries of all manifests, with ids unique across manifests.

    Aliases resolve to their entry; ``list`` shows each entry once. Without ``problems``
    the first clash or unknown reference raises :class:`ManifestError`; with a list, every
    one is appended to it (``plugin check`` reports all of them).
    """

    def __init__(self, manifests: Iterable[Manifest], problems: list[str] | None = None) -> None:
        self._problems = problems
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
                            self._report(
                                f"id {name!r} is declared twice: as {other_kind}.{name} in "
                                f"{other_source} and as {kind}.{entry_id} in {manifest.source}."
                            )
                        owner[name] = (kind, manifest.source)
                    self._entries[kind][entry_id] = entry
                    for alias in entry.aliases:
                        self._aliases[kind][alias] = entry_id
        self._check_references()

    def _report(self, message: str) -> None:
        if self._problems is None:
            raise ManifestError(message)
        self._problems.append(message)

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
                            f"{current.base!r}{_suggest(current.base, self.ids('readouts'))}."
                        )
                    break
                current = self.get("readouts", current.base)
                if current.id in seen:
                    self._report(f"{readout.source}: readouts.{readout.id}: base chain loops.")
                    break
                seen.add(current.id)
        for bench in self._entries["benchmarks"].values():
            assert isinstance(bench, BenchmarkEntry)
            refs = [("assembly", "assemblies", bench.assembly), ("readout", "readouts", bench.readout)]
            refs += [("metrics", "metrics", m) for m in bench.metrics]
            if bench.ceiling:
                refs.append(("ceiling", "metrics", bench.ceiling))
            refs.append(("headline", "metrics", bench.headline))
            for field, kind, ref in refs:
                if ref not in self._entries[kind] and ref not in self._aliases[kind]:
                    self._report(
                        f"{bench.source}: key 'benchmarks.{bench.id}.{field}': unknown {singular(kind)} "
                        f"{ref!r}{_suggest(ref, self.ids(kind))}."
                    )

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
        """``(kind, entry)`` for an id of any kind."""
        for kind in KINDS:
            if entry_id in self._entries[kind] or entry_id in self._aliases[kind]:
                return kind, self.get(kind, entry_id)
        everything = [i for k in KINDS for i in (*self._entries[k], *self._aliases[k])]
        raise UnknownIdError(f"unknown id {entry_id!r}{_suggest(entry_id, everything)}; "
                             "`brainbench list` shows every id.")

    def model(self, entry_id: str) -> ModelEntry:
        return self.get("models", entry_id)

    def assembly(self, entry_id: str) -> AssemblyEntry:
        return self.get("assemblies", entry_id)

    def readout(self, entry_id: str) -> ReadoutEntry:
        return self.get("readouts", entry_id)

    def metric(self, entry_id: str) -> MetricEntry:
        return self.get("metrics", entry_id)

    def analysis(self, entry_id: str) -> AnalysisEntry:
        return self.get("analyses", entry_id)

    def benchmark(self, entry_id: str) -> BenchmarkEntry:
        return self.get("benchmarks", entry_id)

    def resolve_readout(self, entry_id: str) -> tuple[str, str, dict[str, Any]]:
        """Follow ``base`` links: ``(python_name, solver, merged params)`` of a readout id."""
        chain = []
        current = self.readout(entry_id)
        chain.append(current)
        while current.base is not None:
            current = self.readout(current.base)
            chain.append(current)
        params: dict[str, Any] = {}
        solver = ""
        for entry in reversed(chain):
            params.update(entry.params)
            solver = entry.solver or solver
        assert chain[-1].python_name is not None
        return chain[-1].python_name, solver, params


def _suggest(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=3, cutoff=0.5)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


@lru_cache(maxsize=1)
def _cached_registry(key: tuple[str, ...]) -> Registry:
    return Registry.from_paths(key)


def get_registry() -> Registry:
    """The registry of every installed manifest (cached per set of manifest paths)."""
    return _cached_registry(tuple(str(p) for p in _manifest_paths()))


def load_object(python_name: str) -> Any:
    """Import ``"package.module:attribute"`` and return the attribute."""
    module_name, _, attribute = python_name.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise ManifestError(f"cannot import {module_name!r} (named by {python_name!r}): {error}.") from error
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ManifestError(f"{module_name!r} has no attribute {attribute!r} (named by {python_name!r}).") from None
    return obj
