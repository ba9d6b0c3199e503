"""Caching and hashing: the cache root, content keys, verified files and the hash cache.

* :mod:`~brainbench.caching.paths`: ``$BRAINBENCH_HOME`` and how a relative path is read;
* :mod:`~brainbench.caching.content`: the content of a declaration and its sha256 key;
* :mod:`~brainbench.caching.integrity`: atomic, hash-recorded cache files and their checks;
* :mod:`~brainbench.caching.hash_cache`: file hashes remembered by path, size and mtime.
"""
