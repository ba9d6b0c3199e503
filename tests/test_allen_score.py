"""End to end: ``brainbench score alexnet-untrained allen-VISl --json`` on miniature NWB files.

The 11 pinned VISl experiments are replaced by miniature files (3 cells each) served
through ``BRAINBENCH_MIRROR``, with the pinned hash list patched to their sha256; offline.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from allen_fixtures import write_area

from brainbench.assemblies.allen import experiments as exps
from brainbench.assemblies.allen import source as src
from brainbench.data.fetch import file_hash


@pytest.fixture
def mini_visl(monkeypatch, tmp_path):
    chosen = exps.pinned("VISl")
    assert len(chosen) == 11
    mirror = tmp_path / "mirror"
    truths = write_area(mirror / src.DATASET, chosen, n_cells=3)
    patched = tuple(dataclasses.replace(e, sha256=file_hash(truths[e.experiment_id].path)) for e in chosen)
    monkeypatch.setattr(src, "pinned", lambda area, variant="pinned": patched)
    monkeypatch.setenv("BRAINBENCH_MIRROR", str(mirror))
    return patched, truths


def test_score_allen_visl_json(mini_visl, fresh_home, capsys):
    from brainbench.cli.main import main

    # two layers keep the test quick on 2 cores; the command is otherwise the documented one
    code = main(
        [
            "score",
            "alexnet-untrained",
            "allen-VISl",
            "--json",
            "--device",
            "cpu",
            "--layers",
            "conv1,conv4",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)
    assert result["benchmark"] == "allen-VISl" and result["model"] == "alexnet-untrained"
    selection = result["selection"]
    assert selection["n_total"] == 33 and selection["reliability_threshold"] == 0.5
    assert 0 < selection["n_kept"] <= 33
    assert set(result["layers"]) == {"conv1", "conv4"}
    # The miniature cells respond reliably (ceiling ~0.79) but at random to the scenes: no
    # image feature predicts them. Pooled r is then strongly negative (fold offsets), the
    # per-split r and the ceiled headline about 0. Golden values of the generated files:
    golden = {
        "conv1": (-0.298601, -0.031144, -0.024467, -0.001233),
        "conv4": (-0.263906, -0.015499, -0.025603, -0.000305),
    }
    for layer, (r, r_split, ev, ceiled) in golden.items():
        row = result["layers"][layer]
        assert row["n_neuroids"] == selection["n_kept"] == 33
        assert (row["median_r"], row["median_r_split"], row["median_ev"], row["median_ceiled"]) == pytest.approx(
            (r, r_split, ev, ceiled), abs=1e-6
        )
    assert result["best_layer"] == "conv4" and result["n_reliable"] == 33
    assert result["score"] == pytest.approx(-0.00024, abs=1e-6)
    assert result["ceiling"]["median"] == pytest.approx(0.786775, abs=1e-6)
    # the assembly was cached once, as netCDF
    assert len(list((fresh_home / "assemblies").glob("allen-VISl-*.nc"))) == 1


def test_reliability_threshold_drops_unreliable_cells(mini_visl, fresh_home, monkeypatch):
    """The scorer applies the manifest's threshold with the split-half ceiling."""
    import brainbench
    from brainbench.metrics.ceiling import split_half_reliability

    patched, truths = mini_visl
    # make experiment 4's cells pure noise (no stimulus-locked signal at all)
    import h5py

    path = truths[patched[4].experiment_id].path
    with h5py.File(path, "r+") as h:
        base = "processing/brain_observatory_pipeline/Fluorescence/imaging_plane_1_demixed_signal/data"
        data = h[base][()]
        rng = np.random.default_rng(0)
        h[base][...] = 300.0 + 2.0 * rng.standard_normal(data.shape) + (data - data)
        np_path = base.replace("demixed_signal", "neuropil_response")
        h[np_path][...] = 0.0
    fixed = tuple(dataclasses.replace(e, sha256=file_hash(truths[e.experiment_id].path)) for e in patched)
    monkeypatch.setattr(src, "pinned", lambda area, variant="pinned": fixed)
    loaded = src.load("VISl").load(progress=False)
    reliability = split_half_reliability(loaded.assembly.values, seed=0)
    noisy = loaded.assembly.experiment_id.values == patched[4].experiment_id
    assert (reliability[noisy] < 0.5).all() and (reliability[~noisy] > 0.5).all()
    result = brainbench.score("alexnet-untrained", "allen-VISl", layers=["conv1"], device="cpu", progress=False)
    selection = json.loads(result.attrs["selection"])
    assert selection == {"n_total": 33, "n_kept": 30, "reliability_threshold": 0.5, "filters": {}}
    assert patched[4].experiment_id not in set(result.experiment_id.values.tolist())
