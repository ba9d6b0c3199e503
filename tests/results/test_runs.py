"""brainbench.results.runs: one place finds a run's stored score or computes it; the protocol from the spec alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from brainbench.errors import BrainbenchError
from brainbench.results import runs
from brainbench.results.store import ResultStore, StoreError

from helpers import results_fixtures as rf

COMPOSITE = """
[benchmarks.gen-both]
kind = "composite"
version = 1
parts = ["gen-V1", "gen-IT"]
aggregate = { value = "r", part = "median", group_by = "region", group = "mean", overall = "mean" }
"""


#: entries named by an alias where a declaration refers to them, and a representation benchmark
ALIASED = """
[readouts.narrow-aliased]
base = "simple-narrow"
aliases = ["narrow-alias"]

[metrics.rdm-bad-params]
python_name = "brainbench.metrics.rsa:RDMSimilarity"
kind = "representation"
params = { no_such_param = 1 }
aliases = ["rdm-bad-alias"]

[benchmarks.gen-rsa]
kind = "representation"
version = 1
region = "V1"
assembly = "generated-v1"
metrics = ["rdm-similarity"]
split = { kind = "kfold", n_splits = 4, seed = 0 }
"""


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    return rf.write_manifest(tmp_path_factory.mktemp("runs-manifest"), extra=COMPOSITE + ALIASED)


@pytest.fixture
def registry(manifest, monkeypatch):
    with rf.registered(manifest, monkeypatch) as registry:
        yield registry


HOW = runs.Execution(device="cpu", progress=False, threads=1)


def test_a_run_is_scored_and_recorded_then_found_under_the_same_key(registry, tmp_path):
    import torch

    store = ResultStore(tmp_path / "s.sqlite")
    request = runs.Request("tiny-a", "gen-V1", layers=("c1",))
    before = torch.get_num_threads()
    first = runs.run(request, HOW, store)
    assert first.status == runs.SCORED and first.spec is not None and first.key == first.spec.key
    assert torch.get_num_threads() == before  # threads set for the call only
    assert first.dataset.attrs["threads"] == 1
    assert [r["content_key"] for r in store.runs()] == [first.key]
    again = runs.run(request, HOW, store)
    assert again.status == runs.STORED and again.key == first.key
    np.testing.assert_array_equal(again.dataset["r"].values, first.dataset["r"].values)
    fresh = runs.run(request, runs.Execution(device="cpu", progress=False, use_cache=False, threads=1), store)
    assert fresh.status == runs.SCORED and fresh.key == first.key and len(store.runs()) == 1


def test_a_stored_run_is_read_with_its_results_file_hashed_once(registry, tmp_path, monkeypatch):
    import brainbench.caching.integrity

    store = ResultStore(tmp_path / "h.sqlite")
    request = runs.Request("tiny-a", "gen-V1", layers=("c1",))
    first = runs.run(request, HOW, store)
    hashed: list[Path] = []
    real = brainbench.caching.integrity.file_sha256

    def counted(path):
        hashed.append(Path(path))
        return real(path)

    monkeypatch.setattr(brainbench.caching.integrity, "file_sha256", counted)
    again = runs.run(request, HOW, store)
    assert again.status == runs.STORED and again.key == first.key
    results_file = store.root / f"results/{first.key}.nc"
    assert hashed.count(results_file) == 1, hashed  # checked once, then read (it was hashed twice)


def test_the_request_and_how_are_checked_whole_and_a_bare_string_of_layers_is_refused(registry):
    from brainbench.registry import get_registry
    from brainbench.scoring.arguments import check_request
    from brainbench.scoring.request import Execution, Request

    assert runs.Request is Request and runs.Execution is Execution  # re-exported where they were
    checked = check_request(Request("tiny-a", "gen-V1", layers=["c1"], seed=2), Execution(), registry=get_registry())
    assert checked.layers == ("c1",) and checked.seed == 2 and checked.model_entry is not None
    with pytest.raises(BrainbenchError, match="batch size must be an integer >= 1"):
        check_request(Request("tiny-a", "gen-V1"), Execution(batch_size=0), registry=get_registry())
    # brainbench.score turned "c1" into the layers "c" and "1"; it is refused like the scorer refuses it
    with pytest.raises(BrainbenchError, match="layers must be a list of layer names"):
        runs.score("tiny-a", "gen-V1", layers="c1", progress=False)  # type: ignore[arg-type]


def test_layers_given_as_an_iterator_are_read_once_and_anything_else_is_refused_in_one_sentence(registry):
    from brainbench.registry import get_registry
    from brainbench.scoring.arguments import check_request
    from brainbench.scoring.request import Execution, Request

    # brainbench.score took any iterable of names (0.6.0 read a generator twice: "layers is an empty list")
    names = (name for name in ["c1", "c2"])
    checked = check_request(Request("tiny-a", "gen-V1", layers=names), Execution(), registry=get_registry())
    assert checked.layers == ("c1", "c2")
    with pytest.raises(BrainbenchError, match="layers must be a list of layer names, got 3"):
        check_request(Request("tiny-a", "gen-V1", layers=3), Execution(), registry=get_registry())  # type: ignore[arg-type]
    # a layer named twice failed after the whole run, in building the score's layer axis
    with pytest.raises(BrainbenchError, match="layers names 'c1' twice; name each layer once"):
        check_request(Request("tiny-a", "gen-V1", layers=["c1", "c2", "c1"]), Execution(), registry=get_registry())


def test_a_readout_or_metric_named_by_an_alias_is_named_by_its_id_in_an_error(registry):
    from brainbench.scoring.benchmark import Benchmark, resolve_benchmark
    from brainbench.scoring.spec import resolve

    bench = resolve_benchmark("gen-V1", registry)

    def declaring(**fields) -> Benchmark:  # gen-V1's data under a declaration that names entries by alias
        return Benchmark(entry=bench.entry.model_copy(update={"id": "gen-V1-aliased", **fields}), source=bench.source)

    with pytest.raises(BrainbenchError, match="readout 'narrow-aliased' has no parameter 'nope'"):
        resolve("tiny-a", declaring(readout="narrow-alias"), readout_params={"nope": 1}, registry=registry)
    representation = declaring(kind="representation", metrics=["rdm-bad-alias"])
    with pytest.raises(BrainbenchError, match="metric 'rdm-bad-params' does not accept its declared params"):
        resolve("tiny-a", representation, registry=registry)


@pytest.mark.parametrize(
    "request_",
    [
        # its stored readout is "" (it fits none): the re-run asked for the unknown readout ""
        runs.Request("tiny-a", "gen-rsa", layers=("c1",)),
        # scored with another token rule: the re-run left it out, so its key differed
        runs.Request("tiny-a", "gen-V1", layers=("c1",), tokens="cls"),
    ],
    ids=["representation", "token-rule"],
)
def test_a_stored_run_is_verified_as_it_was_scored(registry, tmp_path, request_):
    from brainbench.results.verify import verify_run

    store = ResultStore(tmp_path / "verified.sqlite")
    stored = runs.run(request_, HOW, store)
    check = verify_run(store, store.lookup(stored.key), device="cpu", use_cache=True)
    assert check.ok, [str(d) for d in check.differences]


def test_brainbench_score_is_the_runs_layer_and_stores_nothing(registry, tmp_path, monkeypatch):
    import brainbench

    monkeypatch.setenv("BRAINBENCH_STORE", str(tmp_path / "never.sqlite"))
    assert brainbench.score is runs.score
    dataset = brainbench.score("tiny-a", "gen-V1", layers=["c1"], device="cpu", progress=False, out=tmp_path)
    assert not (tmp_path / "never.sqlite").exists()
    assert (tmp_path / "tiny-a__gen-V1.nc").is_file()
    assert dataset.attrs["protocol"] == "custom" and json.loads(dataset.attrs["protocol_detail"]) == {"layers": ["c1"]}


def test_a_composite_goes_part_by_part_through_the_same_path(registry, tmp_path):
    store = ResultStore(tmp_path / "c.sqlite")
    request = runs.Request("tiny-a", "gen-both", layers=("c1",))
    first = runs.run(request, HOW, store)
    assert first.status == runs.SCORED
    parts = {str(k) for k in first.dataset["part_content_key"].values}
    assert {r["content_key"] for r in store.runs()} == parts | {first.key}  # each part its own run
    again = runs.run(request, HOW, store)
    assert again.status == runs.STORED and again.key == first.key
    from brainbench.scoring import prepare

    with pytest.raises(BrainbenchError, match="composite.*brainbench.score"):
        prepare("tiny-a", "gen-both", progress=False)  # stages 1-2 take one benchmark
    with pytest.raises(BrainbenchError, match="readout cannot be overridden"):
        runs.run(runs.Request("tiny-a", "gen-both", readout="simple"), HOW)


def test_each_id_is_looked_up_once_at_the_boundary_and_a_missing_layer_fails_before_the_data(
    registry, tmp_path, monkeypatch
):
    from collections import Counter

    import brainbench.scoring.load
    import brainbench.scoring.scorer
    from brainbench.registry.registry import Registry

    calls: Counter = Counter()
    for name in ("model", "benchmark"):
        original = getattr(Registry, name)

        def counted(self, entry_id, _original=original, _name=name):
            calls[_name, entry_id] += 1
            return _original(self, entry_id)

        monkeypatch.setattr(Registry, name, counted)
    outcome = runs.run(runs.Request("tiny-a", "gen-V1", layers=("c1",)), HOW, ResultStore(tmp_path / "o.sqlite"))
    assert outcome.status == runs.SCORED
    assert calls["model", "tiny-a"] == 1 and calls["benchmark", "gen-V1"] == 1, calls

    def refuse(*args, **kwargs):
        raise AssertionError("the data were loaded before the layers were checked")

    monkeypatch.setattr(brainbench.scoring.load, "load", refuse)
    monkeypatch.setattr(brainbench.scoring.scorer, "load", refuse)
    with pytest.raises(BrainbenchError, match="model 'tiny-a' has no layer 'c9'; its layers are c1, c2"):
        runs.run(runs.Request("tiny-a", "gen-V1", layers=("c9",)), HOW)


def test_every_entry_a_scored_run_reads_is_looked_up_once_at_the_boundary(registry, tmp_path, monkeypatch):
    """The ids and what the benchmark's declaration refers to: asked of the registry once, by check_request.

    With a store, the remembered-key lookup (known_runs) runs before and after stage 1, and
    neither it, nor stage 1, nor the benchmark's construction asks the registry again.
    """
    from collections import Counter

    from brainbench.registry.registry import Registry

    calls: Counter = Counter()
    for name in ("model", "benchmark", "readout", "metric", "assembly"):
        original = getattr(Registry, name)

        def counted(self, entry_id, _original=original, _name=name):
            calls[_name, entry_id] += 1
            return _original(self, entry_id)

        monkeypatch.setattr(Registry, name, counted)
    request = runs.Request("tiny-a", "gen-V1", layers=("c1",), readout="simple-narrow")  # a readout with a base
    outcome = runs.run(request, HOW, ResultStore(tmp_path / "once.sqlite"))
    assert outcome.status == runs.SCORED
    content = outcome.spec.content  # always set (a remembered run carries its remembered spec)
    expected = {
        ("model", "tiny-a"),
        ("benchmark", "gen-V1"),
        ("readout", "simple-narrow"),
        ("readout", "simple"),  # simple-narrow's base, and the benchmark's declared readout
        ("assembly", "generated-v1"),
        *(("metric", m) for m in ("pearson-r", "explained-variance", "split-half", "ceiled-r2")),
    }
    assert set(calls) == expected, calls
    assert all(count == 1 for count in calls.values()), calls
    assert set(content["readout"]["versions"]) == {"simple-narrow", "simple"}  # the chain did reach the spec


def test_a_failed_record_keeps_the_numbers_when_asked(registry, tmp_path, monkeypatch):
    store = ResultStore(tmp_path / "f.sqlite")

    def full_disk(self, dataset):
        raise StoreError("no space left on device; free some space.")

    monkeypatch.setattr(ResultStore, "record", full_disk)
    request = runs.Request("tiny-a", "gen-V1", layers=("c1",))
    with pytest.raises(StoreError, match="no space"):
        runs.run(request, HOW, store)
    kept = runs.run(request, HOW, store, keep_unrecorded=True)
    assert kept.status == runs.SCORED and "no space" in str(kept.record_error)
    assert np.isfinite(kept.dataset["r"].values).any()


def test_the_store_records_the_protocol_the_dataset_carries(tmp_path):
    store = ResultStore(tmp_path / "p.sqlite")
    store.record(rf.fake_dataset(1, protocol="custom", seed=1))
    store.record(rf.fake_dataset(2, protocol=None))
    got = {r["model"]: r for r in store.runs()}
    assert got["fake-1"]["protocol"] == "custom" and json.loads(got["fake-1"]["protocol_detail"]) == {"seed": 1}
    assert got["fake-2"]["protocol"] == "unknown"


# ---------------------------------------------------------------------------- the protocol from the spec alone
def _content(**extra):
    content = {
        "model": {"layers": ["c1", "c2"]},
        "benchmark": {"readout": "simple"},
        "readout": {"id": "simple"},
        "seed": 0,
    }
    return {**content, **extra}


def test_the_protocol_is_a_function_of_the_spec():
    from brainbench.scoring.protocol import run_protocol

    assert run_protocol(_content(), ["c1", "c2"], "simple", "simple") == ("declared", {})
    assert run_protocol(_content(), ["c1"], "simple", "simple") == ("custom", {"layers": ["c1"]})
    assert run_protocol(_content(seed=3), ["c1", "c2"]) == ("custom", {"seed": 3})
    # the scorer knows the declared readout's canonical id; a stored spec alone cannot tell an alias
    assert run_protocol(_content(), ["c1", "c2"], "ridge", "simple") == ("custom", {"readout": "ridge"})
    assert run_protocol(_content(readout={"id": "ridge"}), ["c1", "c2"])[0] == "unknown"
    assert run_protocol({}, ["c1"])[0] == "unknown"


def test_a_stored_spec_with_readout_overrides_or_own_splits_is_custom():
    """The store's migration judged such rows ``declared``: it compared layers, readout and seed only."""
    from brainbench.scoring.protocol import run_protocol

    protocol, detail = run_protocol(_content(readout_overrides={"alphas": [1.0]}), ["c1", "c2"])
    assert protocol == "custom" and detail == {"readout_params": {"alphas": "[1.0]"}}
    protocol, detail = run_protocol(_content(splits={"sha256": "ab", "sizes": [3]}), ["c1", "c2"])
    assert protocol == "custom" and detail == {"splits": "custom"}
    assert run_protocol(_content(splits="declared"), ["c1", "c2"]) == ("declared", {})


def test_the_spec_carries_its_protocol_and_the_key_is_unchanged(registry):
    from brainbench.registry import get_registry
    from brainbench.scoring.spec import resolve

    spec = resolve("tiny-a", "gen-V1", readout="simple-narrow", seed=2, registry=get_registry()).spec
    assert spec.protocol == "custom" and spec.protocol_detail == {"readout": "simple-narrow", "seed": 2}
    assert "declared_readout" not in spec.content and spec.declared_readout == "simple"
    declared = resolve("tiny-a", "gen-V1", registry=get_registry()).spec
    assert declared.protocol == "declared" and declared.protocol_detail == {}


def test_the_cli_shows_a_stored_run_from_the_store_and_no_cache_scores_it_again(registry, tmp_path, capsys):
    from brainbench.cli.main import main

    store = tmp_path / "cli.sqlite"
    command = ["score", "tiny-a", "gen-V1", "--layers", "c1", "--device", "cpu", "--json", "--store", str(store)]
    assert main(command) == 0
    first = capsys.readouterr()
    assert "already in the results store" not in first.err
    assert main(command) == 0
    second = capsys.readouterr()
    assert "already in the results store" in second.err
    assert json.loads(second.out)["score"] == json.loads(first.out)["score"]
    assert main([*command, "--no-cache"]) == 0
    assert "already in the results store" not in capsys.readouterr().err
    assert len(ResultStore(store).runs()) == 1


def test_a_composite_part_is_the_run_of_its_benchmark_scored_alone(registry, tmp_path):
    store = ResultStore(tmp_path / "p.sqlite")
    composite = runs.run(runs.Request("tiny-a", "gen-both", layers=("c1",)), HOW, store)
    alone = runs.run(runs.Request("tiny-a", "gen-V1", layers=("c1",)), HOW, store)
    parts = [str(k) for k in composite.dataset["part_content_key"].values]
    assert alone.key in parts and alone.status == runs.STORED  # the part's stored run, found by its own key
    assert alone.dataset.attrs["protocol"] == "custom"  # layers given: custom, but no benchmark override
    assert "benchmark_override" not in json.loads(alone.dataset.attrs["spec"])


def test_a_model_object_of_a_declared_id_prepared_otherwise_has_its_own_key(registry):
    from brainbench.models.base import load_model
    from brainbench.registry import get_registry
    from brainbench.scoring import prepare

    entry = get_registry().model("tiny-a")
    by_id = prepare("tiny-a", "gen-V1", layers=["c1"], progress=False)[2].key
    same = load_model(entry)  # the declared model, passed as an object: the same run
    assert prepare(same, "gen-V1", layers=["c1"], progress=False)[2].key == by_id
    other = load_model(entry)  # same id and weights, other input size: another run (it had the same key)
    other.preprocessing = other.preprocessing.model_copy(update={"size": other.preprocessing.size * 2})
    assert prepare(other, "gen-V1", layers=["c1"], progress=False)[2].key != by_id


def test_a_numpy_integer_seed_is_a_seed(registry):
    from brainbench.scoring.arguments import check_seed

    assert check_seed(np.int64(3)) == 3 and type(check_seed(np.int64(3))) is int  # it was refused
    spec = runs.run(runs.Request("tiny-a", "gen-V1", layers=("c1",), seed=np.int64(1)), HOW).spec
    assert spec.seed == 1 and spec.content["seed"] == 1
