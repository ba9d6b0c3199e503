"""The activation cache: one model's layer files for one stimulus set, found, checked and written.

A layer's activations are one float32 ``.npy`` file of shape ``(stimulus, C, H, W)`` (or
``(stimulus, F)``) at ``$BRAINBENCH_HOME/activations/MODEL/LAYER-KEY24.npy``, where
``KEY24`` is the first 24 hex characters of the layer's cache key
(:func:`brainbench.scoring.activations.activation_key`). :meth:`ActivationCache.open` is
where a run finds what is cached, in one call:

* temporary files (``.NAME.PID.tmp``) of processes that no longer run are removed;
* every cached file is hashed against its ``NAME.sha256`` sidecar (the layers in parallel
  threads), whose record must also name the file's layer and key, so two files swapped
  together with their sidecars are caught; a bad file is removed with a one-line warning
  (:mod:`brainbench.caching.integrity`) and becomes one of :attr:`ActivationCache.missing`.

The missing layers are then written through the same object, in one call:
:meth:`ActivationCache.fill` appends each batch to a temporary file while hashing it,
then records each file's sha256, size, layer and key in its sidecar before renaming the
file into place; an interrupted extraction leaves no temporary file, so no partial cache
entry is ever seen.

Files are read back through :class:`NpyRows`, which reads only the rows asked for, so a
layer larger than memory is never loaded whole (readouts stream it in row blocks) and no
file pages are mapped into the process (a memory map of a 2.5 GB conv1 file would count
2.5 GB towards the process's resident memory).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from brainbench.caching import integrity
from brainbench.caching.paths import home
from brainbench.errors import WriteError, write_failed
from brainbench.identifiers import check_identifier, model_file_name


def activation_file(model_id: str, layer: str, key: str) -> Path:
    """Where a layer's activations of cache key ``key`` (64 hex characters) are kept.

    Raises :class:`~brainbench.identifiers.IdentifierError` when the model id or the layer
    name cannot be part of a file name.
    """
    folder = home() / "activations" / model_file_name(model_id or "model")
    return folder / f"{check_identifier(layer, 'layer name')}-{key[:24]}.npy"


def _identity(layer: str, key: str) -> dict[str, str]:
    """What an activation file is, as its sidecar records it: ``{"layer": ..., "key": ...}``."""
    return {"layer": layer, "key": key}


class ActivationCache:
    """The activation files of one model's layers for one stimulus set (see the module docstring).

    Open it with :meth:`open`, then :meth:`fill` it: that writes the :attr:`missing`
    layers and returns every layer's rows.

    Attributes:
        files: layer -> its ``.npy`` file.
        keys: layer -> its cache key.
        missing: the layers with no usable file, in the order asked: to be written.
        n_stimuli: rows of every file.
    """

    def __init__(self, files: dict[str, Path], keys: dict[str, str], missing: list[str], n_stimuli: int) -> None:
        self.files, self.keys, self.missing, self.n_stimuli = files, keys, missing, n_stimuli

    @classmethod
    def open(cls, model_id: str, keys: Mapping[str, str], n_stimuli: int, use_cache: bool = True) -> ActivationCache:
        """Find the cached files of ``keys`` (layer -> cache key) of model ``model_id``.

        Orphaned temporary files are removed and each cached file is checked against its
        sidecar first; a bad one is discarded with a one-line warning. ``use_cache=False``
        treats every layer as missing (its file is written again).
        """
        files = {layer: activation_file(model_id, layer, key) for layer, key in keys.items()}
        for folder in {file.parent for file in files.values()}:
            integrity.clean_orphans(folder)
        cached = [layer for layer, file in files.items() if use_cache and file.is_file()]
        # the sidecar must name this layer and key: a file swapped with its sidecar is caught
        expect = {files[layer]: _identity(layer, keys[layer]) for layer in cached}
        reasons = integrity.check_many([files[layer] for layer in cached], expect=expect)
        for layer in cached:
            reason = reasons[files[layer]]
            if reason is not None:
                integrity.discard(files[layer], reason)
        missing = [layer for layer, file in files.items() if not (use_cache and file.is_file())]
        return cls(files, dict(keys), missing, n_stimuli)

    def fill(self, batches: Iterable[Mapping[str, np.ndarray]]) -> dict[str, NpyRows]:
        """Write the :attr:`missing` layers from ``batches``; then every layer's rows.

        Each file is hashed while it is written under its temporary name, then published
        (its sidecar, then the rename); whatever goes wrong on the way (in writing, or in
        the code that produces ``batches``), no temporary file is left. ``batches`` is not
        read at all when no layer is missing, so a generator computes nothing then.

        Args:
            batches: per batch, layer -> ``(B, C, H, W)`` or ``(B, F)`` rows of the next
                ``B`` stimuli in order, for every missing layer; stored as C-ordered
                float32 in a file with the header of an ``(n_stimuli, ...)`` array.
        Returns:
            layer -> :class:`NpyRows` ``(stimulus, C, H, W)`` or ``(stimulus, F)``, float32,
            for every layer of :meth:`open` (cached or just written), in that order.
        """
        if self.missing:
            writers: dict[str, integrity.HashingWriter] = {}
            started: set[str] = set()  # the layers whose header is written
            try:
                # every temporary file first: a cache that cannot be written (a read-only
                # BRAINBENCH_HOME) is one sentence before the network runs, not after a batch
                for layer in self.missing:
                    writers[layer] = self._create(layer)
                for batch in batches:
                    for layer, rows in batch.items():
                        if layer not in started:
                            np.lib.format.write_array_header_2_0(writers[layer], self._header(rows.shape[1:]))
                            started.add(layer)
                        writers[layer].write(np.ascontiguousarray(rows, dtype=np.float32).tobytes())
                for layer in (layer for layer in self.missing if layer in started):
                    writer = writers[layer]
                    writer.close()
                    what = _identity(layer, self.keys[layer])
                    integrity.publish(writer.path, self.files[layer], writer.hexdigest(), writer.size, what=what)
            finally:
                for writer in writers.values():
                    # a close that fails (a full disk: the buffered bytes do not fit) must not stop
                    # the other temporaries from being removed; the first error is the one raised
                    with contextlib.suppress(WriteError):
                        writer.close()
                    writer.path.unlink(missing_ok=True)  # published ones are gone already
        return {layer: NpyRows(file) for layer, file in self.files.items()}

    def _create(self, layer: str) -> integrity.HashingWriter:
        """A hashing writer of the layer's temporary file (closed by :meth:`fill`, also on failure).

        Raises :class:`~brainbench.errors.WriteError` (one sentence) when its folder cannot be made.
        """
        temp = integrity.temp_path(self.files[layer])
        try:
            temp.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise write_failed(temp.parent, error) from error
        return integrity.HashingWriter(temp)

    def _header(self, row_shape: tuple[int, ...]) -> dict[str, Any]:
        """The ``.npy`` header of a float32 ``(n_stimuli, *row_shape)`` array."""
        descr = np.lib.format.dtype_to_descr(np.dtype(np.float32))
        return {"descr": descr, "fortran_order": False, "shape": (self.n_stimuli, *row_shape)}


class NpyRows:
    """Row access to a C-ordered ``.npy`` file without mapping or loading it whole.

    ``rows[a:b]`` reads rows a..b-1; ``np.asarray(rows)`` reads everything.

    Attributes:
        shape: the array's shape, ``(n, ...)``.
        dtype: its dtype.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
            self._offset = handle.tell()
        if fortran or dtype.hasobject:
            raise ValueError(f"{self.path} is not a C-ordered numeric array.")
        self.shape: tuple[int, ...] = tuple(shape)
        self.dtype = dtype
        self._row_items = int(np.prod(self.shape[1:], dtype=np.int64))

    @property
    def sha256(self) -> str | None:
        """The file's recorded sha256 (checked by :meth:`ActivationCache.open`), if any."""
        entry = integrity.recorded(self.path)
        return None if entry is None else entry.get("sha256")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"NpyRows({self.path.name}, shape={self.shape}, dtype={self.dtype})"

    def __getitem__(self, index: int | slice | tuple[Any, ...]) -> np.ndarray:
        if not isinstance(index, slice):
            return np.asarray(self)[index]
        start, stop, step = index.indices(self.shape[0])
        if step != 1:
            return np.asarray(self)[index]
        count = max(0, stop - start)
        data = np.fromfile(
            self.path,
            dtype=self.dtype,
            count=count * self._row_items,
            offset=self._offset + start * self._row_items * self.dtype.itemsize,
        )
        return data.reshape((count, *self.shape[1:]))

    def __array__(self, dtype: npt.DTypeLike | None = None, copy: bool | None = None) -> np.ndarray:
        data = self[0 : self.shape[0]]
        return data if dtype is None else data.astype(dtype, copy=False)
