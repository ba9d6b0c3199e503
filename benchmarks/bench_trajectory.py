"""A training trajectory scored in one process against one ``brainbench score`` process per checkpoint.

Writes ``--n`` checkpoints of ``--arch`` (its seeded random init, perturbed a little more
for each "epoch", saved as state dicts), then times, ``--pairs`` times and interleaved
(the order inside each pair alternates, so drifting machine load hits both alike):

- ``trajectory``: one process, ``brainbench score 'DIR/epoch_*.pt' BENCHMARK --arch ARCH``;
- ``one-by-one``: ``--n`` processes, ``brainbench score DIR/epoch_K.pt BENCHMARK --arch ARCH``.

Both run with ``--no-store --json`` and, for every pair, a fresh ``BRAINBENCH_HOME`` whose
data are fetched beforehand (not timed), so both compute every activation and neither
downloads or unpacks anything. Both must give the same scores (checked). Prints one JSON
object: every run's wall and CPU (user + system) seconds, the medians, the ratio of the
medians and the median of the per-pair ratios.

Usage (the data must be reachable, e.g. through a mirror)::

    BRAINBENCH_MIRROR=/path/to/mirror BRAINBENCH_OFFLINE=1 \\
        python benchmarks/bench_trajectory.py [--pairs 3] [--n 4] [--arch torchvision/mobilenet_v3_small] \\
        [--layers features.3,features.6,features.9,features.12] [--benchmark cowley2023-V4] [--threads 2]
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


def write_checkpoints(arch: str, folder: Path, n: int) -> list[Path]:
    """``n`` state dicts of ``arch`` (seed 0), each perturbed by 5% noise more than the last."""
    import torch

    sys.path.insert(0, str(REPO))
    from brainbench.models.checkpoint import build_arch, build_arch_id

    net = build_arch(build_arch_id(arch)).module
    generator = torch.Generator().manual_seed(1)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for epoch in range(1, n + 1):
        with torch.no_grad():
            for param in net.parameters():
                param.add_(0.05 * param.std().nan_to_num(0) * torch.randn(param.shape, generator=generator))
        path = folder / f"epoch_{epoch}.pt"
        torch.save(net.state_dict(), path)
        paths.append(path)
    return paths


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of one process, and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--n", type=int, default=4, help="checkpoints in the trajectory")
    parser.add_argument("--arch", default="torchvision/mobilenet_v3_small")
    parser.add_argument("--layers", default="features.3,features.6,features.9,features.12")
    parser.add_argument("--benchmark", default="cowley2023-V4")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=REPO / "out" / "bench-trajectory")
    args = parser.parse_args()

    shutil.rmtree(args.work, ignore_errors=True)
    paths = write_checkpoints(args.arch, args.work / "runs", args.n)
    cli = [sys.executable, "-m", "brainbench.cli.main"]
    common = [args.benchmark, "--arch", args.arch, "--layers", args.layers, "--threads", str(args.threads)]
    common += ["--no-store", "--json"]
    base_env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs: dict[str, list[dict[str, float]]] = {"trajectory": [], "one-by-one": []}
    scores: dict[str, list[float]] = {}
    for pair in range(args.pairs):
        order = ["trajectory", "one-by-one"] if pair % 2 == 0 else ["one-by-one", "trajectory"]
        for way in order:
            home = args.work / f"home-{pair}-{way}"
            env = {**base_env, "BRAINBENCH_HOME": str(home)}
            subprocess.run([*cli, "fetch", args.benchmark], env=env, cwd=REPO, check=True, capture_output=True)
            if way == "trajectory":
                wall, cpu, out = timed([*cli, "score", str(args.work / "runs" / "epoch_*.pt"), *common], env)
                got = [c["score"] for c in json.loads(out)["checkpoints"]]
            else:
                wall = cpu = 0.0
                got = []
                for path in paths:
                    w, c, out = timed([*cli, "score", str(path), *common], env)
                    wall, cpu = wall + w, cpu + c
                    got.append(json.loads(out)["score"])
            if way in scores and scores[way] != got:
                raise SystemExit(f"{way}: scores changed between pairs: {scores[way]} vs {got}")
            scores[way] = got
            runs[way].append({"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)})
            shutil.rmtree(home, ignore_errors=True)
            print(f"pair {pair} {way}: {wall:.1f} s wall, {cpu:.1f} s cpu", file=sys.stderr)
    if scores["trajectory"] != scores["one-by-one"]:
        raise SystemExit(f"different scores: {scores}")
    median = {way: statistics.median(r["wall_s"] for r in rows) for way, rows in runs.items()}
    median_cpu = {way: statistics.median(r["cpu_s"] for r in rows) for way, rows in runs.items()}
    ratios = [b["wall_s"] / a["wall_s"] for a, b in zip(runs["trajectory"], runs["one-by-one"], strict=True)]
    report = {
        "arch": args.arch,
        "benchmark": args.benchmark,
        "layers": args.layers.split(","),
        "checkpoints": args.n,
        "threads": args.threads,
        "runs": runs,
        "median_wall_s": median,
        "median_cpu_s": median_cpu,
        "one_by_one_over_trajectory": round(median["one-by-one"] / median["trajectory"], 3),
        "median_pair_ratio": round(statistics.median(ratios), 3),
        "scores": scores["trajectory"],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
