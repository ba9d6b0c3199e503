"""An example brainbench plugin: a small CNN and a simulated-V1 benchmark.

brainbench finds this package through the entry point ``brainbench.manifests`` (see
``pyproject.toml``), whose value ``"brainbench_example:manifest.toml"`` names the file
``manifest.toml`` shipped inside this package. brainbench locates that file without
importing the package: nothing here runs until a user scores one of its entries.
"""

from __future__ import annotations

__version__ = "0.1.0"
