"""Stored runs read fast: remembered request keys and the stat-keyed file hash cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from brainbench.caching import hash_cache

from helpers import known_runs_fixtures as kf

TESTS = Path(__file__).resolve().parents[1]

MODEL, BENCHMARK, COMPOSITE = "seeded-tiny", "one-file-bench", "one-file-both"


# ---------------------------------------------------------------------------- file hash cache
@pytest.fixture(autouse=True)
def _files_written_a_minute_ago(monkeypatch):
    """The files a test writes count as settled (see ``hash_cache.SETTLE_NS``), so their hashes are remembered."""
    monkeypatch.setattr(hash_cache, "_now_ns", lambda: time.time_ns() + 60 * 10**9, raising=False)


def _counting(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = hash_cache._hash_file

    def counted(path: str) -> str:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(hash_cache, "_hash_file", counted)
    return calls


def test_unchanged_file_is_not_read_again_and_a_changed_one_is(fresh_home, tmp_path, monkeypatch):
    import hashlib

    calls = _counting(monkeypatch)
    path = tmp_path / "data.bin"
    path.write_bytes(b"a" * 1000)
    assert hash_cache.file_sha256(path) == hashlib.sha256(b"a" * 1000).hexdigest()
    assert hash_cache.file_sha256(path) == hashlib.sha256(b"a" * 1000).hexdigest()
    assert len(calls) == 1
    # same size, different content, mtime put back to the old one: the ctime still moves
    stat = path.stat()
    path.write_bytes(b"b" * 1000)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert hash_cache.file_sha256(path) == hashlib.sha256(b"b" * 1000).hexdigest()
    assert len(calls) == 2


def test_a_file_hashed_in_the_second_it_was_written_is_not_remembered(fresh_home, tmp_path, monkeypatch):
    """Where timestamps count whole seconds, a rewrite of the same size later in that second
    keeps the fingerprint: a hash taken then must not be remembered, or the next call gives
    the old bytes' hash for the new ones (a checkpoint saved over: the old run's key)."""
    import hashlib

    second = time.time_ns() // 10**9 * 10**9  # the whole second both writes are stamped with
    real = hash_cache.fingerprint
    monkeypatch.setattr(hash_cache, "fingerprint", lambda path: {**real(path), "mtime_ns": second, "ctime_ns": second})
    monkeypatch.setattr(hash_cache, "_now_ns", lambda: second + 300_000_000, raising=False)  # 0.3 s into it
    path = tmp_path / "last.pt"
    path.write_bytes(b"a" * 100)
    assert hash_cache.file_sha256(path) == hashlib.sha256(b"a" * 100).hexdigest()
    path.write_bytes(b"b" * 100)  # saved again in that second: same size, inode and timestamps
    assert hash_cache.file_sha256(path) == hashlib.sha256(b"b" * 100).hexdigest()
    monkeypatch.setattr(hash_cache, "_now_ns", lambda: second + 5 * 10**9)  # settled: remembered
    calls = _counting(monkeypatch)
    assert hash_cache.file_sha256(path) == hash_cache.file_sha256(path) and len(calls) == 1


def test_a_corrupt_or_edited_cache_entry_is_ignored_and_rewritten(fresh_home, tmp_path, monkeypatch):
    import hashlib

    calls = _counting(monkeypatch)
    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * 100)
    right = hashlib.sha256(b"x" * 100).hexdigest()
    hash_cache.file_sha256(path)
    (entry,) = (hash_cache.cache_root() / "files").glob("*.json")
    record = json.loads(entry.read_text())
    record["entry"]["sha256"] = "0" * 64  # a wrong hash without a matching checksum
    entry.write_text(json.dumps(record))
    assert hash_cache.file_sha256(path) == right
    assert json.loads(entry.read_text())["entry"]["sha256"] == right  # rewritten
    entry.write_text(entry.read_text()[:40])  # truncated
    assert hash_cache.file_sha256(path) == right
    assert len(calls) == 3
    assert hash_cache.file_sha256(path) == right and len(calls) == 3  # the rewritten entry is used again
    from brainbench.caching.content import json_sha256

    record = json.loads(entry.read_text())
    assert record["sha256"] == json_sha256(record["entry"])  # the package's one sorted-JSON sha256
    record["entry"]["format"] = 1  # an entry of the previous layout: ignored, hashed again, rewritten
    record["sha256"] = json_sha256(record["entry"])
    entry.write_text(json.dumps(record))
    assert hash_cache.file_sha256(path) == right and len(calls) == 4


def test_cache_verify_reports_and_fixes_a_corrupt_hash_entry(fresh_home, tmp_path):
    from brainbench.cli import cache_contents

    path = tmp_path / "data.bin"
    path.write_bytes(b"1")
    hash_cache.file_sha256(path)
    (entry,) = (hash_cache.cache_root() / "files").glob("*.json")
    assert not cache_contents.verify(["hashes"]).problems
    entry.write_text("{}")
    report = cache_contents.verify(["hashes"], fix=True)
    assert [problem.path for problem in report.problems] == [entry] and not entry.exists()


def test_an_intact_entry_of_the_earlier_format_is_not_reported_as_damaged(fresh_home, tmp_path, monkeypatch):
    """Entries written before FORMAT 2 (checksummed with compact separators) are stale, not
    corrupt: ``cache verify`` must not report them (exit 1) after an upgrade."""
    import hashlib

    from brainbench.cli import cache_contents

    calls = _counting(monkeypatch)
    path = tmp_path / "data.bin"
    path.write_bytes(b"1")
    hash_cache.file_sha256(path)
    (entry_file,) = (hash_cache.cache_root() / "files").glob("*.json")
    old = {"format": 1, "file": hash_cache.fingerprint(path), "sha256": "0" * 64}  # as FORMAT 1 wrote it
    compact = json.dumps(old, sort_keys=True, separators=(",", ":"))
    entry_file.write_text(json.dumps({"entry": old, "sha256": hashlib.sha256(compact.encode()).hexdigest()}))
    assert not cache_contents.verify(["hashes"]).problems
    assert hash_cache.file_sha256(path) == hashlib.sha256(b"1").hexdigest() and len(calls) == 2  # never trusted
    entry_file.write_text(json.dumps({"entry": old, "sha256": "f" * 64}))  # a damaged one still is reported
    assert [problem.path for problem in cache_contents.verify(["hashes"]).problems] == [entry_file]


# ---------------------------------------------------------------------------- remembered keys
@pytest.fixture(scope="module")
def stored_run(tmp_path_factory):
    """One scored and stored run of the seeded tiny model on the one-file benchmark."""
    from brainbench.registry import refresh
    from brainbench.results.runs import Execution, Request, run
    from brainbench.results.store import ResultStore

    root = tmp_path_factory.mktemp("known-runs")
    env = kf.offline_env(root)
    data = root / "mirror" / kf.DATASET / "responses.npy"
    store = root / "results.sqlite"
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        refresh()
        how = Execution(device="cpu", progress=False)
        outcome = run(Request(MODEL, BENCHMARK), how, ResultStore(store))
        composite = run(Request(MODEL, COMPOSITE), how, ResultStore(store))  # its second part scored here
    refresh()
    key = outcome.dataset.attrs["content_key"]
    return SimpleNamespace(root=root, env=env, store=store, data=data, key=key, spec=outcome.spec, composite=composite)


@pytest.fixture
def known(stored_run, monkeypatch):
    from brainbench.registry import refresh

    for key, value in stored_run.env.items():
        monkeypatch.setenv(key, value)
    refresh()
    return stored_run


def _known_key(seed: int = 0) -> str | None:
    """The key remembered for the request (MODEL, BENCHMARK, seed), or None."""
    from brainbench.registry import get_registry
    from brainbench.results import known_runs
    from brainbench.scoring.arguments import check_request
    from brainbench.scoring.request import Execution, Request

    registry = get_registry()
    checked = check_request(Request(MODEL, BENCHMARK, seed=seed), Execution(), registry=registry)
    inputs = known_runs.request_inputs(checked)
    known = known_runs.known_spec(inputs)
    return None if known is None else known[1]


def test_a_stored_run_is_found_with_the_scorers_key_without_building_or_loading(known, monkeypatch):
    import brainbench.scoring.scorer

    def refuse(*args, **kwargs):
        raise AssertionError("the model was built or the data loaded to find a stored run")

    from brainbench.results.runs import Execution, Request, run
    from brainbench.results.store import ResultStore

    monkeypatch.setattr(brainbench.scoring.scorer, "prepare", refuse)
    monkeypatch.setattr(brainbench.scoring.scorer, "prepare_checked", refuse)
    assert _known_key() == known.key
    outcome = run(Request(MODEL, BENCHMARK), Execution(progress=False), ResultStore(known.store))
    assert outcome.status == "stored" and outcome.key == known.key
    assert outcome.spec == known.spec  # every field, as stages 1-2 computed it
    assert outcome.dataset.attrs["content_key"] == known.key


def test_a_stored_composite_is_read_by_its_parts_remembered_keys_without_building_or_loading(known, monkeypatch):
    import brainbench.models.base
    import brainbench.scoring.scorer
    from brainbench.results.runs import Execution, Request, run
    from brainbench.results.store import ResultStore

    def refuse(*args, **kwargs):
        raise AssertionError("the network was built or a part's data loaded to find a stored composite")

    # the second part was scored inside the composite (with the composite's network): its
    # request was remembered by its ids all the same, like the first part's scored alone
    assert known.composite.status == "scored"
    monkeypatch.setattr(brainbench.scoring.scorer, "prepare_checked", refuse)
    monkeypatch.setattr(brainbench.models.base, "load_model", refuse)
    again = run(Request(MODEL, COMPOSITE), Execution(progress=False), ResultStore(known.store))
    assert again.status == "stored" and again.key == known.composite.key
    assert again.spec == known.composite.spec
    assert again.dataset.attrs["content_key"] == known.composite.key


def test_leaderboard_run_skips_a_stored_job_without_building_or_loading(known, monkeypatch):
    import brainbench.scoring.scorer
    from brainbench.results.grid import Job, run_job

    def refuse(*args, **kwargs):
        raise AssertionError("the model was built or the data loaded to find a stored run")

    monkeypatch.setattr(brainbench.scoring.scorer, "prepare", refuse)
    monkeypatch.setattr(brainbench.scoring.scorer, "prepare_checked", refuse)
    result = run_job(Job(MODEL, BENCHMARK), str(known.store))
    assert result.status == "skipped" and result.content_key == known.key
    assert result.score is not None and result.best_layer  # read from the stored run


def test_a_request_without_a_json_form_is_not_remembered(known):
    import numpy as np

    from brainbench.registry import get_registry
    from brainbench.results import known_runs
    from brainbench.scoring.arguments import check_request
    from brainbench.scoring.request import Execution, Request

    registry = get_registry()
    request = Request(MODEL, BENCHMARK, readout_params={"alphas": np.ones(2)})
    checked = check_request(request, Execution(), registry=registry)
    inputs = known_runs.request_inputs(checked)
    assert inputs is None


def test_a_changed_data_file_or_another_request_is_not_found(known):
    assert _known_key(seed=1) is None
    before = known.data.read_bytes()
    try:
        kf.write_data(known.data.parents[1], seed=1)  # same size, other numbers
        assert len(known.data.read_bytes()) == len(before) and known.data.read_bytes() != before
        assert _known_key() is None
    finally:
        known.data.write_bytes(before)
    assert _known_key() == known.key


def test_analyze_leaderboard_and_a_stored_composite_import_no_torch(known, tmp_path):
    code = (
        "import sys\n"
        "from brainbench.cli.main import main\n"
        "model, bench, out, store = sys.argv[1:]\n"
        "for argv in (['analyze', 'layer-profile', model, bench, '--out', out, '--store', store, '--device', 'cpu'],"
        " ['leaderboard', 'show', '--store', store], ['leaderboard', 'runs', '--store', store],"
        " ['score', model, 'one-file-both', '--store', store, '--device', 'cpu']):\n"
        "    sys.argv = ['brainbench', *argv]\n"
        "    try:\n        main()\n    except SystemExit as exit:\n        assert not exit.code, exit.code\n"
        "print('TORCH', 'torch' in sys.modules)\n"
    )
    env = {**os.environ, **known.env, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    done = subprocess.run(
        [sys.executable, "-c", code, MODEL, BENCHMARK, str(tmp_path / "out"), str(known.store)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "TORCH False" in done.stdout, done.stdout[-2000:]


def test_the_data_files_fingerprinted_are_those_the_benchmark_loads(tmp_path, monkeypatch):
    import hashlib

    import numpy as np

    from brainbench.registry import get_registry, refresh
    from brainbench.results import known_runs
    from brainbench.scoring.arguments import check_request
    from brainbench.scoring.request import Execution, Request

    env = kf.offline_env(tmp_path)
    other = tmp_path / "mirror" / kf.DATASET / "other.npy"  # the benchmark's assembly_params pick this file
    np.save(other, np.zeros((2, kf.N_STIMULI, kf.N_NEUROIDS)))
    digest = hashlib.sha256(other.read_bytes()).hexdigest()
    manifest = Path(env["BRAINBENCH_MANIFESTS"])
    manifest.write_text(
        manifest.read_text()
        + f"""
[benchmarks.one-file-other]
version = 1
assembly = "one-file"
assembly_params = {{ path = "other.npy", sha256 = "{digest}" }}
split = {{ kind = "kfold", n_splits = 3, seed = 0 }}
"""
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    refresh()
    try:
        checked = check_request(Request(MODEL, "one-file-other"), Execution(), registry=get_registry())
        (data,) = known_runs.request_inputs(checked)["data"]
    finally:
        refresh()
    # the file the load stage reads (the assembly's params with the benchmark's on top), not the assembly's own
    assert (data["path"], data["sha256"]) == ("other.npy", digest)
