"""StimulusSet: ordered stimulus ids, lazy images and a content hash.

Images come from files (any format Pillow reads), from members of a zip archive or
from in-memory arrays. The content hash is the sha256 over the ordered image bytes
(file bytes, or the raw array bytes with shape and dtype) and enters every cache key,
so two stimulus sets with the same ids but different pixels never share a cache.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from brainbench.errors import DataError


class StimulusSet:
    """An ordered set of images with unique string ids.

    Build one with :meth:`from_files`, :meth:`from_zip` or :meth:`from_arrays`.

    Attributes:
        ids: ``(stimulus,)`` unique string ids, in assembly order.
        metadata: per-stimulus columns, each of length ``len(ids)``.
    """

    def __init__(self, ids: Sequence[str], sources: Sequence[object], kind: str,
                 metadata: Mapping[str, Sequence] | None = None, identifier: str = "") -> None:
        ids = [str(i) for i in ids]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise DataError(f"stimulus ids must be unique; {dup!r} appears more than once.")
        if len(sources) != len(ids):
            raise DataError(f"{len(ids)} stimulus ids but {len(sources)} images.")
        self.ids: list[str] = ids
        self._sources = list(sources)
        self._kind = kind
        self.identifier = identifier
        self.metadata = {k: list(v) for k, v in (metadata or {}).items()}
        for key, column in self.metadata.items():
            if len(column) != len(ids):
                raise DataError(f"stimulus metadata {key!r} has {len(column)} rows for {len(ids)} ids.")

    # construction -----------------------------------------------------------------
    @classmethod
    def from_files(cls, paths: Sequence[str | os.PathLike], ids: Sequence[str] | None = None,
                   **kwargs) -> StimulusSet:
        """Images from files; ids default to the file stems."""
        paths = [Path(p) for p in paths]
        for p in paths:
            if not p.is_file():
                raise DataError(f"stimulus image {p} does not exist.")
        ids = ids if ids is not None else [p.stem for p in paths]
        return cls(ids, paths, "file", **kwargs)

    @classmethod
    def from_zip(cls, archive: str | os.PathLike, members: Sequence[str],
                 ids: Sequence[str] | None = None, **kwargs) -> StimulusSet:
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
    def from_arrays(cls, images: np.ndarray | Sequence[np.ndarray], ids: Sequence[str] | None = None,
                    **kwargs) -> StimulusSet:
        """Images from arrays ``(H, W)`` grayscale or ``(H, W, 3)`` RGB, uint8 or float in [0, 1]."""
        images = [np.asarray(im) for im in images]
        for k, im in enumerate(images):
            if im.ndim not in (2, 3) or (im.ndim == 3 and im.shape[2] not in (1, 3)):
                raise DataError(f"image {k} has shape {im.shape}; expected (H, W) or (H, W, 3).")
            if not np.isfinite(im.astype(float)).all():
                raise DataError(f"image {k} contains NaN or infinite pixels.")
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
            image = Image.open(io.BytesIO(self._read_bytes(index)))
            image.load()
        return image.convert("RGB")

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
    def content_hash(self) -> str:
        """sha256 over the ordered ids and image bytes (hex)."""
        digest = hashlib.sha256()
        if self._kind == "zip":
            by_archive: dict[Path, zipfile.ZipFile] = {}
            try:
                for sid, (archive, member) in zip(self.ids, self._sources, strict=True):
                    zf = by_archive.setdefault(archive, zipfile.ZipFile(archive))
                    digest.update(sid.encode() + b"\0" + zf.read(member))
            finally:
                for zf in by_archive.values():
                    zf.close()
        else:
            for k, sid in enumerate(self.ids):
                digest.update(sid.encode() + b"\0" + self._read_bytes(k))
        return digest.hexdigest()

    def subset(self, ids: Sequence[str]) -> StimulusSet:
        """A new StimulusSet with the given ids, in that order."""
        position = {sid: k for k, sid in enumerate(self.ids)}
        missing = [i for i in ids if i not in position]
        if missing:
            raise DataError(f"stimulus set lacks {len(missing)} ids, e.g. {missing[0]!r}.")
        order = [position[i] for i in ids]
        meta = {k: [v[o] for o in order] for k, v in self.metadata.items()}
        return StimulusSet([self.ids[o] for o in order], [self._sources[o] for o in order],
                           self._kind, meta, self.identifier)
