"""The headline score: noise scores about 0, a perfect model about 1, a known fraction is recovered.

The scorer-level cases use a tiny model (2 x 2 average pooling of the image) whose
features are known exactly, so the explainable variance it can reach is planted.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import brainbench
from brainbench.assemblies.byod import wrap_recordings
from brainbench.metrics.ceiled import CEILED, UNCORRECTED, UNCORRECTED_R2, headline, signed_ceiled_r2
from brainbench.metrics.regression import pearson_r
from brainbench.models.base import TorchModel
from brainbench.models.preprocess import to_tensor
from brainbench.registry.manifest import Preprocessing
from brainbench.scoring import summarize
from brainbench.scoring.benchmark import custom_benchmark

PREP = Preprocessing(size=16, mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0], placement="resize")


def _pool_model() -> TorchModel:
    module = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())
    return TorchModel(module, {"pool": "0", "flat": "1"}, identifier="planted-pool", preprocessing=PREP)


def _features(model: TorchModel, images: np.ndarray) -> np.ndarray:
    """``(stimulus, 4)``: the model's pooled features of grayscale images (one channel)."""
    from brainbench.data.stimuli import StimulusSet

    stimuli = StimulusSet.from_arrays(list(images))
    batch = torch.stack([to_tensor(stimuli.image(k), PREP) for k in range(len(stimuli))])
    return model.forward_layers(batch, ["flat"])["flat"].double().numpy()[:, :4]


def _planted(
    fraction: float,
    n_stimuli: int = 400,
    n_neuroids: int = 30,
    n_reps: int = 6,
    reliability: float = 0.7,
    seed: int = 0,
):
    """Trials whose signal is ``fraction`` predictable from the pooled features.

    The signal of each neuroid is ``sqrt(fraction) * a + sqrt(1 - fraction) * b`` with
    ``a`` a linear function of the features and ``b`` independent of the images, both of
    unit variance; trial noise makes the trial mean's reliability ``reliability``.
    """
    rng = np.random.default_rng(seed)
    images = rng.random((n_stimuli, 16, 16))
    feats = _features(_pool_model(), images)
    feats = (feats - feats.mean(0)) / feats.std(0)
    a = feats @ rng.normal(size=(feats.shape[1], n_neuroids))
    a = (a - a.mean(0)) / a.std(0)
    b = rng.normal(size=(n_stimuli, n_neuroids))
    b = (b - b.mean(0)) / b.std(0)
    signal = np.sqrt(fraction) * a + np.sqrt(1 - fraction) * b
    noise_sd = np.sqrt(n_reps * (1 - reliability) / reliability)  # var(noise of the mean) = (1-rho)/rho
    trials = signal[None] + rng.normal(scale=noise_sd, size=(n_reps, n_stimuli, n_neuroids))
    return images, trials, signal, a


# -- the metric itself ---------------------------------------------------------------------


def _split_r(prediction: np.ndarray, target: np.ndarray, k: int = 10) -> np.ndarray:
    folds = np.array_split(np.arange(target.shape[0]), k)
    return np.mean([pearson_r(prediction[f], target[f]) for f in folds], axis=0)


def test_perfect_prediction_of_the_signal_scores_about_one():
    from brainbench.metrics.ceiling import split_half_reliability

    _, trials, signal, _ = _planted(1.0)
    ceiling = split_half_reliability(trials)
    result = headline(_split_r(signal, trials.mean(0)), ceiling)
    assert result.kind == CEILED and result.n_reliable == 30
    assert abs(result.value - 1.0) < 0.05


@pytest.mark.parametrize("fraction", [0.25, 0.5])
def test_known_fraction_of_explainable_variance_is_recovered(fraction):
    from brainbench.metrics.ceiling import split_half_reliability

    _, trials, _, predictable = _planted(fraction)
    # a model that predicts the image-driven part of the signal exactly, and nothing else
    result = headline(_split_r(predictable, trials.mean(0)), split_half_reliability(trials))
    assert result.n_reliable == 30
    assert abs(result.value - fraction) < 0.05


def test_negative_correlation_stays_negative():
    ceiling = np.array([0.8, 0.8, 0.8])
    ceiled = signed_ceiled_r2(np.array([-0.4, 0.4, 0.0]), ceiling)
    np.testing.assert_allclose(ceiled, [-0.2, 0.2, 0.0])


def test_unreliable_neuroids_are_left_out_and_counted():
    r = np.array([0.5, 0.5, 0.9, 0.9])
    ceiling = np.array([0.5, 0.5, 0.05, np.nan])
    result = headline(r, ceiling, reliability_floor=0.3)
    assert result.n_reliable == 2 and result.kind == CEILED
    assert result.value == pytest.approx(0.25 / 0.5)
    assert np.isnan(signed_ceiled_r2(r, ceiling, 0.3)[2:]).all()


def test_without_reliable_neuroids_the_headline_is_uncorrected_and_says_why():
    result = headline(np.array([0.1, 0.3, 0.2]), np.full(3, np.nan), has_repetitions=False)
    assert result.kind == UNCORRECTED and result.value == pytest.approx(0.2)
    assert "no repetitions" in result.reason


# -- through the scorer ----------------------------------------------------------------------


def _score(images, responses, identifier, **kwargs):
    data = wrap_recordings(responses, images, identifier=identifier)
    return brainbench.score(_pool_model(), custom_benchmark(data.assembly, data.stimuli), progress=False, **kwargs)


@pytest.mark.parametrize("fraction", [1.0, 0.5])
def test_scorer_recovers_the_planted_fraction(fraction, one_torch_thread):
    images, trials, _, _ = _planted(fraction)
    dataset = _score(images, trials, f"planted-{fraction}")
    assert dataset.attrs["score_kind"] == CEILED
    assert int(dataset.attrs["n_reliable"]) == 30
    # ridge on 400 stimuli x 4 informative features loses a little to estimation error
    assert abs(dataset.attrs["score"] - fraction) < 0.05


def test_noise_scores_about_zero_and_never_high(one_torch_thread):
    """The README's noise example: random images, responses (5, 60, 20) from a normal.

    Before the signed, floored ceiled score this scored 0.73 (more than real V4).
    """
    scores = []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        images = rng.random((60, 64, 64))
        responses = rng.normal(size=(5, 60, 20))
        data = wrap_recordings(responses, images, identifier=f"noise-{seed}")
        dataset = brainbench.score(
            "alexnet-untrained",
            custom_benchmark(data.assembly, data.stimuli),
            layers=["conv3", "pool5"],
            progress=False,
        )
        scores.append(dataset.attrs["score"])
        assert dataset.attrs["score"] < 0.25, (seed, dataset.attrs["score"])
        assert int(dataset.attrs["n_reliable"]) <= 3  # a few noise neuroids pass the floor by chance
    assert abs(np.mean(scores)) < 0.05, scores


def test_averaged_data_falls_back_to_uncorrected_r2_and_says_so(one_torch_thread):
    images, trials, _, _ = _planted(1.0, n_stimuli=120)
    dataset = _score(images, trials.mean(0), "planted-averaged")
    summary = summarize(dataset)
    assert summary["score_kind"] == UNCORRECTED_R2 and summary["n_reliable"] == 0
    # the declared fallback (ceiled-r2 v3): sign(r) r^2 with the ceiling taken as 1; the trial
    # mean of 6 repetitions at reliability 0.7 predicted from its signal: r^2 about 0.7
    assert summary["score"] is not None and 0.5 < summary["score"] < 0.8
    assert "no repetitions" in summary["score_note"]
    assert summary["score_description"].startswith("UNCORRECTED median over all 30 neuroids of sign(r) r^2")
    json.dumps(summary)  # the JSON carries it


def test_the_headline_layer_is_chosen_per_split_from_training_data(one_torch_thread):
    images, trials, _, _ = _planted(1.0, n_stimuli=200)
    dataset = _score(images, trials, "planted-choice")
    choice = json.loads(dataset.attrs["layer_choice"])
    assert len(choice["per_split"]) == dataset.sizes["split"]
    assert choice["beats_zero"] is True
    # the headline r is, per split, the test r at that split's chosen layer
    expected = np.mean(
        [dataset["r_split"].sel(layer=layer).isel(split=k).values for k, layer in enumerate(choice["per_split"])],
        axis=0,
    )
    np.testing.assert_allclose(dataset["headline_r"].values, expected)
