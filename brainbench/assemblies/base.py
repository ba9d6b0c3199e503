"""The assembly plugin contract.

An assembly entry's ``python_name`` names a callable ``(**params) -> AssemblySource``.
An :class:`AssemblySource` lists its remote files (for ``brainbench fetch`` and the
download size) and builds the NeuralAssembly and StimulusSet. Built assemblies are
cached as netCDF under ``$BRAINBENCH_HOME/assemblies`` keyed on whatever determines
their content (files, windows, reader version), with their sha256 in a sidecar checked
on every read, see :func:`cached_build`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import xarray as xr

from brainbench.caching import integrity as cache_integrity
from brainbench.caching.content import json_sha256
from brainbench.data.assembly import AssemblyError, load_assembly, save_assembly, validate_assembly
from brainbench.data.fetch import RemoteFile, fetch_all, home
from brainbench.data.stimuli import StimulusSet
from brainbench.identifiers import check_identifier


@dataclass
class LoadedAssembly:
    """A validated assembly and the stimuli it was recorded with, in the same order.

    Attributes:
        assembly: NeuralAssembly ``(stimulus, neuroid)`` or ``(repetition, stimulus, neuroid)``.
        stimuli: StimulusSet whose ids equal ``assembly.stimulus_id`` in order.
    """

    assembly: xr.DataArray
    stimuli: StimulusSet

    def __post_init__(self) -> None:
        validate_assembly(self.assembly)
        ids = [str(s) for s in self.assembly.stimulus_id.values]
        if ids != list(self.stimuli.ids):
            if sorted(ids) == sorted(self.stimuli.ids):
                self.stimuli = self.stimuli.subset(ids)
            else:
                missing = sorted(set(ids) - set(self.stimuli.ids))
                raise AssemblyError(
                    f"assembly and stimulus set disagree: {len(missing)} assembly stimuli have no "
                    f"image (e.g. {missing[:1]}), or the sets differ in size "
                    f"({len(ids)} vs {len(self.stimuli)})."
                )


class AssemblySource:
    """Base class of assembly plugins. Subclasses set ``identifier`` and implement ``load``."""

    identifier: str = ""

    def remote_files(self) -> list[RemoteFile]:
        """Every remote file ``load`` needs (empty for local data)."""
        return []

    def fetch(self, progress: bool = True) -> list[Path]:
        """Download (or locate in the cache or mirror) every remote file."""
        return fetch_all(self.remote_files(), progress=progress)

    def load(self, progress: bool = True) -> LoadedAssembly:  # pragma: no cover - contract
        raise NotImplementedError


class InMemoryAssembly(AssemblySource):
    """Wraps an already-built assembly and stimulus set (a user's own data)."""

    def __init__(self, assembly: xr.DataArray, stimuli: StimulusSet) -> None:
        self._loaded = LoadedAssembly(assembly, stimuli)
        self.identifier = str(assembly.attrs.get("identifier", "custom"))

    def load(self, progress: bool = True) -> LoadedAssembly:
        return self._loaded


def build_key(**parts: object) -> str:
    """A short stable hash of JSON-serialisable parts (for cache file names): 16 hex characters.

    The first 16 characters of :func:`brainbench.caching.content.json_sha256` of ``parts``.
    """
    return json_sha256(parts)[:16]


def cached_build(identifier: str, key: str, build: Callable[[], xr.DataArray]) -> xr.DataArray:
    """Return the assembly cached under ``identifier``/``key``, building it once.

    The file is written atomically with its sha256 record; a failed build leaves no
    cache file behind. A cached file that is truncated, altered or unrecorded is removed
    with a one-line warning and built again.
    """
    folder = home() / "assemblies"
    path = folder / f"{check_identifier(identifier, 'assembly identifier')}-{key}.nc"
    cache_integrity.clean_orphans(folder)
    if cache_integrity.usable(path):
        return load_assembly(path)
    assembly = build()
    save_assembly(assembly, path, record_hash=True)
    return assembly
