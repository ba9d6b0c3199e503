"""Edge cases of the published leaderboard: labels, ranks, comparisons, cached intervals and the site (no torch)."""

from __future__ import annotations

import csv
import io
import json

import numpy as np

from brainbench.results.table import build, records, render

from helpers import interval_fixtures as fx


def _row(model: str, model_seed: int, benchmark: str = "planted", created_at: str = "2026-01-01T00:00:00") -> dict:
    """A declared run row of a small planted regression run (40 stimuli x 8 neuroids, 4 folds)."""
    z, sigma, target = fx.population(0, 40, 8)
    prediction = fx.predictions(z, 8, model_seed, 0.3, 1.0)
    return fx.run_row(fx.planted_dataset(model, prediction, target, sigma, 4, benchmark), created_at)


def test_one_readout_under_two_param_sets_makes_two_columns_with_distinct_labels_and_pages():
    """The declared readout's params changed between two models' runs: two columns, each labelled and
    paged by its params, so neither model's cell is lost in the JSON (keyed by label) or the site."""
    from brainbench.results.site import column_page

    old = dict(_row("a", 1), readout_params=json.dumps({"alpha": 1.0}))
    new = dict(_row("b", 2, created_at="2026-02-01T00:00:00"), readout_params=json.dumps({"alpha": 10.0}))
    board = build([old, new])
    labels = [c.label for c in board.columns]
    assert labels == ['planted v1 [simple {"alpha":1.0}]', 'planted v1 [simple {"alpha":10.0}]']
    by_model = {r["model"]: r["benchmarks"] for r in records(board)}
    assert by_model["a"][labels[0]]["score"] == old["score"] and by_model["a"][labels[1]] is None
    assert by_model["b"][labels[1]]["score"] == new["score"] and by_model["b"][labels[0]] is None
    assert len({column_page(c) for c in board.columns}) == 2
    header = next(csv.reader(io.StringIO(render(board, "csv"))))
    assert len(header) == len(set(header))


def test_a_benchmark_page_says_what_an_uncorrected_headline_is(tmp_path):
    """The site's benchmark page described every headline as the ceiled sign(r) r^2 / ceiling, also for a
    column whose runs fell back to the uncorrected per-split r (marked u in the table)."""
    from brainbench.results.site import _benchmark_page
    from brainbench.results.store import ResultStore

    store = ResultStore(tmp_path / "results.sqlite")
    z, sigma, target = fx.population(0, 40, 8)
    ds = fx.planted_dataset("a", fx.predictions(z, 8, 1, 0.3, 1.0), target, sigma, 4)
    ds.attrs.update(score_kind="uncorrected-r", n_reliable=0, score_note="no neuroid is reliable")
    store.record(ds)
    board = build(store.runs())
    page = _benchmark_page(store, board, 0, tmp_path / "site", "now", "test", "brainbench leaderboard site")
    headline = page.split("<dt>headline</dt><dd>")[1].split("</dd>")[0]
    assert "UNCORRECTED median over all neuroids of the per-split r: no neuroid is reliable" in headline
    assert "/ ceiling" not in headline


def test_a_profile_figure_is_the_same_file_when_drawn_again(tmp_path):
    """The SVG drops its date, but matplotlib salts its element ids at random unless told otherwise."""
    from brainbench.results.site import _profile_figure

    profiles = {"a": (["l1", "l2"], np.array([0.1, 0.3]), "l2"), "b": (["l1", "l2"], np.array([0.2, 0.1]), "l1")}
    for name in ("one.svg", "two.svg"):
        _profile_figure(profiles, "planted v1", "ceiled score", tmp_path / name)
    assert (tmp_path / "one.svg").read_bytes() == (tmp_path / "two.svg").read_bytes()


def _with_draws(*datasets) -> tuple[list[dict], dict]:
    from brainbench.results.intervals import draw

    rows = [fx.run_row(ds) for ds in datasets]
    pairs = zip(rows, datasets, strict=True)
    draws = {r["content_key"]: draw(ds, r, ("stimulus", "neuroid"), n_boot=100) for r, ds in pairs}
    return rows, draws


def _planted(model: str, model_seed: int, m: tuple[float, float] = (0.3, 1.0), benchmark: str = "planted", seed=0):
    z, sigma, target = fx.population(seed, 40, 8)
    prediction = fx.predictions(z, 8, model_seed, *m)
    return fx.planted_dataset(model, prediction, target, sigma, 4, benchmark, f"d{seed}")


def test_a_benchmark_named_twice_in_compare_is_one_test_of_the_holm_family():
    """`compare A B planted "planted v1"` names one column twice: one row, so Holm does not double its p."""
    from brainbench.results.comparisons import compare_models

    board = build(*_with_draws(_planted("a", 1, (0.2, 0.6)), _planted("b", 2, (0.8, 1.4))))
    (row,) = compare_models(board, "a", "b", ["planted", "planted v1"])
    assert row.comparison is not None and row.comparison.p_holm == row.comparison.p


def test_an_overall_mean_of_exactly_zero_is_a_score_not_a_missing_one():
    """Without intervals ranks follow the means; a mean of 0.0 was taken as missing, so the row below it
    (-0.1) was shown tied with it (=1)."""
    zero, negative = dict(_row("zero", 1), score=0.0), dict(_row("negative", 2), score=-0.1)
    board = build([zero, negative])
    assert board.models == ["zero", "negative"]
    assert board.rank_labels == {"zero": "1", "negative": "2"}


def test_a_row_without_an_interval_does_not_undo_the_ties_of_the_rows_with_one():
    """a and b do not differ significantly (paired, Holm) and share rank 1; c's run cannot be resampled.
    c used to switch the whole coverage group to point ranks, showing a above b as if they differed."""
    from brainbench.results.comparisons import benchmark_matrix
    from brainbench.results.intervals import Draws

    rows, draws = _with_draws(_planted("a", 1), _planted("b", 2), _planted("c", 3, (1.5, 2.5)))
    pair = benchmark_matrix(build(rows, draws), 0).pairs[("a", "b")]
    assert pair.difference > 0 and not pair.significant  # the premise, from the paired test itself
    c = next(r["content_key"] for r in rows if r["model"] == "c")
    draws[c] = Draws(c, np.empty(0), float("nan"), (), "no interval: the run did not store its per-split layer choice.")
    board = build(rows, draws)
    assert board.models == ["a", "b", "c"]
    assert board.rank_labels == {"a": "=1", "b": "=1", "c": "3"}


def test_a_model_named_twice_in_a_grid_is_one_job(tmp_path, monkeypatch):
    """`leaderboard run --models tiny-a,tiny-a` planned the pair twice: two workers scoring and storing one run."""
    from brainbench.cli.main import main
    from brainbench.results import grid

    from helpers import results_fixtures as rf

    planned = []
    monkeypatch.setattr(grid, "run_grid", lambda jobs, *args, **kwargs: planned.extend(jobs) or [])
    with rf.registered(rf.write_manifest(tmp_path / "manifest"), monkeypatch):
        args = ["--models", "tiny-a,tiny-a", "--benchmarks", "gen-V1,gen-V1", "--workers", "0"]
        assert main(["leaderboard", "run", *args, "--store", str(tmp_path / "r.sqlite")]) == 0
    assert planned == [grid.Job("tiny-a", "gen-V1")]


def test_a_damaged_cached_interval_is_drawn_again(tmp_path):
    """The interval cache is outside the rows' checksums: a cut-short draws blob was read as an interval
    of 10 resamples (or, cut mid-number, raised from numpy); it is drawn again instead."""
    import sqlite3

    from brainbench.results.intervals import cached_draws
    from brainbench.results.store import ResultStore

    store = ResultStore(tmp_path / "results.sqlite")
    store.record(_planted("a", 1))
    (run,) = store.runs()
    first = cached_draws(store, [run], n_boot=40)[run["content_key"]]
    for cut in (80, 13):
        with sqlite3.connect(store.path) as conn:
            conn.execute("UPDATE interval_draws SET draws = substr(draws, 1, ?)", (cut,))
        again = cached_draws(store, [run], n_boot=40)[run["content_key"]]
        assert again.ok and again.values.shape == (40,)
        np.testing.assert_array_equal(again.values, first.values)


def test_models_whose_ids_share_a_slug_get_a_page_each():
    """Model ids from dynamic plugins (``hf/<org>/<name>``) are not file names; two of them slugged alike
    wrote one page over the other."""
    from brainbench.results.site import model_page

    assert model_page("hf/org/a_b") != model_page("hf/org_a/b")
    assert model_page("alexnet-untrained") == "models/alexnet-untrained.html"


def test_an_output_that_cannot_be_written_fails_in_one_sentence_before_any_work(tmp_path, capsys, monkeypatch):
    """`show -o` into a missing or unwritable folder, and `site --out` below a file, ended in a traceback,
    after every interval was drawn."""
    from brainbench.cli import leaderboard
    from brainbench.cli.main import main

    def no_work(*args, **kwargs):
        raise AssertionError("the intervals were drawn before the output was checked")

    monkeypatch.setattr(leaderboard, "board_with_intervals", no_work)
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    store = ["--store", str(tmp_path / "r.sqlite")]
    assert main(["leaderboard", "show", "-o", str(a_file / "board.md"), *store]) == 2
    assert "cannot be written" in capsys.readouterr().err
    assert main(["leaderboard", "site", "--out", str(a_file / "site"), *store]) == 2
    assert "cannot be written" in capsys.readouterr().err


def test_show_writes_its_output_into_a_new_folder(tmp_path):
    from brainbench.cli.main import main
    from brainbench.results.store import ResultStore

    target = tmp_path / "new" / "board.md"
    ResultStore(tmp_path / "r.sqlite").runs()  # an empty store (a store named but not there is refused)
    assert (
        main(["leaderboard", "show", "--format", "md", "-o", str(target), "--store", str(tmp_path / "r.sqlite")]) == 0
    )
    assert target.read_text().startswith("| rank | model |")
    assert [p.name for p in target.parent.iterdir()] == ["board.md"]  # no temporary left


def test_a_benchmark_counts_once_in_the_means_and_coverage_by_its_newest_version():
    """X v2 replaced X v1. A model scored on both had X twice in its mean and one more cell of coverage, so it
    ranked above a better model scored after the bump (v2 only); the v1 cell is now shown, marked o, and
    left out of the means and the coverage."""
    old_v1 = dict(_row("old-model", 1, benchmark="X"), score=0.2)
    old_v2 = dict(old_v1, score=0.25, benchmark_version=2, content_key="old-v2")
    new_v2 = dict(_row("new-model", 2, benchmark="X"), score=0.6, benchmark_version=2, content_key="new-v2")
    board = build([old_v1, old_v2, new_v2])
    assert board.models == ["new-model", "old-model"] and board.rank_labels == {"new-model": "1", "old-model": "2"}
    assert [(c.label, c.current) for c in board.columns] == [("X v1", False), ("X v2", True)]
    assert board.coverage("old-model") == board.coverage("new-model") == (1, 1)
    assert board.overall("old-model") == 0.25
    table = render(board, "table")
    assert "0.200o" in table and "o an older column of a benchmark" in table
    only_v1 = build([old_v1])  # a benchmark with one version: its column is current
    assert only_v1.columns[0].current and only_v1.overall("old-model") == 0.2
