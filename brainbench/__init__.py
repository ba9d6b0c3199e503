"""brainbench: declarative, plugin-based benchmarks of deep networks against neurons.

Importing this package is cheap: torch and the plugins load only when used.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "score"]


def __getattr__(name: str):
    if name == "score":
        from brainbench.scoring import score

        return score
    raise AttributeError(f"module 'brainbench' has no attribute {name!r}")
