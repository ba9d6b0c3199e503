"""Caching and hashing: the cache root, content keys, verified files and the hash cache.

* :mod:`~brainbench.caching.paths`: ``$BRAINBENCH_HOME`` and how a relative path is read;
* :mod:`~brainbench.caching.content`: the content of a declaration and its sha256 key;
* :mod:`~brainbench.caching.integrity`: atomic, hash-recorded cache files and their checks;
* :mod:`~brainbench.caching.hash_cache`: file hashes remembered by path, size and mtime.

The public API (docs/api.md) is what a plugin needs: :func:`home`, the cache root
(``$BRAINBENCH_HOME``, default ``~/.cache/brainbench``), to keep its own files under, and
:func:`absolute`, how brainbench reads a relative path. The modules above are private.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - what mypy and readers see; _HOMES says the same
    from brainbench.caching.paths import absolute, home

#: Where each public name is defined. The face is lazy: importing this package (or any
#: module in it) imports none of them; each is imported on first use.
_HOMES = {
    "absolute": "brainbench.caching.paths",
    "home": "brainbench.caching.paths",
}

__all__ = [
    "absolute",
    "home",
]

if not TYPE_CHECKING:  # hidden from mypy, which reads the imports above: a misspelt name is an error, not Any

    def __getattr__(name: str) -> Any:
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
