"""How many CPU threads scoring uses, and applying that choice to one call.

The count comes from, in order: an explicit ``threads`` argument (``--threads N``), the
environment (``BRAINBENCH_THREADS``, then ``OMP_NUM_THREADS``, then ``MKL_NUM_THREADS``),
else :func:`default_threads`, which is derived from the CPUs this process may actually
use (:func:`available_cpus`: the scheduler affinity mask, capped by a cgroup v2
``cpu.max`` or v1 ``cpu.cfs_quota_us`` quota) rather than from the machine's core
count, which a container or a shared machine overstates.

:func:`limit_threads` applies the count to torch (``torch.set_num_threads``) and, when
threadpoolctl is installed, to the BLAS/OpenMP pools of numpy and scipy, and restores
the previous settings afterwards. See ``benchmarks/threads.py`` for the measurement
behind the default.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from brainbench.errors import BrainbenchError

ENV_VARS = ("BRAINBENCH_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def _affinity_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The CPU quota of this process's cgroup in CPUs (e.g. ``1.5``), or None if unlimited.

    cgroup v2: ``cpu.max`` (``"max 100000"`` or ``"150000 100000"``) in this process's
    cgroup folder (from ``/proc/self/cgroup``'s ``0::`` line) or at the root. cgroup v1:
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (quota ``-1`` means none) under
    ``cpu/`` or ``cpu,cpuacct/``.
    """
    relative = ""
    for line in (_read(proc_cgroup) or "").splitlines():
        if line.startswith("0::"):
            relative = line[3:].lstrip("/")
    for folder in dict.fromkeys([root / relative, root]):
        text = _read(folder / "cpu.max")
        if text:
            quota, _, period = text.partition(" ")
            if quota == "max":
                return None
            try:
                return int(quota) / int(period or 100000)
            except ValueError:
                return None
    for sub in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        quota_us, period_us = _read(root / sub / "cpu.cfs_quota_us"), _read(root / sub / "cpu.cfs_period_us")
        if quota_us is None:
            continue
        try:
            q, p = int(quota_us), int(period_us or 100000)
        except ValueError:
            return None
        return None if q <= 0 or p <= 0 else q / p
    return None


def available_cpus(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int:
    """CPUs this process may use: the affinity mask, capped by a cgroup quota (at least 1)."""
    count = _affinity_count()
    quota = cgroup_cpu_limit(root, proc_cgroup)
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


def default_threads(cpus: int | None = None) -> int:
    """The thread count used when nothing is asked for, given ``cpus`` available.

    One thread up to 2 CPUs, else all of them: on a 2-core machine the scorer ran
    faster with one thread than with two even when idle (``benchmarks/README.md``,
    "Threads"), and far faster whenever anything else competes for the cores.
    """
    cpus = available_cpus() if cpus is None else cpus
    return 1 if cpus <= 2 else cpus


def _parse(value: object, source: str) -> int:
    try:
        count = int(str(value).strip())
    except ValueError:
        count = 0
    if count < 1 or str(value).strip() != str(count):
        raise BrainbenchError(f"{source} must be a whole number of threads >= 1, not {value!r}.")
    return count


def resolve_threads(
    threads: int | None = None, environ: Mapping[str, str] | None = None, cpus: int | None = None
) -> int:
    """The thread count to use: ``threads``, else the first set of :data:`ENV_VARS`, else the default."""
    if threads is not None:
        return _parse(threads, "threads")
    env: Mapping[str, str] = os.environ if environ is None else environ
    for name in ENV_VARS:
        value = env.get(name, "").strip()
        if value:
            return _parse(value, name)
    return default_threads(cpus)


@contextlib.contextmanager
def limit_threads(count: int) -> Iterator[int]:
    """Run the block with ``count`` torch (and BLAS/OpenMP) threads; restore them after."""
    import torch

    before = torch.get_num_threads()
    with contextlib.ExitStack() as stack:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # optional
            pass
        else:
            stack.enter_context(threadpool_limits(limits=count))
        torch.set_num_threads(count)
        try:
            yield count
        finally:
            torch.set_num_threads(before)
