"""A checkpoint file as a model: the weights a training run saved, in a named architecture.

``brainbench score runs/epoch_10.pt cowley2023-V4 --arch torchvision/resnet18`` and the
manifest form ``[models.my-net] checkpoint = "runs/epoch_10.pt", arch = "torchvision/resnet18"``
(path relative to the manifest) both end here:

- the architecture ``--arch`` is any model id: a family id (``torchvision/<arch>``,
  ``timm/<arch>``, ``hf/<model id>``) is built with random init (its weights tag, if any,
  only chooses the preprocessing), a declared model as declared (name an untrained one,
  e.g. ``alexnet-untrained``, so that no weights are loaded only to be replaced). Layers,
  preprocessing and token rule are the architecture's unless given;
- the file is read with ``torch.load(..., weights_only=True)`` (no code in it runs), or with
  ``safetensors`` for ``.safetensors``. Training checkpoints load as they are: a state dict
  under ``state_dict``, ``model_state_dict``, ``model``, ``net`` or ``module``
  (Lightning, most training loops), and key prefixes ``module.`` (DataParallel, DDP),
  ``model.`` (Lightning), ``_orig_mod.`` (``torch.compile``) or ``net.`` are stripped when
  that makes the keys match the architecture's;
- missing or unexpected keys (other than BatchNorm's ``num_batches_tracked`` counters) or
  mismatched shapes are refused in one sentence that names a few of them;
- the file's sha256 is the model's weights hash: it keys the activation cache and the
  run, so the same bytes are never scored twice and new bytes always are. The path is not
  part of the key (moving the file does not re-score it).

:func:`find_checkpoints` turns a glob or folder into an ordered series (a training
trajectory, :mod:`brainbench.results.trajectory`); :func:`open_checkpoints` finds, hashes
and checks such a series against its architecture, built once, and hands out one model per
checkpoint.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

# a checkpoint's sha256 is remembered under its file's fingerprint (path, size, mtime, ctime,
# inode) across processes: an unchanged file is never read again to hash it
from brainbench.caching.hash_cache import file_sha256
from brainbench.models.base import ModelError, TorchModel
from brainbench.registry.manifest import CheckpointEntry, Preprocessing, ResolvedCheckpointEntry, TokenRule

#: File name endings read as checkpoints when a folder is given.
SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors")
#: Keys under which training code nests the model's state dict, tried in this order.
STATE_KEYS = ("state_dict", "model_state_dict", "model", "net", "module")
#: Key prefixes that wrappers add: DataParallel/DDP, Lightning, torch.compile, a ``net`` attribute.
PREFIXES = ("module.", "model.", "_orig_mod.", "net.")
#: Buffers a checkpoint may lack without changing any activation (eval-mode BatchNorm ignores them).
OPTIONAL_SUFFIXES = ("num_batches_tracked",)
FACTORY = "brainbench.models.checkpoint:checkpoint_model"


def check_file(path: str | Path) -> Path:
    """``path`` as an absolute Path if it is a readable file, else one sentence."""
    path = Path(path).expanduser()
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise ModelError(f"checkpoint {path} {what}; pass the path of a saved state dict (e.g. runs/epoch_10.pt).")
    return path.resolve()


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, unwrapped from a training checkpoint's dict (see module docstring)."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            loaded: Any = load_file(str(path), device="cpu")
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except ImportError as error:
        raise ModelError(f"reading {path.name} needs the safetensors package; pip install safetensors.") from error
    except Exception as error:  # a pickled module or optimizer object, a truncated file: one sentence
        reason = " ".join(str(error).split())[:200]
        raise ModelError(
            f"checkpoint {path} cannot be read with torch.load(weights_only=True) ({reason}); save the "
            "weights as a state dict, e.g. torch.save(model.state_dict(), path)."
        ) from error
    for _ in range(3):  # e.g. {"state_dict": {...}} or {"model": {"state_dict": ...}}
        if not isinstance(loaded, Mapping) or all(isinstance(v, torch.Tensor) for v in loaded.values()):
            break
        nested = next((loaded[k] for k in STATE_KEYS if isinstance(loaded.get(k), Mapping)), None)
        if nested is None:
            break
        loaded = nested
    if not isinstance(loaded, Mapping) or not loaded:
        raise ModelError(
            f"checkpoint {path} holds a {type(loaded).__name__}, not a state dict (a dict of tensors, or one under "
            f"{', '.join(repr(k) for k in STATE_KEYS)}); save it with torch.save(model.state_dict(), path)."
        )
    tensors = {str(k): v for k, v in loaded.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ModelError(f"checkpoint {path} holds no tensors under {', '.join(map(repr, STATE_KEYS))}.")
    return tensors


def strip_prefixes(state: Mapping[str, torch.Tensor], expected: Sequence[str]) -> dict[str, torch.Tensor]:
    """``state`` with wrapper prefixes removed wherever that makes more keys match ``expected``."""
    wanted = set(expected)
    current = dict(state)
    for _ in range(len(PREFIXES)):  # "model.module." needs two rounds
        matched = len(wanted & current.keys())
        best = None
        for prefix in PREFIXES:
            stripped = {k.removeprefix(prefix): v for k, v in current.items()}
            if len(stripped) == len(current) and len(wanted & stripped.keys()) > matched:
                best, matched = stripped, len(wanted & stripped.keys())
        if best is None:
            break
        current = best
    return current


def _few(keys: Sequence[str], n: int = 3) -> str:
    shown = ", ".join(repr(k) for k in keys[:n])
    return f"{shown} and {len(keys) - n} more" if len(keys) > n else shown


def load_weights(module: torch.nn.Module, state: Mapping[str, torch.Tensor], path: Path, arch: str) -> None:
    """Copy ``state`` into ``module``, refusing missing, unexpected or misshapen keys in one sentence."""
    own = module.state_dict()
    state = strip_prefixes(state, list(own))
    missing = [k for k in own if k not in state and not k.endswith(OPTIONAL_SUFFIXES)]
    unexpected = [k for k in state if k not in own]
    problems = []
    if missing:
        problems.append(f"{len(missing)} of its keys are missing ({_few(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} are not in the architecture ({_few(unexpected)})")
    if not problems:
        wrong = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in state.items() if v.shape != own[k].shape]
        if wrong:
            problems.append(f"{len(wrong)} tensors have other shapes ({_few(wrong)})")
    if problems:
        raise ModelError(
            f"checkpoint {path.name} does not fit architecture {arch!r}: {' and '.join(problems)}; "
            "pass the --arch it was saved from (`brainbench layers ARCH` lists its modules)."
        )
    module.load_state_dict(state, strict=False)


def build_arch_id(arch: str) -> str:
    """The id that builds ``arch`` without pretrained weights: a family id becomes its ``:untrained`` variant."""
    from brainbench.registry.registry import MODEL_FAMILIES

    if "/" in arch and arch.partition("/")[0] in MODEL_FAMILIES:
        return f"{arch.rpartition(':')[0] if ':' in arch else arch}:untrained"
    return arch


def step_of(path: Path) -> int | None:
    """The last integer in a checkpoint's file stem (``epoch_10`` -> 10, ``step-5000-v2`` -> 2), or None."""
    numbers = re.findall(r"\d+", path.stem)
    return int(numbers[-1]) if numbers else None


def checkpoint_entry(
    path: str | Path,
    arch: str,
    *,
    identifier: str | None = None,
    layers: Sequence[str] | None = None,
    tokens: TokenRule | None = None,
    preprocessing: Preprocessing | None = None,
    registry: Any = None,
) -> ResolvedCheckpointEntry:
    """The model entry of a checkpoint file in architecture ``arch`` (checked and hashed, not loaded).

    Args:
        path: the checkpoint file.
        arch: a model id naming the architecture (see the module docstring).
        identifier: the model id (default ``checkpoint/<file stem>-<first 8 hex of sha256>``).
        layers, tokens, preprocessing: overrides of the architecture's.
    """
    from brainbench.registry import get_registry

    registry = registry or get_registry()
    file = check_file(path)
    named = registry.model(arch)  # an unknown architecture fails here, before the file is hashed
    build = build_arch_id(named.id)
    sha256 = file_sha256(file)
    safe_stem = re.sub(r"[^A-Za-z0-9._-]+", "_", file.stem).strip("._-")[:80] or "checkpoint"
    return ResolvedCheckpointEntry(
        id=identifier or f"checkpoint/{safe_stem}-{sha256[:8]}",
        source=f"checkpoint file {file}",
        python_name=FACTORY,
        description=f"the weights of {file.name} in the architecture of {arch}.",
        layers=list(layers or named.layers),
        params={"arch": build, "sha256": sha256},
        preprocessing=preprocessing or named.preprocessing,
        tokens=tokens if tokens is not None else named.tokens,
        weights=f"checkpoint file with sha256 {sha256}",  # no name or path: moving the file keeps the key
        info={"path": str(file), "arch": arch, "step": step_of(file)},
        checkpoint=str(file),
    )


def load_checkpoint(path: str | Path, arch: str, **overrides: Any) -> TorchModel:
    """A checkpoint file in architecture ``arch`` as a model (``brainbench.load_checkpoint``).

    ``overrides``: ``identifier``, ``layers``, ``tokens`` or ``preprocessing`` (see :func:`checkpoint_entry`).
    """
    from brainbench.models.base import load_model

    return _network(load_model(checkpoint_entry(path, arch, **overrides)), arch)


def manifest_checkpoint_entry(entry: CheckpointEntry) -> ResolvedCheckpointEntry:
    """A manifest's ``[models.ID] checkpoint = ..., arch = ...`` resolved (path relative to the manifest)."""
    path = Path(entry.checkpoint).expanduser()
    if not path.is_absolute():
        path = Path(entry.source).parent / path
    if not path.is_file():
        raise ModelError(
            f"{entry.source}: key 'models.{entry.id}.checkpoint': {path} does not exist; the path is relative to the "
            "manifest's folder."
        )
    resolved = checkpoint_entry(
        path,
        entry.arch,
        identifier=entry.id,
        layers=entry.layers,
        tokens=entry.tokens,
        preprocessing=entry.preprocessing,
    )
    return resolved.model_copy(
        update={"description": entry.description or resolved.description, "citation": entry.citation}
    )


def build_arch(arch: str) -> TorchModel:
    """The architecture ``arch`` (an id :func:`build_arch_id` returns) as a TorchModel."""
    from brainbench.models.base import load_model
    from brainbench.registry import get_registry

    return _network(load_model(get_registry().model(arch)), arch)


def _network(model: Any, arch: str) -> TorchModel:
    """``model`` if it is a network with weights; a model that supplies an RDM has none to load."""
    if not isinstance(model, TorchModel):
        raise ModelError(
            f"{arch!r} supplies an RDM, not a network: a checkpoint needs a network architecture as --arch."
        )
    return model


def checkpoint_model(arch: str, sha256: str, checkpoint: str) -> TorchModel:
    """The factory of a checkpoint entry: ``arch`` built, the file's weights loaded, its sha256 as weights hash."""
    path = check_file(checkpoint)
    if file_sha256(path) != sha256:
        raise ModelError(f"checkpoint {path} changed since it was named (its sha256 differs); run the command again.")
    net = build_arch(arch)
    load_weights(net.module, read_state_dict(path), path, arch)
    net.set_weights_hash(sha256)
    return net


def find_checkpoints(pattern: str | Path) -> list[Path]:
    """The checkpoint files a path, folder or glob names, in training order.

    A folder gives its files ending in :data:`SUFFIXES`; a glob (``runs/ckpt_*.pt``,
    ``**`` recursive) the files it matches. Order: by the number in each name
    (:func:`step_of`) when every name has a distinct one, else the natural order of the
    names (``ckpt_2`` before ``ckpt_10``).
    """
    text = str(pattern)
    path = Path(text).expanduser()
    if path.is_dir():
        files = [p for p in path.iterdir() if p.is_file() and p.suffix in SUFFIXES]
        where = f"folder {path} has no checkpoint files ({', '.join(SUFFIXES)})"
    elif glob.has_magic(text):
        files = [Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file()]
        where = f"no file matches {text!r}"
    else:
        return [check_file(path)]
    if not files:
        raise ModelError(f"{where}; pass a checkpoint file, a folder of them or a quoted glob such as 'runs/*.pt'.")
    files = [p.resolve() for p in files]
    steps = [step_of(p) for p in files]
    if None not in steps and len(set(steps)) == len(steps):
        return [p for _, p in sorted(zip(steps, files, strict=True), key=lambda pair: pair[0])]  # type: ignore[arg-type,return-value]
    return sorted(files, key=natural_key)


def natural_key(path: Path) -> list[Any]:
    """Sort key of a name in natural order: digit runs compare as numbers."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in re.split(r"(\d+)", path.name)]


def swap_weights(
    base: TorchModel, paths: Sequence[Path], entries: Sequence[ResolvedCheckpointEntry]
) -> Iterator[TorchModel]:
    """One model per checkpoint from one network ``base``: each step loads the next file's weights into it.

    A yielded model is valid until the next one is requested (they share ``base``'s network).
    A file rewritten since its entry was made (a training run that saves ``last.pt`` again
    while an analysis goes through the benchmarks) is refused in one sentence, as
    :func:`checkpoint_model` refuses it: its new weights under the entry's old sha256 and
    id would be a run named for other weights.
    """
    for path, entry in zip(paths, entries, strict=True):
        sha256 = file_sha256(path)  # remembered since the entry was made (a file older than 2 s): a stat
        if sha256 != entry.params["sha256"]:
            raise ModelError(
                f"checkpoint {path} changed since it was named (its sha256 differs); run the command again."
            )
        load_weights(base.module, read_state_dict(path), path, str(entry.params["arch"]))
        net = TorchModel(
            base.module,
            dict(base.layer_modules),
            identifier=entry.id,
            preprocessing=entry.preprocessing,
            tokens=entry.tokens,
            prefix_tokens=base.prefix_tokens,
        )
        net.layers = net.check_layers(entry.layers)
        net.entry = entry
        net.set_weights_hash(sha256)
        yield net


@dataclass(frozen=True)
class Checkpoints:
    """The checkpoints of one training run, each checked against one architecture, ready to score.

    Made by :func:`open_checkpoints`; the lists are aligned, in training order.

    Attributes:
        paths: the files (absolute).
        entries: each file's model entry (hashed; its sha256 is the weights hash).
        steps: the number in each file's name (:func:`step_of`), None where it has none.
        base: the architecture's network, built once; :meth:`nets` loads each file into it.
    """

    paths: list[Path]
    entries: list[ResolvedCheckpointEntry]
    steps: list[int | None]
    base: TorchModel

    def nets(self) -> Iterator[TorchModel]:
        """One model per checkpoint, in order, made on demand (:func:`swap_weights`); each is valid
        until the next is requested (they share :attr:`base`'s network). Each call starts again
        from the first checkpoint (one pass per benchmark)."""
        return swap_weights(self.base, self.paths, self.entries)


def open_checkpoints(
    checkpoints: str | os.PathLike | Sequence[str | os.PathLike],
    arch: str,
    *,
    layers: Sequence[str] | None = None,
    tokens: TokenRule | None = None,
    preprocessing: Preprocessing | None = None,
    registry: Any = None,
    progress: bool = True,
) -> Checkpoints:
    """Find, hash and check the checkpoints of a training run, and build their architecture once.

    Every file is read against the architecture here, so that a file that does not fit is
    refused in one sentence before any of them is scored.

    Args:
        checkpoints: a glob (``"runs/ckpt_*.pt"``), a folder or one file (:func:`find_checkpoints`),
            or a list of files (kept in the order given).
        arch: a model id naming the architecture (see the module docstring).
        layers, tokens, preprocessing: overrides of the architecture's.
        registry: where ``arch`` is looked up (default: the installed plugins').
        progress: show a progress bar while the files are hashed and checked.
    """
    from brainbench.progress import tqdm
    from brainbench.registry import get_registry

    if isinstance(checkpoints, (str, os.PathLike)):
        paths = find_checkpoints(os.fspath(checkpoints))
    else:
        paths = [check_file(os.fspath(p)) for p in checkpoints]
    if not paths:
        raise ModelError("no checkpoints were given; pass a glob, a folder or a list of checkpoint files.")
    steps = [step_of(p) for p in paths]
    registry = registry or get_registry()
    build = build_arch_id(registry.model(arch).id)  # an unknown architecture fails here, before any file is read
    base = build_arch(build)  # built once; each checkpoint's weights are loaded into it in turn
    entries = []
    for path in tqdm(paths, desc="hashing checkpoints", unit="file", disable=not progress, leave=False):
        entries.append(
            checkpoint_entry(path, arch, layers=layers, tokens=tokens, preprocessing=preprocessing, registry=registry)
        )
        load_weights(base.module, read_state_dict(path), path, build)  # every file before any scoring
    return Checkpoints(paths, entries, steps, base)


__all__ = [
    "Checkpoints",
    "check_file",
    "load_checkpoint",
    "checkpoint_entry",
    "checkpoint_model",
    "file_sha256",
    "find_checkpoints",
    "load_weights",
    "open_checkpoints",
    "read_state_dict",
    "step_of",
    "strip_prefixes",
    "swap_weights",
]
