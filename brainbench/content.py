"""Content keys: sha256 of a run's resolved spec (standard library only, cheap to import).

:mod:`brainbench.scoring.spec` builds the spec; the results store, the leaderboard and
the protocol check read it. See :class:`brainbench.scoring.spec.RunSpec`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: Format of the key's JSON; bump it when what the key covers changes.
KEY_FORMAT = 3
#: Manifest fields that describe an entry but cannot change a number.
PROSE_FIELDS = frozenset({"id", "source", "description", "citation", "license", "url", "aliases", "info"})


def declaration(entry: Any) -> dict[str, Any]:
    """An entry's manifest declaration without its prose fields."""
    return {k: v for k, v in entry.model_dump(mode="json").items() if k not in PROSE_FIELDS}


def content_key(content: dict[str, Any]) -> str:
    """sha256 (hex) of a spec's JSON content."""
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
