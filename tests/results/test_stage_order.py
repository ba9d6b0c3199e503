"""One run enters each stage once, in stage order: the modules a run hands its work to, recorded as it runs.

The orchestrators (``results/runs.py``, ``scoring/scorer.py``, ``scoring/stages.py``) hand
the run from module to module; a profile hook records every call they make into another
brainbench module, and the test compares the stage modules among them with the order
``docs/architecture.md`` ("One call, in order") draws. The find-or-compute lookups are
the documented re-entries: the results store is asked before the work and records after
it, and a request's key is recalled before stage 1 and remembered after stage 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from helpers import known_runs_fixtures as kf

ORCHESTRATORS = {"brainbench.results.runs", "brainbench.scoring.scorer", "brainbench.scoring.stages"}
#: The modules of the stages and of the find-or-compute lookups, as ``docs/architecture.md`` names them.
STAGE_MODULES = {
    f"brainbench.{name}"
    for name in (
        "scoring.arguments",
        "scoring.composite",
        "results.known_runs",
        "results.store",
        "scoring.spec",
        "scoring.load",
        "scoring.activations",
        "scoring.fit",
        "scoring.measure",
        "scoring.assemble",
    )
}
CHECK, STORE, KNOWN, COMPOSITE = "scoring.arguments", "results.store", "results.known_runs", "scoring.composite"
STAGES_1_TO_6 = ["scoring.spec", "scoring.load", KNOWN, STORE, "scoring.activations", "scoring.fit"]
STAGES_1_TO_6 += ["scoring.measure", "scoring.assemble", STORE]


def handed(work: Callable[[], object]) -> list[str]:
    """The stage modules the orchestrators hand ``work`` to, in order (a module called twice in a row once).

    The run spec's own methods (its key, read where it is needed) are reading a value,
    not handing the run on, and are left out.
    """
    order: list[str] = []

    def hook(frame, event, arg):
        if event != "call" or frame.f_back is None:
            return
        callee, caller = frame.f_globals.get("__name__"), frame.f_back.f_globals.get("__name__")
        if caller not in ORCHESTRATORS or callee not in STAGE_MODULES:
            return
        owner = frame.f_locals.get("self", frame.f_locals.get("cls"))
        if (owner if isinstance(owner, type) else type(owner)).__name__ == "RunSpec":
            return  # the spec's own methods
        name = callee.removeprefix("brainbench.")
        if not order or order[-1] != name:
            order.append(name)

    sys.setprofile(hook)
    try:
        work()
    finally:
        sys.setprofile(None)
    return order


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An offline mirror, manifest and store of the seeded tiny model and the one-file benchmarks."""
    from brainbench.registry import refresh

    for key, value in kf.offline_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    refresh()
    yield SimpleNamespace(store=tmp_path / "results.sqlite")
    refresh()


def _run(offline, benchmark: str):
    from brainbench.results.runs import Execution, Request, run
    from brainbench.results.store import ResultStore

    how = Execution(device="cpu", progress=False, threads=1)
    return lambda: run(Request("seeded-tiny", benchmark), how, ResultStore(offline.store))


def test_a_run_enters_each_stage_once_in_order_and_a_stored_one_no_stage(offline):
    assert handed(_run(offline, "one-file-bench")) == [CHECK, STORE, KNOWN, *STAGES_1_TO_6]
    # stored: the remembered key, then the store; no stage entered
    assert handed(_run(offline, "one-file-bench")) == [CHECK, STORE, KNOWN, STORE]


def test_a_composite_is_planned_once_each_part_staged_once_and_aggregated_once(offline):
    _run(offline, "one-file-bench")()  # the composite's first part, scored alone
    # planned; its first part found by its remembered key and reduced to its per-neuroid
    # numbers; the second scored (then reduced, and the parts aggregated); then all stored
    first, second = [CHECK, STORE, COMPOSITE, KNOWN, STORE, COMPOSITE], [KNOWN, *STAGES_1_TO_6]
    assert handed(_run(offline, "one-file-both")) == [*first, *second, COMPOSITE, STORE]
    assert handed(_run(offline, "one-file-both")) == [*first, KNOWN, STORE, COMPOSITE, STORE]
