"""NeuralAssembly: neural responses as a plain-coordinate :class:`xarray.DataArray`.

An assembly has dims ``(stimulus, neuroid)`` for averaged data or
``(repetition, stimulus, neuroid)`` for trial data, where missing trials are NaN.
Index coordinates ``stimulus_id`` and ``neuroid_id`` are unique strings; every other
piece of metadata is a plain (non-index) coordinate along one dim. There is never a
pandas MultiIndex, so assemblies survive xarray upgrades and round-trip through
netCDF with :meth:`xarray.DataArray.identical`.

An **RDM assembly** holds no responses but one representational dissimilarity matrix
per recording site, for data published only as matrices (e.g. Conwell et al. 2021): dims
``(site, stimulus, stimulus_b)``, coordinates ``site_id`` (unique strings), ``region``
and any other per-site metadata along ``site``, ``stimulus_id`` along ``stimulus`` and
the same ids as ``stimulus_b_id`` along ``stimulus_b``; each matrix symmetric, finite,
with a zero diagonal (dissimilarities, ``1 - r``). Its ``ceiling`` coordinate (site),
when present, is the reliability of each matrix. Representation benchmarks score it
directly (:mod:`brainbench.scoring.representation`); selections act on its sites.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from brainbench.errors import BrainbenchError

TRIAL_DIMS = ("repetition", "stimulus", "neuroid")
MEAN_DIMS = ("stimulus", "neuroid")
RDM_DIMS = ("site", "stimulus", "stimulus_b")
REQUIRED_ATTRS = ("identifier", "species", "units", "response_window_ms", "citation")


class AssemblyError(BrainbenchError):
    """An assembly that breaks the NeuralAssembly contract."""


def make_assembly(
    values: np.ndarray,
    *,
    stimulus_ids: Iterable[object],
    neuroid_ids: Iterable[object],
    identifier: str,
    species: str = "unknown",
    units: str = "unknown",
    response_window_ms: tuple[float, float] | list[float] = (float("nan"), float("nan")),
    citation: str = "",
    stimulus_coords: Mapping[str, object] | None = None,
    neuroid_coords: Mapping[str, object] | None = None,
    attrs: Mapping[str, object] | None = None,
) -> xr.DataArray:
    """Build and validate a NeuralAssembly from plain arrays.

    Args:
        values: ``(stimulus, neuroid)`` or ``(repetition, stimulus, neuroid)`` responses.
        stimulus_ids: ``(stimulus,)`` unique ids, converted to strings.
        neuroid_ids: ``(neuroid,)`` unique ids, converted to strings.
        stimulus_coords / neuroid_coords: extra metadata, each a 1-d array along its dim.
        response_window_ms: ``(start, end)`` of the response window after onset.
    """
    values = np.asarray(values)
    if values.ndim not in (2, 3):
        raise AssemblyError(
            f"responses must be 2-d (stimulus, neuroid) or 3-d (repetition, stimulus, neuroid); "
            f"got shape {values.shape}."
        )
    dims = TRIAL_DIMS if values.ndim == 3 else MEAN_DIMS
    sizes = {"stimulus": values.shape[-2], "neuroid": values.shape[-1]}
    coords: dict[str, tuple[str, np.ndarray]] = {
        "stimulus_id": ("stimulus", np.asarray([str(s) for s in stimulus_ids], dtype=object)),
        "neuroid_id": ("neuroid", np.asarray([str(n) for n in neuroid_ids], dtype=object)),
    }
    for dim, extra in (("stimulus", stimulus_coords), ("neuroid", neuroid_coords)):
        for name, column in (extra or {}).items():
            coords[name] = (dim, _plain_array(column))
    for name, (dim, column) in coords.items():
        if column.ndim != 1 or len(column) != sizes[dim]:
            raise AssemblyError(
                f"{dim} coordinate {name!r} has shape {column.shape} but the responses have "
                f"{sizes[dim]} {dim}s; give one value per {dim}."
            )
    all_attrs: dict[str, Any] = {
        "identifier": identifier,
        "species": species,
        "units": units,
        "response_window_ms": np.asarray(response_window_ms, dtype=float),
        "citation": citation,
    }
    all_attrs.update(attrs or {})
    assembly = xr.DataArray(
        values.astype(float, copy=False), dims=dims, coords=coords, attrs=all_attrs, name="responses"
    )
    validate_assembly(assembly)
    return assembly


def _plain_array(column: object) -> np.ndarray:
    array = np.asarray(column)
    if array.dtype.kind in "OUS":
        return np.asarray([str(v) for v in array], dtype=object)
    return array


def _first_repeat(values: list[Any]) -> Any:
    """The first value that has appeared before (``values`` has a repeat)."""
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


def validate_assembly(assembly: xr.DataArray) -> xr.DataArray:
    """Check the NeuralAssembly contract; return the assembly unchanged or raise.

    Checks dims, unique string ids, no MultiIndex, required attrs and finite values
    (NaN is allowed only in trial data, for missing trials; a stimulus x neuroid cell
    with no trial at all is an error).
    """
    if not isinstance(assembly, xr.DataArray):
        raise AssemblyError(f"an assembly must be an xarray.DataArray, got {type(assembly).__name__}.")
    dims = tuple(assembly.dims)
    if dims == RDM_DIMS:
        return validate_rdm_assembly(assembly)
    if dims not in (TRIAL_DIMS, MEAN_DIMS):
        raise AssemblyError(
            f"assembly dims must be {MEAN_DIMS}, {TRIAL_DIMS} or {RDM_DIMS}; got {dims}. "
            "Transpose it, e.g. assembly.transpose('repetition', 'stimulus', 'neuroid')."
        )
    for dim, coord in (("stimulus", "stimulus_id"), ("neuroid", "neuroid_id")):
        if coord not in assembly.coords or assembly[coord].dims != (dim,):
            raise AssemblyError(f"assembly needs a coordinate {coord!r} along {dim!r}.")
        ids = assembly[coord].values
        if len(set(ids.tolist())) != len(ids):
            dup = _first_repeat(ids.tolist())
            raise AssemblyError(f"{coord} must be unique; {dup!r} appears more than once.")
    for name, index in assembly.indexes.items():
        if getattr(index, "nlevels", 1) > 1:
            raise AssemblyError(
                f"coordinate {name!r} is a pandas MultiIndex; use plain coordinates "
                "(assembly.reset_index(...)) instead."
            )
    missing = [a for a in REQUIRED_ATTRS if a not in assembly.attrs]
    if missing:
        raise AssemblyError(f"assembly attrs lack {missing}; make_assembly() fills them in.")
    values = assembly.values
    if not np.issubdtype(values.dtype, np.number):
        raise AssemblyError(f"assembly values must be numeric, got dtype {values.dtype}.")
    if np.isinf(values).any():
        raise AssemblyError("assembly contains infinite values.")
    if dims == MEAN_DIMS:
        if np.isnan(values).any():
            bad = np.argwhere(np.isnan(values))[0]
            raise AssemblyError(
                "averaged assembly contains NaN (first at stimulus "
                f"{assembly.stimulus_id.values[bad[0]]!r}, neuroid {assembly.neuroid_id.values[bad[1]]!r})."
            )
    else:
        empty = np.isnan(values).all(axis=0)
        if empty.any():
            s, n = np.argwhere(empty)[0]
            raise AssemblyError(
                f"no valid trial for stimulus {assembly.stimulus_id.values[s]!r} and neuroid "
                f"{assembly.neuroid_id.values[n]!r}; NaN may only pad missing trials."
            )
    return assembly


def make_rdm_assembly(
    rdms: np.ndarray,
    *,
    site_ids: Sequence[object],
    stimulus_ids: Sequence[object],
    identifier: str,
    species: str = "unknown",
    citation: str = "",
    site_coords: Mapping[str, object] | None = None,
    attrs: Mapping[str, object] | None = None,
) -> xr.DataArray:
    """Build and validate an RDM assembly (see the module docstring).

    Args:
        rdms: ``(site, stimulus, stimulus)`` dissimilarities (``1 - r``), symmetric, zero diagonal.
        site_ids: ``(site,)`` unique ids, converted to strings.
        stimulus_ids: ``(stimulus,)`` unique ids, the row (and column) order of every matrix.
        site_coords: per-site metadata (``region``, ``ceiling``, ...), each ``(site,)``.
    """
    rdms = np.asarray(rdms, dtype=np.float64)
    if rdms.ndim != 3 or rdms.shape[1] != rdms.shape[2]:
        raise AssemblyError(f"RDMs must be 3-d (site, stimulus, stimulus) with square matrices; got {rdms.shape}.")
    stimuli = np.asarray([str(s) for s in stimulus_ids], dtype=object)
    coords: dict[str, tuple[str, np.ndarray]] = {
        "site_id": ("site", np.asarray([str(s) for s in site_ids], dtype=object)),
        "stimulus_id": ("stimulus", stimuli),
        "stimulus_b_id": ("stimulus_b", stimuli.copy()),
    }
    for name, column in (site_coords or {}).items():
        coords[name] = ("site", _plain_array(column))
    for name, (dim, column) in coords.items():
        size = rdms.shape[RDM_DIMS.index(dim)]
        if column.ndim != 1 or len(column) != size:
            raise AssemblyError(
                f"{dim} coordinate {name!r} has shape {column.shape} but the RDMs have "
                f"{size} {dim}s; give one value per {dim}."
            )
    all_attrs: dict[str, Any] = {
        "identifier": identifier,
        "species": species,
        "units": "1 - Pearson r",
        "citation": citation,
        "response_window_ms": np.asarray([np.nan, np.nan]),
    }
    all_attrs.update(attrs or {})
    assembly = xr.DataArray(rdms, dims=RDM_DIMS, coords=coords, attrs=all_attrs, name="rdms")
    return validate_rdm_assembly(assembly)


def validate_rdm_assembly(assembly: xr.DataArray, atol: float = 1e-9) -> xr.DataArray:
    """Check the RDM assembly contract (module docstring); return it unchanged or raise."""
    for dim, coord in (("site", "site_id"), ("stimulus", "stimulus_id"), ("stimulus_b", "stimulus_b_id")):
        if coord not in assembly.coords or assembly[coord].dims != (dim,):
            raise AssemblyError(f"an RDM assembly needs a coordinate {coord!r} along {dim!r}.")
    for coord in ("site_id", "stimulus_id"):
        ids = [str(v) for v in assembly[coord].values]
        if len(set(ids)) != len(ids):
            raise AssemblyError(f"{coord} must be unique; {next(i for i in ids if ids.count(i) > 1)!r} repeats.")
    if [str(v) for v in assembly["stimulus_id"].values] != [str(v) for v in assembly["stimulus_b_id"].values]:
        raise AssemblyError("an RDM assembly's rows and columns must list the same stimuli in the same order.")
    missing = [a for a in REQUIRED_ATTRS if a not in assembly.attrs]
    if missing:
        raise AssemblyError(f"assembly attrs lack {missing}; make_rdm_assembly() fills them in.")
    values = np.asarray(assembly.values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise AssemblyError("an RDM assembly must hold finite dissimilarities only.")
    if not np.allclose(values, values.transpose(0, 2, 1), atol=atol, rtol=0):
        raise AssemblyError("every RDM of an RDM assembly must be symmetric.")
    if np.abs(np.diagonal(values, axis1=1, axis2=2)).max(initial=0.0) > atol:
        raise AssemblyError("every RDM of an RDM assembly must have a zero diagonal (dissimilarities, 1 - r).")
    return assembly


def is_rdm_assembly(assembly: xr.DataArray) -> bool:
    """Whether ``assembly`` holds per-site RDMs rather than responses."""
    return tuple(assembly.dims) == RDM_DIMS


def unit_dim(assembly: xr.DataArray) -> str:
    """The dim selections act on: ``site`` for an RDM assembly, else ``neuroid``."""
    return "site" if is_rdm_assembly(assembly) else "neuroid"


def is_trial_assembly(assembly: xr.DataArray) -> bool:
    return "repetition" in assembly.dims


def trial_mean(assembly: xr.DataArray) -> xr.DataArray:
    """``(stimulus, neuroid)`` NaN-mean over repetitions (identity on averaged data)."""
    if not is_trial_assembly(assembly):
        return assembly
    mean = assembly.mean("repetition", skipna=True)
    mean.attrs = dict(assembly.attrs)
    return mean


def save_assembly(assembly: xr.DataArray, path: str | os.PathLike, record_hash: bool = False) -> Path:
    """Write an assembly to netCDF atomically (temp file, then rename).

    ``record_hash``: also write its sha256 sidecar (for caches, see :mod:`brainbench.caching.integrity`).
    """
    from brainbench.data.netcdf import write_netcdf_atomic

    validate_assembly(assembly)
    return write_netcdf_atomic(assembly, path, record_hash=record_hash)


def load_assembly(path: str | os.PathLike) -> xr.DataArray:
    """Read an assembly written by :func:`save_assembly` (fully into memory)."""
    with xr.open_dataarray(path, engine="netcdf4") as opened:
        assembly = opened.load()
    for name in list(assembly.coords):
        if assembly[name].dtype.kind in "US":
            assembly[name] = assembly[name].astype(object)
    return validate_assembly(assembly)
