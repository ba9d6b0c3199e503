"""``brainbench cache show|verify|clear``: what ``$BRAINBENCH_HOME`` holds, checked or removed."""

from __future__ import annotations

import json
from typing import Annotated

import typer

KIND_HELP = "data, activations, assemblies, scores, results or hashes (default: all)"

cache_app = typer.Typer(
    help="Inspect, hash-check or clear the caches under BRAINBENCH_HOME.",
    no_args_is_help=True,
)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1000
    return f"{value:,.1f} TB"  # pragma: no cover


@cache_app.command("show")
def show(
    kind: Annotated[str | None, typer.Argument(help=KIND_HELP, show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Files and size of each kind of cache under BRAINBENCH_HOME."""
    from brainbench.cli import cache_contents

    rows = cache_contents.summary(cache_contents.check_kind(kind))
    home = str(cache_contents.home_dir())
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "home": home,
                    "kinds": {
                        r.kind: {"files": r.files, "bytes": r.bytes, "orphaned_temporaries": r.orphans} for r in rows
                    },
                }
            )
        )
        return
    typer.echo(f"BRAINBENCH_HOME = {home}")
    typer.echo(f"{'kind':<12} {'files':>8} {'size':>11}")
    for row in rows:
        extra = f"  ({row.orphans} orphaned temporary files)" if row.orphans else ""
        typer.echo(f"{row.kind:<12} {row.files:>8} {_size(row.bytes):>11}{extra}")
    typer.echo(f"{'total':<12} {sum(r.files for r in rows):>8} {_size(sum(r.bytes for r in rows)):>11}")


@cache_app.command("verify")
def verify(
    kind: Annotated[str | None, typer.Argument(help=KIND_HELP, show_default=False)] = None,
    fix: Annotated[bool, typer.Option("--fix", help="remove bad artifacts (they are rebuilt on next use)")] = False,
) -> None:
    """Check every cached artifact against its recorded sha256; report bad ones (exit 1 if any remain).

    Without --fix nothing but orphaned temporary files of dead processes is removed.
    Results files cannot be rebuilt and are never removed.
    """
    from brainbench.cli import cache_contents

    report = cache_contents.verify(cache_contents.check_kind(kind), fix=fix)
    for path in report.orphans_removed:
        typer.echo(f"removed orphaned temporary file {path}")
    for problem in report.problems:
        typer.secho(str(problem), fg=typer.colors.GREEN if problem.fixed else typer.colors.RED, err=True)
    checked = ", ".join(f"{n} {k}" for k, n in report.checked.items())
    bad = len(report.unresolved)
    typer.echo(f"checked {checked or 'nothing'}: {len(report.problems)} bad, {bad} left.")
    if bad:
        raise typer.Exit(code=1)


@cache_app.command("clear")
def clear(
    kind: Annotated[str | None, typer.Argument(help=KIND_HELP, show_default=False)] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
) -> None:
    """Delete one kind of cache (or all) under BRAINBENCH_HOME; never anything outside it."""
    from brainbench.cli import cache_contents

    kinds = cache_contents.check_kind(kind)
    rows = cache_contents.summary(kinds)
    total = sum(r.bytes for r in rows)
    what = ", ".join(kinds)
    home = cache_contents.home_dir()
    if not yes and not typer.confirm(f"delete {what} under {home} ({_size(total)})?", default=False):
        typer.echo("nothing deleted.")
        raise typer.Exit(code=1)
    removed = cache_contents.clear(kinds)
    typer.echo(f"deleted {_size(total)} ({len(removed)} folders or files) of {what} under {home}.")


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")
