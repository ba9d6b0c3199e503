"""The ``brainbench`` command line.

Importing this module must stay cheap: ``brainbench list`` and ``describe`` never
import torch. Command modules listed in ``COMMAND_MODULES`` add their commands through
``register(app)`` and import heavy libraries inside the command functions.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from brainbench.errors import BrainbenchError, ManifestWarning
from brainbench.registry.manifest import KINDS, singular

if TYPE_CHECKING:
    from brainbench.registry.registry import ManifestProblem


class _Group(TyperGroup):
    """The root group: before parsing, boolean flags of every command lose their ``<bool>`` metavar."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        _hide_flag_metavars(self)
        return super().main(*args, **kwargs)


def _hide_flag_metavars(command: Any) -> None:
    """Show flags as ``--json``, not ``--json <bool>``: they take no value (``--help`` included).

    ``command`` is a click command or group, of click itself or of the click typer vendors.
    """
    context = command.context_class(command)
    for param in command.get_params(context):  # also creates the --help option, then cached
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _hide_flag_metavars(sub)


app = typer.Typer(
    cls=_Group,
    name="brainbench",
    help="Score how well deep-network layers predict real neurons. Every model, assembly, "
    "readout, metric, analysis and benchmark is a plugin declared in a manifest.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

COMMAND_MODULES: list[str] = [
    "brainbench.cli.score",
    "brainbench.cli.leaderboard",
    "brainbench.cli.plugin",
    "brainbench.cli.analyze",
    "brainbench.cli.cache",
    "brainbench.cli.layers",
]


def _error(message: str) -> None:
    _print_error(message)
    raise typer.Exit(code=2)


@app.command("list")
def list_entries(
    kind: Annotated[
        str | None, typer.Argument(help=f"one of: {', '.join(KINDS)} (default: all)", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    problems: Annotated[
        bool, typer.Option("--problems", help="show the installed plugin manifests that were skipped, and why")
    ] = False,
) -> None:
    """List registered plugins and benchmarks (without importing any plugin code)."""
    from brainbench.registry import get_registry

    if kind is not None and kind not in KINDS:
        import difflib

        close = difflib.get_close_matches(kind, KINDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        _error(f"unknown kind {kind!r}{hint}; kinds are {', '.join(KINDS)}.")
    if problems:
        if kind is not None:
            _error("--problems lists skipped manifests of every kind; drop the kind or drop --problems.")
        with warnings.catch_warnings():  # listed below, not warned about as well
            warnings.simplefilter("ignore", ManifestWarning)
            registry = get_registry()
        _list_problems(registry.skipped, as_json)
        return
    from brainbench.registry.registry import MODEL_FAMILIES

    registry = get_registry()
    kinds = [kind] if kind else list(KINDS)
    if as_json:
        payload: dict[str, list[dict[str, Any]]] = {
            k: [
                {"id": e.id, "description": e.description, "aliases": e.aliases, "source": e.source}
                | (_where_recorded(registry, e) if k == "benchmarks" else {})
                for e in registry.entries(k)
            ]
            for k in kinds
        }
        if "models" in payload:  # a family is one row: its id pattern (nothing is imported to list it)
            payload["models"] += [
                {
                    "id": f.pattern,
                    "description": f.description,
                    "aliases": [],
                    "source": f"model family {f.prefix}",
                    "family": True,
                }
                for f in MODEL_FAMILIES.values()
            ]
        typer.echo(json.dumps(payload, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for k in kinds:
        entries = registry.entries(k)
        if not entries:
            continue
        table = Table(title=k, title_justify="left", show_header=True, header_style="bold")
        table.add_column("id", style="cyan", no_wrap=True)
        if k == "benchmarks":
            table.add_column("species", no_wrap=True)
            table.add_column("region", no_wrap=True)
        table.add_column("description")
        for entry in entries:
            where = list(_where_recorded(registry, entry).values()) if k == "benchmarks" else []
            table.add_row(entry.id, *where, _headline(entry.description))
        if k == "models":
            for family in MODEL_FAMILIES.values():
                table.add_row(family.pattern, _headline(family.description))
        console.print(table)


def _where_recorded(registry: Any, entry: Any) -> dict[str, str]:
    """A benchmark's species (its own, else its assembly's) and region, as ``list`` shows them."""
    return {"species": registry.benchmark_species(entry), "region": entry.region}


def _list_problems(skipped: list[ManifestProblem], as_json: bool) -> None:
    """The skipped manifests: file (or entry point), key, problem and the entry point that declared it."""
    if as_json:
        payload = [{"file": p.file, "key": p.key, "problem": p.problem, "declared_by": p.declared_by} for p in skipped]
        typer.echo(json.dumps({"problems": payload}, indent=2))
        return
    if not skipped:
        typer.echo("no manifest was skipped: every installed manifest loaded.")
        return
    noun = "manifest was" if len(skipped) == 1 else "manifests were"
    typer.echo(f"{len(skipped)} installed plugin {noun} skipped (fix or uninstall them):")
    for problem in skipped:
        typer.echo(f"\n{problem.file}")
        if problem.key:
            typer.echo(f"  key          {problem.key}")
        typer.echo(f"  problem      {problem.problem}")
        if problem.declared_by != problem.file:
            typer.echo(f"  declared by  {problem.declared_by}")


def _headline(text: str, width: int = 90) -> str:
    """The first clause of a description, at most ``width`` characters (``describe`` shows all).

    A clause ends at a ``;`` outside parentheses; a cut never leaves a parenthesis open
    (an unfinished parenthetical is dropped whole).
    """
    depth, end = 0, len(text)
    for k, char in enumerate(text):
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
        if char == ";" and depth <= 0:
            end = k
            break
    first = text[:end].rstrip()
    if len(first) <= width:
        return first
    short = first[: width - 3]
    if " " in short and first[len(short)] != " ":  # end on a whole word
        short = short[: short.rfind(" ")]
    while short.count("(") > short.count(")") or short.count("[") > short.count("]"):
        short = short[: max(short.rfind("("), short.rfind("["))]
    return short.rstrip(" ,;:-") + "..."


@app.command()
def describe(
    entry_id: Annotated[str, typer.Argument(help="id or alias of any registered entry")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show everything a manifest declares about one id (without importing plugin code)."""
    from brainbench.registry import get_registry
    from brainbench.registry.manifest import BenchmarkEntry

    registry = get_registry()
    kind, entry = registry.find(entry_id)
    data = entry.model_dump(mode="json")
    data = {"kind": singular(kind), **data}
    if isinstance(entry, BenchmarkEntry) and entry.kind == "composite":
        from brainbench.scoring.composite import describe_aggregate

        assert entry.aggregate is not None
        data["aggregate_described"] = describe_aggregate(entry.aggregate)
        if entry.parts:
            data["parts_resolved"] = {
                p: {
                    k: v
                    for k, v in registry.assembly(registry.benchmark(p).assembly).model_dump(mode="json").items()
                    if k in ("description", "info")
                }
                for p in entry.parts
            }
    if isinstance(entry, BenchmarkEntry) and entry.assembly:
        assembly = registry.assembly(entry.assembly)
        data["assembly_entry"] = {
            k: v
            for k, v in assembly.model_dump(mode="json").items()
            if k in ("description", "citation", "license", "url", "species", "info")
        }
        data["readout_resolved"] = dict(
            zip(("python_name", "solver", "params"), registry.resolve_readout(entry.readout), strict=True)
        )
        data["species"] = registry.benchmark_species(entry)
        for field, metric_id in (("ceiling_entry", entry.ceiling), ("headline_entry", entry.headline)):
            if metric_id:  # how the ceiling is computed and what the headline is, with their citations
                metric = registry.metric(metric_id)
                data[field] = {"id": metric.id, "description": metric.description, "citation": metric.citation}
                data[field] |= {"params": metric.params} if metric.params else {}
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{data['kind']} {entry.id}", title_justify="left", show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    for key, text in describe_rows(data, entry):
        table.add_row(key, text)
    Console().print(table)


def describe_rows(data: dict[str, Any], entry: Any) -> list[tuple[str, str]]:
    """``describe``'s human rows: only the fields that apply, each in words (``--json`` has them all)."""
    from brainbench.registry.manifest import BenchmarkEntry

    rows: list[tuple[str, str]] = []
    for key, value in data.items():
        if key == "id" or _empty(value):
            continue
        if key == "split" and isinstance(entry, BenchmarkEntry):
            rows.append((key, _split_words(entry)))
        elif key == "stimulus_placement" and isinstance(entry, BenchmarkEntry):
            if entry.stimulus_placement.placement is not None:  # else the model's own placement applies
                rows.append(("stimulus placement", _placement_words(entry)))
        elif key == "site_aggregate" and isinstance(entry, BenchmarkEntry):
            continue  # said by the headline row
        elif key == "headline" and isinstance(entry, BenchmarkEntry):
            rows.append((key, _headline_words(entry)))
        elif key == "preprocessing" and isinstance(value, dict):
            rows.append((key, _words(_preprocessing_that_applies(value))))
        elif key in _SUB_ENTRIES and isinstance(value, dict):
            prefix = _SUB_ENTRIES[key]
            # the headline row says in words what the headline is; its entry adds only the citation
            shown = ("citation",) if key == "headline_entry" else tuple(k for k in value if k != "id")
            rows += [(f"{prefix} {k.replace('_', ' ')}", _words(value[k])) for k in shown if not _empty(value.get(k))]
        else:
            rows.append((key, _words(value)))
    return rows


#: describe's nested entries, shown as rows "<prefix> <field>" (the ceiling's and headline's ids are rows already)
_SUB_ENTRIES = {
    "assembly_entry": "assembly",
    "readout_resolved": "readout",
    "ceiling_entry": "ceiling",
    "headline_entry": "headline",
}


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, dict)) and not value)


def _words(value: Any) -> str:
    """A declared value in words: ``key value`` pairs and lists joined by commas, no JSON."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            if _empty(item):
                continue
            text = _words(item)
            parts.append(f"{key} ({text})" if isinstance(item, (dict, list)) else f"{key} {text}")
        return ", ".join(parts)
    if isinstance(value, list):
        return ", ".join(_words(item) for item in value)
    return str(value)


def _preprocessing_that_applies(value: dict[str, Any]) -> dict[str, Any]:
    """A model's preprocessing without the canvas fields where no canvas is drawn."""
    shown = dict(value)
    if shown.get("canvas_fraction", 1.0) == 1.0:
        shown.pop("canvas_fraction", None)  # the image fills the input
        if shown.get("placement") != "pad":
            shown.pop("background", None)  # nothing is drawn on a background
    return shown


def _split_words(entry: Any) -> str:
    """A benchmark's split in words, with only the fields its kind uses."""
    split = entry.split
    if split.kind == "kfold":
        text = f"{split.n_splits}-fold cross-validation over stimuli"
    else:
        percent = f"{100 * split.test_fraction:g}%"
        text = (
            f"one random split holding out {percent} of the stimuli"
            if split.n_splits == 1
            else f"{split.n_splits} random splits, each holding out {percent} of the stimuli"
        )
    if split.stratify:
        text += f", stratified by {split.stratify}"
    return f"{text} (seed {split.seed})"


def _placement_words(entry: Any) -> str:
    placement = entry.stimulus_placement
    text = f"{placement.placement} (overrides the model's own)"
    if placement.canvas_fraction is not None:
        text += f", the image spanning {placement.canvas_fraction:g} of the canvas"
    return text


def _headline_words(entry: Any) -> str:
    """The benchmark's headline id and what it is, from its declaration and its metric's params."""
    from brainbench.metrics.ceiled import CEILED, ReliabilityRule, describe_headline, headline_formula
    from brainbench.registry import get_registry

    try:
        metric = get_registry().metric(entry.headline)
    except BrainbenchError:
        return str(entry.headline)
    params = metric.params
    rule = ReliabilityRule.from_params(params)
    regression = entry.kind == "regression"
    text = describe_headline(
        CEILED,
        aggregate=entry.site_aggregate,
        unit="neuroid" if regression else "site",
        reliability_floor=rule.floor,
        reliability_alpha=rule.alpha,
        tested=regression and rule.alpha is not None and entry.ceiling is not None,
        formula=headline_formula(metric.python_name),
    )
    return f"{entry.headline}: {text}"


@app.command()
def fetch(
    benchmark_id: Annotated[str, typer.Argument(help="benchmark (or assembly) id whose data to download")],
) -> None:
    """Download (or find in the cache or BRAINBENCH_MIRROR) every data file of a benchmark."""
    from brainbench.registry import get_registry, load_object
    from brainbench.registry.manifest import AssemblyEntry
    from brainbench.scoring.benchmark import resolve_benchmark

    registry = get_registry()
    kind, entry = registry.find(benchmark_id)
    if kind == "benchmarks" and getattr(entry, "kind", "") == "composite":
        from brainbench.data.fetch import fetch_all
        from brainbench.scoring.composite import remote_files

        for path in fetch_all(remote_files(entry, registry), progress=True):  # type: ignore[arg-type]
            typer.echo(str(path))
        return
    if kind == "benchmarks":
        source = resolve_benchmark(benchmark_id, registry).source
    elif isinstance(entry, AssemblyEntry):
        source = load_object(entry.python_name)(**entry.params)
    else:
        _error(
            f"{benchmark_id!r} is one of the {kind}, not a benchmark or assembly; "
            "pass a benchmark id (see `brainbench list benchmarks`)."
        )
    paths = source.fetch(progress=True)
    for path in paths:
        typer.echo(str(path))


@app.command()
def version() -> None:
    """Print brainbench's version."""
    import brainbench

    typer.echo(brainbench.__version__)


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: user errors become one red sentence and exit code 2."""
    try:
        with _manifest_warnings_on_one_line():
            code = app(args=argv, standalone_mode=False, prog_name="brainbench")
    except BrainbenchError as error:
        _print_error(str(error))
        return 2
    except typer.Exit as done:
        return done.exit_code
    except KeyboardInterrupt:
        typer.secho("interrupted; nothing half-written was kept.", fg=typer.colors.YELLOW, err=True)
        return 130
    except Exception as error:
        usage, abort, no_args_help = _parser_exceptions()
        if isinstance(error, no_args_help):  # `brainbench` or `brainbench leaderboard` alone: the help
            error.show()
            return 2
        if isinstance(error, usage):
            _print_error(_usage_sentence(error))
            return 2
        if isinstance(error, abort):
            typer.secho("aborted; nothing was changed.", fg=typer.colors.YELLOW, err=True)
            return 1
        raise
    return code if isinstance(code, int) else 0


@contextlib.contextmanager
def _manifest_warnings_on_one_line() -> Iterator[None]:
    """Show a skipped plugin manifest as ``warning: <message>``, one line of stderr (other warnings as usual)."""
    previous = warnings.showwarning

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        if issubclass(category, ManifestWarning):
            typer.secho(f"warning: {' '.join(str(message).split())}", fg=typer.colors.YELLOW, err=True)
        else:
            previous(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _print_error(message: str) -> None:
    """``error: <message>`` on one line of stderr, whatever line breaks the message had."""
    typer.secho(f"error: {' '.join(message.split())}", fg=typer.colors.RED, err=True)


def _parser_exceptions() -> tuple[tuple[type[Any], ...], tuple[type[Any], ...], tuple[type[Any], ...]]:
    """``(usage errors, aborts, no-arguments help)`` of the parser typer uses.

    Recent typer versions vendor click as ``typer._click`` and raise its exceptions, not
    click's; older ones raise click's own. Both are recognised.
    """
    modules = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            continue
    usage = tuple(m.ClickException for m in modules)
    abort = (typer.Abort, *(m.Abort for m in modules if hasattr(m, "Abort")))
    no_args_help = tuple(m.NoArgsIsHelpError for m in modules if hasattr(m, "NoArgsIsHelpError"))
    return usage, abort, no_args_help


def _usage_sentence(error: Exception) -> str:
    """A parser error as one sentence that ends by pointing at the command's ``--help``."""
    format_message = getattr(error, "format_message", None)  # click's (or typer's vendored click's) exceptions
    text = format_message() if callable(format_message) else str(error)
    message = " ".join(text.split()).rstrip(".")
    message = message[:1].lower() + message[1:]
    context = getattr(error, "ctx", None)
    command = context.command_path if context is not None else "brainbench"
    return f"{message}; `{command} --help` shows the usage."


if __name__ == "__main__":
    sys.exit(main())
