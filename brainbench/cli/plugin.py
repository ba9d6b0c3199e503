"""``brainbench plugin check [PATH]``: validate a plugin package before installing it, or every installed manifest."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from brainbench.errors import BrainbenchError

if TYPE_CHECKING:
    from brainbench.registry.manifest import Manifest

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


@dataclass
class CheckReport:
    """What ``plugin check`` found: lines that passed, advice that is not a problem, and problems."""

    ok: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def find_manifests(path: Path) -> tuple[list[tuple[str, Path]], list[str], list[str]]:
    """``([(entry-point name, manifest path)], problems, notes)`` of a package folder, pyproject or manifest TOML.

    A resource entry point (``"package:file.toml"``) is found in the package's source
    folder (``src/`` layout or flat) without importing it; the callable form is imported.
    """
    from brainbench.registry import load_object
    from brainbench.registry.discovery import ENTRY_POINT_GROUP, is_resource, resource_parts
    from brainbench.registry.manifest import tomllib

    if path.is_file() and path.name != "pyproject.toml":
        return [("", path)], [], []
    pyproject = path if path.is_file() else path / "pyproject.toml"
    if not pyproject.is_file():
        return [], [f"{path} is neither a manifest TOML file nor a folder with a pyproject.toml."], []
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        return [], [f"{pyproject}: not valid TOML ({error})."], []
    points = data.get("project", {}).get("entry-points", {}).get(ENTRY_POINT_GROUP, {})
    if not points:
        return (
            [],
            [
                f"{pyproject} declares no entry point in group {ENTRY_POINT_GROUP}: add "
                f'[project.entry-points."{ENTRY_POINT_GROUP}"] with name = "package:manifest.toml".'
            ],
            [],
        )
    found, problems, notes = [], [], []
    package = pyproject.parent
    for name, target in points.items():
        target = str(target)
        if is_resource(target):
            try:
                module, relative = resource_parts(target)
            except ValueError as error:
                problems.append(f"entry point {name!r}: {error}.")
                continue
            manifest = _source_root(package, module).joinpath(*module.split("."), *relative.parts)
        else:
            module = target.partition(":")[0]
            notes.append(
                f"entry point {name!r} = {target!r} names a function, so every `brainbench list` "
                f'imports {module!r}; name the file instead, as "package:manifest.toml".'
            )
            with _on_path(_source_root(package, module)):
                try:
                    value = load_object(target)
                    value = value() if callable(value) else value
                except Exception as error:  # a plugin's own bug: report, do not crash
                    problems.append(f"entry point {name!r} = {target!r}: {error}")
                    continue
            manifest = Path(str(value))
        if not manifest.is_file():
            problems.append(f"entry point {name!r} = {target!r} names {manifest}, which does not exist.")
            continue
        found.append((name, manifest))
    return found, problems, notes


def _schema_note(manifest: Manifest) -> list[str]:
    if manifest.schema_version is not None:
        return []
    return [
        f"{manifest.source} declares no schema_version, so it is read as schema 1; add `schema_version = 1` at its top."
    ]


def check_plugin(path: Path) -> CheckReport:
    """Validate a plugin: every problem found, not only the first.

    Reads each manifest with :func:`brainbench.registry.manifest.read_manifest`, checks
    it together with the other installed manifests (unique ids, known references) and
    imports every ``python_name`` without calling it.
    """
    from brainbench.errors import ManifestError
    from brainbench.registry import load_object
    from brainbench.registry.discovery import manifest_sources
    from brainbench.registry.manifest import read_manifest
    from brainbench.registry.registry import Registry

    path = path.resolve()
    found, problems, notes = find_manifests(path)
    report = CheckReport(problems=problems, notes=notes)
    package = path if path.is_dir() else path.parent
    for ep_name, manifest_path in found:
        malformed: list[str] = []
        try:
            manifest = read_manifest(manifest_path, malformed)
        except ManifestError as error:
            report.problems.append(str(error))
            continue
        report.problems.extend(malformed)  # every malformed entry; the well-formed ones are still checked
        if not malformed:
            report.ok.append(f"manifest {manifest_path} is valid")
        report.notes.extend(_schema_note(manifest))
        others = []
        for source in manifest_sources():
            if ep_name and source.entry_point == ep_name:  # this plugin, installed already: not a clash with itself
                continue
            if source.path is not None and source.path.resolve() == manifest_path.resolve():
                continue
            try:
                if source.path is None:
                    raise ManifestError(source.problem)
                others.append(read_manifest(source.path))
            except ManifestError as error:
                report.problems.append(f"installed plugin manifest is broken ({error}); its ids were not checked.")
        messages: list[str] = []
        registry = Registry([*others, manifest], messages)
        elsewhere = {message for source, message in registry.unresolved if source != manifest.source}
        clashes = [message for message in messages if message not in elsewhere]  # another plugin's bad references
        report.problems.extend(clashes)
        if not clashes:
            report.ok.append("ids are unique and every reference resolves")
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
                        report.problems.append(f"{where}: {error}")
                        continue
                if not callable(obj):
                    report.problems.append(f"{where}: {python_name} is a {type(obj).__name__}, not a callable.")
                    continue
                report.ok.append(f"{kind}.{entry_id}: {python_name} imports")
    return report


def check_installed() -> CheckReport:
    """Validate every installed manifest (built-in, plugins, ``BRAINBENCH_MANIFESTS``) without importing code.

    Reports what ``brainbench list`` skips, and also problems of the built-in and a
    user's own manifests, which ``list`` refuses.
    """
    from brainbench.errors import ManifestError
    from brainbench.registry.discovery import manifest_sources
    from brainbench.registry.manifest import read_manifest
    from brainbench.registry.registry import Registry

    report = CheckReport()
    manifests = []
    for source in manifest_sources():
        if source.path is None:
            report.problems.append(source.problem)
            continue
        malformed: list[str] = []
        try:
            manifest = read_manifest(source.path, malformed)
        except ManifestError as error:
            report.problems.append(f"{error} (declared by {source.declared_by})")
            continue
        report.problems.extend(malformed)
        if not malformed:
            report.ok.append(f"manifest {source.path} is valid (declared by {source.declared_by})")
        report.notes.extend(_schema_note(manifest))
        manifests.append(manifest)
    clashes: list[str] = []
    Registry(manifests, clashes)
    report.problems.extend(clashes)
    if not clashes:
        report.ok.append("ids are unique and every reference resolves")
    return report


@plugin_app.command("check")
def check_command(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="plugin package folder (with pyproject.toml) or a manifest TOML (default: every installed manifest)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Validate a plugin's manifest and import every python_name it names, without running any.

    Reports every problem (malformed entries, unknown references, clashing ids, python_names
    that do not import), then exits with status 2 if there was any. Without PATH, checks
    every installed manifest (what `brainbench list` skips) without importing plugin code.
    """
    if path is not None and not path.exists():
        raise BrainbenchError(f"{path} does not exist; pass a plugin package folder or a manifest TOML file.")
    report = check_plugin(path) if path is not None else check_installed()
    checked = path if path is not None else "the installed manifests"
    for line in report.ok:
        typer.echo(f"ok       {line}")
    for line in report.notes:
        typer.echo(f"note     {line}")
    for line in report.problems:
        typer.secho(f"PROBLEM  {line}", fg=typer.colors.RED, err=True)
    if report.problems:
        noun = "problem" if len(report.problems) == 1 else "problems"
        typer.secho(
            f"{len(report.problems)} {noun} in {checked}; fix them and run the check again.",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2)
    typer.echo(f"{checked}: no problems.")


def register(app: typer.Typer) -> None:
    app.add_typer(plugin_app, name="plugin")
