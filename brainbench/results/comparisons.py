"""Paired comparisons of models on the leaderboard: per benchmark, per mean, and all pairs of a benchmark.

Every comparison is a difference of two headlines whose draws come from the same
resamples of one benchmark's stored data (:mod:`brainbench.results.intervals`), so the
interval of the difference is a paired bootstrap. Families are corrected by Holm's
step-down method: the benchmarks (and means) of one ``compare`` call, or all pairs of
models on one benchmark (:func:`benchmark_matrix`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from brainbench.errors import BrainbenchError
from brainbench.results.intervals import Comparison, all_pairs, compare, holm, rank_labels, ranks
from brainbench.results.table import Leaderboard


@dataclass(frozen=True)
class Row:
    """One line of ``leaderboard compare``: what is compared and the comparison (None: why not)."""

    what: str
    a: float | None
    b: float | None
    comparison: Comparison | None
    note: str = ""


def _column_index(board: Leaderboard, benchmark: str) -> list[int]:
    return [k for k, c in enumerate(board.columns) if c.benchmark == benchmark or c.label == benchmark]


def compare_models(board: Leaderboard, model_a: str, model_b: str, benchmarks: list[str] | None = None) -> list[Row]:
    """``model_a - model_b`` on each benchmark both have a cell on (or those named), then the means.

    Raises:
        BrainbenchError: a model without a row, or a named benchmark without a column.
    """
    for model in (model_a, model_b):
        if model not in board.cells:
            known = ", ".join(board.models) or "none"
            raise BrainbenchError(f"model {model!r} has no leaderboard cell in this store (models: {known}).")
    if model_a == model_b:
        raise BrainbenchError("give two different models to compare.")
    if benchmarks:
        indices: list[int] = []
        for name in benchmarks:
            found = _column_index(board, name)
            if not found:
                known = ", ".join(sorted({c.benchmark for c in board.columns})) or "none"
                raise BrainbenchError(
                    f"benchmark {name!r} has no leaderboard column in this store (benchmarks: {known})."
                )
            indices.extend(k for k in found if k not in indices)  # a column named twice is one test of the family
    else:
        indices = [
            k for k in range(len(board.columns)) if board.cells[model_a][k] is not None and board.cells[model_b][k]
        ]
    rows: list[Row] = []
    for k in indices:
        label = board.columns[k].label
        cell_a, cell_b = board.cells[model_a][k], board.cells[model_b][k]
        a = None if cell_a is None else cell_a["score"]
        b = None if cell_b is None else cell_b["score"]
        draws_a, draws_b = board.cell_draws(model_a, k), board.cell_draws(model_b, k)
        if a is None or b is None:
            rows.append(Row(label, a, b, None, "not scored for both"))
        elif draws_a is None or draws_b is None:
            note = board.cell_note(model_a, k) or board.cell_note(model_b, k) or "no interval"
            rows.append(Row(label, a, b, None, note))
        else:
            rows.append(Row(label, a, b, compare(model_a, model_b, a, b, draws_a, draws_b)))
    if not benchmarks:
        for region in board.regions:
            rows.append(
                _mean_row(
                    f"{region} mean",
                    board.region_mean(model_a, region),
                    board.region_mean(model_b, region),
                    board.region_draws(model_a, region),
                    board.region_draws(model_b, region),
                    model_a,
                    model_b,
                )
            )
        rows.append(
            _mean_row(
                "overall",
                board.overall(model_a),
                board.overall(model_b),
                board.overall_draws(model_a),
                board.overall_draws(model_b),
                model_a,
                model_b,
            )
        )
    # Holm over the benchmark rows (the means are summaries of them, reported unadjusted)
    family = [i for i, r in enumerate(rows) if r.comparison is not None and not _is_mean(r.what, board)]
    adjusted = holm([rows[i].comparison for i in family])  # type: ignore[misc]
    for i, comparison in zip(family, adjusted, strict=True):
        rows[i] = Row(rows[i].what, rows[i].a, rows[i].b, comparison, rows[i].note)
    return rows


def _is_mean(what: str, board: Leaderboard) -> bool:
    return what == "overall" or what in {f"{r} mean" for r in board.regions}


def _mean_row(what: str, a: Any, b: Any, draws_a: Any, draws_b: Any, model_a: str, model_b: str) -> Row:
    if a is None or b is None:
        return Row(what, a, b, None, "not scored for both")
    if draws_a is None or draws_b is None:
        return Row(what, a, b, None, "a cell of the mean has no interval")
    return Row(what, a, b, compare(model_a, model_b, a, b, draws_a, draws_b))


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def render_comparisons(rows: list[Row], model_a: str, model_b: str, as_json: bool = False) -> str:
    """The rows of :func:`compare_models` as an aligned table with a footnote, or JSON."""
    if as_json:
        return (
            json.dumps(
                [
                    {
                        "what": r.what,
                        model_a: r.a,
                        model_b: r.b,
                        "difference": None if r.comparison is None else r.comparison.difference,
                        "interval": None if r.comparison is None else [r.comparison.low, r.comparison.high],
                        "p": None if r.comparison is None else r.comparison.p,
                        "p_holm": None if r.comparison is None else r.comparison.p_holm,
                        "note": r.note,
                    }
                    for r in rows
                ],
                indent=2,
            )
            + "\n"
        )
    header = ["", model_a, model_b, "difference", "95% interval", "p", "p (Holm)", "verdict"]
    table = [header]
    for r in rows:
        c = r.comparison
        if c is None:
            table.append([r.what, _num(r.a), _num(r.b), "–", "–", "–", "–", r.note])
            continue
        verdict = ("A higher" if c.difference > 0 else "B higher") if c.significant else "not different"
        table.append(
            [
                r.what,
                _num(r.a),
                _num(r.b),
                f"{c.difference:+.3f}",
                f"[{c.low:+.3f}, {c.high:+.3f}]",
                _p(c.p),
                _p(c.p_holm),
                verdict,
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i in (0, 7) else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(
        f"A = {model_a}, B = {model_b}; difference A - B on the same bootstrap resamples of each benchmark's stored "
        "data (no refit). p: two-sided, from the bootstrap standard error of the difference; p (Holm): Holm-corrected "
        "over the benchmark rows; verdict at alpha 0.05 after correction (means: unadjusted)."
    )
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Matrix:
    """All pairs of models on one leaderboard column.

    Attributes:
        models: the models with a cell and draws, best first.
        pairs: ``(row model, column model) -> comparison`` (row minus column), Holm-corrected
            over the column's pairs.
        ranks: rank label per model (``=k`` when shared).
        left_out: models with a cell but no interval, with the reason.
    """

    models: list[str]
    pairs: dict[tuple[str, str], Comparison]
    ranks: dict[str, str]
    left_out: dict[str, str]


def benchmark_matrix(board: Leaderboard, index: int) -> Matrix:
    """Every pair of models on column ``index``: paired differences, Holm-corrected, and shared ranks."""
    named = {}
    left_out = {}
    for model in board.models:
        cell = board.cells[model][index]
        if cell is None:
            continue
        values = board.cell_draws(model, index)
        if values is None or cell["score"] is None:
            left_out[model] = board.cell_note(model, index) or "no interval"
            continue
        named[model] = (float(cell["score"]), values)
    order = sorted(named, key=lambda m: -named[m][0])
    named = {m: named[m] for m in order}
    found = all_pairs(named)
    pairs: dict[tuple[str, str], Comparison] = {}
    for c in found:
        pairs[(c.first, c.second)] = c
        pairs[(c.second, c.first)] = Comparison(c.second, c.first, -c.difference, -c.high, -c.low, c.p, c.p_holm)
    rank_of = ranks(order, found)
    previous = 1
    for m in order:  # monotone in score order
        rank_of[m] = previous = max(previous, rank_of[m])
    return Matrix(order, pairs, rank_labels(rank_of), left_out)
