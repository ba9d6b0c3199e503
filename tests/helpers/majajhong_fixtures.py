"""A miniature Majaj-Hong 2015 release in the real brainio layout, generated in a tmp dir.

Mirrors what Brain-Score stores (see ``brainbench/assemblies/majajhong2015.py``): a netCDF
whose one data variable is named ``dicarlo.MajajHong2015.public`` with dims ``(neuroid,
presentation, time_bin)`` in that order, the former MultiIndex levels as plain variables
(``image_id``, ``repetition``, ``object_name`` ... along presentation; ``neuroid_id``,
``region``, ``animal``, ``arr``, ``row``, ``col`` ... along neuroid; ``time_bin_start`` and
``time_bin_end``), written with zlib like brainio's ``write_netcdf``; a stimulus CSV keyed
by ``image_id`` with a ``filename`` column; and a flat zip of PNGs.

Planted values are exact in float32: ``value(rep, stim, neuroid) = 16 * s + n + rep / 4``
where ``s`` is the image's CSV row and ``n`` the neuroid's position.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from PIL import Image

from brainbench.assemblies import majajhong2015 as mh

OBJECTS = {"bear": "Animals", "car": "Cars", "chair": "Chairs"}
NEUROIDS = [  # (neuroid_id, region, animal, arr, row, col)
    ("Chabo_L_M_5_9", "IT", "Chabo", "M", 5, 9),
    ("Chabo_L_A_1_2", "V4", "Chabo", "A", 1, 2),
    ("Tito_L_P_8_0", "IT", "Tito", "P", 8, 0),
    ("Tito_R_M_3_3", "V4", "Tito", "M", 3, 3),
    ("Tito_L_M_8_0", "IT", "Tito", "M", 8, 0),
]


@dataclass
class Miniature:
    """Paths and ground truth of a generated miniature release.

    Attributes:
        mirror: a ``BRAINBENCH_MIRROR`` root holding ``brainio-brainscore/<file>``.
        table: the CSV as written (row order = expected stimulus order).
        n_reps: ``(stimulus,)`` number of trials per image (CSV order).
        sha1: file name -> sha1 of the generated files.
    """

    mirror: Path
    table: pd.DataFrame
    n_reps: np.ndarray
    sha1: dict[str, str]

    def path(self, name: str) -> Path:
        return self.mirror / mh.DATASET / name


def planted(rep: int, stim: int, neuroid: int) -> float:
    return 16.0 * stim + neuroid + rep / 4.0


def sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _png(seed: int, size: int) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def make_miniature(
    root: Path, images_per_object_variation: int = 5, image_size: int = 24, seed: int = 0, evil_zip: bool = False
) -> Miniature:
    """Write the three brainio files under ``root/mirror/brainio-brainscore``.

    ``3 objects x 2 variations (0 and 3) x images_per_object_variation`` images; 2 or 3
    trials per image (so NaN padding is exercised), presentations shuffled so that trials
    of one image are interleaved with others as in a real session. ``evil_zip`` adds a
    member whose path escapes the extraction folder.
    """
    rng = np.random.default_rng(seed)
    folder = root / "mirror" / mh.DATASET
    folder.mkdir(parents=True, exist_ok=True)

    rows = []
    for obj, category in OBJECTS.items():
        for variation in (0, 3):
            for k in range(images_per_object_variation):
                image_id = hashlib.sha1(f"{obj}-{variation}-{k}".encode()).hexdigest()
                rows.append(
                    {
                        "image_id": image_id,
                        "object_name": obj,
                        "category_name": category,
                        "variation": variation,
                        "s": round(0.5 + 0.1 * k, 2),
                        "filename": f"{image_id}.png",
                    }
                )
    table = pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    table.to_csv(folder / mh.CSV_FILE, index=False)

    with zipfile.ZipFile(folder / mh.ZIP_FILE, "w") as archive:
        for k, name in enumerate(table["filename"]):
            archive.writestr(name, _png(seed + k, image_size))
        if evil_zip:
            archive.writestr("../escaped.png", _png(seed, image_size))

    n_stim = len(table)
    n_reps = rng.integers(2, 4, n_stim)
    stim = np.repeat(np.arange(n_stim), n_reps)
    rep = np.concatenate([np.arange(r) for r in n_reps])
    shuffle = rng.permutation(len(stim))
    stim, rep = stim[shuffle], rep[shuffle]
    n_neuroids = len(NEUROIDS)
    # (neuroid, presentation, time_bin), the order of the real file
    values = planted(rep[None, :], stim[None, :], np.arange(n_neuroids)[:, None])
    values = values.astype(np.float32)[:, :, None]
    columns = list(zip(*NEUROIDS, strict=True))
    data = xr.DataArray(
        values,
        dims=("neuroid", "presentation", "time_bin"),
        coords={
            "neuroid_id": ("neuroid", list(columns[0])),
            "region": ("neuroid", list(columns[1])),
            "animal": ("neuroid", list(columns[2])),
            "arr": ("neuroid", list(columns[3])),
            "row": ("neuroid", np.asarray(columns[4])),
            "col": ("neuroid", np.asarray(columns[5])),
            "hemisphere": ("neuroid", [n.split("_")[1] for n in columns[0]]),
            "image_id": ("presentation", table["image_id"].to_numpy()[stim]),
            "repetition": ("presentation", rep),
            "object_name": ("presentation", table["object_name"].to_numpy()[stim]),
            "category_name": ("presentation", table["category_name"].to_numpy()[stim]),
            "variation": ("presentation", table["variation"].to_numpy()[stim]),
            # per image but not in the CSV: must become a stimulus coordinate
            "background_id": ("presentation", np.asarray([f"bg{s % 4}" for s in stim])),
            # varies between trials of one image: cannot be a stimulus coordinate
            "session": ("presentation", rng.integers(0, 3, len(stim))),
            "time_bin_start": ("time_bin", [70]),
            "time_bin_end": ("time_bin", [170]),
        },
        name="dicarlo.MajajHong2015.public",
    )
    dataset = data.to_dataset()
    dataset.to_netcdf(
        folder / mh.ASSEMBLY_FILE,
        engine="netcdf4",
        encoding={v: {"zlib": True, "complevel": 1} for v in dataset.data_vars},
    )
    hashes = {name: sha1(folder / name) for name in (mh.ASSEMBLY_FILE, mh.CSV_FILE, mh.ZIP_FILE)}
    return Miniature(mirror=root / "mirror", table=table, n_reps=n_reps, sha1=hashes)
