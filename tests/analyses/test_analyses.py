"""Analyses on synthetic score datasets with planted layer preferences (fast, no model)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from brainbench.analyses import AnalysisError, combine_scores
from brainbench.analyses.clustermap import Clustermap
from brainbench.analyses.ev_distribution import EVDistribution
from brainbench.analyses.figures import KNOWN_REGION_COLORS, region_color, region_palette
from brainbench.analyses.layer_correspondence import LayerCorrespondence
from brainbench.analyses.layer_profile import LayerProfile
from brainbench.analyses.preferred_layer import PreferredLayer
from brainbench.analyses.profile_consistency import ProfileConsistency
from brainbench.analyses.regime_comparison import RegimeComparison
from brainbench.analyses.stats import (
    adjusted_rand_index,
    cluster_order,
    multinomial_counts,
    permutation_test,
    profile_correlation,
    stimulus_bootstrap_ev,
    within_minus_between,
)
from brainbench.errors import BrainbenchError
from brainbench.metrics.regression import explained_variance

from helpers.analysis_fixtures import LAYERS, synthetic_scores


@pytest.fixture(autouse=True)
def _close_figures():
    """Analyses return open figures; close them so a long test run holds no memory."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


# ----------------------------------------------------------------------------- statistics
def test_stimulus_bootstrap_matches_explicit_resample():
    rng = np.random.default_rng(1)
    prediction = rng.standard_normal((3, 30, 5))
    target = prediction[1] + 0.5 * rng.standard_normal((30, 5))
    counts = multinomial_counts(30, 4, rng)
    ev = stimulus_bootstrap_ev(prediction, target, counts)
    for b in range(4):
        index = np.repeat(np.arange(30), counts[b])
        for layer in range(3):
            expected = explained_variance(prediction[layer, index], target[index])
            np.testing.assert_allclose(ev[b, layer], expected, rtol=1e-10, atol=1e-10)
    # all counts one: exactly the unresampled EV
    np.testing.assert_allclose(
        stimulus_bootstrap_ev(prediction, target, np.ones((1, 30)))[0, 2],
        explained_variance(prediction[2], target),
        atol=1e-12,
    )


def test_stimulus_bootstrap_debias_centres_resampled_ev_on_the_point_estimate():
    """A near-chance prediction over 60 stimuli: plain resampled EV sits ~(1 - EV)/S too low."""
    rng = np.random.default_rng(3)
    target = rng.standard_normal((60, 40))
    prediction = (0.1 * target + rng.standard_normal((60, 40)) * 0.1)[None]
    point = explained_variance(prediction[0], target)
    counts = multinomial_counts(60, 4000, rng)
    plain = stimulus_bootstrap_ev(prediction, target, counts).mean(axis=0)[0]
    fixed = stimulus_bootstrap_ev(prediction, target, counts, debias=True).mean(axis=0)[0]
    shift = (1 - point) / 60
    assert np.mean(plain - point) == pytest.approx(-np.mean(shift), rel=0.25)
    assert abs(np.mean(fixed - point)) < 0.15 * np.mean(shift)


def test_profile_correlation_matches_numpy_and_flags_flat_profiles():
    rng = np.random.default_rng(2)
    profiles = rng.standard_normal((6, 5))
    profiles[4] = 0.3  # flat: no correlation defined
    corr = profile_correlation(profiles)
    good = [0, 1, 2, 3, 5]
    np.testing.assert_allclose(corr[np.ix_(good, good)], np.corrcoef(profiles[good]), atol=1e-12)
    assert np.isnan(corr[4]).all() and np.isnan(corr[:, 4]).all()


def test_within_minus_between_by_hand():
    corr = np.array([[1.0, 0.8, 0.1, 0.0], [0.8, 1.0, 0.2, 0.3], [0.1, 0.2, 1.0, 0.6], [0.0, 0.3, 0.6, 1.0]])
    labels = np.array(["A", "A", "B", "B"])
    # within pairs: 0.8, 0.6 -> 0.7; between: 0.1, 0.0, 0.2, 0.3 -> 0.15 (diagonal never counts)
    assert within_minus_between(corr, labels) == pytest.approx(0.55)


def test_permutation_p_values_are_calibrated_under_the_null():
    """Identical planted preferences: p roughly uniform (a diagonal or pairing bug would skew it)."""
    p_values = []
    for seed in range(20):
        scores = synthetic_scores({"A": 2, "B": 2}, n_per_region=12, n_stimuli=40, seed=100 + seed, jitter=0.4)
        combined = combine_scores([scores])
        corr = profile_correlation(combined["ev"].values)
        _, _, p = permutation_test(corr, combined["region"].values, 200, np.random.default_rng(seed))
        p_values.append(p)
    p_values = np.asarray(p_values)
    assert 0.3 < p_values.mean() < 0.7
    assert (p_values < 0.05).sum() <= 3


def test_stratified_permutation_separates_a_confound_from_a_region_effect():
    """Profiles that depend only on a stratum (e.g. cortical layer), strata unevenly spread over regions.

    Shuffling region labels across all neuroids finds a "region effect" (region A is mostly
    stratum X); shuffling them only within each stratum keeps every region's mix of strata,
    so the statistic is the same in every shuffle and p = 1.
    """
    strata = np.array(["X"] * 10 + ["Y"] * 10)
    labels = np.array(["A"] * 8 + ["B"] * 2 + ["A"] * 2 + ["B"] * 8)
    corr = np.where(strata[:, None] == strata[None, :], 0.9, -0.5)
    np.fill_diagonal(corr, 1.0)
    observed, null, p = permutation_test(corr, labels, 300, np.random.default_rng(0))
    assert observed > 0.3 and p < 0.05  # measured 0.45, p = 0.027
    observed_s, null_s, p_s = permutation_test(corr, labels, 300, np.random.default_rng(0), strata=strata)
    assert observed_s == observed and p_s == 1.0
    np.testing.assert_allclose(null_s, observed)  # every within-stratum shuffle: the same statistic
    # a region effect that is not the strata's survives stratification
    region_effect = np.where(labels[:, None] == labels[None, :], 0.8, 0.0)
    np.fill_diagonal(region_effect, 1.0)
    _, _, p_region = permutation_test(region_effect, labels, 300, np.random.default_rng(0), strata=strata)
    assert p_region < 0.01


def test_profile_consistency_refuses_an_unknown_stratum_and_reports_a_known_one():
    scores = synthetic_scores({"VISl": 1, "VISam": 4}, n_per_region=8)
    with pytest.raises(AnalysisError, match="stratify='depth' is not a coordinate of the neuroids; choose one of"):
        ProfileConsistency().run([scores], n_permutations=50, stratify="depth")
    result = ProfileConsistency().run([scores], n_permutations=50, stratify="subject")
    test = result.numbers["consistency"]["permutation_test"]
    assert test["stratify"] == "subject" and "only among neuroids of the same subject" in result.markdown
    assert 0 < test["p_value"] <= 1


def test_adjusted_rand_index_known_values():
    assert adjusted_rand_index(np.array([1, 1, 2, 2]), np.array(["a", "a", "b", "b"])) == pytest.approx(1.0)
    # Hubert & Arabie's index for this table, computed by hand: (1 - 1*2/6) / (1.5 - 1*2/6)... = -0.5
    assert adjusted_rand_index(np.array([1, 1, 2, 2]), np.array(["a", "b", "a", "b"])) == pytest.approx(-0.5)


# ----------------------------------------------------------------------------- analyses
def test_layer_correspondence_recovers_planted_layers():
    scores = synthetic_scores({"VISl": 1, "VISam": 4}, n_per_region=25)
    result = LayerCorrespondence().run([scores], n_boot=200, seed=0)
    data = result.dataset
    assert list(data["region"].values) == ["VISl", "VISam"]
    assert list(data["best_layer_median"].values) == ["l1", "l4"]
    assert list(data["best_layer_mean"].values) == ["l1", "l4"]
    assert result.numbers["best_layer_by_region"]["median"] == {"VISl": "l1", "VISam": "l4"}
    for stat in ("median", "mean"):
        point = data[f"{stat}_ev"].values
        for kind in ("neuroids", "stimuli"):
            ci = data[f"{stat}_ci_{kind}"].values
            assert np.all(ci[0] <= point + 1e-9) and np.all(point <= ci[1] + 1e-9)
            assert np.all(ci[1] - ci[0] > 0)
    # the point estimate is the median of the per-neuroid EVs, not of something else
    visl = scores["ev"].values[:, :25]
    np.testing.assert_allclose(data["median_ev"].values[0], np.median(visl, axis=1))


def test_layer_correspondence_leaves_neuroids_without_any_ev_out_of_the_sample():
    """Neuroids with a constant response (EV undefined at every layer) are no sample of their region.

    Every number (point, both intervals, n) equals that of the scores without them; they are counted apart.
    """
    scores = synthetic_scores({"VISl": 1, "VISam": 4}, n_per_region=8, n_stimuli=40, seed=4)
    dead = [0, 3, 9]
    scores["target"].values[:, dead] = 1.0
    for name in ("ev", "r", "ceiled"):
        scores[name].values[:, dead] = np.nan
    alive = scores.isel(neuroid=[k for k in range(16) if k not in dead])
    with_dead = LayerCorrespondence().run([scores], n_boot=200).dataset
    without = LayerCorrespondence().run([alive], n_boot=200).dataset
    for name in ("median_ev", "mean_ev", "median_ci_neuroids", "mean_ci_neuroids", "median_ci_stimuli", "n_neuroids"):
        xr.testing.assert_allclose(with_dead[name], without[name])
    assert with_dead["n_neuroids"].values.tolist() == [6, 7]
    assert with_dead["n_undefined"].values.tolist() == [2, 1]


@pytest.mark.parametrize(("level", "shown"), [(0.975, "97.5%"), (0.57, "57%")])
def test_layer_correspondence_names_its_interval_level_exactly(level, shown):
    scores = synthetic_scores({"VISl": 1}, n_per_region=5, n_stimuli=20)
    result = LayerCorrespondence().run([scores], n_boot=20, level=level)
    assert f"{shown} CI over neuroids" in result.markdown
    assert f"{shown} CI over neuroids" in result.figures["layer-correspondence"].texts[0].get_text()
    result.close()


def test_an_areas_intervals_do_not_depend_on_the_other_areas_analysed():
    """VISp's CIs over neuroids and over stimuli are the same alone, with VISl, or after it."""
    visp = synthetic_scores({"VISp": 2}, n_per_region=12, seed=1, benchmark="bench-VISp")
    visl = synthetic_scores({"VISl": 4}, n_per_region=12, seed=2, benchmark="bench-VISl")
    runs = [
        LayerCorrespondence().run(group, n_boot=40, seed=5).dataset for group in ([visp], [visp, visl], [visl, visp])
    ]
    for stat in ("median", "mean"):
        for kind in ("neuroids", "stimuli"):
            alone = runs[0][f"{stat}_ci_{kind}"].sel(region="VISp").values
            assert np.isfinite(alone).all()
            for other in runs[1:]:
                np.testing.assert_array_equal(other[f"{stat}_ci_{kind}"].sel(region="VISp").values, alone)
    # another seed draws other resamples
    reseeded = LayerCorrespondence().run([visp], n_boot=40, seed=6).dataset
    assert not np.array_equal(reseeded["median_ci_stimuli"].values, runs[0]["median_ci_stimuli"].values)


def test_profile_consistency_small_p_when_regions_differ():
    scores = synthetic_scores({"VISl": 1, "VISam": 4}, n_per_region=15)
    result = ProfileConsistency().run([scores], n_permutations=300, seed=0)
    test = result.numbers["consistency"]["permutation_test"]
    assert test["p_value"] < 0.01
    assert test["observed"] > 0.5
    within = result.numbers["consistency"]["within"]["VISl"]
    between = result.numbers["consistency"]["between"]["VISl x VISam"]
    assert within["n_pairs"] == 15 * 14 // 2 and between["n_pairs"] == 15 * 15
    assert within["mean"] > between["mean"]
    assert result.dataset["pair_count"].sel(region="VISl", region_other="VISam").item() == 225


def test_profile_consistency_large_p_when_preferences_identical():
    scores = synthetic_scores({"VISl": 3, "VISam": 3}, n_per_region=15, seed=5, jitter=0.4)
    result = ProfileConsistency().run([scores], n_permutations=300, seed=0)
    assert result.numbers["consistency"]["permutation_test"]["p_value"] > 0.05


def test_profile_consistency_single_region_reports_within_only():
    scores = synthetic_scores({"V4": 2}, n_per_region=10)
    result = ProfileConsistency().run([scores], n_permutations=100)
    test = result.numbers["consistency"]["permutation_test"]
    assert test["p_value"] is None and "at least two regions" in test["note"]
    assert result.numbers["consistency"]["within"]["V4"]["n_pairs"] == 45
    assert "profile-consistency-permutation" not in result.figures


def test_profile_consistency_with_no_same_region_pair_reports_between_only():
    """One neuroid per region (three one-neuroid benchmarks): no within mean, so no test and no crash."""
    scores = synthetic_scores({"A": 0, "B": 3, "C": 5}, n_per_region=1, seed=1)
    result = ProfileConsistency().run([scores], n_permutations=50)
    test = result.numbers["consistency"]["permutation_test"]
    assert test["p_value"] is None and "a region with at least two neuroids" in test["note"]
    assert result.numbers["consistency"]["pooled"]["between"]["n_pairs"] == 3
    assert "profile-consistency-permutation" not in result.figures
    with pytest.raises(ValueError, match="a region with at least two neuroids"):
        permutation_test(np.eye(3), np.array(["A", "B", "C"]), 10, np.random.default_rng(0))


def test_profile_consistency_says_why_profiles_were_dropped():
    """Under reliable_only, unreliable neuroids are not reported as NaN or flat profiles."""
    scores = synthetic_scores({"A": 1, "B": 4}, n_per_region=6, seed=2)
    scores["ev"].values[:, [0, 6]] = 0.2  # flat: no correlation defined
    scores["ceiling"].values[:] = 0.9
    scores["ceiling"].values[[1, 2, 7]] = 0.3  # defined but unreliable
    result = ProfileConsistency().run([scores], n_permutations=20, reliable_only=True)
    assert result.dataset.attrs["n_dropped_undefined"] == 2
    assert result.dataset.attrs["n_dropped_unreliable"] == 3
    assert result.numbers["consistency"]["n_profiles"] == 7
    assert "2 dropped: NaN or flat profile; 3 unreliable" in result.markdown
    clustered = Clustermap().run([scores], reliable_only=True)
    assert "2 dropped: NaN or flat profile; 3 unreliable" in clustered.markdown
    assert clustered.numbers["clustering"]["n_dropped_undefined"] == 2


def test_cluster_order_groups_planted_clusters():
    scores = synthetic_scores({"A": 0, "B": 3, "C": 5}, n_per_region=10, seed=3)
    rng = np.random.default_rng(0)
    shuffle = rng.permutation(scores.sizes["neuroid"])  # clustering must not rely on input order
    shuffled = scores.isel(neuroid=shuffle)
    corr = profile_correlation(shuffled["ev"].values.T)
    _, order = cluster_order(corr)
    labels = shuffled["region"].values[order]
    changes = int((labels[1:] != labels[:-1]).sum())
    assert changes == 2  # three contiguous blocks
    result = Clustermap().run([shuffled])
    assert result.numbers["clustering"]["adjusted_rand_index_vs_region"] == pytest.approx(1.0)
    position = result.dataset["leaf_position"].values
    ordered = result.dataset["region"].values[np.argsort(position)]
    assert int((ordered[1:] != ordered[:-1]).sum()) == 2


def test_combine_scores_keeps_regions_and_falls_back_to_benchmark_id():
    a = synthetic_scores({"VISl": 1}, n_per_region=4, benchmark="bench-a")
    b = synthetic_scores({"x": 2}, n_per_region=3, benchmark="bench-b", region_coord=False)
    combined = combine_scores([a, b])
    assert list(combined["region"].values) == ["VISl"] * 4 + ["bench-b"] * 3
    assert list(combined["benchmark"].values) == ["bench-a"] * 4 + ["bench-b"] * 3
    # same ids in both benchmarks: made unique with the benchmark prefix
    assert combined["neuroid_id"].values[0] == "bench-a/n0" and combined["neuroid_id"].values[-1] == "bench-b/n2"
    assert "subject" in combined.coords
    np.testing.assert_array_equal(combined["ev"].values[4:], b["ev"].values.T)
    b.attrs["region"] = "V1"
    assert list(combine_scores([a, b])["region"].values[4:]) == ["V1"] * 3
    with pytest.raises(AnalysisError, match="different layers"):
        combine_scores([a, b.isel(layer=[0, 1])])


def test_summary_numbers_fractions():
    scores = synthetic_scores({"VISl": 1, "VISam": 4}, n_per_region=10)
    numbers = LayerProfile().run([scores]).numbers
    combined = combine_scores([scores])
    ev = combined["ev"].sel(layer=scores.attrs["best_layer"]).values
    ceiling = combined["ceiling"].values
    assert numbers["all"]["fraction_ev_positive"] == pytest.approx((ev > 0).mean())
    reliable = ceiling > 0.5
    assert numbers["all"]["n_reliable"] == int(reliable.sum())
    assert numbers["all"]["fraction_reliable_ev_positive"] == pytest.approx((ev[reliable] > 0).mean())
    assert numbers["by_region"]["VISl"]["modal_preferred_layer"] == "l1"
    assert numbers["by_region"]["VISam"]["modal_preferred_layer"] == "l4"
    assert sum(numbers["by_region"]["VISam"]["preferred_layer_counts"].values()) == 10


def test_summary_says_how_many_neuroids_have_no_defined_ev():
    scores = synthetic_scores({"VISl": 1}, n_per_region=8)
    scores["ev"].values[:, [2, 5]] = np.nan  # constant responses: EV undefined
    result = LayerProfile().run([scores])
    entry = result.numbers["all"]
    assert entry["n"] == 8 and entry["n_defined"] == 6
    ev = scores["ev"].sel(layer=scores.attrs["best_layer"]).values
    assert entry["fraction_ev_positive"] == pytest.approx((ev[np.isfinite(ev)] > 0).mean())
    assert "2 neuroids have no defined EV at the headline layer" in result.markdown


def test_preferred_layer_counts():
    scores = synthetic_scores({"VISl": 1, "VISam": 4}, n_per_region=10)
    data = PreferredLayer().run([scores]).dataset
    counts = data["count"]
    assert counts.sum("layer").values.tolist() == [10, 10]
    assert counts.sel(region="VISl").argmax("layer").item() == 1
    assert counts.sel(region="VISam").argmax("layer").item() == 4


def test_regime_comparison_aligns_readouts():
    a = synthetic_scores({"VISl": 1}, n_per_region=8, readout="s1", seed=1)
    b = synthetic_scores({"VISl": 1}, n_per_region=8, readout="s2", seed=2)
    result = RegimeComparison().run([a, b])
    data = result.dataset
    assert list(data["readout"].values) == ["s1", "s2"]
    np.testing.assert_allclose(
        data["headline_ev"].sel(readout="s2").values, b["ev"].sel(layer=b.attrs["best_layer"]).values
    )
    assert RegimeComparison().default_readouts(["simple", "s2", "ridge-x", "sp1"]) == ["simple", "s2", "sp1"]
    with pytest.raises(AnalysisError, match="other neuroids"):
        RegimeComparison().run([a, b.isel(neuroid=slice(0, 5))])


def test_region_colours_are_stable():
    assert region_color("VISl") == KNOWN_REGION_COLORS["VISl"]
    # stable across processes (a crc32, not Python's salted hash): the same colour in a fresh interpreter
    import subprocess
    import sys

    code = "from brainbench.analyses.figures import region_color; print(region_color('my-area'))"
    fresh = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    ).stdout.strip()
    assert fresh == region_color("my-area")
    assert region_color("my-area").startswith("#") and region_color("my-area") not in KNOWN_REGION_COLORS.values()
    palette = region_palette(["VISl", "VISam", "a1", "a2", "a3"])
    assert len(set(palette.values())) == 5
    # mouse and macaque areas share fixed colours: shown together, they still differ
    palette = region_palette(["VISp", "V1", "VISal", "V4", "IT", "VISam"])
    assert len(set(palette.values())) == 6 and palette["VISp"] == KNOWN_REGION_COLORS["VISp"]


# ----------------------------------------------------------------------------- files
def _assert_real_picture(path):
    import matplotlib.image as mpimg

    assert path.stat().st_size > 10_000, path
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and min(pixels.shape[:2]) > 200
    assert pixels[..., :3].std() > 0.05  # not a blank canvas


@pytest.mark.parametrize(
    "analysis", [LayerProfile, LayerCorrespondence, ProfileConsistency, Clustermap, EVDistribution, PreferredLayer]
)
def test_outputs_are_real_figures_and_netcdf_round_trips(analysis, tmp_path):
    scores = synthetic_scores({"VISl": 1, "VISam": 4, "VISp": 0}, n_per_region=8, n_stimuli=40)
    params = {"n_boot": 50} if analysis is LayerCorrespondence else {}
    if analysis is ProfileConsistency:
        params = {"n_permutations": 100}
    result = analysis().run([scores], **params)
    paths = result.write(tmp_path, title="test")
    result.close()
    assert result.figures
    for stem in result.figures:
        _assert_real_picture(tmp_path / f"{stem}.png")
        svg = (tmp_path / f"{stem}.svg").read_text()
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    with xr.open_dataset(paths["data"], engine="netcdf4") as stored:
        stored = stored.load()
    assert stored.identical(result.dataset), analysis.name
    summary = (tmp_path / "summary.md").read_text()
    for stem in result.figures:
        assert f"({stem}.png)" in summary
    assert "| VISam |" in summary
    assert json.loads((tmp_path / "summary.json").read_text())["n_neuroids"] == 24


def test_a_failed_write_leaves_the_folder_as_it_was(tmp_path):
    """A figure that cannot be saved: no new .nc beside the old summary, no half-written file, no leftovers."""
    scores = synthetic_scores({"VISl": 1, "VISam": 4}, n_per_region=4, n_stimuli=20)
    old = PreferredLayer().run([scores])
    old.write(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    new = PreferredLayer().run([scores], reliable_only=True)
    figure = new.figures["preferred-layer"]

    def broken(path, **kwargs):
        if str(path).endswith(".svg"):
            raise OSError(28, "No space left on device")
        return type(figure).savefig(figure, path, **kwargs)

    figure.savefig = broken
    with pytest.raises(BrainbenchError, match="cannot write .*the disk is full"):
        new.write(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


# ----------------------------------------------------------------------------- no layer beats zero
def _useless_scores() -> xr.Dataset:
    """Scores whose every layer predicts worse than the mean (EV < 0 everywhere)."""
    dataset = synthetic_scores({"VISp": 2, "VISl": 4})
    rng = np.random.default_rng(5)
    target = dataset["target"].values
    shuffled = np.stack([target[rng.permutation(target.shape[0])] for _ in LAYERS]).astype(np.float32)
    ev = np.stack([explained_variance(shuffled[k], target) for k in range(len(LAYERS))])
    dataset["prediction"] = (("layer", "stimulus", "neuroid"), shuffled)
    dataset["ev"] = (("layer", "neuroid"), ev)
    assert (np.median(ev, axis=1) < 0).all()
    return dataset


def test_layer_correspondence_says_when_no_layer_beats_zero():
    result = LayerCorrespondence().run([_useless_scores()], n_boot=20)
    assert result.numbers["best_layer_by_region"]["median"] == {"VISp": None, "VISl": None}
    assert list(result.dataset["best_layer_median"].values) == ["none", "none"]
    assert "every layer's median EV <= 0" in result.markdown


def test_preferred_layer_is_none_where_no_layer_beats_zero():
    dataset = _useless_scores()
    result = PreferredLayer().run([dataset])
    best = dataset["ev"].max("layer").values
    preferred = result.dataset["preferred_layer"].values
    assert ((preferred == "none") == (best <= 0)).all() and (preferred == "none").any()
    counts = result.numbers["by_region"]["VISp"]["preferred_layer_counts"]
    assert counts["none"] == int(((preferred == "none") & (dataset["region"].values == "VISp")).sum())


def test_preferred_layer_figure_shows_fractions_of_the_whole_region():
    """Neuroids preferring no layer stay in the denominator: the bars are not inflated to sum to 1."""
    scores = synthetic_scores({"A": 2}, n_per_region=10, seed=1)
    scores["ev"].values[:, :5] = -0.1  # half the neuroids: no layer above 0
    result = PreferredLayer().run([scores])
    counts = result.numbers["by_region"]["A"]["preferred_layer_counts"]
    ax = result.figures["preferred-layer"].axes[0]
    heights = [bar.get_height() for bar in ax.patches]
    np.testing.assert_allclose(heights, [counts[layer] / 10 for layer in LAYERS])
    assert "n = 10" in ax.get_legend().get_texts()[0].get_text()
    assert counts["none"] == 5 and int(result.dataset["count_none"].sel(region="A")) == 5


# ----------------------------------------------------------------------------- trajectory
def _checkpoint_score(benchmark: str, index: int, step: int, score: float) -> xr.Dataset:
    dataset = xr.Dataset({"ceiled": (("layer", "neuroid"), np.full((2, 3), score))}, coords={"layer": ["a", "b"]})
    dataset.attrs.update(
        benchmark=benchmark,
        checkpoint=f"epoch_{step}.pt",
        checkpoint_index=index,
        checkpoint_step=step,
        score=score,
        best_layer="a",
        model=f"run@{step}",
    )
    return dataset


def test_trajectory_aligns_each_benchmarks_checkpoints_whatever_their_order():
    from brainbench.analyses.trajectory import Trajectory

    steps = [1, 2, 10]
    first = [_checkpoint_score("A", k, s, 0.1 * k) for k, s in enumerate(steps)]
    second = [_checkpoint_score("B", k, s, 0.5 + 0.1 * k) for k, s in enumerate(steps)]
    result = Trajectory().run(first + second[::-1])  # B's datasets in reverse training order
    np.testing.assert_allclose(result.dataset["score"].values, [[0.0, 0.1, 0.2], [0.5, 0.6, 0.7]])
    np.testing.assert_allclose(result.dataset["layer_score"].sel(benchmark="B", layer="b"), [0.5, 0.6, 0.7])
    other = [_checkpoint_score("B", k, s, 0.5) for k, s in enumerate([1, 2, 20])]
    with pytest.raises(AnalysisError, match="other checkpoints"):
        Trajectory().run(first + other)
    result.close()


def test_trajectory_names_a_headline_that_fell_back_to_the_uncorrected_score():
    """Early checkpoints may have too few reliable neuroids: their headline is another quantity."""
    from brainbench.analyses.trajectory import Trajectory

    series = [_checkpoint_score("A", k, s, 0.1 * k) for k, s in enumerate([1, 2, 10])]
    series[0].attrs["score_kind"] = "uncorrected-r"
    series[1].attrs["score_kind"] = series[2].attrs["score_kind"] = "ceiled"
    result = Trajectory().run(series)
    assert list(result.dataset["score_kind"].values[0]) == ["uncorrected-r", "ceiled", "ceiled"]
    assert [c["score_kind"] for c in result.numbers["benchmarks"]["A"]] == ["uncorrected-r", "ceiled", "ceiled"]
    assert "0.000 uncorrected-r (a)" in result.markdown
    top = result.figures["trajectory"].axes[0]
    assert top.get_ylabel() == "ceiled or uncorrected-r score"
    result.close()
