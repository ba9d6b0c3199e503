"""Remote files: hash-checked downloads, a local mirror and an offline mode.

Environment:
    ``BRAINBENCH_HOME``: cache root (default ``~/.cache/brainbench``). A remote file of
        dataset ``D`` with relative path ``P`` is stored at ``$BRAINBENCH_HOME/data/D/P``.
    ``BRAINBENCH_MIRROR=DIR``: read that file from ``DIR/D/P`` instead of the network;
        its hash is still checked.
    ``BRAINBENCH_OFFLINE=1``: never use the network; a file that is neither cached nor
        mirrored is an error naming the file and where to put it.

A relative ``BRAINBENCH_HOME`` or ``BRAINBENCH_MIRROR`` (``../shared/data/mirror``) is
read against the working directory brainbench started in, and every message names the
absolute path.

Downloads go through :mod:`pooch` (progress bar, retries, download to a temporary
file that is moved into place only once complete and hash-checked), so an interrupted
download never leaves a partial file under its final name.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from brainbench.caching.integrity import file_hash
from brainbench.caching.paths import absolute, home
from brainbench.errors import DataError, OfflineError, write_failed

HASH_ALGORITHMS = ("sha256", "sha1", "md5")


@dataclass(frozen=True)
class RemoteFile:
    """One remote file of a dataset.

    Attributes:
        dataset: dataset folder name ``D`` (cache and mirror layout ``D/P``).
        path: relative path ``P`` inside the dataset.
        url: full download URL.
        known_hash: ``"sha256:<hex>"`` (preferred) or ``"sha1:<hex>"``; ``None`` only for
            files whose hash is recorded at first download (see :func:`fetch`).
        size: size in bytes when known (shown before downloading).
        git_sha1: the file's git object id at a pinned commit (sha1 of
            ``b"blob %d\\0" % size + content``, see :func:`git_blob_sha1`), checked like
            ``known_hash`` wherever the file is read; pins a file whose sha256 was never
            recorded (e.g. a file of a public repository, by its commit's tree).
    """

    dataset: str
    path: str
    url: str
    known_hash: str | None
    size: int | None = None
    git_sha1: str | None = None

    def __post_init__(self) -> None:
        if self.known_hash is not None:
            algorithm, _, digest = self.known_hash.partition(":")
            if algorithm not in HASH_ALGORITHMS or not digest:
                raise DataError(
                    f"hash of {self.dataset}/{self.path} must look like 'sha256:<hex>', got {self.known_hash!r}."
                )
        posix = PurePosixPath(self.path)
        if posix.is_absolute() or ".." in posix.parts:
            raise DataError(f"remote path {self.path!r} must be relative and stay inside its dataset.")


def mirror_root() -> Path | None:
    """``$BRAINBENCH_MIRROR`` as an absolute path (see :func:`absolute`), or None when unset."""
    value = os.environ.get("BRAINBENCH_MIRROR")
    return absolute(value) if value else None


def offline() -> bool:
    return os.environ.get("BRAINBENCH_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def cache_path(remote: RemoteFile) -> Path:
    return home() / "data" / remote.dataset / remote.path


def git_blob_sha1(path: str | os.PathLike) -> str:
    """The git object id of a file's bytes: sha1 of ``b"blob <size>\\0"`` followed by the content."""
    import hashlib

    from brainbench.caching.integrity import BLOCK

    digest = hashlib.sha1(f"blob {os.path.getsize(path)}\0".encode())
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def check_hash(path: Path, remote: RemoteFile) -> None:
    """Raise :class:`DataError` unless ``path`` has the declared hash (and git object id, when pinned)."""
    if remote.git_sha1 is not None:
        actual = git_blob_sha1(path)
        if actual != remote.git_sha1.lower():
            raise DataError(
                f"{path} has git object id {actual[:12]}..., but {remote.dataset}/{remote.path} is pinned to "
                f"{remote.git_sha1[:12]}...; the file is corrupt or a different version: delete it and fetch again."
            )
    if remote.known_hash is None:
        return
    algorithm, _, expected = remote.known_hash.partition(":")
    actual = file_hash(path, algorithm)
    if actual != expected.lower():
        raise DataError(
            f"{path} has {algorithm} {actual[:12]}..., but {remote.dataset}/{remote.path} must have "
            f"{expected[:12]}...; the file is corrupt or a different version: delete it and fetch again."
        )


def _hash_record(remote: RemoteFile) -> Path:
    return cache_path(remote).with_name(cache_path(remote).name + ".sha256")


def fetch(remote: RemoteFile, progress: bool = True) -> Path:
    """Return a local, hash-checked path of ``remote``, downloading it if needed.

    Order: the cache (``$BRAINBENCH_HOME/data/D/P``), then ``$BRAINBENCH_MIRROR/D/P``,
    then the network unless ``BRAINBENCH_OFFLINE=1``. A mirrored file is read in place.
    Files declared without a hash get their sha256 recorded beside the cached copy at
    first download and checked against it afterwards.
    """
    target = cache_path(remote)
    if target.is_file():
        _check_cached(target, remote)
        return target
    mirror = mirror_root()
    if mirror is not None:
        mirrored = mirror / remote.dataset / remote.path
        if mirrored.is_file():
            check_hash(mirrored, remote)
            return mirrored
    if offline():
        raise OfflineError(
            f"{remote.dataset}/{remote.path} is not available offline (BRAINBENCH_OFFLINE=1): "
            f"{_where_to_put(remote, target)}, or unset BRAINBENCH_OFFLINE to download it from {remote.url}."
        )
    return _download(remote, target, progress)


def _where_to_put(remote: RemoteFile, target: Path) -> str:
    """How a user supplies a file by hand: the cache path, or a mirror (named when one is set)."""
    relative = f"{remote.dataset}/{remote.path}"
    mirror = mirror_root()
    if mirror is not None:
        return (
            f"put the file at {target}, or at {mirror / remote.dataset / remote.path} "
            f"(BRAINBENCH_MIRROR=DIR supplies DIR/{relative})"
        )
    return f"put the file at {target}, or set BRAINBENCH_MIRROR=DIR to a folder that holds it as DIR/{relative}"


def _check_cached(target: Path, remote: RemoteFile) -> None:
    if remote.known_hash is not None or remote.git_sha1 is not None:
        check_hash(target, remote)
        return
    record = _hash_record(remote)
    if record.is_file():
        expected = record.read_text().strip()
        check_hash(target, RemoteFile(remote.dataset, remote.path, remote.url, f"sha256:{expected}"))


def _download(remote: RemoteFile, target: Path, progress: bool) -> Path:
    import pooch  # imported here: only downloads need it

    target.parent.mkdir(parents=True, exist_ok=True)
    if progress and remote.size:
        import sys

        print(f"downloading {remote.dataset}/{remote.path} ({remote.size / 1e6:,.1f} MB)", file=sys.stderr)
    # a file pinned by its git object id (which pooch cannot check) is downloaded under a
    # staging name and moved into place only once that id matches
    name = target.name if remote.git_sha1 is None else f".{target.name}.unverified"
    fetcher = pooch.create(
        path=target.parent,
        base_url=remote.url.rsplit("/", 1)[0] + "/",
        registry={name: remote.known_hash},
        urls={name: remote.url},
        retry_if_failed=3,
        allow_updates=False,
    )
    try:
        # pooch's bar is tqdm's: drawn only on a terminal, never as escape codes in a log
        local = Path(fetcher.fetch(name, progressbar=progress and _stderr_is_terminal()))
        if remote.git_sha1 is not None:
            local = _verified(local, remote, target)
    except ValueError as error:  # pooch raises ValueError on a hash mismatch
        raise DataError(
            f"download of {remote.dataset}/{remote.path} from {remote.url} failed its hash check "
            f"({_one_line(error)}), so nothing was kept: {_where_to_put(remote, target)}."
        ) from error
    except Exception as error:  # network errors: one sentence, the cause chained
        raise DataError(
            f"could not download {remote.dataset}/{remote.path} from {remote.url} "
            f"({_one_line(error)}): {_where_to_put(remote, target)}."
        ) from error
    if remote.known_hash is None and remote.git_sha1 is None:  # a git object id pins it already
        _hash_record(remote).write_text(file_hash(local) + "\n")
    return local


def _verified(staged: Path, remote: RemoteFile, target: Path) -> Path:
    """Move a staged download to ``target`` once its git object id matches; else remove it."""
    try:
        check_hash(staged, remote)
    except DataError as error:
        staged.unlink(missing_ok=True)
        raise ValueError(str(error)) from error  # reported as a failed hash check below
    os.replace(staged, target)
    return target


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()).rstrip(".") or type(error).__name__


def _stderr_is_terminal() -> bool:
    import sys

    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def fetch_all(remotes: Iterable[RemoteFile], progress: bool = True) -> list[Path]:
    """Fetch several files, announcing their total size first when known."""
    remotes = list(remotes)
    sizes = [r.size for r in remotes if r.size]
    if progress and sizes and not offline():
        import sys

        print(f"{len(remotes)} files, {sum(sizes) / 1e9:,.2f} GB declared", file=sys.stderr)
    return [fetch(r, progress) for r in remotes]


def load_npy(path: str | os.PathLike) -> np.ndarray:
    """Load a downloaded ``.npy`` file; pickled objects are refused."""
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as error:
        raise DataError(f"{path} is not a plain numeric .npy file ({error}).") from error


def safe_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The archive's members, refusing any whose path escapes the extraction folder."""
    members = []
    for info in archive.infolist():
        name = PurePosixPath(info.filename.replace("\\", "/"))
        if name.is_absolute() or ".." in name.parts or (name.parts and ":" in name.parts[0]):
            raise DataError(
                f"zip member {info.filename!r} would escape its folder; refusing to extract {archive.filename}."
            )
        members.append(info)
    return members


def extract_zip(archive_path: str | os.PathLike, destination: str | os.PathLike) -> Path:
    """Extract a zip archive into ``destination`` atomically and safely, with a hash record.

    Members are checked before anything is written; the archive is unpacked into a
    temporary sibling folder ``.NAME.PID.tmp``, the sha256 of every extracted file is
    recorded in ``destination.sha256``, and the folder is renamed into place, so an
    interrupted extraction leaves nothing under ``destination``. An existing folder is
    checked against its record first; a changed, missing or unrecorded file makes it be
    removed (with a one-line warning) and extracted again. Returns ``destination``.
    """
    from brainbench.caching import integrity as cache_integrity

    destination = Path(destination)
    cache_integrity.clean_orphans(destination.parent)
    if destination.is_dir() and cache_integrity.usable(destination):
        return destination
    with zipfile.ZipFile(archive_path) as archive:
        members = safe_members(archive)
        staging = cache_integrity.temp_path(destination)
        shutil.rmtree(staging, ignore_errors=True)
        try:
            try:  # a read-only BRAINBENCH_HOME or a full disk: one sentence, nothing left
                destination.parent.mkdir(parents=True, exist_ok=True)
                staging.mkdir()
                archive.extractall(staging, members=members)
            except OSError as error:
                raise write_failed(destination, error) from error
            cache_integrity.record_folder(staging, destination)
            try:
                os.replace(staging, destination)
            except OSError:
                if not destination.is_dir():  # lost a race with another process: theirs is fine
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return destination
