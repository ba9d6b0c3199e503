"""The stated public API: every package's ``__all__`` imports, is documented in docs/api.md, stays lazy,
and the example plugin imports nothing else."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import brainbench
import brainbench.errors

REPO = Path(__file__).resolve().parents[1]
API_DOC = REPO / "docs" / "api.md"
PLUGIN = REPO / "plugins" / "brainbench-example"
HEADING = re.compile(r"^## `(brainbench[\w.]*)`\s*$")
ROW = re.compile(r"^\| `(\w+)` \|")


def packages_with_all() -> dict[str, list[str]]:
    """Every package of brainbench (``__init__.py``) that states an ``__all__``, and that list."""
    found = {"brainbench": list(brainbench.__all__)}
    for info in pkgutil.walk_packages(brainbench.__path__, "brainbench."):
        if info.ispkg:
            module = importlib.import_module(info.name)
            if hasattr(module, "__all__"):
                found[info.name] = list(module.__all__)
    return found


def documented() -> dict[str, list[str]]:
    """The names in each ``## `package``` section's table of docs/api.md."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in API_DOC.read_text().splitlines():
        heading = HEADING.match(line)
        if heading:
            current = sections.setdefault(heading.group(1), [])
        elif line.startswith("## "):
            current = None
        elif current is not None and (row := ROW.match(line)):
            current.append(row.group(1))
    return sections


def public_names() -> dict[str, set[str]]:
    faces = {name: set(names) for name, names in packages_with_all().items()}
    faces["brainbench.errors"] = {
        name
        for name, value in vars(brainbench.errors).items()
        if inspect.isclass(value) and value.__module__ == "brainbench.errors"
    }
    return faces


def test_every_public_name_imports_and_is_documented():
    faces = public_names()
    # the packages whose contracts plugins and users import
    assert {"registry", "readouts", "assemblies", "models", "data", "metrics", "caching", "scoring"} <= {
        name.removeprefix("brainbench.") for name in faces
    }
    docs = documented()
    for package, names in faces.items():
        module = importlib.import_module(package)
        for name in sorted(names):
            getattr(module, name)  # an AttributeError names the missing one
        table = docs.get(package)
        assert table is not None, f"docs/api.md has no section ## `{package}`"
        assert len(table) == len(set(table)), f"{package}: a name listed twice in docs/api.md"
        assert set(table) == names, (
            f"{package}: docs/api.md lists {sorted(set(table) - names)} not in __all__ and misses "
            f"{sorted(names - set(table))}"
        )
    assert set(docs) == set(faces), f"docs/api.md documents packages without __all__: {sorted(set(docs) - set(faces))}"


def face_imports(package: str) -> tuple[dict[str, str], dict[str, str]]:
    """``(name -> module)`` imported under ``TYPE_CHECKING`` and at module level in ``package``'s ``__init__``."""
    tree = ast.parse(Path(importlib.import_module(package).__file__).read_text())
    checked: dict[str, str] = {}
    eager: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for child in node.body:
                if isinstance(child, ast.ImportFrom):
                    checked.update({alias.asname or alias.name: str(child.module) for alias in child.names})
        elif (  # brainbench.faces makes the face; it is not one of its names
            isinstance(node, ast.ImportFrom)
            and str(node.module).startswith("brainbench.")
            and node.module != "brainbench.faces"
        ):
            eager.update({alias.asname or alias.name: str(node.module) for alias in node.names})
    return checked, eager


@pytest.mark.parametrize("package", sorted(set(packages_with_all()) - {"brainbench"}))
def test_lazy_faces_say_the_same_to_mypy_and_at_run_time(package):
    """What mypy reads (the ``TYPE_CHECKING`` imports) is what ``__getattr__`` imports (``_HOMES``)."""
    module = importlib.import_module(package)
    checked, eager = face_imports(package)
    homes = getattr(module, "_HOMES", {})
    assert checked == homes
    assert not set(eager) & set(homes)
    assert set(eager) | set(homes) == set(module.__all__)
    for name, home in homes.items():
        assert getattr(module, name) is getattr(importlib.import_module(home), name)


def test_package_faces_import_neither_torch_nor_xarray():
    faces = sorted(set(public_names()))
    code = "\n".join(
        [
            "import sys",
            *(f"import {face}" for face in faces),
            "import brainbench.data.fetch, brainbench.scoring.protocol, brainbench.caching.integrity",
            "heavy = [m for m in ('torch', 'torchvision', 'xarray', 'PIL') if m in sys.modules]",
            "assert not heavy, heavy",
            "import brainbench.data",
            # the function, whichever of module and face was imported first
            "assert callable(brainbench.data.fetch) and brainbench.data.fetch.__name__ == 'fetch'",
        ]
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def private_uses(source: str, faces: dict[str, set[str]]) -> list[str]:
    """Each ``brainbench`` name that ``source`` imports or reaches which is not a package face's public name."""
    tree = ast.parse(source)
    inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "brainbench":
            public = faces.get(node.module)
            found += [f"{node.module}.{a.name}" for a in node.names if public is None or a.name not in public]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("brainbench.") and a.name not in faces]
        elif isinstance(node, ast.Attribute) and id(node) not in inner and ast.unparse(node).startswith("brainbench."):
            parts = ast.unparse(node).split(".")
            face = max((k for k in range(1, len(parts) + 1) if ".".join(parts[:k]) in faces), default=0)
            if face < len(parts) and parts[face] not in faces[".".join(parts[:face])]:
                found.append(".".join(parts))
    return sorted(set(found))


def test_the_check_finds_a_private_import():
    faces = public_names()
    source = (
        "import brainbench\nimport brainbench.models.base\nfrom brainbench.models import TorchModel\n"
        "from brainbench.readouts.ridge import RidgeReadout\nfrom brainbench.data import _HOMES\n"
        "x = brainbench.models.base.TorchModel\ny = brainbench.score\n"
    )
    assert private_uses(source, faces) == [
        "brainbench.data._HOMES",
        "brainbench.models.base",
        "brainbench.models.base.TorchModel",
        "brainbench.readouts.ridge.RidgeReadout",
    ]


def test_example_plugin_imports_only_the_public_api():
    faces = public_names()
    files = sorted((PLUGIN / "brainbench_example").glob("*.py"))
    assert len(files) >= 3
    uses = {path.name: private_uses(path.read_text(), faces) for path in files}
    assert uses == {path.name: [] for path in files}
