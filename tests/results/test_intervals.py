"""Leaderboard intervals, paired comparisons and ranks on planted data (no torch, a few seconds)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from brainbench.results.comparisons import benchmark_matrix, compare_models  # noqa: E402
from brainbench.results.intervals import Comparison, draw, holm, weighted_r  # noqa: E402
from brainbench.results.table import build, render  # noqa: E402

from helpers import interval_fixtures as fx

BOTH = ("stimulus", "neuroid")
N_STIMULI, N_NEUROIDS = 100, 30


def _data(seed: int = 0):
    return fx.population(seed, N_STIMULI, N_NEUROIDS)


def _run(model: str, m_low: float, m_high: float, seed: int = 0, model_seed: int | None = None, **kw):
    z, sigma, target = _data(seed)
    prediction = fx.predictions(z, N_NEUROIDS, seed if model_seed is None else model_seed, m_low, m_high)
    return fx.planted_dataset(model, prediction, target, sigma, **kw)


def test_weighted_r_equals_pearson_r_of_the_drawn_copies():
    from brainbench.metrics.regression import pearson_r

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 3)), rng.normal(size=(12, 3))
    counts = rng.multinomial(12, np.full(12, 1 / 12), size=4)
    expected = np.stack([pearson_r(np.repeat(x, c, axis=0), np.repeat(y, c, axis=0)) for c in counts])
    np.testing.assert_allclose(weighted_r(counts, x, y), expected, atol=1e-12)


def test_interval_recomputes_the_stored_score_and_is_reproducible_and_paired():
    ds = _run("a", 0.3, 1.5)
    run = fx.run_row(ds)
    first = draw(ds, run, BOTH, n_boot=200)
    assert first.ok and first.point == pytest.approx(ds.attrs["score"], abs=1e-6)
    low, high = first.interval()
    assert low < ds.attrs["score"] < high
    np.testing.assert_array_equal(first.values, draw(ds, run, BOTH, n_boot=200).values)
    # another model on the same data gets the same resamples: a copy of the predictions gives the same draws
    copy = fx.planted_dataset(
        "copy",
        ds["prediction"].values[0].astype(np.float64),
        ds["target"].values,
        np.sqrt(1 / ds["ceiling"].values - 1),
    )
    np.testing.assert_allclose(draw(copy, fx.run_row(copy), BOTH, n_boot=200).values, first.values, atol=1e-9)
    # a stored score the data do not recompute gets no interval, and says why
    bad = dict(run, score=run["score"] + 0.01)
    refused = draw(ds, bad, BOTH, n_boot=50)
    assert not refused.ok and "do not" not in refused.reason and "recompute" in refused.reason


def test_known_difference_is_separated_and_copies_are_tied():
    """A model explaining 0.84 of the explainable variance against one explaining 0.37 on the same
    data is separated (Holm p < 0.001); an identical copy of the better one is tied with it (p = 1)."""
    good, worse = _run("good", 0.2, 0.6), _run("worse", 1.0, 1.6, model_seed=5)
    twin = fx.planted_dataset(
        "twin",
        good["prediction"].values[0].astype(np.float64),
        good["target"].values,
        np.sqrt(1 / good["ceiling"].values - 1),
    )
    runs = [fx.run_row(d) for d in (good, worse, twin)]
    draws = {r["content_key"]: draw(d, r, BOTH, n_boot=300) for r, d in zip(runs, (good, worse, twin), strict=True)}
    board = build(runs, draws)
    matrix = benchmark_matrix(board, 0)
    assert matrix.pairs[("good", "worse")].p_holm < 0.001 and matrix.pairs[("good", "worse")].difference > 0.3
    assert matrix.pairs[("good", "twin")].p == 1.0
    assert matrix.ranks == {"good": "=1", "twin": "=1", "worse": "3"}
    assert board.rank_labels == {"good": "=1", "twin": "=1", "worse": "3"}
    rows = compare_models(board, "good", "worse")
    assert rows[0].comparison is not None and rows[0].comparison.low > 0.2
    text = render(board, "table")
    assert "=1" in text and "[low, high]" in text and "Rank: rows with more scored cells" in text


def test_interval_covers_the_truth_at_about_its_nominal_rate():
    """Coverage of the 95% interval on simulated recordings (100 stimuli x 30 neuroids, 5 folds, 200
    resamples, 200 recordings; run on this code, measured 2026-12-07):

    * stimuli and neuroids resampled, truth = the population median ceiled score: 0.985 (conservative:
      resampling both ways counts the stimulus-by-neuroid noise twice; Owen 2007, Ann. Appl. Stat. 1, 544);
    * stimuli only, truth = the median over the recorded neuroids' true ceiled scores: 0.935.
    """
    m_low, m_high = 0.3, 1.5
    population_truth = fx.truth(m_low, m_high)
    both, stimuli = [], []
    for rep in range(200):
        z, sigma, target = fx.population(rep, N_STIMULI, N_NEUROIDS)
        m = np.random.default_rng([rep, 2]).uniform(m_low, m_high, size=N_NEUROIDS)
        ds = fx.planted_dataset("a", fx.predictions(z, N_NEUROIDS, rep, m_low, m_high), target, sigma)
        run = fx.run_row(ds)
        low, high = draw(ds, run, BOTH, n_boot=200).interval()
        both.append(low <= population_truth <= high)
        low, high = draw(ds, run, ("stimulus",), n_boot=200).interval()
        stimuli.append(low <= np.median(1 / (1 + m**2)) <= high)
    assert 0.93 <= np.mean(both) <= 1.0
    assert 0.88 <= np.mean(stimuli) <= 0.98


def test_holm_adjusts_in_step_down_order():
    found = holm([Comparison("a", "b", 1, 0, 2, p) for p in (0.01, 0.04, 0.03)])
    assert [c.p_holm for c in found] == pytest.approx([0.03, 0.06, 0.06])


def test_a_missing_cell_never_helps_a_rank_and_labels_follow_the_declaration():
    """issue 18: a row with 1 of 2 cells (high) ranked above a complete one (low); and the footnote said median."""
    strong = _run("partial", 0.1, 0.3)
    weak_a = _run("complete", 1.2, 1.8, model_seed=3)
    weak_b = _run("complete", 1.2, 1.8, model_seed=4, seed=9, benchmark="other", data_id="d9", region="IT")
    spec = json.loads(weak_b.attrs["spec"])
    spec["benchmark"]["site_aggregate"] = "mean"
    weak_b.attrs["spec"] = json.dumps(spec)
    runs = [fx.run_row(d) for d in (strong, weak_a, weak_b)]
    board = build(runs)
    assert board.models == ["complete", "partial"] and board.rank_labels == {"complete": "1", "partial": "2"}
    assert board.overall("partial") > board.overall("complete")
    for fmt in ("table", "md"):
        text = " ".join(render(board, fmt).split())  # the plain table wraps its notes
        assert "median over reliable neuroids of ceiled-r2 for planted v1" in text
        assert "mean over reliable neuroids of ceiled-r2 for other v1" in text
        assert "a missing cell never helps" in text


def test_show_and_compare_print_intervals_and_reuse_the_cached_draws(tmp_path, capsys, monkeypatch):
    import brainbench.results.intervals as intervals
    from brainbench.cli.main import main
    from brainbench.results.store import ResultStore

    store = ResultStore(tmp_path / "results.sqlite")
    for name, low, high, seed in (("good", 0.2, 0.6, 1), ("worse", 1.0, 1.6, 2)):
        store.record(_run(name, low, high, model_seed=seed))
    args = ["--store", str(store.path)]
    assert main(["leaderboard", "show", "--format", "json", *args]) == 0
    shown = json.loads(capsys.readouterr().out)
    cell = shown["models"][0]["benchmarks"]["planted v1"]
    assert shown["models"][0]["model"] == "good" and cell["interval"][0] < cell["score"] < cell["interval"][1]
    assert shown["models"][0]["overall_interval"] is not None and any("[low, high]" in n for n in shown["notes"])
    with store.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM interval_draws").fetchone()[0] == 2

    def no_recompute(*_args, **_kwargs):
        raise AssertionError("cached draws were recomputed")

    monkeypatch.setattr(intervals, "draw", no_recompute)
    assert main(["leaderboard", "show", *args]) == 0
    text = capsys.readouterr().out
    assert f"{cell['interval'][0]:.3f}, {cell['interval'][1]:.3f}]" in text
    assert "Scores: each benchmark's declared headline" in text
    assert main(["leaderboard", "compare", "good", "worse", *args]) == 0
    out = capsys.readouterr().out
    assert "planted v1" in out and "A higher" in out and "Holm" in out
    assert main(["leaderboard", "compare", "good", "nobody", *args]) == 2
    assert "has no leaderboard cell" in capsys.readouterr().err


def test_neuroids_of_sessions_with_different_stimuli_are_resampled_within_their_session():
    """Two sessions (60 stimuli each, 10 neuroids each): a neuroid's target is NaN on the other
    session's stimuli. The stored score (NaN-aware per-split r, computed here with np.corrcoef) is
    recomputed, and stimuli and neuroids are grouped by session."""
    from brainbench.data.splits import make_splits
    from brainbench.metrics.ceiled import headline
    from brainbench.registry.manifest import SplitSpec
    from brainbench.results.intervals import _plan

    z, sigma, target = fx.population(3, 120, 20)
    prediction = fx.predictions(z, 20, 3, 0.3, 1.0)
    target[60:, :10] = np.nan  # session A saw stimuli 0-59
    target[:60, 10:] = np.nan  # session B saw stimuli 60-119
    ds = fx.planted_dataset("a", prediction, np.nan_to_num(target), sigma)
    ds["target"].values[:] = target
    tests = [s.test for s in make_splits(SplitSpec(kind="kfold", n_splits=5, seed=0), 120, None, 0)]
    r = np.empty((5, 20))
    for k, test in enumerate(tests):
        for n in range(20):
            seen = test[np.isfinite(target[test, n])]
            r[k, n] = np.corrcoef(prediction[seen, n], target[seen, n])[0, 1]
    head = headline(r.mean(0), ds["ceiling"].values, 0.3)
    run = dict(fx.run_row(ds), score=head.value)
    plan = _plan(ds)
    assert sorted((g[0].tolist(), g[1].tolist()) for g in plan.groups) == [
        (list(range(60)), list(range(10))),
        (list(range(60, 120)), list(range(10, 20))),
    ]
    found = draw(ds, run, BOTH, n_boot=200)
    assert found.ok and found.point == pytest.approx(head.value, abs=1e-6)
    low, high = found.interval()
    assert low < head.value < high


def test_a_run_that_cannot_be_resampled_shows_no_interval_and_says_why(tmp_path):
    from brainbench.results.intervals import cached_draws
    from brainbench.results.store import ResultStore
    from brainbench.results.table import shown_runs

    from helpers import results_fixtures as rf

    store = ResultStore(tmp_path / "results.sqlite")
    store.record(rf.fake_dataset(0, model="m1", benchmark="b-V4"))  # no predictions, no layer choice stored
    board = build(store.runs(), cached_draws(store, shown_runs(store.runs())))
    assert board.cell_interval("m1", 0) is None and board.mean_interval("m1") is None
    assert board.cell_note("m1", 0).startswith("no interval: ")
    data = json.loads(render(board, "json"))
    cell = data["models"][0]["benchmarks"]["b-V4 v1"]
    assert cell["interval"] is None and cell["interval_note"] == board.cell_note("m1", 0)
    assert any("No interval: b-V4 v1" in note for note in data["notes"])


def test_the_layer_choice_is_made_again_for_each_neuroid_draw():
    """With stored validation scores, each resample's split picks its layer by the run's own rule
    (brainbench.scoring.measure.choose_layers) on the drawn neuroids; the stored choice comes back
    for the recorded ones."""
    from brainbench.results.intervals import choose_per_draw
    from brainbench.scoring.measure import choose_layers

    z, sigma, target = _data(4)
    layers = np.stack([fx.predictions(z, N_NEUROIDS, 40 + k, 0.5, 1.3) for k in range(3)])
    rng = np.random.default_rng(0)
    val = rng.normal(0.2, 0.1, size=(3, 5, N_NEUROIDS))  # close medians: draws change the choice
    ds = fx.planted_dataset("a", layers, target, sigma, val_score=val)
    run = fx.run_row(ds)
    remade = draw(ds, run, BOTH, n_boot=200)
    assert remade.ok and remade.point == pytest.approx(ds.attrs["score"], abs=1e-6)
    for _ in range(5):
        index = rng.integers(0, N_NEUROIDS, size=(1, N_NEUROIDS))
        expected = choose_layers(val[:, :, index[0]], ["l1", "l2", "l3"]).per_split
        assert [int(choose_per_draw(val[:, k, :], index)[0]) for k in range(5)] == expected.tolist()
    fixed = draw(ds.drop_vars("val_score"), run, BOTH, n_boot=200)
    assert fixed.ok and not np.allclose(fixed.values, remade.values)


def test_rdm_resamples_match_comparing_the_rdms_on_the_drawn_stimuli():
    """Pair weights count(a) count(b) (Pearson) and the re-ranked loop (Spearman) equal
    brainbench.metrics.rsa.compare_rdms on the drawn stimulus positions."""
    from brainbench.metrics.rsa import compare_rdms, pattern_rdm
    from brainbench.results.intervals import _spearman_loop

    rng = np.random.default_rng(1)
    model, neural = pattern_rdm(rng.normal(size=(9, 5))), pattern_rdm(rng.normal(size=(9, 4)))
    test = np.array([0, 2, 3, 5, 8])
    counts = rng.multinomial(9, np.full(9, 1 / 9), size=3).astype(float)
    i, j = np.triu_indices(test.size, k=1)
    a, b = test[i], test[j]
    pearson = weighted_r(counts[:, a] * counts[:, b], model[a, b], neural[a, b][:, None])[:, 0]
    spearman = _spearman_loop(counts, test, model[a, b], neural[a, b][:, None])[:, 0]
    for row, p, s in zip(counts, pearson, spearman, strict=True):
        drawn = np.repeat(test, row[test].astype(int))
        assert p == pytest.approx(compare_rdms(model, neural, drawn, "pearson"), abs=1e-12, nan_ok=True)
        assert s == pytest.approx(compare_rdms(model, neural, drawn, "spearman"), abs=1e-12, nan_ok=True)


def test_an_uncorrected_r2_headline_is_resampled_as_it_was_computed():
    """A run whose headline fell back to the median of sign(r) r^2 (ceiled-r2 v3) gets an interval of that."""
    ds = _run("a", 0.3, 1.5)
    chosen = np.nanmean(ds["r_split"].values[0], axis=0)  # every split chose l1
    ds.attrs["score_kind"] = "uncorrected-r2"
    ds.attrs["score"] = float(np.median(np.sign(chosen) * chosen**2))
    result = draw(ds, fx.run_row(ds), BOTH, n_boot=200)
    assert result.ok and result.point == pytest.approx(ds.attrs["score"], abs=1e-6)  # float32 predictions
    low, high = result.interval()
    assert low < ds.attrs["score"] < high
