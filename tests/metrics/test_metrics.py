"""Metrics, the split-half ceiling and the split protocols."""

from __future__ import annotations

import numpy as np
import pytest

from brainbench.data.splits import make_splits
from brainbench.metrics.ceiling import split_half_reliability
from brainbench.metrics.regression import explained_variance, pearson_r
from brainbench.registry.manifest import SplitSpec


def test_pearson_and_ev_against_numpy():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(50, 3))
    pred = target + rng.normal(size=(50, 3))
    for j in range(3):
        assert pearson_r(pred, target)[j] == pytest.approx(np.corrcoef(pred[:, j], target[:, j])[0, 1])
        sse = ((target[:, j] - pred[:, j]) ** 2).sum()
        sst = ((target[:, j] - target[:, j].mean()) ** 2).sum()
        assert explained_variance(pred, target)[j] == pytest.approx(1 - sse / sst)


def test_metrics_ignore_unpredicted_rows():
    target = np.arange(10.0)[:, None]
    pred = target.copy()
    pred[::2] = np.nan
    assert pearson_r(pred, target)[0] == pytest.approx(1.0)
    assert explained_variance(pred, target)[0] == pytest.approx(1.0)


@pytest.mark.parametrize("n_rep", [4, 10])
def test_split_half_matches_analytic_reliability(n_rep):
    """signal var 1, noise var s2 per trial: reliability of the mean = 1 / (1 + s2 / n_rep)."""
    rng = np.random.default_rng(1)
    n_stim, n_neuroid = 4000, 6
    noise_var = np.array([0.5, 1, 2, 4, 8, 16])
    signal = rng.normal(size=(n_stim, n_neuroid))
    trials = signal[None] + rng.normal(size=(n_rep, n_stim, n_neuroid)) * np.sqrt(noise_var)
    analytic = 1 / (1 + noise_var / n_rep)
    estimate = split_half_reliability(trials, n_splits=30, seed=0)
    np.testing.assert_allclose(estimate, analytic, atol=0.04)


def test_split_half_handles_missing_trials():
    rng = np.random.default_rng(2)
    signal = rng.normal(size=(500, 2))
    trials = signal[None] + rng.normal(size=(8, 500, 2))
    trials[6:, ::2] = np.nan  # half the stimuli have 6 trials, half 8
    estimate = split_half_reliability(trials, n_splits=30)
    # harmonic-ish mix of 6 and 8 trials: between the two analytic values
    assert 1 / (1 + 1 / 6) - 0.04 < estimate.mean() < 1 / (1 + 1 / 8) + 0.04
    assert np.isfinite(estimate).all()


def test_split_half_is_seeded():
    trials = np.random.default_rng(3).normal(size=(6, 50, 4))
    assert np.array_equal(split_half_reliability(trials, seed=1), split_half_reliability(trials, seed=1))
    assert not np.array_equal(split_half_reliability(trials, seed=1), split_half_reliability(trials, seed=2))


def test_kfold_partitions_every_stimulus_once():
    splits = make_splits(SplitSpec(n_splits=10, seed=3), 95)
    tested = np.concatenate([s.test for s in splits])
    assert sorted(tested) == list(range(95))
    for s in splits:
        assert not set(s.train) & set(s.test)
        assert len(s.train) + len(s.test) == 95


def test_stratified_folds_keep_every_class_in_train_and_test():
    labels = np.repeat(["a", "b", "c", "d"], [10, 12, 20, 11])
    splits = make_splits(SplitSpec(n_splits=10, stratify="object"), len(labels), labels)
    for s in splits:
        assert set(labels[s.train]) == set("abcd")
        assert set(labels[s.test]) == set("abcd")


def test_holdout_is_85_15_and_seeded():
    spec = SplitSpec(kind="holdout", n_splits=3, test_fraction=0.15)
    first = make_splits(spec, 118, seed=0)
    assert [len(s.test) for s in first] == [18, 18, 18]
    again = make_splits(spec, 118, seed=0)
    assert all(np.array_equal(a.test, b.test) for a, b in zip(first, again, strict=True))
    other = make_splits(spec, 118, seed=1)
    assert not np.array_equal(first[0].test, other[0].test)


def test_split_half_per_neuroid_missing_pattern_matches_one_neuroid_at_a_time():
    """Neuroids with different missing trials take the general path; each column must equal
    the result for that neuroid alone (same seed, same halvings)."""
    rng = np.random.default_rng(4)
    trials = rng.normal(size=(6, 40, 3)) + rng.normal(size=(1, 40, 3))
    trials[5, :10, 0] = np.nan
    trials[4, 20:, 2] = np.nan
    together = split_half_reliability(trials, n_splits=5, seed=7)
    for j in range(3):
        alone = split_half_reliability(trials[:, :, j : j + 1], n_splits=5, seed=7)
        assert together[j] == pytest.approx(alone[0], abs=1e-12)
