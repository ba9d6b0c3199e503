"""Image placement and normalisation: a PIL image becomes a ``(3, size, size)`` tensor.

Grayscale images are repeated to three channels. ``placement`` decides how a
non-square image fits the square input (see
:class:`brainbench.registry.manifest.Preprocessing`); ``canvas_fraction`` < 1 shrinks
the placed image and centres it on a gray canvas, for stimuli that covered fewer
degrees of visual angle than the model's field of view. :class:`PlacedImages` hands a
stimulus set to a network in batches, placing each image once where several networks see
the same pixels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from brainbench.registry.manifest import Preprocessing, StimulusPlacement

if TYPE_CHECKING:  # pragma: no cover
    from brainbench.data.stimuli import StimulusSet

#: Numerics version of this module's placement and normalisation code: bump it when a
#: change moves any pixel a model sees (it enters every result's key).
PREPROCESSING_VERSION = 1


def with_placement(prep: Preprocessing, override: StimulusPlacement | None) -> Preprocessing:
    """The model's preprocessing with a benchmark's placement override applied."""
    if override is None:
        return prep
    changes = {k: v for k, v in override.model_dump().items() if v is not None}
    return prep.model_copy(update=changes) if changes else prep


def place(image: Image.Image, prep: Preprocessing) -> Image.Image:
    """Place an RGB image on the square ``prep.size`` canvas. Returns an RGB image."""
    image = image.convert("RGB")
    size = prep.size
    inner = max(1, round(size * prep.canvas_fraction))
    width, height = image.size
    if prep.placement == "resize":
        placed = image.resize((inner, inner), Image.Resampling.BICUBIC)
    elif prep.placement == "center-crop":
        scale = inner / min(width, height)
        resized = image.resize(
            (max(inner, round(width * scale)), max(inner, round(height * scale))), Image.Resampling.BICUBIC
        )
        left = (resized.width - inner) // 2
        top = (resized.height - inner) // 2
        placed = resized.crop((left, top, left + inner, top + inner))
    else:  # pad: whole image inside the square, gray bars
        scale = inner / max(width, height)
        resized = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BICUBIC)
        placed = Image.new("RGB", (inner, inner), _gray(prep.background))
        placed.paste(resized, ((inner - resized.width) // 2, (inner - resized.height) // 2))
    if inner == size:
        return placed
    canvas = Image.new("RGB", (size, size), _gray(prep.background))
    offset = (size - inner) // 2
    canvas.paste(placed, (offset, offset))
    return canvas


def _gray(level: float) -> tuple[int, int, int]:
    value = round(level * 255)
    return (value, value, value)


def to_tensor(image: Image.Image, prep: Preprocessing) -> torch.Tensor:
    """Placed, normalised ``(3, size, size)`` float32 tensor."""
    return normalise(np.asarray(place(image, prep)), prep)


def normalise(placed: np.ndarray, prep: Preprocessing) -> torch.Tensor:
    """A placed ``(size, size, 3)`` uint8 image as the normalised ``(3, size, size)`` float32 tensor."""
    array = np.asarray(placed, dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array).permute(2, 0, 1)
    mean = torch.tensor(prep.mean, dtype=torch.float32)[:, None, None]
    std = torch.tensor(prep.std, dtype=torch.float32)[:, None, None]
    return (tensor - mean) / std


class PlacedImages:
    """The placed ``(size, size, 3)`` uint8 images of one stimulus set and preprocessing, in batches.

    Several models that see the same pixels (the checkpoints of a training run) then
    decode and place each image once; the normalised tensors are exactly those of
    :func:`to_tensor`. Images are kept only while they fit in ``max_bytes`` (default
    1 GiB: 3 * size^2 bytes each, about 96 MB for 640 images at 224 pixels); beyond that,
    or with ``max_bytes=0``, they are decoded again each time.
    """

    def __init__(self, stimuli: StimulusSet, prep: Preprocessing, max_bytes: int = 1 << 30) -> None:
        self.stimuli, self.prep = stimuli, prep
        self.keep = 3 * prep.size * prep.size * len(stimuli) <= max_bytes
        self._placed: dict[int, np.ndarray] = {}

    @classmethod
    def reuse(cls, kept: PlacedImages | None, stimuli: StimulusSet, prep: Preprocessing) -> PlacedImages:
        """``kept`` when it holds these stimuli under this preprocessing, else images that keep nothing."""
        if kept is not None and kept.matches(stimuli, prep):
            return kept
        return cls(stimuli, prep, max_bytes=0)

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

    def batch(self, start: int, stop: int) -> torch.Tensor:
        """Images ``start`` to ``stop - 1`` as a ``(stop - start, 3, size, size)`` float32 batch, on the CPU."""
        return torch.stack([self.tensor(k) for k in range(start, stop)])
