"""Data layer: assemblies, stimulus sets, remote files and train/test splits.

The public API (docs/api.md):

* :class:`StimulusSet`: ordered stimulus ids with lazy access to each image
  (``from_files``, ``from_zip``, ``from_arrays``);
* :func:`make_assembly` / :func:`make_rdm_assembly`: a validated ``xarray.DataArray`` of
  responses ``(stimulus, neuroid)`` or ``(repetition, stimulus, neuroid)`` (or of RDMs
  ``(site, stimulus, stimulus_b)``); :func:`save_assembly` / :func:`load_assembly` write
  and read one as netCDF; a malformed one raises :class:`AssemblyError`;
* :class:`RemoteFile`: a dataset's file with its hash; :func:`fetch` / :func:`fetch_all`
  get it from the cache, ``$BRAINBENCH_MIRROR`` or the network, checked; :func:`load_npy`
  and :func:`extract_zip` read what was fetched;
* :class:`Split` / :func:`make_splits`: seeded train/test splits of stimulus positions.

``fetch`` is imported at once (the rest on first use): the function shares its name with
its module, and ``brainbench.data.fetch`` must be the function however the modules were
imported. The module is private; import names from ``brainbench.data``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from brainbench.data.fetch import RemoteFile, extract_zip, fetch, fetch_all, load_npy
from brainbench.faces import lazy_face

if TYPE_CHECKING:  # pragma: no cover - what mypy and readers see; _HOMES says the same
    from brainbench.data.assembly import (
        AssemblyError,
        load_assembly,
        make_assembly,
        make_rdm_assembly,
        save_assembly,
    )
    from brainbench.data.splits import Split, make_splits
    from brainbench.data.stimuli import StimulusSet

#: Where each public name imported on first use is defined (importing this package
#: imports none of them: they pull in xarray and PIL).
_HOMES = {
    "AssemblyError": "brainbench.data.assembly",
    "load_assembly": "brainbench.data.assembly",
    "make_assembly": "brainbench.data.assembly",
    "make_rdm_assembly": "brainbench.data.assembly",
    "save_assembly": "brainbench.data.assembly",
    "Split": "brainbench.data.splits",
    "make_splits": "brainbench.data.splits",
    "StimulusSet": "brainbench.data.stimuli",
}

__all__ = [
    "AssemblyError",
    "RemoteFile",
    "Split",
    "StimulusSet",
    "extract_zip",
    "fetch",
    "fetch_all",
    "load_assembly",
    "load_npy",
    "make_assembly",
    "make_rdm_assembly",
    "make_splits",
    "save_assembly",
]

if not TYPE_CHECKING:  # mypy reads the imports above: a misspelt name is an error, not Any
    __getattr__, __dir__ = lazy_face(__name__, _HOMES, __all__)
