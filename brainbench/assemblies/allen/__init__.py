"""Allen Brain Observatory Visual Coding 2-photon: natural-scene benchmarks of mouse visual areas.

Modules: :mod:`.nwb` reads the NWB v1 files with h5py, :mod:`.responses` turns traces
into per-trial responses as Allen's NaturalScenes analysis does, :mod:`.experiments`
pins each benchmark's experiments, :mod:`.source` is the assembly plugin.
"""

from brainbench.assemblies.allen.source import AllenNaturalScenes, load

__all__ = ["AllenNaturalScenes", "load"]
