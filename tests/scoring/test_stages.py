"""The joins between the scorer's stages: what the load stage hands over, and stages 4-6 by kind."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainbench.assemblies.byod import wrap_recordings
from brainbench.errors import BrainbenchError
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


@pytest.fixture
def nothing_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stage 1 may not build a benchmark or a network in this test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("built before the declarations were checked")

    monkeypatch.setattr("brainbench.models.base.load_model", refuse)
    monkeypatch.setattr("brainbench.scoring.benchmark.benchmark_of_entry", refuse)


@pytest.mark.parametrize(
    ("model", "options", "refusal"),
    [
        (
            "alexnet-untrained",
            {"readout_params": {"no_such_param": 1}},
            "has no parameter 'no_such_param'",
        ),
        ("kriegeskorte2008-hmax", {}, "supplies an RDM, not activations, so it cannot be scored by regression"),
    ],
)
def test_resolve_refuses_what_the_declarations_decide_before_building_anything(
    nothing_built: None, model: str, options: dict, refusal: str
) -> None:
    from brainbench.registry import get_registry
    from brainbench.scoring.spec import resolve

    with pytest.raises(BrainbenchError, match=refusal):
        resolve(model, "cowley2023-V4", registry=get_registry(), **options)


def test_load_completes_the_spec_with_the_callers_own_splits() -> None:
    """The load stage hands over the complete spec: data hashes, and the record of the caller's own splits."""
    rng = np.random.default_rng(1)
    data = wrap_recordings(
        rng.normal(size=(3, 12, 4)), rng.integers(0, 255, size=(12, 8, 8, 3), dtype=np.uint8), identifier="own-splits"
    )
    bench = custom_benchmark(data.assembly, data.stimuli)
    net = TorchModel(torch.nn.Sequential(torch.nn.Flatten()), {"flat": "0"}, identifier="split-net", preprocessing=PREP)
    own = [(list(range(6, 12)), list(range(6))), (list(range(6)), list(range(6, 12)))]

    run, loaded, spec = prepare(net, bench, splits=own, progress=False)

    assert spec is loaded.spec and spec.complete and run.spec.content["splits"] == "custom"
    assert spec.content["splits"] == loaded.split_record and loaded.split_record["custom"] is True
    assert [s.test.tolist() for s in loaded.splits] == [list(range(6)), list(range(6, 12))]
    assert (spec.content["data_sha256"], spec.content["stimuli_sha256"]) == data_hashes(loaded)
