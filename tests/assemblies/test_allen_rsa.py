"""RDM assemblies and the six mouse-area RSA benchmarks (Conwell et al. 2021 RDMs)."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch

import brainbench
from brainbench.assemblies import conwell2021
from brainbench.data.assembly import AssemblyError, load_assembly, make_rdm_assembly, save_assembly
from brainbench.data.stimuli import StimulusSet
from brainbench.metrics.ceiled import headline
from brainbench.metrics.rsa import correlation_rdm
from brainbench.models.base import TorchModel
from brainbench.models.preprocess import to_tensor
from brainbench.registry.manifest import Preprocessing
from brainbench.scoring.benchmark import custom_benchmark

AREA_SITES = {"VISp": 4, "VISl": 4, "VISal": 3, "VISam": 3, "VISpm": 4, "VISrl": 3}


class _Payload:
    """Unpickling this would run a shell command that creates ``marker``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_the_pickle_reader_refuses_a_payload_without_running_it(tmp_path):
    marker = tmp_path / "payload-ran"
    blob = pickle.dumps({"VISp": {"layer23": _Payload(str(marker))}})
    with pytest.raises(AssemblyError, match=r"asks for (posix|nt|os)\.system.*refused unread"):
        conwell2021.restricted_load(blob)
    assert not marker.exists()
    # the same payload through plain pickle would have run: the test can fail
    assert b"system" in blob


def test_the_pickle_reader_rebuilds_numpy_arrays():
    matrix = np.random.default_rng(0).normal(size=(5, 5))
    loaded = conwell2021.restricted_load(pickle.dumps({"VISp": {"layer23": matrix}}))
    np.testing.assert_array_equal(loaded["VISp"]["layer23"], matrix)
    with pytest.raises(AssemblyError, match="could not be read"):
        conwell2021.restricted_load(b"not a pickle")


def test_rdm_assembly_round_trips_and_is_validated(tmp_path):
    rng = np.random.default_rng(1)
    rdms = np.stack([correlation_rdm(rng.normal(size=(6, 4))) for _ in range(2)])
    rdms[:, np.arange(6), np.arange(6)] = 0.0
    assembly = make_rdm_assembly(
        rdms,
        site_ids=["a", "b"],
        stimulus_ids=[f"s{k}" for k in range(6)],
        identifier="toy-rdms",
        site_coords={"region": ["X", "Y"], "ceiling": [0.5, 0.7]},
    )
    path = save_assembly(assembly, tmp_path / "toy.nc")
    assert load_assembly(path).identical(assembly)
    bad = rdms.copy()
    bad[0, 0, 1] += 0.5
    with pytest.raises(AssemblyError, match="symmetric"):
        make_rdm_assembly(bad, site_ids=["a", "b"], stimulus_ids=list("abcdef"), identifier="bad")


def test_the_headline_aggregate_is_declared():
    r = np.array([0.1, 0.2, 0.9])
    ceiling = np.ones(3)
    assert headline(r, ceiling).value == pytest.approx(0.04)
    assert headline(r, ceiling, aggregate="mean").value == pytest.approx((0.01 + 0.04 + 0.81) / 3)
    with pytest.raises(brainbench.errors.BrainbenchError, match="unknown headline aggregate"):
        headline(r, ceiling, aggregate="max")


# ------------------------------------------------------------------ planted RDMs
PREP = Preprocessing(size=16, mean=[0.0] * 3, std=[1.0] * 3, placement="resize")


def _model() -> TorchModel:
    module = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(4), torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())
    return TorchModel(module, {"fine": "0", "coarse": "1"}, identifier="rsa-pools", preprocessing=PREP)


def _planted_score(rng: np.random.Generator, n: int = 80, sigma_ratio: float = 1.5, holdout: int = 10):
    stimuli = StimulusSet.from_arrays(list(rng.random((n, 16, 16))))
    batch = torch.stack([to_tensor(stimuli.image(k), PREP) for k in range(n)])
    fine = _model().forward_layers(batch, ["fine"])["fine"].reshape(n, -1).double().numpy()
    signal = correlation_rdm(fine)
    rows, cols = np.triu_indices(n, k=1)
    v = signal[rows, cols].var()
    sigma = np.sqrt(v * sigma_ratio)
    rho = v / (v + sigma**2)
    rdms = []
    for _ in range(2):
        noise = np.zeros((n, n))
        noise[rows, cols] = sigma * rng.normal(size=rows.size)
        rdms.append(signal + noise + noise.T)
    assembly = make_rdm_assembly(
        np.stack(rdms),
        site_ids=["A", "B"],
        stimulus_ids=stimuli.ids,
        identifier="planted-rdms",
        site_coords={"region": ["X", "Y"], "ceiling": [rho, 2 * rho]},
    )
    bench = custom_benchmark(assembly, stimuli, split={"kind": "holdout", "n_splits": holdout, "test_fraction": 0.5})
    return brainbench.score(_model(), bench, progress=False), rho


def test_analyses_run_on_representation_scores_and_say_which_ci_is_shown(one_torch_thread):
    from brainbench.analyses.base import AnalysisError
    from brainbench.analyses.ev_distribution import EVDistribution
    from brainbench.analyses.layer_correspondence import LayerCorrespondence

    dataset, _ = _planted_score(np.random.default_rng(4), n=40, holdout=4)
    assert dataset["model_rdm"].dtype == np.float32 and dataset["neural_rdm"].dims == (
        "neuroid",
        "stimulus",
        "stimulus_b",
    )
    assert list(dataset["stimulus_id"].values) == list(dataset["stimulus_b_id"].values)
    assert dataset.attrs["rdm_method"] == "pearson"
    result = LayerCorrespondence().run([dataset], n_boot=100)
    assert result.dataset.attrs["metric"] == "r"
    np.testing.assert_allclose(result.dataset["median_r"].sel(region="X").values, dataset["r"].values[:, 0])
    assert "**over stimuli** (stimuli resampled with replacement" in result.markdown
    assert result.numbers["stimulus_ci"] is True and result.numbers["stimulus_ci_from"] == "rdms"
    low, high = result.dataset["median_ci_stimuli"].sel(region="X", layer="fine").values
    assert low < float(dataset["r"].sel(layer="fine").values[0]) < high and high - low < 0.3
    result.close()
    # a representation score stored without its RDMs (an older score) keeps the CI over sites only
    bare = dataset.drop_vars(["model_rdm", "neural_rdm"])
    result = LayerCorrespondence().run([bare], n_boot=20)
    assert "only the CI over neuroids (here: sites) is shown" in result.markdown
    assert result.numbers["stimulus_ci"] is False
    assert np.isnan(result.dataset["median_ci_stimuli"].values).all()
    result.close()
    with pytest.raises(AnalysisError, match="has no per-layer 'ev'"):
        EVDistribution().run([dataset])


def test_a_planted_rdm_is_matched_to_its_layer_with_the_known_ceiled_score(one_torch_thread):
    """Sites whose RDM is layer ``fine``'s RDM plus noise of known variance.

    With signal variance ``v`` (over stimulus pairs) and noise variance ``s2``, the
    expected r^2 between the noisy and the noise-free RDM is ``rho = v / (v + s2)``.
    Site A declares ``rho`` as its ceiling (ceiled score about 1), site B ``2 rho``
    (about 0.5).
    """
    rng = np.random.default_rng(3)
    n = 80
    stimuli = StimulusSet.from_arrays(list(rng.random((n, 16, 16))))
    batch = torch.stack([to_tensor(stimuli.image(k), PREP) for k in range(n)])
    fine = _model().forward_layers(batch, ["fine"])["fine"].reshape(n, -1).double().numpy()
    signal = correlation_rdm(fine)
    rows, cols = np.triu_indices(n, k=1)
    v = signal[rows, cols].var()
    sigma = np.sqrt(v * 1.5)  # rho = 0.4
    rho = v / (v + sigma**2)
    rdms = []
    for _ in range(2):
        noise = np.zeros((n, n))
        noise[rows, cols] = sigma * rng.normal(size=rows.size)
        rdms.append(signal + noise + noise.T)
    assembly = make_rdm_assembly(
        np.stack(rdms),
        site_ids=["A", "B"],
        stimulus_ids=stimuli.ids,
        identifier="planted-rdms",
        site_coords={"region": ["X", "X"], "ceiling": [rho, 2 * rho]},
    )
    bench = custom_benchmark(assembly, stimuli, split={"kind": "holdout", "n_splits": 10, "test_fraction": 0.5})
    dataset = brainbench.score(_model(), bench, progress=False)
    assert dataset.attrs["best_layer"] == "fine"
    assert json.loads(dataset.attrs["layer_choice"])["per_split"] == ["fine"] * 10
    np.testing.assert_allclose(dataset["ceiling"].values, [rho, 2 * rho])
    ceiled = dataset["headline_ceiled"].values
    assert abs(ceiled[0] - 1.0) < 0.12 and abs(ceiled[1] - 0.5) < 0.06
    assert dataset.attrs["score"] == pytest.approx(float(np.median(ceiled)))
    assert dataset["r"].sel(layer="fine").min() > dataset["r"].sel(layer="coarse").max()


# ------------------------------------------------------------------ the real data
def _real_inputs(mirror):
    folder = mirror / "conwell2021" / "neural_data"
    if not folder.is_dir():
        pytest.skip("the conwell2021 files are not in the mirror")
    similarities = conwell2021.read_similarities(folder / "rdms_reliable.pkl")
    scenes = conwell2021.scene_images(
        mirror / "allen-scenes-31px" / "Allen_data_170513" / "all_input_scenes_118_961.npy"
    ).reshape(118, -1)
    return similarities, conwell2021.read_ceilings(folder / "rdms_noise_ceiling.csv"), scenes


def test_the_declared_alignment_is_confirmed_and_a_wrong_one_refused(mirror):
    similarities, ceilings, scenes = _real_inputs(mirror)
    evidence = conwell2021.check_alignment(similarities, scenes, n_permutations=300, seed=0)
    assert evidence.passed and len(evidence.sites) == 6
    assert 0.06 < evidence.declared_r < 0.15 and abs(evidence.blank_first_r) < 0.03
    assert evidence.p_declared == pytest.approx(1 / 301) and evidence.p_blank_first > 0.05
    # the same files with the blank moved to the first row: the loader must refuse them
    order = np.r_[118, np.arange(118)]
    shifted = {k: m[np.ix_(order, order)] for k, m in similarities.items()}
    with pytest.raises(AssemblyError, match="do not match the scenes in the declared order"):
        conwell2021.build_rdm_assembly(shifted, ceilings, scenes, n_permutations=300)


@pytest.mark.parametrize("area", list(AREA_SITES))
def test_each_mouse_area_scores_from_the_mirror(mirror, one_torch_thread, area):
    dataset = brainbench.score("alexnet-untrained", f"allen-rsa-{area}", layers=["conv1", "conv5"], progress=False)
    assert dataset.attrs["benchmark_kind"] == "representation" and dataset.sizes["neuroid"] == AREA_SITES[area]
    assert set(dataset["region"].values) == {area}
    ceilings = conwell2021.read_ceilings(mirror / "conwell2021" / "neural_data" / "rdms_noise_ceiling.csv")
    expected = [ceilings[(area, key)][0] for key in dataset["source_layer_key"].values]
    np.testing.assert_allclose(dataset["ceiling"].values, expected)
    l23 = dataset.sel(neuroid=list(dataset["cortical_layer"].values).index("L2/3"))
    assert ((l23["r"].values > 0.03) & (l23["r"].values < 0.2)).all()  # untrained: weak, not 0 and not 1
    reliable = dataset["reliable"].values
    assert dataset.attrs["n_reliable"] == int(reliable.sum()) == AREA_SITES[area] - (area == "VISrl")
    assert dataset.attrs["score"] == pytest.approx(float(np.mean(dataset["headline_ceiled"].values[reliable])))
    assert dataset.attrs["site_aggregate"] == "mean" and dataset.attrs["best_layer"] in ("conv1", "conv5")


def test_layer_correspondence_of_mouse_areas_reports_the_stimulus_ci(mirror, one_torch_thread):
    from brainbench.analyses.layer_correspondence import LayerCorrespondence

    scores = [
        brainbench.score("alexnet-untrained", f"allen-rsa-{area}", layers=["conv1", "conv5"], progress=False)
        for area in ("VISp", "VISl")
    ]
    assert scores[0]["model_rdm"].shape == (2, 118, 118) and scores[0]["neural_rdm"].shape == (4, 118, 118)
    result = LayerCorrespondence().run(scores, n_boot=100)
    assert result.numbers["stimulus_ci_from"] == "rdms" and "**over stimuli**" in result.markdown
    ci = result.dataset["median_ci_stimuli"].values  # (bound, region, layer)
    point = result.dataset["median_r"].values
    assert np.isfinite(ci).all() and (ci[0] < point).all() and (point < ci[1]).all()
    assert ((ci[1] - ci[0] > 0.02) & (ci[1] - ci[0] < 0.3)).all()  # 118 scenes: measured 0.09-0.15
    result.close()


# ------------------------------------------------------------------ site profiles across areas
PROFILE_AREAS = ("VISp", "VISl", "VISal")  # 4 + 4 + 3 = 11 sites
PROFILE_LAYERS = ["conv1", "conv3", "conv5"]  # three layers: a profile correlation is not just +-1
_PROFILE_SCORES: dict[tuple[str, ...], list] = {}


def _area_scores(areas: tuple[str, ...] = PROFILE_AREAS) -> list:
    """Scores of ``areas`` on three layers, computed once per test session (call with ``mirror`` set)."""
    if areas not in _PROFILE_SCORES:
        _PROFILE_SCORES[areas] = [
            brainbench.score("alexnet-untrained", f"allen-rsa-{area}", layers=PROFILE_LAYERS, progress=False)
            for area in areas
        ]
    return _PROFILE_SCORES[areas]


def _relabelled(scores: list, labels: list[str]) -> list:
    """The same scores with the sites' ``region`` replaced, in order, by ``labels``."""
    out, start = [], 0
    for dataset in scores:
        n = dataset.sizes["neuroid"]
        out.append(dataset.assign_coords(region=("neuroid", np.asarray(labels[start : start + n], dtype=object))))
        start += n
    return out


def test_profile_consistency_of_mouse_areas_tests_sites_grouped_by_area(mirror, one_torch_thread, tmp_path):
    from brainbench.analyses.profile_consistency import ProfileConsistency
    from brainbench.analyses.stats import permutation_test

    scores = _area_scores()
    result = ProfileConsistency().run(scores, n_permutations=200, seed=0)
    info = result.numbers["consistency"]
    test = info["permutation_test"]
    assert result.dataset.attrs["metric"] == "r" and info["unit"] == "site"
    assert info["n_profiles"] == 11 and info["n_dropped"] == 0
    region = np.concatenate([d["region"].values.astype(str) for d in scores])
    assert list(result.dataset["neuroid_region"].values) == list(region)
    # by hand: the sites' r profiles, their Pearson correlations, same-area vs different-area pairs
    profiles = np.concatenate([d["r"].transpose("neuroid", "layer").values for d in scores])
    corr = np.corrcoef(profiles)
    rows, cols = np.triu_indices(11, k=1)
    same = region[rows] == region[cols]
    assert info["pooled"]["within"]["n_pairs"] == 6 + 6 + 3 and info["pooled"]["between"]["n_pairs"] == 40
    within, between = corr[rows, cols][same].mean(), corr[rows, cols][~same].mean()
    assert info["pooled"]["within"]["mean"] == pytest.approx(within, abs=1e-6)
    assert info["pooled"]["between"]["mean"] == pytest.approx(between, abs=1e-6)
    assert test["observed"] == pytest.approx(within - between, abs=1e-6)
    assert info["within"]["VISal"]["n_pairs"] == 3 and info["between"]["VISp x VISl"]["n_pairs"] == 16
    # the p-value is the permutation test over these 11 sites with their area labels
    _, _, p = permutation_test(corr, region, 200, np.random.default_rng(0))
    assert 1 / 201 <= test["p_value"] <= 1 and test["p_value"] == pytest.approx(p, abs=1e-6)
    assert within > between and test["p_value"] < 0.1  # measured: 0.51 vs 0.09, p = 0.035
    # area labels mixed by hand (same sizes, each label now spans all three areas): no effect left
    mixed = [PROFILE_AREAS[k % 3] for k in range(11)]
    shuffled = ProfileConsistency().run(_relabelled(scores, mixed), n_permutations=200, seed=0)
    other = shuffled.numbers["consistency"]["permutation_test"]
    assert shuffled.numbers["consistency"]["pooled"]["within"]["n_pairs"] == 15
    assert other["observed"] < test["observed"] - 0.2 and other["p_value"] > 0.2  # measured 0.009, p = 0.39
    _, _, p_mixed = permutation_test(corr, np.asarray(mixed), 200, np.random.default_rng(0))
    assert other["p_value"] == pytest.approx(p_mixed, abs=1e-6)
    # stratified by cortical layer: each shuffle keeps every site's cortical layer's labels
    stratified = ProfileConsistency().run(scores, n_permutations=200, stratify="cortical_layer")
    assert stratified.numbers["consistency"]["permutation_test"]["stratify"] == "cortical_layer"
    assert 0 < stratified.numbers["consistency"]["permutation_test"]["p_value"] <= 1
    # the summary names the metric and the rows: RDM similarity r of sites, not EV of neuroids
    result.write(tmp_path, title="consistency")
    summary = (tmp_path / "summary.md").read_text()
    assert "RDM similarity r" in summary and "of 11 sites" in summary and "shuffled across sites" in summary
    assert "EV" not in summary and "neuroid" not in summary
    for name in ("profile-consistency.nc", "profile-consistency.png", "profile-consistency-permutation.svg"):
        assert (tmp_path / name).stat().st_size > 1000
    for item in (result, shuffled, stratified):
        item.close()


def test_clustermap_of_mouse_areas_has_one_named_row_per_site(mirror, one_torch_thread, tmp_path):
    from matplotlib.legend import Legend

    from brainbench.analyses.clustermap import Clustermap

    visp, _, visal = _area_scores()
    scores = [visp, visal]  # two areas (4 + 3 sites) keep it to three panels: seaborn draws slowly
    result = Clustermap().run(scores)
    paths = result.write(tmp_path, title="clustermap")
    pairs = [zip(d["region"].values, d["cortical_layer"].values, strict=True) for d in scores]
    expected = {f"{area} {layer}" for pair in pairs for area, layer in pair}
    assert len(expected) == 7 and "VISal L5" in expected and "VISp L6" in expected
    assert result.dataset.sizes["neuroid"] == 7 and set(result.dataset["label"].values) == expected
    assert list(result.dataset["cortical_layer"].values) == [c for d in scores for c in d["cortical_layer"].values]
    order = result.numbers["clustering"]["leaf_order"]
    assert sorted(order) == sorted(expected)
    # the figure: one row per site, named by area and cortical layer in the clustered order, two colour bars
    heatmap = next(ax for ax in result.figures["clustermap"].axes if ax.get_ylabel() == "site (clustered order)")
    assert [t.get_text() for t in heatmap.get_yticklabels()] == order
    assert [t.get_text() for t in heatmap.get_xticklabels()] == order
    titles = {c.get_title().get_text() for c in heatmap.get_children() if isinstance(c, Legend)}
    assert {"region", "cortical layer"} <= titles
    # panels: all sites and each area (figs. 14-15), each as PNG and SVG
    stems = set(result.figures)
    assert stems == {"clustermap", "clustermap-VISp", "clustermap-VISal"}
    one_area = next(ax for ax in result.figures["clustermap-VISal"].axes if ax.get_ylabel() == "site (clustered order)")
    assert sorted(t.get_text() for t in one_area.get_yticklabels()) == ["VISal L2/3", "VISal L4", "VISal L5"]
    for stem in stems:
        assert paths[f"{stem}.png"].stat().st_size > 10_000
        assert "<svg" in paths[f"{stem}.svg"].read_text()[:2000]
    summary = (tmp_path / "summary.md").read_text()
    assert "of 7 sites' layer profiles (RDM similarity r" in summary and "Leaf order: " in summary
    assert "EV" not in summary and "neuroid" not in summary
    result.close()
