"""Layer activations, extracted in batches and cached on disk.

A layer's activations for a stimulus set are one float32 ``.npy`` file of shape
``(stimulus, C, H, W)`` (or ``(stimulus, F)``). It is written batch by batch with plain
file writes and read back through :class:`NpyRows`, which reads only the rows asked for,
so a layer larger than memory is never loaded whole (readouts stream it in row blocks)
and no file pages are mapped into the process (a memory map of a 2.5 GB conv1 file
would count 2.5 GB towards the process's resident memory).

Cache key: sha256 of (model weights hash, layer, its submodule, preprocessing,
stimulus-set content hash, and the token rule of a model that has one) -- never ids
alone, so new weights, new pixels or a new placement can never reuse stale activations.
Files are written under a temporary name (``.NAME.PID.tmp``) and renamed when complete;
an interrupted run leaves no partial cache entry, and temporary files of dead processes
are removed the next time the model's cache folder is used.

Integrity: the sha256 of each file is computed while its batches are written and kept
in a ``NAME.sha256`` sidecar (:mod:`brainbench.caching.integrity`), which also names
the file's layer and cache key. A cached file is hashed again before it is used (the
layers in parallel threads); one that is truncated, altered, has no record, or whose
record names another layer or key (two files swapped together with their sidecars) is
removed with a one-line warning and extracted again.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from brainbench.caching import integrity as cache_integrity
from brainbench.caching.content import json_sha256
from brainbench.data.fetch import home
from brainbench.data.stimuli import StimulusSet
from brainbench.identifiers import check_identifier, model_file_name
from brainbench.models.base import TorchModel
from brainbench.models.preprocess import normalise, place, to_tensor
from brainbench.registry.manifest import Preprocessing


def activation_key(model: TorchModel, layer: str, prep: Preprocessing, stimuli: StimulusSet) -> str:
    """The cache key of one layer's activations (see the module docstring): 64 hex characters."""
    content: dict[str, Any] = {
        "weights": model.weights_hash,
        "layer": layer,
        "module": model.layer_modules[layer],
        "preprocessing": prep.model_dump(),
        "stimuli": stimuli.content_hash,
        "format": 1,
    }
    if model.token_key() is not None:  # only token rules add a field: no other model's key changes
        content["tokens"] = model.token_key()
    return json_sha256(content)


def _cache_file(model: TorchModel, layer: str, key: str) -> Path:
    folder = model_file_name(model.identifier or "model")
    return home() / "activations" / folder / f"{check_identifier(layer, 'layer name')}-{key[:24]}.npy"


def get_activations(
    model: TorchModel,
    stimuli: StimulusSet,
    layers: Sequence[str],
    prep: Preprocessing,
    device: torch.device,
    batch_size: int = 32,
    progress: bool = True,
    use_cache: bool = True,
    inputs: PlacedImages | None = None,
) -> dict[str, NpyRows]:
    """Activations of ``layers`` for every stimulus, from the cache or one forward pass.

    ``layers`` are trusted: they were checked once, at the boundary, by
    :meth:`brainbench.models.base.TorchModel.check_layers` (stage 1,
    :func:`brainbench.scoring.spec.resolve`, does it for every run), which also registers
    a module path as a layer; a caller outside the scorer checks them the same way first.

    ``inputs``: placed images kept from an earlier model with the same stimuli and
    preprocessing (a trajectory's checkpoints), so they are decoded and placed once.

    Returns:
        layer -> :class:`NpyRows` ``(stimulus, C, H, W)`` or ``(stimulus, F)``, float32.
    """
    layers = list(layers)
    keys = {layer: activation_key(model, layer, prep, stimuli) for layer in layers}
    files = {layer: _cache_file(model, layer, keys[layer]) for layer in layers}
    for folder in {f.parent for f in files.values()}:
        cache_integrity.clean_orphans(folder)
    cached = [layer for layer in layers if use_cache and files[layer].is_file()]
    # the sidecar must name this layer and key: a file swapped with its sidecar is caught
    expect = {files[layer]: _identity(layer, keys[layer]) for layer in cached}
    reasons = cache_integrity.check_many([files[layer] for layer in cached], expect=expect)
    for layer in cached:
        reason = reasons[files[layer]]
        if reason is not None:
            cache_integrity.discard(files[layer], reason)
    missing = [layer for layer in layers if not (use_cache and files[layer].is_file())]
    if missing:
        _extract(model, stimuli, missing, prep, device, batch_size, progress, files, keys, inputs)
    return {layer: NpyRows(files[layer]) for layer in layers}


def _identity(layer: str, key: str) -> dict[str, str]:
    """What an activation file is, as its sidecar records it: ``{"layer": ..., "key": ...}``."""
    return {"layer": layer, "key": key}


class PlacedImages:
    """The placed ``(size, size, 3)`` uint8 images of one stimulus set and preprocessing, kept in memory.

    Several models that see the same pixels (the checkpoints of a training run) then
    decode and place each image once; the normalised tensors are exactly those of
    :func:`~brainbench.models.preprocess.to_tensor`. Images are kept only while they fit in
    ``max_bytes`` (default 1 GiB: 3 * size^2 bytes each, about 96 MB for 640 images at 224
    pixels); beyond that they are decoded again each time.
    """

    def __init__(self, stimuli: StimulusSet, prep: Preprocessing, max_bytes: int = 1 << 30) -> None:
        self.stimuli, self.prep = stimuli, prep
        self.keep = 3 * prep.size * prep.size * len(stimuli) <= max_bytes
        self._placed: dict[int, np.ndarray] = {}

    def matches(self, stimuli: StimulusSet, prep: Preprocessing) -> bool:
        return stimuli.content_hash == self.stimuli.content_hash and prep == self.prep

    def tensor(self, index: int) -> torch.Tensor:
        """``(3, size, size)`` float32, normalised."""
        placed = self._placed.get(index)
        if placed is None:
            placed = np.asarray(place(self.stimuli.image(index), self.prep))
            if self.keep:
                self._placed[index] = placed
        return normalise(placed, self.prep)


def _extract(
    model: TorchModel,
    stimuli: StimulusSet,
    layers: list[str],
    prep: Preprocessing,
    device: torch.device,
    batch_size: int,
    progress: bool,
    files: dict[str, Path],
    keys: dict[str, str],
    inputs: PlacedImages | None = None,
) -> None:
    from brainbench.progress import tqdm

    if inputs is not None and not inputs.matches(stimuli, prep):
        inputs = None  # other pixels: decode as usual
    model.to(device)
    n = len(stimuli)
    handles: dict[str, cache_integrity.HashingWriter] = {}
    temps = {layer: cache_integrity.temp_path(files[layer]) for layer in layers}
    try:
        bar = tqdm(total=n, desc=f"{model.identifier} activations", unit="img", disable=not progress, leave=False)
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            if inputs is not None:
                batch = torch.stack([inputs.tensor(k) for k in range(start, stop)]).to(device)
            else:
                batch = torch.stack([to_tensor(stimuli.image(k), prep) for k in range(start, stop)]).to(device)
            outputs = model.forward_layers(batch, layers)
            for layer, value in outputs.items():
                if layer not in handles:
                    temps[layer].parent.mkdir(parents=True, exist_ok=True)
                    handle = cache_integrity.HashingWriter(temps[layer])  # closed below, also on failure
                    header = {
                        "descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                        "fortran_order": False,
                        "shape": (n, *value.shape[1:]),
                    }
                    np.lib.format.write_array_header_2_0(handle, header)
                    handles[layer] = handle
                handles[layer].write(np.ascontiguousarray(value.float().cpu().numpy()).tobytes())
            bar.update(stop - start)
        bar.close()
        for layer, handle in handles.items():
            handle.close()
            cache_integrity.publish(
                temps[layer], files[layer], handle.hexdigest(), handle.size, what=_identity(layer, keys[layer])
            )
    finally:
        for handle in handles.values():
            handle.close()
        for temp in temps.values():
            temp.unlink(missing_ok=True)


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
        """The file's recorded sha256 (checked by :func:`get_activations`), if any."""
        entry = cache_integrity.recorded(self.path)
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
