"""AlexNet (Krizhevsky, Sutskever & Hinton 2012) from torchvision.

Krizhevsky, A., Sutskever, I., & Hinton, G. E. (2012). ImageNet classification with
deep convolutional neural networks. Advances in Neural Information Processing Systems 25.

Layers are read after each ReLU (``conv1``..``conv5``, ``fc6``, ``fc7``) and after the
last max-pool (``pool5``). Pretrained weights come through torchvision's own weight
mechanism (``AlexNet_Weights.IMAGENET1K_V1``, cached under ``$TORCH_HOME/hub/checkpoints``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from brainbench.data.fetch import offline
from brainbench.models.base import ModelError, TorchModel

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum

LAYERS = {
    "conv1": "features.1",
    "conv2": "features.4",
    "conv3": "features.7",
    "conv4": "features.9",
    "conv5": "features.11",
    "pool5": "features.12",
    "fc6": "classifier.2",
    "fc7": "classifier.5",
}


def _weights_file(weights: WeightsEnum) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def alexnet(pretrained: bool = True, seed: int = 0) -> TorchModel:
    """AlexNet with ImageNet weights, or seeded random initialisation.

    Args:
        pretrained: load ``IMAGENET1K_V1`` (downloaded once by torchvision, hash-checked).
        seed: seed of the random initialisation when ``pretrained`` is False.
    """
    from torchvision.models import AlexNet_Weights
    from torchvision.models import alexnet as tv_alexnet

    if not pretrained:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = tv_alexnet(weights=None)
        return TorchModel(module, LAYERS)

    weights = AlexNet_Weights.IMAGENET1K_V1
    cached = _weights_file(weights)
    if offline() and not cached.is_file():
        raise ModelError(
            f"AlexNet's ImageNet weights are not cached and BRAINBENCH_OFFLINE=1: put {cached.name} at "
            f"{cached} (from {weights.url}), or use the model 'alexnet-untrained'."
        )
    try:
        module = tv_alexnet(weights=weights, progress=True)
    except Exception as error:  # no network, proxy, corrupt file: one sentence
        raise ModelError(
            f"could not load AlexNet's ImageNet weights ({error}); they are expected at {cached} "
            f"(from {weights.url}); or use the model 'alexnet-untrained'."
        ) from error
    return TorchModel(module, LAYERS)
