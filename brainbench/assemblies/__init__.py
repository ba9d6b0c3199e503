"""Assemblies: the assembly plugin contract, bring-your-own-data, and the built-in datasets.

The public API (docs/api.md): an assembly entry's ``python_name`` names a callable
``(**params) -> AssemblySource``; :meth:`AssemblySource.load` returns a
:class:`LoadedAssembly` (a validated assembly and its :class:`~brainbench.data.StimulusSet`,
in the same order); :func:`cached_build` caches an expensive build as a hash-checked
netCDF file. :func:`wrap_recordings` turns your own responses and images into a
:class:`LoadedAssembly`, and :class:`InMemoryAssembly` wraps one as a source. The
built-in datasets' modules (``cowley2023``, ``majajhong2015``, ...) are reached through
the registry's ids, not imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from brainbench.faces import lazy_face

if TYPE_CHECKING:  # pragma: no cover - what mypy and readers see; _HOMES says the same
    from brainbench.assemblies.base import AssemblySource, InMemoryAssembly, LoadedAssembly, cached_build
    from brainbench.assemblies.byod import wrap_recordings

#: Where each public name is defined. The face is lazy: importing this package (or any
#: module in it) imports none of them; each is imported on first use.
_HOMES = {
    "AssemblySource": "brainbench.assemblies.base",
    "InMemoryAssembly": "brainbench.assemblies.base",
    "LoadedAssembly": "brainbench.assemblies.base",
    "cached_build": "brainbench.assemblies.base",
    "wrap_recordings": "brainbench.assemblies.byod",
}

__all__ = [
    "AssemblySource",
    "InMemoryAssembly",
    "LoadedAssembly",
    "cached_build",
    "wrap_recordings",
]

if not TYPE_CHECKING:  # mypy reads the imports above: a misspelt name is an error, not Any
    __getattr__, __dir__ = lazy_face(__name__, _HOMES, __all__)
