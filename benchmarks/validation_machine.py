"""The machine a validation report ran on: date, host, CPUs, torch threads, GPU and commit.

Shared by ``benchmarks/validation.py`` (the whole report) and ``benchmarks/validation_rsa92.py``
(its 92-image section, which can rerun alone), so that neither imports the other.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def machine() -> dict:
    """Facts about this machine and checkout, as written into ``docs/validation.md`` and ``validation.json``."""
    import torch

    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        "brainbench_commit": commit,
    }
