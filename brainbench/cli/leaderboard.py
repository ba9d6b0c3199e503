"""``brainbench leaderboard run | show | compare | site | runs | verify``.

Grids, the table with intervals, paired comparisons, the website, every stored run, verification.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from brainbench.errors import BrainbenchError
from brainbench.results.verify import DEFAULT_TOLERANCE, REPRODUCIBILITY

if TYPE_CHECKING:  # pragma: no cover
    from brainbench.results.store import ResultStore
    from brainbench.results.table import Leaderboard

leaderboard_app = typer.Typer(
    help=(
        "Run (model, benchmark) grids into the results store, show the leaderboard with intervals, "
        "compare two models, write a static site, list every run, verify it."
    ),
    no_args_is_help=True,
)

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help=(
            "results store: PATH or sqlite:///PATH (default $BRAINBENCH_STORE or $BRAINBENCH_HOME/results.sqlite); "
            "show, runs, compare, site and verify refuse a named store that does not exist"
        ),
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
        typer.Option(help="address of an existing Dask scheduler, e.g. tcp://host:8786 (not with --workers)"),
    ] = None,
    readout: Annotated[str | None, typer.Option(help="readout id overriding each benchmark's")] = None,
    seed: Annotated[int, typer.Option(help="seed of every job")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda (on the workers)")] = "auto",
    store: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the job results as JSON")] = False,
) -> None:
    """Score every (model, benchmark) pair on Dask; pairs already stored with the same content key are skipped."""
    from brainbench.registry import get_registry
    from brainbench.scoring.arguments import check_device, check_seed, check_workers, split_ids

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
    # an id named twice (or by an alias and its id) is one job, not two racing to store one run
    if model_ids is not None:
        model_ids = list(dict.fromkeys(registry.model(m).id for m in model_ids))
    if bench_ids is not None:
        bench_ids = list(dict.fromkeys(registry.benchmark(b).id for b in bench_ids))
    if readout is not None:
        registry.readout(readout)
    from brainbench.results.grid import applicable_jobs, offline_benchmarks, offline_models, plan, run_grid

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
    jobs, inapplicable = applicable_jobs(plan(model_ids, bench_ids, readout, seed), registry)
    if inapplicable:  # e.g. a model that supplies an RDM, on a benchmark of other stimuli
        reasons = sorted(set(inapplicable.values()))
        typer.secho(
            f"not in the grid: {len(inapplicable)} pairs that cannot be scored ({'; '.join(reasons)})",
            fg=typer.colors.YELLOW,
            err=True,
        )
    if not jobs:
        typer.secho("error: nothing to run: no model or no benchmark selected.", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    typer.echo(
        f"{len(jobs)} jobs: {len(model_ids)} models x {len(bench_ids)} benchmarks"
        + (f", less {len(inapplicable)} pairs that cannot be scored" if inapplicable else ""),
        err=True,
    )
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


IntervalsOption = Annotated[
    bool,
    typer.Option(
        "--intervals/--no-intervals",
        help="95% bootstrap intervals and significance ranks from the stored runs (cached in the store)",
    ),
]


def board_with_intervals(target: ResultStore, intervals: bool = True) -> Leaderboard:
    """The leaderboard of a store, with every shown cell's cached bootstrap draws when asked."""
    from brainbench.results.intervals import cached_draws
    from brainbench.results.table import build, shown_runs

    runs = target.runs()
    draws = cached_draws(target, shown_runs(runs), progress=True) if intervals else None
    return build(runs, draws)


@leaderboard_app.command("show")
def show_command(
    fmt: Annotated[str, typer.Option("--format", help="table, md, csv, html or json")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file")] = None,
    intervals: IntervalsOption = True,
    store: StoreOption = None,
) -> None:
    """Models x benchmarks (with versions) of declared-protocol ceiled scores with 95% intervals, plus means.

    A cell shows only a run of the benchmark's declared protocol (every layer the model
    declares, the benchmark's readout, seed 0, its declared splits); `brainbench
    leaderboard runs` lists every other stored run. Intervals resample what each run
    stored (no refit; see docs/leaderboard.md); rows with more scored cells rank first,
    and rows whose overall means do not differ significantly share a rank (=k).
    """
    from brainbench.results.table import FORMATS, render

    if fmt not in FORMATS:
        raise BrainbenchError(f"unknown format {fmt!r}; pass --format with one of {', '.join(FORMATS)}.")
    if output is not None and output.is_dir():
        raise BrainbenchError(f"--output {output} is a folder; pass a file path such as {output / 'leaderboard.md'}.")
    if output is not None:  # before the intervals are drawn, not after
        from brainbench.scoring.arguments import writable_folder

        reason = writable_folder(output.parent)
        if reason is not None:
            raise BrainbenchError(
                f"--output {output} cannot be written ({reason}); pass a file in a folder you may write to."
            )
    target = _read_store(store)
    board = board_with_intervals(target, intervals)
    text = render(board, fmt)
    if output is not None:
        _write_text(output, text)
        typer.echo(f"leaderboard written to {output}", err=True)
        return
    if not board.models and fmt == "table":
        typer.echo(f"the results store {target.path} is empty; run `brainbench leaderboard run`.", err=True)
    sys.stdout.write(text)


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` whole or not at all (a temporary beside ``path``, then renamed over it)."""
    import os

    from brainbench.caching.integrity import remove_temp, temp_path

    path.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path(path)
    try:
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, path)
    except OSError as error:
        raise BrainbenchError(
            f"--output {path} cannot be written ({error.strerror or error}); pass another file."
        ) from error
    finally:
        remove_temp(temp)


def _read_store(store: str | None) -> ResultStore:
    """The results store a reading command names; one that is named but is not there is refused.

    A store named by ``--store`` or ``$BRAINBENCH_STORE`` that does not exist is a typo, not
    an empty store: opening it would create an empty database there and show nothing. The
    default store (named by neither) may not exist yet: it reads as empty.
    """
    import os

    from brainbench.results.store import STORE_ENV, ResultStore

    target = ResultStore(store)
    named = store if store is not None else os.environ.get(STORE_ENV)
    if named and not target.path.exists():
        where = "--store" if store is not None else f"${STORE_ENV}"
        raise BrainbenchError(
            f"there is no results store at {target.path} ({where}); check the path, or create one with "
            "`brainbench leaderboard run` or `brainbench score`."
        )
    return target


@leaderboard_app.command("runs")
def runs_command(
    model: Annotated[str | None, typer.Argument(help="only runs of this model id")] = None,
    benchmark: Annotated[str | None, typer.Argument(help="only runs of this benchmark id")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
    store: StoreOption = None,
) -> None:
    """Every stored run with its layers, seed, readout, protocol and whether a leaderboard cell shows it."""
    from brainbench.registry import get_registry
    from brainbench.results.table import list_runs, render_runs

    registry = get_registry()
    # an alias names the same id; an id no manifest declares (a custom benchmark) is taken as given
    with contextlib.suppress(BrainbenchError):
        model = registry.model(model).id if model is not None else None
    with contextlib.suppress(BrainbenchError):
        benchmark = registry.benchmark(benchmark).id if benchmark is not None else None
    target = _read_store(store)
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
    from brainbench.results.verify import verify
    from brainbench.scoring.arguments import check_device, check_tolerance

    if row is None and not all_rows:
        raise BrainbenchError("name the run to verify: give a ROW (row id or content key prefix) or --all.")
    if row is not None and all_rows:
        raise BrainbenchError(f"ROW {row!r} and --all cannot be combined; give one row or --all.")
    check_tolerance(tolerance)
    check_device(device)
    checks = verify(_read_store(store), row, tolerance=tolerance, device=device, use_cache=use_cache)
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


@leaderboard_app.command("compare")
def compare_command(
    model_a: Annotated[str, typer.Argument(help="first model id")],
    model_b: Annotated[str, typer.Argument(help="second model id")],
    benchmarks: Annotated[
        list[str] | None, typer.Argument(help="benchmark ids (default: every benchmark both models have a cell on)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the comparisons as JSON")] = False,
    store: StoreOption = None,
) -> None:
    """Paired differences MODEL_A - MODEL_B per benchmark and for the means, with 95% intervals and p-values.

    Both models' scores are recomputed on the same resamples of each benchmark's stored
    data, so the difference's interval is paired. p: two-sided, from the bootstrap standard
    error of the difference; p_holm: Holm-corrected over the benchmark rows
    printed (the region and overall means are reported unadjusted).
    """
    from brainbench.results.comparisons import compare_models, render_comparisons
    from brainbench.results.intervals import cached_draws
    from brainbench.results.table import build

    target = _read_store(store)
    runs = target.runs()
    plain = build(runs)
    compare_models(plain, model_a, model_b, benchmarks)  # unknown models or benchmarks fail here, before any draw
    needed = [cell for model in (model_a, model_b) for cell in plain.cells[model] if cell is not None]
    board = build(runs, cached_draws(target, needed, progress=True))
    rows = compare_models(board, model_a, model_b, benchmarks)
    sys.stdout.write(render_comparisons(rows, model_a, model_b, as_json))


@leaderboard_app.command("site")
def site_command(
    out: Annotated[Path, typer.Option("--out", help="folder to write the site into (created; its old pages replaced)")],
    store: StoreOption = None,
) -> None:
    """Write a static website of the leaderboard (HTML, CSS, SVG figures; no server, no network at view time)."""
    from brainbench.results.site import write_site
    from brainbench.scoring.arguments import check_out_dir

    if out.exists() and not out.is_dir():
        raise BrainbenchError(f"--out {out} is a file; give a folder for the site, e.g. {out.with_suffix('')}-site.")
    check_out_dir(out)  # writable, before the intervals are drawn
    target = _read_store(store)
    board = board_with_intervals(target, True)
    pages = write_site(target, board, out, command=" ".join(["brainbench", *sys.argv[1:]]))
    typer.echo(f"site written to {out} ({pages} pages); open {out / 'index.html'}", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(leaderboard_app, name="leaderboard")
