"""The leaderboard interval of a composite benchmark, composed from its parts' stored runs (no torch).

A planted composite of three sessions (two in animal A, one in B), each a planted regression
run of its own (:mod:`interval_fixtures`), and the composite's run in the layout of
:mod:`brainbench.scoring.composite` (``part``, ``part_content_key``, ``part_group``, the
``aggregate`` attr), with its score computed here with plain numpy: median r per session,
mean per animal, mean over animals.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import xarray as xr

from brainbench.caching.content import KEY_FORMAT, content_key
from brainbench.metrics.ceiled import reliable_mask, signed_ceiled_r2
from brainbench.results.intervals import RECOMPUTE_TOLERANCE, draw, draw_composite

from helpers import interval_fixtures as fx

SESSIONS = {"s1": ("A", 60, 12), "s2": ("A", 48, 10), "s3": ("B", 40, 14)}  # session -> (animal, stimuli, neurons)
N_BOOT = 200
BOTH = ("stimulus", "neuroid")
LAYERED, PER_NEUROID = ("r", "r_split_mean", "ceiled"), ("headline_r", "ceiling", "reliable")
R = {"value": "r", "part": "median", "group_by": "subject", "group": "mean", "overall": "mean"}


def _part(model: str, session: str, m: tuple[float, float] = (0.4, 1.2), model_seed: int = 0) -> xr.Dataset:
    """One session's planted run: the session's own data, the model's predictions, a composite's per-neuroid values."""
    animal, n_stimuli, n_neuroids = SESSIONS[session]
    z, sigma, target = fx.population(int(session[1:]), n_stimuli, n_neuroids)
    prediction = fx.predictions(z, n_neuroids, 100 * model_seed + int(session[1:]), *m)
    ds = fx.planted_dataset(
        model, prediction, target, sigma, n_splits=4, benchmark=f"planted-V4-{session}", data_id=f"d-{session}"
    )
    ds["headline_r"] = ("neuroid", np.nanmean(ds["r_split"].values[0], axis=0))  # every split chose l1
    ds["reliable"] = ("neuroid", reliable_mask(ds["ceiling"].values, 0.3))
    return ds.assign_coords(subject=("neuroid", [animal] * n_neuroids), session=("neuroid", [session] * n_neuroids))


def _score(parts: list[xr.Dataset], how: dict) -> float:
    """The composite's score from its parts, as the declared aggregate defines it (independent of intervals.py)."""
    per_session = {}
    for ds in parts:
        r = ds["headline_r"].values
        value = (
            r
            if how["value"] == "r"
            else np.where(ds["reliable"].values, signed_ceiled_r2(r, ds["ceiling"].values), np.nan)
        )
        per_session[str(ds["session"].values[0])] = float(np.nanmedian(value))
    animals = sorted({SESSIONS[s][0] for s in per_session})
    per_animal = [np.mean([v for s, v in per_session.items() if SESSIONS[s][0] == a]) for a in animals]
    return float(np.mean(per_animal))


def _composite(parts: list[xr.Dataset], how: dict = R) -> xr.Dataset:
    """The composite's stored results: what :func:`draw_composite` reads of assemble_composite's layout."""
    model = str(parts[0].attrs["model"])
    keys = {str(p.attrs["benchmark"]): str(p.attrs["content_key"]) for p in parts}
    joined = hashlib.sha256("\0".join(json.loads(p.attrs["provenance"])["data_sha256"] for p in parts).encode())
    spec = {
        "format": KEY_FORMAT,
        "model": {"id": model},
        "weights": model,
        "benchmark": {"id": "planted-V4-sessions", "version": 1, "kind": "composite", "region": "V4"},
        "headline": fx.HEADLINE,
        "parts": keys,
        "data_sha256": joined.hexdigest(),
        "stimuli_sha256": "s",
    }
    n = sum(p.sizes["neuroid"] for p in parts)
    per_layer = {v: (("layer", "neuroid"), np.concatenate([p[v].values for p in parts], axis=1)) for v in LAYERED}
    per_neuroid = {v: ("neuroid", np.concatenate([p[v].values for p in parts])) for v in PER_NEUROID}
    ds = xr.Dataset(
        {**per_layer, **per_neuroid},
        coords={
            "layer": ["l1"],
            "part": list(keys),
            "part_content_key": ("part", list(keys.values())),
            "part_group": ("part", [str(p["subject"].values[0]) for p in parts]),
            "region": ("neuroid", ["V4"] * n),
        },
    )
    provenance = {"seed": 0, "data_sha256": spec["data_sha256"], "stimuli_sha256": "s", "parts": keys}
    ds.attrs.update(
        {
            **{k: parts[0].attrs[k] for k in ("readout", "solver", "readout_params", "metrics", "ceiling_formula")},
            "model": model,
            "benchmark": "planted-V4-sessions",
            "benchmark_version": 1,
            "benchmark_kind": "composite",
            "best_layer": "l1",
            "layer_choice": json.dumps({"per_split": ["l1"], "beats_zero": True}),
            "score": _score(parts, how),
            "score_kind": "uncorrected-r" if how["value"] == "r" else "ceiled",
            "n_reliable": 0,
            "reliability_floor": 0.3,
            "aggregate": json.dumps(how),
            "selection": "{}",
            "split_spec": "{}",
            "provenance": json.dumps(provenance),
            "timings": "{}",
            "protocol": "declared",
            "protocol_detail": "{}",
            "spec": json.dumps(spec, sort_keys=True),
            "content_key": content_key(spec),
            "format": 2,
        }
    )
    return ds


def _model(name: str, model_seed: int = 0, changed: str = "", how: dict = R) -> tuple[list[xr.Dataset], xr.Dataset]:
    """A model's three session runs and its composite (``changed``: the one session scored with other predictions)."""
    parts = [_part(name, s, model_seed=model_seed + (7 if s == changed else 0)) for s in SESSIONS]
    return parts, _composite(parts, how)


def _draws(parts: list[xr.Dataset], composite: xr.Dataset, n_boot: int = N_BOOT):
    found = {str(p.attrs["content_key"]): (fx.run_row(p), p) for p in parts}
    return draw_composite(composite, fx.run_row(composite), found.__getitem__, n_boot)


@pytest.fixture(scope="module")
def base():
    parts, composite = _model("a")
    return parts, composite, _draws(parts, composite)


def test_composite_cell_has_an_interval_around_its_score_reproducibly(base):
    parts, composite, found = base
    assert found.ok and found.values.shape == (N_BOOT,) and found.units == BOTH
    assert found.point == pytest.approx(composite.attrs["score"], abs=1e-6)  # float32-stored predictions
    low, high = found.interval()
    assert low < composite.attrs["score"] < high and high - low > 0.01
    np.testing.assert_array_equal(_draws(parts, composite).values, found.values)


def test_each_session_is_resampled_with_its_own_cells_draws(base):
    """Session s3 alone in animal B: the composite's draws minus animal A's half are s3's part draws,
    which come from the same resamples as s3's own cell (same seed, same stimulus and neuroid draws)."""
    parts, composite, found = base
    only = _composite([parts[2]])  # a composite of s3 alone: its value is the median r of s3
    alone = _draws([parts[2]], only)
    assert alone.ok
    # s3's own cell with the median-r headline (its declared aggregate is the median): the same resamples
    cell = parts[2].copy()
    cell.attrs["score_kind"] = "uncorrected-r"
    cell.attrs["score"] = float(np.median(cell["headline_r"].values))
    own = draw(cell, fx.run_row(cell), BOTH, n_boot=N_BOOT)
    np.testing.assert_allclose(alone.values, own.values, atol=1e-12)
    animal_a = _draws(parts[:2], _composite(parts[:2]))
    np.testing.assert_allclose(found.values, (animal_a.values + alone.values) / 2, atol=1e-12)


def test_changing_one_sessions_predictions_changes_the_interval_and_pairs_the_comparison(base):
    from brainbench.results.intervals import compare

    parts, composite, found = base
    other_parts, other = _model("b", changed="s2")  # b = a's predictions on s1 and s3, others on s2
    moved = _draws(other_parts, other)
    assert moved.ok and other.attrs["score"] != composite.attrs["score"]
    assert moved.interval() != found.interval() and not np.allclose(moved.values, found.values)
    # paired: the same resamples for both models, so a copy is tied exactly and the difference moves with s2 only
    twin_parts, twin = _model("twin")
    tied = _draws(twin_parts, twin)
    np.testing.assert_allclose(tied.values, found.values, atol=1e-9)
    assert compare("a", "twin", found.point, tied.point, found.values, tied.values).p == 1.0
    versus = compare("a", "b", found.point, moved.point, found.values, moved.values)
    assert versus.low <= found.point - moved.point <= versus.high
    # each draw differs only through s2 (animal A's mean of two sessions: half of s2's change)
    s2 = _draws([parts[1]], _composite([parts[1]])).values
    s2_b = _draws([other_parts[1]], _composite([other_parts[1]])).values
    np.testing.assert_allclose(found.values - moved.values, (s2 - s2_b) / 4, atol=1e-12)


def test_a_ceiled_composite_resamples_the_ceiled_values():
    how = dict(R, value="ceiled")
    parts, composite = _model("a", how=how)
    found = _draws(parts, composite)
    assert found.ok and found.point == pytest.approx(composite.attrs["score"], abs=1e-6)
    low, high = found.interval()
    assert low < composite.attrs["score"] < high


def test_a_composite_whose_parts_do_not_give_its_score_gets_no_interval(base):
    parts, composite, _ = base
    bad = composite.copy()
    bad.attrs["score"] = composite.attrs["score"] + 0.01
    refused = _draws(parts, bad)
    assert not refused.ok and "recompute" in refused.reason


def test_the_leaderboard_shows_the_composite_interval_and_redraws_when_a_part_changes(tmp_path):
    """Through the store: the cell has an interval, the draws are cached, and a part stored again
    with other predictions (same content key, another results file) draws the composite again."""
    from brainbench.results.intervals import cached_draws
    from brainbench.results.store import ResultStore
    from brainbench.results.table import build, interval_note, shown_runs

    store = ResultStore(tmp_path / "results.sqlite")
    parts, composite = _model("a")
    for ds in [*parts, composite]:
        store.record(ds)
    runs = store.runs()
    board = build(runs, cached_draws(store, shown_runs(runs)))
    index = next(k for k, c in enumerate(board.columns) if c.benchmark == "planted-V4-sessions")
    low, high = board.cell_interval("a", index)
    assert low < composite.attrs["score"] < high
    assert "A composite's cell (planted-V4-sessions v1) resamples each of its parts" in interval_note(board)
    again = cached_draws(store, shown_runs(store.runs()))
    np.testing.assert_array_equal(again[composite.attrs["content_key"]].values, board.cell_draws("a", index))
    # s2 stored again under its key with other predictions (and the composite's score that goes with them)
    changed = _part("a", "s2", model_seed=7)
    changed.attrs.update(content_key=parts[1].attrs["content_key"], spec=parts[1].attrs["spec"])
    rebuilt = _composite([parts[0], changed, parts[2]])
    rebuilt.attrs.update(content_key=composite.attrs["content_key"], spec=composite.attrs["spec"])
    store.record(changed)
    store.record(rebuilt)
    redrawn = cached_draws(store, shown_runs(store.runs()))[composite.attrs["content_key"]]
    assert redrawn.ok and redrawn.point == pytest.approx(rebuilt.attrs["score"], abs=1e-6)
    assert not np.allclose(redrawn.values, board.cell_draws("a", index))


@pytest.mark.usefixtures("miniature")
def test_a_scored_composite_gets_its_interval_from_its_stored_parts(fresh_home):
    """End to end on the generated two-session composite (tests/assemblies/test_cowley_sessions.py's miniature,
    scored by the real pipeline and assembled by brainbench.scoring.composite): its parts recompute its
    stored score and its cell gets an interval."""
    from brainbench.results.intervals import cached_draws
    from brainbench.results.runs import Execution, Request, run
    from brainbench.results.store import ResultStore

    store = ResultStore(fresh_home / "results.sqlite")
    request = Request("alexnet-untrained", "mini-full", layers=("conv1",))
    ds = run(request, Execution(progress=False), store=store).dataset
    stored = store.lookup(ds.attrs["content_key"])
    assert stored is not None
    found = cached_draws(store, [stored], n_boot=N_BOOT)[stored["content_key"]]
    assert found.ok, found.reason
    # predictions are stored as float32: on these tiny folds (6 test images) r moves by up to 9e-5
    assert found.point == pytest.approx(ds.attrs["score"], abs=RECOMPUTE_TOLERANCE)
    low, high = found.interval()
    assert low <= ds.attrs["score"] <= high


def test_a_composite_whose_part_is_not_stored_says_so(tmp_path):
    from brainbench.results.intervals import cached_draws
    from brainbench.results.store import ResultStore

    store = ResultStore(tmp_path / "results.sqlite")
    parts, composite = _model("a")
    for ds in [parts[0], parts[2], composite]:  # s2's run is not stored
        store.record(ds)
    run = store.lookup(composite.attrs["content_key"])
    found = cached_draws(store, [run])[composite.attrs["content_key"]]
    assert not found.ok and "part planted-V4-s2's run" in found.reason and "not in the store" in found.reason


def test_a_parts_resampling_units_declared_anew_redraws_the_composite(tmp_path, monkeypatch):
    """A part's ``resample`` changed in its manifest (no new results file; the units of the other parts
    keep the composite's union the same): its own cell is drawn on the new units, so the composite's
    cached draws must not be reused either -- it is drawn again on the same resamples as that cell."""
    from brainbench.results import intervals
    from brainbench.results.store import ResultStore

    store = ResultStore(tmp_path / "results.sqlite")
    parts, composite = _model("a")
    for ds in [*parts, composite]:
        store.record(ds)
    run = store.lookup(composite.attrs["content_key"])
    before = intervals.cached_draws(store, [run], n_boot=50)[run["content_key"]]
    declared = intervals.declared_units
    monkeypatch.setattr(
        intervals, "declared_units", lambda b, k: ("stimulus",) if b.endswith("-s3") else declared(b, k)
    )
    after = intervals.cached_draws(store, [run], n_boot=50)[run["content_key"]]
    found = {str(p.attrs["content_key"]): (store.lookup(str(p.attrs["content_key"])), p) for p in parts}
    fresh = draw_composite(composite, run, found.__getitem__, 50)
    assert after.units == before.units == BOTH  # s1 and s2 still resample neuroids
    np.testing.assert_array_equal(after.values, fresh.values)
    assert not np.allclose(after.values, before.values)


def test_a_composites_page_names_the_units_its_interval_resampled(tmp_path, monkeypatch):
    """A composite's interval resamples what its parts declare; its page named the default of its own kind."""
    from brainbench.results import intervals
    from brainbench.results.site import _benchmark_page
    from brainbench.results.store import ResultStore
    from brainbench.results.table import build

    declared = intervals.declared_units
    sessions = {f"planted-V4-{s}" for s in SESSIONS}
    monkeypatch.setattr(intervals, "declared_units", lambda b, k: ("stimulus",) if b in sessions else declared(b, k))
    store = ResultStore(tmp_path / "results.sqlite")
    parts, composite = _model("a")
    for ds in [*parts, composite]:
        store.record(ds)
    runs = store.runs()
    board = build(runs, intervals.cached_draws(store, [r for r in runs if r["benchmark"] == "planted-V4-sessions"], 20))
    index = next(k for k, c in enumerate(board.columns) if c.benchmark == "planted-V4-sessions")
    page = _benchmark_page(store, board, index, tmp_path / "site", "now", "test", "brainbench leaderboard site")
    assert "resampled here: stimulus (" in page
