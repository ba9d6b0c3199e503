"""Layer activations, extracted in batches and cached on disk.

A layer's activations for a stimulus set are one float32 ``.npy`` file of shape
``(stimulus, C, H, W)`` (or ``(stimulus, F)``), opened as a memory map so that a layer
larger than memory is never loaded whole: readouts stream it in row blocks.

Cache key: sha256 of (model weights hash, layer, its submodule, preprocessing,
stimulus-set content hash) -- never ids alone, so new weights, new pixels or a new
placement can never reuse stale activations. Files are written under a temporary name
and renamed when complete; an interrupted run leaves no partial cache entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from brainbench.data.fetch import home
from brainbench.data.stimuli import StimulusSet
from brainbench.models.base import TorchModel
from brainbench.models.preprocess import to_tensor
from brainbench.registry.manifest import Preprocessing


def activation_key(model: TorchModel, layer: str, prep: Preprocessing, stimuli: StimulusSet) -> str:
    blob = json.dumps({
        "weights": model.weights_hash,
        "layer": layer,
        "module": model.layer_modules[layer],
        "preprocessing": prep.model_dump(),
        "stimuli": stimuli.content_hash,
        "format": 1,
    }, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _cache_file(model: TorchModel, layer: str, key: str) -> Path:
    return home() / "activations" / (model.identifier or "model") / f"{layer}-{key[:24]}.npy"


def get_activations(model: TorchModel, stimuli: StimulusSet, layers: Sequence[str],
                    prep: Preprocessing, device: torch.device, batch_size: int = 32,
                    progress: bool = True, use_cache: bool = True) -> dict[str, np.ndarray]:
    """Activations of ``layers`` for every stimulus, from the cache or one forward pass.

    Returns:
        layer -> read-only float32 memmap ``(stimulus, C, H, W)`` or ``(stimulus, F)``.
    """
    layers = model.check_layers(layers)
    files = {layer: _cache_file(model, layer, activation_key(model, layer, prep, stimuli))
             for layer in layers}
    missing = [layer for layer in layers if not (use_cache and files[layer].is_file())]
    if missing:
        _extract(model, stimuli, missing, prep, device, batch_size, progress, files)
    return {layer: np.load(files[layer], mmap_mode="r") for layer in layers}


def _extract(model: TorchModel, stimuli: StimulusSet, layers: list[str], prep: Preprocessing,
             device: torch.device, batch_size: int, progress: bool, files: dict[str, Path]) -> None:
    from tqdm.auto import tqdm

    model.to(device)
    n = len(stimuli)
    writers: dict[str, np.memmap] = {}
    temps = {layer: files[layer].with_name(f".{files[layer].name}.{os.getpid()}.tmp") for layer in layers}
    try:
        bar = tqdm(total=n, desc=f"{model.identifier} activations", unit="img", disable=not progress,
                   leave=False)
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            batch = torch.stack([to_tensor(stimuli.image(k), prep) for k in range(start, stop)]).to(device)
            outputs = model.forward_layers(batch, layers)
            for layer, value in outputs.items():
                if layer not in writers:
                    temps[layer].parent.mkdir(parents=True, exist_ok=True)
                    writers[layer] = np.lib.format.open_memmap(
                        temps[layer], mode="w+", dtype=np.float32, shape=(n, *value.shape[1:]))
                writers[layer][start:stop] = value.float().cpu().numpy()
            bar.update(stop - start)
        bar.close()
        for layer, writer in writers.items():
            writer.flush()
            del writer
            os.replace(temps[layer], files[layer])
        writers.clear()
    finally:
        writers.clear()
        for temp in temps.values():
            temp.unlink(missing_ok=True)
