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

import importlib
from typing import TYPE_CHECKING, Any

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

if not TYPE_CHECKING:  # hidden from mypy, which reads the imports above: a misspelt name is an error, not Any

    def __getattr__(name: str) -> Any:
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
