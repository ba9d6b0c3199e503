"""Any timm network as a model: ids ``timm/ARCH[:TAG|:untrained]`` (the optional ``timm`` extra).

Like :mod:`brainbench.models.torchvision_zoo`, no manifest lists these one by one;
:meth:`brainbench.registry.registry.Registry.model` hands an id with the prefix ``timm/``
to :func:`model_entry`:

- ``ARCH`` is one of ``timm.list_models()`` (Wightman, R. (2019). PyTorch Image Models.
  https://github.com/huggingface/pytorch-image-models);
- ``:TAG`` names one of its pretrained configurations (``timm.list_pretrained("ARCH.*")``,
  e.g. ``a1_in1k`` for ``resnet18.a1_in1k``); left out, it is timm's default tag, and the
  entry's id names it (``timm/resnet18`` becomes ``timm/resnet18:a1_in1k``). Weights come
  through timm's own mechanism (the Hugging Face Hub cache, or ``$TORCH_HOME/hub/checkpoints``
  for configurations that only have a URL);
- ``:untrained`` is timm's initialisation under ``torch.manual_seed(0)``.

Preprocessing comes from the configuration's data config
(``timm.data.resolve_data_config``): input size, mean and std; placement ``resize`` (the
whole stimulus is shown, as for every model); its ``crop_pct`` and interpolation are
kept in the entry's ``info``.

Default layers (:func:`default_layers`): the stages timm's ``feature_info`` lists for
CNNs (those at stride 4 and beyond: ``layer1`` .. ``layer4`` of a ResNet), the
transformer blocks (``blocks.N``) for ViTs; without ``feature_info``, every ``blocks.N``
or ``stages.N``, else the top-level children. Transformer blocks output tokens; their
entries declare the token rule ``flatten`` (:mod:`brainbench.models.tokens`; ``--tokens``
picks another). ``brainbench layers timm/ARCH`` lists every module path. A few
architectures (Swin, some MaxViT stages) output channels-last ``(B, H, W, C)`` maps: the
ridge readouts flatten them and are unaffected, but the spatial and factored readouts
would read ``H`` as channels, so score those with a non-spatial readout.
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

PREFIX = "timm/"
UNTRAINED = "untrained"
PATTERN = "timm/<arch>[:<pretrained tag>|:untrained]"
#: The token rule of timm's transformer layers unless the user picks another.
DEFAULT_TOKENS = "flatten"


def _timm() -> Any:
    try:
        import timm
    except ImportError as error:
        raise ModelError("timm models need the timm package: pip install 'brainbench[timm]'.") from error
    return timm


def _close(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def parse(model_id: str) -> tuple[str, str | None]:
    """``(architecture, pretrained tag or None for untrained)`` of a ``timm/...`` id."""
    timm = _timm()
    if not model_id.startswith(PREFIX):
        raise ModelError(f"{model_id!r} is not a timm model id; write it as {PATTERN}.")
    arch, _, tag = model_id[len(PREFIX) :].partition(":")
    architectures = timm.list_models()
    if arch not in architectures:
        raise ModelError(
            f"timm has no architecture {arch!r}{_close(arch, architectures)}; timm.list_models() lists them."
        )
    if tag == UNTRAINED:
        return arch, None
    tags = [name.partition(".")[2] for name in timm.list_pretrained(f"{arch}.*")]
    if tag == "":
        default = timm.models.get_pretrained_cfg(arch)
        if default is None or not default.tag:
            raise ModelError(f"timm's {arch} has no pretrained weights; use the model '{PREFIX}{arch}:{UNTRAINED}'.")
        return arch, str(default.tag)
    if tag not in tags:
        listed = ", ".join(tags) if tags else "none"
        raise ModelError(
            f"timm's {arch} has no pretrained tag {tag!r}{_close(tag, [*tags, UNTRAINED])}; its tags are {listed}, "
            f"or ':{UNTRAINED}' for seeded random init."
        )
    return arch, tag


def _pretrained_cfg(arch: str, tag: str | None) -> Any:
    timm = _timm()
    return timm.models.get_pretrained_cfg(f"{arch}.{tag}" if tag else arch)


@lru_cache(maxsize=64)
def model_entry(model_id: str) -> ModelEntry:
    """The synthesized registry entry of a ``timm/ARCH[:TAG|:untrained]`` id (see the module docstring)."""
    arch, tag = parse(model_id)
    timm = _timm()
    from timm.data import resolve_data_config

    with torch.device("meta"):  # the module tree only
        skeleton = timm.create_model(arch, pretrained=False)
    cfg = _pretrained_cfg(arch, tag)
    data = resolve_data_config(pretrained_cfg=cfg.to_dict()) if cfg is not None else {}
    if not data:
        data = resolve_data_config({}, model=skeleton)
    preprocessing = Preprocessing(
        size=int(data["input_size"][-1]), mean=tuple(data["mean"]), std=tuple(data["std"]), placement="resize"
    )
    info = {"crop_pct": data.get("crop_pct"), "interpolation": data.get("interpolation")}
    if tag is None:
        canonical = f"{PREFIX}{arch}:{UNTRAINED}"
        description = f"timm {arch} with seeded random initialisation (timm's init, seed 0): an untrained baseline."
        weights = "random init, torch.manual_seed(0)"
    else:
        canonical = f"{PREFIX}{arch}:{tag}"
        description = f"timm {arch}.{tag} with its pretrained weights."
        weights = f"timm {arch}.{tag} ({cfg.hf_hub_id or cfg.url})"
        info["hf_hub_id"] = cfg.hf_hub_id or ""
    tokens = DEFAULT_TOKENS if hasattr(skeleton, "num_prefix_tokens") else None
    return ModelEntry(
        id=canonical,
        source="timm model family (brainbench.models.timm_zoo)",
        python_name="brainbench.models.timm_zoo:timm_model",
        description=description,
        citation="Wightman, R. (2019). PyTorch Image Models. https://github.com/huggingface/pytorch-image-models",
        license="Apache-2.0 (timm); pretrained weights under the licence of their configuration",
        url=str(getattr(cfg, "origin_url", "") or "") if cfg is not None else "",
        layers=default_layers(skeleton),
        weights=weights,
        preprocessing=preprocessing,
        tokens=tokens,
        info=info,
        params={"arch": arch, "tag": tag, "seed": 0},
    )


def default_layers(net: torch.nn.Module) -> list[str]:
    """The default layer set of a timm network (the rule is in the module docstring)."""
    info = getattr(net, "feature_info", None)
    if info:
        entries = info.info if hasattr(info, "info") else info
        modules = [str(f["module"]) for f in entries if int(f.get("reduction", 4)) >= 4 and f.get("module")]
        named = dict(net.named_modules())
        if modules and all(m in named for m in modules):
            return modules
    for container in ("blocks", "stages"):
        children = getattr(net, container, None)
        if isinstance(children, (torch.nn.ModuleList, torch.nn.Sequential)) and len(children):
            return [f"{container}.{name}" for name, _ in children.named_children()]
    return [
        name
        for name, child in net.named_children()
        if not isinstance(child, (torch.nn.Dropout, torch.nn.Identity)) and name not in ("head", "fc", "classifier")
    ]


def weights_location(cfg: Any) -> tuple[str, Path | None]:
    """``(file name, cached path or None)`` of a pretrained configuration's weights."""
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        for name in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"):
            found = try_to_load_from_cache(cfg.hf_hub_id, name)
            if isinstance(found, str):
                return name, Path(found)
        return "model.safetensors", None
    file = os.path.basename(str(cfg.url or cfg.file or ""))
    cached = Path(torch.hub.get_dir()) / "checkpoints" / file
    return file, cached if file and cached.is_file() else None


def where_to_put(cfg: Any, file: str) -> str:
    """Where a missing weights file goes, as a clause of one sentence."""
    if cfg.hf_hub_id:
        from huggingface_hub import constants

        folder = Path(constants.HF_HUB_CACHE) / f"models--{cfg.hf_hub_id.replace('/', '--')}"
        return (
            f"{file} of https://huggingface.co/{cfg.hf_hub_id} into the Hugging Face cache {folder} "
            f"(`hf download {cfg.hf_hub_id} {file}` on a machine with network, then copy that folder)"
        )
    return f"{file} (from {cfg.url}) into {Path(torch.hub.get_dir()) / 'checkpoints'} ($TORCH_HOME/hub/checkpoints)"


def hub_offline() -> bool:
    """Whether brainbench or the Hugging Face Hub is told not to use the network."""
    return offline() or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def timm_model(arch: str, tag: str | None, seed: int = 0) -> TorchModel:
    """A timm network with the pretrained configuration ``tag``, or seeded random init when ``tag`` is None."""
    timm = _timm()
    if tag is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = timm.create_model(arch, pretrained=False)
    else:
        cfg = _pretrained_cfg(arch, tag)
        file, cached = weights_location(cfg)
        fallback = f"or use the model '{PREFIX}{arch}:{UNTRAINED}'"
        if hub_offline() and cached is None:
            raise ModelError(
                f"timm's {arch}.{tag} weights are not cached and the network is off (BRAINBENCH_OFFLINE or "
                f"HF_HUB_OFFLINE): put {where_to_put(cfg, file)}, {fallback}."
            )
        try:
            module = timm.create_model(f"{arch}.{tag}", pretrained=True)
        except Exception as error:  # no network, proxy, corrupt file: one sentence
            reason = " ".join(str(error).split())[:160]
            raise ModelError(
                f"could not load timm's {arch}.{tag} weights ({reason}); put {where_to_put(cfg, file)}, {fallback}."
            ) from error
    return TorchModel(
        module,
        {path: path for path in default_layers(module)},
        prefix_tokens=int(getattr(module, "num_prefix_tokens", 1)),
    )
