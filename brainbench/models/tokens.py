"""Token layers: how a transformer block's ``(B, T, D)`` tokens become features.

A convolutional layer outputs a feature map ``(B, C, H, W)``; a transformer block outputs
``T`` tokens of width ``D``: ``P`` prefix tokens (the class token, and distillation or
register tokens where the model has them) followed by ``h * w`` patch tokens in raster
order. A declared rule turns them into the features a readout sees:

===========  ==================  =====================================================
rule         features            what
===========  ==================  =====================================================
``cls``      ``(B, D)``          the first prefix token (the class token)
``mean``     ``(B, D)``          the mean over the patch tokens (prefix tokens left out)
``flatten``  ``(B, T * D)``      every token, prefix tokens included, concatenated
``grid``     ``(B, D, h, w)``    the patch tokens as a feature map (``h = w = sqrt(T - P)``),
                                 so spatial and factored readouts can use them
===========  ==================  =====================================================

The rule and :data:`TOKENS_VERSION` are part of every activation cache key and run key
of a model that has a rule; bump the version when a rule's numbers change. Outputs that
are not ``(B, T, D)`` (feature maps, pooled vectors) pass through unchanged, so one rule
serves a whole model.
"""

from __future__ import annotations

import math
from typing import get_args

import torch

from brainbench.errors import BrainbenchError
from brainbench.registry.manifest import TokenRule

__all__ = ["RULES", "TOKENS_VERSION", "TokenRule", "apply_rule", "check_rule"]
#: The rules, in the order the documentation lists them.
RULES: tuple[str, ...] = get_args(TokenRule)
#: Numerics version of the rules above (enters activation and run keys).
TOKENS_VERSION = 1


def check_rule(rule: object) -> TokenRule | None:
    """``rule`` if it is None or one of :data:`RULES`, else one sentence naming them."""
    if rule is None or rule in RULES:
        return rule  # type: ignore[return-value]
    raise BrainbenchError(f"token rule {rule!r} is not one of {', '.join(RULES)}; pass --tokens {RULES[0]} or another.")


def apply_rule(tokens: torch.Tensor, rule: TokenRule, prefix_tokens: int, layer: str = "") -> torch.Tensor:
    """Features of one layer's tokens under ``rule``.

    Args:
        tokens: ``(B, T, D)`` block output; any other shape is returned unchanged.
        rule: one of :data:`RULES`.
        prefix_tokens: ``P``, the number of leading non-patch tokens (1 for a class token).
        layer: the layer's name, for messages.
    Returns:
        ``(B, D)`` (cls, mean), ``(B, T * D)`` (flatten) or ``(B, D, h, w)`` (grid).
    """
    if tokens.ndim != 3:
        return tokens
    batch, count, width = tokens.shape
    patches = count - prefix_tokens
    if rule == "flatten":
        return tokens.reshape(batch, count * width)
    if rule == "cls":
        if prefix_tokens < 1:
            raise BrainbenchError(
                f"layer {layer!r} has no class token (the model declares no prefix tokens); use --tokens mean or grid."
            )
        return tokens[:, 0]
    if patches < 1:
        raise BrainbenchError(f"layer {layer!r} has {count} tokens and no patch tokens after {prefix_tokens} prefix.")
    if rule == "mean":
        return tokens[:, prefix_tokens:].mean(dim=1)
    side = math.isqrt(patches)
    if side * side != patches:
        raise BrainbenchError(
            f"layer {layer!r} has {patches} patch tokens, not a square grid, so --tokens grid cannot place them; "
            "use --tokens flatten, mean or cls."
        )
    return tokens[:, prefix_tokens:].transpose(1, 2).reshape(batch, width, side, side)
