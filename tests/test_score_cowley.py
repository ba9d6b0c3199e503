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
CONV = "conv1,conv2,conv3,conv4,conv5"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "brainbench.cli.main", *args], capture_output=True,
                          text=True, env=dict(os.environ), cwd=REPO, timeout=600)


@pytest.fixture(scope="module")
def json_runs(tmp_path_factory):
    """Two CLI runs with the same seed (the second reuses cached activations)."""
    mirror = Path(os.environ.get("BRAINBENCH_TEST_MIRROR", REPO.parent / "shared" / "data" / "mirror"))
    if not (mirror / "cowley2023").is_dir():
        pytest.skip(f"real-data mirror not found at {mirror}")
    out = tmp_path_factory.mktemp("scores")
    env = {"BRAINBENCH_MIRROR": str(mirror), "BRAINBENCH_OFFLINE": "1",
           "BRAINBENCH_HOME": str(tmp_path_factory.mktemp("home"))}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        first = cli("score", "alexnet-untrained", "cowley2023-V4", "--layers", CONV, "--json", "--out", str(out))
        second = cli("score", "alexnet-untrained", "cowley2023-V4", "--layers", CONV, "--json")
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    return json.loads(first.stdout), json.loads(second.stdout), out


def test_json_schema_and_scores(json_runs):
    result, _, _ = json_runs
    required = {"model", "benchmark", "benchmark_version", "readout", "layers", "best_layer", "score",
                "ceiling", "provenance", "elapsed_s"}
    assert required <= set(result)
    assert set(result["provenance"]) >= {"brainbench", "torch", "device", "seed", "data_sha256", "weights"}
    assert list(result["layers"]) == CONV.split(",")
    for row in result["layers"].values():
        assert set(row) == {"median_r", "median_ev", "median_ceiled", "n_neuroids"}
        assert row["n_neuroids"] == 50
    # honest numbers for an untrained network on real V4: positive, well below the ceiling
    assert 0.2 < result["layers"]["conv3"]["median_r"] < 0.8
    assert 0.6 < result["ceiling"]["median"] < 0.9  # the data README measures about 0.76
    assert result["best_layer"] in result["layers"]
    assert result["score"] == result["layers"][result["best_layer"]]["median_ceiled"]
    assert result["provenance"]["data_sha256"] and len(result["provenance"]["weights"]) == 64


def test_same_seed_same_numbers(json_runs):
    first, second, _ = json_runs
    strip = ("elapsed_s", "timings")
    assert {k: v for k, v in first.items() if k not in strip} == {k: v for k, v in second.items() if k not in strip}


def test_out_writes_per_neuroid_per_split_netcdf(json_runs):
    result, _, out = json_runs
    path = out / "alexnet-untrained__cowley2023-V4.nc"
    with xr.open_dataset(path) as ds:
        assert ds["r"].dims == ("layer", "neuroid")
        assert ds["r_split"].sizes == {"layer": 5, "split": 10, "neuroid": 50}
        assert (ds["region"].values == "V4").all()
        median = float(np.median(ds["r"].sel(layer="conv3").values))
        assert median == pytest.approx(result["layers"]["conv3"]["median_r"], abs=1e-6)


def test_best_layer_uses_training_folds_only(json_runs):
    """The headline layer follows the validation scores, which never see test folds."""
    _, _, out = json_runs
    with xr.open_dataset(out / "alexnet-untrained__cowley2023-V4.nc") as ds:
        val = ds["val_score"].mean("split").median("neuroid")
        assert ds.attrs["best_layer"] == str(val.idxmax("layer").item())
