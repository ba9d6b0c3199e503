"""The built-in manifest's location, for compatibility.

The entry point ``brainbench = "brainbench:registry.toml"`` (pyproject.toml) names the
built-in manifest as a resource of package ``brainbench``: in a wheel the top-level
``registry.toml`` is packaged as ``brainbench/registry.toml``; in an editable install it
is read from the repository root (see :func:`brainbench.registry.discovery.locate_resource`).
:func:`manifest_path` is what the entry point named before (an environment installed
from an older checkout still names it) and gives the same file.
"""

from __future__ import annotations

from pathlib import Path


def manifest_path() -> Path:
    """``brainbench/registry.toml`` in a wheel, else the repository's ``registry.toml``."""
    here = Path(__file__).resolve().parent.parent
    packaged = here / "registry.toml"
    return packaged if packaged.is_file() else here.parent / "registry.toml"
