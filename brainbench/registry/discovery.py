"""Where manifests come from: the ``brainbench.manifests`` entry points and ``BRAINBENCH_MANIFESTS``.

Entry points are read with the standard library's :func:`importlib.metadata.entry_points`.
An entry point's value takes one of two forms, told apart by how it ends:

* **resource** (ends in ``.toml``): ``"package:file.toml"`` is the file ``file.toml``
  inside the folder of ``package`` (``"package.sub:data/file.toml"`` also works). The
  folder is found with :func:`importlib.util.find_spec` of the top-level package, which
  does not execute it: listing imports no plugin code.
* **callable** (anything else), kept for compatibility: ``"module:function"`` names a
  function returning the manifest's path (or the path itself). Locating it imports
  ``module``, so every ``brainbench list`` imports that plugin.

Nothing here reads a manifest; :func:`brainbench.registry.registry.get_registry` does.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path, PurePosixPath
from typing import Literal

ENTRY_POINT_GROUP = "brainbench.manifests"
BUILTIN_PACKAGE = "brainbench"
ENVIRONMENT_VARIABLE = "BRAINBENCH_MANIFESTS"

_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")

Origin = Literal["builtin", "plugin", "user"]


@dataclass(frozen=True)
class ManifestSource:
    """One manifest to read: where it was declared, and its file (or why none was found).

    ``origin``: ``builtin`` (brainbench's own ``registry.toml``), ``plugin`` (an installed
    package's entry point) or ``user`` (a path in ``BRAINBENCH_MANIFESTS``). Only a
    ``plugin`` manifest that is broken is skipped with a warning; the others are errors.
    """

    origin: Origin
    declared_by: str
    path: Path | None
    problem: str = ""
    entry_point: str = ""  # the entry point's name ("" for BRAINBENCH_MANIFESTS)

    @property
    def strict(self) -> bool:
        """Whether a problem with this manifest is an error rather than a skipped plugin."""
        return self.origin != "plugin"


def is_resource(value: str) -> bool:
    """Whether an entry point's value names a manifest file (``"package:file.toml"``), not a callable."""
    return value.strip().endswith(".toml")


def resource_parts(value: str) -> tuple[str, PurePosixPath]:
    """``(package, relative file)`` of a resource value; :class:`ValueError` with the reason when malformed."""
    package, sep, resource = value.strip().partition(":")
    if not sep or not _DOTTED.match(package):
        raise ValueError(f'{value!r} must look like "package:file.toml" (a file inside the package\'s folder)')
    relative = PurePosixPath(resource)
    if not resource or relative.is_absolute() or ".." in relative.parts or "\\" in resource:
        raise ValueError(f"{value!r}: {resource!r} must be a relative path inside the package's folder")
    return package, relative


def locate_resource(value: str) -> Path:
    """The file a resource value names, found without executing the package.

    Raises :class:`ValueError` saying why when the package is not installed, is a single
    module rather than a package, or has no such file.
    """
    package, relative = resource_parts(value)
    top, *subpackages = package.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError) as error:
        raise ValueError(f"package {top!r} cannot be found ({error})") from error
    if spec is None:
        raise ValueError(f"package {top!r} is not installed (no module of that name is importable)")
    if spec.submodule_search_locations is None:
        raise ValueError(f"{top!r} is a module ({spec.origin}), not a package folder that can hold {relative}")
    looked: list[Path] = []
    for location in spec.submodule_search_locations:
        folder = Path(location, *subpackages)
        folders = [folder]
        if package == BUILTIN_PACKAGE:  # an editable install reads registry.toml at the repository root
            folders.append(folder.parent)
        for candidate_folder in folders:
            candidate = candidate_folder.joinpath(*relative.parts)
            if candidate.is_file():
                return candidate
            looked.append(candidate)
    raise ValueError(f"there is no file {relative} in package {package!r} (looked for {', '.join(map(str, looked))})")


def _locate_callable(ep: EntryPoint) -> Path:
    """The callable form (compatibility): imports the module, calls the function if it is one."""
    target = ep.load()
    target = target() if callable(target) else target
    return Path(str(target))


def _declared_by(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    owner = f" of distribution {dist.name!r}" if dist is not None and getattr(dist, "name", None) else ""
    return f"entry point {ep.name!r} = {ep.value!r}{owner}"


def entry_point_source(ep: EntryPoint) -> ManifestSource:
    """Locate one entry point's manifest; a failure is recorded in ``problem``, never raised."""
    top = ep.value.strip().partition(":")[0].split(".")[0]
    origin: Origin = "builtin" if top == BUILTIN_PACKAGE else "plugin"
    declared_by = _declared_by(ep)
    try:
        path = locate_resource(ep.value) if is_resource(ep.value) else _locate_callable(ep)
    except Exception as error:  # a plugin's own bug (import error, bad value): recorded, not raised
        return ManifestSource(origin, declared_by, None, f"{declared_by}: {_sentence(error)}", ep.name)
    return ManifestSource(origin, declared_by, path, entry_point=ep.name)


def _sentence(error: BaseException) -> str:
    text = str(error).rstrip(".") or type(error).__name__
    return f"{text}."


def manifest_sources() -> list[ManifestSource]:
    """Every manifest to read: the built-in one, installed plugins (by entry-point name), then ``BRAINBENCH_MANIFESTS``.

    Entry points that resolve to a file already listed are dropped (the same package seen twice).
    """
    points = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.name, ep.value))
    located = [entry_point_source(ep) for ep in points]
    located.sort(key=lambda source: source.origin != "builtin")  # stable: the built-in first
    extra = os.environ.get(ENVIRONMENT_VARIABLE, "")
    located += [ManifestSource("user", ENVIRONMENT_VARIABLE, Path(p)) for p in extra.split(os.pathsep) if p.strip()]
    unique: list[ManifestSource] = []
    seen: set[Path] = set()
    for source in located:
        if source.path is not None:
            resolved = source.path.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
        unique.append(source)
    return unique
