"""The scorer's leakage guard: a readout that looks at test responses is refused, an honest one is not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainbench
from brainbench.assemblies.byod import wrap_recordings
from brainbench.models.base import TorchModel
from brainbench.registry.manifest import Preprocessing
from brainbench.scoring import LeakageError
from brainbench.scoring.benchmark import custom_benchmark

MANIFEST = """
[readouts.leaky-fit]
python_name = "helpers.leaky_readouts:FitsOnEveryStimulus"
description = "test only: fits on test stimuli too"
params = { alphas = { start = -4.0, stop = 4.0, num = 9 }, alpha_scale = "mean-eigenvalue" }

[readouts.leaky-mean]
python_name = "helpers.leaky_readouts:CentresOnAllResponses"
description = "test only: centres on the mean over all stimuli"
"""


@pytest.fixture
def leaky_manifest(tmp_path, monkeypatch):
    path = tmp_path / "leaky.toml"
    path.write_text(MANIFEST)
    monkeypatch.setenv("BRAINBENCH_MANIFESTS", str(path))
    from brainbench.registry import refresh

    refresh()


def _benchmark(readout: str):
    rng = np.random.default_rng(0)
    images = rng.random((80, 16, 16))
    pooled = images.reshape(80, 4, 4, 4, 4).mean(axis=(2, 4)).reshape(80, 16)
    signal = pooled @ rng.normal(size=(16, 12))
    trials = signal[None] + rng.normal(scale=0.3, size=(4, 80, 12))
    data = wrap_recordings(trials, images, identifier=f"leak-{readout}")
    return custom_benchmark(data.assembly, data.stimuli, readout=readout)


def _model() -> TorchModel:
    prep = Preprocessing(size=16, mean=[0.0] * 3, std=[1.0] * 3, placement="resize")
    module = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten())
    return TorchModel(module, {"pool": "0", "flat": "1"}, identifier="leak-pool", preprocessing=prep)


@pytest.mark.parametrize("readout", ["leaky-fit", "leaky-mean"])
def test_a_readout_that_peeks_at_test_responses_is_refused(readout, leaky_manifest, one_torch_thread):
    with pytest.raises(LeakageError, match=readout):
        brainbench.score(_model(), _benchmark(readout), progress=False)


def test_the_honest_readout_passes_the_guard(leaky_manifest, one_torch_thread):
    dataset = brainbench.score(_model(), _benchmark("simple"), progress=False)
    assert dataset.attrs["score"] > 0.5
