"""Time and peak memory of scoring a model on a Majaj-Hong-sized benchmark.

Generates data of the real size of the public Majaj, Hong et al. (2015) set -- 3,200
images of 256 x 256 pixels (as the HvM PNGs), 256 sites (88 V4 + 168 IT) with 44-50
trials per image, NaN-padded -- and scores it with the registered benchmark's own
declaration (selection, split, readout, ceiling, placement), swapping only the data
source. Nothing is downloaded.

Usage (2-core CPU, all layers, the full size; needs about 7 GB of disk for the
activation cache, which goes to a temporary BRAINBENCH_HOME unless --home is given):

    .venv/bin/python benchmarks/majajhong_memory.py
    .venv/bin/python benchmarks/majajhong_memory.py --n-images 320 --layers conv1,conv5
    # the paper's readouts on streamed features (any registered readout id):
    .venv/bin/python benchmarks/majajhong_memory.py --layers conv3,conv5 --readout spatial
    .venv/bin/python benchmarks/majajhong_memory.py --layers conv3,conv5 --readout factored

Prints one JSON object: sizes, wall time, the scorer's phase timings, and peak resident
memory of this process (``ru_maxrss`` and ``VmHWM``: torch allocates outside Python's
heap, so tracemalloc would miss most of it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_V4, N_IT = 88, 168


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux reports ru_maxrss in KiB)."""
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 1024**2
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def vmhwm_mb() -> float | None:
    """``VmHWM`` (peak resident set) of this process in MB, from /proc (Linux only)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def make_images(folder: Path, n: int, size: int, seed: int) -> list[Path]:
    """``n`` smooth random grayscale-ish PNGs of ``size`` x ``size`` (HvM renders are gray)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        coarse = rng.integers(0, 256, (16, 16), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((size, size), Image.BICUBIC).convert("RGB")
        path = folder / f"img{k:05d}.png"
        image.save(path)
        paths.append(path)
    return paths


def make_assembly(n_images: int, n_neuroids: int, max_reps: int, seed: int):
    """``(max_reps, n_images, n_neuroids)`` trials: a low-rank signal plus noise, NaN-padded."""
    from brainbench.data.assembly import make_assembly as build

    rng = np.random.default_rng(seed)
    signal = rng.standard_normal((n_images, 20)) @ rng.standard_normal((20, n_neuroids))
    trials = signal[None] + 2.0 * rng.standard_normal((max_reps, n_images, n_neuroids))
    n_reps = rng.integers(max_reps - 6, max_reps + 1, n_images)
    trials[np.arange(max_reps)[:, None] >= n_reps[None, :]] = np.nan
    n_v4 = round(n_neuroids * N_V4 / (N_V4 + N_IT))
    objects = np.asarray([f"object{k % 64:02d}" for k in range(n_images)])  # HvM: 64 objects
    return build(
        trials,
        stimulus_ids=[f"img{k:05d}" for k in range(n_images)],
        neuroid_ids=[f"site{k:03d}" for k in range(n_neuroids)],
        identifier="majajhong2015-generated",
        species="macaque",
        units="a.u.",
        response_window_ms=(70.0, 170.0),
        stimulus_coords={"object_name": objects},
        neuroid_coords={"region": np.where(np.arange(n_neuroids) < n_v4, "V4", "IT")},
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="alexnet-untrained")
    parser.add_argument(
        "--benchmark", default="majajhong2015-IT", help="registered benchmark whose declaration is used"
    )
    parser.add_argument("--n-images", type=int, default=3200)
    parser.add_argument("--n-neuroids", type=int, default=N_V4 + N_IT)
    parser.add_argument("--max-reps", type=int, default=50)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--layers", default=None, help="comma-separated (default: all the model declares)")
    parser.add_argument(
        "--readout", default=None, help="readout id overriding the declaration's (e.g. spatial, factored)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help="BRAINBENCH_HOME to use (default: a temporary folder, removed afterwards)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="brainbench-majajhong-"))
    os.environ["BRAINBENCH_HOME"] = str(args.home or scratch / "home")
    os.environ["BRAINBENCH_OFFLINE"] = "1"
    try:
        import brainbench
        from brainbench.assemblies.base import InMemoryAssembly
        from brainbench.data.stimuli import StimulusSet
        from brainbench.registry import get_registry
        from brainbench.scoring.benchmark import Benchmark

        tick = time.perf_counter()
        paths = make_images(scratch / "images", args.n_images, args.image_size, args.seed)
        stimuli = StimulusSet.from_files(paths, identifier="majajhong2015-generated")
        assembly = make_assembly(args.n_images, args.n_neuroids, args.max_reps, args.seed)
        generate_s = time.perf_counter() - tick
        rss_after_data = peak_rss_mb()

        entry = get_registry().benchmark(args.benchmark)
        bench = Benchmark(entry=entry, source=InMemoryAssembly(assembly, stimuli))
        layers = args.layers.split(",") if args.layers else None
        tick = time.perf_counter()
        result = brainbench.score(
            args.model,
            bench,
            layers=layers,
            device=args.device,
            seed=args.seed,
            progress=False,
            use_cache=False,
            readout=args.readout,
            batch_size=args.batch_size,
        )
        score_s = time.perf_counter() - tick
        report = {
            "model": args.model,
            "benchmark_declaration": entry.id,
            "n_images": args.n_images,
            "image_size": args.image_size,
            "n_neuroids_total": args.n_neuroids,
            "n_neuroids_scored": int(result.sizes["neuroid"]),
            "max_reps": args.max_reps,
            "layers": [str(x) for x in result.layer.values],
            "device": args.device,
            "cpu_count": os.cpu_count(),
            "generate_s": round(generate_s, 1),
            "score_wall_s": round(score_s, 1),
            "timings": json.loads(result.attrs["timings"]),
            "peak_rss_mb_after_data": round(rss_after_data),
            "peak_rss_mb": round(peak_rss_mb()),
            "peak_vmhwm_mb": round(vmhwm_mb() or 0),
            "readout": result.attrs["readout"],
            "solver": result.attrs["solver"],
            "median_ev": {
                str(layer): round(float(np.nanmedian(result["ev"].sel(layer=layer).values)), 4)
                for layer in result.layer.values
            },
            "best_layer": result.attrs["best_layer"],
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
