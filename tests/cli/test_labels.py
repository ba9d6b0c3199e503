"""What the command line prints says what it is: ``describe`` in words, ``list`` clauses
that close their parentheses, ``analyze`` naming every file it writes under one convention."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from helpers import results_fixtures as rf

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent


def _run(capsys, args: list[str]) -> str:
    from brainbench.cli.main import main

    capsys.readouterr()
    code = main(args)
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def test_describe_prints_words_not_json(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one line per row: the table's wrapping must not hide anything
    out = _run(capsys, ["describe", "cowley2023-V4"])
    for raw in ("{", "}", "null", '"', "test_fraction", "placement", "canvas_fraction", "site_aggregate"):
        assert raw not in out, raw  # a 10-fold split has no test fraction; no placement is declared
    assert "10-fold cross-validation over stimuli (seed 0)" in out
    assert "median over neuroids with reliability >= 0.3 and stimulus-permutation p <= 0.01" in out
    assert "pearson-r, explained-variance" in out
    rsa = _run(capsys, ["describe", "allen-rsa-VISp"])
    assert "20 random splits, each holding out 50% of the stimuli (seed 0)" in rsa
    assert "mean over sites with reliability >= 0.3" in rsa and "no per-site test against chance" in rsa
    assert "resize (overrides the model's own)" in rsa and "null" not in rsa
    human = _run(capsys, ["describe", "kriegeskorte2008-humanIT"])  # a headline of another formula says so
    assert "ceiling-ratio: mean over sites with reliability >= 0.1 of the ceiled score similarity / its" in human
    assert "r^2" not in human.split("headline", 1)[1].split("\n")[0]
    model = _run(capsys, ["describe", "alexnet"])
    assert "mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225), placement resize" in model
    assert "canvas" not in model and "background" not in model  # no canvas is drawn for this placement


def test_list_clauses_close_their_parentheses(capsys, monkeypatch):
    from brainbench.cli.main import _headline
    from brainbench.registry import get_registry
    from brainbench.registry.manifest import KINDS

    registry = get_registry()
    for kind in KINDS:
        for entry in registry.entries(kind):
            short = _headline(entry.description)
            assert short.count("(") == short.count(")") and short.count("[") == short.count("]"), (entry.id, short)
            assert len(short) <= 90
    monkeypatch.setenv("COLUMNS", "200")
    out = _run(capsys, ["list", "analyses"])
    row = next(line for line in out.splitlines() if "layer-correspondence" in line)
    assert "(held-out EV" not in row or "scores)" in row, row
    assert row.count("(") == row.count(")"), row


@pytest.fixture
def tiny(tmp_path, monkeypatch, fresh_home) -> Path:
    monkeypatch.setenv("BRAINBENCH_MANIFESTS", str(rf.write_manifest(tmp_path / "manifest")))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), str(TESTS)]))
    from brainbench.registry import refresh

    refresh()
    yield fresh_home
    refresh()


def test_analyze_names_every_file_it_writes_with_one_convention(tiny, tmp_path, capsys, one_torch_thread):
    import matplotlib.pyplot as plt

    out_dir = tmp_path / "lc"
    args = ["analyze", "layer-correspondence", "tiny-a", "gen-V1", "--out", str(out_dir), "--param", "n_boot=20"]
    message = _run(capsys, args).strip().splitlines()[-1]
    plt.close("all")
    written = sorted(path.name for path in out_dir.iterdir())
    stem = "layer-correspondence"
    assert written == sorted([f"{stem}.nc", f"{stem}.png", f"{stem}.svg", "summary.json", "summary.md"])
    for name in written:
        assert name in message, (name, message)
        assert re.fullmatch(r"[A-Za-z0-9.-]+", name), name  # words joined by "-" only
    assert message.startswith(f"layer-correspondence: wrote {len(written)} files to {out_dir}")
    assert "(layer-correspondence.png)" in (out_dir / "summary.md").read_text()


def test_describe_score_reads_old_records_from_their_spec():
    """A store row or dataset from before the label attrs: aggregate and unit from its spec."""
    import json

    from brainbench.metrics.ceiled import describe_score

    spec = json.dumps({"benchmark": {"kind": "representation", "site_aggregate": "mean"}})
    old = {"score_kind": "ceiled", "n_reliable": 4, "reliability_floor": 0.3, "spec": spec}
    assert describe_score(old).startswith("mean over sites with reliability >= 0.3 of the ceiled score")
    regression = {"score_kind": "uncorrected-r", "score_note": "no repetitions, so no ceiling", "n_units": 20}
    assert describe_score(regression) == (
        "UNCORRECTED median over all 20 neuroids of the per-split r: no repetitions, so no ceiling; "
        "not comparable with ceiled scores"
    )
