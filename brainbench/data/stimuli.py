"""StimulusSet: ordered stimulus ids, lazy images and a content hash.

Images come from files (any format Pillow reads), from members of a zip archive or
from in-memory arrays. The content hash is the sha256 over the ordered image bytes
(file bytes, or the raw array bytes with shape and dtype) and enters every cache key,
so two stimulus sets with the same ids but different pixels never share a cache.

Array pixel values follow one rule per stimulus set (never per image, so that a dark
image in a 0-255 set is not read as 0-1): ``uint8`` is 0-255; other integer arrays must
lie within [0, 255] and are read as 0-255; float (and bool) arrays are read as 0-1 when
the set's largest value is at most 1, and as 0-255 when it is larger, in which case
every value must lie within [0, 255]; a negative value, or anything else, is refused.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import zipfile
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from brainbench.errors import DataError

# what Pillow raises for a file that is not an image it can decode
_IMAGE_ERRORS = (OSError, SyntaxError, ValueError, struct.error, Image.DecompressionBombError, EOFError)


def natural_key(name: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key that orders digit runs by value: ``img2`` before ``img10`` (case-insensitive)."""
    return tuple(
        (0, int(part), part) if part.isdigit() else (1, 0, part.lower()) for part in re.split(r"(\d+)", name) if part
    )


def pixels_to_uint8(images: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Arrays in a stimulus set's one value range (see the module docstring) as ``uint8`` 0-255.

    Args:
        images: each ``(H, W)`` or ``(H, W, C)``.
    Returns:
        The same images, ``uint8``; ``uint8`` inputs are returned unchanged.
    """
    kinds = {im.dtype.kind for im in images}
    if kinds - set("biuf"):
        bad = next(im.dtype for im in images if im.dtype.kind not in "biuf")
        raise DataError(f"image arrays must hold real numbers, not {bad}.")
    if all(im.dtype == np.uint8 for im in images) or not images:
        return list(images)
    low = min(float(im.min()) for im in images if im.size)
    high = max(float(im.max()) for im in images if im.size)
    floats = kinds & set("fb")
    scale = 255.0 if floats and high <= 1.0 else 1.0
    if low < 0 or high > 255:
        raise DataError(
            f"image pixels range over [{low:g}, {high:g}]; give float images in [0, 1] or [0, 255] "
            "(one range for the whole set) or uint8 images."
        )
    return [im if im.dtype == np.uint8 else np.rint(im.astype(np.float64) * scale).astype(np.uint8) for im in images]


class StimulusSet:
    """An ordered set of images with unique string ids.

    Build one with :meth:`from_files`, :meth:`from_zip` or :meth:`from_arrays`.

    Attributes:
        ids: ``(stimulus,)`` unique string ids, in assembly order.
        metadata: per-stimulus columns, each of length ``len(ids)``.
    """

    def __init__(
        self,
        ids: Sequence[str],
        sources: Sequence[object],
        kind: str,
        metadata: Mapping[str, Sequence[Any]] | None = None,
        identifier: str = "",
    ) -> None:
        ids = [str(i) for i in ids]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise DataError(f"stimulus ids must be unique; {dup!r} appears more than once.")
        if len(sources) != len(ids):
            raise DataError(f"{len(ids)} stimulus ids but {len(sources)} images.")
        self.ids: list[str] = ids
        # by kind: a Path ("file"), an (archive Path, member name) pair ("zip") or a uint8 array ("array")
        self._sources: list[Any] = list(sources)
        self._kind = kind
        self.identifier = identifier
        self.metadata = {k: list(v) for k, v in (metadata or {}).items()}
        for key, column in self.metadata.items():
            if len(column) != len(ids):
                raise DataError(f"stimulus metadata {key!r} has {len(column)} rows for {len(ids)} ids.")

    # construction -----------------------------------------------------------------
    @classmethod
    def from_files(
        cls, paths: Sequence[str | os.PathLike], ids: Sequence[str] | None = None, **kwargs: Any
    ) -> StimulusSet:
        """Images from files, in the order given; ids default to the file stems.

        ``kwargs`` (``metadata``, ``identifier``) go to :class:`StimulusSet`.
        """
        files = [Path(p) for p in paths]
        for p in files:
            if not p.is_file():
                raise DataError(f"stimulus image {p} does not exist.")
        ids = ids if ids is not None else [p.stem for p in files]
        return cls(ids, files, "file", **kwargs)

    @classmethod
    def from_zip(
        cls, archive: str | os.PathLike, members: Sequence[str], ids: Sequence[str] | None = None, **kwargs: Any
    ) -> StimulusSet:
        """Images read lazily from members of one zip archive."""
        archive = Path(archive)
        with zipfile.ZipFile(archive) as zf:
            names = set(zf.namelist())
        missing = [m for m in members if m not in names]
        if missing:
            raise DataError(f"{archive.name} lacks {len(missing)} images, e.g. {missing[0]!r}.")
        ids = ids if ids is not None else [Path(m).stem for m in members]
        return cls(ids, [(archive, m) for m in members], "zip", **kwargs)

    @classmethod
    def from_arrays(
        cls, images: np.ndarray | Sequence[np.ndarray], ids: Sequence[str] | None = None, **kwargs: Any
    ) -> StimulusSet:
        """Images from arrays ``(H, W)`` grayscale or ``(H, W, 3)`` RGB.

        Pixel values follow the module docstring's one-range-per-set rule (uint8 0-255,
        float 0-1 or 0-255) and are stored as uint8.
        """
        images = [np.asarray(im) for im in images]
        for k, im in enumerate(images):
            if im.ndim not in (2, 3) or (im.ndim == 3 and im.shape[2] not in (1, 3)):
                raise DataError(f"image {k} has shape {im.shape}; expected (H, W) or (H, W, 3).")
            if im.dtype.kind in "fc" and not np.isfinite(im).all():
                raise DataError(f"image {k} contains NaN or infinite pixels.")
        images = pixels_to_uint8(images)
        ids = ids if ids is not None else [f"stim{k:05d}" for k in range(len(images))]
        return cls(ids, images, "array", **kwargs)

    # access -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"StimulusSet({self.identifier or 'unnamed'!r}, {len(self)} images, {self._kind})"

    def image(self, index: int) -> Image.Image:
        """The ``index``-th image as an RGB :class:`PIL.Image.Image`."""
        source = self._sources[index]
        if self._kind == "array":
            array = np.asarray(source)
            if array.dtype != np.uint8:
                array = (np.clip(array.astype(float), 0.0, 1.0) * 255).round().astype(np.uint8)
            if array.ndim == 3 and array.shape[2] == 1:
                array = array[..., 0]
            image = Image.fromarray(array)
        else:
            try:
                image = Image.open(io.BytesIO(self._read_bytes(index)))
                image.load()
            except _IMAGE_ERRORS as error:
                raise DataError(self._unreadable(index, error)) from error
        return image.convert("RGB")

    def verify(self) -> StimulusSet:
        """Check that every file or zip member is an image Pillow can read; return self.

        Uses Pillow's ``verify()`` (headers and checksums, no full decode).
        """
        if self._kind == "array":
            return self
        archives: dict[Path, zipfile.ZipFile] = {}
        try:
            for k, source in enumerate(self._sources):
                if self._kind == "zip":
                    archive, member = source
                    data = archives.setdefault(archive, zipfile.ZipFile(archive)).read(member)
                else:
                    data = Path(source).read_bytes()
                try:
                    with Image.open(io.BytesIO(data)) as image:
                        image.verify()
                except _IMAGE_ERRORS as error:
                    raise DataError(self._unreadable(k, error)) from error
        finally:
            for zf in archives.values():
                zf.close()
        return self

    def _unreadable(self, index: int, error: Exception) -> str:
        source = self._sources[index]
        where = f"{source[1]!r} in {Path(source[0]).name}" if self._kind == "zip" else str(source)
        return (
            f"stimulus {self.ids[index]!r} ({where}) is not an image Pillow can read ({type(error).__name__}); "
            "replace or remove it."
        )

    def _read_bytes(self, index: int) -> bytes:
        source = self._sources[index]
        if self._kind == "file":
            return Path(source).read_bytes()
        if self._kind == "zip":
            archive, member = source
            with zipfile.ZipFile(archive) as zf:
                return zf.read(member)
        array = np.ascontiguousarray(source)
        return f"{array.shape}{array.dtype}".encode() + array.tobytes()

    @cached_property
    def _hashes(self) -> tuple[str, list[str]]:
        """The set's content hash and each image's own sha256, from one read of the image bytes."""
        digest, images = hashlib.sha256(), []
        if self._kind == "zip":
            by_archive: dict[Path, zipfile.ZipFile] = {}
            try:
                for sid, (archive, member) in zip(self.ids, self._sources, strict=True):
                    zf = by_archive.setdefault(archive, zipfile.ZipFile(archive))
                    data = zf.read(member)
                    digest.update(sid.encode() + b"\0" + data)
                    images.append(hashlib.sha256(data).hexdigest())
            finally:
                for zf in by_archive.values():
                    zf.close()
        else:
            for k, sid in enumerate(self.ids):
                data = self._read_bytes(k)
                digest.update(sid.encode() + b"\0" + data)
                images.append(hashlib.sha256(data).hexdigest())
        return digest.hexdigest(), images

    @property
    def content_hash(self) -> str:
        """sha256 over the ordered ids and image bytes (hex)."""
        return self._hashes[0]

    def identical_groups(self, ids: Sequence[str]) -> np.ndarray:
        """``(len(ids),)`` int64 group labels of the stimuli ``ids``: identical image bytes, one label.

        Labels count from 0 in order of first appearance, so a set without identical images
        gets ``0, 1, 2, ...``. Used to keep identical images on one side of every split.
        """
        digests = self._hashes[1]
        labels: dict[str, int] = {}
        return np.array([labels.setdefault(digests[k], len(labels)) for k in self._positions(ids)], dtype=np.int64)

    def _positions(self, ids: Sequence[str]) -> list[int]:
        """The position of each of ``ids`` in this set; an id it lacks is one sentence."""
        position = {sid: k for k, sid in enumerate(self.ids)}
        missing = [i for i in ids if i not in position]
        if missing:
            raise DataError(f"stimulus set lacks {len(missing)} ids, e.g. {missing[0]!r}.")
        return [position[i] for i in ids]

    def subset(self, ids: Sequence[str]) -> StimulusSet:
        """A new StimulusSet with the given ids, in that order."""
        order = self._positions(ids)
        meta = {k: [v[o] for o in order] for k, v in self.metadata.items()}
        return StimulusSet(
            [self.ids[o] for o in order], [self._sources[o] for o in order], self._kind, meta, self.identifier
        )
