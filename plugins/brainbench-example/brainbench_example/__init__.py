"""An example brainbench plugin: a small CNN and a simulated-V1 benchmark.

brainbench finds this package through the entry point ``brainbench.manifests``
(see ``pyproject.toml``), which names :func:`manifest_path`. Nothing here is imported
until a user scores one of its entries.
"""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"


def manifest_path() -> Path:
    """The plugin's manifest (shipped as package data)."""
    return Path(__file__).resolve().parent / "manifest.toml"
