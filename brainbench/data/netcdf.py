"""Atomic netCDF writes shared by assemblies, scores and analyses."""

from __future__ import annotations

import os
from pathlib import Path

import xarray as xr


def write_netcdf_atomic(data: xr.Dataset | xr.DataArray, path: str | os.PathLike, record_hash: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temporary file renamed into place.

    An interrupted write leaves no file under ``path``. Object-typed variables of a
    Dataset (strings kept as Python objects) are stored as fixed strings.
    ``record_hash``: also write the ``path.sha256`` sidecar of a cached artifact
    (before the rename, see :mod:`brainbench.cache_integrity`).
    """
    from brainbench import cache_integrity

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, xr.Dataset):
        data = data.copy()
        for name in list(data.variables):
            if data[name].dtype == object:
                data[name] = data[name].astype(str)
    tmp = cache_integrity.temp_path(path)
    try:
        data.to_netcdf(tmp, engine="netcdf4")
        if record_hash:
            cache_integrity.publish(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
