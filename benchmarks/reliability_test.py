"""Cost of the reliability test against chance (ceiled-r2 v3) on the real V4 trials.

Times :func:`brainbench.metrics.ceiling.stimulus_permutation_p` (the declared 199
permutations) beside :func:`brainbench.metrics.ceiling.split_half_reliability` (the
declared 100 halvings, which every score already computes) on Cowley et al. (2023)
session 210325: 50 neurons x 640 images x up to 10 repeats (NaN-padded). Paired,
interleaved runs (the order inside each pair alternates) so drifting machine load hits
both alike; prints one JSON object with every run's seconds, the medians, the median
added seconds and the median ratio. With ``--synthetic R,S,N`` it times the test alone
on normal noise of that shape (e.g. ``46,3200,256``, a Majaj-Hong-sized assembly).

Usage::

    python benchmarks/reliability_test.py [--pairs 7] [--mirror /path/to/mirror] [--synthetic 46,3200,256]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _seconds(fn, *args, **kwargs) -> float:
    started = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - started


def main() -> None:
    from brainbench.metrics.ceiled import ReliabilityRule
    from brainbench.metrics.ceiling import split_half_reliability, stimulus_permutation_p
    from brainbench.registry import get_registry

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=7)
    default_mirror = os.environ.get("BRAINBENCH_MIRROR", str(REPO.parent / "shared" / "data" / "mirror"))
    parser.add_argument("--mirror", default=default_mirror)
    parser.add_argument("--synthetic", default="", help="R,S,N: time the test on noise of that shape instead")
    args = parser.parse_args()
    registry = get_registry()
    rule = ReliabilityRule.from_params(registry.metric("ceiled-r2").params)
    halvings = registry.metric("split-half").params
    if args.synthetic:
        shape = tuple(int(v) for v in args.synthetic.split(","))
        trials = np.random.default_rng(0).normal(size=shape)
        source = f"normal noise {shape}"
    else:
        path = Path(args.mirror) / "cowley2023" / "responses_raw" / "responses_210325.npy"
        trials = np.load(path).transpose(2, 1, 0)  # (neuron, image, repeat) -> (repeat, image, neuron)
        source = str(path)
    test, ceiling = [], []
    stimulus_permutation_p(trials, rule.n_permutations)  # warm-up (imports, allocator)
    for k in range(args.pairs):
        order = ("test", "ceiling") if k % 2 == 0 else ("ceiling", "test")
        for which in order:
            if which == "test":
                test.append(_seconds(stimulus_permutation_p, trials, rule.n_permutations))
            elif not args.synthetic:
                ceiling.append(_seconds(split_half_reliability, trials, **halvings))
    report = {
        "data": source,
        "shape_repetition_stimulus_neuroid": list(trials.shape),
        "n_permutations": rule.n_permutations,
        "test_s": [round(s, 4) for s in test],
        "median_test_s": round(statistics.median(test), 4),
    }
    if ceiling:
        ratios = [t / c for t, c in zip(test, ceiling, strict=True)]
        report |= {
            "ceiling_s": [round(s, 4) for s in ceiling],
            "median_ceiling_s": round(statistics.median(ceiling), 4),
            "median_ratio_test_to_ceiling": round(statistics.median(ratios), 3),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
