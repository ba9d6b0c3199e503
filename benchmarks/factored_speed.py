"""Paired, interleaved timing of readouts through the CLI, before and after a change.

For each round, every (code version, readout) pair runs once as

    brainbench score MODEL BENCHMARK --layers LAYER --readout R --json --no-store

in a fresh process (the order of the pairs rotates each round so that neither version
always runs first on a warm or a busy machine), and the table reports, per pair, the
median over rounds of the JSON ``timings.readout_s`` (every split plus the scorer's
leakage guard) and the median EV of the chosen layer.

The "before" version is any git revision, exported with ``git archive`` to a temporary
folder and run from there on the same interpreter and activation cache.

Usage (real V4 data, as in benchmarks/README.md):

    BRAINBENCH_MIRROR=/path/to/mirror BRAINBENCH_OFFLINE=1 BRAINBENCH_HOME=/tmp/bbhome \\
        .venv/bin/python benchmarks/factored_speed.py --before main --rounds 3
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def export(revision: str, folder: Path) -> Path:
    """The tree of ``revision`` under ``folder`` (``git archive``)."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def run_once(tree: Path, args: argparse.Namespace, readout: str) -> dict:
    """One CLI score in a fresh process; returns readout seconds and the chosen layer's median EV."""
    preload = f"import {args.preload}; " if args.preload else ""
    code = f"import sys; {preload}from brainbench.cli.main import main; sys.argv[0] = 'brainbench'; sys.exit(main())"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(tree), args.pythonpath) if p)}
    command = [
        sys.executable,
        "-c",
        code,
        "score",
        args.model,
        args.benchmark,
        "--layers",
        args.layer,
        "--readout",
        readout,
        "--json",
        "--no-store",
    ]
    # cwd = the tree: ``python -c`` puts the working directory first on sys.path
    done = subprocess.run(command, env=env, cwd=tree, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{tree.name} {readout} failed:\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    layer = report["best_layer"]
    return {
        "readout_s": report["timings"]["readout_s"],
        "median_ev": report["layers"][layer]["median_ev"],
        "solver": report["solver"],
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=None, help="git revision to compare against (default: none)")
    parser.add_argument("--readouts", default="spatial,factored")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default="alexnet-untrained")
    parser.add_argument("--benchmark", default="cowley2023-V4")
    parser.add_argument("--layer", default="conv3")
    parser.add_argument("--preload", default=None, help="module to import before the CLI (local shims)")
    parser.add_argument("--pythonpath", default="", help="extra PYTHONPATH after the tree")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw runs here")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="brainbench-speed-"))
    try:
        trees = {"after": ROOT}
        if args.before:
            trees = {"before": export(args.before, scratch / "before"), **trees}
        pairs = [(version, readout) for readout in args.readouts.split(",") for version in trees]
        runs: dict[str, list[dict]] = {f"{v} {r}": [] for v, r in pairs}
        for k in range(args.rounds):
            shift = k % len(pairs)
            for version, readout in pairs[shift:] + pairs[:shift]:
                result = run_once(trees[version], args, readout)
                runs[f"{version} {readout}"].append(result)
                print(f"round {k + 1}: {version} {readout}: {result}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    table = {
        key: {
            "readout_s_median": statistics.median(r["readout_s"] for r in rows),
            "readout_s": [r["readout_s"] for r in rows],
            "median_ev": statistics.median(r["median_ev"] for r in rows),
            "solver": rows[0]["solver"],
        }
        for key, rows in runs.items()
    }
    print("| version | readout | readout_s (median) | runs | median EV |")
    print("|---|---|---:|---|---:|")
    for key, row in table.items():
        version, readout = key.split(" ", 1)
        print(
            f"| {version} | {readout} | {row['readout_s_median']:.1f} | "
            f"{', '.join(f'{t:.1f}' for t in row['readout_s'])} | {row['median_ev']:.4f} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "table": table}, indent=1))
    return table


if __name__ == "__main__":
    main()
