"""benchmarks/reproducibility.py's pure parts: which kernel paths a CPU can emulate, and the spread."""

from __future__ import annotations

import numpy as np

from helpers.benchmarks import load

reproducibility = load("reproducibility")


def test_only_the_instruction_sets_the_cpu_has_are_emulated(monkeypatch):
    monkeypatch.setattr(reproducibility, "cpu_flags", lambda: {"sse4_2", "avx2"})
    configs = reproducibility.configurations()
    expected = {"default", "threads-1", "threads-2", "aten-default", "aten-avx2", "all-avx2", "all-baseline"}
    assert expected <= set(configs)
    assert "aten-avx512" not in configs and configs["threads-1"] == ({}, 1)
    assert configs["all-avx2"][0]["MKL_ENABLE_INSTRUCTIONS"] == "AVX2"
    monkeypatch.setattr(reproducibility, "cpu_flags", lambda: {"sse4_2"})
    assert not [name for name in reproducibility.configurations() if "avx" in name]
    monkeypatch.setattr(reproducibility, "cpu_flags", lambda: {"avx2", "avx512f"})
    assert reproducibility.configurations()["aten-avx512"] == ({"ATEN_CPU_CAPABILITY": "avx512"}, None)


def test_the_spread_is_the_largest_absolute_difference_from_the_default_run():
    reference = {
        "numbers": {"conv1.median_r": 0.5, "conv1.median_ev": 0.25, "ceiling": 0.8, "score": 0.3},
        "per_neuroid": {"r": np.array([[0.1, np.nan, 0.3]]), "ceiling": np.array([0.7, 0.8, 0.9])},
    }
    other = {
        "numbers": {"conv1.median_r": 0.5 + 2e-7, "conv1.median_ev": 0.25 - 5e-7, "ceiling": 0.8, "score": 0.3 + 1e-7},
        "per_neuroid": {"r": np.array([[0.1 + 3e-6, np.nan, 0.3]]), "ceiling": np.array([0.7, 0.8, 0.9])},
    }
    spread = reproducibility._spread(other, reference)
    assert spread["worst_median"] == "conv1.median_ev" and np.isclose(spread["medians"], 5e-7, rtol=1e-6)
    assert np.isclose(spread["score"], 1e-7, rtol=1e-6) and spread["ceiling"] == 0.0
    assert np.isclose(spread["per_neuroid"], 3e-6, rtol=1e-6)
