"""A small convolutional network, untrained (seeded random initialisation).

Four layers read after their ReLU (``conv1``..``conv3``) and after an adaptive average
pool (``pool``), on 64 x 64 inputs:

======  =================  ===================
layer   submodule          activation shape
======  =================  ===================
conv1   ``features.1``     (16, 32, 32)
conv2   ``features.3``     (32, 16, 16)
conv3   ``features.5``     (64, 8, 8)
pool    ``features.6``     (64, 4, 4)
======  =================  ===================
"""

from __future__ import annotations

import torch

from brainbench.models import TorchModel

LAYERS = {"conv1": "features.1", "conv2": "features.3", "conv3": "features.5", "pool": "features.6"}


class SmallCNN(torch.nn.Module):
    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, width, 5, stride=2, padding=2),
            torch.nn.ReLU(),
            torch.nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(4),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def small_cnn(width: int = 16, seed: int = 0) -> TorchModel:
    """The network with PyTorch's default initialisation under ``torch.manual_seed(seed)``.

    The global RNG state is restored afterwards, so building the model never changes
    what other code draws.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = SmallCNN(width)
    return TorchModel(module, LAYERS)
