"""Hashes of unchanged files, and values derived from known inputs, without recomputing them.

Two caches under ``$BRAINBENCH_HOME/cache/hashes/`` (standard library only; cheap to import):

* :func:`file_sha256`: the sha256 of a file, remembered under its **fingerprint**
  ``(absolute path, size, mtime_ns, ctime_ns, inode)``. A file whose fingerprint
  changed (written, touched, replaced, restored with an old mtime: the ctime moves
  then) is hashed again; an unchanged one is not read at all. A file changed less than
  :data:`SETTLE_NS` (2 s) before it is hashed is not remembered: on a file system whose
  timestamps count whole seconds (ext3, ext4 with 128-byte inodes, HFS+; FAT counts 2 s)
  a rewrite of the same size later in that second would keep the fingerprint, and the
  old hash would be given for new bytes (the "racily clean" case git guards against too).
* :func:`recall` / :func:`remember`: a JSON value derived from JSON inputs (for
  example the content key of a scoring request, see :mod:`brainbench.results.known_runs`),
  found again only when the inputs are exactly the same.

Each entry is one small JSON file ``{"entry": ..., "sha256": sha256 of the entry's
JSON}``, written atomically (a temporary file in the same folder, then a rename), so
a reader never sees half an entry. An entry is used only when its checksum matches and
it is about exactly the file fingerprint or inputs asked for; anything else (a corrupt,
truncated, edited, stale or foreign entry) is ignored and overwritten with a fresh one,
never trusted. A cache that cannot be written (read-only home, full disk) only costs
the time of hashing again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from brainbench.caching.content import json_sha256

#: Layout version of an entry; entries of another version are ignored and rewritten
#: (2: checksums and entry names through :func:`~brainbench.caching.content.json_sha256`).
FORMAT = 2
BLOCK = 1 << 20
#: How long after its last change a file's hash may be remembered: longer than the
#: coarsest timestamp step of a common file system (FAT's 2 s).
SETTLE_NS = 2_000_000_000


def cache_root() -> Path:
    """``$BRAINBENCH_HOME/cache/hashes`` (see :func:`brainbench.caching.paths.home`)."""
    from brainbench.caching.paths import home

    return home() / "cache" / "hashes"


def _record(path: Path) -> dict[str, Any] | None:
    """The ``{"entry": {...}, "sha256": ...}`` stored at ``path``, unchecked; None when missing or of another shape."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("entry"), dict):
        return None
    return record


def _read(path: Path) -> dict[str, Any] | None:
    """The entry stored at ``path`` if its checksum matches, else None (missing, corrupt, foreign)."""
    record = _record(path)
    if record is None:
        return None
    entry = record["entry"]
    if record.get("sha256") != json_sha256(entry) or entry.get("format") != FORMAT:
        return None
    return entry


def _intact_format_1(record: dict[str, Any]) -> bool:
    """Whether ``record`` is an undamaged entry written before FORMAT 2 (checksummed with compact separators)."""
    entry = record["entry"]
    compact = hashlib.sha256(json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return entry.get("format") == 1 and record.get("sha256") == compact


def entry_problem(path: Path) -> str | None:
    """Why a cache entry would be ignored (``brainbench cache verify``), or None when it is sound.

    An intact entry of the earlier FORMAT 1 is not damage: it is ignored (never trusted) like
    any stale entry, and not reported.
    """
    if _read(path) is not None:
        return None
    record = _record(path)
    if record is not None and _intact_format_1(record):
        return None
    return "does not match its own checksum (it is ignored and rewritten)"


def _write(path: Path, entry: dict[str, Any]) -> None:
    """Store ``entry`` at ``path`` atomically with its checksum; failures are ignored (it is a cache)."""
    text = json.dumps({"entry": entry, "sha256": json_sha256(entry)}, sort_keys=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, path)
    except OSError:
        # on a read-only file system even removing a file that is not there fails (EROFS)
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)


def fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """``{path, size, mtime_ns, ctime_ns, inode}`` of a file (``OSError`` if it cannot be stat'ed)."""
    absolute = os.path.abspath(path)
    stat = os.stat(absolute)
    return {
        "path": absolute,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "ctime_ns": stat.st_ctime_ns,
        "inode": stat.st_ino,
    }


def _entry_path(kind: str, name: str) -> Path:
    return cache_root() / kind / f"{hashlib.sha256(name.encode()).hexdigest()[:40]}.json"


def _now_ns() -> int:
    """The wall-clock time in ns, the clock file timestamps are set from."""
    return time.time_ns()


def _hash_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read only when its fingerprint is not the one last hashed.

    The file is stat'ed before and after hashing; when it changed meanwhile, or less
    than :data:`SETTLE_NS` before (see the module docstring), the digest is returned but
    not remembered.
    """
    before = fingerprint(path)
    entry_path = _entry_path("files", before["path"])
    entry = _read(entry_path)
    if entry is not None and entry.get("file") == before and isinstance(entry.get("sha256"), str):
        return str(entry["sha256"])
    started = _now_ns()
    digest = _hash_file(before["path"])
    settled = started - max(before["mtime_ns"], before["ctime_ns"]) >= SETTLE_NS
    if settled and fingerprint(path) == before:
        _write(entry_path, {"format": FORMAT, "file": before, "sha256": digest})
    return digest


def recall(kind: str, inputs: dict[str, Any]) -> Any | None:
    """The value :func:`remember` stored for exactly these JSON ``inputs``, or None."""
    entry = _read(_entry_path(kind, json_sha256(inputs)))
    if entry is None or entry.get("inputs") != json.loads(json.dumps(inputs)):
        return None
    return entry.get("value")


def remember(kind: str, inputs: dict[str, Any], value: Any) -> None:
    """Store a JSON ``value`` derived from JSON ``inputs`` (replacing any earlier one)."""
    _write(_entry_path(kind, json_sha256(inputs)), {"format": FORMAT, "inputs": inputs, "value": value})
