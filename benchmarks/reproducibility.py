"""How far the pinned scores move between CPU kernels and thread counts, and where.

The golden values of the test suite (``tests/scoring/test_score_cowley.py``: alexnet-untrained on
the real Cowley et al. 2023 V4 recordings; ``tests/scoring/test_allen_score.py``: the same net on
generated miniature Allen Brain Observatory files) are computed in float32 through
whichever kernels the CPU selects: the forward pass through oneDNN convolutions and ATen
vectorised ops, the Gram matrix through MKL's GEMM. Another CPU (an AMD EPYC with AVX2
instead of an Intel Xeon with AVX-512) sums in another order. This script runs every
pinned computation in fresh subprocesses under each configuration this machine can
emulate, and reports the largest absolute difference of every pinned number from the
default run.

Configurations (each a fresh process and a fresh ``BRAINBENCH_HOME``):

* ``--threads 1`` / ``--threads 2`` against the default thread count;
* ``ATEN_CPU_CAPABILITY`` = default / avx2 / avx512 (those the CPU has): ATen's kernels;
* ``MKL_ENABLE_INSTRUCTIONS`` = SSE4_2 / AVX2: MKL's GEMM and LAPACK code path;
* ``ONEDNN_MAX_CPU_ISA`` = SSE41 / AVX2: oneDNN's convolution kernels;
* ``OPENBLAS_CORETYPE`` = Prescott / Haswell: numpy's OpenBLAS kernels;
* ``all-avx2`` / ``all-baseline``: all four restricted together (an AVX2-only CPU such
  as an AMD EPYC Zen 2/3, and the oldest x86-64 path).

Where the spread arises (cowley case, per configuration, against the default run):

* ``activations``: max |difference| / max |value| of every layer's cached activations;
* ``gram``: the float64-accumulated Gram matrix that the ``simple`` readout forms, computed
  from the *default run's* activations in this configuration (BLAS order alone), as
  relative max difference, for the product in float32 (what scoring does) and float64;
* ``readout only``: the whole score recomputed from the default run's activations (hard
  links into a fresh home): Gram + solver + metrics, without the forward pass;
* ``solver``: the float64 LOO ridge on the default run's conv3 Gram with fixed synthetic
  responses (eigendecomposition and products alone).

``--float64-gram`` forms the ``simple`` readout's Gram products in float64 instead of
float32 in every run (what the spread would be without the float32 GEMM).
``--timing`` adds a paired, interleaved timing of the Gram matrix in float32 vs float64
(the cost of removing the float32 GEMM from the spread).

Usage::

    BRAINBENCH_MIRROR=/work/shared/data/mirror BRAINBENCH_OFFLINE=1 \\
        python benchmarks/reproducibility.py [--cases cowley,allen] [--configs a,b] \\
        [--stages-for all-avx2,all-baseline] [--work /tmp/bb-repro] [--timing] [--float64-gram] \\
        [--json out/repro.json] [--md out/repro.md]
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
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LAYERS = ["conv1", "conv2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7"]
ALLEN_LAYERS = ["conv1", "conv4"]
PER_NEUROID = ("r", "r_split_mean", "ev", "ceiled", "ceiling")
THREAD_ENV = ("BRAINBENCH_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
KNOBS = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA", "OPENBLAS_CORETYPE")


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def configurations() -> dict[str, tuple[dict[str, str], int | None]]:
    """name -> (environment overrides, --threads) for what this CPU can run."""
    flags = cpu_flags()
    configs: dict[str, tuple[dict[str, str], int | None]] = {
        "default": ({}, None),
        "threads-1": ({}, 1),
        "threads-2": ({}, 2),
        "aten-default": ({"ATEN_CPU_CAPABILITY": "default"}, None),
    }
    if "avx2" in flags:
        configs["aten-avx2"] = ({"ATEN_CPU_CAPABILITY": "avx2"}, None)
    if "avx512f" in flags:
        configs["aten-avx512"] = ({"ATEN_CPU_CAPABILITY": "avx512"}, None)
    configs["mkl-sse4_2"] = ({"MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}, None)
    if "avx2" in flags:
        configs["mkl-avx2"] = ({"MKL_ENABLE_INSTRUCTIONS": "AVX2"}, None)
    configs["onednn-sse41"] = ({"ONEDNN_MAX_CPU_ISA": "SSE41"}, None)
    if "avx2" in flags:
        configs["onednn-avx2"] = ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, None)
    configs["openblas-prescott"] = ({"OPENBLAS_CORETYPE": "Prescott"}, None)
    if "avx2" in flags:
        configs["openblas-haswell"] = ({"OPENBLAS_CORETYPE": "Haswell"}, None)
        configs["all-avx2"] = (
            {
                "ATEN_CPU_CAPABILITY": "avx2",
                "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                "ONEDNN_MAX_CPU_ISA": "AVX2",
                "OPENBLAS_CORETYPE": "Haswell",
            },
            None,
        )
    configs["all-baseline"] = (
        {
            "ATEN_CPU_CAPABILITY": "default",
            "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
            "ONEDNN_MAX_CPU_ISA": "SSE41",
            "OPENBLAS_CORETYPE": "Prescott",
        },
        None,
    )
    return configs


# ---------------------------------------------------------------------------- worker side
def _numbers(dataset: Any) -> dict[str, float]:
    """The pinned numbers of a score dataset, unrounded: per-layer medians, ceiling, score."""
    out: dict[str, float] = {}
    for layer in dataset.layer.values:
        sel = dataset.sel(layer=layer)
        for name, var in (("median_r", "r"), ("median_r_split", "r_split_mean"), ("median_ev", "ev")):
            values = sel[var].values
            out[f"{layer}.{name}"] = float(np.median(values[np.isfinite(values)]))
        values = sel["ceiled"].values
        out[f"{layer}.median_ceiled"] = float(np.median(values[np.isfinite(values)]))
    ceiling = dataset["ceiling"].values
    out["ceiling"] = float(np.median(ceiling[np.isfinite(ceiling)]))
    out["score"] = float(dataset.attrs["score"])
    return out


def _allen_setup(mirror: Path) -> None:
    """Patch the pinned VISl experiments to the miniature files under ``mirror`` (as the test does)."""
    import dataclasses

    sys.path.insert(0, str(REPO / "tests"))
    from brainbench.assemblies.allen import experiments as exps
    from brainbench.assemblies.allen import source as src
    from brainbench.data.fetch import file_hash

    from helpers.allen_fixtures import write_area

    chosen = exps.pinned("VISl")
    truths = write_area(mirror / src.DATASET, chosen, n_cells=3)
    patched = tuple(dataclasses.replace(e, sha256=file_hash(truths[e.experiment_id].path)) for e in chosen)
    src.pinned = lambda area, variant="pinned": patched  # type: ignore[assignment]
    os.environ["BRAINBENCH_MIRROR"] = str(mirror)


def _gram_of(path: Path, dtype: Any) -> np.ndarray:
    from brainbench.readouts.solvers.ridge import gram

    return gram(np.load(path, mmap_mode="r"), dtype=dtype).numpy()


def _activation_files(home: Path) -> dict[str, Path]:
    folder = home / "activations" / "alexnet-untrained"
    return {p.name.split("-")[0]: p for p in sorted(folder.glob("*.npy"))}


def _solver_probe(K: np.ndarray) -> np.ndarray:
    """``(m, 20)`` predictions of the float64 LOO ridge on a fixed Gram and fixed synthetic responses."""
    import torch

    from brainbench.readouts.solvers.ridge import fit_dual_ridge_loo, predict_dual_ridge

    n = K.shape[0]
    Y = torch.from_numpy(np.random.default_rng(0).normal(size=(n, 20)))
    train = torch.arange(n) % 10 != 0
    Kt = torch.from_numpy(K)
    K_train = Kt[train][:, train]
    alphas = 10 ** torch.linspace(-3, 3, 13, dtype=torch.float64) * torch.diagonal(K_train).mean()
    fit = fit_dual_ridge_loo(K_train, Y[train], alphas)
    return predict_dual_ridge(fit, Kt[~train][:, train], K_train).numpy()


def worker(args: argparse.Namespace) -> None:
    import torch

    import brainbench

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {
        "torch_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads_before": torch.get_num_threads(),
    }
    try:
        import threadpoolctl

        info["blas"] = [
            {k: p.get(k) for k in ("internal_api", "architecture", "num_threads")}
            for p in threadpoolctl.threadpool_info()
        ]
    except ImportError:
        pass
    if args.float64_gram:  # what the spread would be with the Gram products in float64
        import functools

        import brainbench.readouts.ridge as ridge_readout

        ridge_readout.gram = functools.partial(ridge_readout.gram, dtype=torch.float64)  # type: ignore[assignment]
        info["gram_dtype"] = "float64"
    if args.case == "allen":
        _allen_setup(Path(args.allen_mirror))
        model, bench, layers = "alexnet-untrained", "allen-VISl", ALLEN_LAYERS
    else:
        model, bench, layers = "alexnet-untrained", "cowley2023-V4", LAYERS
    started = time.perf_counter()
    dataset = brainbench.score(model, bench, layers=layers, device="cpu", progress=False, threads=args.threads)
    info["score_s"] = round(time.perf_counter() - started, 2)
    info["numbers"] = _numbers(dataset)
    np.savez(out / "per_neuroid.npz", **{v: dataset[v].values for v in PER_NEUROID if v in dataset})
    home = Path(os.environ["BRAINBENCH_HOME"])
    if args.case == "cowley" and args.stages:
        from brainbench.scoring.threads import limit_threads, resolve_threads

        reference = Path(args.reference) if args.reference else None
        own = _activation_files(home)
        with limit_threads(resolve_threads(args.threads)):
            if reference is None:  # the default run: keep its Grams for the others
                for layer, path in own.items():
                    for dt in (torch.float32, torch.float64):
                        np.save(out / f"gram-{layer}-{str(dt)[6:]}.npy", _gram_of(path, dt))
                np.save(out / "solver.npy", _solver_probe(np.load(out / "gram-conv3-float64.npy")))
            else:
                ref_files = _activation_files(Path(args.reference_home))
                acts, grams = {}, {}
                for layer, path in own.items():
                    a, b = np.load(path, mmap_mode="r"), np.load(ref_files[layer], mmap_mode="r")
                    acts[layer] = float(np.abs(a - b).max() / np.abs(b).max())
                    for dt in (torch.float32, torch.float64):
                        mine = _gram_of(ref_files[layer], dt)
                        theirs = np.load(reference / f"gram-{layer}-{str(dt)[6:]}.npy")
                        grams[f"{layer}-{str(dt)[6:]}"] = float(np.abs(mine - theirs).max() / np.abs(theirs).max())
                theirs = np.load(reference / "solver.npy")
                mine = _solver_probe(np.load(reference / "gram-conv3-float64.npy"))
                info["stages"] = {
                    "activations_rel": acts,
                    "gram_rel": grams,
                    "solver_abs": float(np.abs(mine - theirs).max()),
                }
    (out / "result.json").write_text(json.dumps(info))


# ---------------------------------------------------------------------------- parent side
def _env(overrides: dict[str, str], home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_ENV}
    env.update(overrides)
    env["BRAINBENCH_HOME"] = str(home)
    env["BRAINBENCH_OFFLINE"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _spawn(case: str, home: Path, out: Path, overrides: dict[str, str], threads: int | None, **extra: Any) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--case", case, "--out", str(out)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    for key, value in extra.items():
        if value is True:
            cmd.append(f"--{key.replace('_', '-')}")
        elif value not in (None, False):
            cmd += [f"--{key.replace('_', '-')}", str(value)]
    proc = subprocess.run(cmd, env=_env(overrides, home), capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    result = json.loads((out / "result.json").read_text())
    result["per_neuroid"] = dict(np.load(out / "per_neuroid.npz"))
    return result


def _spread(result: dict, reference: dict) -> dict[str, float]:
    nums = result["numbers"]
    ref = reference["numbers"]
    medians = [abs(nums[k] - ref[k]) for k in ref if k not in ("score", "ceiling")]
    per = [
        float(np.nanmax(np.abs(result["per_neuroid"][v] - reference["per_neuroid"][v])))
        for v in reference["per_neuroid"]
    ]
    return {
        "score": abs(nums["score"] - ref["score"]),
        "ceiling": abs(nums["ceiling"] - ref["ceiling"]),
        "medians": max(medians),
        "per_neuroid": max(per),
        "worst_median": max(ref, key=lambda k: abs(nums[k] - ref[k])),
    }


def _gram_timing(home: Path, rounds: int) -> dict[str, Any]:
    """Paired, interleaved: the Gram of each cowley layer in float32 vs float64 products."""
    import torch

    from brainbench.readouts.solvers.ridge import gram

    files = _activation_files(home)
    arrays = {layer: np.load(p, mmap_mode="r") for layer, p in files.items()}
    for X in arrays.values():
        gram(X)  # page cache
    times: dict[str, list[float]] = {"float32": [], "float64": []}
    order = [torch.float32, torch.float64]
    for r in range(rounds):
        for dt in order if r % 2 == 0 else order[::-1]:
            started = time.perf_counter()
            for X in arrays.values():
                gram(X, dtype=dt)
            times[str(dt)[6:]].append(time.perf_counter() - started)
    med = {k: round(statistics.median(v), 3) for k, v in times.items()}
    return {"rounds": rounds, "all_layers_s": med, "ratio": round(med["float64"] / med["float32"], 3)}


def _table(report: dict) -> str:
    lines = []
    for case, rows in report["cases"].items():
        lines.append(f"\n**{case}** (max |difference| from `default`, unrounded)\n")
        head = "| configuration | environment | headline | ceiling | any median | worst median | any per-neuroid |"
        lines += [head, "|---|---|---:|---:|---:|---|---:|"]
        for name, row in rows.items():
            if name == "default":
                continue
            s = row["spread"]
            lines.append(
                f"| {name} | {row['environment']} | {s['score']:.1e} | {s['ceiling']:.1e} | {s['medians']:.1e} | "
                f"{s['worst_median']} | {s['per_neuroid']:.1e} |"
            )
        stage_rows = [(n, r) for n, r in rows.items() if "stages" in r]
        if stage_rows:
            lines.append(f"\n**{case}: where it arises** (against `default`)\n")
            lines.append(
                "| configuration | activations (rel, max over layers) | Gram f32 product (rel) "
                "| Gram f64 product (rel) | readout only: any median | readout only: per-neuroid | solver (abs) |"
            )
            lines.append("|---|---:|---:|---:|---:|---:|---:|")
            for name, row in stage_rows:
                st = row["stages"]
                g32 = max(v for k, v in st["gram_rel"].items() if k.endswith("float32"))
                g64 = max(v for k, v in st["gram_rel"].items() if k.endswith("float64"))
                ro = row.get("readout_only_spread", {})
                lines.append(
                    f"| {name} | {max(st['activations_rel'].values()):.1e} | {g32:.1e} | {g64:.1e} | "
                    f"{ro.get('medians', float('nan')):.1e} | {ro.get('per_neuroid', float('nan')):.1e} | "
                    f"{st['solver_abs']:.1e} |"
                )
    if "gram_timing" in report:
        t = report["gram_timing"]
        lines.append(
            f"\nGram of all 8 cowley layers, paired and interleaved over {t['rounds']} rounds: float32 products "
            f"{t['all_layers_s']['float32']} s, float64 {t['all_layers_s']['float64']} s (x{t['ratio']})."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="cowley,allen")
    parser.add_argument("--configs", default=None, help="comma-separated names (default: all this CPU can run)")
    parser.add_argument("--work", default="/tmp/bb-repro", help="folder for the runs' homes (removed first)")
    parser.add_argument(
        "--stages-for",
        default="all",
        help="configurations that also get the activation / Gram / readout-only isolation (comma-separated, "
        "'all' or 'none'; it costs about three scores each)",
    )
    parser.add_argument("--timing", action="store_true", help="paired timing of the Gram in float32 vs float64")
    parser.add_argument(
        "--float64-gram",
        action="store_true",
        help="form the simple readout's Gram products in float64 (not the default)",
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--md", type=Path)
    # worker options
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--reference", help=argparse.SUPPRESS)
    parser.add_argument("--reference-home", help=argparse.SUPPRESS)
    parser.add_argument("--allen-mirror", help=argparse.SUPPRESS)
    parser.add_argument("--stages", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    every = configurations()
    names = list(every) if not args.configs else ["default", *[c for c in args.configs.split(",") if c != "default"]]
    unknown = [n for n in names if n not in every]
    if unknown:
        raise SystemExit(f"unknown configuration(s) {', '.join(unknown)}; this CPU can run: {', '.join(every)}.")
    import torch

    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []
    report: dict[str, Any] = {
        "command": "python " + " ".join(sys.argv),
        "cpu": next((ln.split(":", 1)[1].strip() for ln in cpuinfo if "model name" in ln), "?"),
        "torch": torch.__version__,
        "torch_capability": torch.backends.cpu.get_cpu_capability(),
        "inherited": {k: os.environ.get(k) for k in KNOBS if os.environ.get(k)},
        "cases": {},
    }
    staged = set(names) if args.stages_for == "all" else set(args.stages_for.split(",")) - {"none"}
    for case in args.cases.split(","):
        rows: dict[str, Any] = {}
        ref_home = work / case / "default" / "home"
        ref_out = work / case / "default" / "out"
        allen_mirror = work / case / "mirror"
        for name in names:
            overrides, threads = every[name]
            home, out = work / case / name / "home", work / case / name / "out"
            home.mkdir(parents=True)
            extra = {
                "reference": None if name == "default" else ref_out,
                "reference_home": None if name == "default" else ref_home,
                "allen_mirror": allen_mirror if case == "allen" else None,
                "stages": name in staged or (name == "default" and bool(staged)),
                "float64_gram": args.float64_gram,
            }
            result = _spawn(case, home, out, overrides, threads, **extra)
            environment = " ".join(f"{k}={v}" for k, v in overrides.items()) + (
                f" --threads {threads}" if threads else ""
            )
            row = {"environment": environment.strip() or "(inherited)", **result}
            if name != "default":
                row["spread"] = _spread(result, rows["default"])
                if name in staged and case == "cowley":  # the same activations, this configuration's readout
                    home2, out2 = work / case / name / "home-readout", work / case / name / "out-readout"
                    shutil.copytree(ref_home, home2, copy_function=os.link)
                    again = _spawn(case, home2, out2, overrides, threads, float64_gram=args.float64_gram)
                    row["readout_only_spread"] = _spread(again, rows["default"])
                    shutil.rmtree(home2)
            rows[name] = row
            print(f"{case} {name}: {row.get('spread', {})}", file=sys.stderr, flush=True)
            if name != "default":
                shutil.rmtree(home)  # keep the disk small; the default home is the reference
        report["cases"][case] = rows
    if args.timing and "cowley" in report["cases"]:
        report["gram_timing"] = _gram_timing(work / "cowley" / "default" / "home", args.rounds)
    for rows in report["cases"].values():
        for row in rows.values():
            row.pop("per_neuroid", None)
    worst: dict[str, float] = {}
    for case, rows in report["cases"].items():
        for row in rows.values():
            for key in ("score", "medians", "per_neuroid"):
                if "spread" in row:
                    worst[f"{case}.{key}"] = max(worst.get(f"{case}.{key}", 0.0), row["spread"][key])
    report["worst"] = worst
    markdown = _table(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    if args.md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(markdown + "\n")
    print(markdown)
    print(json.dumps({"worst": worst}, indent=1))


if __name__ == "__main__":
    main()
