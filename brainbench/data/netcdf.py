"""Atomic netCDF writes shared by assemblies, scores and analyses."""

from __future__ import annotations

import os
from pathlib import Path

import xarray as xr


def write_netcdf_atomic(data: xr.Dataset | xr.DataArray, path: str | os.PathLike, record_hash: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temporary file renamed into place.

    An interrupted write leaves no file under ``path``; a failed one (a full disk, which
    the netCDF library may report as "NetCDF: HDF error") is a one-sentence
    :class:`~brainbench.errors.WriteError`. Object-typed variables of a
    Dataset (strings kept as Python objects) are stored as fixed strings.
    ``record_hash``: also write the ``path.sha256`` sidecar of a cached artifact
    (before the rename, see :mod:`brainbench.caching.integrity`).
    """
    from brainbench.caching import integrity as cache_integrity
    from brainbench.errors import write_failed

    path = Path(path)
    if isinstance(data, xr.Dataset):
        data = data.copy()
        for name in list(data.variables):
            if data[name].dtype == object:
                data[name] = data[name].astype(str)
    tmp = cache_integrity.temp_path(path)
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            data.to_netcdf(tmp, engine="netcdf4")
            if not record_hash:
                os.replace(tmp, path)
        except OSError as error:
            raise write_failed(path, error) from error
        except RuntimeError as error:  # netCDF4 reports a failed HDF5 write (e.g. a full disk) so
            if "NetCDF" not in str(error):
                raise
            raise write_failed(path, error) from error
        if record_hash:
            cache_integrity.publish(tmp, path)  # its own errors are WriteErrors
    finally:
        cache_integrity.remove_temp(tmp)  # never replaces the write's own error (a read-only place)
    return path
