"""The pin list of the Cowley et al. (2023) V4 data: every file a full download needs, by hash.

``cowley2023_files.tsv`` (shipped in the package; facts, not data) has one row per file
of each session that has images, 45 sessions in all: ``session``, ``animal`` (from
upstream's ``readme.txt``), ``kind`` (``images``, ``raw`` or ``averaged``), ``path``
(relative to upstream's ``data_V4_responses/``), ``git_blob_sha1`` (the git object id at
the pinned commit: every download is checked against it), ``bytes`` and ``sha256``
(empty where they were never recorded).

Regenerate it from the upstream listing (``path``, ``git_blob_sha1``, ``bytes``,
``sha256`` per file) and upstream's ``readme.txt`` (its data table gives the animals)::

    python -m brainbench.assemblies.cowley2023_pins UPSTREAM_FILES.tsv readme.txt > \\
        brainbench/assemblies/cowley2023_files.tsv
"""

from __future__ import annotations

import csv
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from brainbench.data.assembly import AssemblyError
from brainbench.data.fetch import RemoteFile

#: The upstream commit every pin refers to, and the URL of its response folder.
COMMIT = "f4552ad9d34a466ebc66658f72a08a8e5038f1cf"
BASE_URL = f"https://raw.githubusercontent.com/cowleygroup/V4_compact_models/{COMMIT}/data_V4_responses"
#: The cache folder (and :class:`RemoteFile` dataset name) of the Cowley et al. (2023) files.
DATASET = "cowley2023"
#: The package's pin list.
PIN_LIST = Path(__file__).with_name("cowley2023_files.tsv")
COLUMNS = ("session", "animal", "kind", "path", "git_blob_sha1", "bytes", "sha256")
#: Which response file each ``responses`` choice reads.
RESPONSE_KINDS = {"raw": "raw", "averaged": "averaged"}


@dataclass(frozen=True)
class Pin:
    """One pinned file (a row of the pin list)."""

    session: str
    animal: str
    kind: str
    path: str
    git_blob_sha1: str
    bytes: int | None
    sha256: str | None

    def remote(self) -> RemoteFile:
        return RemoteFile(
            DATASET,
            self.path,
            f"{BASE_URL}/{self.path}",
            f"sha256:{self.sha256}" if self.sha256 else None,
            self.bytes,
            git_sha1=self.git_blob_sha1,
        )


@dataclass(frozen=True)
class Pins:
    """A parsed pin list: ``rows[(session, kind)]``."""

    source: str
    rows: dict[tuple[str, str], Pin]

    def sessions(self, responses: str = "raw") -> list[str]:
        """Sessions that have an images zip and the chosen response file, in the list's order."""
        kind = _kind(responses)
        ordered = dict.fromkeys(s for s, _ in self.rows)
        return [s for s in ordered if (s, "images") in self.rows and (s, kind) in self.rows]

    def animal(self, session: str) -> str:
        return self._row(session, "images").animal

    def files(self, session: str, responses: str = "raw") -> tuple[RemoteFile, RemoteFile]:
        """``(images zip, response file)`` of a session."""
        return self._row(session, "images").remote(), self._row(session, _kind(responses)).remote()

    def _row(self, session: str, kind: str) -> Pin:
        try:
            return self.rows[(session, kind)]
        except KeyError:
            raise AssemblyError(
                f"session {session!r} has no {kind} file in the pin list {self.source}; "
                f"its sessions are {', '.join(self.sessions())}."
            ) from None


def _kind(responses: str) -> str:
    if responses not in RESPONSE_KINDS:
        raise AssemblyError(f"responses must be one of {', '.join(RESPONSE_KINDS)}, not {responses!r}.")
    return RESPONSE_KINDS[responses]


def read_pins(path: str | Path | None = None) -> Pins:
    """Parse a pin list (default :data:`PIN_LIST`); a malformed one is refused in one sentence."""
    source = Path(path) if path is not None else PIN_LIST
    try:
        with open(source, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle, delimiter="\t")
            if tuple(reader.fieldnames or ()) != COLUMNS:
                raise AssemblyError(f"pin list {source} must have the columns {', '.join(COLUMNS)}.")
            rows: dict[tuple[str, str], Pin] = {}
            for line in reader:
                if not re.fullmatch(r"[0-9a-f]{40}", line["git_blob_sha1"] or ""):
                    raise AssemblyError(f"pin list {source}: {line['path']} has no 40-hex git_blob_sha1.")
                pin = Pin(
                    session=line["session"],
                    animal=line["animal"],
                    kind=line["kind"],
                    path=line["path"],
                    git_blob_sha1=line["git_blob_sha1"],
                    bytes=int(line["bytes"]) if line["bytes"] else None,
                    sha256=line["sha256"] or None,
                )
                rows[(pin.session, pin.kind)] = pin
    except OSError as error:
        raise AssemblyError(f"cannot read the pin list {source}: {error.strerror}.") from error
    return Pins(str(source), rows)


_FILE = re.compile(
    r"^(images/images_|responses_raw/responses_|responses_repeat_averaged/responses_)(\d{6})\.(zip|npy)$"
)
_KIND = {
    "images/images_": "images",
    "responses_raw/responses_": "raw",
    "responses_repeat_averaged/responses_": "averaged",
}


def generate(upstream_tsv: str | Path, readme: str | Path) -> list[list[str]]:
    """The pin list's rows from upstream's file listing and its ``readme.txt`` (animals).

    Only sessions with an images zip are listed (a session without images cannot be scored).
    """
    animals = dict(re.findall(r"^(\d{6})\s+(WE|PE|RA)\b", Path(readme).read_text(encoding="utf-8"), flags=re.M))
    with open(upstream_tsv, newline="", encoding="utf-8") as handle:
        listing = list(csv.DictReader(handle, delimiter="\t"))
    files: dict[tuple[str, str], dict[str, str]] = {}
    for row in listing:
        match = _FILE.match(row["path"])
        if match:
            files[(match.group(2), _KIND[match.group(1)])] = row
    with_images = sorted(s for s, kind in files if kind == "images")
    out = []
    for session in with_images:
        if session not in animals:
            raise AssemblyError(f"{readme} does not give the animal of session {session}.")
        for kind in ("images", "raw", "averaged"):
            if (session, kind) in files:
                row = files[(session, kind)]
                out.append(
                    [session, animals[session], kind, row["path"], row["git_blob_sha1"], row["bytes"], row["sha256"]]
                )
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m brainbench.assemblies.cowley2023_pins UPSTREAM_FILES.tsv readme.txt", file=sys.stderr)
        return 2
    writer = csv.writer(sys.stdout, delimiter="\t", lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(generate(*args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
