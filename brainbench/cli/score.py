"""``brainbench score MODEL BENCHMARK``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # pragma: no cover
    from rich.table import Table

    from brainbench.registry.registry import Registry
    from brainbench.results.store import ResultStore


def score_command(
    model: Annotated[
        str,
        typer.Argument(
            help="model id (e.g. alexnet-untrained), or with --arch a checkpoint file, folder or quoted glob "
            "('runs/ckpt_*.pt': a training trajectory)"
        ),
    ],
    benchmark: Annotated[str, typer.Argument(help="benchmark id or alias, e.g. cowley2023-V4")],
    layers: Annotated[str | None, typer.Option(help="comma-separated layers (default: all the model declares)")] = None,
    readout: Annotated[str | None, typer.Option(help="readout id overriding the benchmark's, e.g. spatial, s2")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    seed: Annotated[int, typer.Option(help="seed of splits, ceiling halvings and stochastic readouts")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print exactly one JSON object on stdout")] = False,
    out: Annotated[Path | None, typer.Option(help="also write the per-neuroid, per-split score as netCDF here")] = None,
    no_cache: Annotated[
        bool,
        typer.Option("--no-cache", help="recompute activations even if cached, and score a stored run again"),
    ] = False,
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
    arch: Annotated[
        str | None,
        typer.Option(
            help="architecture of the checkpoint(s) MODEL names, as a model id: torchvision/resnet18, "
            "timm/<arch>, hf/<model id>, or a declared model",
        ),
    ] = None,
    tokens: Annotated[
        str | None,
        typer.Option(
            help="how transformer tokens (T x D) become features: cls, mean (patch tokens), flatten (all) or "
            "grid (patches as D x h x w, for spatial readouts); default: the model's",
        ),
    ] = None,
) -> None:
    """Score every layer of MODEL on BENCHMARK; print a per-layer table (or --json).

    A run already in the results store (same content key) is shown from the store, not
    scored again; --no-cache scores it again and replaces it.

    With --arch, MODEL is a checkpoint file, or a folder or glob of checkpoints of one
    training run: each is scored and stored as its own run, in training order.
    """
    from brainbench.registry import get_registry

    rule = None
    if tokens is not None:  # the token rules live with the models (torch): imported only when asked for
        from brainbench.models.tokens import check_rule

        rule = check_rule(tokens)
    registry = get_registry()
    # only what is the command line's own is checked here; ids, layers, device, seed, batch size
    # and --out are checked once, by run (brainbench.scoring.arguments.check_request), before any work
    if arch is None:
        _refuse_checkpoint_without_arch(model, registry)
    else:
        _score_checkpoints(
            model,
            benchmark,
            registry,
            arch=arch,
            tokens=rule,
            layers=layers,
            readout=readout,
            device=device,
            seed=seed,
            as_json=as_json,
            out=out,
            no_cache=no_cache,
            batch_size=batch_size,
            no_store=no_store,
            store=store,
            threads=threads,
        )
        return
    from brainbench.errors import BrainbenchError
    from brainbench.results.runs import Execution, Request, run
    from brainbench.scoring.arguments import split_ids
    from brainbench.scoring.composite import is_composite
    from brainbench.scoring.summary import summarize

    layer_list = split_ids(layers, "--layers")
    target = check_store_options(no_store, store)
    if rule is not None and is_composite(benchmark, registry):
        raise BrainbenchError(
            f"--tokens applies to one benchmark's run; score the parts of composite {benchmark!r} one by one to use it."
        )
    outcome = run(
        Request(
            model,
            benchmark,
            layers=None if layer_list is None else tuple(layer_list),
            readout=readout,
            seed=seed,
            tokens=rule,  # the run builds the model with it (the rule enters the run key)
        ),
        Execution(
            device=device, progress=True, use_cache=not no_cache, batch_size=batch_size, threads=threads, out=out
        ),
        store=target,
        registry=registry,
        keep_unrecorded=True,
    )
    summary = summarize(outcome.dataset, elapsed_s=_process_age())
    if outcome.stored:
        typer.echo(
            f"run {outcome.key[:12]} is already in the results store {target.path if target else ''}: shown from "
            "there, not scored again (--no-cache scores it again)",
            err=True,
        )
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        _print_table(summary)
        if out is not None:
            typer.echo(f"per-neuroid scores written to {out}")
    if outcome.record_error is not None:  # e.g. a full disk: the numbers are shown above, then the error
        raise BrainbenchError(f"the score above was not stored: {outcome.record_error}") from outcome.record_error


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


def _score_checkpoints(
    pattern: str,
    benchmark: str,
    registry: Registry,
    *,
    arch: str,
    tokens: Any,
    layers: str | None,
    readout: str | None,
    device: str,
    seed: int,
    as_json: bool,
    out: Path | None,
    no_cache: bool,
    batch_size: int,
    no_store: bool,
    store: str | None,
    threads: int | None,
) -> None:
    """``brainbench score CHECKPOINTS BENCHMARK --arch ARCH``: one checkpoint, or a trajectory."""
    from brainbench.results.trajectory import score_checkpoints
    from brainbench.scoring import summarize, write_score
    from brainbench.scoring.arguments import check_out_dir, split_ids

    # the ids, device, seed and batch size are checked by score_checkpoints before it reads any file
    check_out_dir(out)
    checked = check_store_options(no_store, store)  # --no-store with --store, or a broken store: before any work
    if not Path(pattern).expanduser().exists() and not _is_glob(pattern):
        from brainbench.errors import BrainbenchError

        try:
            registry.model(pattern)
        except BrainbenchError:
            pass
        else:
            raise BrainbenchError(
                f"--arch names the architecture of a checkpoint file, but {pattern!r} is a model id; drop --arch to "
                "score that model, or pass a checkpoint file, folder or glob."
            )
    datasets = score_checkpoints(
        pattern,  # a file, folder or glob: found, hashed and checked there, before any scoring
        benchmark,
        arch=arch,
        layers=split_ids(layers, "--layers"),
        tokens=tokens,
        readout=readout,
        seed=seed,
        device=device,
        batch_size=batch_size,
        use_cache=not no_cache,
        progress=True,
        store=checked if checked is not None else store,
        record=not no_store,
        registry=registry,
        threads=threads,
    )
    if out is not None:
        from brainbench.identifiers import model_file_name

        for dataset in datasets:
            write_score(dataset, out / f"{model_file_name(dataset.attrs['model'])}__{benchmark}.nc")
    summaries = [summarize(d) for d in datasets]
    for summary, dataset in zip(summaries, datasets, strict=True):
        summary["checkpoint"] = {
            "file": dataset.attrs["checkpoint"],
            "index": int(dataset.attrs["checkpoint_index"]),
            "step": None if int(dataset.attrs["checkpoint_step"]) < 0 else int(dataset.attrs["checkpoint_step"]),
        }
    if len(summaries) == 1:
        if as_json:
            typer.echo(json.dumps(summaries[0]))
        else:
            _print_table(summaries[0])
        return
    if as_json:
        typer.echo(json.dumps({"arch": arch, "benchmark": benchmark, "checkpoints": summaries}))
        return
    _print_trajectory(summaries, arch, benchmark)


def _is_glob(text: str) -> bool:
    import glob

    return glob.has_magic(text)


def _print_trajectory(summaries: list[dict], arch: str, benchmark: str) -> None:
    """One row per checkpoint: its headline score and chosen layer."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(summaries)} checkpoints of {arch} on {benchmark}", title_justify="left")
    for column in ("#", "checkpoint", "step", "score", "chosen layer", "model id"):
        table.add_column(column, justify="right" if column in ("#", "step", "score") else "left")
    for summary in summaries:
        ckpt = summary["checkpoint"]
        table.add_row(
            str(ckpt["index"]),
            ckpt["file"],
            "-" if ckpt["step"] is None else str(ckpt["step"]),
            _fmt(summary["score"]),
            summary["best_layer"],
            summary["model"],
        )
    console = Console(width=160)
    console.print(table)
    kind = summaries[0]["score_kind"]
    console.print(
        f"score: the benchmark's headline ({kind}) at the layer chosen on training stimuli; each checkpoint is "
        "stored as its own run (`brainbench analyze trajectory ... --arch ...` plots them)"
    )


def _process_age() -> float | None:
    """Wall seconds since this command's process started (Linux), else None (the call's own time is used)."""
    import os

    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


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


def _refuse_checkpoint_without_arch(model: str, registry: Registry) -> None:
    """A MODEL that names files, not an id, needs --arch: one sentence saying so."""
    import glob

    from brainbench.errors import BrainbenchError

    if model in registry.ids("models"):
        return  # a declared model: nothing more to import (the checkpoint module imports torch)
    from brainbench.models.checkpoint import SUFFIXES

    path = Path(model).expanduser()
    if path.exists() or path.suffix in SUFFIXES or glob.has_magic(model):
        raise BrainbenchError(
            f"{model!r} names checkpoint files, not a model id; name the architecture they were saved from with "
            "--arch, e.g. --arch torchvision/resnet18."
        )


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
    if "parts" in summary:
        groups = ", ".join(f"{g} {_fmt(v['value'])}" for g, v in summary["groups"].items())
        label = "UNCORRECTED " if summary["score_kind"] != CEILED else ""
        lines.append(f"score {_fmt(summary['score'])}: {label}{summary['score_note']}")
        lines.append(f"per {summary['aggregate']['group_by']}: {groups}; own score u = uncorrected (no trials)")
        with_trials = sum(p["n_neuroids"] for p in summary["parts"].values() if p["median_ceiling"] is not None)
        lines.append(
            f"per-layer median ceiled: over the {with_trials} neuroids of parts with trials only; "
            "median r columns: all neuroids of all parts pooled"
        )
        lines.append(f"{summary['elapsed_s']:.1f} s")
        return lines
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
