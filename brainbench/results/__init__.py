"""The results store and what is built on it: grids, the leaderboard and verification.

* :mod:`brainbench.results.runs`: a run's stored score, or it computed and recorded (the one path).
* :mod:`brainbench.results.store`: the embedded SQLite store (one row per scored layer).
* :mod:`brainbench.results.grid`: (model, benchmark) grids on Dask distributed.
* :mod:`brainbench.results.table`: the leaderboard rendered from the store.
* :mod:`brainbench.results.verify`: re-running stored rows and comparing.

Nothing here imports torch or xarray at import time.
"""
