"""The 92-image set (Kriegeskorte et al. 2008) from the real-data mirror: the assembly, the three
benchmarks end to end, their noise ceilings recomputed independently, and the reference model
RDMs as stored rows. Skips cleanly without the mirror.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.io import loadmat
from scipy.stats import spearmanr

import brainbench
from brainbench.assemblies import kriegeskorte2008 as k08
from brainbench.errors import BrainbenchError

LAYERS = ["conv1", "fc7"]
_SCORES: dict[tuple[str, str], object] = {}


def _score(model: str, benchmark: str):
    """One score per (model, benchmark) for the whole module (call with ``mirror`` set)."""
    if (model, benchmark) not in _SCORES:
        layers = LAYERS if model == "alexnet-untrained" else None
        _SCORES[(model, benchmark)] = brainbench.score(model, benchmark, layers=layers, progress=False)
    return _SCORES[(model, benchmark)]


def _files(mirror):
    folder = mirror / "kriegeskorte2008"
    if not (folder / "92_brainRDMs.mat").is_file():
        pytest.skip("the kriegeskorte2008 files are not in the mirror")
    return folder


def _read(path, name):
    return loadmat(str(path), squeeze_me=True, struct_as_record=False)[name]


def _independent_bounds(rdms: np.ndarray) -> tuple[float, float]:
    """Nili et al. (2014) bounds written out here, apart from the package's code."""
    upper = np.triu_indices(92, k=1)
    vectors = [r[upper] for r in rdms]
    lower_bound = np.mean(
        [spearmanr(v, np.mean([w for j, w in enumerate(vectors) if j != i], axis=0))[0] for i, v in enumerate(vectors)]
    )
    upper_bound = np.mean([spearmanr(v, np.mean(vectors, axis=0))[0] for v in vectors])
    return float(lower_bound), float(upper_bound)


def test_the_assembly_holds_21_sites_over_the_92_images(mirror):
    _files(mirror)
    loaded = k08.load().load(progress=False)
    assembly, stimuli = loaded.assembly, loaded.stimuli
    assert assembly.sizes == {"site": 21, "stimulus": 92, "stimulus_b": 92}
    groups = list(assembly["group"].values)
    assert (groups.count("monkey-IT"), groups.count("human-IT"), groups.count("judgements")) == (1, 4, 16)
    assert list(stimuli.ids) == k08.IMAGE_IDS and stimuli.image(0).size == (175, 175)
    assert stimuli.image(5).getpixel((0, 0)) == k08.BACKGROUND_RGB
    assert sorted(set(stimuli.metadata["animal"])) == [0, 1]
    session_r = assembly["session_r"].values[1:5]
    assert 0.1 < session_r.mean() < 0.35  # two sessions of one subject agree weakly (measured 0.22)


def test_files_that_disagree_are_refused(mirror):
    folder = _files(mirror)
    monkey, average = k08.read_monkey_and_average(folder / k08.SUPPLEMENT.path)
    subjects, sessions = k08.read_human_sessions(folder / k08.BRAIN.path)
    judgements = k08.read_judgements(folder / k08.BEHAVIOUR.path)
    with pytest.raises(BrainbenchError, match="differs from the published average"):
        k08.build_rdm_assembly(monkey, average, subjects, sessions[:, ::-1] * 1.01, judgements)


def test_human_it_is_ceiled_by_the_lower_bound_and_reports_both(mirror, one_torch_thread):
    folder = _files(mirror)
    grid = _read(folder / "92_brainRDMs.mat", "RDMs")
    subjects = np.stack([(grid[s, 0].RDM.astype(np.float64) + grid[s, 1].RDM) / 2 for s in range(4)])
    lower, upper = _independent_bounds(subjects)
    assert (round(lower, 2), round(upper, 2)) == (0.38, 0.66)  # the measured bounds of the data README
    dataset = _score("alexnet-untrained", "kriegeskorte2008-humanIT")
    assert dataset.sizes["neuroid"] == 4 and set(dataset["species"].values) == {"human"}
    assert dataset.attrs["species"] == "human"
    np.testing.assert_allclose(dataset["ceiling_lower"].values, lower, atol=1e-12)
    np.testing.assert_allclose(dataset["ceiling_upper"].values, upper, atol=1e-12)
    np.testing.assert_allclose(dataset["ceiling"].values, lower, atol=1e-12)  # the declared bound
    bounds = json.loads(dataset.attrs["noise_ceiling"])
    assert bounds["bound"] == "lower" and bounds["method"] == "spearman" and "Nili" in bounds["citation"]
    from brainbench.registry import get_registry

    info = get_registry().benchmark("kriegeskorte2008-humanIT").info
    assert (info["noise_ceiling_lower"], info["noise_ceiling_upper"]) == (round(lower, 3), round(upper, 3))
    assert dataset.attrs["score_kind"] == "ceiled"
    assert dataset.attrs["score"] == pytest.approx(float(dataset["headline_r"].mean()) / lower, rel=1e-12)
    # the label says what the number is: the ratio to the ceiling, not a squared correlation
    from brainbench.scoring import summarize

    for description in (dataset.attrs["score_description"], summarize(dataset)["score_description"]):
        assert "similarity / its ceiling" in description and "r^2" not in description
    # an untrained network's late layer: weakly similar to human IT, not 0 and not at the ceiling
    assert 0.03 < float(dataset["r"].max()) < 0.25


def test_judgements_get_the_same_ceiling_over_16_people(mirror, one_torch_thread):
    folder = _files(mirror)
    people = np.stack([item.RDM for item in _read(folder / "92_behavRDMs.mat", "rdms_behav_92")])
    lower, upper = _independent_bounds(people)
    dataset = _score("alexnet-untrained", "kriegeskorte2008-judgements")
    assert dataset.sizes["neuroid"] == 16 and set(dataset["region"].values) == {"behaviour"}
    np.testing.assert_allclose(dataset["ceiling_lower"].values, lower, atol=1e-12)
    np.testing.assert_allclose(dataset["ceiling_upper"].values, upper, atol=1e-12)
    assert dataset.attrs["score"] == pytest.approx(float(dataset["headline_r"].mean()) / lower, rel=1e-12)
    # the label says what the number is: the ratio to the ceiling, not a squared correlation
    from brainbench.scoring import summarize

    for description in (dataset.attrs["score_description"], summarize(dataset)["score_description"]):
        assert "similarity / its ceiling" in description and "r^2" not in description


def test_monkey_it_has_no_ceiling_and_every_output_says_so(mirror, one_torch_thread):
    from brainbench.cli.score import headline_lines
    from brainbench.scoring.summary import summarize

    folder = _files(mirror)
    dataset = _score("alexnet-untrained", "kriegeskorte2008-monkeyIT")
    assert dataset.sizes["neuroid"] == 1 and np.isnan(dataset["ceiling"].values).all()
    assert dataset.attrs["score_kind"] == "uncorrected-r" and dataset.attrs["n_reliable"] == 0
    assert "no trials or subjects to split" in dataset.attrs["score_note"]
    assert dataset.attrs["score"] == pytest.approx(float(dataset["headline_r"].item()))
    summary = summarize(dataset)
    assert summary["score_kind"] == "uncorrected-r" and "noise_ceiling" not in summary
    assert any("UNCORRECTED" in line for line in headline_lines(summary))
    # the stored layer similarities are Spearman's rho with the monkey RDM of the supplement
    monkey = {item.name: item.RDM for item in _read(folder / k08.SUPPLEMENT.path, "RDMs_mIT_hIT_fig1")}
    model_rdm = dataset["model_rdm"].sel(layer="fc7").values.astype(np.float64)
    upper = np.triu_indices(92, k=1)
    expected = spearmanr(model_rdm[upper], monkey["mIT_674neurons"])[0]
    assert float(dataset["r"].sel(layer="fc7").item()) == pytest.approx(expected, abs=1e-5)  # float32 storage


def test_reference_rdms_are_rows_scored_and_stored_like_any_run(mirror, tmp_path):
    from brainbench.results.store import ResultStore

    folder = _files(mirror)
    models = {item.name: item.RDM for item in _read(folder / "92_modelRDMs.mat", "Models")}
    grid = _read(folder / "92_brainRDMs.mat", "RDMs")
    dataset = _score("kriegeskorte2008-hmax", "kriegeskorte2008-humanIT")
    assert list(dataset.layer.values) == ["rdm"] and dataset.attrs["best_layer"] == "rdm"
    upper = np.triu_indices(92, k=1)
    for s in range(4):
        subject = (grid[s, 0].RDM.astype(np.float64) + grid[s, 1].RDM) / 2
        expected = spearmanr(models["HMAX"][upper], subject[upper])[0]
        assert float(dataset["r"].values[0, s]) == pytest.approx(expected, abs=1e-12)
    store = ResultStore(tmp_path / "results.sqlite")
    key = store.record(dataset)
    assert store.has(key) and dataset.attrs["protocol"] == "declared"
    (row,) = [r for r in store.runs() if r["content_key"] == key]
    assert row["model"] == "kriegeskorte2008-hmax" and row["benchmark"] == "kriegeskorte2008-humanIT"


def test_the_monkey_it_model_rdm_is_never_scored_as_a_model_of_itself(mirror):
    from brainbench.models.rdm import RDMModel
    from brainbench.registry import get_registry
    from brainbench.results.grid import Job, applicable_jobs

    folder = _files(mirror)
    with pytest.raises(BrainbenchError, match="is the data of benchmark 'kriegeskorte2008-monkeyIT' itself"):
        brainbench.score("kriegeskorte2008-monkeyit", "kriegeskorte2008-monkeyIT", progress=False)
    kept, dropped = applicable_jobs(
        [Job("kriegeskorte2008-monkeyit", b) for b in ("kriegeskorte2008-monkeyIT", "kriegeskorte2008-humanIT")]
        + [Job("kriegeskorte2008-hmax", "cowley2023-V4")],
        get_registry(),
    )
    assert [j.benchmark for j in kept] == ["kriegeskorte2008-humanIT"] and len(dropped) == 2
    # an undeclared copy of the data is caught by the data itself
    models = {item.name: item.RDM for item in _read(folder / "92_modelRDMs.mat", "Models")}
    copy = RDMModel(models["monkeyIT"], k08.IMAGE_IDS, identifier="copy-of-monkey-it")
    with pytest.raises(BrainbenchError, match="identical to site 'monkeyIT'"):
        brainbench.score(copy, "kriegeskorte2008-monkeyIT", progress=False)


def test_a_ceiling_in_another_comparison_than_the_metric_is_refused(mirror):
    from brainbench.registry import get_registry
    from brainbench.scoring.benchmark import Benchmark, resolve_benchmark

    _files(mirror)
    declared = resolve_benchmark("kriegeskorte2008-humanIT", get_registry())
    tau = Benchmark(entry=declared.entry.model_copy(update={"metrics": ["rdm-kendall-tau-a"]}), source=declared.source)
    with pytest.raises(BrainbenchError, match="compares RDMs by tau-a but its ceiling 'nili-lower-bound' by spearman"):
        brainbench.score("kriegeskorte2008-hmax", tau, progress=False)


def test_an_rdm_model_is_refused_where_it_cannot_be_scored(mirror, capsys):
    from brainbench.cli.main import main

    _files(mirror)
    assert main(["layers", "kriegeskorte2008-hmax"]) == 2
    assert "supplies an RDM, not a network: its one layer is 'rdm'" in capsys.readouterr().err
    assert main(["score", "kriegeskorte2008-hmax", "kriegeskorte2008-humanIT", "--layers", "conv1"]) == 2
    assert "whose only layer is 'rdm'" in capsys.readouterr().err
    with pytest.raises(BrainbenchError, match="cannot be scored by regression benchmark"):
        brainbench.score("kriegeskorte2008-v1", "cowley2023-V4", progress=False)
    with pytest.raises(BrainbenchError, match="score it on a benchmark of 'kriegeskorte2008'"):
        brainbench.score("kriegeskorte2008-v1", "allen-rsa-VISp", progress=False)


def test_describe_and_list_show_citation_licence_size_ceiling_species_region():
    from typer.testing import CliRunner

    from brainbench.cli.main import app

    runner = CliRunner()
    described = json.loads(runner.invoke(app, ["describe", "kriegeskorte2008-humanIT", "--json"]).stdout)
    assert "Neuron 60" in described["citation"] and described["license"].startswith("MIT")
    assert described["info"]["n_stimuli"] == 92 and described["assembly_entry"]["info"]["download_mb"] > 0
    assert (
        described["ceiling_entry"]["id"] == "nili-lower-bound"
        and "upper bound" in described["ceiling_entry"]["description"]
    )
    assert described["stimulus_placement"] == {"placement": "pad", "canvas_fraction": 1.0, "background": 0.5}
    listed = json.loads(runner.invoke(app, ["list", "benchmarks", "--json"]).stdout)["benchmarks"]
    where = {b["id"]: (b["species"], b["region"]) for b in listed}
    assert where["kriegeskorte2008-monkeyIT"] == ("macaque", "IT")
    assert where["kriegeskorte2008-humanIT"] == ("human", "IT")
    assert where["kriegeskorte2008-judgements"] == ("human", "behaviour")
    assert where["cowley2023-V4"] == ("macaque", "V4") and where["allen-VISp"] == ("mouse", "VISp")
    assert all(species and region for species, region in where.values())
    table = runner.invoke(app, ["list", "benchmarks"], env={"COLUMNS": "200"}).stdout
    assert "species" in table and "region" in table and "behaviour" in table
