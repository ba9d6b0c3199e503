"""Time and peak memory of the eight-session V4 composite against its eight single-session scores.

Claim checked: scoring a model on ``cowley2023-V4-8sessions`` costs no more than its eight
parts (``cowley2023-V4``, ``cowley2023-V4-190925``, ...) scored one after another, and
its peak memory is that of its largest session, not the sum of all eight.

Each measurement runs in a fresh child process with its own empty ``BRAINBENCH_HOME``
(cold activation cache, images extracted again, a new results store), reading the data
from ``BRAINBENCH_MIRROR`` offline:

* ``parts``: the eight part benchmarks scored and stored one after another in one process
  (what eight ``brainbench score`` calls do, without eight interpreter start-ups);
* ``composite``: the composite scored and stored (which stores every part as well);
* ``largest``: the largest part alone (``cowley2023-V4-210322``: 1,200 images x 59
  neurons), the memory the composite should not exceed.

A round runs the three in an order that alternates between rounds (paired, interleaved);
wall time is measured around each child, peak resident memory is the child's
``ru_maxrss`` from ``os.wait4`` (the kernel's account of that process alone). Prints one
JSON object with every round and the medians of the paired ratios; ``--markdown`` also
prints the table for benchmarks/README.md.

Usage (2-core CPU; ``--layers`` a subset while developing):

    BRAINBENCH_MIRROR=../shared/data/mirror .venv/bin/python benchmarks/v4_sessions.py \\
        --model mobilenetv2-imagenet --rounds 1 --markdown
    BRAINBENCH_MIRROR=../shared/data/mirror .venv/bin/python benchmarks/v4_sessions.py \\
        --model alexnet-untrained --layers pool5 --rounds 2

Each measurement and each complete round is also printed to stderr as one JSON line as it
ends, so a run cut short keeps its complete rounds: ``--from-log FILE`` (with the same
``--model``, ``--layers`` and ``--threads``) summarises them without measuring anything.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMPOSITE = "cowley2023-V4-8sessions"
LARGEST = "cowley2023-V4-210322"
MODES = ("parts", "composite", "largest")


def child(mode: str, model: str, layers: list[str] | None, threads: int) -> dict:
    """Run one measurement in this (fresh) process; returns what was scored."""
    from brainbench.registry import get_registry
    from brainbench.results.runs import Execution, Request, run
    from brainbench.results.store import ResultStore

    store = ResultStore()
    how = Execution(progress=False, threads=threads)  # threads applied by the runs layer, once per run
    asked = None if layers is None else tuple(layers)
    if mode == "composite":
        result = run(Request(model, COMPOSITE, layers=asked), how, store).dataset
        return {"score": float(result.attrs["score"]), "n_runs": len(store.runs())}
    benchmarks = get_registry().benchmark(COMPOSITE).parts if mode == "parts" else [LARGEST]
    scores = {}
    for benchmark in benchmarks:
        result = run(Request(model, benchmark, layers=asked), how, store).dataset
        scores[benchmark] = float(result.attrs["score"])
        del result
    return {"scores": scores, "n_runs": len(store.runs())}


def measure(mode: str, args: argparse.Namespace) -> dict:
    """One child process: wall seconds and its own peak resident memory (MB)."""
    home = Path(tempfile.mkdtemp(prefix=f"brainbench-v4-{mode}-"))
    env = {**os.environ, "BRAINBENCH_HOME": str(home), "BRAINBENCH_OFFLINE": "1"}
    command = [sys.executable, __file__, "--child", mode, "--model", args.model, "--threads", str(args.threads)]
    if args.layers:
        command += ["--layers", args.layers]
    log = home / "child.log"
    with open(log, "w+") as output:  # a file, not a pipe: a chatty child can never block on a full pipe
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage, not all children's
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read()
    shutil.rmtree(home, ignore_errors=True)
    if process.returncode != 0:
        raise SystemExit(f"{mode} child failed ({process.returncode}):\n{text[-3000:]}")
    out = next(line for line in reversed(text.splitlines()) if line.startswith("{"))
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 1024**2  # Linux: KiB
    return {
        "mode": mode,
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(usage.ru_maxrss * scale, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        **json.loads(out),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mobilenetv2-imagenet")
    parser.add_argument("--layers", default=None, help="comma-separated (default: all the model declares)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2, help="torch/BLAS threads of each child")
    parser.add_argument("--markdown", action="store_true", help="also print the table for benchmarks/README.md")
    parser.add_argument(
        "--from-log",
        metavar="FILE",
        help="measure nothing: summarise the complete rounds of an earlier run's stderr (one JSON line per round)",
    )
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    layers = args.layers.split(",") if args.layers else None
    if args.child:
        print(json.dumps(child(args.child, args.model, layers, args.threads)))
        return {}
    if args.from_log:
        rounds = [_round(line) for line in Path(args.from_log).read_text().splitlines() if line.startswith('{"round"')]
        if not rounds:
            raise SystemExit(f'{args.from_log} holds no complete round (lines starting with {{"round").')
        args.rounds = len(rounds)
    else:
        if not os.environ.get("BRAINBENCH_MIRROR"):
            raise SystemExit("set BRAINBENCH_MIRROR to the folder holding cowley2023/ (e.g. ../shared/data/mirror).")
        rounds = []
        for k in range(args.rounds):
            order = MODES if k % 2 == 0 else tuple(reversed(MODES))
            results = {}
            for mode in order:
                results[mode] = measure(mode, args)
                print(json.dumps({"measured": k, **results[mode]}), file=sys.stderr)  # kept if a later one is cut
            rounds.append(results)
            print(json.dumps({"round": k, **results}), file=sys.stderr)
    report = summarise(rounds, args, layers)
    print(json.dumps(report))
    if args.markdown:
        print(markdown(report))
    return report


def _round(line: str) -> dict:
    """A round as the stderr line of a run printed it: ``{"round": k, mode: measurement, ...}``."""
    found = json.loads(line)
    return {mode: found[mode] for mode in MODES}


def summarise(rounds: list[dict], args: argparse.Namespace, layers: list[str] | None) -> dict:
    """Medians of every measurement and of the paired per-round ratios."""
    ratio = {
        "time_composite_over_parts": [r["composite"]["wall_s"] / r["parts"]["wall_s"] for r in rounds],
        "cpu_composite_over_parts": [r["composite"]["cpu_s"] / r["parts"]["cpu_s"] for r in rounds],
        "peak_composite_over_parts": [r["composite"]["peak_rss_mb"] / r["parts"]["peak_rss_mb"] for r in rounds],
        "peak_composite_over_largest": [r["composite"]["peak_rss_mb"] / r["largest"]["peak_rss_mb"] for r in rounds],
    }
    return {
        "model": args.model,
        "layers": layers or "all declared",
        "rounds": len(rounds),
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "median": {
            f"{mode}_{what}": statistics.median(r[mode][what] for r in rounds)
            for mode in MODES
            for what in ("wall_s", "cpu_s", "peak_rss_mb")
        },
        "median_ratio": {name: round(statistics.median(values), 3) for name, values in ratio.items()},
        "same_scores": all(r["parts"]["scores"][LARGEST] == r["largest"]["scores"][LARGEST] for r in rounds),
        "rounds_detail": rounds,
    }


def markdown(report: dict) -> str:
    m, q = report["median"], report["median_ratio"]
    rows = [
        "| run | wall s | CPU s | peak RSS MB |",
        "| --- | ---: | ---: | ---: |",
        f"| eight parts one after another | {m['parts_wall_s']:.0f} | {m['parts_cpu_s']:.0f} | "
        f"{m['parts_peak_rss_mb']:.0f} |",
        f"| composite `{COMPOSITE}` | {m['composite_wall_s']:.0f} | {m['composite_cpu_s']:.0f} | "
        f"{m['composite_peak_rss_mb']:.0f} |",
        f"| largest part alone (`{LARGEST}`) | {m['largest_wall_s']:.0f} | {m['largest_cpu_s']:.0f} | "
        f"{m['largest_peak_rss_mb']:.0f} |",
        "",
        f"Medians over {report['rounds']} paired round(s): composite / parts wall time "
        f"{q['time_composite_over_parts']:.3f}, CPU time {q['cpu_composite_over_parts']:.3f}; peak memory "
        f"composite / parts {q['peak_composite_over_parts']:.3f}, composite / largest part "
        f"{q['peak_composite_over_largest']:.3f}.",
    ]
    return "\n".join(rows)


if __name__ == "__main__":
    main()
