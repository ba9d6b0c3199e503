"""Shared fixtures. Tests never touch the network: BRAINBENCH_OFFLINE=1 throughout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before anything imports torch (brainbench/__init__.py sets the same, but pytest may import torch
# first): OpenMP threads that spin while waiting make solver-heavy tests several times slower on
# a loaded 2-core machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# fixtures shared across test folders, defined in the helpers package
pytest_plugins = ["helpers.cowley_fixtures"]

REPO = Path(__file__).resolve().parents[1]
SHARED_MIRROR = REPO.parent / "shared" / "data" / "mirror"


def pytest_collection_modifyitems(items):
    """Every test that reads the real-data mirror carries the ``mirror`` marker (``-m "not mirror"``)."""
    for item in items:
        if "mirror" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.mirror)


@pytest.fixture(scope="session")
def session_home(tmp_path_factory) -> Path:
    """One BRAINBENCH_HOME for the session, so activation caches are shared between tests."""
    return tmp_path_factory.mktemp("brainbench-home")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, session_home):
    monkeypatch.setenv("BRAINBENCH_HOME", str(session_home))
    monkeypatch.setenv("BRAINBENCH_OFFLINE", "1")
    monkeypatch.delenv("BRAINBENCH_MIRROR", raising=False)
    monkeypatch.delenv("BRAINBENCH_MANIFESTS", raising=False)
    from brainbench.registry import refresh

    refresh()
    yield
    refresh()


@pytest.fixture
def fresh_home(monkeypatch, tmp_path) -> Path:
    """An empty BRAINBENCH_HOME for tests that check what gets written."""
    home = tmp_path / "home"
    monkeypatch.setenv("BRAINBENCH_HOME", str(home))
    return home


@pytest.fixture
def mirror(monkeypatch) -> Path:
    """BRAINBENCH_MIRROR pointed at ../shared/data/mirror (skips when it is absent)."""
    path = Path(os.environ.get("BRAINBENCH_TEST_MIRROR", SHARED_MIRROR))
    if not (path / "cowley2023").is_dir():
        pytest.skip(f"real-data mirror not found at {path} (set BRAINBENCH_TEST_MIRROR)")
    monkeypatch.setenv("BRAINBENCH_MIRROR", str(path))
    return path


@pytest.fixture
def one_torch_thread():
    """Run a test with one torch thread (small solver tests gain nothing from two)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
