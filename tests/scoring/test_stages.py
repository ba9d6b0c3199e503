"""The joins between the scorer's stages: what the load stage hands over, and stages 4-6 by kind."""

from __future__ import annotations

import numpy as np
import torch

from brainbench.assemblies.byod import wrap_recordings
from brainbench.models.base import TorchModel
from brainbench.registry.manifest import Preprocessing
from brainbench.scoring.benchmark import custom_benchmark
from brainbench.scoring.kinds import KINDS
from brainbench.scoring.load import assembly_hash, data_hashes
from brainbench.scoring.scorer import prepare
from brainbench.scoring.stages import STAGES

PREP = Preprocessing(size=8, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), placement="resize")


def test_every_kind_has_its_stages() -> None:
    assert set(STAGES) == set(KINDS)


def test_load_hands_over_the_hashes_of_the_data_it_scores() -> None:
    """The hashes come from the data after selection: the key names exactly what was scored."""
    rng = np.random.default_rng(0)
    signal = rng.normal(size=(20, 6))
    trials = signal[None] + 0.5 * rng.normal(size=(4, 20, 6))
    trials[:, :, 5] = rng.normal(size=(4, 20))  # one pure-noise neuroid, dropped by the threshold
    images = rng.integers(0, 255, size=(20, 8, 8, 3), dtype=np.uint8)
    data = wrap_recordings(trials, images, identifier="hash-join")
    bench = custom_benchmark(data.assembly, data.stimuli, reliability_threshold=0.5)
    net = TorchModel(torch.nn.Sequential(torch.nn.Flatten()), {"flat": "0"}, identifier="hash-net", preprocessing=PREP)

    _, loaded, spec = prepare(net, bench, progress=False)

    assert loaded.assembly.sizes["neuroid"] < data.assembly.sizes["neuroid"]  # the selection did drop one
    assert loaded.data_sha256 == assembly_hash(loaded.assembly) != assembly_hash(data.assembly)
    assert loaded.stimuli_sha256 == loaded.stimuli.content_hash
    assert data_hashes(loaded) == (spec.content["data_sha256"], spec.content["stimuli_sha256"])
