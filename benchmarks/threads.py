"""Thread count vs wall and CPU time of a warm ``brainbench score`` (paired, interleaved).

Runs ``brainbench score MODEL BENCHMARK --json --no-store`` in fresh processes with
``--threads 1``, ``--threads 2`` and no option (the default of
:mod:`brainbench.scoring.threads`, with ``BRAINBENCH_THREADS``/``OMP_NUM_THREADS``/
``MKL_NUM_THREADS`` removed from the environment). One untimed run first fills the
activation cache; then each round runs every setting once, in an order rotated from
round to round, so slow drifts of the machine's load hit every setting alike. CPU time
is the child's user + system time from ``os.wait4``. Prints one JSON object: per
setting the median wall, user, system and CPU seconds, the scorer's own readout time,
and the ratios to ``--threads 1``; plus the load average before and after.

Usage::

    BRAINBENCH_MIRROR=/work/shared/data/mirror BRAINBENCH_OFFLINE=1 \\
        python benchmarks/threads.py [--rounds 3] [--home /tmp/bbhome-threads] [--json out.json]
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

SETTINGS = {"1": ["--threads", "1"], "2": ["--threads", "2"], "default": []}
THREAD_ENV = ("BRAINBENCH_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def brainbench_command() -> list[str]:
    exe = shutil.which("brainbench") or str(Path(sys.executable).with_name("brainbench"))
    return [exe]


def run_once(args: argparse.Namespace, extra: list[str], env: dict[str, str]) -> dict[str, float]:
    cmd = [*brainbench_command(), "score", args.model, args.benchmark, "--json", "--no-store", *extra]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    stdout = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with exit status {proc.returncode}.")
    summary = json.loads(stdout)
    return {
        "wall_s": wall,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "readout_s": summary["timings"].get("readout_s", float("nan")),
        "score": summary["score"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="alexnet-untrained")
    parser.add_argument("--benchmark", default="cowley2023-V4")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--home", default="/tmp/bbhome-threads", help="BRAINBENCH_HOME of the runs (cache kept)")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if k not in THREAD_ENV}
    env["BRAINBENCH_HOME"] = args.home
    from brainbench.scoring.threads import available_cpus, default_threads

    load_before = os.getloadavg()
    run_once(args, [], env)  # warm-up: activation cache, page cache
    names = list(SETTINGS)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            runs[name].append(run_once(args, SETTINGS[name], env))
            print(f"round {r + 1} {name:>7}: {runs[name][-1]['wall_s']:.1f} s wall", file=sys.stderr)
    medians = {
        name: {
            k: round(statistics.median(x[k] for x in rows), 3)
            for k in ("wall_s", "user_s", "sys_s", "cpu_s", "readout_s")
        }
        for name, rows in runs.items()
    }
    base = medians["1"]
    report = {
        "command": f"brainbench score {args.model} {args.benchmark} --json --no-store [--threads N]",
        "rounds": args.rounds,
        "available_cpus": available_cpus(),
        "default_threads": default_threads(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "median": medians,
        "ratio_to_1_thread": {
            name: {k: round(m[k] / base[k], 3) for k in ("wall_s", "cpu_s", "readout_s")} for name, m in medians.items()
        },
        "runs": runs,
    }
    text = json.dumps(report, indent=1)
    if args.json:
        args.json.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
