"""Composite benchmarks: several benchmarks scored one after another and summarised by a declared aggregate.

A composite (``kind = "composite"`` in a manifest) names its parts -- registered
benchmarks (``parts``), or one part per value of its assembly's ``part_param`` (part ids
``<id>.<value>``, see :meth:`brainbench.registry.registry.Registry.benchmark`) -- and an
``aggregate`` (:class:`~brainbench.registry.manifest.PartAggregate`). Each part is a
normal benchmark with its own stimulus set: :func:`brainbench.results.runs.run` prepares,
scores (or finds in the results store under its own content key) and stores each as its
own run, and keeps only its per-neuroid numbers (:func:`reduce_part`: no activations,
predictions or stimuli) before the next part is loaded, so a composite's peak memory is
that of its largest part. This module is the pure part, entered twice by a run:

* :func:`plan_composite`, before any work: the options refused, every registry lookup
  the run needs (the parts' entries, the headline metric), and offline, every part's
  file present (a :class:`CompositePlan`);
* :func:`assemble_composite`, after the parts: the composite's run spec (its declaration
  and its parts' content keys), the declared aggregate and the dataset.

The composite's score dataset concatenates the parts' per-neuroid variables along
``neuroid`` and adds per-part and per-group summaries:

==================  ===================  =====================================================
variable            dims                 meaning
==================  ===================  =====================================================
``r``, ``ev``,      (layer, neuroid)     each part's per-layer values, neuroids of all parts
``r_split_mean``,
``ceiled``
``headline_r``      (neuroid)            per-split r at each split's training-chosen layer
``ceiling``         (neuroid)            split-half reliability (NaN where a part has no trials)
``reliable``        (neuroid)            ceiling >= the reliability floor
``headline_value``  (neuroid)            the aggregated value: ``headline_r`` or its signed
                                         ceiled r^2 (``aggregate.value``)
``part_value``      (part)               ``aggregate.part`` of its neuroids' finite values
``part_score``      (part)               the part's own headline (ceiled where it has trials)
``part_median_r``   (part)               median ``headline_r`` of its neuroids
``part_median_ceiling`` (part)           median ceiling of its neuroids (NaN without trials)
``group_value``     (group)              ``aggregate.group`` of its parts' ``part_value``
==================  ===================  =====================================================

with neuroid coordinates (``session``, ``subject``, ... and ``part``), part coordinates
(``part_group``, ``part_score_kind``, ``part_best_layer``, ``part_content_key``,
``part_n_neuroids``, ``part_n_stimuli``) and the attrs of every score dataset. ``score``
is ``aggregate.overall`` of the groups' values; with ``aggregate.value = "r"`` its
``score_kind`` is ``uncorrected-r`` whatever the parts' ceilings (their ceilings are
still reported per part and per neuroid).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from brainbench.caching.content import KEY_FORMAT, declaration
from brainbench.errors import BrainbenchError, OfflineError
from brainbench.metrics.ceiled import AGGREGATES, CEILED, UNCORRECTED, ReliabilityRule, ceiled_metric

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    import xarray as xr

    from brainbench.data.fetch import RemoteFile
    from brainbench.registry.manifest import BenchmarkEntry, MetricEntry, PartAggregate
    from brainbench.registry.registry import References, Registry
    from brainbench.scoring.arguments import CheckedRequest
    from brainbench.scoring.spec import RunSpec

#: Per-neuroid variables of a part's score dataset that the composite keeps.
LAYER_VARIABLES = ("r", "ev", "r_split_mean", "ceiled")
NEUROID_VARIABLES = ("headline_r", "ceiling", "reliable")


def is_composite(benchmark: Any, registry: Registry) -> bool:
    """Whether ``benchmark`` (an id) names a composite benchmark."""
    return isinstance(benchmark, str) and registry.benchmark(benchmark).kind == "composite"


def check_composite_options(benchmark: Any, **options: Any) -> None:
    """Refuse options a composite cannot take (its parts keep their declared protocol)."""
    given = [name for name, value in options.items() if value is not None]
    if given:
        raise BrainbenchError(
            f"benchmark {benchmark!r} is a composite: {', '.join(given)} cannot be overridden for it; "
            "score its parts one by one to change them."
        )


def remote_files(entry: BenchmarkEntry, registry: Registry) -> list[RemoteFile]:
    """Every remote file of every part (for ``fetch``, the offline check and the default grid)."""
    from brainbench.scoring.benchmark import composite_parts

    return [f for source in composite_parts(entry, registry)[1] for f in source.remote_files()]


@dataclass(frozen=True)
class CompositePlan:
    """A composite's run, planned before any part is scored: all it needs from the registry, looked up once.

    Made by :func:`plan_composite`; :func:`assemble_composite` aggregates the scored parts with it.

    Attributes:
        entry: the composite's declaration (its ``aggregate`` says how the parts combine).
        parts: the part benchmarks' entries, in order (a part's id is its ``id``).
        headline: the headline metric's entry (its declaration enters the composite's key).
        ceiled: that headline as ``f(r (N,), ceiling (N,)) -> (N,)``
            (:func:`~brainbench.metrics.ceiled.ceiled_metric`).
        reliability_floor: the headline's least ceiling of a reliable neuroid.
        references: each part's referenced entries (readout chain, metrics, assembly), in
            the order of ``parts``; an entry several parts share is looked up once.
        declared: whether each part is a manifest's own declaration (not synthesized from
            the composite's ``part_param``), in the order of ``parts``.
    """

    entry: BenchmarkEntry
    parts: tuple[BenchmarkEntry, ...]
    headline: MetricEntry
    ceiled: Callable[..., np.ndarray]
    reliability_floor: float
    references: tuple[References, ...]
    declared: tuple[bool, ...]


def plan_composite(request: CheckedRequest, registry: Registry) -> CompositePlan:
    """Check a composite request and look up, once, everything its run needs; nothing is loaded or scored.

    Everything: the parts' entries, the headline, and what each part's declaration refers
    to (:meth:`~brainbench.registry.registry.Registry.references`, an entry the parts share
    looked up once). Refuses, each in one sentence before any work: an option a composite
    cannot take (:func:`check_composite_options`), a part whose plugin cannot list its
    parts and, offline, any part's file that is neither cached nor mirrored (named by its
    path in the mirror layout).
    """
    from brainbench.data.fetch import cache_path, home, mirror_root, offline
    from brainbench.scoring.benchmark import composite_parts

    entry = request.benchmark_entry
    check_composite_options(
        entry.id,
        readout=request.readout,
        readout_params=request.readout_params,
        splits=request.splits,
        tokens=request.tokens,
    )
    parts, sources = composite_parts(entry, registry)
    headline = registry.metric(entry.headline)
    # what each part refers to, an entry the parts share looked up once; a part is its own
    # registered benchmark (a listed one, or one synthesized from the composite's part_param), so
    # its run is the run of that benchmark scored alone: same key, same declared readout
    found: dict[tuple[str, str], Any] = {("metric", entry.headline): headline}
    ids = set(registry.ids("benchmarks"))
    declared = tuple(part.id in ids for part in parts)
    references = tuple(
        registry.references(part, as_declared=as_declared, found=found)
        for part, as_declared in zip(parts, declared, strict=True)
    )
    # every lookup done: the headline's function and reliability floor
    ceiled = ceiled_metric(headline.python_name, headline.params)
    floor = ReliabilityRule.from_params(headline.params).floor
    if offline():  # refused at once, before any part is scored, when a part's file is missing
        files = [f for source in sources for f in source.remote_files()]
        mirror = mirror_root()
        missing = [
            f
            for f in files
            if not cache_path(f).is_file() and not (mirror is not None and (mirror / f.dataset / f.path).is_file())
        ]
        if missing:
            datasets = sorted({f.dataset for f in missing})
            where = f"{home() / 'data'}/<dataset>/<path>" + (f" or {mirror}/<dataset>/<path>" if mirror else "")
            raise OfflineError(
                f"{len(missing)} of the {len(files)} files of {entry.id} are not available offline "
                f"(BRAINBENCH_OFFLINE=1): {', '.join(f'{f.dataset}/{f.path}' for f in missing)}; put each at "
                f"{where} (or set BRAINBENCH_MIRROR=DIR to a folder holding {', '.join(d + '/' for d in datasets)}), "
                f"or unset BRAINBENCH_OFFLINE to download them (`brainbench fetch {entry.id}`)."
            )
    return CompositePlan(entry, tuple(parts), headline, ceiled, floor, references, declared)


@dataclass
class _Part:
    """What the composite keeps of one part's score: per-neuroid values and the part's headline."""

    spec: RunSpec
    layers: list[str]
    per_layer: dict[str, np.ndarray]  # name -> (layer, neuroid)
    per_neuroid: dict[str, np.ndarray]  # name -> (neuroid,)
    coords: dict[str, np.ndarray]  # neuroid coordinate -> (neuroid,)
    attrs: dict[str, Any]
    n_stimuli: int
    stored: bool
    elapsed_s: float
    per_split: list[str] = field(default_factory=list)

    @property
    def benchmark(self) -> str:
        """The part's benchmark id."""
        return self.spec.benchmark


def reduce_part(spec: RunSpec, dataset: xr.Dataset, stored: bool, elapsed_s: float) -> _Part:
    """What the composite keeps of a part's run: its spec and per-neuroid numbers (``stored``: read from the store)."""
    coords = {str(c): np.asarray(dataset[c].values) for c in dataset.coords if dataset[c].dims == ("neuroid",)}
    choice = json.loads(dataset.attrs["layer_choice"])
    return _Part(
        spec=spec,
        layers=[str(x) for x in dataset["layer"].values],
        per_layer={v: np.asarray(dataset[v].values, dtype=np.float64) for v in LAYER_VARIABLES if v in dataset},
        per_neuroid={v: np.asarray(dataset[v].values) for v in NEUROID_VARIABLES},
        coords=coords,
        attrs=dict(dataset.attrs),
        n_stimuli=int(dataset.sizes.get("stimulus", 0)),
        stored=stored,
        elapsed_s=elapsed_s,
        per_split=[str(x) for x in choice["per_split"]],
    )


def _joined(hashes: Any) -> str:
    return hashlib.sha256("\0".join(hashes).encode()).hexdigest()


@dataclass(frozen=True)
class Aggregated:
    """The declared aggregate of per-neuroid values.

    Attributes:
        part_values: ``(part,)`` the part aggregate of each part's finite values (NaN if none).
        groups: the group names, in order of first appearance.
        group_values: ``(group,)`` the group aggregate of its parts' finite values.
        overall: the overall aggregate of the finite group values (NaN if none).
    """

    part_values: np.ndarray
    groups: list[str]
    group_values: np.ndarray
    overall: float


def aggregate(values: list[np.ndarray], part_groups: list[str], how: PartAggregate) -> Aggregated:
    """Summarise per-neuroid ``values`` (one ``(n_i,)`` array per part) by part, group and overall."""

    def summary(x: np.ndarray, name: str) -> float:
        x = np.asarray(x, dtype=np.float64)
        finite = x[np.isfinite(x)]
        return float(AGGREGATES[name](finite)) if finite.size else float("nan")

    part_values = np.array([summary(v, how.part) for v in values])
    groups = list(dict.fromkeys(part_groups))
    group_values = np.array([summary(part_values[[g == name for g in part_groups]], how.group) for name in groups])
    return Aggregated(part_values, groups, group_values, summary(group_values, how.overall))


def describe_aggregate(how: PartAggregate, unit: str = "part") -> str:
    """The aggregate in words, e.g. for ``score_note``."""
    what = "uncorrected per-split r" if how.value == "r" else "signed ceiled r^2 (reliable neuroids)"
    return (
        f"{how.overall} over {how.group_by} groups of the {how.group} over each group's {unit}s of the "
        f"{how.part} over each {unit}'s neuroids of the {what} at each split's training-chosen layer"
    )


def assemble_composite(
    plan: CompositePlan, parts: list[_Part], elapsed_s: float, threads: int
) -> tuple[RunSpec, xr.Dataset]:
    """The composite's run spec and score dataset (layout in the module docstring) from its reduced parts.

    The spec holds the composite's declaration and its parts' content keys (which hash
    their data), so its key changes whenever a part's does.
    """
    import xarray as xr

    from brainbench.scoring.assemble import SCORE_FORMAT
    from brainbench.scoring.spec import RunSpec

    entry, how = plan.entry, plan.entry.aggregate
    assert how is not None
    values, groups = _headline_values(plan, parts)
    result = aggregate(values, groups, how)
    data, coords = _variables(parts, values, groups, result)
    hashes = {h: _joined(p.spec.content[h] for p in parts) for h in ("data_sha256", "stimuli_sha256")}
    attrs = _attrs(plan, parts, result, hashes, elapsed_s, threads, SCORE_FORMAT)
    # the spec: the composite's declaration and its parts' content keys (which hash their data)
    first = parts[0].spec
    content = {
        "format": KEY_FORMAT,
        "model": first.content["model"],
        "weights": first.content["weights"],
        "benchmark": {"id": entry.id, **declaration(entry)},
        "readout": {"id": first.readout},
        "seed": first.seed,
        "layers": list(first.layers),
        "parts": {p.spec.benchmark: p.spec.key for p in parts},
        "headline": {"id": entry.headline, **declaration(plan.headline)},
        **hashes,
    }
    spec = RunSpec(
        model=first.model,
        benchmark=entry.id,
        readout=first.readout,
        layers=tuple(first.layers),
        seed=first.seed,
        content=content,
        # the parts keep their declared readouts (a composite takes no readout override)
        declared_readout=first.declared_readout,
    )
    dataset = xr.Dataset(data, coords=coords, attrs=attrs)
    dataset.attrs.update(
        protocol=spec.protocol,
        protocol_detail=json.dumps(spec.protocol_detail, sort_keys=True),
        spec=spec.to_json(),
        content_key=spec.key,
    )
    return spec, dataset


def _headline_values(plan: CompositePlan, parts: list[_Part]) -> tuple[list[np.ndarray], list[str]]:
    """Each part's ``(n_i,)`` aggregated per-neuroid values (``aggregate.value``) and its group."""
    entry, how = plan.entry, plan.entry.aggregate
    assert how is not None
    if any(p.layers != parts[0].layers for p in parts):
        raise BrainbenchError(f"the parts of {entry.id!r} were scored on different layers; score them again.")
    values, groups = [], []
    for part in parts:
        r, ceiling = part.per_neuroid["headline_r"], part.per_neuroid["ceiling"]
        # the part's own verdict on each neuroid's reliability (floor and, with trials, the test against chance)
        reliable = np.asarray(part.per_neuroid["reliable"], dtype=bool)
        values.append(r if how.value == "r" else np.where(reliable, plan.ceiled(r, ceiling), np.nan))
        if how.group_by not in part.coords:
            raise BrainbenchError(
                f"composite {entry.id!r} groups parts by {how.group_by!r}, a neuroid coordinate that part "
                f"{part.benchmark!r} lacks."
            )
        names = {str(v) for v in part.coords[how.group_by]}
        if len(names) != 1:
            raise BrainbenchError(
                f"part {part.benchmark!r} of {entry.id!r} spans {len(names)} {how.group_by} values; "
                "each part must belong to one group."
            )
        groups.append(names.pop())
    return values, groups


def _variables(
    parts: list[_Part], values: list[np.ndarray], groups: list[str], result: Aggregated
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The composite dataset's data variables and coordinates (layout in the module docstring)."""
    common = set.intersection(*(set(p.coords) for p in parts))
    coords: dict[str, Any] = {
        "layer": parts[0].layers,
        "part": [p.benchmark for p in parts],
        "group": result.groups,
        **{c: ("neuroid", np.concatenate([p.coords[c] for p in parts])) for c in sorted(common)},
    }
    coords["part_of_neuroid"] = (
        "neuroid",
        np.concatenate([[p.benchmark] * len(v) for p, v in zip(parts, values, strict=True)]),
    )
    data: dict[str, Any] = {}
    for name in LAYER_VARIABLES:
        if all(name in p.per_layer for p in parts):
            data[name] = (("layer", "neuroid"), np.concatenate([p.per_layer[name] for p in parts], axis=1))
    for name in NEUROID_VARIABLES:
        data[name] = (("neuroid",), np.concatenate([p.per_neuroid[name] for p in parts]))
    data["headline_value"] = (("neuroid",), np.concatenate(values).astype(np.float64))
    data["part_value"] = (("part",), result.part_values)
    data["part_score"] = (("part",), np.array([_float(p.attrs.get("score")) for p in parts]))
    data["part_median_r"] = (("part",), np.array([_median(p.per_neuroid["headline_r"]) for p in parts]))
    data["part_median_ceiling"] = (("part",), np.array([_median(p.per_neuroid["ceiling"]) for p in parts]))
    data["group_value"] = (("group",), result.group_values)
    coords.update(
        part_group=("part", groups),
        part_score_kind=("part", [str(p.attrs.get("score_kind", "")) for p in parts]),
        part_best_layer=("part", [str(p.attrs["best_layer"]) for p in parts]),
        part_content_key=("part", [str(p.attrs["content_key"]) for p in parts]),
        part_n_neuroids=("part", [len(v) for v in values]),
        part_n_stimuli=("part", [p.n_stimuli for p in parts]),
        group_n_parts=("group", [groups.count(g) for g in result.groups]),
    )
    return data, coords


def _attrs(
    plan: CompositePlan,
    parts: list[_Part],
    result: Aggregated,
    hashes: dict[str, str],
    elapsed_s: float,
    threads: int,
    score_format: int,
) -> dict[str, Any]:
    """The attrs every score dataset carries, for a composite, but those of its run spec (its key, protocol)."""
    entry, how = plan.entry, plan.entry.aggregate
    assert how is not None
    first = parts[0].attrs
    per_split = [layer for p in parts for layer in p.per_split]
    counts = {layer: per_split.count(layer) for layer in parts[0].layers}
    best = max(parts[0].layers, key=lambda layer: counts[layer])  # ties: the earlier layer
    beats = [json.loads(p.attrs["layer_choice"])["beats_zero"] for p in parts]
    no_trials = [p.benchmark for p in parts if not json.loads(p.attrs.get("ceiling_formula", "{}"))]
    n_reliable = int(sum(int(p.attrs.get("n_reliable", 0)) for p in parts))
    if how.value == "r":
        kind = UNCORRECTED
        note = (
            f"declared uncorrected: {describe_aggregate(how)}; {len(no_trials)} of {len(parts)} parts have no "
            "trials, so no ceiling (parts with trials report theirs)"
        )
    else:
        kind = CEILED
        empty = [p.benchmark for p, v in zip(parts, result.part_values, strict=True) if not np.isfinite(v)]
        note = f"{describe_aggregate(how)}" + (
            f"; {len(empty)} parts without a reliable neuroid left out: {', '.join(empty)}" if empty else ""
        )
    prov = json.loads(first["provenance"])
    prov.update(
        data_sha256=hashes["data_sha256"],
        stimuli_sha256=hashes["stimuli_sha256"],
        activations_sha256={},
        parts={p.benchmark: p.attrs["content_key"] for p in parts},
    )
    formulas: dict[str, Any] = {}
    for p in parts:
        formulas.update(json.loads(p.attrs.get("ceiling_formula", "{}")))
    n_total = sum(json.loads(p.attrs["selection"])["n_total"] for p in parts)
    n_kept = sum(json.loads(p.attrs["selection"])["n_kept"] for p in parts)
    return {
        "model": parts[0].spec.model,
        "benchmark": entry.id,
        "benchmark_version": entry.version,
        "benchmark_kind": "composite",
        "readout": first["readout"],
        "solver": first["solver"],
        "readout_params": first["readout_params"],
        "readout_overrides": first.get("readout_overrides", "{}"),
        "metrics": first["metrics"],
        "ceiling_formula": json.dumps(formulas),
        "best_layer": best,
        "layer_choice": json.dumps(
            {
                "per_split": per_split,
                "beats_zero": bool(np.mean(beats) > 0.5),
                "per_part": {p.benchmark: p.attrs["best_layer"] for p in parts},
            }
        ),
        "score": result.overall,
        "score_kind": kind,
        "score_note": note,
        "aggregate": json.dumps({**how.model_dump(mode="json"), "description": describe_aggregate(how)}),
        "reliability_floor": plan.reliability_floor,
        "n_reliable": n_reliable,
        "selection": json.dumps(
            {"n_total": n_total, "n_kept": n_kept, "reliability_threshold": None, "filters": {}, "n_parts": len(parts)}
        ),
        "custom_splits": 0,
        "split_spec": json.dumps({p.benchmark: json.loads(p.attrs["split_spec"]) for p in parts}),
        "threads": int(threads),
        "provenance": json.dumps(prov),
        "format": score_format,
        "timings": json.dumps(
            {
                **{f"part {p.benchmark}": round(p.elapsed_s, 3) for p in parts},
                "parts_from_store": sum(p.stored for p in parts),
                "elapsed_s": round(elapsed_s, 3),
            }
        ),
    }


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _median(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else float("nan")
