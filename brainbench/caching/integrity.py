"""Content hashes of cached artifacts: written with the artifact, checked when it is read.

Every artifact brainbench caches under ``$BRAINBENCH_HOME`` (activation ``.npy`` files,
assembly and score netCDF files, extracted stimulus folders) gets a **sidecar** beside
it, ``NAME.sha256``: one line of JSON ``{"sha256": HEX, "size": BYTES}`` (for a folder,
``{"files": {RELATIVE_PATH: {"sha256": HEX, "size": BYTES}}}``), plus ``"artifact"``:
what the artifact is -- its file name, and for activations its layer and cache key --
so a file moved or swapped together with its sidecar is caught by name as well as by
hash. The artifact is
written under a temporary name, hashed (while being written where it is written in
pieces), then its sidecar is written atomically and only then is the artifact renamed
into place (:func:`publish`). So a reader never finds a complete artifact without its
record, not even while another process is finishing the same one; a crash leaves at
worst a record without an artifact, which is simply rebuilt. A reader calls
:func:`check` (or :func:`usable`) first:

* no sidecar (e.g. a process killed between the two renames, or a cache written by an
  older brainbench) -> ``"has no recorded hash"``;
* a size that differs from the recorded one -> ``"is truncated or extended"`` (cheap,
  no hashing);
* a sha256 that differs -> ``"does not match its recorded sha256"``;
* an unreadable file -> ``"cannot be read"``;
* a record of another artifact (a different file name, or not the layer and key the
  reader asked for) -> ``"is recorded as ..."``;
* a record that lacks a field or has a wrong type -> ``"has a malformed hash record"``.

A bad artifact is removed with a one-line warning on the ``brainbench.cache`` logger
(printed to stderr when logging is not configured) and rebuilt by its owner. Sidecars
of a download's plain-hex hash record (``fetch``) are read the same way.

Temporary files are named ``.NAME.PID.tmp`` (a folder for zip extraction); the ones
whose process no longer runs on this machine are removed by :func:`clean_orphans`.

Deleting: every removal (:func:`remove`, :func:`discard`, :func:`clean_orphans`, and so
``cache verify --fix`` and the readers) goes through :func:`removal_refused`: a path
below ``$BRAINBENCH_HOME`` whose real folder, once links are followed, lies outside
the real ``$BRAINBENCH_HOME`` is never deleted (:class:`OutsideHomeError`).

``BRAINBENCH_VERIFY=0`` skips the sha256 comparison on read (sizes are still checked);
it exists for ``benchmarks/cache_overhead.py`` and is not meant for normal use.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from brainbench.errors import BrainbenchError, write_failed

SUFFIX = ".sha256"
BLOCK = 1 << 20
VERIFY_ENV = "BRAINBENCH_VERIFY"
TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$")

logger = logging.getLogger("brainbench.cache")


class OutsideHomeError(BrainbenchError):
    """A deletion refused: the path reaches outside ``$BRAINBENCH_HOME`` through a link."""


# ---------------------------------------------------------------------------- hashing
def sidecar(path: str | os.PathLike) -> Path:
    """The hash record of ``path``: ``NAME.sha256`` beside it."""
    path = Path(path)
    return path.with_name(path.name + SUFFIX)


def temp_path(path: str | os.PathLike) -> Path:
    """This process's temporary name for ``path``: ``.NAME.PID.tmp`` beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def file_hash(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file."""
    return file_hash(path, "sha256")


class HashingWriter:
    """A binary file handle that hashes what is written to it (sha256 and size).

    Use it for artifacts written in pieces (activations, batch by batch), so the hash
    costs no second read of the file.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        try:
            self._handle = open(path, "wb")  # closed by close(), also on failure by the caller
        except OSError as error:
            raise write_failed(self.path, error) from error
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        """Write and hash ``data``; a failed write (a full disk) is a one-sentence :class:`WriteError`."""
        self._digest.update(data)
        self.size += len(data)
        try:
            return self._handle.write(data)
        except OSError as error:
            raise write_failed(self.path, error) from error

    def close(self) -> None:
        try:
            self._handle.close()
        except OSError as error:  # buffered bytes that do not fit any more
            raise write_failed(self.path, error) from error

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def remove_temp(path: str | os.PathLike) -> None:
    """Remove a temporary file if it is there; a failure to remove it is ignored.

    For the clean-up after a failed write: on a read-only file system even the unlink of a
    file that is not there fails (``EROFS``, not ``FileNotFoundError``), and that must not
    replace the one-sentence error of the write itself.
    """
    with contextlib.suppress(OSError):
        Path(path).unlink(missing_ok=True)


def _write_json_atomic(path: Path, payload: dict) -> None:
    tmp = temp_path(path)
    try:
        tmp.write_text(json.dumps(payload, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except OSError as error:
        raise write_failed(path, error) from error
    finally:
        remove_temp(tmp)


def _identity(path: Path, what: dict[str, Any] | None) -> dict[str, Any]:
    """The ``"artifact"`` field of a sidecar: the file name, plus what the writer says it is."""
    return {"name": path.name, **(what or {})}


def record(
    path: str | os.PathLike, sha256: str | None = None, size: int | None = None, what: dict[str, Any] | None = None
) -> str:
    """Write the sidecar of ``path`` (hashing the file unless ``sha256`` and ``size`` are given).

    Call it after ``path`` is complete and in place. ``what``: what the artifact is
    (e.g. ``{"layer": ..., "key": ...}``), checked by :func:`check` ``expect``.
    Returns the hex sha256.
    """
    path = Path(path)
    if sha256 is None or size is None:
        sha256, size = file_sha256(path), path.stat().st_size
    _write_json_atomic(sidecar(path), {"sha256": sha256, "size": int(size), "artifact": _identity(path, what)})
    return sha256


def publish(
    tmp: str | os.PathLike,
    path: str | os.PathLike,
    sha256: str | None = None,
    size: int | None = None,
    what: dict[str, Any] | None = None,
) -> Path:
    """Record the hash of the complete temporary file ``tmp`` for ``path``, then rename it there.

    ``sha256`` and ``size`` are computed from ``tmp`` unless given (a streamed write);
    ``what`` as for :func:`record`.
    """
    tmp, path = Path(tmp), Path(path)
    if sha256 is None or size is None:
        sha256, size = file_sha256(tmp), tmp.stat().st_size
    _write_json_atomic(sidecar(path), {"sha256": sha256, "size": int(size), "artifact": _identity(path, what)})
    try:
        os.replace(tmp, path)
    except OSError as error:
        raise write_failed(path, error) from error
    return path


def record_folder(staging: str | os.PathLike, folder: str | os.PathLike) -> None:
    """Write the sidecar of ``folder`` from the files of ``staging`` (to be renamed to it)."""
    staging = Path(staging)
    files = {}
    for file in sorted(p for p in staging.rglob("*") if p.is_file()):
        files[file.relative_to(staging).as_posix()] = {"sha256": file_sha256(file), "size": file.stat().st_size}
    _write_json_atomic(sidecar(folder), {"files": files, "artifact": _identity(Path(folder), None)})


def recorded(path: str | os.PathLike) -> dict | None:
    """The parsed sidecar of ``path`` (a plain-hex record gives no size), or None if absent."""
    try:
        text = sidecar(path).read_text().strip()
    except OSError:
        return None
    try:
        payload = json.loads(text)
    except ValueError:
        payload = {"sha256": text.split()[0]} if text else None
    return payload if isinstance(payload, dict) else None


def _hash_enabled() -> bool:
    return os.environ.get(VERIFY_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


# ---------------------------------------------------------------------------- checking
def check(path: str | os.PathLike, full: bool | None = None, expect: dict[str, Any] | None = None) -> str | None:
    """Why the artifact at ``path`` cannot be trusted, or None when it matches its record.

    Args:
        path: a file or a folder written with :func:`record` / :func:`record_folder`.
        full: compare sha256 (default: unless ``BRAINBENCH_VERIFY=0``); sizes always.
        expect: what the reader takes the artifact to be (``what`` of :func:`publish`);
            a record that names something else, or nothing, is refused.
    Returns:
        a clause such as ``"is truncated or extended"``, or None.
    """
    path = Path(path)
    full = _hash_enabled() if full is None else full
    expected = recorded(path)
    if expected is None:
        return "has no recorded hash"
    reason = _check_identity(path, expected.get("artifact"), expect)
    if reason is not None:
        return reason
    try:
        if path.is_dir():
            return _check_folder(path, expected.get("files"), full)
        if "size" in expected and not _is_int(expected["size"]):
            return "has a malformed hash record"
        if "size" in expected and path.stat().st_size != expected["size"]:
            return "is truncated or extended"
        if full and file_sha256(path) != expected.get("sha256"):
            return "does not match its recorded sha256"
    except OSError:
        return "cannot be read"
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_identity(path: Path, identity: Any, expect: dict[str, Any] | None) -> str | None:
    """Whether the sidecar's ``"artifact"`` names this file (and ``expect``), as a reason or None."""
    if identity is None:
        return None if expect is None else "has no record of what it is (written by an older brainbench)"
    if not isinstance(identity, dict):
        return "has a malformed hash record"
    name = identity.get("name", path.name)
    if name != path.name:
        return f"is recorded as {name} (moved or swapped with its sidecar)"
    for field, value in (expect or {}).items():
        if identity.get(field) != value:
            return f"is recorded as {field} {identity.get(field)!r}, not {value!r} (moved or swapped with its sidecar)"
    return None


def _check_folder(folder: Path, files: Any, full: bool) -> str | None:
    if not isinstance(files, dict):
        return "has no recorded hash"
    for name, entry in files.items():
        if not (isinstance(entry, dict) and _is_int(entry.get("size")) and isinstance(entry.get("sha256"), str)):
            return f"has a malformed hash record (entry {name} lacks its size or sha256)"
        file = folder / name
        if not file.is_file():
            return f"lacks {name}"
        if file.stat().st_size != entry["size"]:
            return f"has a truncated or extended {name}"
        if full and file_sha256(file) != entry["sha256"]:
            return f"has a changed {name}"
    return None


def check_many(
    paths: Iterable[Path], full: bool | None = None, expect: dict[Path, dict[str, Any]] | None = None
) -> dict[Path, str | None]:
    """:func:`check` of several artifacts, hashed in parallel threads (sha256 releases the GIL).

    ``expect``: path -> what the reader takes that artifact to be (see :func:`check`).
    """
    paths = list(paths)
    expect = expect or {}
    if len(paths) <= 1:
        return {p: check(p, full, expect.get(p)) for p in paths}
    workers = min(len(paths), os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(paths, pool.map(lambda p: check(p, full, expect.get(p)), paths), strict=True))


def _home() -> Path:
    from brainbench.caching.paths import home

    return home()


def _below(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def removal_refused(path: str | os.PathLike) -> str | None:
    """Why ``path`` must not be deleted, or None.

    A path written below ``$BRAINBENCH_HOME`` whose folder really lies outside it once
    symbolic links are followed (``$H/assemblies -> /elsewhere``) is refused: deleting
    it would delete someone else's file. The last component itself is never followed
    (a link is removed as a link). Paths outside ``$BRAINBENCH_HOME`` (a results store
    given with ``--store``) are the caller's own and are not restricted here.
    """
    home = _home()
    lexical_home = os.path.abspath(home)
    lexical = os.path.abspath(path)
    if lexical == lexical_home:
        return f"{lexical} is BRAINBENCH_HOME itself"
    if not _below(lexical, lexical_home):
        return None
    real_home = os.path.realpath(home)
    real_folder = os.path.realpath(os.path.dirname(lexical))
    if _below(real_folder, real_home):
        return None
    return (
        f"{lexical} lies in {real_folder}, outside BRAINBENCH_HOME ({real_home}), through a symbolic link; "
        "brainbench never deletes there: remove the link or the file yourself"
    )


def discard(path: str | os.PathLike, reason: str, action: str = "rebuilding it") -> None:
    """Remove an artifact and its sidecar, warning in one sentence that names the file.

    Raises :class:`OutsideHomeError` (one sentence) when the path reaches outside
    ``$BRAINBENCH_HOME`` through a link (see :func:`removal_refused`).
    """
    path = Path(path)
    refused = removal_refused(path)
    if refused is not None:
        raise OutsideHomeError(f"cached {path} {reason}, but {refused}.")
    logger.warning("warning: cached %s %s; %s.", path, reason, action)
    remove(path)


def remove(path: str | os.PathLike) -> None:
    """Delete an artifact (file or folder) and its sidecar; missing ones are ignored.

    Raises :class:`OutsideHomeError` when :func:`removal_refused` refuses the path, and a
    one-sentence :class:`~brainbench.errors.WriteError` when the file cannot be deleted
    (a read-only ``$BRAINBENCH_HOME``).
    """
    path = Path(path)
    refused = removal_refused(path)
    if refused is not None:
        raise OutsideHomeError(f"{refused}.")
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        sidecar(path).unlink(missing_ok=True)
    except OSError as error:
        raise write_failed(path, error) from error


def usable(path: str | os.PathLike) -> bool:
    """Whether a cached artifact exists and matches its record; a bad one is discarded."""
    path = Path(path)
    if not path.exists():
        if removal_refused(path) is None:
            remove_temp(sidecar(path))  # a stale record; one that cannot be removed is rewritten with the artifact
        return False
    reason = check(path)
    if reason is None:
        return True
    discard(path, reason)
    return False


# ---------------------------------------------------------------------------- temp files
def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:
        return False
    return True


def orphans(folder: str | os.PathLike) -> list[Path]:
    """Temporary ``.NAME.PID.tmp`` files and folders under ``folder`` whose process is gone."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.rglob(".*.tmp"):
        match = TEMP_NAME.match(path.name)
        if match and not pid_alive(int(match["pid"])):
            found.append(path)
    return found


def clean_orphans(folder: str | os.PathLike) -> list[Path]:
    """Remove the :func:`orphans` under ``folder``; return what was removed.

    Orphans reached through a link that leaves ``$BRAINBENCH_HOME`` are left alone.
    """
    removed = []
    for path in orphans(folder):
        if removal_refused(path) is not None:
            continue
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue
        except OSError:
            continue
        removed.append(path)
    return removed
