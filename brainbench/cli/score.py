"""``brainbench score MODEL BENCHMARK``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr
    from rich.table import Table


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
    store: Annotated[
        str | None,
        typer.Option(
            help="results store PATH or sqlite:///PATH (default $BRAINBENCH_STORE or $BRAINBENCH_HOME/results.sqlite)",
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
    from brainbench.registry import get_registry
    from brainbench.scoring import score, summarize
    from brainbench.scoring.composite import is_composite

    if is_composite(benchmark, get_registry()) and not no_store:
        dataset = _score_composite_stored(
            model, benchmark, layer_list, readout, device, seed, out, no_cache, batch_size, store, threads
        )
    else:
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
        if not no_store:
            from brainbench.results.store import record

            record(dataset, store)
    summary = summarize(dataset, elapsed_s=_process_age())
    if as_json:
        typer.echo(json.dumps(summary))
        return
    _print_table(summary)
    if out is not None:
        typer.echo(f"per-neuroid scores written to {out}")


def _score_composite_stored(
    model: str,
    benchmark: str,
    layers: list[str] | None,
    readout: str | None,
    device: str,
    seed: int,
    out: Path | None,
    no_cache: bool,
    batch_size: int,
    store: str | None,
    threads: int | None,
) -> xr.Dataset:
    """A composite through the results store: each part is found there or scored and stored as its own run."""
    from brainbench.identifiers import model_file_name
    from brainbench.registry import get_registry
    from brainbench.results.store import scored
    from brainbench.scoring import check_composite_options, write_score

    check_composite_options(benchmark, readout=readout)
    dataset = scored(
        model,
        benchmark,
        store=store,
        use_cache=not no_cache,
        layers=layers,
        device=device,
        seed=seed,
        progress=True,
        batch_size=batch_size,
        threads=threads,
    )
    if out is not None:
        write_score(dataset, out / f"{model_file_name(model)}__{get_registry().benchmark(benchmark).id}.nc")
    return dataset


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
    if "parts" in summary:
        console.print(_parts_table(summary))
    for line in headline_lines(summary):
        console.print(line)


def _parts_table(summary: dict) -> Table:
    """A composite's parts: per part its value in the aggregate, own headline and ceiling."""
    from rich.table import Table

    group_by = summary["aggregate"]["group_by"]
    table = Table(title=f"parts of {summary['benchmark']}", title_justify="left")
    table.add_column("part", no_wrap=True)
    for column in (group_by, "neuroids", "images", "median r (per split)", "own score", "median ceiling"):
        table.add_column(column, justify="left" if column == group_by else "right")
    for name, part in summary["parts"].items():
        kind = "" if part["score_kind"] == "ceiled" else " u"
        table.add_row(
            name,
            part["group"],
            str(part["n_neuroids"]),
            str(part["n_stimuli"]),
            _fmt(part["median_r"]),
            _fmt(part["score"]) + kind,
            _fmt(part["median_ceiling"]),
        )
    return table


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
    if "parts" in summary:
        groups = ", ".join(f"{g} {_fmt(v['value'])}" for g, v in summary["groups"].items())
        label = "UNCORRECTED " if summary["score_kind"] != "ceiled" else ""
        lines.append(f"score {_fmt(summary['score'])}: {label}{summary['score_note']}")
        lines.append(f"per {summary['aggregate']['group_by']}: {groups}; own score u = uncorrected (no trials)")
        with_trials = sum(p["n_neuroids"] for p in summary["parts"].values() if p["median_ceiling"] is not None)
        lines.append(
            f"per-layer median ceiled: over the {with_trials} neuroids of parts with trials only; "
            "median r columns: all neuroids of all parts pooled"
        )
    elif summary["score_kind"] == "ceiled":
        lines.append(
            f"score {_fmt(summary['score'])}: median ceiled score (signed fraction of explainable variance) "
            f"over {summary['n_reliable']} neuroids with split-half reliability >= {floor:g}; "
            f"median ceiling {_fmt(summary['ceiling']['median'])}"
        )
    else:
        lines.append(
            f"score {_fmt(summary['score'])}: UNCORRECTED median per-split r ({summary['score_note']}); "
            f"not comparable with ceiled scores"
        )
    lines.append(f"{summary['elapsed_s']:.1f} s")
    return lines


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def register(app: typer.Typer) -> None:
    app.command("score")(score_command)
