"""Representation benchmarks: RDMs compared directly, no readout, through the same scorer and store."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainbench
from brainbench.assemblies.byod import wrap_recordings
from brainbench.errors import BrainbenchError
from brainbench.metrics.rsa import (
    bootstrap_rdm_similarity,
    compare_rdms,
    correlation_rdm,
    pattern_rdm,
    split_half_rdm_reliability,
    stimulus_pairs,
)
from brainbench.models.base import TorchModel
from brainbench.models.preprocess import to_tensor
from brainbench.registry.manifest import Preprocessing
from brainbench.scoring.benchmark import custom_benchmark

PREP = Preprocessing(size=16, mean=[0.0] * 3, std=[1.0] * 3, placement="resize")


def _model() -> TorchModel:
    module = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(4), torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())
    return TorchModel(module, {"fine": "0", "coarse": "1"}, identifier="rsa-pools", preprocessing=PREP)


def test_correlation_rdm_matches_numpy_and_streams():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(37, 5, 3))
    expected = 1 - np.corrcoef(X.reshape(37, -1))
    np.testing.assert_allclose(correlation_rdm(X, block=8), expected, atol=1e-12)


def test_compare_pearson_and_spearman():
    rng = np.random.default_rng(1)
    a = pattern_rdm(rng.normal(size=(20, 6)))
    assert compare_rdms(a, a) == pytest.approx(1.0)
    assert compare_rdms(a, a**3, method="spearman") == pytest.approx(1.0)  # monotone: rank-identical
    assert compare_rdms(a, a**3) < 1.0
    with pytest.raises(BrainbenchError, match="unknown RDM comparison"):
        compare_rdms(a, a, method="kendall")


def test_a_resample_drops_a_stimulus_paired_with_its_own_copy():
    rng = np.random.default_rng(2)
    a, b = (pattern_rdm(rng.normal(size=(12, 5))) for _ in range(2))
    draw = np.array([3, 3, 0, 7, 7, 7, 1, 11, 5, 0, 2, 9])
    first, second = stimulus_pairs(draw)
    assert (first != second).all() and first.size == 66 - (1 + 3 + 1)  # pairs of 3s, 7s and 0s dropped
    # by hand: every pair of distinct positions whose stimuli differ, duplicates kept
    pairs = [(draw[i], draw[j]) for i in range(12) for j in range(i + 1, 12) if draw[i] != draw[j]]
    x = np.array([a[p] for p in pairs])
    y = np.array([b[p] for p in pairs])
    assert compare_rdms(a, b, draw) == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    boot = bootstrap_rdm_similarity(np.stack([a, b]), b[None], 4, rng_a, "spearman")
    assert boot.shape == (4, 2, 1) and np.allclose(boot[:, 1, 0], 1.0)
    expected = [compare_rdms(a, b, rng_b.integers(0, 12, size=12), "spearman") for _ in range(4)]
    np.testing.assert_allclose(boot[:, 0, 0], expected, atol=1e-12)


def _planted_rdms(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A model RDM and a neural RDM that is the model's plus independent pair noise."""
    model = pattern_rdm(rng.normal(size=(n, 8)))
    rows, cols = np.triu_indices(n, k=1)
    noise = np.zeros((n, n))
    noise[rows, cols] = 1.2 * model[rows, cols].std() * rng.normal(size=rows.size)
    return model, model + noise + noise.T


def test_the_stimulus_interval_contains_the_estimate_and_narrows_with_more_stimuli():
    widths = []
    for n in (30, 120):
        model, neural = _planted_rdms(n, np.random.default_rng(n))
        point = compare_rdms(model, neural)
        boot = bootstrap_rdm_similarity(model[None], neural[None], 300, np.random.default_rng(0))[:, 0, 0]
        low, high = np.percentile(boot, [2.5, 97.5])
        assert low < point < high
        widths.append(high - low)
    assert widths[1] < 0.7 * widths[0]  # about 1 / sqrt(4) = 0.5 expected


def test_rdm_reliability_of_signal_and_of_noise():
    rng = np.random.default_rng(2)
    signal = rng.normal(size=(40, 30))
    reliable = signal[None] + 0.3 * rng.normal(size=(8, 40, 30))
    noise = rng.normal(size=(8, 40, 30))
    assert split_half_rdm_reliability(reliable) > 0.9
    assert abs(split_half_rdm_reliability(noise)) < 0.15


def _planted(noise: float = 0.8, seed: int = 0):
    """Two sites (regions) of 16 units each whose signal is the 4 x 4 pooled image itself.

    The layer ``fine`` is that image in 3 identical channels, so each site's noise-free
    RDM equals the layer's RDM exactly (a pattern repeated has the same correlations).
    """
    rng = np.random.default_rng(seed)
    images = rng.random((90, 16, 16))
    from brainbench.data.stimuli import StimulusSet

    stimuli = StimulusSet.from_arrays(list(images))
    batch = torch.stack([to_tensor(stimuli.image(k), PREP) for k in range(len(stimuli))])
    fine = _model().forward_layers(batch, ["fine"])["fine"].reshape(90, -1).double().numpy()
    responses = fine[:, :32]  # channels 0 and 1: site A, site B
    trials = responses[None] + noise * responses.std() * rng.normal(size=(6, *responses.shape))
    return images, trials


def test_a_planted_layer_is_found_and_ceiled(one_torch_thread):
    images, trials = _planted()
    data = wrap_recordings(trials, images, identifier="rsa-planted", region=["A"] * 16 + ["B"] * 16)
    bench = custom_benchmark(data.assembly, data.stimuli, kind="representation", metrics=["rdm-similarity"])
    dataset = brainbench.score(_model(), bench, progress=False)
    assert dataset.attrs["benchmark_kind"] == "representation"
    assert dataset.attrs["best_layer"] == "fine"
    assert list(dataset["neuroid_id"].values) == ["A", "B"] and dataset.attrs["n_reliable"] == 2
    assert ((dataset["ceiling"].values > 0.6) & (dataset["ceiling"].values < 0.95)).all()  # noisy, not trivial
    # the planted layer's RDM is the sites' signal RDM: all of the explainable RDM variance
    assert abs(dataset.attrs["score"] - 1.0) < 0.1
    assert dataset["r"].sel(layer="fine").min() > dataset["r"].sel(layer="coarse").max()


def test_a_representation_benchmark_takes_no_readout_and_only_representation_metrics(one_torch_thread):
    images, trials = _planted()
    data = wrap_recordings(trials, images, identifier="rsa-planted2")
    bench = custom_benchmark(data.assembly, data.stimuli, kind="representation", metrics=["rdm-similarity"])
    with pytest.raises(BrainbenchError, match="fits no readout"):
        brainbench.score(_model(), bench, readout="spatial", progress=False)
    wrong = custom_benchmark(data.assembly, data.stimuli, kind="representation", metrics=["pearson-r"])
    with pytest.raises(BrainbenchError, match="needs metrics of kind 'representation'"):
        brainbench.score(_model(), wrong, progress=False)


def test_rsa_runs_on_real_v4(mirror, one_torch_thread):
    """The same metric on a per-neuroid benchmark: the population RDM of the trial means as one site."""
    dataset = brainbench.score("alexnet-untrained", "cowley2023-V4-rsa", layers=["conv3", "pool5"], progress=False)
    assert dataset.sizes["neuroid"] == 1 and dataset.attrs["n_reliable"] == 1
    assert 0.6 < float(dataset["ceiling"].item()) < 0.95
    assert 0.05 < float(dataset["r"].max()) < 0.4  # an untrained network: weakly similar, not 0 and not 1


def test_labels_come_from_the_declaration_mean_over_sites(one_torch_thread):
    """A representation benchmark declaring ``site_aggregate = "mean"``: every label says mean and sites.

    Before, the table said "median ceiled score ... over 2 neuroids with split-half
    reliability >= 0.3" and showed an all-"-" EV column, for a mean over sites.
    """
    from brainbench.cli.score import headline_lines, table_columns, table_title
    from brainbench.scoring import summarize
    from brainbench.scoring.benchmark import Benchmark

    images, trials = _planted()
    data = wrap_recordings(trials, images, identifier="rsa-mean", region=["A"] * 16 + ["B"] * 8 + ["C"] * 8)
    bench = custom_benchmark(data.assembly, data.stimuli, kind="representation", metrics=["rdm-similarity"])
    bench = Benchmark(entry=bench.entry.model_copy(update={"site_aggregate": "mean"}), source=bench.source)
    dataset = brainbench.score(_model(), bench, progress=False)
    summary = summarize(dataset, elapsed_s=1.0)
    assert summary["score_aggregate"] == "mean" and summary["score_unit"] == "site" and summary["n_units"] == 3
    assert not summary["reliability_tested"]
    ceiled = dataset["headline_ceiled"].values
    assert summary["score"] == pytest.approx(np.mean(ceiled), abs=1e-6)
    assert abs(np.mean(ceiled) - np.median(ceiled)) > 1e-4  # the mean, not the median
    assert summary["score_description"].startswith("mean over 3 of 3 sites with reliability >= 0.3 of the ceiled")
    headers = [header for header, _ in table_columns(summary)]
    assert headers == ["mean RDM r (all stimuli)", "mean RDM r (per split)", "mean ceiled", "sites"]
    fine = summary["layers"]["fine"]
    assert fine["mean_ceiled"] == pytest.approx(float(np.mean(dataset["ceiled"].sel(layer="fine").values)), abs=1e-6)
    title = table_title(summary)
    assert "3 of 3 sites reliable" in title and "neuroid" not in title.split("(", 1)[1].split(",", 1)[0]
    text = " ".join(headline_lines(summary))
    assert "median" not in text and " neuroids" not in text and "mean ceiling" in text
