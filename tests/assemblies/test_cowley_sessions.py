"""V4 across sessions and animals (Cowley et al. 2023): the composite benchmarks.

End to end on the eight mirrored sessions (``cowley2023-V4-8sessions``, untrained AlexNet,
one layer), and the full-data declaration (``cowley2023-V4-full``) on the real pin list
offline and on generated miniature sessions in a temporary mirror with a matching pin list.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from brainbench.errors import DataError, OfflineError

from helpers.cowley_fixtures import MINI

REPO = Path(__file__).resolve().parents[2]
MIRROR = Path(os.environ.get("BRAINBENCH_TEST_MIRROR", REPO.parent / "shared" / "data" / "mirror"))
MODEL, LAYERS = "alexnet-untrained", ["pool5"]


#: the eight-session tests score real data end to end (about 150 s of CPU for one layer)
def REAL_DATA(test):  # noqa: N802 - a decorator, named like a marker
    return pytest.mark.slow(pytest.mark.mirror(test))


SESSIONS = {  # session -> (animal, neurons, images): the mirrored eight
    "210325": ("PE", 50, 640),
    "190925": ("WE", 36, 1200),
    "190927": ("WE", 31, 1200),
    "190928": ("WE", 24, 1200),
    "190929": ("WE", 33, 1200),
    "210305": ("PE", 70, 400),
    "210322": ("PE", 59, 1200),
    "210621": ("RA", 51, 1200),
}


# ------------------------------------------------------------------ the eight mirrored sessions
@pytest.fixture(scope="module")
def eight(tmp_path_factory):
    """The composite scored once through a results store, then asked for again."""
    if not (MIRROR / "cowley2023").is_dir():
        pytest.skip(f"real-data mirror not found at {MIRROR} (set BRAINBENCH_TEST_MIRROR)")
    home = tmp_path_factory.mktemp("home-v4")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINBENCH_HOME", str(home))
        patch.setenv("BRAINBENCH_MIRROR", str(MIRROR))
        patch.setenv("BRAINBENCH_OFFLINE", "1")
        patch.delenv("BRAINBENCH_MANIFESTS", raising=False)
        from brainbench.registry import refresh
        from brainbench.results.runs import Execution, Request, run
        from brainbench.results.store import ResultStore

        refresh()
        store = ResultStore(home / "results.sqlite")
        request = Request(MODEL, "cowley2023-V4-8sessions", layers=tuple(LAYERS))
        first = run(request, Execution(progress=False), store=store).dataset
        runs_after_first = store.runs()
        repeated = run(request, Execution(progress=False), store=store)
        again, was_stored = repeated.dataset, repeated.stored
        cli = subprocess.run(
            [sys.executable, "-m", "brainbench.cli.main", "score", MODEL, "cowley2023-V4-8sessions"]
            + ["--layers", ",".join(LAYERS), "--json", "--store", str(store.path)],
            capture_output=True,
            text=True,
            env=dict(os.environ),
            cwd=REPO,
            timeout=600,
        )
        refresh()
        yield {
            "dataset": first,
            "store": store,
            "runs_after_first": runs_after_first,
            "again": again,
            "was_stored": was_stored,
            "runs_after_again": store.runs(),
            "cli": cli,
        }


@REAL_DATA
def test_every_session_is_its_own_stored_run(eight):
    ds, store = eight["dataset"], eight["store"]
    runs = {r["benchmark"]: r for r in eight["runs_after_first"]}
    parts = ["cowley2023-V4"] + [f"cowley2023-V4-{s}" for s in SESSIONS if s != "210325"]
    assert sorted(runs) == sorted([*parts, "cowley2023-V4-8sessions"])
    assert [str(p) for p in ds["part"].values] == parts
    for name, key in zip(parts, ds["part_content_key"].values, strict=True):
        assert runs[name]["content_key"] == str(key)
        part = store.load_results(runs[name])  # the part's own stored run holds the same per-neuroid numbers
        mine = ds["part_of_neuroid"].values == name
        np.testing.assert_array_equal(ds["headline_r"].values[mine], part["headline_r"].values)
        np.testing.assert_array_equal(ds["r"].values[:, mine], part["r"].values)
        assert int(part.sizes["stimulus"]) == SESSIONS[str(part["session"].values[0])][2]
    assert runs["cowley2023-V4-8sessions"]["region"] == "V4"
    assert json.loads(ds.attrs["provenance"])["parts"] == dict(zip(parts, ds["part_content_key"].values, strict=True))


@REAL_DATA
def test_per_session_and_per_animal_values_recomputed_from_neurons(eight):
    ds = eight["dataset"]
    r = ds["headline_r"].values
    session, subject = ds["session"].values.astype(str), ds["subject"].values.astype(str)
    assert ds.sizes["neuroid"] == sum(n for _, n, _ in SESSIONS.values()) == 354
    per_session = {s: float(np.median(r[session == s])) for s in SESSIONS}
    for k, name in enumerate(ds["part"].values):
        s = str(ds["session"].values[ds["part_of_neuroid"].values == name][0])
        assert ds["part_value"].values[k] == pytest.approx(per_session[s], abs=1e-12)
        assert ds["part_group"].values[k] == SESSIONS[s][0]
        assert int(ds["part_n_neuroids"].values[k]) == SESSIONS[s][1]
    per_animal = {
        a: np.mean([per_session[s] for s, (b, _, _) in SESSIONS.items() if b == a]) for a in ("WE", "PE", "RA")
    }
    groups = dict(zip(ds["group"].values.astype(str), ds["group_value"].values, strict=True))
    assert groups == pytest.approx(per_animal, abs=1e-12)
    assert set(subject) == set(per_animal)
    assert ds.attrs["score"] == pytest.approx(np.mean(list(per_animal.values())), abs=1e-12)
    assert np.isfinite(ds.attrs["score"]) and -1 < ds.attrs["score"] < 1


@REAL_DATA
def test_headline_is_labelled_uncorrected_everywhere(eight):
    ds = eight["dataset"]
    assert ds.attrs["score_kind"] == "uncorrected-r"
    assert "uncorrected" in ds.attrs["score_note"] and "no ceiling" in ds.attrs["score_note"]
    stored = next(r for r in eight["runs_after_first"] if r["benchmark"] == "cowley2023-V4-8sessions")
    assert stored["score_kind"] == "uncorrected-r"
    assert stored["score"] == pytest.approx(ds.attrs["score"], abs=1e-12)
    cli = eight["cli"]
    assert cli.returncode == 0, cli.stderr
    summary = json.loads(cli.stdout)
    assert summary["score_kind"] == "uncorrected-r" and summary["score"] == pytest.approx(ds.attrs["score"], abs=1e-6)
    assert summary["aggregate"]["value"] == "r" and summary["aggregate"]["group_by"] == "subject"
    assert set(summary["groups"]) == {"WE", "PE", "RA"}


@REAL_DATA
def test_session_with_trials_reports_its_ceiling(eight):
    ds = eight["dataset"]
    trials = ds["session"].values.astype(str) == "210325"
    assert np.isfinite(ds["ceiling"].values[trials]).all() and np.isnan(ds["ceiling"].values[~trials]).all()
    # the golden median ceiling of cowley2023-V4 (tests/scoring/test_score_cowley.py): same neurons, same halvings
    assert float(np.median(ds["ceiling"].values[trials])) == pytest.approx(0.763634, abs=1e-6)
    kinds = dict(zip(ds["part"].values.astype(str), ds["part_score_kind"].values.astype(str), strict=True))
    # a part without trials falls back to ceiled-r2 v3's uncorrected median of sign(r) r^2
    assert kinds.pop("cowley2023-V4") == "ceiled" and set(kinds.values()) == {"uncorrected-r2"}
    summary = json.loads(eight["cli"].stdout)
    assert summary["parts"]["cowley2023-V4"]["median_ceiling"] == pytest.approx(0.763634, abs=1e-6)
    assert all(p["median_ceiling"] is None for n, p in summary["parts"].items() if n != "cowley2023-V4")
    assert summary["n_reliable"] == 50


@REAL_DATA
def test_second_call_reuses_the_stored_runs(eight):
    assert eight["was_stored"]
    assert eight["runs_after_again"] == eight["runs_after_first"]  # nothing re-scored or re-recorded
    assert eight["again"].attrs["content_key"] == eight["dataset"].attrs["content_key"]
    summary = json.loads(eight["cli"].stdout)
    assert summary["content_key"] == eight["dataset"].attrs["content_key"]


# ------------------------------------------------------------------ the full-data declaration
def test_full_data_offline_names_the_missing_files_before_any_work(mirror, monkeypatch):
    from brainbench import score

    monkeypatch.setattr("brainbench.models.base.load_model", _no_model)
    with pytest.raises(OfflineError) as error:
        score(MODEL, "cowley2023-V4-full", progress=False)
    message = str(error.value)
    assert "cowley2023/responses_raw/responses_190923.npy" in message
    assert "cowley2023/images/images_211103.zip" in message
    assert "cowley2023/responses_raw/responses_210325.npy" not in message  # mirrored: not missing
    assert "cowley2023/images/images_210325.zip" not in message
    assert f"{mirror}/<dataset>/<path>" in message and "BRAINBENCH_OFFLINE" in message
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence


def _no_model(*args, **kwargs):
    raise AssertionError("the model was built before the offline check")


def test_full_data_offline_cli_exits_2_with_one_line(mirror):
    result = subprocess.run(
        [sys.executable, "-m", "brainbench.cli.main", "score", MODEL, "cowley2023-V4-full"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        cwd=REPO,
        timeout=300,
    )
    assert result.returncode == 2
    assert "responses_raw/responses_190923.npy" in result.stderr and "Traceback" not in result.stderr


def test_pin_list_pins_every_session_with_images():
    from brainbench.assemblies.cowley2023_pins import read_pins

    pins = read_pins()
    sessions = pins.sessions("raw")
    assert len(sessions) == 45 and set(SESSIONS) <= set(sessions)
    assert {pins.animal(s) for s in sessions} == {"WE", "PE", "RA"}
    assert [pins.animal(s) for s in SESSIONS] == [a for a, _, _ in SESSIONS.values()]
    images, raw = pins.files("210325", "raw")
    assert raw.path == "responses_raw/responses_210325.npy" and raw.git_sha1 and raw.known_hash
    assert images.known_hash == "sha256:992774eca3508a2ad01accb1a31f5f3e3d90248c49f4eec314f2a915a263e454"


def test_pinned_session_from_the_mirror_equals_the_declared_one(mirror):
    from brainbench.assemblies.cowley2023 import load, pinned

    declared = load("210325").load(progress=False)
    full = pinned("210325").load(progress=False)
    np.testing.assert_array_equal(full.assembly.values, declared.assembly.values)
    assert full.stimuli.content_hash == declared.stimuli.content_hash
    assert list(full.assembly["subject"].values) == ["PE"] * 50


def test_a_session_that_repeats_images_keeps_each_copy_with_its_original(mirror, fresh_home):
    from brainbench.scoring import prepare

    _, data, spec = prepare(MODEL, "cowley2023-V4-190925", layers=["conv1"], device="cpu", progress=False)
    ids = [str(i) for i in data.assembly["stimulus_id"].values]
    groups = data.stimuli.identical_groups(ids)
    assert np.bincount(groups).max() == 2 and (np.bincount(groups) == 2).sum() == 300
    assert (groups[900:] == groups[:300]).all()  # images 901-1200 repeat images 1-300
    for split in data.splits:
        assert not set(groups[split.train]) & set(groups[split.test])
    assert spec.content["split_groups"]["groups"] == 300 and spec.content["benchmark"]["version"] == 2


# ------------------------------------------------------------------ miniatures


def test_full_data_code_path_on_miniatures(miniature, fresh_home):
    from brainbench import score
    from brainbench.metrics.ceiled import signed_ceiled_r2

    ds = score(MODEL, "mini-full", layers=["conv1"], progress=False)
    assert [str(p) for p in ds["part"].values] == ["mini-full.900001", "mini-full.900002"]
    assert list(ds["part_n_stimuli"].values) == [24, 20] and ds.sizes["neuroid"] == 11
    assert np.isfinite(ds["ceiling"].values).all()  # every part has trials: every neuron has its ceiling
    assert ds.attrs["score_kind"] == "ceiled"
    value = signed_ceiled_r2(ds["headline_r"].values, ds["ceiling"].values, 0.3)
    np.testing.assert_allclose(ds["headline_value"].values, value)
    session = ds["session"].values.astype(str)
    expected = [np.nanmedian(value[session == s]) if np.isfinite(value[session == s]).any() else np.nan for s in MINI]
    np.testing.assert_allclose(ds["part_value"].values, expected)
    groups = dict(zip(ds["group"].values.astype(str), ds["group_value"].values, strict=True))
    assert sorted(groups) == ["RA", "WE"]
    assert ds.attrs["score"] == pytest.approx(np.nanmean(list(groups.values())), nan_ok=True)


def test_pin_check_refuses_a_corrupted_miniature_file(miniature, fresh_home):
    from brainbench import score

    raw = miniature / "responses_raw" / "responses_900002.npy"
    data = bytearray(raw.read_bytes())
    data[-1] ^= 0xFF  # one flipped bit pattern in the last value: same size, different bytes
    raw.write_bytes(bytes(data))
    with pytest.raises(DataError, match="git object id") as error:
        score(MODEL, "mini-full", layers=["conv1"], progress=False)
    assert "cowley2023/responses_raw/responses_900002.npy" in str(error.value)


def test_a_part_of_a_composite_resolves_as_a_benchmark(miniature):
    from brainbench.registry import get_registry

    registry = get_registry()
    part = registry.benchmark("mini-full.900002")
    assert part.kind == "regression" and part.assembly_params == {"session": "900002"}
    assert part.ceiling == "split-half" and part.aggregate is None
    with pytest.raises(Exception, match="no parts named by value"):
        registry.benchmark("cowley2023-V4.210325")


def test_composite_runs_are_stored_verified_and_in_the_grid(miniature, fresh_home):
    import sqlite3

    from brainbench.registry import get_registry
    from brainbench.results.grid import Job, offline_benchmarks, run_grid
    from brainbench.results.store import ResultStore
    from brainbench.results.verify import verify

    assert "mini-full" in offline_benchmarks(get_registry())  # every part's files are mirrored
    store = ResultStore(fresh_home / "results.sqlite")
    job = Job(MODEL, "mini-full", layers=("conv1",))
    first, again = (run_grid([job], store.path, workers=0, progress=False)[0] for _ in range(2))
    assert (first.status, again.status) == ("scored", "skipped") and first.content_key == again.content_key
    assert sorted(r["benchmark"] for r in store.runs()) == ["mini-full", "mini-full.900001", "mini-full.900002"]
    composite = store.lookup(first.content_key)
    assert composite is not None
    checks = verify(store, composite["content_key"][:12], use_cache=True)
    assert [c.ok for c in checks] == [True], [str(d) for c in checks for d in c.differences]
    with sqlite3.connect(store.path) as conn:  # a stored composite score that its parts do not give is flagged
        conn.execute("UPDATE runs SET score = score + 0.01 WHERE content_key = ?", (first.content_key,))
    checks = verify(store, composite["content_key"][:12], use_cache=True)
    assert not checks[0].ok and any(d.what == "score" for d in checks[0].differences)
