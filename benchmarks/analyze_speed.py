"""CPU cost of reading a stored run: ``brainbench analyze`` right after the same ``brainbench score``.

Each round runs, as fresh processes in one ``$BRAINBENCH_HOME`` and store,
``brainbench score MODEL BENCHMARK --json --no-cache`` (the score from scratch:
activations computed again, the run recorded; ``score``), the same without
``--no-cache`` (the stored run read back: ``brainbench score`` with a store shows a stored
run; ``score_warm``), then ``brainbench
analyze ANALYSIS MODEL BENCHMARK`` (which finds the stored run; ``analyze``) and, with
``--compare PATH``, the same ``analyze`` and stored-run ``score`` of another checkout (e.g.
the main branch) on the same store (``compare``, ``compare_score_warm``); the order of
each pair alternates between rounds.
One unmeasured score first fills the caches. CPU seconds are the child's user + system
time (``resource.getrusage(RUSAGE_CHILDREN)`` before and after): on a shared, loaded
machine they move far less than wall seconds, which are reported too. Prints one JSON
object: every round's seconds, the medians, ``analyze / score`` and ``analyze /
score_warm`` (ratios of the medians) and the medians of the per-round ratios.

Usage (the data must be reachable, e.g. through a mirror)::

    BRAINBENCH_MIRROR=/path/to/mirror BRAINBENCH_OFFLINE=1 \\
        python benchmarks/analyze_speed.py [--rounds 5] [--home DIR] [--compare /path/to/other/checkout]

``--home`` defaults to a fresh folder under ``out/analyze-speed-home``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """CPU seconds (user + system) and wall seconds of one child process; exits on failure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[2:])} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", default="alexnet-untrained")
    parser.add_argument("benchmark", nargs="?", default="cowley2023-V4")
    parser.add_argument("--analysis", default="layer-profile")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument(
        "--compare", type=Path, default=None, help="another checkout whose analyze and stored-run score are timed too"
    )
    args = parser.parse_args()

    home = args.home or REPO / "out" / "analyze-speed-home"
    if args.home is None:
        shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True, exist_ok=True)
    work = home / "work"
    work.mkdir(exist_ok=True)

    def env_for(checkout: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "BRAINBENCH_STORE"}
        env.update(BRAINBENCH_HOME=str(home), PYTHONPATH=str(checkout), MPLBACKEND="Agg")
        return env

    cli = [sys.executable, "-m", "brainbench.cli.main"]
    score = [*cli, "score", args.model, args.benchmark, "--json"]
    analyze = [*cli, "analyze", args.analysis, args.model, args.benchmark, "--out", str(work / "analysis")]
    print("filling the caches (one unmeasured score) ...", file=sys.stderr)
    timed(score, env_for(REPO), work)
    rows = []
    for index in range(args.rounds):
        row: dict[str, float] = {}
        row["score_cpu_s"], row["score_wall_s"] = timed([*score, "--no-cache"], env_for(REPO), work)
        warm = [("score_warm", REPO)] + ([("compare_score_warm", args.compare)] if args.compare else [])
        for name, checkout in warm if index % 2 == 0 else warm[::-1]:
            row[f"{name}_cpu_s"], row[f"{name}_wall_s"] = timed(score, env_for(checkout), work)
        order = [("analyze", REPO)] + ([("compare", args.compare)] if args.compare else [])
        for name, checkout in order if index % 2 == 0 else order[::-1]:
            row[f"{name}_cpu_s"], row[f"{name}_wall_s"] = timed(analyze, env_for(checkout), work)
        row["ratio_cpu"] = row["analyze_cpu_s"] / row["score_cpu_s"]
        row["ratio_warm_cpu"] = row["analyze_cpu_s"] / row["score_warm_cpu_s"]
        rows.append({k: round(v, 3) for k, v in row.items()})
        print(json.dumps(rows[-1]), file=sys.stderr)
    medians = {k: round(statistics.median(r[k] for r in rows), 3) for k in rows[0]}
    report = {
        "model": args.model,
        "benchmark": args.benchmark,
        "analysis": args.analysis,
        "rounds": rows,
        "median": medians,
        "analyze_over_score_cpu": round(medians["analyze_cpu_s"] / medians["score_cpu_s"], 3),
        "analyze_over_score_warm_cpu": round(medians["analyze_cpu_s"] / medians["score_warm_cpu_s"], 3),
        "median_of_round_ratios": medians["ratio_cpu"],
        "median_of_round_ratios_warm": medians["ratio_warm_cpu"],
        "compare": str(args.compare) if args.compare else None,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
