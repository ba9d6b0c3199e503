"""Macaque V4 recordings of Cowley, Stan, Pillow & Smith (2023).

Cowley, B. R., Stan, P. L., Pillow, J. W., & Smith, M. A. (2023). Compact deep neural
network models of visual cortex. bioRxiv 2023.11.22.568315.
Data: public repository ``cowleygroup/V4_compact_models`` (GPL-3.0), folder
``data_V4_responses/``, pinned at commit ``f4552ad9d34a466ebc66658f72a08a8e5038f1cf``.

Every session (Utah arrays in V4 of monkeys WE, PE and RA) has its own images,
``images/images_<session>.zip`` (``image0001.jpg`` ..., 112 x 112 RGB; image k is
column k-1 of the responses), trial-level spike counts in a 100 ms window,
``responses_raw/responses_<session>.npy`` ``(neurons, images, repeats)`` NaN-padded to
the largest repeat count, and their NaN-mean over repeats,
``responses_repeat_averaged/responses_<session>.npy`` ``(neurons, images)``.

Two plugin factories:

* :func:`load` (``cowley2023-<session>``): the sessions declared in :data:`SESSIONS` with
  sha256 pins: 210325 (monkey PE, 640 images from Bashivan, Kar & DiCarlo 2019, 50
  neurons, 6 to 10 repeats) trial-level, and seven more repeat-averaged.
* :func:`pinned` (``cowley2023-pinned``): any of the 45 sessions with images, pinned by the
  package's pin list :data:`PIN_LIST` (git object id of every file at the commit above,
  sha256 where it is known; see :mod:`brainbench.assemblies.cowley2023_pins`); without a
  session, the source of all of them, which lists its sessions (``part_values``) and
  every file they need.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, TypedDict

import numpy as np

from brainbench.assemblies.base import AssemblySource, LoadedAssembly, build_key, cached_build
from brainbench.data.assembly import AssemblyError, make_assembly
from brainbench.data.fetch import RemoteFile, extract_zip, fetch, home, load_npy
from brainbench.data.stimuli import StimulusSet

if TYPE_CHECKING:
    from pathlib import Path

    import xarray as xr

# The upstream commit, its URL and the cache folder's name live with the pin list, which needs them too.
from brainbench.assemblies.cowley2023_pins import BASE_URL, COMMIT, DATASET, Pins, read_pins

CITATION = (
    "Cowley, B. R., Stan, P. L., Pillow, J. W., & Smith, M. A. (2023). Compact deep neural "
    "network models of visual cortex. bioRxiv 2023.11.22.568315."
)
READER_VERSION = 1
IMAGE_NAME = re.compile(r"^image(\d{4})\.jpg$")


class _Session(TypedDict):
    images: tuple[str, str, int]  # (path, sha256, size in bytes)
    responses: tuple[str, str, int]
    subject: str


def _averaged(session: str, subject: str, images: tuple[str, int], responses: tuple[str, int]) -> _Session:
    return {
        "images": (f"images/images_{session}.zip", *images),
        "responses": (f"responses_repeat_averaged/responses_{session}.npy", *responses),
        "subject": subject,
    }


#: Sessions pinned by sha256: 210325 trial-level, the others repeat-averaged (their
#: trial-level files are declared by :func:`pinned`).
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
    "190925": _averaged(
        "190925",
        "WE",
        ("765b4d4372302d4ed72c3382d41ece5ca55d7dcc3d84da7402091253529b87d1", 3967665),
        ("2f94d7bcef0f68fecdb7472f509737fafac92477cf6b11a4966162b1b1072529", 345728),
    ),
    "190927": _averaged(
        "190927",
        "WE",
        ("d2469cc2caa629d4ed38e8d4964fb1de8c0b29e9937c25ce1c5838bc4e382653", 4080631),
        ("4c3c75ec72bc4bd3f0e22987a7b2e7e962af249d6577e8a6d727ea9075bde034", 297728),
    ),
    "190928": _averaged(
        "190928",
        "WE",
        ("6d90fdf2341e038beb57c16ce85f48c3a2bdfd450bc1c6440489529aead0f161", 4186920),
        ("41707e2d31ace45da6d181ad28a91c299971d42430c91cc738602523e7d7eda6", 230528),
    ),
    "190929": _averaged(
        "190929",
        "WE",
        ("7fea6a28c092acfa646145813f532b2ea1d5a22a0b1bdade47d392b8f6bfb3f0", 3987552),
        ("18639c9e2b2baed54c4fb22e311d84dafbd986a12069370b1004880a721d2c4a", 316928),
    ),
    "210305": _averaged(
        "210305",
        "PE",
        ("9fab651e9c2d0b44091c2ea238c78d68fedf573cd7d4ae6b0545c5d84c121776", 1492118),
        ("00dce8d39558bfc3f5dd55c6f678c05de1b63895d56193379fd7dfe41fc703f0", 224128),
    ),
    "210322": _averaged(
        "210322",
        "PE",
        ("a72f357c73381fc6e496403820b38abe38c78b92f6d1c0b7153d6fe6d3986c32", 3785781),
        ("1d643594633c7ad6d5281147bf1742275135507c8b283550e00e7028c65a5373", 566528),
    ),
    "210621": _averaged(
        "210621",
        "RA",
        ("aff4d1639a04fb0d964ee09f8e76b07707e8435283c8e0ea47b0fd398ffcc233", 4109414),
        ("28e57e8eefe774b455087a62f039931b9547b2300908a0af85eee5baa49aa1ba", 489728),
    ),
}


def _remote(path: str, sha256: str, size: int) -> RemoteFile:
    return RemoteFile(DATASET, path, f"{BASE_URL}/{path}", f"sha256:{sha256}", size)


class Cowley2023(AssemblySource):
    """One session: trial-level ``(repetition, stimulus, neuroid)`` or averaged ``(stimulus, neuroid)``.

    Args:
        session: the session id, e.g. ``"210325"``.
        subject: the animal (``WE``, ``PE`` or ``RA``).
        images: the session's images zip.
        responses: its ``responses_raw`` (trial-level, 3-d) or ``responses_repeat_averaged``
            (2-d) file.
        identifier: the assembly's identifier (cache file names, the stimulus set's name).
    """

    def __init__(self, session: str, subject: str, images: RemoteFile, responses: RemoteFile, identifier: str) -> None:
        self.session = session
        self.subject = subject
        self.identifier = identifier
        self._images = images
        self._responses = responses

    def remote_files(self) -> list[RemoteFile]:
        return [self._images, self._responses]

    def load(self, progress: bool = True) -> LoadedAssembly:
        archive = fetch(self._images, progress)
        pin = (self._images.known_hash or "").partition(":")[2] or self._images.git_sha1 or ""
        folder = extract_zip(archive, home() / "extracted" / DATASET / f"images_{self.session}_{pin[:12]}")
        members = _image_members(folder)
        stimuli = StimulusSet.from_files([folder / m for m in members], identifier=self.identifier)
        key = build_key(
            responses=self._responses.known_hash or f"git:{self._responses.git_sha1}",
            images=self._images.known_hash or f"git:{self._images.git_sha1}",
            reader=READER_VERSION,
        )
        assembly = cached_build(self.identifier, key, lambda: self._build(stimuli.ids, members, progress))
        return LoadedAssembly(assembly, stimuli)

    def _build(self, stimulus_ids: list[str], members: list[str], progress: bool) -> xr.DataArray:
        raw = load_npy(fetch(self._responses, progress))
        if raw.ndim not in (2, 3) or raw.shape[1] != len(stimulus_ids):
            raise AssemblyError(
                f"Cowley 2023 responses {self._responses.path} have shape {raw.shape}; expected "
                f"(neurons, {len(stimulus_ids)}, repeats) or (neurons, {len(stimulus_ids)}), one column per image."
            )
        if raw.ndim == 3:
            values = np.transpose(raw, (2, 1, 0)).astype(np.float64)  # (repetition, stimulus, neuroid)
            units = "spike count per 100 ms"
        else:
            values = np.transpose(raw).astype(np.float64)  # (stimulus, neuroid)
            units = "spike count per 100 ms, averaged over repeats"
        n_neurons = values.shape[-1]
        return make_assembly(
            values,
            stimulus_ids=stimulus_ids,
            neuroid_ids=[f"{self.session}-n{k:02d}" for k in range(n_neurons)],
            identifier=self.identifier,
            species="macaque",
            units=units,
            response_window_ms=(0.0, 100.0),
            citation=CITATION,
            neuroid_coords={
                "region": np.full(n_neurons, "V4", dtype=object),
                "subject": np.full(n_neurons, self.subject, dtype=object),
                "session": np.full(n_neurons, self.session, dtype=object),
                "channel": np.arange(n_neurons),
            },
            stimulus_coords={"image_file": members},
            attrs={"license": "GPL-3.0", "source_commit": COMMIT},
        )


def _image_members(folder: Path) -> list[str]:
    """``image0001.jpg`` .. ``imageNNNN.jpg`` of an extracted session, checked to be complete.

    Image k is column k-1 of the responses, so a gap in the numbering would shift every
    later image against its responses.
    """
    numbers = sorted(int(m.group(1)) for p in folder.iterdir() if (m := IMAGE_NAME.match(p.name)))
    if not numbers or numbers != list(range(1, len(numbers) + 1)):
        first_gap = next((k for k, n in enumerate(numbers, start=1) if n != k), len(numbers) + 1)
        raise AssemblyError(
            f"{folder} must hold image0001.jpg to imageNNNN.jpg without gaps, but image{first_gap:04d}.jpg is "
            "missing; delete the folder and fetch the session again."
        )
    return [f"image{k:04d}.jpg" for k in numbers]


def load(session: str = "210325") -> Cowley2023:
    """Assembly plugin factory for a session of :data:`SESSIONS` (named in ``registry.toml``)."""
    if session not in SESSIONS:
        raise AssemblyError(
            f"unknown Cowley 2023 session {session!r}; known: {', '.join(sorted(SESSIONS))} "
            "(every upstream session: the assembly cowley2023-pinned)."
        )
    spec = SESSIONS[session]
    return Cowley2023(
        session, spec["subject"], _remote(*spec["images"]), _remote(*spec["responses"]), f"cowley2023-{session}"
    )


class Cowley2023Pinned(AssemblySource):
    """Every session of the pin list that has images; parts of a composite benchmark, one per session.

    ``load`` needs a session: a composite benchmark scores each session as its own part
    (``part_values`` lists them), never all at once.
    """

    def __init__(self, pins: Pins, responses: str) -> None:
        self.pins = pins
        self.responses = responses
        self.identifier = "cowley2023-pinned"

    def part_values(self) -> list[str]:
        """The sessions, in the pin list's order."""
        return self.pins.sessions(self.responses)

    def remote_files(self) -> list[RemoteFile]:
        return [f for s in self.part_values() for f in self.pins.files(s, self.responses)]

    def load(self, progress: bool = True) -> LoadedAssembly:
        raise AssemblyError(
            "cowley2023-pinned holds one assembly per session; score it through a composite benchmark "
            "(e.g. cowley2023-V4-full) or name a session."
        )


def pinned(session: str | None = None, responses: str = "raw", pins: str | None = None) -> AssemblySource:
    """Assembly plugin factory over the pin list (named in ``registry.toml``).

    Args:
        session: a session id; None gives the source of every session with images.
        responses: ``raw`` (trial-level: ceilings) or ``averaged``.
        pins: path of a pin list in the layout of :data:`PIN_LIST` (default: the package's).
    """
    table = read_pins(pins)
    if session is None:
        return Cowley2023Pinned(table, responses)
    images, response_file = table.files(str(session), responses)
    return Cowley2023(str(session), table.animal(str(session)), images, response_file, f"cowley2023-pinned-{session}")
