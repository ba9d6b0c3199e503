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


class ModelError(BrainbenchError):
    """A model that cannot be built or does not offer a requested layer (raised by :mod:`brainbench.models`)."""


class WriteError(BrainbenchError):
    """A file brainbench must write that cannot be written (full disk, read-only place, no permission)."""


def write_failed(path: object, error: BaseException, what: str = "") -> WriteError:
    """A :class:`WriteError` saying in one sentence what could not be written, why, and what to do.

    ``error``: the :class:`OSError` (or the netCDF library's error) the write raised.
    """
    import errno

    number = getattr(error, "errno", None)
    if number in (errno.ENOSPC, errno.EDQUOT):
        why, fix = (
            "the disk is full",
            "free some space (or set BRAINBENCH_HOME / --store to a larger disk) and run again",
        )
    elif number == errno.EROFS:
        why, fix = "the file system is read-only", "choose a writable place and run again"
    elif number in (errno.EACCES, errno.EPERM):
        why, fix = "permission is denied", "choose a place you may write to and run again"
    else:
        detail = getattr(error, "strerror", None) or " ".join(str(error).split()).rstrip(".") or type(error).__name__
        why, fix = detail, "check that the disk has space and the place is writable, and run again"
    subject = f"{what} " if what else ""
    return WriteError(f"cannot write {subject}{path}: {why}; {fix}.")
