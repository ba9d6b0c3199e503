"""Errors a user can cause. The CLI prints their message as one sentence, no traceback."""

from __future__ import annotations


class BrainbenchError(Exception):
    """Base class of every error brainbench raises on purpose for bad input or state."""


class UnknownIdError(BrainbenchError, KeyError):
    """An id that no manifest declares."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ManifestError(BrainbenchError):
    """A malformed manifest or a clash between manifests."""


class ManifestWarning(UserWarning):
    """An installed third-party manifest that is broken or too new: it is named and skipped.

    The other manifests still load, so one broken plugin never stops ``brainbench list``.
    ``brainbench list --problems`` shows every skipped manifest, the key and the problem.
    """


class DataError(BrainbenchError):
    """A missing, corrupt or unsafe data file."""


class OfflineError(DataError):
    """A file that must be downloaded while ``BRAINBENCH_OFFLINE=1``."""
