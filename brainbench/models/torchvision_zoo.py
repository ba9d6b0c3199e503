"""Any torchvision classification network as a model: ids ``torchvision/ARCH[:WEIGHTS|:untrained]``.

No manifest lists these one by one; :meth:`brainbench.registry.registry.Registry.model`
hands an id with the prefix ``torchvision/`` to :func:`model_entry`, which synthesizes
its :class:`~brainbench.registry.manifest.ModelEntry`:

- ``ARCH`` is one of ``torchvision.models.list_models(module=torchvision.models)``;
- ``:WEIGHTS`` names a member of the architecture's weight enum
  (``torchvision.models.get_model_weights(ARCH)``, e.g. ``IMAGENET1K_V2``); left out, it is
  ``DEFAULT``. The entry's id names the member itself (``torchvision/resnet18`` becomes
  ``torchvision/resnet18:IMAGENET1K_V1``), so one network is one leaderboard row.
  Weights come through torchvision's own hash-checked download into
  ``$TORCH_HOME/hub/checkpoints``;
- ``:untrained`` is torchvision's default initialisation under ``torch.manual_seed(0)``.

Preprocessing comes from the weights' ``transforms()`` metadata: input size = its crop
size, its mean and std (ImageNet's for ``:untrained``), placement ``resize`` (the whole
stimulus is shown, as for every built-in model; the transform's resize size is kept in
the entry's ``info``).

Default layers (:func:`default_layers`), by architecture family:

- ResNet, ResNeXt, Wide ResNet: ``layer1`` .. ``layer4`` and ``avgpool``;
- VGG: each block's last pool (every ``MaxPool2d`` in ``features``);
- MobileNetV2/V3, EfficientNet (V1, V2): every block ``features.N``;
- DenseNet: ``features.transition1`` .. ``transition3`` (each dense block, pooled) and
  ``features.norm5``;
- ConvNeXt: the four stages ``features.1``, ``.3``, ``.5``, ``.7`` and ``avgpool``;
- Vision Transformer: every ``encoder.layers.encoder_layer_N`` (tokens x width);
- any other architecture: its top-level children, less auxiliary heads and dropout.

Any dotted module path is accepted as a layer (``--layers layer3.1``);
``brainbench layers MODEL`` lists them with their output shapes.
"""

from __future__ import annotations

import difflib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from brainbench.data.fetch import offline
from brainbench.models.base import ModelError, TorchModel
from brainbench.registry.manifest import ModelEntry, Preprocessing

PREFIX = "torchvision/"
UNTRAINED = "untrained"
#: the pattern ``brainbench list models`` shows for this family
PATTERN = "torchvision/<arch>[:WEIGHTS|:untrained]"


def _close(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=3, cutoff=0.5)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def parse(model_id: str) -> tuple[str, Any]:
    """``(architecture, weights enum member or None for untrained)`` of a ``torchvision/...`` id."""
    import torchvision.models as tvm

    if not model_id.startswith(PREFIX):
        raise ModelError(f"{model_id!r} is not a torchvision model id; write it as {PATTERN}.")
    arch, _, weights_name = model_id[len(PREFIX) :].partition(":")
    architectures = tvm.list_models(module=tvm)
    if arch not in architectures:
        raise ModelError(
            f"torchvision has no classification architecture {arch!r}{_close(arch, architectures)}; "
            "torchvision.models.list_models(module=torchvision.models) lists them."
        )
    if weights_name == UNTRAINED:
        return arch, None
    enum = tvm.get_model_weights(arch)
    names = [member.name for member in enum]
    if weights_name in ("", "DEFAULT"):
        return arch, enum.DEFAULT
    if weights_name not in names:
        raise ModelError(
            f"torchvision's {arch} has no weights {weights_name!r}"
            f"{_close(weights_name, [*names, 'DEFAULT', UNTRAINED])}; "
            f"its weights are {', '.join(names)}, or ':untrained' for seeded random init."
        )
    return arch, enum[weights_name]


@lru_cache(maxsize=64)
def model_entry(model_id: str) -> ModelEntry:
    """The synthesized registry entry of a ``torchvision/ARCH[:WEIGHTS|:untrained]`` id (see the module docstring)."""
    arch, weights = parse(model_id)
    import torchvision.models as tvm

    try:
        with torch.device("meta"):  # the module tree only: no memory, no initialisation cost
            skeleton = tvm.get_model(arch, weights=None)
    except Exception:  # an initialiser that needs real values: build it on the CPU once
        skeleton = tvm.get_model(arch, weights=None)
    layers = default_layers(skeleton)
    if weights is None:
        canonical = f"{PREFIX}{arch}:{UNTRAINED}"
        preprocessing = Preprocessing(placement="resize")
        description = (
            f"torchvision {arch} with seeded random initialisation (torchvision's default init, "
            "seed 0): an untrained baseline."
        )
        declared_weights, info, url = "random init, torch.manual_seed(0)", {}, ""
    else:
        canonical = f"{PREFIX}{arch}:{weights.name}"
        transform = weights.transforms()
        preprocessing = Preprocessing(
            size=int(transform.crop_size[0]), mean=tuple(transform.mean), std=tuple(transform.std), placement="resize"
        )
        accuracy = weights.meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1")
        reported = f" ({accuracy}% ImageNet top-1 as torchvision reports)" if accuracy is not None else ""
        description = f"torchvision {arch} with its {type(weights).__name__}.{weights.name} weights{reported}."
        declared_weights = f"torchvision {type(weights).__name__}.{weights.name} ({weights.url})"
        info = {"resize_size": list(transform.resize_size), "checkpoint": os.path.basename(weights.url)}
        url = str(weights.meta.get("recipe", ""))
    return ModelEntry(
        id=canonical,
        source="torchvision model family (brainbench.models.torchvision_zoo)",
        python_name="brainbench.models.torchvision_zoo:torchvision_model",
        description=description,
        license="BSD-3-Clause (torchvision); pretrained weights under the terms torchvision states for them",
        url=url,
        layers=layers,
        weights=declared_weights,
        preprocessing=preprocessing,
        info=info,
        params={"arch": arch, "weights": None if weights is None else weights.name, "seed": 0},
    )


def default_layers(net: torch.nn.Module) -> list[str]:
    """The default layer set of a torchvision network (the rule is in the module docstring)."""
    import torchvision.models as tvm

    if isinstance(net, tvm.ResNet):
        return ["layer1", "layer2", "layer3", "layer4", "avgpool"]
    if isinstance(net, tvm.VGG):
        return [f"features.{i}" for i, m in enumerate(net.features) if isinstance(m, torch.nn.MaxPool2d)]
    if isinstance(net, (tvm.MobileNetV2, tvm.MobileNetV3, tvm.EfficientNet)):
        return [f"features.{i}" for i in range(len(net.features))]
    if isinstance(net, tvm.DenseNet):
        return ["features.transition1", "features.transition2", "features.transition3", "features.norm5"]
    if isinstance(net, tvm.ConvNeXt):
        return ["features.1", "features.3", "features.5", "features.7", "avgpool"]
    if isinstance(net, tvm.VisionTransformer):
        return [f"encoder.layers.{name}" for name, _ in net.encoder.layers.named_children()]
    # auxiliary heads (Inception, GoogLeNet) do not run in eval mode; dropout repeats its input
    return [
        name
        for name, child in net.named_children()
        if not name.lower().startswith("aux") and not isinstance(child, torch.nn.Dropout)
    ]


def checkpoint_path(weights: Any) -> Path:
    """Where torchvision caches a weights member's file: ``$TORCH_HOME/hub/checkpoints/<file>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def torchvision_model(arch: str, weights: str | None, seed: int = 0) -> TorchModel:
    """A torchvision network with the named weights, or seeded random init when ``weights`` is None.

    Args:
        arch: torchvision architecture name (``"resnet18"``).
        weights: member of its weight enum (``"IMAGENET1K_V1"``), or None for untrained.
        seed: seed of the random initialisation (untrained only).
    """
    import torchvision.models as tvm

    if weights is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = tvm.get_model(arch, weights=None)
        return TorchModel(module, {path: path for path in default_layers(module)})
    _, member = parse(f"{PREFIX}{arch}:{weights}")
    cached = checkpoint_path(member)
    if offline() and not cached.is_file():
        raise ModelError(
            f"torchvision's {arch} weights {member.name} are not cached and BRAINBENCH_OFFLINE=1: put {cached.name} "
            f"in {cached.parent} ($TORCH_HOME/hub/checkpoints; from {member.url}), or use the model "
            f"'{PREFIX}{arch}:{UNTRAINED}'."
        )
    try:
        module = tvm.get_model(arch, weights=member)
    except Exception as error:  # no network, proxy, corrupt or hash-mismatched file: one sentence
        raise ModelError(
            f"could not load torchvision's {arch} weights {member.name} ({error}); they are expected at {cached} "
            f"(from {member.url}); or use the model '{PREFIX}{arch}:{UNTRAINED}'."
        ) from error
    return TorchModel(module, {path: path for path in default_layers(module)})
