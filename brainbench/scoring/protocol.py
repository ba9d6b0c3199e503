"""Whether a run follows its benchmark's declared protocol: the only runs a leaderboard cell shows.

The **declared protocol** of a (model, benchmark) pair is: every layer the model declares
(in its declared order), the readout the benchmark declares (with that readout's declared
params), seed 0, and the benchmark exactly as declared (its splits, selection, ceiling,
reliability threshold, stimulus placement). A run is

* ``declared`` when it is exactly that protocol,
* ``custom`` when anything differs; ``protocol_detail`` (JSON) says what: ``layers`` (the
  scored layers), ``readout`` (the overriding readout id, whose params are its own),
  ``seed``, ``benchmark`` (the fields of the benchmark object that differ from its
  registered declaration, e.g. ``split``), ``readout_params`` (params the caller
  replaced) and ``splits`` (the caller's own train/test splits),
* ``unknown`` for rows stored before the protocol was recorded, when what they kept
  cannot settle it (see :func:`protocol_from_spec`).

The scorer records the first two as score-dataset attrs ``protocol`` and
``protocol_detail``; the store keeps them in columns of the same names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from brainbench.errors import BrainbenchError

if TYPE_CHECKING:  # pragma: no cover
    from brainbench.registry.registry import Registry

DECLARED, CUSTOM, UNKNOWN = "declared", "custom", "unknown"
PROTOCOLS = (DECLARED, CUSTOM, UNKNOWN)
DECLARED_SEED = 0


def describe_protocol(
    net: Any,
    bench: Any,
    layers: list[str],
    readout_id: str,
    seed: int,
    registry: Registry,
    readout_overrides: dict[str, Any] | None = None,
    own_splits: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The protocol of a run the scorer is about to store, and what differs from the declared one.

    Args:
        net: the :class:`~brainbench.models.base.TorchModel` scored (its ``layers`` are what
            it declares when it is not a registered model).
        bench: the :class:`~brainbench.scoring.benchmark.Benchmark` scored.
        layers: the layers scored, in order.
        readout_id: the readout used (the benchmark's or an override, id or alias).
        seed: the run's seed.
        readout_overrides: readout params the caller replaced (``score(readout_params=...)``).
        own_splits: whether the caller passed its own splits (``score(splits=...)``).
    Returns:
        ``("declared", {})`` or ``("custom", {what: value, ...})``.
    """
    detail: dict[str, Any] = {}
    try:
        declared_layers = list(registry.model(net.identifier).layers)
    except BrainbenchError:  # a model object no manifest declares: its own layers are its declaration
        declared_layers = list(net.layers)
    if [str(x) for x in layers] != [str(x) for x in declared_layers]:
        detail["layers"] = [str(x) for x in layers]
    try:
        registered = registry.benchmark(bench.identifier)
    except BrainbenchError:  # a custom benchmark: the object's entry is its declaration
        registered = bench.entry
    from brainbench.caching.content import PROSE_FIELDS

    ours = bench.entry.model_dump(mode="json", exclude=set(PROSE_FIELDS))
    theirs = registered.model_dump(mode="json", exclude=set(PROSE_FIELDS))
    changed = {k: ours.get(k) for k in sorted(set(ours) | set(theirs)) if ours.get(k) != theirs.get(k)}
    if changed:
        detail["benchmark"] = changed
    if _readout_id(readout_id, registry) != _readout_id(registered.readout, registry):
        detail["readout"] = _readout_id(readout_id, registry)
    if int(seed) != DECLARED_SEED:
        detail["seed"] = int(seed)
    if readout_overrides:
        detail["readout_params"] = {k: str(v) for k, v in sorted(readout_overrides.items())}
    if own_splits:
        detail["splits"] = "custom"
    return (CUSTOM if detail else DECLARED), detail


def _readout_id(name: str, registry: Registry) -> str:
    try:
        return registry.readout(name).id
    except BrainbenchError:
        return name


def protocol_from_spec(spec: dict[str, Any], layers: list[str]) -> tuple[str, dict[str, Any]]:
    """The protocol of a stored run, from its stored spec and layer rows alone.

    Used by the store migration (which must not import plugins) and as a cross-check
    on what a dataset claims. ``declared`` needs the spec to hold the model's declared
    layers and the benchmark's declared readout (a registered model and benchmark);
    then the layers, readout id and seed are compared. A difference makes it
    ``custom``; a spec that cannot tell (no declaration stored, or a declared readout
    that is an alias and cannot be resolved without the registry) makes it ``unknown``.

    Args:
        spec: a :func:`brainbench.results.store.run_spec` (``{}`` for very old rows).
        layers: the run's layers, in order.
    """
    detail: dict[str, Any] = {}
    unsure: list[str] = []
    model = spec.get("model") or {}
    benchmark = spec.get("benchmark") or {}
    readout = (spec.get("readout") or {}).get("id")
    if "layers" in model:
        if [str(x) for x in layers] != [str(x) for x in model["layers"]]:
            detail["layers"] = [str(x) for x in layers]
    else:
        unsure.append("the model's declared layers")
    if "readout" in benchmark and readout is not None:
        if readout != benchmark["readout"]:
            detail["readout"] = readout
            unsure.append("whether the benchmark's declared readout is an alias of it")
    else:
        unsure.append("the benchmark's declared readout")
    if "seed" in spec:
        if int(spec["seed"]) != DECLARED_SEED:
            detail["seed"] = int(spec["seed"])
    else:
        unsure.append("the seed")
    if "benchmark_override" in spec:
        detail["benchmark"] = spec["benchmark_override"]
    if set(detail) - {"readout"}:  # a layer subset, another seed or benchmark: custom whatever else
        return CUSTOM, detail
    if unsure:
        return UNKNOWN, {**detail, "not_stored": unsure}
    return DECLARED, detail
