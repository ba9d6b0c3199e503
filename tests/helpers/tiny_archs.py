"""Small architectures for the checkpoint tests, declared in test manifests (``helpers.tiny_archs:...``)."""

from __future__ import annotations

from brainbench.models.base import TorchModel


def mobilenet_v3_small(seed: int = 0) -> TorchModel:
    """torchvision's MobileNetV3-small with seeded random init (its manifest entry sets 64 x 64 pixels)."""
    from brainbench.models.torchvision_zoo import torchvision_model

    return torchvision_model("mobilenet_v3_small", None, seed=seed)
