"""End to end on the real mirrored V4 recordings (Cowley et al. 2023) with untrained AlexNet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.mirror]
LAYERS = ["conv1", "conv2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7"]

#: Real-data golden values (alexnet-untrained, cowley2023-V4 v1, seed 0, readout simple, ceiled-r2 v3;
#: unchanged from v2: all 50 neurons pass the v3 permutation test, p = 1/200 each):
#: per layer (median pooled r, median per-split r, median EV, median ceiled score). A change that
#: moves any of them must say so in CHANGELOG.md and bump the version of what changed.
GOLDEN = {
    "conv1": (0.341087, 0.355559, 0.114176, 0.150827),
    "conv2": (0.394227, 0.401451, 0.15499, 0.220987),
    "conv3": (0.463491, 0.4661, 0.210654, 0.266686),
    "conv4": (0.456507, 0.461227, 0.202786, 0.261355),
    "conv5": (0.445489, 0.449981, 0.195694, 0.25837),
    "pool5": (0.490235, 0.495664, 0.238808, 0.313323),
    "fc6": (0.473968, 0.476103, 0.224062, 0.283864),
    "fc7": (0.441653, 0.454944, 0.194851, 0.270085),
}
GOLDEN_CEILING = 0.763634
GOLDEN_SCORE = 0.313323
#: The golden run's content key (its spec: declarations, numerics versions, weights and data sha256)
#: and weights sha256. Stored runs are found by their key: any change to either re-scores every
#: stored run, so it must be deliberate (a bumped version, said in CHANGELOG.md).
GOLDEN_KEY = "7c6d7df77d8f4c960df5612f9661a2b9acd9962b6123e46832abd3f92018b6dd"
GOLDEN_WEIGHTS = "8dc91b4e86a56a8354d83d5a90563c89af197708e4a9b23e0653002148df243e"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "brainbench.cli.main", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        cwd=REPO,
        timeout=600,
    )


@pytest.fixture(scope="module")
def json_runs(tmp_path_factory):
    """Two CLI runs with the same seed (the second reuses cached activations)."""
    mirror = Path(os.environ.get("BRAINBENCH_TEST_MIRROR", REPO.parent / "shared" / "data" / "mirror"))
    if not (mirror / "cowley2023").is_dir():
        pytest.skip(f"real-data mirror not found at {mirror}")
    out = tmp_path_factory.mktemp("scores")
    env = {
        "BRAINBENCH_MIRROR": str(mirror),
        "BRAINBENCH_OFFLINE": "1",
        "BRAINBENCH_HOME": str(tmp_path_factory.mktemp("home")),
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        first = cli("score", "alexnet-untrained", "cowley2023-V4", "--json", "--out", str(out))
        second = cli("score", "alexnet-untrained", "cowley2023-V4", "--json")
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    return json.loads(first.stdout), json.loads(second.stdout), out


def test_json_schema(json_runs):
    result, _, _ = json_runs
    required = {
        "model",
        "benchmark",
        "benchmark_version",
        "readout",
        "layers",
        "best_layer",
        "layer_choice",
        "score",
        "score_kind",
        "score_note",
        "n_reliable",
        "reliability_floor",
        "ceiling",
        "provenance",
        "elapsed_s",
    }
    assert required <= set(result)
    assert set(result["provenance"]) >= {"brainbench", "torch", "device", "seed", "data_sha256", "weights"}
    assert list(result["layers"]) == LAYERS
    for row in result["layers"].values():
        assert set(row) == {"median_r", "median_r_split", "median_ev", "median_ceiled", "n_neuroids"}
        assert row["n_neuroids"] == 50
    assert result["provenance"]["data_sha256"] and len(result["provenance"]["weights"]) == 64


def test_real_v4_content_key_and_weights_hash_unchanged(json_runs):
    result, _, out = json_runs
    assert result["provenance"]["weights"] == GOLDEN_WEIGHTS
    with xr.open_dataset(out / "alexnet-untrained__cowley2023-V4.nc") as ds:
        assert ds.attrs["content_key"] == GOLDEN_KEY


def test_real_v4_golden_values(json_runs):
    """Every per-layer median, the ceiling, the chosen layer and the headline, to 1e-6."""
    result, _, _ = json_runs
    for layer, (r, r_split, ev, ceiled) in GOLDEN.items():
        row = result["layers"][layer]
        assert row["median_r"] == pytest.approx(r, abs=1e-6), layer
        assert row["median_r_split"] == pytest.approx(r_split, abs=1e-6), layer
        assert row["median_ev"] == pytest.approx(ev, abs=1e-6), layer
        assert row["median_ceiled"] == pytest.approx(ceiled, abs=1e-6), layer
    assert result["ceiling"]["median"] == pytest.approx(GOLDEN_CEILING, abs=1e-6)
    assert result["best_layer"] == "pool5"
    assert result["layer_choice"]["per_split"] == ["pool5"] * 10 and result["layer_choice"]["beats_zero"]
    assert result["score"] == pytest.approx(GOLDEN_SCORE, abs=1e-6)
    assert result["score_kind"] == "ceiled" and result["n_reliable"] == 50


def test_negative_correlations_stay_negative_on_real_data(json_runs):
    _, _, out = json_runs
    with xr.open_dataset(out / "alexnet-untrained__cowley2023-V4.nc") as ds:
        r = ds["r_split_mean"].values
        ceiled = ds["ceiled"].values
    negative = r < 0
    assert negative.any()  # conv1 has neurons it predicts worse than chance
    assert (ceiled[negative] < 0).all() and (ceiled[r > 0] > 0).all()


def test_same_seed_same_numbers(json_runs):
    first, second, _ = json_runs
    strip = ("elapsed_s", "timings")
    assert {k: v for k, v in first.items() if k not in strip} == {k: v for k, v in second.items() if k not in strip}


def test_out_writes_per_neuroid_per_split_netcdf(json_runs):
    result, _, out = json_runs
    path = out / "alexnet-untrained__cowley2023-V4.nc"
    with xr.open_dataset(path) as ds:
        assert ds["r"].dims == ("layer", "neuroid")
        assert ds["r_split"].sizes == {"layer": 8, "split": 10, "neuroid": 50}
        assert (ds["region"].values == "V4").all()
        median = float(np.median(ds["r"].sel(layer="conv3").values))
        assert median == pytest.approx(result["layers"]["conv3"]["median_r"], abs=1e-6)
