"""Every manifest cross-check at registry build: ``plugin check`` refuses what ``score`` would."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from brainbench.errors import ManifestWarning
from brainbench.registry.discovery import ManifestSource, manifest_sources
from brainbench.registry.registry import build_registry

REPO = Path(__file__).resolve().parents[2]

#: Benchmarks over the built-in assembly and metrics, each with one field of the wrong kind.
BROKEN = {
    "headline": 'headline = "pearson-r"',
    "ceiling": 'ceiling = "explained-variance"',
    "metrics": 'metrics = ["split-half"]',
}


def _manifest(folder: Path, field: str) -> Path:
    path = folder / f"bad-{field}.toml"
    path.write_text(
        f"""
[benchmarks.bad-{field}]
version = 1
assembly = "cowley2023-210325"
{BROKEN[field]}
"""
    )
    return path


@pytest.mark.parametrize("field", sorted(BROKEN))
def test_plugin_check_refuses_a_metric_of_the_wrong_kind_naming_file_and_key(tmp_path, field):
    path = _manifest(tmp_path, field)
    done = subprocess.run(
        [sys.executable, "-m", "brainbench.cli.main", "plugin", "check", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    problem = next(line for line in done.stderr.splitlines() if f"bad-{field}.{field}" in line)
    assert str(path) in problem and f"key 'benchmarks.bad-{field}.{field}'" in problem
    assert "1 problem in" in done.stderr


def test_an_installed_plugin_with_such_a_benchmark_is_skipped_and_listed(tmp_path):
    path = _manifest(tmp_path, "headline")
    builtin = [s for s in manifest_sources() if s.origin == "builtin"]
    plugin = ManifestSource("plugin", "entry point 'bad'", path, entry_point="bad")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        registry = build_registry([*builtin, plugin])
    assert "bad-headline" not in registry.ids("benchmarks")
    (skipped,) = registry.skipped
    assert skipped.file == str(path) and skipped.key == "benchmarks.bad-headline.headline"
    assert "not a ceiled score" in skipped.problem
    assert any(issubclass(w.category, ManifestWarning) for w in caught)


def test_a_custom_benchmark_object_is_checked_the_same_way_when_scored():
    import numpy as np

    from brainbench.data.assembly import make_assembly
    from brainbench.data.stimuli import StimulusSet
    from brainbench.errors import BrainbenchError
    from brainbench.registry import get_registry
    from brainbench.scoring.benchmark import custom_benchmark
    from brainbench.scoring.spec import resolve

    rng = np.random.default_rng(0)
    ids = [f"s{k}" for k in range(12)]
    assembly = make_assembly(rng.normal(size=(12, 3)), stimulus_ids=ids, neuroid_ids=["a", "b", "c"], identifier="x")
    images = list(rng.integers(0, 256, size=(12, 8, 8, 3), dtype=np.uint8))
    bench = custom_benchmark(assembly, StimulusSet.from_arrays(images, ids=ids), metrics=["split-half"])
    with pytest.raises(BrainbenchError, match="metrics: 'split-half' is a ceiling"):
        resolve("alexnet-untrained", bench, registry=get_registry(), device="cpu")
