"""Cost of checking cached artifacts on read: warm ``brainbench score`` with and without.

Runs ``brainbench score MODEL BENCHMARK --json --no-store`` as fresh processes, once to
fill the cache (not timed), then ``--pairs`` times each way, interleaved (checked,
unchecked, checked, ...; the order inside each pair alternates) so drifting machine load
hits both alike; wall and CPU (user + system) seconds are both reported. "Unchecked"
sets ``BRAINBENCH_VERIFY=0``, which skips the sha256 comparison of every cached file
(sizes are still compared). Prints one JSON object:
wall seconds of every run, the medians, their ratio, and the median of the per-pair
ratios.

Usage (the data must be reachable, e.g. through a mirror)::

    BRAINBENCH_MIRROR=/path/to/mirror BRAINBENCH_OFFLINE=1 \\
        python benchmarks/cache_overhead.py [--pairs 5] [--home DIR] [MODEL BENCHMARK]

``--home`` defaults to a fresh folder under ``out/cache-overhead-home``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_once(model: str, benchmark: str, env: dict[str, str]) -> tuple[float, float, dict]:
    """Wall seconds and CPU seconds (user + system) of one ``brainbench score`` process, and its JSON."""
    import resource

    command = [sys.executable, "-m", "brainbench.cli.main", "score", model, benchmark, "--json", "--no-store"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"brainbench score failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return elapsed, cpu, json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", default="alexnet-untrained")
    parser.add_argument("benchmark", nargs="?", default="cowley2023-V4")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args()

    home = args.home or REPO / "out" / "cache-overhead-home"
    if args.home is None:
        shutil.rmtree(home, ignore_errors=True)
    env = {**os.environ, "BRAINBENCH_HOME": str(home), "PYTHONPATH": str(REPO)}
    checked_env = {**env, "BRAINBENCH_VERIFY": "1"}
    unchecked_env = {**env, "BRAINBENCH_VERIFY": "0"}

    _, _, first = run_once(args.model, args.benchmark, checked_env)  # fills the cache
    times: dict[str, list[float]] = {"checked": [], "unchecked": []}
    cpu: dict[str, list[float]] = {"checked": [], "unchecked": []}
    scores = set()
    for pair in range(args.pairs):
        order = ("checked", "unchecked") if pair % 2 == 0 else ("unchecked", "checked")
        for label in order:
            elapsed, seconds, summary = run_once(
                args.model, args.benchmark, checked_env if label == "checked" else unchecked_env
            )
            times[label].append(round(elapsed, 3))
            cpu[label].append(round(seconds, 3))
            scores.add(summary["score"])
    medians = {label: statistics.median(values) for label, values in times.items()}
    pair_ratios = [c / u for c, u in zip(times["checked"], times["unchecked"], strict=True)]
    cache_bytes = sum(p.stat().st_size for p in home.rglob("*") if p.is_file())
    print(
        json.dumps(
            {
                "model": args.model,
                "benchmark": args.benchmark,
                "pairs": args.pairs,
                "cache_gb": round(cache_bytes / 1e9, 3),
                "score": first["score"],
                "scores_seen": sorted(scores),
                "wall_s": times,
                "median_s": medians,
                "ratio_of_medians": round(medians["checked"] / medians["unchecked"], 4),
                "median_pair_ratio": round(statistics.median(pair_ratios), 4),
                # CPU time (user + system) moves less than wall time when other work shares the cores
                "cpu_s": cpu,
                "cpu_ratio_of_medians": round(
                    statistics.median(cpu["checked"]) / statistics.median(cpu["unchecked"]), 4
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
