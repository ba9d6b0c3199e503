"""Grids of (model, benchmark) jobs on Dask distributed, each job writing its rows.

A job is one :func:`brainbench.results.runs.run`: it finds the run's content key
(:class:`brainbench.scoring.spec.RunSpec`) -- remembered from an earlier run of the same
request (:mod:`brainbench.results.known_runs`), else by building its model (for the weights
hash) and loading its data --, returns at once when the store already holds that key, and
otherwise scores and records the run from the worker. Writes from
many workers are safe: the store serialises them (WAL, busy timeout, one transaction
per run).

Clusters: a :class:`dask.distributed.LocalCluster` of process workers with one thread
each by default; ``scheduler="tcp://host:8786"`` uses an existing cluster (for SLURM,
start one with dask-jobqueue, see docs/leaderboard.md). Workers need brainbench and
the plugins installed and the store path reachable; the ``BRAINBENCH_*`` environment
of the submitting process is applied inside each job.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from brainbench.errors import BrainbenchError

if TYPE_CHECKING:  # pragma: no cover
    from brainbench.registry.registry import Registry


@dataclass(frozen=True)
class Job:
    """One (model, benchmark) pair to score; ``readout`` None means the benchmark's own."""

    model: str
    benchmark: str
    readout: str | None = None
    seed: int = 0
    layers: tuple[str, ...] | None = None

    @property
    def name(self) -> str:
        return f"{self.model} x {self.benchmark}" + (f" [{self.readout}]" if self.readout else "")


@dataclass
class JobResult:
    """What became of a job: ``scored``, ``skipped`` (already stored) or ``failed``."""

    job: Job
    status: str
    content_key: str = ""
    score: float | None = None
    best_layer: str = ""
    error: str = ""
    elapsed_s: float = 0.0
    attempts: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["job"] = asdict(self.job)
        return out


def _environment() -> dict[str, str]:
    """The ``BRAINBENCH_*`` variables for a job; folders made absolute (a worker starts elsewhere)."""
    from brainbench.data.fetch import absolute

    env = {k: v for k, v in os.environ.items() if k.startswith("BRAINBENCH_")}
    for key in ("BRAINBENCH_HOME", "BRAINBENCH_MIRROR"):
        if env.get(key):
            env[key] = str(absolute(env[key]))
    return env


def _apply_environment(env: dict[str, str]) -> None:
    from brainbench.registry import refresh

    changed = any(os.environ.get(k) != v for k, v in env.items())
    for key in [k for k in os.environ if k.startswith("BRAINBENCH_") and k not in env]:
        del os.environ[key]
        changed = True
    os.environ.update(env)
    if changed:
        refresh()


def run_job(
    job: Job,
    store: str,
    env: dict[str, str] | None = None,
    device: str = "auto",
    torch_threads: int | None = None,
    use_cache: bool = True,
) -> JobResult:
    """Score one job and record it unless its content key is already stored (:func:`brainbench.results.runs.run`).

    Runs inside a Dask worker (or in-process for a serial grid). Raises on failure so
    that Dask can retry it.

    Args:
        use_cache: reuse a stored run and cached activations; False scores every job again
            (replacing its stored run).
        torch_threads: CPU threads (None: :func:`brainbench.scoring.threads.resolve_threads`).
    """
    started = time.perf_counter()
    if env is not None:
        _apply_environment(env)
    from brainbench.results.runs import Execution, Request, run
    from brainbench.results.store import ResultStore

    outcome = run(
        Request(job.model, job.benchmark, layers=job.layers, readout=job.readout, seed=job.seed),
        Execution(device=device, progress=False, use_cache=use_cache, threads=torch_threads),
        store=ResultStore(store),
    )
    score = outcome.dataset.attrs.get("score")
    return JobResult(
        job,
        "skipped" if outcome.stored else "scored",
        outcome.key,
        score=None if score is None else float(score),
        best_layer=str(outcome.dataset.attrs.get("best_layer", "")),
        elapsed_s=time.perf_counter() - started,
    )


def _failure(job: Job, error: BaseException, attempts: int) -> JobResult:
    text = (
        str(error)
        if isinstance(error, BrainbenchError)
        else "".join(traceback.format_exception_only(type(error), error)).strip()
    )
    return JobResult(job, "failed", error=text, attempts=attempts)


def run_grid(
    jobs: list[Job],
    store: str | os.PathLike | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    retries: int = 1,
    device: str = "auto",
    progress: bool = True,
    use_cache: bool = True,
) -> list[JobResult]:
    """Run jobs on Dask and return one result per job, in the order given.

    Args:
        jobs: the (model, benchmark) pairs.
        store: results store location (default: the default store), resolved here so
            that every worker writes to the same file.
        workers: LocalCluster process workers (default: CPU count, at most the job
            count); ``0`` runs the jobs one after another in this process, no Dask.
        scheduler: address of an existing Dask scheduler (overrides ``workers``).
        retries: how many times a failed job is re-run before it counts as failed.
    """
    from brainbench.results.store import ResultStore

    target = ResultStore(store)
    target.schema_version()  # create / migrate once, before workers race for it
    location = str(target.path.resolve())
    env = _environment()
    if not jobs:
        return []
    if workers == 0 and scheduler is None:
        return _run_serial(jobs, location, env, retries, device, progress, use_cache)

    import logging

    from dask.distributed import Client, LocalCluster, as_completed

    from brainbench.progress import tqdm

    cluster = None
    if scheduler is None:
        n = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
        )
        threads = max(1, (os.cpu_count() or 1) // n)
        client = Client(cluster)
    else:
        threads = None
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as error:
            raise BrainbenchError(
                f"cannot reach the Dask scheduler at {scheduler} ({error}); "
                "check the address or drop --scheduler to use a local cluster."
            ) from error
    results: dict[int, JobResult] = {}
    try:
        futures = {}
        for index, job in enumerate(jobs):
            future = client.submit(
                run_job,
                job,
                location,
                env,
                device,
                threads,
                use_cache,
                key=f"brainbench-{index}-{job.model}-{job.benchmark}",
                pure=False,
                retries=retries,
            )
            futures[future] = index
        bar = tqdm(total=len(jobs), desc="grid", unit="job", disable=not progress)
        for future in as_completed(futures):
            index = futures[future]
            if future.status == "finished":
                results[index] = future.result()
            else:
                results[index] = _failure(jobs[index], future.exception(), retries + 1)
            bar.update(1)
            bar.set_postfix_str(f"{jobs[index].name}: {results[index].status}")
        bar.close()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return [results[i] for i in range(len(jobs))]


def _run_serial(
    jobs: list[Job],
    location: str,
    env: dict[str, str],
    retries: int,
    device: str,
    progress: bool,
    use_cache: bool,
) -> list[JobResult]:
    """The jobs one after another in this process, in order; the bar counts the finished ones."""
    from brainbench.progress import tqdm

    results = _serial_results(jobs, location, env, retries, device, use_cache)  # lazy: nothing runs yet
    bar = tqdm(total=len(jobs), desc="grid", unit="job", disable=not progress)
    out = []
    for result in results:
        out.append(result)
        bar.update(1)
        bar.set_postfix_str(f"{result.job.name}: {result.status}")
    bar.close()
    return out


def _serial_results(
    jobs: list[Job], location: str, env: dict[str, str], retries: int, device: str, use_cache: bool
) -> Iterator[JobResult]:
    """Each job's result as it finishes: run up to ``retries + 1`` times; a failure is a result, never raised."""
    for job in jobs:
        for attempt in range(1, retries + 2):
            try:
                result = run_job(job, location, env, device, None, use_cache)
                result.attempts = attempt
                break
            except Exception as error:  # a job's failure must not stop the grid
                result = _failure(job, error, attempt)
        yield result


# ---------------------------------------------------------------------------- defaults
def offline_benchmarks(registry: Registry) -> list[str]:
    """Benchmarks whose data files are all available without the network (cache or mirror)."""
    from brainbench.data.fetch import cache_path, mirror_root
    from brainbench.scoring.benchmark import resolve_benchmark

    mirror = mirror_root()
    available = []
    from brainbench.scoring.composite import remote_files

    for entry in registry.entries("benchmarks"):
        try:
            if getattr(entry, "kind", "") == "composite":  # available when every part's files are
                remotes = remote_files(entry, registry)  # type: ignore[arg-type]
            else:
                remotes = resolve_benchmark(entry.id, registry).source.remote_files()
        except Exception:  # a plugin that cannot even list its files cannot run here
            continue
        if all(
            cache_path(r).is_file() or (mirror is not None and (mirror / r.dataset / r.path).is_file()) for r in remotes
        ):
            available.append(entry.id)
    return available


def offline_models(registry: Registry) -> tuple[list[str], dict[str, str]]:
    """Models that can be built here (``BRAINBENCH_OFFLINE`` honoured), and why the others cannot."""
    from brainbench.models.base import load_model
    from brainbench.registry.manifest import ModelEntry

    ok, skipped = [], {}
    for entry in registry.entries("models"):
        if not isinstance(entry, ModelEntry):  # entries("models") holds model entries only
            raise BrainbenchError(f"internal: {entry.id!r} listed as a model is a {type(entry).__name__}.")
        try:
            load_model(entry)
        except BrainbenchError as error:
            skipped[entry.id] = str(error)
            continue
        ok.append(entry.id)
    return ok, skipped


def plan(models: list[str], benchmarks: list[str], readout: str | None = None, seed: int = 0) -> list[Job]:
    """Every (model, benchmark) pair, models outermost."""
    return [Job(m, b, readout, seed) for m in models for b in benchmarks]


def not_applicable(registry: Registry, model: str, benchmark: str) -> str:
    """Why a (model, benchmark) pair cannot be scored by declaration, or "" when it can.

    A model that supplies an RDM (``supplies = "rdm"``) is scored only by representation
    benchmarks on the assembly its RDM covers, never by one whose data it is (``data_of``).
    """
    entry = registry.model(model)
    if entry.supplies != "rdm":
        return ""
    bench = registry.benchmark(benchmark)
    if bench.id in entry.data_of:
        return f"{model} is the data of {bench.id}"
    if bench.kind != "representation" or bench.assembly != entry.stimuli:
        return f"{model} supplies an RDM over the stimuli of {entry.stimuli} only"
    return ""


def applicable_jobs(jobs: list[Job], registry: Registry) -> tuple[list[Job], dict[str, str]]:
    """The jobs whose pair can be scored, and ``job name -> why`` for the others (:func:`not_applicable`)."""
    kept, dropped = [], {}
    for job in jobs:
        why = not_applicable(registry, job.model, job.benchmark)
        if why:
            dropped[job.name] = why
        else:
            kept.append(job)
    return kept, dropped
