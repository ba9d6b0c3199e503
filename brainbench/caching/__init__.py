"""Caching and hashing: the cache root, content keys, verified files and the hash cache.

* :mod:`~brainbench.caching.paths`: ``$BRAINBENCH_HOME`` and how a relative path is read;
* :mod:`~brainbench.caching.content`: the content of a declaration and its sha256 key;
* :mod:`~brainbench.caching.integrity`: atomic, hash-recorded cache files and their checks;
* :mod:`~brainbench.caching.hash_cache`: file hashes remembered by path, size, mtime, ctime
  and inode, and values derived from known inputs (a request's content key);
* :mod:`~brainbench.caching.activation_cache`: layer activation files, found, checked and
  written in one place, and read back row by row (``NpyRows``).

The public API (docs/api.md) is what a plugin needs: :func:`home`, the cache root
(``$BRAINBENCH_HOME``, default ``~/.cache/brainbench``), to keep its own files under, and
:func:`absolute`, how brainbench reads a relative path. The modules above are private.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from brainbench.faces import lazy_face

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

if not TYPE_CHECKING:  # mypy reads the imports above: a misspelt name is an error, not Any
    __getattr__, __dir__ = lazy_face(__name__, _HOMES, __all__)
