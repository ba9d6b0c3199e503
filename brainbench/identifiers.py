"""One rule for names that become file or folder names (ids, identifiers, layer names).

A safe name is 1-128 characters from ``A-Z a-z 0-9 . _ -``, starts with a letter or a
digit and contains no ``..``; so it can never hold a path separator, climb out of the
folder it is written into (``--out``, the activation and assembly caches, the results
folder), or be a hidden or special name.
"""

from __future__ import annotations

import re

from brainbench.errors import BrainbenchError

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class IdentifierError(BrainbenchError):
    """A name that cannot safely become part of a file name."""


def check_identifier(value: object, what: str = "identifier") -> str:
    """Return ``value`` if it is a safe name (see the module docstring), else raise IdentifierError."""
    if not isinstance(value, str) or not SAFE_NAME.match(value) or ".." in value:
        raise IdentifierError(
            f"{what} {value!r} cannot be used as a file name; use 1-128 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit and without '..' (e.g. 'lab-v1-session1')."
        )
    return value


def model_file_name(model_id: str) -> str:
    """A model id as a safe name: a family id's ``/`` and ``:`` become ``--``.

    ``torchvision/resnet18:untrained`` -> ``torchvision--resnet18--untrained``; any other
    id must already be safe (:func:`check_identifier`).
    """
    return check_identifier(model_id.replace("/", "--").replace(":", "--"), "model id")
