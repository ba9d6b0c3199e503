"""Grids on Dask, the leaderboard table and verification, on tiny models and generated data."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from brainbench.results.grid import Job, plan, run_grid
from brainbench.results.store import ResultStore
from brainbench.results.table import build, list_runs, render, render_runs
from brainbench.results.verify import DEFAULT_TOLERANCE

from helpers import results_fixtures as rf

TESTS = Path(__file__).resolve().parents[1]

GRID = plan(["tiny-a", "tiny-b"], ["gen-V1", "gen-IT"])


@pytest.fixture
def test_manifest(tmp_path, monkeypatch):
    path = rf.write_manifest(tmp_path / "manifest")
    monkeypatch.setenv("BRAINBENCH_MANIFESTS", str(path))
    # Dask workers are fresh processes: they must import the fixtures module too
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    from brainbench.registry import refresh

    refresh()
    return path


def _by_pair(store: ResultStore) -> dict:
    return {(r["model"], r["benchmark"]): r for r in store.runs()}


def test_grid_on_two_workers_reproduces_serial_within_the_promise(test_manifest, tmp_path):
    # activations recomputed on both paths (workers and this process use different torch
    # thread counts), so this checks the promise, not the cache
    # each store keeps its per-neuroid files in results/ beside its database: one folder per store
    parallel = ResultStore(tmp_path / "parallel" / "results.sqlite")
    extra = [Job("tiny-flaky", "gen-V1"), Job("tiny-broken", "gen-V1")]
    results = run_grid(GRID + extra, parallel.path, workers=2, progress=False, use_cache=False)
    status = {r.job.name: r.status for r in results}
    assert status == {
        **{j.name: "scored" for j in GRID},
        "tiny-flaky x gen-V1": "scored",
        "tiny-broken x gen-V1": "failed",
    }
    broken = next(r for r in results if r.status == "failed")
    assert "no_such_factory" in broken.error  # reported, with the cause
    assert (tmp_path / "manifest" / "flaky.marker").is_file()  # it failed once, then the retry scored it

    serial = ResultStore(tmp_path / "serial" / "results.sqlite")
    serial_results = run_grid(GRID, serial.path, workers=0, progress=False, use_cache=False)
    assert [r.status for r in serial_results] == ["scored"] * 4

    grid_runs, serial_runs = _by_pair(parallel), _by_pair(serial)
    assert len(grid_runs) == 5 and set(serial_runs) == {(j.model, j.benchmark) for j in GRID}
    tol = DEFAULT_TOLERANCE  # "same seed, same numbers", as README.md and docs/leaderboard.md state it
    for pair, expected in serial_runs.items():
        got = grid_runs[pair]
        assert got["content_key"] == expected["content_key"] and got["protocol"] == "declared"
        assert got["score"] == pytest.approx(expected["score"], abs=tol, rel=0)
        assert got["best_layer"] == expected["best_layer"]
        got_rows, want_rows = parallel.rows(got["content_key"]), serial.rows(expected["content_key"])
        assert [(r["layer"], r["is_best_layer"]) for r in got_rows] == [
            (r["layer"], r["is_best_layer"]) for r in want_rows
        ]
        for a_row, b_row in zip(got_rows, want_rows, strict=True):
            for field in ("median_r", "median_ev", "median_ceiled"):
                assert a_row[field] == pytest.approx(b_row[field], abs=tol, rel=0), (pair, field)
        a, b = parallel.load_results(got), serial.load_results(expected)
        for name in ("r", "ev", "ceiled", "ceiling"):
            np.testing.assert_allclose(a[name].values, b[name].values, rtol=0, atol=tol, err_msg=f"{pair} {name}")

    # stored pairs with the same content key are skipped
    again = run_grid(GRID, parallel.path, workers=0, progress=False)
    assert [r.status for r in again] == ["skipped"] * 4
    assert [r.content_key for r in again] == [grid_runs[(j.model, j.benchmark)]["content_key"] for j in GRID]
    # a different seed is a different content key: scored, not skipped
    reseeded = run_grid([Job("tiny-a", "gen-V1", seed=1)], parallel.path, workers=0, progress=False)
    assert reseeded[0].status == "scored"


def _fake_store(tmp_path) -> ResultStore:
    """Runs: two models x two benchmarks (regions V4 and IT), one cell missing."""
    store = ResultStore(tmp_path / "board.sqlite")
    specs = [("m1", "b-V4", "V4", 0), ("m1", "b-IT", "IT", 1), ("m2", "b-V4", "V4", 2)]
    scores = {}
    for model, bench, region, index in specs:
        ds = rf.fake_dataset(index, model=model, benchmark=bench)
        ds = ds.assign_coords(region=("neuroid", [region] * ds.sizes["neuroid"]))
        store.record(ds)
        scores[(model, bench)] = ds.attrs["score"]
    return store, scores


def test_leaderboard_means_never_count_missing_as_zero(tmp_path):
    store, scores = _fake_store(tmp_path)
    board = build(store.runs())
    assert [c.label for c in board.columns] == ["b-IT v1", "b-V4 v1"]
    assert board.regions == ["IT", "V4"]
    m1_overall = (scores[("m1", "b-V4")] + scores[("m1", "b-IT")]) / 2
    assert board.overall("m1") == pytest.approx(m1_overall)
    assert board.region_mean("m2", "IT") is None
    assert board.overall("m2") == pytest.approx(scores[("m2", "b-V4")])  # not halved by the missing IT
    assert board.coverage("m2") == (1, 2)

    md = render(board, "md")
    m2_line = next(line for line in md.splitlines() if "| m2 |" in line)
    assert m2_line.count("–") == 2  # IT mean and the b-IT cell
    assert f"{scores[('m2', 'b-V4')]:.3f}" in m2_line
    data = json.loads(render(board, "json"))
    m2 = next(m for m in data["models"] if m["model"] == "m2")
    assert m2["benchmarks"]["b-IT v1"] is None and m2["regions"]["IT"] is None
    csv_rows = render(board, "csv").splitlines()
    assert csv_rows[0].startswith("rank,model,overall,IT mean,V4 mean,b-IT v1,b-V4 v1")
    m2_csv = next(r for r in csv_rows if ",m2," in r).split(",")
    assert m2_csv[3] == "" and m2_csv[5] == ""  # missing is empty, not 0
    page = render(board, "html")
    assert page.startswith("<!DOCTYPE html>") and "<script>" in page and "addEventListener('click'" in page
    assert "http" not in page.replace("http-equiv", "")  # self-contained: no external resources
    assert page.count('class="missing"') == 2


def test_leaderboard_new_version_is_a_new_column(tmp_path):
    store, _ = _fake_store(tmp_path)
    ds = rf.fake_dataset(7, model="m1", benchmark="b-V4", benchmark_version=2)
    store.record(ds)
    board = build(store.runs())
    assert [c.label for c in board.columns] == ["b-IT v1", "b-V4 v1", "b-V4 v2"]


def test_verify_passes_untouched_and_flags_tampered(test_manifest, tmp_path, capsys):
    from brainbench.cli.main import main
    from brainbench.results.verify import verify

    store = ResultStore(tmp_path / "v.sqlite")
    run_grid([Job("tiny-a", "gen-V1"), Job("tiny-b", "gen-IT")], store.path, workers=0, progress=False)
    checks = verify(store, None, progress=False)
    assert [c.ok for c in checks] == [True, True], [str(d) for c in checks for d in c.differences]

    runs = _by_pair(store)
    target = runs[("tiny-b", "gen-IT")]
    row = store.rows(target["content_key"])[0]
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE layer_scores SET median_ceiled = median_ceiled + 0.01 WHERE id = ?", (row["row_id"],))
    checks = {c.run["model"]: c for c in verify(store, None, progress=False)}
    assert checks["tiny-a"].ok
    checksum, difference = checks["tiny-b"].differences  # the row's checksum, then what changed
    assert checksum.what == "row checksum"
    assert f"layer {row['layer']} median_ceiled (row {row['row_id']})" in difference.what
    assert difference.stored == pytest.approx(row["median_ceiled"] + 0.01)

    # the CLI: one row by id, exit code 1 and the difference printed; the untouched run exits 0
    assert main(["leaderboard", "verify", str(row["row_id"]), "--store", str(store.path)]) == 1
    assert "median_ceiled" in capsys.readouterr().out
    assert (
        main(["leaderboard", "verify", runs[("tiny-a", "gen-V1")]["content_key"][:12], "--store", str(store.path)]) == 0
    )

    # a tampered results file is caught by its hash
    path = store.root / runs[("tiny-a", "gen-V1")]["results_file"]
    path.write_bytes(path.read_bytes() + b"\0")
    check = verify(store, runs[("tiny-a", "gen-V1")]["content_key"], progress=False)[0]
    assert any(d.what == "results file sha256" for d in check.differences)


def test_score_cli_records_unless_no_store(test_manifest, tmp_path, capsys):
    from brainbench.cli.main import main

    path = tmp_path / "cli.sqlite"
    assert main(["score", "tiny-a", "gen-V1", "--json", "--no-store"]) == 0
    assert not path.exists() and not ResultStore().path.exists()
    assert main(["score", "tiny-a", "gen-V1", "--json", "--store", f"sqlite:///{path}"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (run,) = ResultStore(path).runs()
    assert run["model"] == "tiny-a" and run["score"] == pytest.approx(summary["score"], abs=1e-6)
    assert main(["leaderboard", "show", "--format", "md", "--store", str(path)]) == 0
    assert "| tiny-a |" in capsys.readouterr().out


def test_only_declared_protocol_runs_fill_a_cell(test_manifest, tmp_path, capsys):
    from brainbench.cli.main import main

    path = tmp_path / "cells.sqlite"
    common = ["--store", str(path), "--json"]
    assert main(["score", "tiny-a", "gen-V1", *common]) == 0
    store = ResultStore(path)
    (declared,) = store.runs()
    assert declared["protocol"] == "declared" and json.loads(declared["protocol_detail"]) == {}
    other_layer = "c1" if declared["best_layer"] == "c2" else "c2"  # a subset whose score differs
    assert main(["score", "tiny-a", "gen-V1", "--layers", other_layer, *common]) == 0
    assert main(["score", "tiny-a", "gen-V1", "--seed", "1", "--layers", "c2", *common]) == 0
    assert main(["score", "tiny-a", "gen-V1", "--seed", "1", *common]) == 0
    assert main(["score", "tiny-a", "gen-V1", "--readout", "simple-narrow", *common]) == 0
    capsys.readouterr()
    runs = {r["content_key"]: r for r in store.runs()}
    assert len(runs) == 5
    custom = [r for r in runs.values() if r["content_key"] != declared["content_key"]]
    assert {r["protocol"] for r in custom} == {"custom"}
    details = sorted(json.dumps(json.loads(r["protocol_detail"]), sort_keys=True) for r in custom)
    assert details == sorted(
        [
            json.dumps({"layers": [other_layer]}),
            json.dumps({"layers": ["c2"], "seed": 1}),
            json.dumps({"seed": 1}),
            json.dumps({"readout": "simple-narrow"}),
        ]
    )
    assert all(r["score"] != declared["score"] for r in custom)  # so the cell below could have changed

    board = build(store.runs())
    assert [c.label for c in board.columns] == ["gen-V1 v1"]  # the narrow readout adds no column
    (cell,) = board.cells["tiny-a"]
    assert cell["content_key"] == declared["content_key"] and cell["score"] == declared["score"]
    assert not board.marked("tiny-a", 0)

    # naming every declared layer is the declared protocol: the same run, re-stored
    assert main(["score", "tiny-a", "gen-V1", "--layers", "c1,c2", *common]) == 0
    capsys.readouterr()
    assert len(store.runs()) == 5
    assert build(store.runs()).cells["tiny-a"][0]["content_key"] == declared["content_key"]

    # every run is listed, with its layers, seed, readout and whether the cell shows it
    assert main(["leaderboard", "runs", "tiny-a", "gen-V1", "--format", "json", "--store", str(path)]) == 0
    listed = {r["content_key"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(listed) == set(runs)
    assert listed[declared["content_key"]]["cell"] == "shown"
    assert listed[declared["content_key"]]["layers"] == ["c1", "c2"]
    assert {listed[r["content_key"]]["cell"] for r in custom} == {"no"}
    by_detail = {json.dumps(r["protocol_detail"], sort_keys=True): r for r in listed.values()}
    assert by_detail[json.dumps({"layers": ["c2"], "seed": 1})]["seed"] == 1
    assert by_detail[json.dumps({"layers": ["c2"], "seed": 1})]["layers"] == ["c2"]
    assert by_detail[json.dumps({"readout": "simple-narrow"})]["readout"] == "simple-narrow"
    assert main(["leaderboard", "runs", "--store", str(path)]) == 0
    text = capsys.readouterr().out
    assert text.count("custom") == 4 and text.count("declared") == 1
    assert main(["leaderboard", "runs", "tiny-b", "--store", str(path)]) == 0
    assert "no runs of tiny-b" in capsys.readouterr().err


def test_custom_splits_are_a_custom_run_with_their_own_key(test_manifest, tmp_path):
    import dataclasses

    import brainbench
    from brainbench.registry import get_registry
    from brainbench.registry.manifest import SplitSpec
    from brainbench.scoring.benchmark import resolve_benchmark

    store = ResultStore(tmp_path / "splits.sqlite")
    declared_key = store.record(brainbench.score("tiny-a", "gen-V1", progress=False))
    bench = resolve_benchmark("gen-V1", get_registry())
    other = dataclasses.replace(bench, entry=bench.entry.model_copy(update={"split": SplitSpec(n_splits=3)}))
    dataset = brainbench.score("tiny-a", other, progress=False)
    assert dataset.attrs["protocol"] == "custom"
    detail = json.loads(dataset.attrs["protocol_detail"])
    assert detail == {"benchmark": {"split": {**SplitSpec(n_splits=3).model_dump(mode="json")}}}
    key = store.record(dataset)
    assert key != declared_key and len(store.runs()) == 2  # it did not replace the declared run
    assert build(store.runs()).cells["tiny-a"][0]["content_key"] == declared_key


def test_a_cell_with_several_declared_runs_shows_the_newest_and_is_marked(tmp_path):
    store = ResultStore(tmp_path / "marked.sqlite")
    keys = []
    for index in (1, 2):  # other data / weights hashes: another content key, same cell
        ds = rf.fake_dataset(index, model="m1", benchmark="b-V4")
        keys.append(store.record(ds))
    old_style = rf.fake_dataset(3, protocol=None, model="m1", benchmark="b-V4")  # protocol unknown
    store.record(old_style)
    board = build(store.runs())
    (cell,) = board.cells["m1"]
    newest = next(r for r in store.runs() if r["content_key"] == keys[1])
    assert cell["content_key"] == keys[1] and cell["score"] == newest["score"]
    assert board.marked("m1", 0) and [o["content_key"] for o in board.others["m1"][0]] == [keys[0]]
    text = render(board, "table")
    assert f"{newest['score']:.3f}*" in text and "newest of several declared-protocol runs" in text
    assert "*" not in render(board, "csv")  # machine-readable values stay numbers
    data = json.loads(render(board, "json"))["models"][0]["benchmarks"]["b-V4 v1"]
    assert data["declared_runs"] == 2 and data["other_runs"][0]["content_key"] == keys[0]
    cells = {r["content_key"]: r["cell"] for r in list_runs(store.runs(), store.layers_by_run())}
    unknown = next(k for k in cells if k not in keys)
    assert cells == {keys[1]: "shown", keys[0]: "superseded", unknown: "no"}
    listing = render_runs(list_runs(store.runs(), store.layers_by_run()), "table")
    assert "unknown" in listing and "superseded" in listing


def test_uncorrected_cells_are_marked_and_left_out_of_means(tmp_path):
    """A run without reliable neuroids shows its uncorrected r, marked, and is not averaged with ceiled scores."""
    store = ResultStore(tmp_path / "board.sqlite")
    ceiled = rf.fake_dataset(0, model="m1", benchmark="b-V4")
    plain = rf.fake_dataset(1, model="m1", benchmark="b-V4b", score_kind="uncorrected-r", n_reliable=0)
    store.record(ceiled)
    store.record(plain)
    board = build(store.runs())
    assert board.region_mean("m1", "V4") == pytest.approx(ceiled.attrs["score"])
    md = render(board, "md")
    line = next(row for row in md.splitlines() if "| m1 |" in row)
    assert f"{plain.attrs['score']:.3f}u" in line and f"{ceiled.attrs['score']:.3f} " in line
    assert "u uncorrected headline" in md and "not in the means" in md
    cells = json.loads(render(board, "json"))["models"][0]["benchmarks"]
    assert cells["b-V4b v1"]["score_kind"] == "uncorrected-r" and cells["b-V4 v1"]["n_reliable"] == 7


def test_runs_stored_before_the_v2_headline_never_fill_a_cell(tmp_path):
    store = ResultStore(tmp_path / "board.sqlite")
    old = rf.fake_dataset(0)
    del old.attrs["score_kind"], old.attrs["n_reliable"]
    store.record(old)
    assert build(store.runs()).columns == []
    assert store.runs()[0]["score_kind"] == "legacy"


def test_a_readout_numerics_version_bump_re_scores_the_cell(tmp_path, monkeypatch):
    """A solver fix declared as a new readout version is a new key: re-scored, not skipped."""
    from brainbench.registry import refresh

    folder = tmp_path / "manifest"
    path = rf.write_manifest(folder)
    monkeypatch.setenv("BRAINBENCH_MANIFESTS", str(path))
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    store = tmp_path / "results.sqlite"
    jobs = [Job("tiny-a", "gen-V1")]

    def run() -> list:
        refresh()
        return run_grid(jobs, store, workers=0, progress=False)

    text = path.read_text().replace(
        "[benchmarks.gen-V1]\nversion = 1", '[benchmarks.gen-V1]\nversion = 1\nreadout = "simple-narrow"'
    )
    path.write_text(text)
    (first,) = run()
    (again,) = run()
    assert (first.status, again.status) == ("scored", "skipped")
    path.write_text(
        text.replace(
            '[readouts.simple-narrow]\nbase = "simple"', '[readouts.simple-narrow]\nbase = "simple"\nversion = 2'
        )
    )
    (bumped,) = run()
    assert bumped.status == "scored" and bumped.content_key != first.content_key
    board = build(ResultStore(store).runs())
    (cell,) = board.cells["tiny-a"]
    assert cell["content_key"] == bumped.content_key and board.marked("tiny-a", 0)


def test_score_then_analyze_refits_nothing(test_manifest, tmp_path, monkeypatch, capsys):
    """`brainbench score` records the run; `analyze` reads it from the store under the same key."""
    from brainbench.cli.main import main
    from brainbench.readouts.ridge import RidgeReadout

    fits = []
    original = RidgeReadout.fit_prepared

    def counting(self, *args, **kwargs):
        fits.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(RidgeReadout, "fit_prepared", counting)  # one call per split and layer
    monkeypatch.setenv("BRAINBENCH_STORE", str(tmp_path / "results.sqlite"))
    assert main(["score", "tiny-a", "gen-V1", "--json"]) == 0
    after_score = len(fits)
    assert after_score > 0
    assert main(["analyze", "layer-profile", "tiny-a", "gen-V1", "--out", str(tmp_path / "out")]) == 0
    assert len(fits) == after_score  # no readout was fitted again
    assert (tmp_path / "out" / "layer-profile.nc").is_file()
