"""What ``$BRAINBENCH_HOME`` holds, by kind: sizes, hash checks and clearing.

Kinds and their folders under ``$BRAINBENCH_HOME``:

=============  ==============================================  =====================
kind           holds                                           rebuilt on next use?
=============  ==============================================  =====================
data           ``data/`` downloads, ``extracted/`` archives    yes (from the mirror
                                                               or the network)
activations    ``activations/`` layer ``.npy`` files           yes
assemblies     ``assemblies/`` built NeuralAssembly netCDF     yes
scores         ``scores/`` score files of brainbench < 0.2       not used any more
                (``analyze`` now reads the results store)
results        ``results.sqlite`` and ``results/`` netCDF      no: re-score the run
hashes         ``cache/hashes/``: sha256 of unchanged files    yes (each entry carries
               and remembered run keys                         its own checksum, see
               (:mod:`brainbench.caching.hash_cache`)                  the module)
=============  ==============================================  =====================

Used by ``brainbench cache show|verify|clear``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from brainbench.caching import integrity as cache_integrity
from brainbench.errors import BrainbenchError

if TYPE_CHECKING:
    from brainbench.data.fetch import RemoteFile

FOLDERS: dict[str, tuple[str, ...]] = {
    "data": ("data", "extracted"),
    "activations": ("activations",),
    "assemblies": ("assemblies",),
    "scores": ("scores",),
    "results": ("results",),
    "hashes": ("cache/hashes",),
}
KINDS = tuple(FOLDERS)
_STORE_FILES = ("results.sqlite", "results.sqlite-wal", "results.sqlite-shm")


class CacheError(BrainbenchError):
    """An unknown cache kind, or a path that would leave ``$BRAINBENCH_HOME``."""


def home_dir() -> Path:
    """``$BRAINBENCH_HOME``."""
    from brainbench.data.fetch import home

    return home()


def check_kind(kind: str | None) -> list[str]:
    """``[kind]`` or every kind; an unknown one is a :class:`CacheError`."""
    if kind is None:
        return list(KINDS)
    if kind not in FOLDERS:
        raise CacheError(f"unknown cache kind {kind!r}; kinds are {', '.join(KINDS)}.")
    return [kind]


def _roots(kind: str) -> list[Path]:
    home = home_dir()
    roots = [home / name for name in FOLDERS[kind]]
    if kind == "results":
        roots += [home / name for name in _STORE_FILES]
    return roots


def _files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
    elif root.is_dir():
        yield from (p for p in root.rglob("*") if p.is_file())


@dataclass
class KindSummary:
    """Size of one kind: ``files`` counts artifacts' files, not hash records or temporaries."""

    kind: str
    files: int = 0
    bytes: int = 0
    orphans: int = 0


def summary(kinds: list[str] | None = None) -> list[KindSummary]:
    """Count and size of every kind's files under ``$BRAINBENCH_HOME``."""
    rows = []
    for kind in kinds or KINDS:
        row = KindSummary(kind)
        for root in _roots(kind):
            for file in _files(root):
                row.bytes += file.stat().st_size
                if not _skip(file):
                    row.files += 1
            if root.is_dir():
                row.orphans += len(cache_integrity.orphans(root))
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------- verify
@dataclass
class Problem:
    """One artifact that failed its check."""

    kind: str
    path: Path
    reason: str
    rebuildable: bool = True
    fixed: bool = False
    advice: str = ""

    def __str__(self) -> str:
        if self.fixed:
            tail = "removed; it is rebuilt on next use"
        elif self.rebuildable:
            tail = "run `brainbench cache verify --fix` to remove it (it is rebuilt on next use)"
        else:
            tail = self.advice
        return f"{self.kind}: {self.path} {self.reason}; {tail}."


@dataclass
class Report:
    """What :func:`verify` checked and found."""

    checked: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    orphans_removed: list[Path] = field(default_factory=list)

    @property
    def unresolved(self) -> list[Problem]:
        return [p for p in self.problems if not p.fixed]


def _artifacts(kind: str) -> Iterator[Path]:
    """The hash-recorded artifacts of a kind: files, and extracted archive folders."""
    home = home_dir()
    if kind == "data":
        extracted = home / "extracted"
        if extracted.is_dir():
            for dataset in sorted(p for p in extracted.iterdir() if p.is_dir()):
                for entry in sorted(dataset.iterdir()):
                    if not _skip(entry):
                        yield entry
        return
    for root in _roots(kind):
        if root.is_dir():
            for file in sorted(root.rglob("*")):
                if file.is_file() and not _skip(file):
                    yield file


def _skip(path: Path) -> bool:
    return path.name.endswith(cache_integrity.SUFFIX) or bool(cache_integrity.TEMP_NAME.match(path.name))


def _declared_downloads() -> dict[Path, RemoteFile]:
    """Cached download path -> its RemoteFile, for every registered assembly that lists one."""
    from brainbench.data.fetch import cache_path
    from brainbench.registry import get_registry, load_object

    registry = get_registry()
    found: dict[Path, RemoteFile] = {}
    for entry in map(registry.assembly, registry.ids("assemblies")):
        try:
            remotes = load_object(entry.python_name)(**entry.params).remote_files()
        except Exception:  # a plugin that cannot be built here declares nothing we can check
            continue
        for remote in remotes:
            found[cache_path(remote)] = remote
    return found


def _check_downloads(report: Report, fix: bool) -> None:
    from brainbench.data.fetch import check_hash

    data = home_dir() / "data"
    if not data.is_dir():
        report.checked["data"] = report.checked.get("data", 0)
        return
    declared = _declared_downloads()
    for file in sorted(p for p in data.rglob("*") if p.is_file() and not _skip(p)):
        remote = declared.get(file)
        reason = None
        if remote is not None and getattr(remote, "known_hash", None):
            try:
                check_hash(file, remote)
            except BrainbenchError:
                reason = "does not match its declared hash"
            except OSError:
                reason = "cannot be read"
        elif cache_integrity.recorded(file) is not None:
            reason = cache_integrity.check(file, full=True)
        else:
            continue  # not declared by any registered assembly and unrecorded: nothing to compare
        report.checked["data"] = report.checked.get("data", 0) + 1
        if reason is not None:
            _found(report, Problem("data", file, reason), fix)


def _found(report: Report, problem: Problem, fix: bool) -> None:
    refused = cache_integrity.removal_refused(problem.path)
    if refused is not None:  # never delete through a link that leaves $BRAINBENCH_HOME
        problem.rebuildable = False
        problem.advice = f"it is not removed: {refused}"
    if fix and problem.rebuildable:
        cache_integrity.remove(problem.path)
        problem.fixed = True
    report.problems.append(problem)


def _check_results(report: Report) -> None:
    from brainbench.results.store import ResultStore, check_results_file

    path = home_dir() / "results.sqlite"
    if not path.is_file():
        return
    store = ResultStore(path)
    for run in store.runs(check=False):
        report.checked["results"] = report.checked.get("results", 0) + 1
        row_reason = store.row_problem(run)
        if row_reason is not None:
            report.problems.append(
                Problem(
                    "results",
                    path,
                    f"holds run {run['content_key'][:12]} that {row_reason}",
                    rebuildable=False,
                    advice=f"score {run['model']} on {run['benchmark']} again to replace the row",
                )
            )
            continue
        file = store.root / run["results_file"]
        reason = check_results_file(file, run)
        if reason is not None:
            report.problems.append(
                Problem(
                    "results",
                    file,
                    reason,
                    rebuildable=False,
                    advice=f"it cannot be rebuilt from the cache: score {run['model']} on {run['benchmark']} again "
                    "to replace it",
                )
            )


def verify(kinds: list[str] | None = None, fix: bool = False) -> Report:
    """Hash-check every artifact of ``kinds``; remove orphaned temporaries; ``fix`` removes bad ones.

    Results files are checked against the sha256 in their run's row and never removed
    (nothing can rebuild them).
    """
    report = Report()
    for kind in kinds or KINDS:
        for root in _roots(kind):
            if root.is_dir():
                report.orphans_removed += cache_integrity.clean_orphans(root)
        if kind == "results":
            _check_results(report)
            continue
        if kind == "hashes":  # entries carry their own checksum, no sidecar
            from brainbench.caching.hash_cache import entry_problem

            entries = list(_artifacts(kind))
            report.checked[kind] = report.checked.get(kind, 0) + len(entries)
            for path in entries:
                reason = entry_problem(path)
                if reason is not None:
                    _found(report, Problem(kind, path, reason), fix)
            continue
        if kind == "data":
            _check_downloads(report, fix)
        artifacts = list(_artifacts(kind))
        report.checked[kind] = report.checked.get(kind, 0) + len(artifacts)
        for path, reason in cache_integrity.check_many(artifacts, full=True).items():
            if reason is not None:
                _found(report, Problem(kind, path, reason), fix)
    return report


# ---------------------------------------------------------------------------- clear
def _inside_home(path: Path) -> bool:
    home = home_dir().resolve()
    try:
        path.resolve().relative_to(home)
    except ValueError:
        return False
    return True


def clear(kinds: list[str] | None = None) -> list[Path]:
    """Delete every file of ``kinds`` under ``$BRAINBENCH_HOME``; return the top-level paths removed.

    A symbolic link is removed itself, never followed; a path that resolves outside
    ``$BRAINBENCH_HOME`` is refused.
    """
    removed = []
    for kind in kinds or KINDS:
        for root in _roots(kind):
            if root.is_symlink():
                root.unlink()
                removed.append(root)
                continue
            if not root.exists():
                continue
            if not _inside_home(root):
                raise CacheError(f"{root} lies outside BRAINBENCH_HOME ({home_dir()}); refusing to delete it.")
            if root.is_dir():
                shutil.rmtree(root)
            else:
                os.unlink(root)
            removed.append(root)
    return removed
