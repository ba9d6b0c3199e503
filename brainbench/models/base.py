"""The model plugin contract.

A model entry's ``python_name`` names a factory ``(**params) -> TorchModel``. The
registry entry declares the model's layers and preprocessing; :func:`load_model`
builds the model and attaches them, so the manifest stays the single source of truth.

A :class:`TorchModel` wraps any ``torch.nn.Module`` and a map from layer names to
dotted submodule paths; activations are read with forward hooks, so the network's
own ``forward`` is never reimplemented.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import torch

# ModelError is defined with the other errors (rdm.py raises it too) and stays importable from here
from brainbench.errors import ModelError
from brainbench.models.tokens import TOKENS_VERSION, TokenRule, apply_rule, check_rule
from brainbench.progress import tqdm
from brainbench.registry.manifest import ModelEntry, Preprocessing

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from brainbench.models.preprocess import PlacedImages
    from brainbench.models.rdm import RDMModel


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device cuda was asked for but no CUDA GPU is available; use --device cpu or auto.")
    return device


class TorchModel:
    """A network plus the submodules whose outputs are its layers.

    Args:
        module: the network, in eval mode after construction.
        layer_modules: layer name -> dotted submodule path (``"features.1"``).
        identifier: model id (set from the registry by :func:`load_model`).
        preprocessing: input placement and normalisation.
        tokens: the rule that turns a layer's ``(B, T, D)`` tokens into features
            (:mod:`brainbench.models.tokens`); None keeps them as they are.
        prefix_tokens: leading non-patch tokens of the token layers (class, register tokens).
    """

    def __init__(
        self,
        module: torch.nn.Module,
        layer_modules: Mapping[str, str],
        identifier: str = "",
        preprocessing: Preprocessing | None = None,
        layers: Sequence[str] | None = None,
        tokens: TokenRule | None = None,
        prefix_tokens: int = 1,
    ) -> None:
        self.module = module.eval()
        self.tokens = check_rule(tokens)
        self.prefix_tokens = int(prefix_tokens)
        self.entry: ModelEntry | None = None  # the registry entry it was built from (load_model)
        self.layer_modules = dict(layer_modules)
        self.identifier = identifier
        self.preprocessing = preprocessing or Preprocessing()
        self.layers = list(layers or self.layer_modules)
        named = dict(self.module.named_modules())
        for layer, path in self.layer_modules.items():
            if path not in named:
                raise ModelError(f"layer {layer!r} points to {path!r}, which the network does not have.")

    @cached_property
    def weights_hash(self) -> str:
        """sha256 over the ordered parameter and buffer names, shapes and bytes."""
        digest = hashlib.sha256()
        for name, tensor in sorted(self.module.state_dict().items()):
            array = tensor.detach().cpu().contiguous()
            digest.update(f"{name}:{tuple(array.shape)}:{array.dtype}".encode())
            # reshape(-1) first: a 0-dim tensor (BatchNorm's num_batches_tracked) cannot be viewed as bytes
            digest.update(array.reshape(-1).view(torch.uint8).numpy().tobytes() if array.numel() else b"")
        return digest.hexdigest()

    def set_weights_hash(self, value: str) -> None:
        """Use ``value`` as the weights hash (a checkpoint's file sha256) instead of hashing the tensors."""
        self.__dict__["weights_hash"] = value  # replaces the cached_property's value for this instance

    def token_key(self) -> dict[str, Any] | None:
        """The token rule as it enters activation and run keys (None: tokens kept as they are)."""
        if self.tokens is None:
            return None
        return {"rule": self.tokens, "prefix_tokens": self.prefix_tokens, "version": TOKENS_VERSION}

    def check_layers(self, layers: Sequence[str]) -> list[str]:
        """``layers`` if each is a declared layer name or a dotted module path of the network.

        A module path (``"layer3.1.conv2"``) becomes a layer of the same name, read from
        that submodule's output; ``brainbench layers MODEL`` lists the paths.
        """
        named = dict(self.module.named_modules())
        unknown = [layer for layer in layers if layer not in self.layer_modules and (not layer or layer not in named)]
        if unknown:
            raise ModelError(
                f"model {self.identifier!r} has no layer {unknown[0]!r}; its layers are {', '.join(self.layers)}, "
                f"and any module path that `brainbench layers {self.identifier}` lists is accepted too."
            )
        for layer in layers:
            self.layer_modules.setdefault(layer, layer)
        return list(layers)

    @torch.no_grad()
    def module_shapes(self, size: int | None = None) -> list[tuple[str, tuple[int, ...] | None]]:
        """Every submodule's dotted path and output shape for one zero image.

        Args:
            size: input side in pixels (default: the model's preprocessing size, 224 for most).
        Returns:
            ``(path, shape)`` in the order of ``named_modules()``, the shape without the batch
            axis (``(C, H, W)``, ``(tokens, D)`` or ``(F,)``); None where the output is not a tensor.
        """
        side = size or self.preprocessing.size
        shapes: dict[str, tuple[int, ...] | None] = {}
        handles = []
        for path, sub in self.module.named_modules():
            if not path:
                continue

            def hook(_module: torch.nn.Module, _inputs: Any, output: Any, path: str = path) -> None:
                shapes[path] = tuple(output.shape[1:]) if isinstance(output, torch.Tensor) else None

            handles.append(sub.register_forward_hook(hook))
        device = next(iter(self.module.parameters()), torch.zeros(())).device
        try:
            self.module(torch.zeros(1, 3, side, side, device=device))
        finally:
            for handle in handles:
                handle.remove()
        return [(path, shapes[path]) for path, _ in self.module.named_modules() if path in shapes]

    @torch.no_grad()
    def forward_layers(self, batch: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """Activations of ``layers`` for an input batch.

        Args:
            batch: ``(B, 3, S, S)`` preprocessed images on the model's device.
        Returns:
            layer -> ``(B, C, H, W)`` (or ``(B, F)`` for fully connected layers); a token
            layer's ``(B, T, D)`` under the model's token rule (:mod:`brainbench.models.tokens`).
        """
        layers = self.check_layers(layers)  # a module path becomes a layer here too
        named = dict(self.module.named_modules())
        outputs: dict[str, torch.Tensor] = {}
        handles = []
        for layer in layers:

            def hook(_module: torch.nn.Module, _inputs: Any, output: Any, layer: str = layer) -> None:
                if not isinstance(output, torch.Tensor):
                    raise ModelError(
                        f"layer {layer!r} ({self.layer_modules[layer]}) outputs a "
                        f"{type(output).__name__}, not a tensor; pick another module path."
                    )
                value = output.detach()
                if self.tokens is not None:
                    value = apply_rule(value, self.tokens, self.prefix_tokens, layer)
                outputs[layer] = value.clone()

            handles.append(named[self.layer_modules[layer]].register_forward_hook(hook))
        try:
            self.module(batch)
        finally:
            for handle in handles:
                handle.remove()
        silent = [layer for layer in layers if layer not in outputs]
        if silent:
            raise ModelError(
                f"layer {silent[0]!r} ({self.layer_modules[silent[0]]}) does not run in the network's "
                "eval-mode forward pass (an auxiliary head?); pick another module path."
            )
        return outputs

    def forward_batches(
        self, images: PlacedImages, layers: Sequence[str], device: torch.device, batch_size: int, progress: bool
    ) -> Iterator[dict[str, np.ndarray]]:
        """One pass of the network over placed images, batch by batch (a progress bar over the images).

        Args:
            images: the stimulus set's placed images (:class:`~brainbench.models.preprocess.PlacedImages`).
            layers: layer names (checked by :meth:`forward_layers`).
        Yields:
            per batch, layer -> float32 ``(B, ...)`` rows on the CPU.
        """
        self.to(device)
        n = len(images.stimuli)
        bar = tqdm(total=n, desc=f"{self.identifier} activations", unit="img", disable=not progress, leave=False)
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            outputs = self.forward_layers(images.batch(start, stop).to(device), layers)
            yield {layer: value.float().cpu().numpy() for layer, value in outputs.items()}
            bar.update(stop - start)
        bar.close()

    def to(self, device: torch.device) -> TorchModel:
        self.module.to(device)
        return self


def load_model(entry: ModelEntry) -> TorchModel | RDMModel:
    """Build the model of a registry entry and attach its id, layers and preprocessing.

    Returns:
        A :class:`TorchModel`, or for an entry with ``supplies = "rdm"`` a
        :class:`brainbench.models.rdm.RDMModel` (id and layers attached).
    """
    from brainbench.registry import load_object

    factory = load_object(entry.python_name)
    model = factory(**entry.factory_params())
    if entry.supplies == "rdm":
        from brainbench.models.rdm import RDMModel

        if not isinstance(model, RDMModel):
            raise ModelError(f"{entry.python_name} returned {type(model).__name__}, not an RDMModel.")
        model.identifier = entry.id
        model.layers = model.check_layers(entry.layers)
        return model
    if not isinstance(model, TorchModel):
        raise ModelError(f"{entry.python_name} returned {type(model).__name__}, not a TorchModel.")
    model.identifier = entry.id
    model.entry = entry
    model.preprocessing = entry.preprocessing
    model.layers = model.check_layers(entry.layers)
    if entry.tokens is not None:
        model.tokens = entry.tokens
    return model
