"""``brainbench leaderboard run | show | runs | verify``: grids, the table, every stored run, verification."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from brainbench.errors import BrainbenchError
from brainbench.results.verify import DEFAULT_TOLERANCE, REPRODUCIBILITY

leaderboard_app = typer.Typer(
    help="Run (model, benchmark) grids into the results store, show the leaderboard, list every run, verify it.",
    no_args_is_help=True,
)

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="results store: PATH or sqlite:///PATH (default $BRAINBENCH_STORE or $BRAINBENCH_HOME/results.sqlite)",
    ),
]


@leaderboard_app.command("run")
def run_command(
    models: Annotated[
        str | None,
        typer.Option(help="comma-separated model ids (default: every registered model that can be built here)"),
    ] = None,
    benchmarks: Annotated[
        str | None,
        typer.Option(help="comma-separated benchmark ids (default: every benchmark whose data is available offline)"),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="LocalCluster process workers (default: CPU count); 0 runs serially without Dask")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="address of an existing Dask scheduler, e.g. tcp://host:8786 (overrides --workers)"),
    ] = None,
    readout: Annotated[str | None, typer.Option(help="readout id overriding each benchmark's")] = None,
    seed: Annotated[int, typer.Option(help="seed of every job")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda (on the workers)")] = "auto",
    store: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the job results as JSON")] = False,
) -> None:
    """Score every (model, benchmark) pair on Dask; pairs already stored with the same content key are skipped."""
    from brainbench.arguments import check_device, check_seed, check_workers, split_ids
    from brainbench.registry import get_registry

    if workers is not None and scheduler is not None:
        raise BrainbenchError(
            "--workers and --scheduler cannot be combined; give --workers N for a local cluster "
            "or --scheduler ADDRESS for an existing one."
        )
    check_workers(workers)
    check_seed(seed)
    check_device(device)
    registry = get_registry()
    model_ids = split_ids(models, "--models")
    bench_ids = split_ids(benchmarks, "--benchmarks")
    # unknown ids fail here, clearly, before the grid is planned or a worker started
    if model_ids is not None:
        model_ids = [registry.model(m).id for m in model_ids]
    if bench_ids is not None:
        bench_ids = [registry.benchmark(b).id for b in bench_ids]
    if readout is not None:
        registry.readout(readout)
    from brainbench.results.grid import offline_benchmarks, offline_models, plan, run_grid

    if model_ids is None:
        model_ids, skipped = offline_models(registry)
        for model, why in skipped.items():
            typer.secho(f"not in the default grid: model {model}: {why}", fg=typer.colors.YELLOW, err=True)
    if bench_ids is None:
        bench_ids = offline_benchmarks(registry)
        missing = sorted(set(registry.ids("benchmarks")) - set(bench_ids))
        if missing:
            typer.secho(
                f"not in the default grid (data not available offline): {', '.join(missing)}",
                fg=typer.colors.YELLOW,
                err=True,
            )
    jobs = plan(model_ids, bench_ids, readout, seed)
    if not jobs:
        typer.secho("error: nothing to run: no model or no benchmark selected.", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    typer.echo(f"{len(jobs)} jobs: {len(model_ids)} models x {len(bench_ids)} benchmarks", err=True)
    results = run_grid(jobs, store, workers=workers, scheduler=scheduler, device=device)
    failed = [r for r in results if r.status == "failed"]
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        for r in results:
            score = "" if r.score is None else f" score {r.score:.3f} ({r.best_layer})"
            typer.echo(f"{r.status:8s} {r.job.name}{score}  {r.content_key[:12]}")
    counts = {s: sum(r.status == s for r in results) for s in ("scored", "skipped", "failed")}
    typer.echo(f"{counts['scored']} scored, {counts['skipped']} already stored, {counts['failed']} failed", err=True)
    for r in failed:
        typer.secho(f"failed after {r.attempts} attempts: {r.job.name}: {r.error}", fg=typer.colors.RED, err=True)
    if failed:
        raise typer.Exit(1)


@leaderboard_app.command("show")
def show_command(
    fmt: Annotated[str, typer.Option("--format", help="table, md, csv, html or json")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file")] = None,
    store: StoreOption = None,
) -> None:
    """Models x benchmarks (with versions) of declared-protocol ceiled scores, plus region and overall means.

    A cell shows only a run of the benchmark's declared protocol (every layer the model
    declares, the benchmark's readout, seed 0, its declared splits); `brainbench
    leaderboard runs` lists every other stored run.
    """
    from brainbench.results.store import ResultStore
    from brainbench.results.table import FORMATS, build, render

    if fmt not in FORMATS:
        raise BrainbenchError(f"unknown format {fmt!r}; pass --format with one of {', '.join(FORMATS)}.")
    if output is not None and output.is_dir():
        raise BrainbenchError(f"--output {output} is a folder; pass a file path such as {output / 'leaderboard.md'}.")
    target = ResultStore(store)
    board = build(target.runs())
    text = render(board, fmt)
    if output is not None:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"leaderboard written to {output}", err=True)
        return
    if not board.models and fmt == "table":
        typer.echo(f"the results store {target.path} is empty; run `brainbench leaderboard run`.", err=True)
    sys.stdout.write(text)


@leaderboard_app.command("runs")
def runs_command(
    model: Annotated[str | None, typer.Argument(help="only runs of this model id")] = None,
    benchmark: Annotated[str | None, typer.Argument(help="only runs of this benchmark id")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
    store: StoreOption = None,
) -> None:
    """Every stored run with its layers, seed, readout, protocol and whether a leaderboard cell shows it."""
    from brainbench.registry import get_registry
    from brainbench.results.store import ResultStore
    from brainbench.results.table import list_runs, render_runs

    registry = get_registry()
    # an alias names the same id; an id no manifest declares (a custom benchmark) is taken as given
    with contextlib.suppress(BrainbenchError):
        model = registry.model(model).id if model is not None else None
    with contextlib.suppress(BrainbenchError):
        benchmark = registry.benchmark(benchmark).id if benchmark is not None else None
    target = ResultStore(store)
    rows = list_runs(target.runs(), target.layers_by_run(), model, benchmark)
    if not rows and fmt == "table":
        what = " of " + " x ".join(x for x in (model, benchmark) if x) if (model or benchmark) else ""
        typer.echo(f"no runs{what} in the results store {target.path}.", err=True)
        return
    sys.stdout.write(render_runs(rows, fmt))


@leaderboard_app.command("verify")
def verify_command(
    row: Annotated[str | None, typer.Argument(help="a row id or content key (prefix) to verify")] = None,
    all_rows: Annotated[bool, typer.Option("--all", help="verify every stored run")] = False,
    tolerance: Annotated[
        float,
        typer.Option(
            help="largest absolute difference accepted (default: the measured difference between CPUs, with a margin)"
        ),
    ] = DEFAULT_TOLERANCE,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    use_cache: Annotated[
        bool, typer.Option("--use-cache", help="reuse cached activations (default: recompute them)")
    ] = False,
    store: StoreOption = None,
) -> None:
    """Re-run stored rows and report every difference beyond the tolerance (exit 1 if any).

    The default tolerance covers the rounding of float32 kernels between CPUs (measured by
    benchmarks/reproducibility.py); on the same machine a re-run is bit for bit.
    """
    from brainbench.arguments import check_device, check_tolerance
    from brainbench.results.store import ResultStore
    from brainbench.results.verify import verify

    if row is None and not all_rows:
        raise BrainbenchError("name the run to verify: give a ROW (row id or content key prefix) or --all.")
    if row is not None and all_rows:
        raise BrainbenchError(f"ROW {row!r} and --all cannot be combined; give one row or --all.")
    check_tolerance(tolerance)
    check_device(device)
    checks = verify(ResultStore(store), row, tolerance=tolerance, device=device, use_cache=use_cache)
    n_bad = 0
    for check in checks:
        run = check.run
        name = f"{run['model']} x {run['benchmark']} v{run['benchmark_version']} [{run['readout']}]"
        if check.ok:
            typer.echo(f"ok       {name}  {run['content_key'][:12]}")
        else:
            n_bad += 1
            typer.secho(f"DIFFERS  {name}  {run['content_key'][:12]}", fg=typer.colors.RED)
            for difference in check.differences:
                typer.echo(f"    {difference}")
        for note in check.notes:
            typer.echo(f"    note: {note}")
    typer.echo(f"{len(checks) - n_bad} of {len(checks)} runs reproduce within {tolerance:g} (absolute)")
    typer.echo(f"What reproduces to what: {REPRODUCIBILITY}.")
    if n_bad:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(leaderboard_app, name="leaderboard")
