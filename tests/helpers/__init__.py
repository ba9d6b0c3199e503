"""Shared test helpers: generated data, tiny models and fixtures, imported as ``helpers.<module>``.

``tests/`` is on ``sys.path`` through pytest's ``pythonpath`` option (pyproject.toml); a test that
starts another Python process (the CLI, Dask workers) puts ``tests/`` on that process's
``PYTHONPATH`` so that manifests naming ``helpers.<module>:<factory>`` resolve there too.
"""
