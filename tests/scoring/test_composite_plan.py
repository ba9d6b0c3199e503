"""A composite run enters brainbench.scoring.composite twice: planned once, aggregated once."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from brainbench.errors import BrainbenchError
from brainbench.registry.registry import Registry
from brainbench.results import runs
from brainbench.results.store import ResultStore

from helpers import results_fixtures as rf

COMPOSITE = """
[benchmarks.gen-pair]
kind = "composite"
version = 1
parts = ["gen-V1", "gen-IT"]
aggregate = { value = "ceiled", part = "median", group_by = "region", group = "mean", overall = "mean" }
"""

HOW = runs.Execution(device="cpu", progress=False, threads=1)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    return rf.write_manifest(tmp_path_factory.mktemp("composite-manifest"), extra=COMPOSITE)


@pytest.fixture
def registry(manifest, monkeypatch):
    with rf.registered(manifest, monkeypatch) as registry:
        yield registry


def _checked(registry, **options):
    """The composite request as the boundary check hands it on (its ids already looked up)."""
    from brainbench.scoring.arguments import CheckedRequest

    entry = registry.benchmark("gen-pair")
    return CheckedRequest("tiny-a", None, None, "gen-pair", entry, registered_benchmark=entry, **options)


def _count(monkeypatch, *names: str) -> Counter:
    """Count the registry's lookups by (kind, id) from now on."""
    calls: Counter = Counter()
    for name in names:
        original = getattr(Registry, name)

        def counted(self, entry_id, _original=original, _name=name):
            calls[_name, entry_id] += 1
            return _original(self, entry_id)

        monkeypatch.setattr(Registry, name, counted)
    return calls


def test_the_plan_looks_up_the_parts_and_the_headline_once(registry, monkeypatch):
    from brainbench.scoring.composite import plan_composite

    checked = _checked(registry, layers=("c1",))
    calls = _count(monkeypatch, "benchmark", "metric", "assembly", "readout")
    plan = plan_composite(checked, registry)
    assert [p.id for p in plan.parts] == ["gen-V1", "gen-IT"]
    assert plan.headline.id == plan.entry.headline and plan.reliability_floor == 0.3
    assert calls["benchmark", "gen-V1"] == calls["benchmark", "gen-IT"] == 1, calls
    assert calls["metric", plan.entry.headline] == 1, calls
    # what each part refers to, for its single-benchmark run: an entry the parts share looked up once
    assert [r.assembly.id for r in plan.references if r.assembly] == ["generated-v1", "generated-it"]
    assert all(calls[k] == 1 for k in calls if k[0] in ("metric", "readout")), calls
    assert calls["benchmark", "gen-pair"] == 0, calls  # the boundary looked the composite up


def test_a_composite_option_is_refused_before_any_lookup(registry, monkeypatch):
    from brainbench.scoring.composite import plan_composite

    checked = _checked(registry, readout_params={"alphas": [1.0]})
    calls = _count(monkeypatch, "benchmark", "metric", "assembly")
    with pytest.raises(BrainbenchError, match="readout_params cannot be overridden"):
        plan_composite(checked, registry)
    assert not calls


def test_a_composite_run_asks_the_registry_nothing_after_its_plan(registry, tmp_path, monkeypatch):
    calls = _count(monkeypatch, "benchmark", "metric")
    outcome = runs.run(runs.Request("tiny-a", "gen-pair", layers=("c1",)), HOW, ResultStore(tmp_path / "c.sqlite"))
    assert outcome.status == runs.SCORED
    # once by the boundary (the composite) or the plan (its parts): not again per part or to aggregate
    assert [calls["benchmark", b] for b in ("gen-pair", "gen-V1", "gen-IT")] == [1, 1, 1], calls
    dataset, spec = outcome.dataset, outcome.spec
    assert spec is not None and outcome.key == spec.key == dataset.attrs["content_key"]
    parts = dict(zip(dataset["part"].values.tolist(), dataset["part_content_key"].values.tolist(), strict=True))
    assert json.loads(dataset.attrs["spec"])["parts"] == parts == spec.content["parts"]
    assert dataset.attrs["score_kind"] == "ceiled" and dataset.attrs["reliability_floor"] == 0.3
