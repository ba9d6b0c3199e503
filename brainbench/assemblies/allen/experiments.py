"""The pinned session-B experiments of every Allen benchmark, and where their NWB files live.

``experiments.csv`` (beside this module, metadata only) lists every ``three_session_B``
experiment of the Visual Coding 2-photon dataset whose container passed Allen's QC:
``experiment_id, container_id, area, imaging_depth, cre_line, nwb_size, nwb_sha256``.
Source: the container metadata and the Git LFS pointers (size and sha256 of each NWB
file as downloaded through allensdk) in the public repository ``rsagroup/rsatoolbox``,
commit ``b1d3bf15``, folder ``demos/brain_observatory/``.

Variants:
    ``pinned`` (default): the area's experiments with a known sha256 (11 to 16 per area).
    ``full``: every non-failed experiment of the area; files without a known hash get
        their sha256 recorded at first download and checked afterwards.
The file is part of the package, so a benchmark's list never changes under its users.

Download route (AllenSDK ``BrainObservatoryApi.save_ophys_experiment_data``, commit
``1bdca3ad``): an RMA query for the ``WellKnownFile`` attached to the experiment with
type ``NWBOphys`` returns a ``download_link`` (``/api/v2/well_known_file_download/<id>``,
an id that differs from the experiment id) relative to ``http://api.brain-map.org``.
If that query fails, the same file is on Allen's public S3 bucket
(``allen-brain-observatory/visual-coding-2p/ophys_experiment_data/<experiment_id>.nwb``).
Either way the sha256 is checked.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from brainbench.errors import DataError

API = "http://api.brain-map.org"
NWB_FILE_TYPE = "NWBOphys"
S3_URL = "https://allen-brain-observatory.s3.amazonaws.com/visual-coding-2p/ophys_experiment_data/{id}.nwb"
AREAS = ("VISp", "VISl", "VISal", "VISam", "VISpm", "VISrl")
VARIANTS = ("pinned", "full")
CSV_PATH = Path(__file__).with_name("experiments.csv")


@dataclass(frozen=True)
class Experiment:
    """One pinned experiment (metadata only)."""

    experiment_id: int
    container_id: int
    area: str
    imaging_depth: int
    cre_line: str
    size: int | None
    sha256: str | None


@lru_cache(maxsize=1)
def all_experiments() -> tuple[Experiment, ...]:
    """Every non-failed session-B experiment, sorted by area then id."""
    with CSV_PATH.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return tuple(
        Experiment(
            int(r["experiment_id"]),
            int(r["container_id"]),
            r["area"],
            int(r["imaging_depth"]),
            r["cre_line"],
            int(r["nwb_size"]) if r["nwb_size"] else None,
            r["nwb_sha256"] or None,
        )
        for r in rows
    )


def pinned(area: str, variant: str = "pinned") -> tuple[Experiment, ...]:
    """One benchmark's experiments (``area`` in :data:`AREAS`, ``variant`` in :data:`VARIANTS`)."""
    if area not in AREAS:
        raise DataError(f"unknown Allen area {area!r}; known: {', '.join(AREAS)}.")
    if variant not in VARIANTS:
        raise DataError(f"unknown Allen variant {variant!r}; known: {', '.join(VARIANTS)}.")
    chosen = [e for e in all_experiments() if e.area == area and (variant == "full" or e.sha256)]
    return tuple(chosen)


def rma_query_url(experiment_id: int) -> str:
    """The RMA query for the experiment's NWB ``WellKnownFile`` (it has a ``download_link``)."""
    return (
        f"{API}/api/v2/data/query.json?q=model::WellKnownFile,rma::criteria,"
        f"[attachable_id$eq{int(experiment_id)}],well_known_file_type[name$eq{NWB_FILE_TYPE}],"
        "rma::options[num_rows$eqall][count$eqfalse]"
    )


def parse_rma_response(text: str, experiment_id: int) -> str:
    """The absolute download URL from an RMA JSON answer (``{"success", "msg": [...]}``)."""
    try:
        answer = json.loads(text)
        link = answer["msg"][0]["download_link"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise DataError(f"the Allen API did not list an NWB file for experiment {experiment_id}.") from None
    return API + link if link.startswith("/") else link


def resolve_download_url(experiment_id: int, timeout: float = 30.0) -> str:
    """Ask the Allen API where the experiment's NWB file is; fall back to the S3 bucket."""
    from urllib.error import URLError
    from urllib.request import urlopen

    try:
        with urlopen(rma_query_url(experiment_id), timeout=timeout) as reply:  # noqa: S310 - fixed host
            return parse_rma_response(reply.read().decode("utf-8"), experiment_id)
    except (URLError, OSError, DataError):
        return S3_URL.format(id=int(experiment_id))


def download_gb(area: str, variant: str = "pinned") -> float:
    """Declared download size in GB (only files with a known size count)."""
    return sum(e.size or 0 for e in pinned(area, variant)) / 1e9
