"""The built-in manifest, exposed through the ``brainbench.manifests`` entry point.

In a wheel the top-level ``registry.toml`` is packaged as ``brainbench/registry.toml``;
in an editable install it is read from the repository root.
"""

from __future__ import annotations

from pathlib import Path


def manifest_path() -> Path:
    here = Path(__file__).resolve().parent.parent
    packaged = here / "registry.toml"
    return packaged if packaged.is_file() else here.parent / "registry.toml"
