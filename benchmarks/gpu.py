"""The GPU table: brainbench ``simple`` vs himalaya (torch_cuda) vs the plain reference on CUDA.

One run, meant to finish in under 5 minutes on one CUDA machine::

    BRAINBENCH_MIRROR=/path/to/mirror .venv/bin/python benchmarks/gpu.py --json out/bench-gpu.json

Same inputs, splits, alpha grids, timing (``torch.cuda.synchronize`` before the clock
stops) and peak host memory as ``run.py``; data start on the host, so transfers are
timed for every method alike. Cases: ``v4`` (only if the data mirror is reachable),
``allen-10k`` and ``majaj``. ``--device cpu`` is a dry run of the same script.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as suite  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--cases", help="default: v4 (if the mirror is set), allen-10k, majaj")
    parser.add_argument("--layers", help="comma-separated subset of layers")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--md", type=Path)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    has_mirror = bool(os.environ.get("BRAINBENCH_MIRROR")) and Path(os.environ["BRAINBENCH_MIRROR"]).is_dir()
    cases = args.cases or ("v4," if has_mirror else "") + "allen-10k,majaj"
    forwarded = [
        "--device",
        args.device,
        "--cases",
        cases,
        "--timeout",
        str(args.timeout),
        "--methods",
        ",".join(suite.CUDA_METHODS),
        "--no-e2e",
    ]
    for flag in ("json", "md", "layers"):
        if getattr(args, flag):
            forwarded += [f"--{flag}", str(getattr(args, flag))]
    report = suite.main(forwarded)
    if not has_mirror:
        print("note: BRAINBENCH_MIRROR not set or missing; the real V4 case was skipped.")
    return report


if __name__ == "__main__":
    main()
