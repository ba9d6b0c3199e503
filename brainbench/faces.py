"""Lazy package faces: a package re-exports its contracts without importing them up front.

Each package's ``__init__.py`` lists where its public names live (``_HOMES``: name ->
module) and ends with::

    if not TYPE_CHECKING:  # mypy reads the TYPE_CHECKING imports instead
        __getattr__, __dir__ = lazy_face(__name__, _HOMES, __all__)

so ``import brainbench.readouts`` costs nothing until ``brainbench.readouts.Readout`` is
used (importing a package never imports torch or xarray by itself).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_face(
    package: str, homes: Mapping[str, str], names: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of package ``package`` (PEP 562).

    Args:
        package: the package's ``__name__``.
        homes: public name -> the module that defines it.
        names: the package's ``__all__``.
    """

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        setattr(sys.modules[package], name, value)  # found directly next time
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *names})

    return __getattr__, __dir__
