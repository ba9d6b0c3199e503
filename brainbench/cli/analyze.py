"""``brainbench analyze ANALYSIS MODEL BENCHMARK [BENCHMARK ...]`` and ``brainbench analyze --list``.

Heavy libraries (torch, xarray, matplotlib) are imported inside the command, so
``brainbench list`` stays cheap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from brainbench.errors import BrainbenchError


def _parse_params(items: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are read as JSON when they parse (numbers, true/false), else strings."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BrainbenchError(f"--param {item!r} must look like key=value, e.g. --param n_boot=200.")
        try:
            params[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip()] = value
    return params


def _split_list(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def analyze_command(
    analysis: Annotated[str | None, typer.Argument(help="analysis id (see --list)", show_default=False)] = None,
    model: Annotated[
        str | None,
        typer.Argument(
            help="model id, e.g. alexnet-untrained; with --arch a checkpoint file, folder or quoted glob",
            show_default=False,
        ),
    ] = None,
    benchmarks: Annotated[
        list[str] | None,
        typer.Argument(
            help="one or more benchmark ids or aliases; their neuroids are pooled, keeping each one's region",
            show_default=False,
        ),
    ] = None,
    list_analyses: Annotated[bool, typer.Option("--list", help="list the registered analyses and exit")] = False,
    readout: Annotated[
        list[str] | None,
        typer.Option("--readout", help="readout id (repeat or comma-separate to compare several in regime-comparison)"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="folder for netCDF data, PNG+SVG figures, summary.md and summary.json")
    ] = None,
    layers: Annotated[str | None, typer.Option(help="comma-separated layers (default: all)")] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="analysis parameter key=value, e.g. n_boot=200 (repeatable)")
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of splits, bootstraps and permutations")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    no_cache: Annotated[bool, typer.Option("--no-cache", help="recompute scores and activations")] = False,
    store: Annotated[
        str | None,
        typer.Option(
            help="results store the scores are read from and recorded in (default $BRAINBENCH_STORE or "
            "$BRAINBENCH_HOME/results.sqlite)"
        ),
    ] = None,
    arch: Annotated[
        str | None,
        typer.Option(
            help="architecture of the checkpoint(s) MODEL names (e.g. torchvision/resnet18); "
            "several checkpoints: the trajectory analysis",
        ),
    ] = None,
) -> None:
    """Run an analysis of MODEL over one or more BENCHMARKs and write data, figures and a summary."""
    from brainbench.registry import get_registry

    registry = get_registry()
    if list_analyses:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="analyses", title_justify="left", header_style="bold")
        table.add_column("id", style="cyan", no_wrap=True)
        table.add_column("description")
        for entry in registry.entries("analyses"):
            table.add_row(entry.id, entry.description)
        Console().print(table)
        return
    if not analysis or not model or not benchmarks:
        raise BrainbenchError(
            "usage: brainbench analyze ANALYSIS MODEL BENCHMARK [BENCHMARK ...] [--out DIR]; "
            "see brainbench analyze --list for the analyses."
        )
    # unknown ids and bad values fail here, before anything is loaded or scored: the benchmarks and
    # readouts of every pass now (not when their pass comes); the model, its layers and the other
    # options by the first pass's boundary check (brainbench.scoring.arguments.check_request)
    from brainbench.scoring.arguments import check_device, check_out_dir, check_seed, split_ids

    registry.analysis(analysis)
    for benchmark in benchmarks:
        registry.benchmark(benchmark)
    if arch is not None:
        _analyze_checkpoints(
            analysis, model, list(benchmarks), arch, readout, out, layers, param, seed, device, no_cache, store
        )
        return
    readouts = _split_list(readout)
    if readout and not readouts:
        raise BrainbenchError("--readout names nothing; give readout ids, or leave --readout out.")
    for readout_id in readouts or []:
        registry.readout(readout_id)
    layer_list = split_ids(layers, "--layers")
    params = _parse_params(param or [])
    check_seed(seed)
    check_device(device)
    out_dir = check_out_dir(out) or Path(f"brainbench-{analysis}-{model}")
    import matplotlib

    matplotlib.use("Agg")  # this command only writes files: never open a window (headless machines, CI)
    from brainbench.analyses import analyze

    result = analyze(
        analysis,
        model,
        list(benchmarks),
        readouts=readouts,
        layers=layer_list,
        params=params,
        out=out_dir,
        seed=seed,
        device=device,
        progress=True,
        use_cache=not no_cache,
        registry=registry,
        store=store,
    )
    names = [path.name for path in result.written.values()]
    typer.echo(f"{analysis}: wrote {len(names)} files to {out_dir}: {', '.join(names)}")
    result.close()


def _analyze_checkpoints(
    analysis: str,
    pattern: str,
    benchmarks: list[str],
    arch: str,
    readout: list[str] | None,
    out: Path | None,
    layers: str | None,
    param: list[str] | None,
    seed: int,
    device: str,
    no_cache: bool,
    store: str | None = None,
) -> None:
    """``brainbench analyze ANALYSIS CHECKPOINTS BENCHMARK --arch ARCH``."""
    from brainbench.registry import get_registry
    from brainbench.scoring.arguments import check_device, check_out_dir, check_seed, split_ids

    get_registry().model(arch)
    readouts = _split_list(readout)
    if readouts and len(readouts) > 1:
        raise BrainbenchError("a checkpoint analysis uses one readout; pass a single --readout.")
    check_seed(seed)
    check_device(device)
    out_dir = check_out_dir(out) or Path(f"brainbench-{analysis}-{Path(pattern).stem.replace('*', '')}")
    params = _parse_params(param or [])
    import matplotlib

    matplotlib.use("Agg")
    from brainbench.analyses.runner import analyze_checkpoints

    result = analyze_checkpoints(
        analysis,
        pattern,
        benchmarks,
        arch=arch,
        readout=readouts[0] if readouts else None,
        layers=split_ids(layers, "--layers"),
        params=params,
        out=out_dir,
        seed=seed,
        device=device,
        use_cache=not no_cache,
        store=store,
    )
    names = [path.name for path in result.written.values()]
    typer.echo(f"{analysis}: wrote {len(names)} files to {out_dir}: {', '.join(names)}")
    result.close()


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze_command)
