"""Time, peak memory and held-out median EV of every readout x solver (issue 4).

Two workloads:

* ``v4``: the real macaque V4 data (Cowley et al. 2023, session 210325, 640 images x 50
  neurons) scored end to end by :func:`brainbench.score` on the benchmark
  ``cowley2023-V4-paper`` (one seeded 85/15 holdout, the reference paper's protocol) with
  ``--readout ID``; reads ``BRAINBENCH_MIRROR`` (default ``/work/shared/data/mirror``).
  Reports the held-out median EV at the layer chosen on training data (``best_layer``)
  and the best over layers.
* ``synthetic``: an Allen-sized case, 118 stimuli, AlexNet conv1-conv5 feature shapes,
  1,000 neuroids (``--quick``: fewer neuroids/layers), responses planted through a
  per-neuroid Gaussian spatial mask (width H/8) x three feature channels with population
  R^2 0.5 on ReLU features that mix 8 spatially smoothed latent maps (plus unit noise);
  one seeded 85/15 holdout.

Every job runs in its own subprocess so that peak memory (max RSS on CPU,
``torch.cuda.max_memory_allocated`` on CUDA) belongs to that job alone. Adam iteration
caps are overridden (``--max-iter``) through a temporary manifest named by
``BRAINBENCH_MANIFESTS`` (the ordinary plugin mechanism): ``bench-ID`` = ``base = ID``.

Usage::

    .venv/bin/python benchmarks/readouts.py --quick                 # CPU, minutes
    .venv/bin/python benchmarks/readouts.py --device cuda           # full table, one GPU
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

READOUTS = [  # (registered id, label); solver comes from the readout instance
    ("simple", "simple (core ridge)"),
    ("simple-sgd", "simple-sgd"),
    ("s2", "s2 (Table 1)"),
    ("spatial", "spatial exact (LOO grid)"),
    ("sp1-exact", "sp1 penalty, exact"),
    ("sp1", "sp1 (Table 1), adam"),
    ("factored", "factored als"),
    ("factored-adam", "factored adam"),
]
ALLEN_SHAPES = {
    "conv1": (64, 55, 55),
    "conv2": (192, 27, 27),
    "conv3": (384, 13, 13),
    "conv4": (256, 13, 13),
    "conv5": (256, 13, 13),
}


def _manifest(max_iter: int) -> str:
    lines = ["[readouts.factored-adam]", 'base = "factored"', 'solver = "adam"', 'params = { solver = "adam" }', ""]
    for rid, _ in READOUTS:
        if rid in ("simple",):
            continue
        lines += [
            f"[readouts.bench-{rid}]",
            f'base = "{rid}"',
            f"params = {{ max_iter = {max_iter}, patience = {max(20, max_iter // 10)} }}",
            "",
        ]
    return "\n".join(lines)


def _peak_memory_mb(device: str) -> float:
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _job_v4(args: dict) -> dict:
    import brainbench

    rid = args["readout"] if args["readout"] == "simple" else f"bench-{args['readout']}"
    tick = time.perf_counter()
    ds = brainbench.score(
        args["model"],
        "cowley2023-V4-paper",
        layers=args["layers"],
        readout=rid,
        device=args["device"],
        seed=0,
        progress=False,
    )
    wall = time.perf_counter() - tick
    ev = ds["ev_split"].isel(split=0).median("neuroid")
    timings = json.loads(ds.attrs.get("timings", "{}")) if isinstance(ds.attrs.get("timings"), str) else {}
    return {
        "readout_s": timings.get("readout_s", wall),
        "wall_s": wall,
        "solver": ds.attrs.get("solver"),
        "best_layer": ds.attrs.get("best_layer"),
        "ev_best_layer": float(ev.sel(layer=ds.attrs.get("best_layer"))),
        "ev_max": float(ev.max()),
        "per_layer": {str(k): float(v) for k, v in zip(ev.layer.values, ev.values, strict=True)},
    }


def synthetic_case(shape: tuple[int, int, int], n_neuroids: int, seed: int, device: str, n: int = 118):
    """Smoothed ReLU features ``(n, C, H, W)`` and planted responses ``(n, N)``, R^2 0.5."""
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(seed)
    C, H, W = shape
    # like real CNN features, units share a few latent maps (a fast-decaying spectrum)
    latent = F.avg_pool2d(torch.randn(n, 8, H, W, generator=gen), 3, stride=1, padding=1) * 3
    mixing = torch.randn(C, 8, generator=gen) / 8**0.5
    X = torch.einsum("cl,nlhw->nchw", mixing, latent) + 0.5 * torch.randn(n, C, H, W, generator=gen)
    X = torch.relu(X)
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    cy = torch.rand(n_neuroids, generator=gen) * H
    cx = torch.rand(n_neuroids, generator=gen) * W
    width = max(1.0, H / 8)
    dist2 = (yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2
    mask = torch.exp(-dist2 / (2 * width**2))
    # three planted feature channels per neuroid
    chosen = torch.rand(n_neuroids, C, generator=gen).argsort(1)[:, :3]
    feat = torch.zeros(n_neuroids, C).scatter_(1, chosen, torch.randn(n_neuroids, 3, generator=gen))
    signal = torch.einsum("nchw,lhw,lc->nl", X, mask, feat)
    noise = signal.std(0) * torch.randn(n, n_neuroids, generator=gen)
    return X.to(device), (signal + noise).to(device)


def _job_synthetic(args: dict) -> dict:
    import numpy as np
    import torch

    from brainbench.data.splits import Split
    from brainbench.readouts.cv import cross_validate
    from brainbench.registry.registry import get_registry
    from brainbench.scoring import build_readout

    rid = args["readout"] if args["readout"] == "simple" else f"bench-{args['readout']}"
    readout, _, _ = build_readout(rid, get_registry(), 0)
    out = {"readout_s": 0.0, "per_layer": {}}
    for layer in args["layers"]:
        X, Y = synthetic_case(tuple(ALLEN_SHAPES[layer]), args["neuroids"], 0, args["device"])
        order = np.random.default_rng(0).permutation(X.shape[0])
        n_test = int(round(0.15 * X.shape[0]))
        split = Split(np.sort(order[n_test:]), np.sort(order[:n_test]))
        if args["device"] == "cuda":
            torch.cuda.synchronize()
        tick = time.perf_counter()
        cv = cross_validate(readout, X, Y, [split])
        if args["device"] == "cuda":
            torch.cuda.synchronize()
        out["readout_s"] += time.perf_counter() - tick
        pred = cv.split_predictions[0, split.test]
        y = Y.double().cpu().numpy()[split.test]
        ev = 1 - ((y - pred) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)
        out["per_layer"][layer] = float(np.median(ev))
        out["solver"] = cv.info["solver"]
    out["ev_max"] = max(out["per_layer"].values())
    return out


def run_job(args: dict) -> dict:
    import torch

    torch.manual_seed(0)
    result = _job_v4(args) if args["part"] == "v4" else _job_synthetic(args)
    result["peak_mb"] = _peak_memory_mb(args["device"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["v4", "synthetic", "both"], default="both")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="CPU-sized: 100 neuroids, layers conv3+conv5, Adam capped at 300 iterations",
    )
    parser.add_argument("--max-iter", type=int, default=None)
    parser.add_argument("--neuroids", type=int, default=None)
    parser.add_argument("--layers", default=None, help="comma-separated (default: conv1..conv5)")
    parser.add_argument(
        "--model", default="alexnet-untrained", help="model id for the V4 part (alexnet needs torchvision's weights)"
    )
    parser.add_argument("--readouts", default=",".join(r for r, _ in READOUTS))
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per job")
    parser.add_argument("--out", default=None, help="write the markdown table here")
    parser.add_argument("--job", default=None, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.job:
        print("RESULT " + json.dumps(run_job(json.loads(opts.job))))
        return
    max_iter = opts.max_iter or (300 if opts.quick else 1000)
    layers = opts.layers.split(",") if opts.layers else (["conv3", "conv5"] if opts.quick else list(ALLEN_SHAPES))
    neuroids = opts.neuroids or (100 if opts.quick else 1000)
    manifest = Path(tempfile.mkdtemp()) / "bench_readouts.toml"
    manifest.write_text(_manifest(max_iter))
    env = dict(os.environ)
    env["BRAINBENCH_MANIFESTS"] = os.pathsep.join(p for p in (env.get("BRAINBENCH_MANIFESTS"), str(manifest)) if p)
    env.setdefault("BRAINBENCH_MIRROR", "/work/shared/data/mirror")
    env.setdefault("BRAINBENCH_OFFLINE", "1")
    parts = ["v4", "synthetic"] if opts.part == "both" else [opts.part]
    labels = dict(READOUTS)
    rows = []
    for part in parts:
        for rid in opts.readouts.split(","):
            job = {
                "part": part,
                "readout": rid,
                "device": opts.device,
                "layers": layers,
                "neuroids": neuroids,
                "model": opts.model,
            }
            try:
                proc = subprocess.run(
                    [sys.executable, __file__, "--job", json.dumps(job)],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=opts.timeout,
                )
                line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
                res = json.loads(line[-1][7:]) if line else {"error": proc.stderr.strip().splitlines()[-1:]}
            except subprocess.TimeoutExpired:
                res = {"error": f"timeout {opts.timeout}s"}
            res.update(part=part, readout=rid, label=labels.get(rid, rid))
            rows.append(res)
            print(json.dumps(res), flush=True)
    header = (
        f"device {opts.device}; layers {','.join(layers)}; Adam max_iter {max_iter}; "
        f"synthetic neuroids {neuroids}; V4 model {opts.model}\n\n"
        "| data | readout | solver | readout time (s) | peak mem (MB) | median EV, chosen layer | "
        "median EV, best layer | per layer |\n|---|---|---|---|---|---|---|---|"
    )
    lines = [header]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['part']} | {r['label']} | | failed: {r['error']} | | | | |")
            continue
        per = ", ".join(f"{k} {v:.3f}" for k, v in r["per_layer"].items())
        chosen = f"{r['ev_best_layer']:.3f} ({r['best_layer']})" if "ev_best_layer" in r else "n/a"
        lines.append(
            f"| {r['part']} | {r['label']} | {r.get('solver')} | {r['readout_s']:.1f} | "
            f"{r['peak_mb']:.0f} | {chosen} | {r['ev_max']:.3f} | {per} |"
        )
    table = "\n".join(lines)
    print(table)
    if opts.out:
        Path(opts.out).write_text(table + "\n")


if __name__ == "__main__":
    main()
