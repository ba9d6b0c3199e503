"""The results modules import one another without a cycle (module-level or deferred imports alike)."""

from __future__ import annotations

import ast
from pathlib import Path

import brainbench.results

PACKAGE = "brainbench.results"


def _imports(path: Path) -> set[str]:
    """Every ``brainbench.results.<module>`` that a file imports, at any depth (function-local too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(n.split(".")[2] for n in names if n.startswith(PACKAGE + ".") and n.count(".") >= 2)
    return found


def test_results_modules_import_one_another_without_a_cycle():
    root = Path(brainbench.results.__file__).parent
    graph = {p.stem: _imports(p) - {p.stem} for p in root.glob("*.py") if p.stem != "__init__"}
    graph = {module: {m for m in deps if m in graph} for module, deps in graph.items()}

    def cycle_from(start: str, path: list[str]) -> list[str] | None:
        for nxt in sorted(graph[path[-1]]):
            if nxt == start:
                return [*path, start]
            if nxt not in path:
                found = cycle_from(start, [*path, nxt])
                if found:
                    return found
        return None

    cycles = [c for module in sorted(graph) if (c := cycle_from(module, [module]))]
    assert not cycles, f"import cycles among {PACKAGE}: {[' -> '.join(c) for c in cycles]}"
