"""Every stored key and checksum hashes through one helper and keeps its bytes.

Run keys, built-assembly cache keys, activation cache keys and the results store's row
checksums all use :func:`brainbench.caching.content.json_sha256`. The pinned values were
computed by the separate functions each of them had before they shared it; a change of
serialisation (``default``, separators, ASCII escapes, key order) would move them all.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from brainbench.assemblies.base import build_key
from brainbench.caching.content import content_key, json_sha256
from brainbench.registry.manifest import Preprocessing
from brainbench.results.store import row_digest

# awkward on purpose: non-ASCII text, a Path (hashed as its str), a float, nesting
RUN: dict[str, Any] = {
    "format": 3,
    "model": {"id": "tiny", "layers": ["c1", "c2"]},
    "seed": 0,
    "é": "µ",
    "path": Path("/x/y"),
    "f": 0.1,
}
PARTS: dict[str, Any] = {"files": ["a.nc", "b.csv"], "windows": [[70, 170]], "reader": 2, "where": Path("/data/z")}
STIMULI = SimpleNamespace(content_hash="ef" * 32)
PREP = Preprocessing(size=96, placement="pad")
RUN_ROW = {"content_key": "k" * 64, "model": "tiny", "score": 0.25, "n": 3, "row_sha256": "ignored", "note": None}
LAYER_ROWS = [{"id": 7, "layer": "c2", "median_r": 0.5}, {"id": 6, "layer": "c1", "median_r": 1}]


def _model(tokens: dict[str, Any] | None = None, layer: str = "c1", module: str = "features.0") -> Any:
    """What :func:`activation_key` reads of a network: its weights hash, layer modules and token rule."""
    return SimpleNamespace(
        weights_hash=("cd" if tokens else "ab") * 32, layer_modules={layer: module}, token_key=lambda: tokens
    )


def test_json_sha256_is_sorted_json_with_str_default() -> None:
    value = {"b": [1, 2.5, None], "a": {"z": "µ", "p": Path("/q")}}
    expected = hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
    assert json_sha256(value) == expected
    assert json_sha256({"a": 1, "b": 2}) == json_sha256({"b": 2, "a": 1})


def test_run_content_key_unchanged() -> None:
    assert content_key(RUN) == "9afb1963a91af405cc6ed4ba03cbe5f3cc5a6d1ee6f580343cdc943d1ecfd862"


def test_assembly_build_key_unchanged() -> None:
    assert build_key(**PARTS) == "e8f71a4f053efce5"
    assert build_key(**PARTS) == json_sha256(PARTS)[:16]


def test_activation_keys_unchanged() -> None:
    pytest.importorskip("torch")
    from brainbench.scoring.activations import activation_key

    assert activation_key(_model(), "c1", PREP, STIMULI) == (
        "f8b8e8cad67144cdf8dd45891db2e90cbd5240f742d8ed2be69c80e65879f7d4"
    )
    tokens = {"rule": "cls", "prefix_tokens": 1, "version": 1}
    assert activation_key(_model(tokens, "blocks.3", "blocks.3"), "blocks.3", PREP, STIMULI) == (
        "c759081a1ac7413efd734ae9b13ca5cfb83c0665639bfae17233b7069360d81a"
    )


def test_store_row_digest_unchanged() -> None:
    assert row_digest(RUN_ROW, LAYER_ROWS) == "a9de448553cfe1e10e7fb43ce23e3decde253476703f2910b5442aacc143f16b"
    # layer order and the unhashed columns do not count
    assert row_digest({**RUN_ROW, "row_sha256": "x"}, LAYER_ROWS[::-1]) == row_digest(RUN_ROW, LAYER_ROWS)
