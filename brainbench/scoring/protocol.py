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
  cannot settle it.

It is a function of the run spec alone (:func:`run_protocol`, the property
:attr:`brainbench.scoring.spec.RunSpec.protocol`): the scorer records it as score-dataset
attrs ``protocol`` and ``protocol_detail``, and the store keeps what those attrs say in
columns of the same names (its migration of old rows calls the same function on their
stored spec).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DECLARED, CUSTOM, UNKNOWN = "declared", "custom", "unknown"
PROTOCOLS = (DECLARED, CUSTOM, UNKNOWN)
DECLARED_SEED = 0


def run_protocol(
    content: dict[str, Any],
    layers: Sequence[str],
    readout: str | None = None,
    declared_readout: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The protocol of a run from its spec alone, and what differs from the declared one.

    The scorer's :class:`~brainbench.scoring.spec.RunSpec` (its ``protocol`` property) and
    the store's migration of old rows (a stored spec dict) both call this: one rule.

    Args:
        content: the run spec's content (:attr:`RunSpec.content`, or a stored ``spec``;
            ``{}`` for very old rows). It holds the model's declaration (its declared
            layers), the benchmark's (its declared readout), the seed, and the caller's
            ``benchmark_override``, ``readout_overrides`` and own ``splits`` when any.
        layers: the run's layers, in order.
        readout: the readout id the run used, canonical (None: the content's).
        declared_readout: the canonical id of the readout the benchmark declares, as the
            scorer resolved it (None for a stored spec: then the content's declared readout
            is compared as written, and an alias cannot be told from another readout).
    Returns:
        ``("declared", {})``, ``("custom", {what: value, ...})`` or, when the content cannot
        settle it, ``("unknown", {..., "not_stored": [...]})``.
    """
    detail: dict[str, Any] = {}
    unsure: list[str] = []
    model = content.get("model") or {}
    benchmark = content.get("benchmark") or {}
    used = readout if readout is not None else (content.get("readout") or {}).get("id")
    if "layers" in model:
        if [str(x) for x in layers] != [str(x) for x in model["layers"]]:
            detail["layers"] = [str(x) for x in layers]
    else:
        unsure.append("the model's declared layers")
    if declared_readout is not None and used is not None:
        if used != declared_readout:
            detail["readout"] = used
    elif "readout" in benchmark and used is not None:
        if used != benchmark["readout"]:
            detail["readout"] = used
            unsure.append("whether the benchmark's declared readout is an alias of it")
    else:
        unsure.append("the benchmark's declared readout")
    if "seed" in content:
        if int(content["seed"]) != DECLARED_SEED:
            detail["seed"] = int(content["seed"])
    else:
        unsure.append("the seed")
    if content.get("benchmark_override"):
        detail["benchmark"] = content["benchmark_override"]
    if content.get("readout_overrides"):
        detail["readout_params"] = {k: str(v) for k, v in sorted(content["readout_overrides"].items())}
    if content.get("splits") not in (None, "declared"):  # the caller's own splits ("declared": an old spec's)
        detail["splits"] = "custom"
    if set(detail) - {"readout"} or (detail and not unsure):  # a layer subset, another seed...: custom whatever else
        return CUSTOM, detail
    if unsure:
        return UNKNOWN, {**detail, "not_stored": unsure}
    return DECLARED, detail
