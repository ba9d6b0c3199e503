"""Macaque V4 and IT recordings of Majaj, Hong, Solomon & DiCarlo (2015), public half.

Majaj, N. J., Hong, H., Solomon, E. A., & DiCarlo, J. J. (2015). Simple learned weighted
sums of inferior temporal neuronal firing rates accurately predict human core object
recognition performance. Journal of Neuroscience, 35(39), 13402-13418.
doi:10.1523/JNEUROSCI.5181-14.2015

Data as packaged by Brain-Score (brainio format) in the public bucket
``brainscore-storage``, folder ``brainio-brainscore``:

- ``assy_dicarlo_MajajHong2015_public.nc``: the assembly ``dicarlo.MajajHong2015.public``,
  dims ``(neuroid=256, presentation=148480, time_bin=1)`` (70-170 ms after onset); 88 V4
  and 168 IT multi-unit sites of two monkeys after Brain-Score's exclusions.
- ``stimulus_hvm-public.csv`` / ``.zip``: the stimulus set ``hvm-public``: 3,200 HvM
  images (variations 0 and 3), shown at 8 degrees of visual angle.

brainio layout (what :func:`convert_brainio` reads): one data variable over
``presentation x neuroid x time_bin`` (any order); every former MultiIndex level is a
plain variable along its dim (``image_id`` or ``stimulus_id``, ``repetition``, ... along
``presentation``; ``neuroid_id``, ``region``, ``animal``, ``arr``, ``row``, ``col``, ... along
``neuroid``; ``time_bin_start``/``time_bin_end`` along ``time_bin``). One presentation is
one trial; the stimulus id links it to a CSV row, whose ``filename`` column names the
image inside the zip.

Converted once into a trial NeuralAssembly ``(repetition, stimulus, neuroid)`` in CSV
row order, NaN-padded where images had fewer repetitions, and cached as netCDF.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from brainbench.assemblies.base import AssemblySource, LoadedAssembly, build_key, cached_build
from brainbench.data.assembly import AssemblyError, make_assembly
from brainbench.data.fetch import RemoteFile, extract_zip, fetch, home
from brainbench.data.stimuli import StimulusSet

DATASET = "brainio-brainscore"
BASE_URL = "https://brainscore-storage.s3.amazonaws.com/brainio-brainscore"
ASSEMBLY_FILE = "assy_dicarlo_MajajHong2015_public.nc"
CSV_FILE = "stimulus_hvm-public.csv"
ZIP_FILE = "stimulus_hvm-public.zip"
# sha1 as pinned by Brain-Score's data plugin (brainscore_vision/data/majajhong2015).
# A module-level dict so tests can pin the hashes of their miniature files.
SHA1 = {
    ASSEMBLY_FILE: "13d28ca0ce88ee550b54db3004374ae19096e9b9",
    CSV_FILE: "5ca7a3da00d8e9c694a9cd725df5ba0ad6d735af",
    ZIP_FILE: "8aa44e038d7b551efa8077467622f9d48d72e473",
}
IDENTIFIER = "majajhong2015-public"
CITATION = (
    "Majaj, N. J., Hong, H., Solomon, E. A., & DiCarlo, J. J. (2015). Simple learned weighted "
    "sums of inferior temporal neuronal firing rates accurately predict human core object "
    "recognition performance. Journal of Neuroscience, 35(39), 13402-13418. "
    "doi:10.1523/JNEUROSCI.5181-14.2015"
)
VISUAL_DEGREES = 8.0
READER_VERSION = 1
ID_COLUMNS = ("stimulus_id", "image_id")  # brainio's current name first, then the legacy one
DIMS = ("presentation", "neuroid", "time_bin")
# stimulus metadata the benchmarks rely on (stratification, analyses): where both the
# assembly file and the CSV carry it, they must agree image by image.
CHECKED_COLUMNS = ("object_name", "category_name", "variation")


def remote(name: str) -> RemoteFile:
    """The remote file ``name`` of the brainio bucket, with its pinned sha1."""
    return RemoteFile(DATASET, name, f"{BASE_URL}/{name}", f"sha1:{SHA1[name]}")


# ---------------------------------------------------------------------- conversion
def read_stimulus_csv(path: str | Path) -> tuple[pd.DataFrame, str]:
    """A brainio stimulus CSV and the name of its id column.

    Returns:
        ``(table, id_column)``: one row per image; ``id_column`` is ``stimulus_id`` or,
        in legacy packages such as ``hvm-public``, ``image_id``. Ids are strings.
    """
    table = pd.read_csv(path)
    id_column = next((c for c in ID_COLUMNS if c in table.columns), None)
    if id_column is None:
        raise AssemblyError(f"{path} has no stimulus_id or image_id column; it is not a brainio stimulus CSV.")
    if "filename" not in table.columns:
        raise AssemblyError(f"{path} has no 'filename' column naming each image inside the zip.")
    table[id_column] = table[id_column].astype(str)
    duplicated = table[id_column][table[id_column].duplicated()]
    if len(duplicated):
        raise AssemblyError(f"{path}: {id_column} {duplicated.iloc[0]!r} appears in more than one row.")
    return table, id_column


def _main_variable(dataset: xr.Dataset, path: Path) -> xr.DataArray:
    candidates = [name for name, var in dataset.data_vars.items() if {"presentation", "neuroid"} <= set(var.dims)]
    if len(candidates) != 1:
        raise AssemblyError(
            f"{path} is not a brainio neural assembly: expected one variable over presentation x "
            f"neuroid, found {candidates or 'none'}."
        )
    return dataset[candidates[0]]


def _variables_along(dataset: xr.Dataset, dim: str, skip: str) -> dict[str, np.ndarray]:
    """Every 1-d variable along ``dim`` (brainio stores index levels as plain variables)."""
    out: dict[str, np.ndarray] = {}
    for key, var in dataset.variables.items():
        name = str(key)
        if name in (skip, *DIMS) or name.rstrip("_") in DIMS or var.dims != (dim,):
            continue
        values = var.values
        if values.dtype.kind == "S":
            values = values.astype(str)
        out[name] = values
    return out


def _time_window(dataset: xr.Dataset, n_bins: int, path: Path) -> tuple[float, float]:
    if n_bins != 1:
        raise AssemblyError(f"{path} has {n_bins} time bins; this reader expects the single 70-170 ms bin.")
    try:
        return float(dataset["time_bin_start"].values[0]), float(dataset["time_bin_end"].values[0])
    except KeyError:
        return float("nan"), float("nan")


def convert_brainio(
    nc_path: str | Path, table: pd.DataFrame, id_column: str, *, identifier: str = IDENTIFIER
) -> xr.DataArray:
    """Convert a brainio assembly file plus its stimulus table into a trial NeuralAssembly.

    Args:
        nc_path: brainio netCDF with one variable over ``presentation x neuroid x time_bin``.
        table: the stimulus CSV (one row per image), as from :func:`read_stimulus_csv`.
        id_column: the table's id column (``stimulus_id`` or ``image_id``).

    Returns:
        ``(repetition, stimulus, neuroid)`` float64 assembly. Stimuli are the CSV rows
        that were recorded, in CSV order; every CSV column becomes a stimulus coordinate
        (``filename`` as ``image_file``). Presentation variables that are constant per
        image are kept as stimulus coordinates; where the CSV has the same column, its
        value is kept, and ``object_name``, ``category_name`` and ``variation`` must agree
        with it. ``repetition`` orders the trials of each image (NaN pads images with
        fewer trials). Every neuroid variable is kept.

    Raises:
        AssemblyError: a presentation whose id has no CSV row, metadata that contradicts
            the CSV, or a file that is not in brainio layout.
    """
    nc_path = Path(nc_path)
    with xr.open_dataset(nc_path, engine="netcdf4") as dataset:
        data = _main_variable(dataset, nc_path)
        if "time_bin" not in data.dims:
            data = data.expand_dims("time_bin")
        window = _time_window(dataset, data.sizes["time_bin"], nc_path)
        # (presentation, neuroid); brainio stores (neuroid, presentation, time_bin)
        values = np.asarray(data.transpose(*DIMS).values[..., 0], dtype=np.float64)
        presentation = _variables_along(dataset, "presentation", str(data.name))
        neuroid = _variables_along(dataset, "neuroid", str(data.name))

    pres_id = next((c for c in ID_COLUMNS if c in presentation), None)
    if pres_id is None:
        raise AssemblyError(f"{nc_path} has no stimulus_id or image_id along presentation.")
    ids = presentation.pop(pres_id).astype(str)

    # stimuli: the CSV rows that were recorded, in CSV order
    known = pd.Index(table[id_column])
    unknown = ~pd.Index(ids).isin(known)
    if unknown.any():
        raise AssemblyError(
            f"{nc_path}: {int(unknown.sum())} presentations show images that the stimulus CSV "
            f"lacks (e.g. {ids[unknown][0]!r}); the assembly and stimulus set do not belong "
            "together."
        )
    rows = table[known.isin(np.unique(ids))].reset_index(drop=True)
    stimulus_index = pd.Index(rows[id_column]).get_indexer(ids)  # (presentation,)

    # repetitions: trials of each image ordered by `repetition`, then file order
    rep_key = presentation.pop("repetition", np.zeros(len(ids)))
    order = np.lexsort((np.arange(len(ids)), rep_key, stimulus_index))
    sorted_stim = stimulus_index[order]
    group_start = np.searchsorted(sorted_stim, sorted_stim, side="left")
    trial = np.arange(len(order)) - group_start
    n_reps = int(trial.max()) + 1
    trials = np.full((n_reps, len(rows), values.shape[1]), np.nan)
    trials[trial, sorted_stim] = values[order]

    stimulus_coords = {
        ("image_file" if c == "filename" else c): rows[c].to_numpy() for c in rows.columns if c != id_column
    }
    dropped = []
    for name, column in presentation.items():
        per_stimulus, constant = _per_stimulus(column, stimulus_index, len(rows))
        if not constant:
            dropped.append(name)
            continue
        if name in stimulus_coords:
            if name not in CHECKED_COLUMNS:
                continue  # other shared columns: the CSV's value is kept
            _check_agrees(name, per_stimulus, stimulus_coords[name], rows[id_column].to_numpy(), nc_path)
        else:
            stimulus_coords[name] = per_stimulus

    neuroid_ids = neuroid.pop("neuroid_id", None)
    if neuroid_ids is None:
        neuroid_ids = np.asarray([f"n{k:03d}" for k in range(values.shape[1])])
    return make_assembly(
        trials,
        stimulus_ids=rows[id_column].to_numpy(),
        neuroid_ids=neuroid_ids,
        identifier=identifier,
        species="macaque",
        units="firing rate in the response window, as packaged by Brain-Score (brainio)",
        response_window_ms=window,
        citation=CITATION,
        stimulus_coords=stimulus_coords,
        neuroid_coords=neuroid,
        attrs={
            "source": f"{BASE_URL}/{nc_path.name}",
            "stimulus_id_column": id_column,
            "visual_degrees": VISUAL_DEGREES,
            "n_presentations": len(ids),
            "dropped_presentation_coords": ",".join(dropped),
        },
    )


def _per_stimulus(column: np.ndarray, stimulus_index: np.ndarray, n: int) -> tuple[np.ndarray, bool]:
    """A presentation variable's value per stimulus, and whether it is constant per stimulus."""
    first = np.full(n, -1)
    first[stimulus_index[::-1]] = np.arange(len(stimulus_index))[::-1]
    per_stimulus = column[first]
    same = per_stimulus[stimulus_index] == column
    if column.dtype.kind == "f":
        same |= np.isnan(per_stimulus[stimulus_index]) & np.isnan(column)
    return per_stimulus, bool(np.all(same))


def _check_agrees(name: str, from_nc: np.ndarray, from_csv: np.ndarray, ids: np.ndarray, path: Path) -> None:
    left = pd.Series(from_nc).astype(str).to_numpy()
    right = pd.Series(from_csv).astype(str).to_numpy()
    if from_nc.dtype.kind in "iuf" and np.asarray(from_csv).dtype.kind in "iuf":
        bad = ~np.isclose(from_nc.astype(float), np.asarray(from_csv, dtype=float), equal_nan=True)
    else:
        bad = left != right
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise AssemblyError(
            f"{path}: {name!r} of image {ids[k]!r} is {left[k]!r} in the assembly but "
            f"{right[k]!r} in the stimulus CSV; the files are misaligned or from different "
            "releases."
        )


# ---------------------------------------------------------------------- plugin
class MajajHong2015(AssemblySource):
    """Trial-level assembly ``(repetition, stimulus=3200, neuroid=256)`` of the public HvM set.

    Args:
        region: ``"V4"``, ``"IT"`` or ``None`` (both). Benchmarks select a region with their
            ``selection``; this parameter serves direct use of the plugin.
    """

    def __init__(self, region: str | None = None) -> None:
        if region not in (None, "V4", "IT"):
            raise AssemblyError(f"Majaj-Hong 2015 has regions V4 and IT, not {region!r}.")
        self.region = region
        self.identifier = IDENTIFIER if region is None else f"{IDENTIFIER}-{region}"

    def remote_files(self) -> list[RemoteFile]:
        return [remote(ASSEMBLY_FILE), remote(CSV_FILE), remote(ZIP_FILE)]

    def load(self, progress: bool = True) -> LoadedAssembly:
        nc, csv, archive = (remote(name) for name in (ASSEMBLY_FILE, CSV_FILE, ZIP_FILE))
        table, id_column = read_stimulus_csv(fetch(csv, progress))
        folder = home() / "extracted" / DATASET / f"stimulus_hvm-public_{SHA1[ZIP_FILE][:12]}"
        folder = extract_zip(fetch(archive, progress), folder)
        key = build_key(assembly=nc.known_hash, csv=csv.known_hash, reader=READER_VERSION)
        assembly = cached_build(IDENTIFIER, key, lambda: convert_brainio(fetch(nc, progress), table, id_column))
        if self.region is not None:
            keep = np.flatnonzero(assembly["region"].values == self.region)
            assembly = assembly.isel(neuroid=keep)
        files = [folder / name for name in assembly["image_file"].values]
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise AssemblyError(
                f"{archive.path} lacks {len(missing)} images named in {csv.path}, e.g. "
                f"{missing[0].name}; delete {folder} and the cached zip, then load again."
            )
        stimuli = StimulusSet.from_files(files, ids=list(assembly["stimulus_id"].values), identifier="hvm-public")
        return LoadedAssembly(assembly, stimuli)


def load(region: str | None = None) -> MajajHong2015:
    """Assembly plugin factory (named in ``registry.toml``)."""
    return MajajHong2015(region)
