"""Usage errors: exit code 2, one sentence on stderr, no traceback, and no work done first.

The score cases run on a tiny model and a generated benchmark (``results_fixtures``), so
without the up-front checks they would compute and cache activations within a second:
"no activation cache file" then really shows the check ran first.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from brainbench.errors import BrainbenchError

from helpers import results_fixtures as rf

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent

SCORE = ["score", "tiny-a", "gen-V1", "--no-store"]


@pytest.fixture
def tiny(tmp_path, monkeypatch, fresh_home) -> Path:
    """The tiny test manifest registered, a fresh BRAINBENCH_HOME; returns the home."""
    monkeypatch.setenv("BRAINBENCH_MANIFESTS", str(rf.write_manifest(tmp_path / "manifest")))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), str(TESTS)]))
    from brainbench.registry import refresh

    refresh()
    return fresh_home


def _one_sentence(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    (line,) = lines
    assert "Traceback" not in stderr and line.startswith("error: ") and line.endswith("."), line
    assert "\x1b[" not in line  # no colour codes when stderr is not a terminal
    return line


def _cli(capsys, args: list[str]) -> str:
    """Run ``brainbench ARGS`` in process; assert exit 2 and one sentence; return that sentence."""
    from brainbench.cli.main import main

    capsys.readouterr()
    started = time.perf_counter()
    code = main(args)
    elapsed = time.perf_counter() - started
    captured = capsys.readouterr()
    assert code == 2, (args, captured.err)
    assert elapsed < 20, f"{args} took {elapsed:.1f} s before failing"
    return _one_sentence(captured.err)


def _no_work_done(home: Path) -> None:
    activations = home / "activations"
    assert not activations.exists() or not any(activations.rglob("*.npy")), list(activations.rglob("*"))
    assert not (home / "results.sqlite").exists()


# ------------------------------------------------------------------ parse errors
@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([*SCORE, "--seed", "abc"], "'--seed'"),
        (["score"], "missing argument"),
        (["bogus"], "no such command 'bogus'"),
        (["--bogus"], "no such option: --bogus"),
        ([*SCORE, "--bogus"], "no such option: --bogus"),
        (["leaderboard", "verify", "--tolerance", "x"], "'--tolerance'"),
    ],
)
def test_parse_errors_are_one_sentence(tiny, capsys, args, fragment):
    line = _cli(capsys, args)
    assert fragment in line and "--help` shows the usage" in line
    _no_work_done(tiny)


def test_parse_errors_through_the_console_entry_point(tiny, tmp_path):
    """The installed command, in a subprocess: the vendored parser's errors were tracebacks."""
    env = {**os.environ, "BRAINBENCH_HOME": str(tiny)}
    for args in (["score"], [*SCORE, "--seed", "abc"], ["bogus"], ["leaderboard", "verify"]):
        proc = subprocess.run(
            [sys.executable, "-m", "brainbench.cli.main", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            cwd=tmp_path,
        )
        assert proc.returncode == 2, (args, proc.stderr)
        _one_sentence(proc.stderr)
    _no_work_done(tiny)


# ----------------------------------------------------- bad values, refused up front
@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--device", "gpu"], "device 'gpu' is not one of auto, cpu, cuda"),
        (["--seed", "-1"], "seed must be an integer >= 0, got -1"),
        (["--batch-size", "0"], "batch size must be an integer >= 1, got 0"),
        (["--layers", ""], "--layers '' names nothing"),
        (["--layers", " , "], "--layers ' , ' names nothing"),
        (["--layers", "c1,c9"], "model 'tiny-a' has no layer 'c9'; its layers are c1, c2"),
        (["--readout", "simpel"], "unknown readout 'simpel' (did you mean 'simple'"),
    ],
)
def test_score_refuses_bad_values_before_any_work(tiny, capsys, extra, fragment):
    assert fragment in _cli(capsys, [*SCORE, *extra])
    _no_work_done(tiny)


def test_score_refuses_unknown_ids(tiny, capsys):
    assert "unknown model 'tiny-z'" in _cli(capsys, ["score", "tiny-z", "gen-V1"])
    assert "unknown benchmark 'gen-V2'" in _cli(capsys, ["score", "tiny-a", "gen-V2"])
    _no_work_done(tiny)


def test_score_out_must_be_a_folder(tiny, capsys, tmp_path):
    existing = tmp_path / "scores.nc"
    existing.write_text("not a folder")
    line = _cli(capsys, [*SCORE, "--out", str(existing)])
    assert f"--out {existing} is an existing file" in line
    _no_work_done(tiny)
    assert existing.read_text() == "not a folder"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["leaderboard", "verify"], "give a ROW"),
        (["leaderboard", "verify", "1", "--all"], "cannot be combined"),
        (["leaderboard", "verify", "1", "--tolerance", "-1"], "tolerance must be a number >= 0, got -1.0"),
        (["leaderboard", "verify", "--all", "--device", "gpu"], "device 'gpu'"),
        (
            ["leaderboard", "run", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"],
            "--workers and --scheduler cannot be combined",
        ),
        (
            ["leaderboard", "run", "--models", "tiny-a", "--benchmarks", "gen-V1", "--workers", "-1"],
            "--workers must be >= 0",
        ),
        (
            ["leaderboard", "run", "--models", "tiny-a", "--benchmarks", "gen-V1", "--workers", "0", "--seed", "-2"],
            "seed must be an integer >= 0",
        ),
        (
            ["leaderboard", "run", "--models", "tiny-z", "--benchmarks", "gen-V1", "--workers", "0"],
            "unknown model 'tiny-z'",
        ),
        (["leaderboard", "run", "--models", ",", "--workers", "0"], "--models ',' names nothing"),
        (["leaderboard", "show", "--format", "xml"], "unknown format 'xml'"),
        (["analyze", "layer-profile", "tiny-a", "gen-V1", "--seed", "-1"], "seed must be an integer >= 0"),
        (["analyze", "layer-profile", "tiny-a", "gen-V1", "--layers", "c7"], "has no layer 'c7'"),
        (["analyze", "layer-profile", "tiny-a", "gen-V1", "--device", "tpu"], "device 'tpu'"),
        (["analyze", "no-such-analysis", "tiny-a", "gen-V1"], "unknown analysis 'no-such-analysis'"),
    ],
)
def test_other_commands_refuse_bad_values_before_any_work(tiny, capsys, args, fragment):
    assert fragment in _cli(capsys, args)
    _no_work_done(tiny)


def test_verify_with_zero_tolerance_is_accepted(tiny, capsys):
    """The tolerance check refuses only negative values (0 is exact comparison)."""
    from brainbench.cli.main import main
    from brainbench.results.store import ResultStore

    store = tiny / "empty.sqlite"
    ResultStore(store).runs()  # an empty store, made
    assert main(["leaderboard", "verify", "--all", "--tolerance", "0", "--store", str(store)]) == 2
    assert "holds no runs" in capsys.readouterr().err  # it got past the argument checks


@pytest.mark.parametrize(
    "command",
    [["show"], ["runs"], ["compare", "tiny-a", "tiny-b"], ["site", "--out", "SITE"], ["verify", "--all"]],
    ids=lambda c: c[0],
)
def test_a_store_named_but_not_there_is_refused_not_created(tiny, capsys, monkeypatch, command):
    typo = tiny / "reslts.sqlite"
    args = ["leaderboard", *[str(tiny / "site") if a == "SITE" else a for a in command]]
    line = _cli(capsys, [*args, "--store", str(typo)])
    assert f"there is no results store at {typo} (--store)" in line
    monkeypatch.setenv("BRAINBENCH_STORE", str(typo))
    assert "($BRAINBENCH_STORE)" in _cli(capsys, args)
    assert not typo.exists()  # it used to be created empty, and an empty leaderboard shown


# ------------------------------------------------------------------ the Python API
@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"seed": 1.5}, "seed must be an integer >= 0"),
        ({"seed": True}, "seed must be an integer >= 0"),
        ({"batch_size": 0}, "batch size must be an integer >= 1"),
        ({"device": "gpu"}, "device 'gpu'"),
        ({"layers": []}, "layers is an empty list"),
        ({"layers": "c1"}, "must be a list of layer names"),
    ],
)
def test_score_api_checks_arguments_first(tiny, kwargs, fragment):
    from brainbench import score

    with pytest.raises(BrainbenchError, match=fragment.replace("(", r"\(")):
        score("tiny-a", "gen-V1", progress=False, **kwargs)
    _no_work_done(tiny)


def test_score_api_refuses_an_existing_file_as_out(tiny, tmp_path):
    from brainbench import score

    existing = tmp_path / "file"
    existing.write_text("x")
    with pytest.raises(BrainbenchError, match="is an existing file"):
        score("tiny-a", "gen-V1", out=existing, progress=False)
    _no_work_done(tiny)


# ------------------------------------------------------------------ plugin check
BROKEN_MANIFEST = """
[models.bad-attr]
python_name = "json:no_such_function"
layers = ["l1"]

[models.bad-module]
python_name = "no_such_module_for_brainbench:model"
layers = ["l1"]

[models.no-layers]
python_name = "json:loads"

[assemblies.bad-name]
python_name = "not a python name"

[readouts.bad-base]
base = "simpel"

[benchmarks.bad-refs]
version = 1
assembly = "no-such-assembly"
readout = "simpel"
metrics = ["pearson-rr"]
"""


def test_plugin_check_reports_every_problem(tmp_path, capsys):
    from brainbench.cli.main import main

    manifest = tmp_path / "broken.toml"
    manifest.write_text(BROKEN_MANIFEST)
    assert main(["plugin", "check", str(manifest)]) == 2
    err = capsys.readouterr().err
    expected = [
        "models.bad-attr: 'json' has no attribute 'no_such_function'",
        "models.bad-module: cannot import 'no_such_module_for_brainbench'",
        "key 'models.no-layers.layers': Field required",
        "key 'assemblies.bad-name.python_name'",
        "key 'readouts.bad-base.base': unknown readout 'simpel'",
        "key 'benchmarks.bad-refs.assembly': unknown assembly 'no-such-assembly'",
        "key 'benchmarks.bad-refs.readout': unknown readout 'simpel'",
        "key 'benchmarks.bad-refs.metrics': unknown metric 'pearson-rr'",
    ]
    for fragment in expected:
        assert fragment in err, fragment
    assert err.count("PROBLEM") == len(expected)
    assert f"{len(expected)} problems in {manifest}; fix them" in err


def test_plugin_check_of_a_missing_path(tmp_path, capsys):
    assert "does not exist" in _cli(capsys, ["plugin", "check", str(tmp_path / "nowhere")])


# ------------------------------------------------------------ kind names in messages
def test_kind_names_are_singular_in_messages(tiny, capsys):
    from brainbench.registry import get_registry
    from brainbench.registry.manifest import KINDS, singular

    assert [singular(k) for k in KINDS] == ["model", "assembly", "readout", "metric", "analysis", "benchmark"]
    registry = get_registry()
    for kind in KINDS:
        with pytest.raises(BrainbenchError, match=f"^unknown {singular(kind)} 'zzz-nothing'"):
            registry.get(kind, "zzz-nothing")
    assert "'layer-profile' is one of the analyses, not a benchmark" in _cli(capsys, ["fetch", "layer-profile"])
    assert "unknown analysis 'layer-profil'" in _cli(capsys, ["analyze", "layer-profil", "tiny-a", "gen-V1"])
    assert _cli(capsys, ["describe", "zzz-nothing"]).startswith("error: unknown id 'zzz-nothing'")


# ------------------------------------------------------------------ --help
@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["score", "--help"],
        ["leaderboard", "run", "--help"],
        ["leaderboard", "verify", "--help"],
        ["list", "--help"],
        ["analyze", "--help"],
        ["plugin", "check", "--help"],
    ],
)
def test_help_shows_no_value_after_flags(capsys, args):
    from brainbench.cli.main import main

    assert main(args) == 0
    out = capsys.readouterr().out
    assert "--help" in out and "<bool>" not in out
    if args == ["score", "--help"]:
        assert "<int>" in out  # options that take a value still show its type
        assert "--json " in out


# ------------------------------------------------------------------ progress bars
def _piped_stderr(args: list[str], home: Path, cwd: Path) -> bytes:
    env = {**os.environ, "BRAINBENCH_HOME": str(home), "TERM": "xterm"}
    proc = subprocess.run(
        [sys.executable, "-m", "brainbench.cli.main", *args], capture_output=True, env=env, timeout=300, cwd=cwd
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stderr  # bytes: text mode would turn the bars' carriage returns into newlines


def test_piped_scoring_writes_no_escape_codes(tiny, tmp_path):
    stderr = _piped_stderr([*SCORE, "--json"], tiny, tmp_path)
    assert b"\x1b[" not in stderr and b"\r" not in stderr, stderr
    assert any((tiny / "activations").rglob("*.npy"))  # it did run the bars' code paths
    # an analysis nests bars (activations and readout inside its passes): cursor moves, unless piped
    stderr = _piped_stderr(
        ["analyze", "layer-profile", "tiny-a", "gen-V1", "--no-cache", "--out", str(tmp_path / "analysis")],
        tiny,
        tmp_path,
    )
    assert b"\x1b[" not in stderr and b"\r" not in stderr, stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bars_draw_only_on_a_terminal_and_nested_ones_do_not_stay():
    from brainbench.progress import tqdm

    pipe = io.StringIO()
    with tqdm(total=3, desc="outer", file=pipe) as outer:
        with tqdm(total=2, desc="inner", file=pipe, position=1) as inner:
            inner.update(2)
        outer.update(3)
    assert pipe.getvalue() == ""

    screen = _Terminal()
    with tqdm(total=3, desc="outer", file=screen) as outer:
        with tqdm(total=2, desc="inner", file=screen) as inner:
            assert inner.leave is False and inner.pos != outer.pos
            inner.update(2)
        outer.update(3)
        assert outer.leave is True
    assert "outer" in screen.getvalue()
    assert list(tqdm([1, 2], disable=True, file=screen)) == [1, 2]


def test_a_token_rule_goes_to_the_run_which_builds_the_model_once_after_every_check(tiny, capsys, monkeypatch):
    import json

    from brainbench.cli.main import main
    from brainbench.models import base
    from brainbench.registry import get_registry
    from brainbench.scoring.scorer import prepare

    real = base.load_model
    built: list[str] = []
    monkeypatch.setattr(base, "load_model", lambda entry: built.append(entry.id) or real(entry))
    assert "batch size must be an integer >= 1, got 0" in _cli(capsys, [*SCORE, "--tokens", "cls", "--batch-size", "0"])
    assert built == []  # refused before the model was built
    assert main([*SCORE, "--tokens", "flatten", "--json"]) == 0
    key = json.loads(capsys.readouterr().out)["content_key"]
    assert built == ["tiny-a"]  # built once, by the run
    net = real(get_registry().model("tiny-a"))
    net.tokens = "flatten"  # the model object the command used to build and pass: the same run key
    assert prepare(net, "gen-V1", progress=False)[2].key == key


def test_a_token_rule_is_checked_with_the_request(tiny):
    from brainbench.errors import BrainbenchError
    from brainbench.models.base import load_model
    from brainbench.registry import get_registry
    from brainbench.scoring.arguments import check_request
    from brainbench.scoring.request import Execution, Request

    registry = get_registry()
    assert check_request(Request("tiny-a", "gen-V1", tokens="mean"), Execution(), registry=registry).tokens == "mean"
    with pytest.raises(BrainbenchError, match="token rule 'pooled' is not one of cls, mean, flatten, grid"):
        check_request(Request("tiny-a", "gen-V1", tokens="pooled"), Execution(), registry=registry)  # type: ignore[arg-type]
    net = load_model(registry.model("tiny-a"))
    with pytest.raises(BrainbenchError, match="applies to a model named by id"):
        check_request(Request(net, "gen-V1", tokens="cls"), Execution(), registry=registry)
