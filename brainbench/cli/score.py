"""``brainbench score MODEL BENCHMARK``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # pragma: no cover
    from brainbench.results.store import ResultStore


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
    no_store: Annotated[
        bool, typer.Option("--no-store", help="do not record the result in the results store (not with --store)")
    ] = False,
    store: Annotated[
        str | None,
        typer.Option(
            help="results store PATH or sqlite:///PATH (default $BRAINBENCH_STORE or $BRAINBENCH_HOME/results.sqlite); "
            "checked before any work",
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            help="CPU threads for torch and BLAS (default: $BRAINBENCH_THREADS, $OMP_NUM_THREADS, $MKL_NUM_THREADS, "
            "else chosen from the CPUs this process may use)",
        ),
    ] = None,
) -> None:
    """Score every layer of MODEL on BENCHMARK; print a per-layer table (or --json)."""
    layer_list = check_score_options(
        model, benchmark, layers=layers, readout=readout, device=device, seed=seed, batch_size=batch_size, out=out
    )
    target = check_store_options(no_store, store)
    from brainbench.scoring import score, summarize

    dataset = score(
        model,
        benchmark,
        layers=layer_list,
        readout=readout,
        device=device,
        seed=seed,
        out=out,
        progress=True,
        use_cache=not no_cache,
        batch_size=batch_size,
        threads=threads,
    )
    summary = summarize(dataset, elapsed_s=_process_age())
    failure = None
    if target is not None:
        from brainbench.errors import BrainbenchError

        try:
            target.record(dataset)
        except BrainbenchError as error:  # e.g. a full disk: the numbers are still shown, then the error
            failure = error
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        _print_table(summary)
        if out is not None:
            typer.echo(f"per-neuroid scores written to {out}")
    if failure is not None:
        from brainbench.errors import BrainbenchError

        raise BrainbenchError(f"the score above was not stored: {failure}") from failure


def check_store_options(no_store: bool, store: str | None) -> ResultStore | None:
    """The results store to record into (checked now, before any work), or None with ``--no-store``."""
    from brainbench.errors import BrainbenchError

    if no_store:
        if store is not None:
            raise BrainbenchError(
                f"--no-store and --store {store} contradict each other; drop one of them "
                "(--no-store records nothing, --store names where to record)."
            )
        return None
    from brainbench.results.store import ResultStore

    target = ResultStore(store)
    target.check()
    return target


def _process_age() -> float | None:
    """Wall seconds since this command's process started (Linux), else None (the call's own time is used)."""
    import os

    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def check_score_options(
    model: str,
    benchmark: str,
    *,
    layers: str | None,
    readout: str | None,
    device: str,
    seed: int,
    batch_size: int,
    out: Path | None,
) -> list[str] | None:
    """Refuse bad options before anything is loaded: unknown ids, layers, device, seed, batch size, --out.

    Returns the layer names (``None``: every layer the model declares).
    """
    from brainbench.arguments import (
        check_batch_size,
        check_device,
        check_entry_layers,
        check_out_dir,
        check_seed,
        split_ids,
    )
    from brainbench.registry import get_registry

    registry = get_registry()
    entry = registry.model(model)
    registry.benchmark(benchmark)
    if readout is not None:
        registry.readout(readout)
    layer_list = check_entry_layers(entry, split_ids(layers, "--layers"))
    check_device(device)
    check_seed(seed)
    check_batch_size(batch_size)
    check_out_dir(out)
    return layer_list


def table_columns(summary: dict) -> list[tuple[str, str]]:
    """``(header, per-layer key)`` of the score table: the columns the benchmark's kind has.

    Aggregates are the benchmark's declared ``site_aggregate`` (median or mean), and rows
    are named by its unit (neuroids, or sites of a representation benchmark, which have no
    predictions and hence no EV).
    """
    aggregate = summary.get("score_aggregate", "median")
    unit = summary.get("score_unit", "neuroid")
    if summary.get("benchmark_kind") == "representation":
        return [
            (f"{aggregate} RDM r (all stimuli)", f"{aggregate}_r"),
            (f"{aggregate} RDM r (per split)", f"{aggregate}_r_split"),
            (f"{aggregate} ceiled", f"{aggregate}_ceiled"),
            (f"{unit}s", "n_neuroids"),
        ]
    return [
        (f"{aggregate} r (pooled)", f"{aggregate}_r"),
        (f"{aggregate} r (per split)", f"{aggregate}_r_split"),
        (f"{aggregate} EV", f"{aggregate}_ev"),
        (f"{aggregate} ceiled", f"{aggregate}_ceiled"),
        (f"{unit}s", "n_neuroids"),
    ]


def table_title(summary: dict) -> str:
    """The table's title: model, benchmark, how layers are compared, and what was counted."""
    sel = summary["selection"]
    unit = summary.get("score_unit", "neuroid")
    n_units = summary.get("n_units", sel["n_kept"])
    if summary.get("benchmark_kind") == "representation":
        how = f"layer RDMs against {_count(n_units, 'site RDM')}"
        counted = "" if sel.get("unit") == "site" else f"{sel['n_kept']} of {_count(sel['n_total'], 'neuroid')}, "
        reliable = f"{summary['n_reliable']} of {_count(n_units, unit)} reliable"
    else:
        how = f"readout {summary['readout']}/{summary['solver']}"
        counted = f"{sel['n_kept']} of {_count(sel['n_total'], unit)} kept, "
        reliable = f"{summary['n_reliable']} reliable"
    return f"{summary['model']} on {summary['benchmark']} v{summary['benchmark_version']} ({how}, {counted}{reliable})"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _print_table(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=table_title(summary), title_justify="left")
    columns = table_columns(summary)
    table.add_column("layer", justify="left")
    for header, _ in columns:
        table.add_column(header, justify="right")
    for layer, row in summary["layers"].items():
        mark = " *" if layer == summary["best_layer"] else ""
        table.add_row(layer + mark, *(str(row[k]) if k == "n_neuroids" else _fmt(row.get(k)) for _, k in columns))
    console = Console()
    console.print(table)
    for line in headline_lines(summary):
        console.print(line)


def headline_lines(summary: dict) -> list[str]:
    """The sentences under the table that say what the headline number is (from the declaration)."""
    from brainbench.metrics.ceiled import CEILED

    choice = summary["layer_choice"]["per_split"]
    chosen = sum(1 for layer in choice if layer == summary["best_layer"])
    lines = [
        f"* layer chosen on each split's training stimuli only: {summary['best_layer']} "
        f"({chosen} of {len(choice)} splits)"
    ]
    if not summary["layer_choice"]["beats_zero"]:
        lines.append(
            "  no layer predicts held-out training stimuli better than their mean (validation R^2 <= 0): "
            "the chosen layer is the least bad, not a match"
        )
    line = f"score {_fmt(summary['score'])}: {summary['score_description']}"
    bounds = summary.get("noise_ceiling")
    if summary["score_kind"] == CEILED and bounds:
        line += (
            f"; noise ceiling {_fmt(bounds['lower'])} (lower, leave one subject out) to {_fmt(bounds['upper'])} "
            f"(upper) over {bounds['n_subjects']} subjects, the {bounds['bound']} bound ceils (Nili et al. 2014)"
        )
    elif summary["score_kind"] == CEILED:
        aggregate = summary.get("score_aggregate", "median")
        line += f"; {aggregate} ceiling {_fmt(summary['ceiling'].get(aggregate))}"
    lines.append(line)
    lines.append(f"{summary['elapsed_s']:.1f} s")
    return lines


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def register(app: typer.Typer) -> None:
    app.command("score")(score_command)
