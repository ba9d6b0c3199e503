"""Where brainbench keeps its files: the cache root and how a relative path is read.

``$BRAINBENCH_HOME`` (default ``~/.cache/brainbench``) holds downloaded data, activations,
results and the hash caches; a relative value means a folder relative to the working
directory brainbench started in.
"""

from __future__ import annotations

import os
from pathlib import Path


def _start_directory() -> Path:
    try:
        return Path.cwd()
    except OSError:  # the working directory was removed: relative paths then mean nothing
        return Path("/")


#: The working directory when brainbench started: a relative ``BRAINBENCH_MIRROR`` or
#: ``BRAINBENCH_HOME`` means a folder relative to it, even after a later ``os.chdir``.
START_DIRECTORY = _start_directory()


def absolute(value: str | os.PathLike) -> Path:
    """``value`` (``~`` expanded) as an absolute path; a relative one against :data:`START_DIRECTORY`."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path(os.path.normpath(START_DIRECTORY / path))


def home() -> Path:
    """The cache root, ``$BRAINBENCH_HOME`` or ``~/.cache/brainbench`` (absolute, see :func:`absolute`)."""
    return absolute(os.environ.get("BRAINBENCH_HOME") or Path.home() / ".cache" / "brainbench")
