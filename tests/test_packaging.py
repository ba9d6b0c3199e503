"""The wheel marks brainbench as typed (PEP 561), so type checkers read its annotations."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_wheel_ships_the_py_typed_marker(tmp_path):
    pytest.importorskip("hatchling")
    from hatchling.builders.wheel import WheelBuilder

    assert (REPO / "brainbench" / "py.typed").is_file()
    wheel = Path(next(WheelBuilder(str(REPO)).build(directory=str(tmp_path), versions=["standard"])))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "brainbench/py.typed" in names
    assert "brainbench/registry.toml" in names
