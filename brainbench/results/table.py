"""The leaderboard: models x benchmarks of ceiled scores, rendered from the results store.

A cell is the headline score of a run of the benchmark's **declared protocol** (every
layer the model declares, the benchmark's readout with its declared params, seed 0, the
benchmark's declared splits; see :mod:`brainbench.scoring.protocol`): the median over
reliable neuroids of the ceiled score ``sign(r) r^2 / ceiling`` (:mod:`brainbench.metrics.ceiled`)
at the layers chosen on training stimuli only. A run without reliable neuroids has an
uncorrected headline (median per-split r): its cell is marked ``u`` and left out of the
means, which average ceiled scores only. Runs stored before the version-2 headline
(``score_kind`` ``legacy``) never fill a cell. Runs of any
other protocol (a layer subset, another seed or readout) and old runs whose protocol is
unknown are kept in the store and listed by :func:`list_runs`, never shown in a cell.

Columns are (benchmark, version) -- plus the readout when a benchmark's declared runs
used more than one readout configuration -- so a new benchmark version is a new column,
never a silent change of an old one. The store keeps one run per content key (a re-run
with the same inputs replaces it), so several declared runs in one cell mean the inputs
changed: new weights, new data, changed declarations or another brainbench version.
The cell then shows the most recent of them and is marked (``*`` in text, markdown and
HTML; ``declared_runs`` > 1 and ``other_runs`` in JSON).

Means: a region is a species and a brain region (:func:`region_group`: ``macaque IT`` apart
from ``human IT``); a region's mean is the mean over that region's benchmarks *that have a score*;
the overall mean is the mean of the region means (each region weighs the same). A
missing score is shown as missing and never counted as zero; ``coverage`` says how many
of the columns each mean rests on. A benchmark counts once in the means and the coverage,
by its newest column (highest version, then the readout configuration of the newest run):
an older column's cells are shown, marked ``o``, and left out, so no model is averaged or
ranked on one benchmark twice, and every mean compares models on the same declaration.

Intervals and ranks (:mod:`brainbench.results.intervals`): with the runs' bootstrap
draws, every cell, region mean and overall mean carries a 95% interval (a mean's draws
are the means of its cells' draws, resample by resample). Rows are ranked by coverage
first -- a row with more scored cells always ranks above one with fewer, so a missing
cell never helps -- then by the overall mean; rows of equal coverage whose overall means
do not differ significantly (paired bootstrap, Holm-corrected over the pairs of that
coverage, alpha 0.05) share a rank, shown ``=k``; a row without draws is placed against the
others by its overall mean.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from brainbench.metrics.ceiled import CEILED, SCORE_KINDS
from brainbench.results.species import UNKNOWN, species_of

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from brainbench.results.intervals import Draws

FORMATS = ("table", "md", "csv", "html", "json")
RUN_FORMATS = ("table", "csv", "json")
MISSING = "–"
MARK = "*"
UNCORRECTED_MARK = "u"
OLDER_MARK = "o"
UNCORRECTED_NOTE = (
    f"{UNCORRECTED_MARK} uncorrected headline: the benchmark declares no ceiling (a single RDM, data without "
    "repetitions) or too few of the run's neuroids are reliable, so the cell is the declared uncorrected "
    "metric (per-split r, sign(r) r^2 or the RDM similarity; `brainbench leaderboard runs` names it); "
    "not in the means."
)
OLDER_NOTE = (
    f"{OLDER_MARK} an older column of a benchmark (an earlier version, or an earlier declared readout "
    "configuration): shown, not in the means or the coverage, which count each benchmark once, by its newest "
    "column (highest version, then the configuration of the newest run)."
)
MARK_NOTE = (
    f"{MARK} newest of several declared-protocol runs with different content keys (weights, data, "
    "declarations or brainbench version changed); `brainbench leaderboard runs MODEL BENCHMARK` "
    "lists them all."
)


@dataclass(frozen=True)
class Column:
    benchmark: str
    version: int
    readout: str
    readout_params: str
    region: str
    show_readout: bool = False
    #: the readout's params are in the label too: another column of this benchmark uses the same readout
    show_params: bool = False
    #: the benchmark's newest column (highest version, then newest run): the only one in the means and coverage
    current: bool = True

    @property
    def label(self) -> str:
        """``bench vN``, ``bench vN [readout]`` or ``bench vN [readout {params}]``: unique among the columns."""
        text = f"{self.benchmark} v{self.version}"
        if self.show_params:
            return f"{text} [{self.readout} {compact_params(self.readout_params)}]"
        return f"{text} [{self.readout}]" if self.show_readout else text


def compact_params(params: str) -> str:
    """A stored ``readout_params`` JSON text in its shortest canonical form (as stored if it is not JSON)."""
    try:
        return json.dumps(json.loads(params or "{}"), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return str(params)


@dataclass
class Leaderboard:
    """Scores by model and column; ``cells[model][i]`` is the run row of column ``i`` or None.

    ``others[model][i]``: the older declared runs of that cell (other content keys), newest first.
    """

    columns: list[Column]
    models: list[str]
    cells: dict[str, list[dict[str, Any] | None]]
    regions: list[str] = field(default_factory=list)
    others: dict[str, list[list[dict[str, Any]]]] = field(default_factory=dict)
    #: bootstrap draws by content key (empty: no intervals, ranks by point estimates)
    draws: dict[str, Draws] = field(default_factory=dict)
    #: rank label per model (``"2"`` or ``"=2"`` when shared), set by :func:`build`
    rank_labels: dict[str, str] = field(default_factory=dict)

    def marked(self, model: str, index: int) -> bool:
        """Whether the cell shows the newest of several declared runs."""
        return bool(self.others.get(model) and self.others[model][index])

    def uncorrected(self, model: str, index: int) -> bool:
        """Whether the cell's headline is uncorrected (no ceiling, or too few reliable neuroids)."""
        cell = self.cells[model][index]
        return cell is not None and cell.get("score_kind") != CEILED

    def older(self, model: str, index: int) -> bool:
        """Whether the cell is of an older column of its benchmark (an earlier version or declared readout)."""
        return self.cells[model][index] is not None and not self.columns[index].current

    def in_means(self, model: str, index: int) -> bool:
        """Whether a cell enters the means: a finite ceiled score in its benchmark's newest column."""
        cell = self.cells[model][index]
        return (
            cell is not None
            and _finite(cell["score"])
            and not self.uncorrected(model, index)
            and self.columns[index].current
        )

    def region_mean(self, model: str, region: str) -> float | None:
        values = [
            c["score"]
            for k, (c, col) in enumerate(zip(self.cells[model], self.columns, strict=True))
            if col.region == region and c is not None and self.in_means(model, k)
        ]
        return sum(values) / len(values) if values else None

    # intervals -------------------------------------------------------------------
    def cell_draws(self, model: str, index: int) -> np.ndarray | None:
        """``(B,)`` draws of a cell, or None without an interval."""
        cell = self.cells[model][index]
        found = self.draws.get(cell["content_key"]) if cell is not None else None
        return found.values if found is not None and found.ok else None

    def cell_interval(self, model: str, index: int) -> tuple[float, float] | None:
        from brainbench.results.intervals import interval_of

        values = self.cell_draws(model, index)
        return None if values is None else interval_of(values)

    def cell_note(self, model: str, index: int) -> str:
        """Why a scored cell has no interval ("" when it has one or no draws were asked for)."""
        cell = self.cells[model][index]
        found = self.draws.get(cell["content_key"]) if cell is not None else None
        return found.reason if found is not None else ""

    def region_draws(self, model: str, region: str) -> np.ndarray | None:
        """Draws of a region mean: the mean of its cells' draws per resample (None if a cell has none)."""
        import numpy as np

        parts = []
        for k, col in enumerate(self.columns):
            if col.region == region and self.in_means(model, k):
                values = self.cell_draws(model, k)
                if values is None:
                    return None
                parts.append(values)
        return np.mean(parts, axis=0) if parts and len({p.size for p in parts}) == 1 else None

    def overall_draws(self, model: str) -> np.ndarray | None:
        import numpy as np

        parts = []
        for region in self.regions:
            if self.region_mean(model, region) is None:
                continue
            values = self.region_draws(model, region)
            if values is None:
                return None
            parts.append(values)
        return np.mean(parts, axis=0) if parts and len({p.size for p in parts}) == 1 else None

    def mean_interval(self, model: str, region: str | None = None) -> tuple[float, float] | None:
        """Interval of a region mean (or of the overall mean when ``region`` is None)."""
        from brainbench.results.intervals import interval_of

        values = self.overall_draws(model) if region is None else self.region_draws(model, region)
        return None if values is None else interval_of(values)

    def overall(self, model: str) -> float | None:
        means = [m for m in (self.region_mean(model, r) for r in self.regions) if m is not None]
        return sum(means) / len(means) if means else None

    def coverage(self, model: str) -> tuple[int, int]:
        """``(scored, benchmarks)``: each benchmark counted once, by its newest column."""
        current = [k for k, col in enumerate(self.columns) if col.current]
        have = sum(1 for k in current if (c := self.cells[model][k]) is not None and _finite(c["score"]))
        return have, len(current)


def _finite(value: Any) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def _cell_key(run: dict[str, Any]) -> tuple:
    return run["model"], run["benchmark"], int(run["benchmark_version"]), run["readout"], run["readout_params"]


def is_declared(run: dict[str, Any]) -> bool:
    """Whether a run row may fill a cell: the benchmark's declared protocol and a current headline."""
    return run.get("protocol") == "declared" and run.get("score_kind") in SCORE_KINDS


def build(runs: list[dict[str, Any]], draws: dict[str, Draws] | None = None) -> Leaderboard:
    """The leaderboard of run rows (``ResultStore.runs()``); only declared-protocol runs count.

    Args:
        runs: the store's run rows.
        draws: bootstrap draws by content key (:func:`brainbench.results.intervals.cached_draws`);
            without them there are no intervals and ranks follow the point estimates.
    """
    history: dict[tuple, list[dict[str, Any]]] = {}
    for run in sorted((r for r in runs if is_declared(r)), key=lambda r: (r["created_at"], r["content_key"])):
        history.setdefault(_cell_key(run), []).append(run)
    latest = {key: found[-1] for key, found in history.items()}
    configs: dict[tuple[str, int], set[tuple[str, str]]] = {}
    for _model, bench, version, readout, params in latest:
        configs.setdefault((bench, version), set()).add((readout, params))
    # each benchmark's newest column: its highest version, then the configuration with the newest run
    newest: dict[tuple[str, int, str, str], str] = {}
    for key, run in latest.items():
        newest[key[1:]] = max(newest.get(key[1:], ""), str(run["created_at"]))
    current = {
        bench: max((k for k in newest if k[0] == bench), key=lambda k: (k[1], newest[k], k)) for bench, *_ in newest
    }
    columns = []
    for (bench, version), readouts in configs.items():
        for readout, params in sorted(readouts):
            shown = next(r for k, r in latest.items() if k[1:] == (bench, version, readout, params))
            # one readout under two param sets (its declared params changed) needs the params to tell them apart
            same_readout = sum(1 for other, _ in readouts if other == readout) > 1
            columns.append(
                Column(
                    bench,
                    version,
                    readout,
                    params,
                    region_group(shown),
                    len(readouts) > 1,
                    same_readout,
                    current[bench] == (bench, version, readout, params),
                )
            )
    columns.sort(key=lambda c: (c.region, c.benchmark, c.version, c.readout, c.readout_params))
    models = sorted({k[0] for k in latest})
    keys = {m: [(m, c.benchmark, c.version, c.readout, c.readout_params) for c in columns] for m in models}
    cells = {m: [latest.get(k) for k in keys[m]] for m in models}
    others = {m: [history.get(k, [])[-2::-1] for k in keys[m]] for m in models}
    board = Leaderboard(columns, models, cells, sorted({c.region for c in columns}), others, dict(draws or {}))
    rank(board)
    return board


def shown_runs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The run rows the leaderboard's cells show (those that need intervals)."""
    board = build(runs)
    return [cell for cells in board.cells.values() for cell in cells if cell is not None]


def rank(board: Leaderboard) -> None:
    """Order ``board.models`` and set ``board.rank_labels`` (rule in the module docstring).

    More scored cells (coverage) first, so a missing cell never helps; then the overall
    mean (rows without one last). Within one coverage, a row's rank is 1 + the rows of
    higher coverage + the rows of its coverage whose overall mean is significantly higher
    (Holm over that coverage's pairs of rows with draws); where either row of a pair has
    no draws, the other counts when its mean is higher. Ranks never decrease down the table.
    """
    from brainbench.results.intervals import all_pairs, rank_labels, ranks

    def order(m: str) -> tuple:
        overall = board.overall(m)
        return (-board.coverage(m)[0], overall is None, -(overall or 0.0), m)

    board.models.sort(key=order)
    rank_of: dict[str, int] = {}
    by_coverage: dict[int, list[str]] = {}
    for model in board.models:
        by_coverage.setdefault(board.coverage(model)[0], []).append(model)
    ahead = 0
    for group in by_coverage.values():
        named = {}
        for m in group:
            overall, values = board.overall(m), board.overall_draws(m)
            if overall is not None and values is not None:
                named[m] = (overall, values)
        # pairs with draws on both sides are tested (Holm over them); a pair with a row without draws
        # (its run cannot be resampled) is ordered by the means, without holding the tested ties back
        significant = ranks(list(named), all_pairs(named))
        for position, m in enumerate(group):
            mine = board.overall(m)
            untested = sum(
                1
                for other in group[:position]
                if not (m in named and other in named)
                and (theirs := board.overall(other)) is not None
                and (mine is None or theirs > mine)
            )
            rank_of[m] = ahead + significant.get(m, 1) + untested
        ahead += len(group)
    previous = 1
    for m in board.models:  # monotone down the table
        rank_of[m] = previous = max(previous, rank_of[m])
    board.rank_labels = rank_labels(rank_of)


def _interval_json(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [interval[0], interval[1]]


def records(board: Leaderboard) -> list[dict[str, Any]]:
    """One JSON-able dict per model: every column's score (None when missing) and the means.

    ``rank`` is the rank label (``"=2"`` when shared, see :func:`rank`); every score and
    mean has an ``interval`` ([low, high], or None without draws).
    """
    out = []
    for model in board.models:
        have, total = board.coverage(model)
        row: dict[str, Any] = {
            "rank": board.rank_labels.get(model, ""),
            "model": model,
            "overall": board.overall(model),
            "overall_interval": _interval_json(board.mean_interval(model)),
            "coverage": f"{have}/{total}",
        }
        row["regions"] = {r: board.region_mean(model, r) for r in board.regions}
        row["region_intervals"] = {r: _interval_json(board.mean_interval(model, r)) for r in board.regions}
        row["benchmarks"] = {}
        for index, (col, cell) in enumerate(zip(board.columns, board.cells[model], strict=True)):
            others = board.others.get(model, [[]] * len(board.columns))[index]
            row["benchmarks"][col.label] = (
                None
                if cell is None
                else {
                    "score": cell["score"],
                    "interval": _interval_json(board.cell_interval(model, index)),
                    "interval_note": board.cell_note(model, index),
                    "best_layer": cell["best_layer"],
                    "content_key": cell["content_key"],
                    "region": col.region,
                    "benchmark": col.benchmark,
                    "version": col.version,
                    "readout": col.readout,
                    "seed": cell["seed"],
                    "created_at": cell["created_at"],
                    "score_kind": cell.get("score_kind"),
                    "n_reliable": cell.get("n_reliable"),
                    "declared_runs": 1 + len(others),
                    "other_runs": [
                        {"content_key": o["content_key"], "score": o["score"], "created_at": o["created_at"]}
                        for o in others
                    ],
                }
            )
        out.append(row)
    return out


def _header(board: Leaderboard) -> list[str]:
    return (
        ["rank", "model", "overall"]
        + [f"{r} mean" for r in board.regions]
        + [c.label for c in board.columns]
        + ["coverage"]
    )


def _values(board: Leaderboard, model: str) -> list[Any]:
    have, total = board.coverage(model)
    cells = [None if c is None else c["score"] for c in board.cells[model]]
    return (
        [board.rank_labels.get(model, ""), model, board.overall(model)]
        + [board.region_mean(model, r) for r in board.regions]
        + cells
        + [f"{have}/{total}"]
    )


def _intervals(board: Leaderboard, model: str) -> list[tuple[float, float] | None]:
    """Per value of :func:`_values`: its interval, or None."""
    return (
        [None, None, board.mean_interval(model)]
        + [board.mean_interval(model, r) for r in board.regions]
        + [board.cell_interval(model, i) for i in range(len(board.columns))]
        + [None]
    )


def _marks(board: Leaderboard, model: str) -> list[str]:
    """Per value of :func:`_values`: its marks (``u`` uncorrected, ``*`` newest of several)."""
    prefix = 3 + len(board.regions)
    cells = [cell_marks(board, model, i) for i in range(len(board.columns))]
    return [""] * prefix + cells + [""]


def cell_marks(board: Leaderboard, model: str, index: int) -> str:
    """A cell's marks: ``u`` uncorrected, ``o`` an older column of its benchmark, ``*`` newest of several runs."""
    return (
        (UNCORRECTED_MARK if board.uncorrected(model, index) else "")
        + (OLDER_MARK if board.older(model, index) else "")
        + (MARK if board.marked(model, index) else "")
    )


def _notes(marks: list[list[str]]) -> list[str]:
    used = "".join("".join(row) for row in marks)
    pairs = ((UNCORRECTED_MARK, UNCORRECTED_NOTE), (OLDER_MARK, OLDER_NOTE), (MARK, MARK_NOTE))
    return [note for mark, note in pairs if mark in used]


def region_group(run: dict[str, Any]) -> str:
    """The group a run's column is averaged in: species and region (``macaque IT``, ``human IT``).

    A region that already names the species (``mouse``) or a run whose species is unknown
    keeps the region alone.
    """
    region = str(run.get("region") or "unknown")
    species = species_of(run)
    if species == UNKNOWN or species.lower() in region.lower():
        return region
    return f"{species} {region}"


def column_aggregates(board: Leaderboard) -> dict[str, tuple[str, str, str]]:
    """Column label -> ``(aggregate, unit, headline)`` as the benchmark declares them.

    ``aggregate``: median or mean; ``unit``: neuroids or sites; ``headline``: the id of the
    ceiled metric that makes each unit's score (e.g. ``ceiled-r2``, ``ceiling-ratio``).

    Read from the stored spec of the runs the column shows, so every label says what the
    number is, whatever the plugins installed now declare.
    """
    from brainbench.results.intervals import aggregate_of, run_kind

    out: dict[str, tuple[str, str, str]] = {}
    for index, col in enumerate(board.columns):
        for model in board.models:
            cell = board.cells[model][index]
            if cell is None:
                continue
            try:
                spec = json.loads(cell.get("spec") or "{}")
            except ValueError:
                spec = {}
            unit = "sites" if run_kind(cell) == "representation" else "neuroids"
            out[col.label] = (aggregate_of(spec), unit, str((spec.get("headline") or {}).get("id") or "ceiled-r2"))
            break
    return out


def score_note(board: Leaderboard) -> str:
    """The footnote saying what a cell is, from each benchmark's declared headline and aggregate."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for label, value in column_aggregates(board).items():
        groups.setdefault(value, []).append(label)
    what = "; ".join(
        f"{agg} over reliable {unit} of {headline} for {', '.join(labels)}"
        for (agg, unit, headline), labels in groups.items()
    )
    return (
        "Scores: each benchmark's declared headline, a ceiled score per neuroid or site summarised as the "
        f"benchmark declares ({what or 'no columns'}; ceiled-r2: sign(r) r^2 / ceiling, the signed fraction "
        "of explainable variance; ceiling-ratio: similarity / its noise ceiling; `brainbench describe ID` "
        "says more), at the layers chosen on training stimuli, runs of each benchmark's declared protocol "
        f"only; {MISSING} = not scored (never counted as zero); means over the scored columns only, each "
        "benchmark by its newest column."
    )


RANK_NOTE = (
    "Rank: rows with more scored cells (coverage) rank above rows with fewer, so a missing cell never "
    "helps; then by overall mean. With intervals, rows of equal coverage whose overall means do not differ "
    "significantly (paired bootstrap on the same resamples, Holm-corrected over the pairs, alpha 0.05) "
    "share a rank, shown =k."
)


def interval_note(board: Leaderboard) -> str | None:
    """The footnote saying what the intervals cover (None when the board has no draws)."""
    from brainbench.results.intervals import COVERS, N_BOOT, is_composite

    if not board.draws:
        return None
    missing = sorted(
        {
            f"{board.columns[i].label} ({board.cell_note(m, i).removeprefix('no interval: ').rstrip('.')})"
            for m in board.models
            for i in range(len(board.columns))
            if board.cells[m][i] is not None and board.cell_note(m, i)
        }
    )
    units: dict[str, list[str]] = {}
    for i, col in enumerate(board.columns):
        found = next(
            (
                board.draws[c["content_key"]]
                for m in board.models
                if (c := board.cells[m][i]) and c["content_key"] in board.draws
            ),
            None,
        )
        if found is not None and found.ok:
            units.setdefault(" and ".join({"stimulus": "stimuli"}.get(u, f"{u}s") for u in found.units), []).append(
                col.label
            )
    resampled = "; ".join(f"{what} for {', '.join(labels)}" for what, labels in units.items())
    composites = sorted(
        {
            board.columns[i].label
            for m in board.models
            for i in range(len(board.columns))
            if (c := board.cells[m][i]) is not None and is_composite(c) and board.cell_draws(m, i) is not None
        }
    )
    text = (
        f"[low, high]: {COVERS} ({N_BOOT} resamples, seeded from each run's data identity, the same "
        "resamples for every model of a benchmark); a mean's interval averages its cells' draws per resample."
        + (f" Resampled: {resampled}." if resampled else "")
        + (
            f" A composite's cell ({', '.join(composites)}) resamples each of its parts as that part's own cell "
            "does and summarises every draw by the composite's declared aggregate; which parts (sessions, "
            "animals) were recorded is held fixed."
            if composites
            else ""
        )
    )
    if missing:
        text += " No interval: " + "; ".join(missing) + "."
    return text


def footnotes(board: Leaderboard, marks: list[list[str]]) -> list[str]:
    """Every footnote the table needs, in the order shown (text, markdown and HTML alike); none when empty."""
    if not board.models:
        return []
    notes = [score_note(board), RANK_NOTE]
    interval = interval_note(board)
    if interval:
        notes.append(interval)
    return notes + _notes(marks)


def _fmt(value: Any, marked: str = "", interval: tuple[float, float] | None = None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    if interval is not None:
        text += f" [{interval[0]:.3f}, {interval[1]:.3f}]"
    return text + marked


def render(board: Leaderboard, fmt: str = "table") -> str:
    """The leaderboard as text in one of :data:`FORMATS` (``table`` is plain aligned text)."""
    if fmt not in FORMATS:
        from brainbench.errors import BrainbenchError

        raise BrainbenchError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    marks = [_marks(board, m) for m in board.models]
    notes = footnotes(board, marks)
    if fmt == "json":
        return json.dumps(
            {
                "columns": [c.__dict__ | {"label": c.label} for c in board.columns],
                "regions": board.regions,
                "models": records(board),
                "notes": notes,
            },
            indent=2,
        )
    header = _header(board)
    rows = [_values(board, m) for m in board.models]
    intervals = [_intervals(board, m) for m in board.models]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        bounded = header[2:-1]
        writer.writerow(header + [f"{h} {end}" for h in bounded for end in ("low", "high")])
        for row, spans in zip(rows, intervals, strict=True):  # missing stays an empty cell, never 0
            values = list(row) + [None if span is None else span[e] for span in spans[2:-1] for e in (0, 1)]
            writer.writerow(["" if v is None else (repr(v) if isinstance(v, float) else v) for v in values])
        return buffer.getvalue()
    cells = [
        [_fmt(v, k, i) for v, k, i in zip(row, mark, spans, strict=True)]
        for row, mark, spans in zip(rows, marks, intervals, strict=True)
    ]
    if fmt == "md":
        lines = [
            "| " + " | ".join(header) + " |",
            "|" + "|".join(":---" if h == "model" else "---:" for h in header) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in cells]
        for note in notes:
            lines.append("")
            lines.append(note)
        return "\n".join(lines) + "\n"
    if fmt == "html":
        return _html(header, rows, cells, notes)
    text = [[str(h) for h in header]] + cells
    widths = [max(len(r[i]) for r in text) for i in range(len(header))]
    out = [
        "  ".join(cell.ljust(w) if i == 1 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths, strict=True)))
        for r in text
    ]
    out.insert(1, "  ".join("-" * w for w in widths))
    for note in notes:
        out.append("")
        out.extend(textwrap.wrap(note, width=100))
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


def sort_value(value: Any) -> str:
    """A cell's ``data-v`` for the sorting script: a number, a name, or "" when missing (sorted last)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, str) and value.lstrip("=").isdigit():
        return value.lstrip("=")  # a rank label, "=2" sorts as 2
    return repr(value) if isinstance(value, float) else str(value)


def _html(header: list[str], rows: list[list[Any]], cells: list[list[str]], notes: list[str]) -> str:
    head = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in header)
    body = []
    for row, texts in zip(rows, cells, strict=True):
        parts = []
        for value, text in zip(row, texts, strict=True):
            key = sort_value(value)
            cls = ' class="missing"' if key == "" else ""
            parts.append(f'<td data-v="{html.escape(key)}"{cls}>{html.escape(text)}</td>')
        body.append("<tr>" + "".join(parts) + "</tr>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>brainbench leaderboard</title>'
        f"<style>{_STYLE}</style></head><body>\n<h1>brainbench leaderboard</h1>\n"
        "<p>Click a column header to sort.</p>\n"
        f"<table><thead><tr>{head}</tr></thead><tbody>\n"
        + "\n".join(body)
        + "\n</tbody></table>\n"
        + "".join(f"<p>{html.escape(note)}</p>\n" for note in notes)
        + f"<script>{_SCRIPT}</script>\n</body></html>\n"
    )


# ---------------------------------------------------------------------------- every run
def list_runs(
    runs: list[dict[str, Any]], layers: dict[str, list[str]], model: str | None = None, benchmark: str | None = None
) -> list[dict[str, Any]]:
    """Every stored run (optionally of one model and/or benchmark), with what the table makes of it.

    Args:
        runs: ``ResultStore.runs()``.
        layers: ``ResultStore.layers_by_run()``.
    Returns:
        One JSON-able dict per run, ordered by model, benchmark, version and time, with
        ``protocol`` (declared / custom / unknown), ``protocol_detail`` and ``cell``:
        ``shown`` (the run a cell shows), ``superseded`` (declared, but a newer declared
        run with another content key fills the cell) or ``no`` (never in a cell).
    """
    board = build(runs)
    shown = {cell["content_key"] for cells in board.cells.values() for cell in cells if cell is not None}
    out = []
    for run in sorted(
        runs, key=lambda r: (r["model"], r["benchmark"], int(r["benchmark_version"]), r["created_at"], r["content_key"])
    ):
        if (model is not None and run["model"] != model) or (benchmark is not None and run["benchmark"] != benchmark):
            continue
        key = run["content_key"]
        cell = "shown" if key in shown else ("superseded" if is_declared(run) else "no")
        out.append(
            {
                "content_key": key,
                "model": run["model"],
                "benchmark": run["benchmark"],
                "version": int(run["benchmark_version"]),
                "readout": run["readout"],
                "readout_params": json.loads(run["readout_params"] or "{}"),
                "seed": run["seed"],
                "layers": layers.get(key, []),
                "protocol": run.get("protocol") or "unknown",
                "protocol_detail": json.loads(run.get("protocol_detail") or "{}"),
                "cell": cell,
                "score": run["score"],
                "best_layer": run["best_layer"],
                "created_at": run["created_at"],
            }
        )
    return out


def _layer_text(layers: list[str]) -> str:
    return ",".join(layers) if len(layers) <= 3 else f"{layers[0]}..{layers[-1]} ({len(layers)})"


def _detail_text(detail: dict[str, Any]) -> str:
    parts = []
    for name, value in detail.items():
        if name == "layers":
            value = _layer_text(value)
        elif name == "not_stored":
            value = "; ".join(value)
        elif isinstance(value, (dict, list)):
            value = json.dumps(value, sort_keys=True)
        parts.append(f"{name}={value}")
    return " ".join(parts)


def render_runs(rows: list[dict[str, Any]], fmt: str = "table") -> str:
    """The output of :func:`list_runs` as text in one of :data:`RUN_FORMATS`."""
    if fmt not in RUN_FORMATS:
        from brainbench.errors import BrainbenchError

        raise BrainbenchError(f"unknown format {fmt!r}; use one of {', '.join(RUN_FORMATS)}.")
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    header = [
        "content_key",
        "model",
        "benchmark",
        "readout",
        "seed",
        "layers",
        "protocol",
        "cell",
        "score",
        "best_layer",
        "created_at",
        "differs",
    ]
    values = [
        [
            r["content_key"],
            r["model"],
            f"{r['benchmark']} v{r['version']}",
            r["readout"],
            r["seed"],
            r["layers"],
            r["protocol"],
            r["cell"],
            r["score"],
            r["best_layer"],
            r["created_at"],
            r["protocol_detail"],
        ]
        for r in rows
    ]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for row in values:
            row[5] = ",".join(row[5])
            row[8] = "" if row[8] is None else repr(row[8])
            row[11] = json.dumps(row[11], sort_keys=True)
            writer.writerow(row)
        return buffer.getvalue()
    text = [header] + [
        [
            r[0][:12],
            r[1],
            r[2],
            r[3],
            str(r[4]),
            _layer_text(r[5]),
            r[6],
            r[7],
            _fmt(r[8]),
            r[9],
            r[10][:19],
            _detail_text(r[11]),
        ]
        for r in values
    ]
    widths = [max(len(r[i]) for r in text) for i in range(len(header))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in text]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out) + "\n"
