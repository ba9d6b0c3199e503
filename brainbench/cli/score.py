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


def _print_table(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    sel = summary["selection"]
    if summary.get("benchmark_kind") == "representation":
        how = f"layer RDMs against {summary['layers'][next(iter(summary['layers']))]['n_neuroids']} site RDM(s)"
        unit = "sites"
    else:
        how = f"readout {summary['readout']}/{summary['solver']}"
        unit = "neuroids"
    title = (
        f"{summary['model']} on {summary['benchmark']} v{summary['benchmark_version']} "
        f"({how}, {sel['n_kept']} of {sel['n_total']} neuroids, {summary['n_reliable']} reliable {unit})"
    )
    table = Table(title=title, title_justify="left")
    columns = ("layer", "median r (pooled)", "median r (per split)", "median EV", "median ceiled", "neuroids")
    if summary.get("benchmark_kind") == "representation":
        columns = ("layer", "RDM r (all stimuli)", "RDM r (per split)", "median EV", "median ceiled", "sites")
    for column in columns:
        table.add_column(column, justify="right" if column != "layer" else "left")
    for layer, row in summary["layers"].items():
        mark = " *" if layer == summary["best_layer"] else ""
        table.add_row(
            layer + mark,
            *(_fmt(row[k]) for k in ("median_r", "median_r_split", "median_ev", "median_ceiled")),
            str(row["n_neuroids"]),
        )
    console = Console()
    console.print(table)
    for line in headline_lines(summary):
        console.print(line)


def headline_lines(summary: dict) -> list[str]:
    """The sentences under the table that say what the headline number is."""
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
    floor = summary["reliability_floor"]
    bounds = summary.get("noise_ceiling")
    if summary["score_kind"] == "ceiled" and bounds:
        lines.append(
            f"score {_fmt(summary['score'])}: mean over {bounds['n_subjects']} subjects of the {bounds['method']} "
            f"similarity / the {bounds['bound']} bound of the noise ceiling (Nili et al. 2014); noise ceiling "
            f"{_fmt(bounds['lower'])} (lower, leave one subject out) to {_fmt(bounds['upper'])} (upper)"
        )
    elif summary["score_kind"] == "ceiled":
        lines.append(
            f"score {_fmt(summary['score'])}: median ceiled score (signed fraction of explainable variance) "
            f"over {summary['n_reliable']} neuroids with split-half reliability >= {floor:g}; "
            f"median ceiling {_fmt(summary['ceiling']['median'])}"
        )
    else:
        lines.append(
            f"score {_fmt(summary['score'])}: UNCORRECTED {summary.get('site_aggregate', 'median')} per-split r "
            f"({summary['score_note']}); "
            f"not comparable with ceiled scores"
        )
    lines.append(f"{summary['elapsed_s']:.1f} s")
    return lines


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def register(app: typer.Typer) -> None:
    app.command("score")(score_command)
