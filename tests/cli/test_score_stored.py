"""``brainbench score`` on a run already in the results store: shown from there, without torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers import known_runs_fixtures as kf

TESTS = Path(__file__).resolve().parents[1]
MODEL, BENCHMARK = "seeded-tiny", "one-file-bench"


def test_score_of_a_stored_run_shows_it_without_importing_torch(tmp_path, monkeypatch):
    from brainbench.registry import refresh
    from brainbench.results.runs import Execution, Request, run
    from brainbench.results.store import ResultStore

    env = kf.offline_env(tmp_path)
    store = tmp_path / "results.sqlite"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    refresh()
    key = run(Request(MODEL, BENCHMARK), Execution(device="cpu", progress=False), ResultStore(store)).key
    code = (
        "import sys\n"
        "from brainbench.cli.main import main\n"
        "code = main(['score', *sys.argv[1:]])\n"
        "print('TORCH', 'torch' in sys.modules, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, MODEL, BENCHMARK, "--store", str(store), "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])},
        timeout=300,
    )
    refresh()
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["content_key"] == key
    assert f"run {key[:12]} is already in the results store" in done.stderr
    assert "TORCH False" in done.stderr, done.stderr[-2000:]
