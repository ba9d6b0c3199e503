"""``brainbench plugin check PATH``: validate a plugin package before installing it."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from brainbench.errors import BrainbenchError

plugin_app = typer.Typer(help="Tools for plugin authors.", no_args_is_help=True)

CODE_KINDS = ("models", "assemblies", "readouts", "metrics", "analyses")


@contextlib.contextmanager
def _on_path(folder: Path) -> Iterator[None]:
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(folder))


def _source_root(package: Path, module: str) -> Path:
    top = module.split(".")[0]
    for root in (package / "src", package):
        if (root / top).is_dir() or (root / f"{top}.py").is_file():
            return root
    return package


def find_manifests(path: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """``[(entry-point name, manifest path)]`` of a package folder, pyproject or manifest TOML, and problems."""
    from brainbench.registry import load_object
    from brainbench.registry.manifest import tomllib
    from brainbench.registry.registry import ENTRY_POINT_GROUP

    if path.is_file() and path.name != "pyproject.toml":
        return [("", path)], []
    pyproject = path if path.is_file() else path / "pyproject.toml"
    if not pyproject.is_file():
        return [], [f"{path} is neither a manifest TOML file nor a folder with a pyproject.toml."]
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        return [], [f"{pyproject}: not valid TOML ({error})."]
    points = data.get("project", {}).get("entry-points", {}).get(ENTRY_POINT_GROUP, {})
    if not points:
        return [], [f'{pyproject} declares no entry point in group {ENTRY_POINT_GROUP}: add '
                    f'[project.entry-points."{ENTRY_POINT_GROUP}"] with name = "package.module:function".']
    found, problems = [], []
    package = pyproject.parent
    for name, target in points.items():
        module = str(target).partition(":")[0]
        with _on_path(_source_root(package, module)):
            try:
                value = load_object(str(target))
                value = value() if callable(value) else value
            except Exception as error:  # a plugin's own bug: report, do not crash
                problems.append(f"entry point {name!r} = {target!r}: {error}")
                continue
        manifest = Path(str(value))
        if not manifest.is_file():
            problems.append(f"entry point {name!r} = {target!r} names {manifest}, which does not exist.")
            continue
        found.append((name, manifest))
    return found, problems


def check_plugin(path: Path) -> tuple[list[str], list[str]]:
    """Validate a plugin: ``(ok lines, problems)``, every problem found, not only the first.

    Reads each manifest with :func:`brainbench.registry.manifest.read_manifest`, checks
    it together with the other installed manifests (unique ids, known references) and
    imports every ``python_name`` without calling it.
    """
    import entrypoints

    from brainbench.errors import ManifestError
    from brainbench.registry import load_object
    from brainbench.registry.manifest import read_manifest
    from brainbench.registry.registry import ENTRY_POINT_GROUP, Registry

    path = path.resolve()
    found, problems = find_manifests(path)
    ok: list[str] = []
    package = path if path.is_dir() else path.parent
    for ep_name, manifest_path in found:
        malformed: list[str] = []
        try:
            manifest = read_manifest(manifest_path, malformed)
        except ManifestError as error:
            problems.append(str(error))
            continue
        problems.extend(malformed)  # every malformed entry; the well-formed ones are still checked
        if not malformed:
            ok.append(f"manifest {manifest_path} is valid")
        others = []
        for ep in entrypoints.get_group_all(ENTRY_POINT_GROUP):
            if ep.name == ep_name:  # this plugin, installed already: not a clash with itself
                continue
            try:
                target = ep.load()
                other = Path(str(target() if callable(target) else target))
                if other.resolve() != manifest_path.resolve():
                    others.append(read_manifest(other))
            except Exception as error:
                problems.append(f"installed plugin {ep.name!r} is broken ({error}); its ids were not checked.")
        clashes: list[str] = []
        Registry([*others, manifest], clashes)
        problems.extend(clashes)
        if not clashes:
            ok.append("ids are unique and every reference resolves")
        for kind in CODE_KINDS:
            for entry_id, entry in manifest.entries[kind].items():
                python_name = getattr(entry, "python_name", None)
                if python_name is None:
                    continue
                where = f"{manifest_path.name}: {kind}.{entry_id}"
                with _on_path(_source_root(package, python_name.partition(":")[0])):
                    try:
                        obj = load_object(python_name)
                    except Exception as error:
                        problems.append(f"{where}: {error}")
                        continue
                if not callable(obj):
                    problems.append(f"{where}: {python_name} is a {type(obj).__name__}, not a callable.")
                    continue
                ok.append(f"{kind}.{entry_id}: {python_name} imports")
    return ok, problems


@plugin_app.command("check")
def check_command(
    path: Annotated[Path, typer.Argument(help="plugin package folder (with pyproject.toml) or a manifest TOML")],
) -> None:
    """Validate a plugin's manifest and import every python_name it names, without running any.

    Reports every problem (malformed entries, unknown references, clashing ids, python_names
    that do not import), then exits with status 2 if there was any.
    """
    if not path.exists():
        raise BrainbenchError(f"{path} does not exist; pass a plugin package folder or a manifest TOML file.")
    ok, problems = check_plugin(path)
    for line in ok:
        typer.echo(f"ok       {line}")
    for line in problems:
        typer.secho(f"PROBLEM  {line}", fg=typer.colors.RED, err=True)
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        typer.secho(f"{len(problems)} {noun} in {path}; fix them and run the check again.",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    typer.echo(f"{path}: no problems.")


def register(app: typer.Typer) -> None:
    app.add_typer(plugin_app, name="plugin")
