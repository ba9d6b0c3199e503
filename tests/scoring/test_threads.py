"""brainbench.scoring.threads: the CPUs a process may use, the override order, scoped limits."""

from __future__ import annotations

import os

import pytest

from brainbench.errors import BrainbenchError
from brainbench.scoring import threads


@pytest.fixture
def cgroup(tmp_path):
    """A fake /sys/fs/cgroup root and /proc/self/cgroup file."""
    root = tmp_path / "cgroup"
    root.mkdir()
    proc = tmp_path / "proc-cgroup"
    proc.write_text("0::/\n")
    return root, proc


def _affinity(monkeypatch, n: int) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(n)), raising=False)


def test_affinity_without_quota(monkeypatch, cgroup):
    _affinity(monkeypatch, 6)
    assert threads.cgroup_cpu_limit(*cgroup) is None
    assert threads.available_cpus(*cgroup) == 6


def test_cgroup_v2_quota_in_own_folder(monkeypatch, cgroup):
    root, proc = cgroup
    _affinity(monkeypatch, 16)
    proc.write_text("0::/job/worker\n")
    (root / "job" / "worker").mkdir(parents=True)
    (root / "job" / "worker" / "cpu.max").write_text("150000 100000\n")
    (root / "cpu.max").write_text("max 100000\n")  # the root is unlimited; the process's own folder wins
    assert threads.cgroup_cpu_limit(root, proc) == 1.5
    assert threads.available_cpus(root, proc) == 2


def test_cgroup_v2_unlimited_and_v1_quota(monkeypatch, cgroup):
    root, proc = cgroup
    _affinity(monkeypatch, 8)
    (root / "cpu.max").write_text("max 100000\n")
    assert threads.available_cpus(root, proc) == 8
    (root / "cpu.max").unlink()
    (root / "cpu,cpuacct").mkdir()
    (root / "cpu,cpuacct" / "cpu.cfs_quota_us").write_text("300000\n")
    (root / "cpu,cpuacct" / "cpu.cfs_period_us").write_text("100000\n")
    assert threads.available_cpus(root, proc) == 3
    (root / "cpu,cpuacct" / "cpu.cfs_quota_us").write_text("-1\n")
    assert threads.available_cpus(root, proc) == 8


def test_affinity_caps_a_larger_quota(monkeypatch, cgroup):
    root, proc = cgroup
    _affinity(monkeypatch, 2)
    (root / "cpu.max").write_text("800000 100000\n")
    assert threads.available_cpus(root, proc) == 2


def test_default_from_cpus():
    assert [threads.default_threads(n) for n in (1, 2, 3, 8)] == [1, 1, 3, 8]


def test_override_order():
    env = {"MKL_NUM_THREADS": "5", "OMP_NUM_THREADS": "4", "BRAINBENCH_THREADS": "3"}
    assert threads.resolve_threads(7, env, cpus=2) == 7
    assert threads.resolve_threads(None, env, cpus=2) == 3
    del env["BRAINBENCH_THREADS"]
    assert threads.resolve_threads(None, env, cpus=2) == 4
    del env["OMP_NUM_THREADS"]
    assert threads.resolve_threads(None, env, cpus=2) == 5
    assert threads.resolve_threads(None, {}, cpus=4) == 4
    assert threads.resolve_threads(None, {"OMP_NUM_THREADS": " "}, cpus=1) == 1


@pytest.mark.parametrize(("value", "source"), [(0, "threads"), ("two", "threads")])
def test_bad_counts_are_refused(value, source):
    with pytest.raises(BrainbenchError, match=f"{source} must be a whole number of threads >= 1"):
        threads.resolve_threads(value, {})


def test_bad_environment_is_named():
    with pytest.raises(BrainbenchError, match="BRAINBENCH_THREADS must be a whole number"):
        threads.resolve_threads(None, {"BRAINBENCH_THREADS": "1.5"})


def test_limit_is_scoped_and_restored():
    import torch

    before = torch.get_num_threads()
    target = 1 if before != 1 else 2

    with threads.limit_threads(target) as count:
        assert (count, torch.get_num_threads()) == (target, target)
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), threads.limit_threads(target):
        assert torch.get_num_threads() == target
        raise RuntimeError("restored even on error")
    assert torch.get_num_threads() == before


def test_cli_passes_threads_through(monkeypatch):
    from typer.testing import CliRunner

    import brainbench.results.runs
    from brainbench.cli.main import app

    seen = {}

    class Stop(Exception):
        pass

    def fake_run(request, how, *args, **kwargs):
        seen["threads"] = how.threads
        raise Stop

    monkeypatch.setattr(brainbench.results.runs, "run", fake_run)
    result = CliRunner().invoke(app, ["score", "alexnet-untrained", "cowley2023-V4", "--threads", "3"])
    assert isinstance(result.exception, Stop)
    assert seen["threads"] == 3
