"""The comparators of representational similarity (Spearman, Kendall's tau-a, linear CKA), the
noise ceiling of Nili et al. (2014), models that supply an RDM, and what enters a run's key.

No data files: generated matrices only.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kendalltau, spearmanr

from brainbench.errors import BrainbenchError
from brainbench.metrics.cka import LinearCKA, cka_from_grams, linear_cka
from brainbench.metrics.noise_ceiling import ceiling_ratio, nili_bounds
from brainbench.metrics.rsa import compare, correlate_pairs, kendall_tau_a


def _brute_tau_a(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-a by its definition: every pair, tied or not, in the denominator."""
    rows, cols = np.triu_indices(x.size, k=1)
    return float((np.sign(x[rows] - x[cols]) * np.sign(y[rows] - y[cols])).sum() / rows.size)


def _rdm(values: np.ndarray) -> np.ndarray:
    """A symmetric zero-diagonal matrix whose upper triangle is ``values``."""
    from scipy.spatial.distance import squareform

    return squareform(values, checks=False)


# ------------------------------------------------------------------ Kendall's tau-a
def test_tau_a_counts_every_pair_like_its_definition():
    rng = np.random.default_rng(0)
    for n, levels in ((40, 3), (120, 7), (300, None)):
        x = rng.integers(0, levels, n).astype(float) if levels else rng.normal(size=n)
        y = np.round(x + rng.normal(size=n), 1)  # ties in y too
        assert kendall_tau_a(x, y) == pytest.approx(_brute_tau_a(x, y), abs=1e-12)


def test_tau_a_equals_tau_b_without_ties_and_not_with_them():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=200), rng.normal(size=200)
    y = x + y
    assert kendall_tau_a(x, y) == pytest.approx(kendalltau(x, y, variant="b").statistic, abs=1e-12)
    # a categorical model RDM: 2 categories of 10 stimuli, 0 within and 1 between (most pairs tied)
    category = np.repeat([0, 1], 10)
    model = _rdm((category[:, None] != category[None, :])[np.triu_indices(20, k=1)].astype(float))
    neural = _rdm(np.abs(rng.normal(size=190)) + 0.8 * model[np.triu_indices(20, k=1)])
    upper = np.triu_indices(20, k=1)
    tau_a = compare(model, neural, "tau-a")
    tau_b = float(kendalltau(model[upper], neural[upper], variant="b").statistic)
    assert tau_a == pytest.approx(_brute_tau_a(model[upper], neural[upper]), abs=1e-12)
    assert 0 < tau_a < tau_b  # the ties stay in tau-a's denominator
    # a tied model cannot reach 1, not even against itself: 1 - tied pairs of pairs / all pairs of pairs
    within, between = 2 * (10 * 9 // 2), 10 * 10  # stimulus pairs at 0 and at 1
    tied = within * (within - 1) // 2 + between * (between - 1) // 2
    assert compare(model, model, "tau-a") == pytest.approx(1 - tied / (190 * 189 / 2), abs=1e-12)
    assert float(kendalltau(model[upper], model[upper]).statistic) == pytest.approx(1.0)


def test_tau_a_rows_and_missing_values_go_through_correlate_pairs():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(3, 50)), rng.integers(0, 4, size=(2, 50)).astype(float)
    out = correlate_pairs(x, y, "tau-a")
    assert out.shape == (3, 2)
    assert out[1, 0] == pytest.approx(_brute_tau_a(x[1], y[0]), abs=1e-12)
    x[0, 5] = np.nan
    keep = np.isfinite(x[0])
    assert correlate_pairs(x[:1], y[:1], "tau-a")[0, 0] == pytest.approx(_brute_tau_a(x[0][keep], y[0][keep]))
    assert np.isnan(kendall_tau_a(np.ones(10), np.arange(10.0)))


def test_spearman_is_invariant_to_monotone_transforms_and_pearson_is_not():
    rng = np.random.default_rng(3)
    a, b = _rdm(rng.random(190)), _rdm(rng.random(190))
    b = b + a
    warped = np.exp(4 * b) - 1  # strictly increasing, zero diagonal kept
    assert compare(a, warped, "spearman") == pytest.approx(compare(a, b, "spearman"), abs=1e-12)
    assert abs(compare(a, warped, "pearson") - compare(a, b, "pearson")) > 0.02
    assert compare(a, warped, "tau-a") == pytest.approx(compare(a, b, "tau-a"), abs=1e-12)


def test_compare_names_the_comparisons_it_offers():
    a = _rdm(np.arange(10.0))
    with pytest.raises(BrainbenchError, match="unknown RDM comparison 'kendall'; use one of pearson, spearman, tau-a"):
        compare(a, a, "kendall")


# ------------------------------------------------------------------ linear CKA
def test_linear_cka_invariances_of_kornblith_et_al():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(60, 8))
    y = x @ rng.normal(size=(8, 5)) + rng.normal(size=(60, 5))
    base = linear_cka(x, y)
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    assert 0.1 < base < 0.99
    assert linear_cka(x @ q, y) == pytest.approx(base, abs=1e-12)  # orthogonal transform
    assert linear_cka(3.7 * x, y) == pytest.approx(base, abs=1e-12)  # isotropic scaling
    assert linear_cka(x + 5.0, y) == pytest.approx(base, abs=1e-12)  # a constant offset is centred away
    stretch = np.diag(np.geomspace(0.05, 20.0, 8)) @ q  # invertible, not orthogonal x scale
    assert np.linalg.matrix_rank(stretch) == 8
    assert abs(linear_cka(x @ stretch, y) - base) > 0.05
    assert linear_cka(x, x) == pytest.approx(1.0)


def test_cka_from_grams_on_a_subset_is_cka_of_the_subset_rows():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(30, 6)), rng.normal(size=(30, 4))
    y[:, 0] += x[:, 0]
    subset = np.asarray([0, 3, 4, 8, 9, 15, 21, 22, 29])
    assert cka_from_grams(x @ x.T, y @ y.T, subset) == pytest.approx(linear_cka(x[subset], y[subset]), abs=1e-12)
    assert np.isnan(cka_from_grams(np.ones((5, 5)), np.eye(5)))  # a constant representation


def test_cka_split_half_reliability_rises_with_signal():
    rng = np.random.default_rng(6)
    signal = rng.normal(size=(40, 12))
    metric = LinearCKA(n_splits=5)
    noisy = signal[None] + 3.0 * rng.normal(size=(6, 40, 12))
    clean = signal[None] + 0.3 * rng.normal(size=(6, 40, 12))
    assert metric.reliability(clean) > metric.reliability(noisy) + 0.2
    assert metric.reliability(clean) == metric.reliability(clean)  # seeded
    clean[1:, 3] = np.nan
    assert np.isnan(metric.reliability(clean))  # stimulus 3 has one repetition left


# ------------------------------------------------------------------ the noise ceiling
def test_nili_bounds_are_each_subject_against_the_others_and_against_all():
    rng = np.random.default_rng(7)
    shared = rng.random(190)
    subjects = np.stack([_rdm(shared + rng.random(190)) for _ in range(5)])
    lower, upper = nili_bounds(subjects, "spearman")
    upper_triangle = np.triu_indices(20, k=1)
    for s in range(5):
        others = np.delete(subjects, s, axis=0).mean(axis=0)
        assert lower[s] == pytest.approx(spearmanr(subjects[s][upper_triangle], others[upper_triangle])[0], abs=1e-12)
        everyone = subjects.mean(axis=0)[upper_triangle]
        assert upper[s] == pytest.approx(spearmanr(subjects[s][upper_triangle], everyone)[0], abs=1e-12)
    assert (lower < upper).all()
    with pytest.raises(BrainbenchError, match="at least two subjects"):
        nili_bounds(subjects[:1])


def test_ceiling_ratio_divides_and_refuses_a_ceiling_under_the_floor():
    out = ceiling_ratio(np.asarray([[0.2, 0.3, 0.1]]), np.asarray([0.4, 0.05, np.nan]), reliability_floor=0.1)
    assert out[0, 0] == pytest.approx(0.5) and np.isnan(out[0, 1]) and np.isnan(out[0, 2])


# ------------------------------------------------------------------ models that supply an RDM
def test_an_rdm_model_reorders_its_matrix_to_the_benchmark_and_refuses_other_stimuli():
    from brainbench.models.base import ModelError
    from brainbench.models.rdm import RDMModel

    matrix = _rdm(np.arange(1.0, 7.0))  # 4 stimuli
    model = RDMModel(matrix, ["a", "b", "c", "d"], identifier="toy")
    supplied = model.features(["c", "a", "d", "b"])["rdm"]
    np.testing.assert_array_equal(supplied.matrix, matrix[np.ix_([2, 0, 3, 1], [2, 0, 3, 1])])
    assert len(supplied.sha256) == 64 and len(model.weights_hash) == 64
    with pytest.raises(ModelError, match="lack 1 of the benchmark's"):
        model.features(["a", "e"])
    with pytest.raises(ModelError, match="only layer is 'rdm'"):
        model.check_layers(["conv1"])


# ------------------------------------------------------------------ what enters a run's key
def test_descriptive_and_later_fields_do_not_enter_the_key():
    """Declaring a benchmark's species, or the RDM-model fields, leaves stored keys unchanged."""
    from brainbench.caching.content import declaration
    from brainbench.registry.manifest import BenchmarkEntry, ModelEntry, StimulusPlacement

    bench = {"version": 1, "assembly": "x", "region": "V4", "stimulus_placement": {"placement": "resize"}}
    plain = declaration(BenchmarkEntry(**bench))
    assert declaration(BenchmarkEntry(**bench, species="macaque")) == plain
    assert "species" not in plain and "background" not in plain["stimulus_placement"]
    assert declaration(BenchmarkEntry(**{**bench, "stimulus_placement": {"background": 0.5}}))[
        "stimulus_placement"
    ] == {"placement": None, "canvas_fraction": None, "background": 0.5}
    model = declaration(ModelEntry(python_name="a.b:c", layers=["conv1"]))
    assert not {"supplies", "stimuli", "data_of"} & set(model)
    rdm_model = declaration(
        ModelEntry(python_name="a.b:c", layers=["rdm"], supplies="rdm", stimuli="s", data_of=["b1"])
    )
    assert rdm_model["supplies"] == "rdm" and rdm_model["data_of"] == ["b1"]
    assert StimulusPlacement().model_dump() == {"placement": None, "canvas_fraction": None}
    with pytest.raises(ValueError, match="must name"):
        ModelEntry(python_name="a.b:c", layers=["rdm"], supplies="rdm")


# ------------------------------------------------------------------ CKA through the scorer
def _pool_model():
    import torch

    from brainbench.models.base import TorchModel
    from brainbench.registry.manifest import Preprocessing

    module = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(4), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    prep = Preprocessing(size=16, mean=[0.0] * 3, std=[1.0] * 3, placement="resize")
    return TorchModel(module, {"fine": "0", "coarse": "1"}, identifier="cka-pools", preprocessing=prep)


def test_linear_cka_scores_activations_against_responses_and_refuses_rdms(one_torch_thread):
    """Responses that are a rotation of the ``fine`` layer (plus noise): CKA finds that layer."""
    import brainbench
    from brainbench.assemblies.byod import wrap_recordings
    from brainbench.data.assembly import make_rdm_assembly
    from brainbench.data.stimuli import StimulusSet
    from brainbench.models.preprocess import to_tensor
    from brainbench.scoring.benchmark import custom_benchmark

    rng = np.random.default_rng(8)
    images = rng.random((48, 16, 16))
    stimuli = StimulusSet.from_arrays(list(images))
    net = _pool_model()
    batch = np.stack([to_tensor(stimuli.image(k), net.preprocessing).numpy() for k in range(48)])
    import torch

    fine = net.forward_layers(torch.from_numpy(batch), ["fine"])["fine"].reshape(48, -1).double().numpy()
    q, _ = np.linalg.qr(rng.normal(size=(fine.shape[1], fine.shape[1])))
    signal = (fine - fine.mean(0)) @ q[:, :20]
    trials = signal[None] + 0.5 * signal.std() * rng.normal(size=(5, *signal.shape))
    data = wrap_recordings(trials, images, identifier="cka-planted")
    bench = custom_benchmark(
        data.assembly, data.stimuli, kind="representation", metrics=["cka-linear"], split={"n_splits": 4}
    )
    dataset = brainbench.score(net, bench, progress=False)
    assert dataset.attrs["representation_metric"] == "LinearCKA(cka-linear)" and "model_rdm" not in dataset
    assert dataset.attrs["best_layer"] == "fine"
    assert float(dataset["r"].sel(layer="fine").item()) > float(dataset["r"].sel(layer="coarse").item()) + 0.2
    assert 0.5 < float(dataset["ceiling"].item()) < 1.0  # split-half CKA of noisy responses
    rdms = make_rdm_assembly(
        np.stack([_rdm(rng.random(48 * 47 // 2))]), site_ids=["s"], stimulus_ids=data.stimuli.ids, identifier="r"
    )
    on_rdms = custom_benchmark(rdms, data.stimuli, kind="representation", metrics=["cka-linear"], ceiling=None)
    with pytest.raises(BrainbenchError, match="provides RDMs only; use an RDM comparison"):
        brainbench.score(net, on_rdms, progress=False)


def test_linear_cka_on_real_v4_responses(mirror, one_torch_thread):
    """cowley2023-V4's trial responses through a benchmark declared with cka-linear and the ratio headline."""
    import brainbench
    from brainbench.registry import get_registry
    from brainbench.scoring.benchmark import Benchmark, custom_benchmark, resolve_benchmark

    loaded = resolve_benchmark("cowley2023-V4", get_registry()).load(progress=False)
    bench = custom_benchmark(
        loaded.assembly, loaded.stimuli, identifier="cowley-cka", kind="representation", metrics=["cka-linear"]
    )
    bench = Benchmark(entry=bench.entry.model_copy(update={"headline": "ceiling-ratio"}), source=bench.source)
    dataset = brainbench.score("alexnet-untrained", bench, layers=["conv3", "pool5"], progress=False)
    assert dataset.sizes["neuroid"] == 1 and dataset.attrs["score_kind"] == "ceiled"
    ceiling = float(dataset["ceiling"].item())
    assert 0.5 < ceiling < 0.9  # split-half CKA of 50 neurons' trial means (measured 0.69)
    assert 0.05 < float(dataset["r"].max()) < 0.4  # an untrained network (measured 0.18 at conv3)
    assert dataset.attrs["score"] == pytest.approx(float(dataset["headline_r"].item()) / ceiling, rel=1e-12)


# ------------------------------------------------------------------ the validation section's report
def test_the_92_image_validation_reports_disagreements_as_they_come():
    from helpers.benchmarks import load

    v = load("validation_rsa92")

    def summary(score, kind="ceiled", layers=None):
        curve = layers or {"rdm": score}
        bounds = {"lower": 0.38, "upper": 0.66, "n_subjects": 4, "method": "spearman"}
        return {"score": score, "score_kind": kind, "best_layer": list(curve)[-1], "layer_r_test": curve} | (
            {"noise_ceiling": bounds} if kind == "ceiled" else {}
        )

    early_late = {"a": 0.1, "b": 0.1, "c": 0.3, "d": 0.3}
    results = {m: {c: summary(0.2) for c in v.BENCHMARKS} for m in v.NETWORKS + v.REFERENCE}
    results[v.TRAINED] = {c: summary(0.5, layers=early_late) for c in v.BENCHMARKS}
    results[v.TWIN]["judgements"] = summary(0.6)  # planted: the untrained twin wins on the judgements
    results[v.TRAINED]["monkey IT"] = summary(0.3, "uncorrected-r", early_late)
    del results["kriegeskorte2008-monkeyit"]["monkey IT"]
    ties = {
        "spearman": {"lower_bound": 0.38, "animacy": 1.0, "HMAX": 0.4},
        "tau-a": {"lower_bound": 0.26, "animacy": 0.8, "HMAX": 0.4},
    }
    checks = {c["claim"]: c["reproduced"] for c in v.verdicts(results, ties)}
    assert checks["ImageNet-trained > its untrained twin on human IT"] is True
    assert checks["ImageNet-trained > its untrained twin on judgements"] is False
    assert checks["late layers > early layers of the trained network on human IT"] is True
    assert all(checks[k] for k in checks if "baseline" in k or "tau-a" in k)
    section = v.markdown(results, v.verdicts(results, ties))
    assert "| ImageNet-trained > its untrained twin on judgements [jozwik2017] |" in section
    assert "**no**" in section and "(the data itself)" in section
    report = v.replace_section("# Validation\n\nV4 part\n", section)
    assert report.count(v.START) == 1 and "V4 part" in report
    again = v.replace_section(report, section.replace("0.500", "0.123"))
    assert again.count(v.START) == 1 and "0.123" in again and "0.500" not in again and "V4 part" in again
