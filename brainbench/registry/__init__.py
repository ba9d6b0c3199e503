"""Manifests, their validation, discovery through entry points, and lazy loading.

The public face of the registry; it imports neither torch nor any plugin code:

* :func:`get_registry`: every installed manifest, read once and cached;
* :func:`refresh`: forget that cache (after a manifest or ``BRAINBENCH_*`` changed);
* :class:`Registry`: look up entries by id (``registry.model("alexnet")``, ...);
* :func:`load_object`: import the ``"package.module:attribute"`` a manifest names;
* the manifest entries a plugin's code is handed (:class:`ModelEntry`, ...) and
  :class:`Preprocessing` / :class:`StimulusPlacement`;
* :data:`ENTRY_POINT_GROUP` (``brainbench.manifests``) and :data:`SCHEMA_VERSION`.
"""

from brainbench.registry.discovery import ENTRY_POINT_GROUP
from brainbench.registry.manifest import (
    SCHEMA_VERSION,
    AssemblyEntry,
    BenchmarkEntry,
    MetricEntry,
    ModelEntry,
    Preprocessing,
    ReadoutEntry,
    StimulusPlacement,
)
from brainbench.registry.registry import ManifestProblem, Registry, get_registry, load_object, refresh

__all__ = [
    "ENTRY_POINT_GROUP",
    "SCHEMA_VERSION",
    "AssemblyEntry",
    "BenchmarkEntry",
    "ManifestProblem",
    "MetricEntry",
    "ModelEntry",
    "Preprocessing",
    "ReadoutEntry",
    "Registry",
    "StimulusPlacement",
    "get_registry",
    "load_object",
    "refresh",
]
