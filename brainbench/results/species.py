"""Which species a stored run's data come from, read from the run's spec and the installed manifests.

Below both the leaderboard table (:mod:`brainbench.results.table`, which groups columns by
species and region) and the website (:mod:`brainbench.results.site`, which heads its
sections by species), so neither imports the other for it.
"""

from __future__ import annotations

import json
from typing import Any

UNKNOWN = "unknown species"


def spec_of(run: dict[str, Any]) -> dict[str, Any]:
    """The run's stored spec as a dict (``{}`` when absent or unreadable)."""
    try:
        spec = json.loads(run.get("spec") or "{}")
    except ValueError:
        return {}
    return spec if isinstance(spec, dict) else {}


def registry_entry(kind: str, ident: str) -> Any:
    """The installed ``kind`` (``benchmark``, ``assembly``, ``metric``) named ``ident``, or None."""
    from brainbench.errors import BrainbenchError
    from brainbench.registry import get_registry

    try:
        return getattr(get_registry(), kind)(ident)
    except BrainbenchError:
        return None


def species_of(run: dict[str, Any]) -> str:
    """The species a run's data come from: the benchmark's declared ``species``, else its assembly's.

    A benchmark's ``species`` is kept out of the run's key, so it is read from the installed
    manifest; an assembly may hold several species (the 92-image set: macaque and human),
    so its ``species`` comes only after the benchmark's.
    """
    spec = spec_of(run)
    bench = registry_entry("benchmark", str(run.get("benchmark", "")))
    candidates = [
        (spec.get("benchmark") or {}).get("species"),
        getattr(bench, "species", "") if bench is not None else "",
        (spec.get("assembly") or {}).get("species"),
        getattr(registry_entry("assembly", bench.assembly), "species", "") if bench is not None else "",
    ]
    return next((str(value) for value in candidates if value), UNKNOWN)
