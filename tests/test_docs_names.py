"""What README.md and docs/*.md name exists: every repository file they name in backticks,
and every dotted ``brainbench.x.y`` name they give.

A module that moves or a name that is removed then fails here instead of leaving the
docs pointing at nothing (a docs/architecture.md bullet once named a ``cache_integrity.py``
that no longer existed). Paths that name someone else's files (a plugin's layout, an
upstream repository's, a user's script) are listed in ``NOT_OURS``.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_PATH = re.compile(r"`([\w./-]+\.(?:py|toml|md|json|png))(?:::\w+)?`")
DOTTED = re.compile(r"(?<![\w./-])brainbench(?:\.[A-Za-z_]\w*)+")
#: files the docs name that are not this repository's, as written: the layout docs/plugins.md
#: shows for a plugin of your own and the wheel's copy of registry.toml, upstream
#: repositories' files (docs/majajhong2015.md), a user's files, what an analysis writes.
NOT_OURS = {
    "models.py",
    "assemblies.py",
    "file.toml",
    "brainbench/registry.toml",
    "preprocessor_config.json",
    "packaging.py",
    "brainscore_vision/data/majajhong2015/__init__.py",
    "data/majajhong2015/data_packaging/data_packaging.py",
    "data/majajhong2015/test.py",
    "benchmarks/majajhong2015/benchmark.py",
    "benchmark_helpers/neural_common.py",
    "summary.md",
    "summary.json",
    "layer-correspondence.png",
    "clustermap.png",
    "clustermap-VISp.png",
    "clustermap-VISl-VISpm.png",
}
#: dotted names that are not Python objects: the entry-point group, a logger.
NOT_OBJECTS = {"brainbench.manifests", "brainbench.cache"}
SEARCHED = ("brainbench", "benchmarks", "tests", "docs", "plugins")


def _prose(path: Path) -> str:
    return FENCED.sub("", path.read_text())


def _repo_files() -> set[str]:
    names = {p.name for p in REPO.iterdir() if p.is_file()}
    for top in SEARCHED:
        names |= {p.name for p in (REPO / top).rglob("*") if p.is_file()}
    return names


def _exists(name: str, basenames: set[str]) -> bool:
    if "/" not in name:
        return name in basenames
    return any((base / name).exists() for base in (REPO, REPO / "brainbench", REPO / "brainbench" / "readouts"))


def test_every_file_the_docs_name_exists():
    basenames = _repo_files()
    missing = [
        f"{path.relative_to(REPO)}: {name}"
        for path in DOCUMENTS
        for name in INLINE_PATH.findall(_prose(path))
        if name not in NOT_OURS and not _exists(name, basenames)
    ]
    assert not missing, missing


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        for attribute in parts[k:]:
            if not hasattr(obj, attribute):
                return False
            obj = getattr(obj, attribute)
        return True
    return False


def test_every_dotted_name_the_docs_give_resolves():
    names = {
        (path.relative_to(REPO), name)
        for path in DOCUMENTS
        for name in DOTTED.findall(path.read_text())
        if name not in NOT_OBJECTS and not name.endswith((".toml", ".py", ".md", ".json", ".sqlite"))
    }
    assert names, "the pattern found no dotted name"
    unresolved = sorted(f"{path}: {name}" for path, name in names if not _resolves(name))
    assert not unresolved, unresolved
