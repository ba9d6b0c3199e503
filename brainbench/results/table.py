"""The leaderboard: models x benchmarks of ceiled scores, rendered from the results store.

A cell is a run's headline score: the median over neuroids of ``r^2 / ceiling`` at the
layer chosen on training folds only. Columns are (benchmark, version) -- plus the
readout when a benchmark was scored with more than one readout configuration -- so a
new benchmark version is a new column, never a silent change of an old one. When a
cell has several runs (another seed, new weights), the most recent is shown.

Means: a region's mean is the mean over that region's benchmarks *that have a score*;
the overall mean is the mean of the region means (each region weighs the same). A
missing score is shown as missing and never counted as zero; ``coverage`` says how many
of the columns each mean rests on.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

FORMATS = ("table", "md", "csv", "html", "json")
MISSING = "–"


@dataclass(frozen=True)
class Column:
    benchmark: str
    version: int
    readout: str
    readout_params: str
    region: str
    show_readout: bool = False

    @property
    def label(self) -> str:
        text = f"{self.benchmark} v{self.version}"
        return f"{text} [{self.readout}]" if self.show_readout else text


@dataclass
class Leaderboard:
    """Scores by model and column; ``cells[model][i]`` is the run row of column ``i`` or None."""

    columns: list[Column]
    models: list[str]
    cells: dict[str, list[dict[str, Any] | None]]
    regions: list[str] = field(default_factory=list)

    def region_mean(self, model: str, region: str) -> float | None:
        values = [c["score"] for c, col in zip(self.cells[model], self.columns, strict=True)
                  if col.region == region and c is not None and _finite(c["score"])]
        return sum(values) / len(values) if values else None

    def overall(self, model: str) -> float | None:
        means = [m for m in (self.region_mean(model, r) for r in self.regions) if m is not None]
        return sum(means) / len(means) if means else None

    def coverage(self, model: str) -> tuple[int, int]:
        have = sum(1 for c in self.cells[model] if c is not None and _finite(c["score"]))
        return have, len(self.columns)


def _finite(value: Any) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def build(runs: list[dict[str, Any]]) -> Leaderboard:
    """The leaderboard of run rows (``ResultStore.runs()``)."""
    latest: dict[tuple, dict[str, Any]] = {}
    for run in sorted(runs, key=lambda r: r["created_at"]):
        key = (run["model"], run["benchmark"], int(run["benchmark_version"]), run["readout"], run["readout_params"])
        latest[key] = run
    configs: dict[tuple[str, int], set[tuple[str, str]]] = {}
    for _model, bench, version, readout, params in latest:
        configs.setdefault((bench, version), set()).add((readout, params))
    columns = []
    for (bench, version), readouts in configs.items():
        for readout, params in sorted(readouts):
            region = next(r["region"] for k, r in latest.items() if k[1:] == (bench, version, readout, params))
            columns.append(Column(bench, version, readout, params, region or "unknown", len(readouts) > 1))
    columns.sort(key=lambda c: (c.region, c.benchmark, c.version, c.readout, c.readout_params))
    models = sorted({k[0] for k in latest})
    cells = {m: [latest.get((m, c.benchmark, c.version, c.readout, c.readout_params)) for c in columns]
             for m in models}
    board = Leaderboard(columns, models, cells, sorted({c.region for c in columns}))
    # best overall first; models without any score last
    board.models.sort(key=lambda m: (board.overall(m) is None, -(board.overall(m) or 0.0), m))
    return board


def records(board: Leaderboard) -> list[dict[str, Any]]:
    """One JSON-able dict per model: every column's score (None when missing) and the means."""
    out = []
    for rank, model in enumerate(board.models, start=1):
        have, total = board.coverage(model)
        row: dict[str, Any] = {"rank": rank, "model": model, "overall": board.overall(model),
                               "coverage": f"{have}/{total}"}
        row["regions"] = {r: board.region_mean(model, r) for r in board.regions}
        row["benchmarks"] = {}
        for col, cell in zip(board.columns, board.cells[model], strict=True):
            row["benchmarks"][col.label] = None if cell is None else {
                "score": cell["score"], "best_layer": cell["best_layer"], "content_key": cell["content_key"],
                "region": col.region, "benchmark": col.benchmark, "version": col.version,
                "readout": col.readout, "seed": cell["seed"], "created_at": cell["created_at"]}
        out.append(row)
    return out


def _header(board: Leaderboard) -> list[str]:
    return (["rank", "model", "overall"] + [f"{r} mean" for r in board.regions]
            + [c.label for c in board.columns] + ["coverage"])


def _values(board: Leaderboard, model: str, rank: int) -> list[Any]:
    have, total = board.coverage(model)
    cells = [None if c is None else c["score"] for c in board.cells[model]]
    return ([rank, model, board.overall(model)] + [board.region_mean(model, r) for r in board.regions]
            + cells + [f"{have}/{total}"])


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def render(board: Leaderboard, fmt: str = "table") -> str:
    """The leaderboard as text in one of :data:`FORMATS` (``table`` is plain aligned text)."""
    if fmt not in FORMATS:
        from brainbench.errors import BrainbenchError

        raise BrainbenchError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if fmt == "json":
        return json.dumps({"columns": [c.__dict__ | {"label": c.label} for c in board.columns],
                           "regions": board.regions, "models": records(board)}, indent=2)
    header = _header(board)
    rows = [_values(board, m, k) for k, m in enumerate(board.models, start=1)]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for row in rows:  # missing stays an empty cell, never 0
            writer.writerow(["" if v is None else (repr(v) if isinstance(v, float) else v) for v in row])
        return buffer.getvalue()
    if fmt == "md":
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join(":---" if h == "model" else "---:" for h in header) + "|"]
        lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
        lines.append("")
        lines.append(f"Scores: median ceiled r^2 at the layer chosen on training folds; {MISSING} = not scored "
                     "(never counted as zero); means over the scored columns only.")
        return "\n".join(lines) + "\n"
    if fmt == "html":
        return _html(header, rows)
    text = [[str(h) for h in header]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in text) for i in range(len(header))]
    out = ["  ".join(cell.ljust(w) if i == 1 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths,
                                                                                                 strict=True)))
           for r in text]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out) + "\n"


_SCRIPT = """
document.querySelectorAll('th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var down = th.dataset.dir !== 'desc';
    th.closest('tr').querySelectorAll('th').forEach(function (h) { delete h.dataset.dir; });
    th.dataset.dir = down ? 'desc' : 'asc';
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
      if (x === '' && y === '') return 0;
      if (x === '') return 1;            // missing always last
      if (y === '') return -1;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
      return down ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; }
th, td { padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; }
td:nth-child(2), th:nth-child(2) { text-align: left; }
th { cursor: pointer; background: #f4f4f4; user-select: none; }
th[data-dir=desc]::after { content: ' \\25BC'; } th[data-dir=asc]::after { content: ' \\25B2'; }
td.missing { color: #999; }
"""


def _html(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for value in row:
            missing = value is None or (isinstance(value, float) and not math.isfinite(value))
            sort_value = "" if missing else (repr(value) if isinstance(value, float) else str(value))
            cls = ' class="missing"' if missing else ""
            cells.append(f'<td data-v="{html.escape(sort_value)}"{cls}>{html.escape(_fmt(value))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>brainbench leaderboard</title>"
        f"<style>{_STYLE}</style></head><body>\n<h1>brainbench leaderboard</h1>\n"
        "<p>Median ceiled score (r&sup2; / split-half ceiling) at the layer chosen on training folds. "
        f"{MISSING} = not scored, never counted as zero; means over scored columns only. "
        "Click a column header to sort.</p>\n"
        f"<table><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(body)
        + f"\n</tbody></table>\n<script>{_SCRIPT}</script>\n</body></html>\n"
    )
