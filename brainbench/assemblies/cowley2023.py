"""Macaque V4 recordings of Cowley, Stan, Pillow & Smith (2023).

Cowley, B. R., Stan, P. L., Pillow, J. W., & Smith, M. A. (2023). Compact deep neural
network models of visual cortex. bioRxiv 2023.11.22.568315.
Data: public repository ``cowleygroup/V4_compact_models`` (GPL-3.0), folder
``data_V4_responses/``, pinned at commit ``f4552ad9d34a466ebc66658f72a08a8e5038f1cf``.

Session 210325 (monkey PE, Utah array in V4): 640 natural images (112x112 RGB, from
Bashivan, Kar & DiCarlo 2019), 50 neurons, spike counts in a 100 ms window, 6 to 10
repeats per image (NaN-padded to 10).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

import numpy as np

from brainbench.assemblies.base import AssemblySource, LoadedAssembly, cached_build, content_key
from brainbench.data.assembly import AssemblyError, make_assembly
from brainbench.data.fetch import RemoteFile, extract_zip, fetch, home, load_npy
from brainbench.data.stimuli import StimulusSet

if TYPE_CHECKING:
    import xarray as xr

COMMIT = "f4552ad9d34a466ebc66658f72a08a8e5038f1cf"
BASE_URL = f"https://raw.githubusercontent.com/cowleygroup/V4_compact_models/{COMMIT}/data_V4_responses"
DATASET = "cowley2023"
CITATION = (
    "Cowley, B. R., Stan, P. L., Pillow, J. W., & Smith, M. A. (2023). Compact deep neural "
    "network models of visual cortex. bioRxiv 2023.11.22.568315."
)
READER_VERSION = 1


class _Session(TypedDict):
    images: tuple[str, str, int]  # (path, sha256, size in bytes)
    responses: tuple[str, str, int]
    subject: str


SESSIONS: dict[str, _Session] = {
    "210325": {
        "images": (
            "images/images_210325.zip",
            "992774eca3508a2ad01accb1a31f5f3e3d90248c49f4eec314f2a915a263e454",
            1841475,
        ),
        "responses": (
            "responses_raw/responses_210325.npy",
            "4008dbbf31a47d9b1b8d8da609f4a7a3433c7071f0e45c611c220b217dd75b76",
            2560128,
        ),
        "subject": "PE",
    },
}


def _remote(path: str, sha256: str, size: int) -> RemoteFile:
    return RemoteFile(DATASET, path, f"{BASE_URL}/{path}", f"sha256:{sha256}", size)


class Cowley2023(AssemblySource):
    """Trial-level assembly ``(repetition=10, stimulus=640, neuroid=50)`` of one session."""

    def __init__(self, session: str = "210325") -> None:
        if session not in SESSIONS:
            raise AssemblyError(f"unknown Cowley 2023 session {session!r}; known: {sorted(SESSIONS)}.")
        self.session = session
        self.identifier = f"cowley2023-{session}"
        spec = SESSIONS[session]
        self._images = _remote(*spec["images"])
        self._responses = _remote(*spec["responses"])

    def remote_files(self) -> list[RemoteFile]:
        return [self._images, self._responses]

    def load(self, progress: bool = True) -> LoadedAssembly:
        archive = fetch(self._images, progress)
        digest = SESSIONS[self.session]["images"][1][:12]  # the archive's sha256
        folder = extract_zip(archive, home() / "extracted" / DATASET / f"images_{self.session}_{digest}")
        members = [f"image{k:04d}.jpg" for k in range(1, 641)]
        missing = [m for m in members if not (folder / m).is_file()]
        if missing:
            raise AssemblyError(f"{archive} lacks {len(missing)} images, e.g. {missing[0]}.")
        stimuli = StimulusSet.from_files([folder / m for m in members], identifier=self.identifier)

        key = content_key(responses=self._responses.known_hash, images=self._images.known_hash, reader=READER_VERSION)
        assembly = cached_build(self.identifier, key, lambda: self._build(stimuli.ids, progress))
        return LoadedAssembly(assembly, stimuli)

    def _build(self, stimulus_ids: list[str], progress: bool) -> xr.DataArray:
        raw = load_npy(fetch(self._responses, progress))
        if raw.ndim != 3 or raw.shape[1] != len(stimulus_ids):
            raise AssemblyError(
                f"Cowley 2023 responses have shape {raw.shape}; expected (neurons, {len(stimulus_ids)}, repeats)."
            )
        values = np.transpose(raw, (2, 1, 0)).astype(np.float64)  # (repetition, stimulus, neuroid)
        n_neurons = values.shape[2]
        return make_assembly(
            values,
            stimulus_ids=stimulus_ids,
            neuroid_ids=[f"{self.session}-n{k:02d}" for k in range(n_neurons)],
            identifier=self.identifier,
            species="macaque",
            units="spike count per 100 ms",
            response_window_ms=(0.0, 100.0),
            citation=CITATION,
            neuroid_coords={
                "region": np.full(n_neurons, "V4", dtype=object),
                "subject": np.full(n_neurons, SESSIONS[self.session]["subject"], dtype=object),
                "session": np.full(n_neurons, self.session, dtype=object),
                "channel": np.arange(n_neurons),
            },
            stimulus_coords={"image_file": [f"image{k:04d}.jpg" for k in range(1, 641)]},
            attrs={"license": "GPL-3.0", "source_commit": COMMIT},
        )


def load(session: str = "210325") -> Cowley2023:
    """Assembly plugin factory (named in ``registry.toml``)."""
    return Cowley2023(session)
