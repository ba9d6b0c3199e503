"""Content keys: sha256 of a run's resolved spec (standard library only, cheap to import).

:mod:`brainbench.scoring.spec` builds the spec; the results store, the leaderboard and
the protocol check read it. See :class:`brainbench.scoring.spec.RunSpec`.

:func:`json_sha256` is the one sha256-of-sorted-JSON in the package: run keys
(:func:`content_key`), activation cache keys
(:func:`brainbench.scoring.activations.activation_key`), built-assembly cache keys
(:func:`brainbench.assemblies.base.build_key`), the results store's row checksums
(:func:`brainbench.results.store.row_digest`) and the hash cache's entry names and
checksums (:mod:`brainbench.caching.hash_cache`) all hash through it, so they cannot
drift apart in how they serialise.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: Format of the key's JSON; bump it when what the key covers changes.
KEY_FORMAT = 3
#: Manifest fields that describe an entry but cannot change a number (``resample`` only
#: changes how a leaderboard interval is drawn, never a score).
PROSE_FIELDS = frozenset({"id", "source", "description", "citation", "license", "url", "aliases", "info", "resample"})


def declaration(entry: Any) -> dict[str, Any]:
    """An entry's manifest declaration without its prose fields.

    Fields an entry type lists in ``KEY_OMIT_DEFAULTS`` are left out while they hold their
    default, so adding such a field does not change the key of runs stored before it; those
    it lists in ``KEY_DESCRIPTIVE`` (a benchmark's ``species``) and in ``KEY_EXCLUDE`` (a
    checkpoint's path: its sha256 is hashed instead) are always left out.
    """
    omit = getattr(type(entry), "KEY_OMIT_DEFAULTS", ())
    descriptive = getattr(type(entry), "KEY_DESCRIPTIVE", ())
    exclude = getattr(type(entry), "KEY_EXCLUDE", ())  # fields that locate, not define, e.g. a file path
    fields = getattr(type(entry), "model_fields", {})
    dumped = entry.model_dump(mode="json")
    return {
        k: v
        for k, v in dumped.items()
        if k not in PROSE_FIELDS
        and k not in descriptive
        and k not in exclude
        and not (k in omit and k in fields and v == _default(fields[k]))
    }


def _default(field: Any) -> Any:
    """A pydantic field's default as dumped to JSON (a ``default_factory`` is called: ``[]``, ``{}``)."""
    value = field.get_default(call_default_factory=True)
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def json_sha256(value: Any) -> str:
    """sha256 (hex, 64 characters) of ``value`` as JSON with sorted keys.

    The serialisation is :func:`json.dumps` with ``sort_keys=True`` and ``default=str``
    (a value JSON has no form for, e.g. a :class:`pathlib.Path`, is hashed as its
    ``str``), default separators and ASCII escapes, UTF-8 encoded. Every stored key and
    checksum depends on these bytes: changing any argument changes them all.
    """
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def content_key(content: dict[str, Any]) -> str:
    """sha256 (hex) of a spec's JSON content."""
    return json_sha256(content)
