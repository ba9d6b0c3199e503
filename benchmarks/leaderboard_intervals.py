"""Time `brainbench leaderboard show` with intervals: cold (draws computed), warm (cached), and without.

Usage::

    python benchmarks/leaderboard_intervals.py --store $BRAINBENCH_HOME/results.sqlite [--repeats 3]

The store is copied to a temporary folder first (its interval cache dropped there), so
the original is never touched. Each repeat runs, interleaved, one cold ``show`` (cache
emptied before it), one warm ``show`` and one ``show --no-intervals``, each a fresh
process (start-up and imports included); the medians are printed, with the per-run
draw times measured in-process on the same copy.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _show(store: Path, *extra: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "brainbench.cli.main", "leaderboard", "show", "--store", str(store), *extra],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def _drop_cache(store: Path) -> None:
    with sqlite3.connect(store) as conn:
        conn.execute("DROP TABLE IF EXISTS interval_draws")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        store = Path(temp) / "results.sqlite"
        shutil.copy2(args.store, store)
        shutil.copytree(args.store.parent / "results", Path(temp) / "results")
        times: dict[str, list[float]] = {"cold": [], "warm": [], "no-intervals": []}
        for _ in range(args.repeats):
            _drop_cache(store)
            times["cold"].append(_show(store))
            times["warm"].append(_show(store))
            times["no-intervals"].append(_show(store, "--no-intervals"))
        from brainbench.results.intervals import declared_units, draw, one_blas_thread, run_kind
        from brainbench.results.store import ResultStore
        from brainbench.results.table import shown_runs

        target = ResultStore(store)
        per_kind: dict[str, list[float]] = {}
        for run in shown_runs(target.runs()):
            dataset = target.load_results(run)
            started = time.perf_counter()
            with one_blas_thread():
                draw(dataset, run, declared_units(run["benchmark"], run_kind(run)))
            per_kind.setdefault(f"{run_kind(run)} ({run['benchmark'].split('-')[0]})", []).append(
                time.perf_counter() - started
            )
    print(f"leaderboard show, median of {args.repeats} interleaved fresh-process runs (seconds):")
    for name, values in times.items():
        print(f"  {name:13s} {statistics.median(values):6.2f}   (all: {', '.join(f'{v:.2f}' for v in values)})")
    print("draws of one run (1,000 resamples), median seconds:")
    for name, values in sorted(per_kind.items()):
        print(f"  {name:32s} {statistics.median(values):6.3f}   ({len(values)} runs)")


if __name__ == "__main__":
    main()
