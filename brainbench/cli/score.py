"""``brainbench score MODEL BENCHMARK``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def score_command(
    model: Annotated[str, typer.Argument(help="model id, e.g. alexnet or alexnet-untrained")],
    benchmark: Annotated[str, typer.Argument(help="benchmark id or alias, e.g. cowley2023-V4")],
    layers: Annotated[str | None, typer.Option(help="comma-separated layers (default: all the model declares)")] = None,
    readout: Annotated[str | None, typer.Option(help="readout id overriding the benchmark's, e.g. spatial, s2")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    seed: Annotated[int, typer.Option(help="seed of splits, ceiling halvings and stochastic readouts")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print exactly one JSON object on stdout")] = False,
    out: Annotated[Path | None, typer.Option(help="also write the per-neuroid, per-split score as netCDF here")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="recompute activations even if cached")] = False,
    batch_size: Annotated[int, typer.Option(help="images per forward pass")] = 32,
    no_store: Annotated[bool, typer.Option("--no-store", help="do not record the result in the results store")] = False,
    store: Annotated[str | None, typer.Option(
        help="results store PATH or sqlite:///PATH (default $BRAINBENCH_STORE or $BRAINBENCH_HOME/results.sqlite)",
    )] = None,
    threads: Annotated[int | None, typer.Option(
        help="CPU threads for torch and BLAS (default: $BRAINBENCH_THREADS, $OMP_NUM_THREADS, $MKL_NUM_THREADS, "
             "else chosen from the CPUs this process may use)",
    )] = None,
) -> None:
    """Score every layer of MODEL on BENCHMARK; print a per-layer table (or --json)."""
    from brainbench.scoring import score, summarize

    layer_list = [x.strip() for x in layers.split(",") if x.strip()] if layers else None
    dataset = score(model, benchmark, layers=layer_list, readout=readout, device=device, seed=seed,
                    out=out, progress=True, use_cache=not no_cache, batch_size=batch_size,
                    threads=threads)
    if not no_store:
        from brainbench.results.store import record

        record(dataset, store)
    summary = summarize(dataset)
    if as_json:
        typer.echo(json.dumps(summary))
        return
    _print_table(summary)
    if out is not None:
        typer.echo(f"per-neuroid scores written to {out}")


def _print_table(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    sel = summary["selection"]
    title = (f"{summary['model']} on {summary['benchmark']} v{summary['benchmark_version']} "
             f"(readout {summary['readout']}/{summary['solver']}, {sel['n_kept']} of {sel['n_total']} neuroids)")
    table = Table(title=title, title_justify="left")
    for column in ("layer", "median r", "median EV", "median ceiled", "neuroids"):
        table.add_column(column, justify="right" if column != "layer" else "left")
    for layer, row in summary["layers"].items():
        mark = " *" if layer == summary["best_layer"] else ""
        table.add_row(layer + mark, *(_fmt(row[k]) for k in ("median_r", "median_ev", "median_ceiled")),
                      str(row["n_neuroids"]))
    console = Console()
    console.print(table)
    ceiling = summary["ceiling"]["median"]
    console.print(f"* best layer chosen on training folds only: {summary['best_layer']}; "
                  f"score (median ceiled) {_fmt(summary['score'])}; median ceiling {_fmt(ceiling)}; "
                  f"{summary['elapsed_s']:.1f} s")


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def register(app: typer.Typer) -> None:
    app.command("score")(score_command)
