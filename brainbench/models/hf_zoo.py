"""Hugging Face vision encoders as models: ids ``hf/<model id>[:untrained]`` (the optional ``huggingface`` extra).

:meth:`brainbench.registry.registry.Registry.model` hands an id with the prefix ``hf/`` to
:func:`model_entry`. ``<model id>`` is a Hub repository of a vision encoder that
``transformers`` builds: ViT (``google/vit-base-patch16-224``; Dosovitskiy et al. 2021,
ICLR), DINOv2 (``facebook/dinov2-small``; Oquab et al. 2024, TMLR), the image tower of CLIP
(``openai/clip-vit-base-patch32``; Radford et al. 2021, ICML) or SigLIP, and others that
``AutoModel`` maps to an image encoder. Weights and configuration come through
``transformers``' own mechanism (the Hugging Face Hub cache); ``:untrained`` builds the
configuration with random init under ``torch.manual_seed(0)``.

Preprocessing: input size, mean and std from the repository's ``preprocessor_config.json``
(``crop_size``, else ``size``; ``image_mean``, ``image_std``), else the configuration's
``image_size`` and ImageNet statistics; placement ``resize`` as for every model.

Default layers: every transformer block (the longest ``layer``/``layers`` module list,
e.g. ``encoder.layer.N`` or ``layers.N``). Blocks output tokens ``(B, T, D)``: one class
token (none for SigLIP; plus any register tokens), then the patches; the entry declares
the token rule ``flatten`` (:mod:`brainbench.models.tokens`; ``--tokens`` picks another).

:func:`hf_encoder` makes a model of a configuration or module in memory, without the Hub
(tests use tiny random configurations; a locally trained encoder goes the same way).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from brainbench.models.base import ModelError, TorchModel
from brainbench.models.timm_zoo import hub_offline
from brainbench.registry.manifest import ModelEntry, Preprocessing, TokenRule

PREFIX = "hf/"
UNTRAINED = "untrained"
PATTERN = "hf/<model id>[:untrained]"
DEFAULT_TOKENS: TokenRule = "flatten"
#: Model types whose image tower is a class of its own (``AutoModel`` would build both towers).
VISION_TOWERS = {"clip": "CLIPVisionModel", "siglip": "SiglipVisionModel", "siglip2": "Siglip2VisionModel"}


def _transformers() -> Any:
    try:
        import transformers
    except ImportError as error:
        raise ModelError("Hugging Face models need transformers: pip install 'brainbench[huggingface]'.") from error
    return transformers


def parse(model_id: str) -> tuple[str, bool]:
    """``(repository id, pretrained)`` of an ``hf/...`` id."""
    if not model_id.startswith(PREFIX) or len(model_id) == len(PREFIX):
        raise ModelError(f"{model_id!r} is not a Hugging Face model id; write it as {PATTERN}.")
    repo, _, tag = model_id[len(PREFIX) :].partition(":")
    if tag not in ("", UNTRAINED):
        raise ModelError(f"{model_id!r} ends in ':{tag}'; the only tag of {PATTERN} is ':{UNTRAINED}'.")
    return repo, tag != UNTRAINED


def _cache_folder(repo: str) -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}"


def _hub_error(repo: str, file: str, error: Exception | None, fallback: str = "") -> ModelError:
    """One sentence: which file is missing and where it goes."""
    why = (
        "is not in the local cache and the network is off (BRAINBENCH_OFFLINE or HF_HUB_OFFLINE)"
        if error is None or hub_offline()
        else f"could not be loaded ({' '.join(str(error).split())[:160]})"
    )
    return ModelError(
        f"Hugging Face model {repo}: {file} {why}; put the repository's files in {_cache_folder(repo)} "
        f"(`hf download {repo}` on a machine with network, then copy that folder){fallback}."
    )


def load_config(repo: str) -> Any:
    """The repository's configuration (the vision tower's for CLIP-like models)."""
    transformers = _transformers()
    try:
        config = transformers.AutoConfig.from_pretrained(repo, local_files_only=hub_offline())
    except OSError as error:
        raise _hub_error(repo, "config.json", error) from error
    return config


def _tower_config(config: Any) -> Any:
    return config.vision_config if config.model_type in VISION_TOWERS else config


def build_module(config: Any) -> torch.nn.Module:
    """A randomly initialised image encoder of ``config`` (a full CLIP config builds its image tower)."""
    transformers = _transformers()
    return transformers.AutoModel.from_config(_tower_config(config))


def preprocessing_of(repo: str | None, config: Any) -> Preprocessing:
    """Size, mean and std from the repository's image processor file, else the config's image size."""
    processor: dict[str, Any] = {}
    if repo is not None:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo, "preprocessor_config.json")
        if not isinstance(found, str) and not hub_offline():
            try:
                from huggingface_hub import hf_hub_download

                found = hf_hub_download(repo, "preprocessor_config.json")
            except Exception:  # no processor file: the configuration's size and ImageNet statistics
                found = None
        if isinstance(found, str):
            processor = json.loads(Path(found).read_text())
    size_spec = processor.get("crop_size") or processor.get("size") or {}
    if isinstance(size_spec, dict):
        size = size_spec.get("height") or size_spec.get("shortest_edge")
    else:
        size = size_spec
    tower = _tower_config(config)
    default = Preprocessing()
    side: Any = size or getattr(tower, "image_size", default.size)
    return Preprocessing(
        size=int(side),
        mean=tuple(processor.get("image_mean", default.mean)),
        std=tuple(processor.get("image_std", default.std)),
        placement="resize",
    )


def prefix_tokens_of(config: Any) -> int:
    """Leading non-patch tokens of the encoder's blocks: the class token plus any register tokens."""
    tower = _tower_config(config)
    if str(tower.model_type).startswith("siglip"):
        return 0
    return 1 + int(getattr(tower, "num_register_tokens", 0) or 0)


def default_layers(module: torch.nn.Module) -> list[str]:
    """Every block of the longest module list named ``layer``, ``layers`` or ``blocks``."""
    lists = [
        (name, child)
        for name, child in module.named_modules()
        if isinstance(child, torch.nn.ModuleList) and name.rpartition(".")[2] in ("layer", "layers", "blocks")
    ]
    if not lists:
        return [name for name, _ in module.named_children()]
    name, blocks = max(lists, key=lambda pair: len(pair[1]))
    return [f"{name}.{index}" for index in range(len(blocks))]


@lru_cache(maxsize=32)
def model_entry(model_id: str) -> ModelEntry:
    """The synthesized registry entry of an ``hf/<model id>[:untrained]`` id (see the module docstring)."""
    repo, pretrained = parse(model_id)
    config = load_config(repo)
    with torch.device("meta"):
        skeleton = build_module(config)
    canonical = f"{PREFIX}{repo}" if pretrained else f"{PREFIX}{repo}:{UNTRAINED}"
    kind = _tower_config(config).model_type
    return ModelEntry(
        id=canonical,
        source="Hugging Face model family (brainbench.models.hf_zoo)",
        python_name="brainbench.models.hf_zoo:hf_model",
        description=(
            f"Hugging Face {repo} ({kind})" + (" with its weights." if pretrained else " with seeded random init.")
        ),
        license="the repository's licence (see its model card)",
        url=f"https://huggingface.co/{repo}",
        layers=default_layers(skeleton),
        weights=f"Hugging Face {repo}" if pretrained else "random init, torch.manual_seed(0)",
        preprocessing=preprocessing_of(repo, config),
        tokens=DEFAULT_TOKENS,
        info={"model_type": kind},
        params={"repo": repo, "pretrained": pretrained, "seed": 0},
    )


def hf_model(repo: str, pretrained: bool = True, seed: int = 0) -> TorchModel:
    """A Hugging Face image encoder with its weights, or seeded random init."""
    transformers = _transformers()
    config = load_config(repo)
    if pretrained:
        kind = config.model_type
        loader = getattr(transformers, VISION_TOWERS[kind]) if kind in VISION_TOWERS else transformers.AutoModel
        fallback = f", or use the model '{PREFIX}{repo}:{UNTRAINED}'"
        try:
            module = loader.from_pretrained(repo, local_files_only=hub_offline())
        except OSError as error:
            raise _hub_error(repo, "model.safetensors", error, fallback) from error
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = build_module(config)
    return TorchModel(module, {p: p for p in default_layers(module)}, prefix_tokens=prefix_tokens_of(config))


def hf_encoder(
    source: Any,
    identifier: str,
    *,
    preprocessing: Preprocessing | None = None,
    tokens: TokenRule | None = DEFAULT_TOKENS,
    layers: list[str] | None = None,
    seed: int = 0,
) -> TorchModel:
    """A model of a ``transformers`` configuration (built with random init, seed ``seed``) or module.

    Args:
        source: a ``PretrainedConfig`` (e.g. ``ViTConfig(hidden_size=32, num_hidden_layers=2, ...)``)
            or a ``PreTrainedModel`` already built (e.g. one you trained).
        identifier: the model's id (a safe name, e.g. ``my-vit``).
        preprocessing: default: the configuration's image size, ImageNet mean and std.
        tokens: the token rule (:mod:`brainbench.models.tokens`).
        layers: default: every transformer block.
    """
    transformers = _transformers()
    if isinstance(source, transformers.PretrainedConfig):
        config = source
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = build_module(config)
    elif isinstance(source, torch.nn.Module) and hasattr(source, "config"):
        module, config = source, source.config
    else:
        raise ModelError(f"hf_encoder needs a transformers configuration or model, not a {type(source).__name__}.")
    net = TorchModel(
        module,
        {p: p for p in default_layers(module)},
        identifier=identifier,
        preprocessing=preprocessing or preprocessing_of(None, config),
        tokens=tokens,
        prefix_tokens=prefix_tokens_of(config),
    )
    net.layers = net.check_layers(layers or net.layers)
    return net
