"""brainbench: declarative, plugin-based benchmarks of deep networks against neurons.

Importing this package is cheap: torch and the plugins load only when used.
"""

from __future__ import annotations

import os
from typing import Any

from brainbench.version import __version__

# MKL's OpenMP threads spin while they wait; whenever another process competes for the
# cores, that made a 576 x 576 eigh 10-50x slower (3 s instead of 0.05 s on 2 cores).
# Passive waiting costs nothing measurable on an idle machine. It only takes effect if
# brainbench is imported before torch starts its OpenMP runtime; set it yourself otherwise.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


__all__ = ["__version__", "load_checkpoint", "score", "score_checkpoints"]


def __getattr__(name: str) -> Any:
    if name == "score":  # any benchmark, composites included; stores nothing (brainbench.results.runs)
        from brainbench.results.runs import score

        return score
    if name == "load_checkpoint":
        from brainbench.models.checkpoint import load_checkpoint

        return load_checkpoint
    if name == "score_checkpoints":
        from brainbench.results.trajectory import score_checkpoints

        return score_checkpoints
    raise AttributeError(f"module 'brainbench' has no attribute {name!r}")
