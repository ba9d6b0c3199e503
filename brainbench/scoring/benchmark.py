"""A benchmark: an assembly, a selection, a readout, metrics, a ceiling and a split.

Built-in benchmarks are manifest entries (data, not code). :func:`custom_benchmark`
turns a user's own assembly and stimuli into the same object, so every scorer path
accepts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from brainbench.assemblies.base import AssemblySource, InMemoryAssembly, LoadedAssembly
from brainbench.data.assembly import AssemblyError, is_rdm_assembly, unit_dim
from brainbench.data.stimuli import StimulusSet
from brainbench.errors import BrainbenchError
from brainbench.identifiers import check_identifier
from brainbench.registry.manifest import AssemblyEntry, BenchmarkEntry, SplitSpec
from brainbench.registry.registry import Registry, load_object


@dataclass
class Benchmark:
    """A resolved benchmark.

    Attributes:
        entry: its declaration (id, version, readout, metrics, split, ...).
        source: the assembly plugin instance that loads its data.
        splits: explicit ``(train, test)`` positions used instead of ``entry.split``
            (see :func:`brainbench.data.splits.check_splits`), or None.
    """

    entry: BenchmarkEntry
    source: AssemblySource
    splits: list | None = None
    _loaded: LoadedAssembly | None = field(default=None, repr=False)

    @property
    def identifier(self) -> str:
        return self.entry.id

    def load(self, progress: bool = True) -> LoadedAssembly:
        """The benchmark's assembly after its declared selection, with matching stimuli."""
        if self._loaded is None:
            loaded = self.source.load(progress=progress)
            assembly = select_neuroids(loaded.assembly, self.entry.selection)
            self._loaded = LoadedAssembly(assembly, loaded.stimuli)
        return self._loaded


def select_neuroids(assembly: xr.DataArray, selection: dict) -> xr.DataArray:
    """Keep neuroids (an RDM assembly's sites) whose coordinates equal the selection's values (a value or a list)."""
    dim = unit_dim(assembly)
    keep = np.ones(assembly.sizes[dim], dtype=bool)
    for coord, wanted in selection.items():
        if coord not in assembly.coords or assembly[coord].dims != (dim,):
            raise AssemblyError(f"selection uses {dim} coordinate {coord!r}, which the assembly lacks.")
        values = np.asarray([str(v) for v in assembly[coord].values])
        wanted_list = [str(w) for w in (wanted if isinstance(wanted, list) else [wanted])]
        keep &= np.isin(values, wanted_list)
    if not keep.any():
        raise AssemblyError(f"selection {selection} keeps no {dim}.")
    return assembly.isel({dim: np.flatnonzero(keep)}) if not keep.all() else assembly


def resolve_benchmark(benchmark_id: str, registry: Registry) -> Benchmark:
    """The benchmark a (registered) id or alias names."""
    entry = registry.benchmark(benchmark_id)
    return benchmark_of_entry(entry, registry.assembly(entry.assembly))


def benchmark_of_entry(entry: BenchmarkEntry, assembly: AssemblyEntry) -> Benchmark:
    """The benchmark of a looked-up entry and its assembly's entry: the plugin instantiated with the declared params."""
    return Benchmark(entry=entry, source=assembly_source(entry, assembly))


def assembly_source(entry: BenchmarkEntry, assembly_entry: AssemblyEntry, without: str = "") -> AssemblySource:
    """The entry's assembly plugin instantiated with its declared params (less the param ``without``).

    The params are the assembly entry's with the benchmark's ``assembly_params`` on top: the
    one place they are merged (the load stage and the remembered-key fingerprint both call it).
    """
    params = {**assembly_entry.params, **entry.assembly_params}
    params.pop(without, None)
    source = load_object(assembly_entry.python_name)(**params)
    if not isinstance(source, AssemblySource):
        raise AssemblyError(f"{assembly_entry.python_name} returned {type(source).__name__}, not an AssemblySource.")
    return source


def composite_parts(entry: BenchmarkEntry, registry: Registry) -> tuple[list[BenchmarkEntry], list[AssemblySource]]:
    """A composite's part entries, in order, and the assembly plugins that list all their remote files.

    Parts named in ``parts`` are registered benchmarks (each with its own plugin); with
    ``part_param``, one plugin of the composite's assembly lists the values (``part_values``)
    and every part's files, and part ``<id>.<value>`` is the registry's (see
    :meth:`brainbench.registry.registry.Registry.benchmark`). No data is loaded.
    """
    if not entry.part_param:
        parts = [resolve_benchmark(p, registry) for p in entry.parts]
        return [b.entry for b in parts], [b.source for b in parts]
    assembly = registry.assembly(entry.assembly)
    source = assembly_source(entry, assembly, without=entry.part_param)
    if not hasattr(source, "part_values"):
        raise BrainbenchError(
            f"composite {entry.id!r} varies {entry.part_param!r} of assembly {assembly.id!r}, "
            "whose plugin does not list its parts (part_values); name the parts instead."
        )
    return [registry.benchmark(f"{entry.id}.{value}") for value in source.part_values()], [source]


#: Test stimuli each fold of the default split keeps at least: a per-split Pearson r of
#: fewer is undefined (1) or always +-1 (2).
MIN_TEST_STIMULI = 3


def default_split(n_stimuli: int) -> dict[str, int]:
    """The default split of :func:`custom_benchmark`: 10 folds, fewer when every fold would test under 3 stimuli.

    ``n_splits = min(10, n_stimuli // 3)``; fewer than 6 stimuli (2 folds of 3) are refused
    with a sentence that says what to pass instead.
    """
    n_splits = min(10, n_stimuli // MIN_TEST_STIMULI)
    if n_splits < 2:
        raise BrainbenchError(
            f"{n_stimuli} stimuli are too few for the default split, which tests at least {MIN_TEST_STIMULI} "
            f"stimuli in each of 2 or more folds so every split's r is defined; give at least "
            f"{2 * MIN_TEST_STIMULI} stimuli, or pass your own splits=[(train_indices, test_indices), ...]."
        )
    return {"n_splits": n_splits}


def custom_benchmark(
    assembly: xr.DataArray,
    stimuli: StimulusSet,
    identifier: str | None = None,
    readout: str = "simple",
    split: SplitSpec | dict | None = None,
    ceiling: str | None = "split-half",
    version: int = 1,
    reliability_threshold: float | None = None,
    splits: list | None = None,
    kind: str = "regression",
    metrics: list[str] | None = None,
) -> Benchmark:
    """A benchmark over a user's own assembly and stimuli (see :mod:`brainbench.assemblies.byod`).

    Args:
        assembly: a NeuralAssembly; trial data ``(repetition, stimulus, neuroid)`` enables
            the split-half ceiling, averaged data gets no ceiling. An RDM assembly
            ``(site, stimulus, stimulus_b)`` (:func:`brainbench.data.assembly.make_rdm_assembly`)
            makes a representation benchmark ceiled by its ``ceiling`` coordinate
            (``ceiling="rdm-given-reliability"``, the default for it).
        stimuli: the images, ids matching ``assembly.stimulus_id``.
        identifier: default the assembly's; a safe name (see :mod:`brainbench.identifiers`).
        splits: your own ``(train_indices, test_indices)`` pairs (positions into the
            stimulus axis), e.g. a dataset's published 100/18 split, used instead of
            ``split``; checked here and again by the scorer.
        kind: ``regression`` (a readout per neuroid) or ``representation`` (RDMs compared
            directly, e.g. with ``metrics=["rdm-similarity"]``); see :mod:`brainbench.scoring.kinds`.
        metrics: metric ids (default: the benchmark default, Pearson r and explained variance).
        split: the split declaration (:class:`~brainbench.registry.manifest.SplitSpec`);
            default :func:`default_split`: 10 folds, or ``n_stimuli // 3`` folds for fewer
            than 30 stimuli, so every fold tests at least 3 stimuli (at least 6 stimuli).
    """
    identifier = check_identifier(identifier or str(assembly.attrs.get("identifier", "custom")), "benchmark identifier")
    if splits is not None:
        from brainbench.data.splits import check_splits  # imports torch

        splits = check_splits(splits, assembly.sizes["stimulus"])
    if is_rdm_assembly(assembly):
        kind = "representation"
        metrics = metrics or ["rdm-similarity"]
        ceiling = "rdm-given-reliability" if ceiling == "split-half" and "ceiling" in assembly.coords else ceiling
    elif "repetition" not in assembly.dims:
        ceiling = None
    if split is None and splits is None and not is_rdm_assembly(assembly):
        split = default_split(assembly.sizes["stimulus"])
    spec = split if isinstance(split, SplitSpec) else SplitSpec(**(split or {}))
    extra = {"metrics": list(metrics)} if metrics is not None else {}
    entry = BenchmarkEntry(
        id=identifier,
        version=version,
        assembly=identifier,
        readout=readout,
        ceiling=ceiling,
        split=spec,
        reliability_threshold=reliability_threshold,
        kind=kind,
        source="<custom>",
        **extra,
    )
    return Benchmark(entry=entry, source=InMemoryAssembly(assembly, stimuli), splits=splits)
