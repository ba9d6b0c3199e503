"""The SQLite results store: round trip, content keys, migration, concurrency, crashes."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from brainbench.results import store as store_module
from brainbench.results.store import ResultStore, StoreError, store_path

from helpers import results_fixtures as rf

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def test_manifest(tmp_path, monkeypatch):
    path = rf.write_manifest(tmp_path / "manifest")
    monkeypatch.setenv("BRAINBENCH_MANIFESTS", str(path))
    from brainbench.registry import refresh

    refresh()
    return path


def _median(values):
    values = np.asarray(values, float)
    return float(np.median(values[np.isfinite(values)]))


def test_store_path_forms(tmp_path, monkeypatch, fresh_home):
    assert store_path(None) == fresh_home / "results.sqlite"
    assert store_path(f"sqlite:///{tmp_path}/a.sqlite") == tmp_path / "a.sqlite"  # sqlite:////abs
    assert store_path("sqlite:///rel.sqlite") == Path("rel.sqlite")
    monkeypatch.setenv("BRAINBENCH_STORE", str(tmp_path / "env.sqlite"))
    assert store_path(None) == tmp_path / "env.sqlite"
    with pytest.raises(StoreError, match="not supported"):
        store_path("postgresql://host/db")


def test_round_trip_of_a_real_score(test_manifest, tmp_path):
    import brainbench

    dataset = brainbench.score("tiny-a", "gen-V1", progress=False)
    store = ResultStore(tmp_path / "store.sqlite")
    key = store.record(dataset)
    assert store.schema_version() == store_module.SCHEMA_VERSION
    assert store.has(key)
    (run,) = store.runs()
    assert run["content_key"] == key and len(key) == 64
    assert (run["model"], run["benchmark"], run["benchmark_version"], run["region"]) == ("tiny-a", "gen-V1", 1, "V1")
    assert run["readout"] == "simple" and run["solver"] == "exact-dual"
    assert run["best_layer"] == dataset.attrs["best_layer"]
    assert run["score"] == pytest.approx(dataset.attrs["score"], abs=0, rel=0)
    assert run["weights_sha256"] == dataset.attrs["provenance"].split('"weights": "')[1][:64]
    assert run["ceiling_formula"] == '{"split-half": 2}'
    rows = store.rows(key)
    assert [r["layer"] for r in rows] == ["c1", "c2"]
    for row in rows:
        sel = dataset.sel(layer=row["layer"])
        assert row["median_r"] == _median(sel["r"].values)
        assert row["median_ev"] == _median(sel["ev"].values)
        assert row["median_ceiled"] == _median(sel["ceiled"].values)
        assert row["n_neuroids"] == 5
        assert row["is_best_layer"] == int(row["layer"] == dataset.attrs["best_layer"])
    # the per-neuroid file round-trips exactly
    stored = store.load_results(run)
    np.testing.assert_array_equal(stored["r"].values, dataset["r"].values)
    np.testing.assert_array_equal(stored["ceiling"].values, dataset["ceiling"].values)
    assert (tmp_path / "results" / f"{key}.nc").is_file()
    # recording the same result again replaces it: still one run, two layer rows
    assert store.record(dataset) == key
    assert len(store.runs()) == 1 and len(store.rows()) == 2


def test_content_key_follows_what_determines_the_result(test_manifest):
    """The one key (brainbench.scoring.spec): every input that can move a number changes it, prose does not."""
    from brainbench.registry import get_registry
    from brainbench.scoring import prepare

    def key(**options):
        return prepare("tiny-a", "gen-V1", progress=False, registry=get_registry(), **options)[2]

    base = key()
    assert key().key == base.key  # same inputs, same key
    for options in (
        {"seed": 1},
        {"layers": ["c1"]},
        {"readout": "simple-narrow"},
        {"readout_params": {"alphas": [1.0]}},
        {"splits": [([0, 1, 2, 3, 4, 5], [6, 7])]},
    ):
        assert key(**options).key != base.key, options
    content = base.content
    assert content["benchmark"]["split"]["n_splits"] == 4 and "description" not in content["benchmark"]
    assert content["readout"]["id"] == "simple" and content["readout"]["versions"] == {"simple": 3}
    assert content["ceiling"]["version"] == 2 and content["headline"]["version"] == 3
    assert content["data_sha256"] and content["stimuli_sha256"] and content["weights"]
    assert "brainbench" not in content  # numerics versions, not the package version, mark code changes


def test_a_dataset_is_recorded_by_the_documented_function(tmp_path, monkeypatch):
    # docs/leaderboard.md: "record a dataset yourself with brainbench.results.store.record(dataset)"
    monkeypatch.setenv("BRAINBENCH_STORE", str(tmp_path / "default.sqlite"))
    key = store_module.record(rf.fake_dataset(3))
    assert ResultStore().lookup(key)["model"] == "fake-3"
    other = ResultStore(tmp_path / "other.sqlite")
    assert store_module.record(rf.fake_dataset(4), other) == rf.fake_dataset(4).attrs["content_key"]
    assert other.lookup(rf.fake_dataset(4).attrs["content_key"]) is not None


def test_a_dataset_without_a_spec_or_with_an_altered_one_is_refused(tmp_path):
    store = ResultStore(tmp_path / "s.sqlite")
    dataset = rf.fake_dataset(0)
    tampered = dataset.copy()
    tampered.attrs["spec"] = tampered.attrs["spec"].replace('"seed": 0', '"seed": 5')
    with pytest.raises(StoreError, match="does not hash its run spec"):
        store.record(tampered)
    old = dataset.copy()
    del old.attrs["spec"], old.attrs["content_key"]
    with pytest.raises(StoreError, match="no run spec"):
        store.record(old)


def _make_v1_store(path: Path, results_file: Path) -> None:
    conn = sqlite3.connect(path)
    for statement in store_module._SCHEMA_V1.split(";"):
        if statement.strip():
            conn.execute(statement)
    run = {
        "content_key": "k" * 64,
        "model": "tiny-a",
        "benchmark": "gen-V1",
        "benchmark_version": 1,
        "readout": "simple",
        "solver": "exact-dual",
        "readout_params": "{}",
        "metrics": "{}",
        "ceiling_formula": "{}",
        "selection": "{}",
        "seed": 0,
        "device": "cpu",
        "brainbench_version": "0.0.9",
        "torch_version": "2",
        "numpy_version": "1",
        "xarray_version": "1",
        "python_version": "3",
        "data_sha256": "d",
        "stimuli_sha256": "s",
        "weights_sha256": "w",
        "spec": "{}",
        "best_layer": "c1",
        "score": 0.25,
        "median_ceiling": 0.8,
        "results_file": f"results/{results_file.name}",
        "timings": "{}",
        "created_at": "2024-01-01T00:00:00",
    }
    conn.execute(f"INSERT INTO runs ({', '.join(run)}) VALUES ({', '.join('?' * len(run))})", tuple(run.values()))
    conn.execute(
        "INSERT INTO layer_scores (content_key, layer, is_best_layer, median_r, median_ev, median_ceiled,"
        " n_neuroids) VALUES (?, 'c1', 1, 0.5, 0.2, 0.25, 5)",
        ("k" * 64,),
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()


def test_migration_from_schema_v1(test_manifest, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    nc = results / "old.nc"
    rf.fake_dataset(3).to_netcdf(nc)
    _make_v1_store(tmp_path / "v1.sqlite", nc)
    columns = {r[1] for r in sqlite3.connect(tmp_path / "v1.sqlite").execute("PRAGMA table_info(runs)")}
    assert "region" not in columns and "results_sha256" not in columns

    store = ResultStore(tmp_path / "v1.sqlite")
    assert store.schema_version() == store_module.SCHEMA_VERSION == 4
    (run,) = store.runs()
    # from what the store holds (the results file's region coordinate), never from the installed plugins
    assert run["region"] == "V4"
    assert run["results_sha256"] == store_module._file_sha256(nc)
    assert run["score"] == 0.25 and run["brainbench_version"] == "0.0.9"  # old data kept
    assert run["protocol"] == "unknown"  # its spec ("{}") cannot say; never a leaderboard cell
    (row,) = store.rows()
    assert row["region"] == "V4" and row["median_ceiled"] == 0.25  # the view was rebuilt with the new column
    assert row["protocol"] == "unknown"


def test_migration_backfills_region_from_the_results_file(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    nc = results / "old.nc"
    rf.fake_dataset(3).to_netcdf(nc)  # region coord "V4"; benchmark gen-V1 not installed here
    _make_v1_store(tmp_path / "v1.sqlite", nc)
    (run,) = ResultStore(tmp_path / "v1.sqlite").runs()
    assert run["region"] == "V4"


def test_newer_or_foreign_database_is_refused(tmp_path):
    newer = tmp_path / "newer.sqlite"
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this brainbench"):
        ResultStore(newer).runs()
    foreign = tmp_path / "foreign.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE runs (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a brainbench store"):
        ResultStore(foreign).runs()


def test_two_processes_writing_at_once(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    n = 12
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        keys = pool.starmap(rf.record_many, [(path, 0, n), (path, 100, n)])
    store = ResultStore(path)
    runs = store.runs()
    assert len(runs) == 2 * n and len({r["content_key"] for r in runs}) == 2 * n
    assert {r["content_key"] for r in runs} == set(keys[0]) | set(keys[1])
    rows = store.rows()
    assert len(rows) == 2 * n * 3
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    for index in (0, 5, 100, 111):  # every value landed in the right row
        dataset = rf.fake_dataset(index)
        for row in (r for r in rows if r["model"] == f"fake-{index}"):
            assert row["median_r"] == _median(dataset["r"].sel(layer=row["layer"]).values)


def test_a_killed_run_leaves_no_partial_row(tmp_path):
    path = tmp_path / "killed.sqlite"
    script = textwrap.dedent(f"""
        import os, signal, sys
        from helpers import results_fixtures as rf
        from brainbench.results.store import ResultStore

        store = ResultStore({str(path)!r})
        store.record(rf.fake_dataset(1))           # completes
        original = ResultStore._insert_layer
        calls = []
        def dying(self, conn, row):
            original(self, conn, row)
            calls.append(row)
            if len(calls) == 2:                    # the run row and two of its three layer rows are in
                os.kill(os.getpid(), signal.SIGKILL)
        ResultStore._insert_layer = dying
        store.record(rf.fake_dataset(2))
        print("not killed")
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == -9, proc.stderr
    store = ResultStore(path)
    runs = store.runs()
    assert [r["model"] for r in runs] == ["fake-1"]
    assert len(store.rows()) == 3
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM layer_scores").fetchone()[0] == 3
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # the killed run's netCDF was written before the transaction: an orphan file, not a row
    orphan = rf.fake_dataset(2).attrs["content_key"]
    assert (tmp_path / "results" / f"{orphan}.nc").is_file() and not store.has(orphan)


def test_find_run_by_row_id_or_prefix(tmp_path):
    store = ResultStore(tmp_path / "s.sqlite")
    key = store.record(rf.fake_dataset(4))
    row_id = store.rows(key)[1]["row_id"]
    assert store.find_run(str(row_id))["content_key"] == key
    assert store.find_run(key[:10])["content_key"] == key
    with pytest.raises(StoreError, match="no run"):
        store.find_run("ffffffffff")


def _v2_spec(layers, seed=0, readout="simple", declared_layers=("c1", "c2", "c3")):
    return {
        "format": 1,
        "brainbench": "0.1.0",
        "weights": "w",
        "seed": seed,
        "layers": list(layers),
        "model": {"id": "tiny-a", "layers": list(declared_layers)},
        "benchmark": {"id": "gen-V1", "version": 1, "readout": "simple"},
        "readout": {"id": readout, "solver": "exact-dual", "params": {}},
    }


def _make_v2_store(path: Path, runs: dict[str, tuple[dict, list[str]]]) -> None:
    """A schema-2 store (v1 tables plus v2's columns) with ``runs[key] = (spec, layers)``."""
    conn = sqlite3.connect(path)
    for statement in store_module._SCHEMA_V1.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("ALTER TABLE runs ADD COLUMN region TEXT")
    conn.execute("ALTER TABLE runs ADD COLUMN results_sha256 TEXT")
    conn.execute("DROP VIEW scores")
    conn.execute(store_module._SCORES_VIEW)
    for minute, (key, (spec, layers)) in enumerate(runs.items()):
        run = {
            "content_key": key,
            "model": "tiny-a",
            "benchmark": "gen-V1",
            "benchmark_version": 1,
            "region": "V1",
            "readout": spec.get("readout", {}).get("id", "simple"),
            "solver": "exact-dual",
            "readout_params": "{}",
            "metrics": "{}",
            "ceiling_formula": "{}",
            "selection": "{}",
            "seed": spec.get("seed", 0),
            "device": "cpu",
            "brainbench_version": "0.1.0",
            "torch_version": "2",
            "numpy_version": "1",
            "xarray_version": "1",
            "python_version": "3",
            "data_sha256": "d",
            "stimuli_sha256": "s",
            "weights_sha256": "w",
            "spec": json.dumps(spec),
            "best_layer": layers[0],
            "score": 0.1 * (minute + 1),
            "median_ceiling": 0.8,
            "results_file": f"results/{key}.nc",
            "results_sha256": None,
            "timings": "{}",
            "created_at": f"2024-01-01T00:0{minute}:00",
        }
        conn.execute(f"INSERT INTO runs ({', '.join(run)}) VALUES ({', '.join('?' * len(run))})", tuple(run.values()))
        for layer in layers:
            conn.execute(
                "INSERT INTO layer_scores (content_key, layer, is_best_layer, median_r, median_ev,"
                " median_ceiled, n_neuroids) VALUES (?, ?, 0, 0.5, 0.2, 0.25, 5)",
                (key, layer),
            )
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()


def test_migration_from_schema_v2_judges_old_rows_by_what_they_stored(test_manifest, tmp_path, monkeypatch):
    from brainbench.results.table import build

    all_layers = ["c1", "c2", "c3"]
    runs = {
        "declared": (_v2_spec(all_layers), all_layers),
        "subset": (_v2_spec(["c1"]), ["c1"]),
        "seed": (_v2_spec(all_layers, seed=1), all_layers),
        "readout": (_v2_spec(all_layers, readout="simple-narrow"), all_layers),  # or an alias: cannot tell
        "no-declaration": (
            {
                "format": 1,
                "seed": 0,
                "layers": all_layers,
                "model": {"id": "tiny-a"},
                "benchmark": {"id": "gen-V1", "version": 1},
                "readout": {"id": "simple"},
            },
            all_layers,
        ),
        "broken-spec": ({}, all_layers),
    }
    _make_v2_store(tmp_path / "v2.sqlite", {k * 4: v for k, v in runs.items()})
    # the stored declarations are the evidence: the installed plugins (tiny-a declares only c1, c2
    # now) must not be consulted
    import brainbench.registry as registry_module

    def no_registry(*args, **kwargs):
        raise AssertionError("the migration consulted the installed plugins")

    monkeypatch.setattr(registry_module, "get_registry", no_registry)
    store = ResultStore(tmp_path / "v2.sqlite")
    assert store.schema_version() == 4
    got = {r["content_key"][: len(r["content_key"]) // 4]: r for r in store.runs()}
    assert {k: r["protocol"] for k, r in got.items()} == {
        "declared": "declared",
        "subset": "custom",
        "seed": "custom",
        "readout": "unknown",
        "no-declaration": "unknown",
        "broken-spec": "unknown",
    }
    assert json.loads(got["subset"]["protocol_detail"]) == {"layers": ["c1"]}
    assert json.loads(got["seed"]["protocol_detail"]) == {"seed": 1}
    assert json.loads(got["readout"]["protocol_detail"])["readout"] == "simple-narrow"
    assert "not_stored" in json.loads(got["no-declaration"]["protocol_detail"])
    assert got["declared"]["score"] == pytest.approx(0.1)  # old data kept
    assert {r["protocol"] for r in store.rows() if r["content_key"] == "declared" * 4} == {"declared"}
    # v2 rows carry the version-1 headline (r^2 / ceiling of the pooled r): listed, never in a cell
    assert {r["score_kind"] for r in store.runs()} == {"legacy"}
    assert build(store.runs()).columns == []
