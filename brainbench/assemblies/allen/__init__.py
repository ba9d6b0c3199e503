"""Allen Brain Observatory Visual Coding 2-photon: natural-scene benchmarks of mouse visual areas.

Modules: :mod:`.nwb` reads the NWB v1 files with h5py, :mod:`.responses` turns traces
into per-trial responses as Allen's NaturalScenes analysis does, :mod:`.experiments`
pins each benchmark's experiments, :mod:`.source` is the assembly plugin. The built-in
manifest names :func:`load` (``brainbench.assemblies.allen:load``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from brainbench.faces import lazy_face

if TYPE_CHECKING:  # pragma: no cover - what mypy and readers see; _HOMES says the same
    from brainbench.assemblies.allen.source import AllenNaturalScenes, load

#: Where each public name is defined. The face is lazy: importing this package (or any
#: module in it) imports none of them; each is imported on first use.
_HOMES = {
    "AllenNaturalScenes": "brainbench.assemblies.allen.source",
    "load": "brainbench.assemblies.allen.source",
}

__all__ = [
    "AllenNaturalScenes",
    "load",
]

if not TYPE_CHECKING:  # mypy reads the imports above: a misspelt name is an error, not Any
    __getattr__, __dir__ = lazy_face(__name__, _HOMES, __all__)
