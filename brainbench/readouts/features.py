"""Feature sources: what a readout is given, and the two ways it reads one.

A feature source is anything with ``.shape`` ``(n, ...)``, ``.dtype`` and row slicing
``source[a:b]`` that reads only those rows: :class:`brainbench.scoring.activations.NpyRows`, a
numpy array or memmap, or a torch tensor. Readouts read it either in row blocks
(:func:`row_blocks`, for Gram matrices) or whole into one preallocated tensor
(:func:`load_rows`, filled block by block, so the layer is never held twice).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import torch

DEFAULT_BLOCK_BYTES = 256 * 2**20


@runtime_checkable
class FeatureSource(Protocol):
    """``(n, ...)`` features read by row slices."""

    @property
    def shape(self) -> tuple[int, ...]: ...  # pragma: no cover - protocol

    @property
    def dtype(self) -> np.dtype[Any] | torch.dtype: ...  # pragma: no cover - protocol

    def __getitem__(self, index: slice) -> np.ndarray | torch.Tensor: ...  # pragma: no cover - protocol


def torch_dtype(dtype: npt.DTypeLike | torch.dtype) -> torch.dtype:
    """The torch dtype of a numpy or torch dtype."""
    if isinstance(dtype, torch.dtype):
        return dtype
    return torch.from_numpy(np.empty(0, dtype)).dtype


def read_rows(
    source: FeatureSource, start: int, stop: int, device: torch.device | str, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Rows ``start:stop`` of ``source`` as a tensor ``(stop - start, ...)`` on ``device``."""
    chunk = source[start:stop]
    if not isinstance(chunk, torch.Tensor):
        chunk = np.asarray(chunk)
        chunk = torch.from_numpy(chunk if chunk.flags.writeable else chunk.copy())
    return chunk.to(device=device, dtype=dtype or chunk.dtype)


def block_rows(source: FeatureSource, block_bytes: int = DEFAULT_BLOCK_BYTES, itemsize: int = 4) -> int:
    """Rows per block so that one block of ``source`` takes about ``block_bytes``."""
    row = int(np.prod(source.shape[1:], dtype=np.int64)) * itemsize
    return int(max(1, min(source.shape[0], block_bytes // max(row, 1))))


def row_blocks(
    source: FeatureSource, rows: int, device: torch.device | str, dtype: torch.dtype | None = None
) -> Iterator[tuple[int, torch.Tensor]]:
    """``(start, block)`` pairs covering ``source`` in blocks of ``rows`` rows."""
    n = source.shape[0]
    for start in range(0, n, rows):
        yield start, read_rows(source, start, min(n, start + rows), device, dtype)


def load_rows(
    source: FeatureSource,
    device: torch.device | str,
    dtype: torch.dtype,
    flatten: bool = False,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> torch.Tensor:
    """The whole source as one ``(n, ...)`` tensor (``(n, F)`` if ``flatten``), read in row blocks.

    A tensor already of that device and dtype is returned as is (no copy).
    """
    shape = (source.shape[0], int(np.prod(source.shape[1:], dtype=np.int64))) if flatten else tuple(source.shape)
    if isinstance(source, torch.Tensor):
        return source.to(device=device, dtype=dtype).reshape(shape)
    out = torch.empty(shape, dtype=dtype, device=device)
    step = block_rows(source, block_bytes, torch.empty(0, dtype=dtype).element_size())
    for start, block in row_blocks(source, step, device, dtype):
        out[start : start + block.shape[0]] = block.reshape(block.shape[0], *shape[1:])
    return out
