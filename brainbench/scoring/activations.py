"""Stage 3, features: layer activations, extracted in batches and cached on disk.

A layer's activations for a stimulus set are one float32 ``.npy`` file of shape
``(stimulus, C, H, W)`` (or ``(stimulus, F)``), kept by the activation cache
(:mod:`brainbench.caching.activation_cache`) and read back through :class:`NpyRows`, which
reads only the rows asked for. :func:`get_activations` opens the cache once to learn
which layers it holds, runs the missing ones in one pass over the stimuli (placed images
-> batches -> the network -> the cache's writers), and publishes them.

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

from collections.abc import Sequence
from typing import Any

import torch

from brainbench.caching.activation_cache import ActivationCache, NpyRows
from brainbench.caching.content import json_sha256
from brainbench.data.stimuli import StimulusSet
from brainbench.models.base import TorchModel
from brainbench.models.preprocess import PlacedImages
from brainbench.registry.manifest import Preprocessing

#: NpyRows and PlacedImages are defined beside the cache and the placement they serve,
#: and stay importable from here.
__all__ = ["NpyRows", "PlacedImages", "activation_key", "get_activations"]


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
    keys = {layer: activation_key(model, layer, prep, stimuli) for layer in layers}
    cache = ActivationCache.open(model.identifier, keys, len(stimuli), use_cache=use_cache)
    # a generator: the network runs only if the cache lacks a layer, while the cache writes
    images = PlacedImages.reuse(inputs, stimuli, prep)
    return cache.fill(model.forward_batches(images, cache.missing, device, batch_size, progress))
