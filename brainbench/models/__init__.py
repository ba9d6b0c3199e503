"""Model plugins: networks whose layer activations are compared with neurons.

The public API (docs/api.md): a model entry's ``python_name`` names a factory
``(**params) -> TorchModel`` (any ``torch.nn.Module`` and a map from layer names to
dotted submodule paths) or, for ``supplies = "rdm"``, ``-> RDMModel`` (one
``(n, n)`` RDM over a stimulus set); :func:`load_model` builds a registry entry's model
with its declared layers and :class:`Preprocessing` (how stimuli are placed and
normalised; :class:`StimulusPlacement` overrides a benchmark's placement) attached.
:func:`load_checkpoint` and :func:`find_checkpoints` read your own training checkpoints,
:func:`hf_encoder` wraps a Hugging Face vision encoder, :data:`TokenRule` names how a
transformer's tokens become features. A model that cannot be built raises
:class:`ModelError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from brainbench.faces import lazy_face

if TYPE_CHECKING:  # pragma: no cover - what mypy and readers see; _HOMES says the same
    from brainbench.errors import ModelError
    from brainbench.models.base import TorchModel, load_model, resolve_device
    from brainbench.models.checkpoint import find_checkpoints, load_checkpoint
    from brainbench.models.hf_zoo import hf_encoder
    from brainbench.models.rdm import RDMModel
    from brainbench.models.tokens import TokenRule
    from brainbench.registry.manifest import Preprocessing, StimulusPlacement

#: Where each public name is defined. The face is lazy: importing this package (or any
#: module in it) imports none of them; each is imported on first use.
_HOMES = {
    "ModelError": "brainbench.errors",
    "TorchModel": "brainbench.models.base",
    "load_model": "brainbench.models.base",
    "resolve_device": "brainbench.models.base",
    "find_checkpoints": "brainbench.models.checkpoint",
    "load_checkpoint": "brainbench.models.checkpoint",
    "hf_encoder": "brainbench.models.hf_zoo",
    "RDMModel": "brainbench.models.rdm",
    "TokenRule": "brainbench.models.tokens",
    "Preprocessing": "brainbench.registry.manifest",
    "StimulusPlacement": "brainbench.registry.manifest",
}

__all__ = [
    "ModelError",
    "Preprocessing",
    "RDMModel",
    "StimulusPlacement",
    "TokenRule",
    "TorchModel",
    "find_checkpoints",
    "hf_encoder",
    "load_checkpoint",
    "load_model",
    "resolve_device",
]

if not TYPE_CHECKING:  # mypy reads the imports above: a misspelt name is an error, not Any
    __getattr__, __dir__ = lazy_face(__name__, _HOMES, __all__)
