"""Analyses end to end: a tiny TorchModel scored by brainbench.score on custom benchmarks
with planted layer preferences, the score cache, and the ``brainbench analyze`` command."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

N_STIMULI = 120


@pytest.fixture(scope="module")
def tiny():
    """A two-conv-layer network, its stimuli, and neuroids planted on one layer or the other."""
    import torch

    from brainbench.data.stimuli import StimulusSet
    from brainbench.models.base import TorchModel
    from brainbench.registry.manifest import Preprocessing

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(4, 4, 3, padding=1, stride=2),
        torch.nn.ReLU(),
    )
    model = TorchModel(
        net, {"c1": "1", "c2": "3"}, identifier="tiny-two-conv", preprocessing=Preprocessing(size=8, placement="resize")
    )
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(N_STIMULI, 8, 8, 3), dtype=np.uint8)
    stimuli = StimulusSet.from_arrays(images, identifier="tiny-noise")
    return model, stimuli


def planted_benchmark(model, stimuli, layer: str, identifier: str, region: str | None, seed: int, n_neuroids: int = 6):
    """Neuroids that are a sparse linear read-out of ``layer`` plus trial noise, 3 repetitions."""
    import torch

    from brainbench.data.assembly import make_assembly
    from brainbench.scoring.activations import get_activations
    from brainbench.scoring.benchmark import custom_benchmark

    features = get_activations(model, stimuli, [layer], model.preprocessing, torch.device("cpu"), progress=False)[layer]
    X = np.asarray(features, dtype=np.float64).reshape(N_STIMULI, -1)
    X = (X - X.mean(0)) / (X.std(0) + 1e-9)
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((X.shape[1], n_neuroids)) * (rng.random((X.shape[1], n_neuroids)) < 0.05)
    signal = X @ weights
    signal /= signal.std(0)
    trials = signal[None] + 0.3 * rng.standard_normal((3, N_STIMULI, n_neuroids))
    coords = {"region": np.full(n_neuroids, region)} if region else {}
    assembly = make_assembly(
        trials,
        stimulus_ids=stimuli.ids,
        neuroid_ids=[f"u{i}" for i in range(n_neuroids)],
        identifier=identifier,
        neuroid_coords=coords,
    )
    return custom_benchmark(assembly, stimuli, identifier=identifier, split={"kind": "kfold", "n_splits": 5})


@pytest.fixture(scope="module")
def benchmarks(tiny, tmp_path_factory):
    model, stimuli = tiny
    mp = pytest.MonkeyPatch()
    mp.setenv("BRAINBENCH_HOME", str(tmp_path_factory.mktemp("home")))
    try:
        early = planted_benchmark(model, stimuli, "c1", "bench-early", "VISl", seed=1)
        late = planted_benchmark(model, stimuli, "c2", "bench-late", None, seed=2)
    finally:
        mp.undo()
    return early, late


def test_layer_correspondence_through_the_scorer(tiny, benchmarks, tmp_path, fresh_home, monkeypatch):
    from brainbench.analyses import analyze
    from brainbench.scoring import scorer

    model, _ = tiny
    early, late = benchmarks
    result = analyze(
        "layer-correspondence",
        model,
        [early, late],
        params={"n_boot": 100},
        out=tmp_path / "lc",
        device="cpu",
        progress=False,
    )
    data = result.dataset
    # one assembly has a region coordinate, the other falls back to its benchmark id
    assert list(data["region"].values) == ["VISl", "bench-late"]
    assert data["best_layer_median"].sel(region="VISl").item() == "c1"
    assert data["best_layer_median"].sel(region="bench-late").item() == "c2"
    assert data["median_ev"].sel(region="VISl", layer="c1").item() > 0.3
    assert (tmp_path / "lc" / "layer-correspondence.png").stat().st_size > 10_000
    with xr.open_dataset(tmp_path / "lc" / "layer-correspondence.nc") as stored:
        assert stored.load().identical(data)
    from brainbench.results.store import ResultStore

    assert len(ResultStore().runs()) == 2  # both scores recorded in the one results store
    result.close()

    # a second run reads the store: the scorer must not be called again
    def refuse(*args, **kwargs):
        raise AssertionError("score() was called despite a cached score")

    monkeypatch.setattr(scorer, "score_prepared", refuse)  # where brainbench.results.runs finds it
    again = analyze("layer-correspondence", model, [early, late], params={"n_boot": 100}, device="cpu", progress=False)
    xr.testing.assert_identical(again.dataset, data)
    again.close()
    # another seed is another score: not served from the cache
    with pytest.raises(AssertionError, match="despite a cached score"):
        analyze("layer-profile", model, [early], seed=1, device="cpu", progress=False)


def test_profile_consistency_through_the_scorer(tiny, benchmarks, fresh_home):
    from brainbench.analyses import analyze

    model, _ = tiny
    early, late = benchmarks
    result = analyze(
        "profile-consistency", model, [early, late], params={"n_permutations": 200}, device="cpu", progress=False
    )
    test = result.numbers["consistency"]["permutation_test"]
    # two layers: every profile is rising or falling, r = +1 or -1; planted layers split them by region
    assert test["p_value"] < 0.05
    assert result.numbers["consistency"]["within"]["VISl"]["mean"] > 0.9
    assert result.numbers["consistency"]["between"]["VISl x bench-late"]["mean"] < -0.5
    result.close()


def test_score_key_changes_with_what_determines_the_numbers(tiny, benchmarks):
    from brainbench.registry import get_registry
    from brainbench.scoring import prepare

    model, _ = tiny
    early, late = benchmarks
    registry = get_registry()

    def score_key(net, bench, layers, seed):
        return prepare(net, bench, layers=layers, seed=seed, progress=False, registry=registry)[2].key

    base = score_key(model, early, None, 0)
    assert score_key(model, early, None, 0) == base
    assert score_key(model, early, None, 1) != base
    assert score_key(model, early, ["c1"], 0) != base
    assert score_key(model, late, None, 0) != base
    import copy

    import torch

    from brainbench.models.base import TorchModel

    net = copy.deepcopy(model.module)
    with torch.no_grad():
        net[0].bias.add_(1.0)  # new weights, same id and layers
    other = TorchModel(net, model.layer_modules, identifier=model.identifier, preprocessing=model.preprocessing)
    assert score_key(other, early, None, 0) != base
    # new data under the same benchmark id and version: a new key
    changed = planted_benchmark(model, early.load().stimuli, "c1", "bench-early", "VISl", seed=9)
    assert score_key(model, changed, None, 0) != base


def test_cli_list_and_errors(capsys):
    from brainbench.cli.main import main

    assert main(["analyze", "--list"]) == 0
    out = capsys.readouterr().out
    for name in (
        "layer-profile",
        "layer-correspondence",
        "profile-consistency",
        "clustermap",
        "ev-distribution",
        "regime-comparison",
    ):
        assert name in out
    assert main(["analyze", "profile-consistensy", "alexnet", "cowley2023-V4"]) == 2
    assert "profile-consistency" in capsys.readouterr().err  # the did-you-mean suggestion
    assert main(["analyze", "layer-profile", "alexnet"]) == 2
    assert "usage" in capsys.readouterr().err
    assert main(["analyze", "layer-profile", "alexnet", "cowley2023-V4", "--readout", "simple,simple"]) == 2
    assert "one readout" in capsys.readouterr().err
    assert main(["analyze", "layer-profile", "alexnet", "cowley2023-V4", "--param", "oops"]) == 2
    assert "key=value" in capsys.readouterr().err


def test_unknown_analysis_parameter_is_a_clear_error():
    from brainbench.analyses import AnalysisError, load_analysis, run_analysis

    analysis, _ = load_analysis("profile-consistency")
    with pytest.raises(AnalysisError, match="no parameter 'n_perm'.*n_permutations"):
        run_analysis(analysis, [], {"n_perm": 5})


@pytest.mark.parametrize(
    ("analysis", "param", "message"),
    [
        ("layer-correspondence", "nboot=5", "no parameter 'nboot'"),
        ("layer-correspondence", "n_boot=5", "n_boot must be an integer >= 10"),
        ("layer-correspondence", "level=95", "level must be a number between 0 and 1"),
        ("profile-consistency", "n_permutations=-1", "n_permutations must be an integer >= 0"),
        ("profile-consistency", "reliable_only=False", "reliable_only must be true or false"),
        ("clustermap", "method=upgma", "method must be one of average"),
        ("layer-profile", "metric=EV", "metric must be one of ev, r, ceiled"),
        ("ev-distribution", "bins=1e3", "bins must be an integer >= 1"),
    ],
)
def test_bad_parameters_are_refused_before_any_scoring(analysis, param, message, capsys, monkeypatch):
    """A typo or a bad value fails in one sentence before the first benchmark is scored, not after all."""
    from brainbench.cli.main import main
    from brainbench.results import runs

    def refuse(*args, **kwargs):
        raise AssertionError("scoring started before the parameters were checked")

    monkeypatch.setattr(runs, "run", refuse)
    assert main(["analyze", analysis, "alexnet-untrained", "cowley2023-V4", "--param", param]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_analyze_refuses_an_out_that_is_a_file_before_any_scoring(tmp_path, monkeypatch):
    from brainbench.analyses import analyze
    from brainbench.errors import BrainbenchError
    from brainbench.results import runs

    def refuse(*args, **kwargs):
        raise AssertionError("scoring started before --out was checked")

    monkeypatch.setattr(runs, "run", refuse)
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(BrainbenchError, match="is an existing file"):
        analyze("layer-profile", "alexnet-untrained", ["cowley2023-V4"], out=tmp_path / "taken", progress=False)


def test_a_benchmark_named_twice_is_refused_before_any_scoring(capsys, monkeypatch):
    """Its neuroids would be pooled twice: each with its copy (r = 1) inflates the within-region statistics."""
    from brainbench.analyses import AnalysisError, combine_scores
    from brainbench.cli.main import main
    from brainbench.results import runs

    from helpers.analysis_fixtures import synthetic_scores

    def refuse(*args, **kwargs):
        raise AssertionError("scoring started before the benchmarks were checked")

    monkeypatch.setattr(runs, "run", refuse)
    assert main(["analyze", "profile-consistency", "alexnet-untrained", "majajhong2015-V4", "macaque-V4"]) == 2
    assert "majajhong2015-V4 is named twice" in capsys.readouterr().err
    assert (
        main(["analyze", "regime-comparison", "alexnet-untrained", "majajhong2015-V4", "--readout", "simple,simple"])
        == 2
    )
    assert "a readout is named twice" in capsys.readouterr().err
    scores = synthetic_scores({"A": 1, "B": 3}, n_per_region=4)
    with pytest.raises(AnalysisError, match="given twice"):
        combine_scores([scores, scores])
