"""A static website of the leaderboard, generated from the results store: plain HTML, CSS and SVG.

``brainbench leaderboard site --out DIR`` writes::

    DIR/index.html                  the leaderboard by species and region, sortable, with intervals
    DIR/style.css                   one stylesheet (responsive; no web fonts)
    DIR/benchmarks/<id>-v<N>.html   what the benchmark is, its per-layer profiles, the paired matrix
    DIR/models/<id>.html            a model's layers, scores, chosen layers and every run's provenance
    DIR/figures/<id>-v<N>.svg       the per-layer profile figure of a benchmark

No server, no build step, nothing fetched at view time (no external fonts or scripts);
every page reads without JavaScript, and the index's sorting is a few lines of inline
script. Numbers come from the results store alone (the runs, their stored results files
and spec); the benchmark's prose (description, citation, licence, data size) is read
from its manifest where one is installed, else the page says it is not available.
"""

from __future__ import annotations

import html
import json
import math
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brainbench.metrics.ceiled import RELIABILITY_FLOOR, describe_score
from brainbench.results.comparisons import benchmark_matrix
from brainbench.results.intervals import COVERS, N_BOOT, declared_units, run_kind
from brainbench.results.species import UNKNOWN, registry_entry, spec_of, species_of
from brainbench.results.table import Column, Leaderboard, cell_marks, column_aggregates, compact_params, footnotes

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from brainbench.results.store import ResultStore

MISSING = "–"
TIE = ' class="tie"'
SIG = ' class="sig"'

STYLE = """
:root { --fg: #1b1b1b; --muted: #5f5f5f; --line: #d8d8d8; --head: #f2f4f7; --tie: #7a4b00; --accent: #0b5cad; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0 auto; padding: 1rem; max-width: 90rem; line-height: 1.45; }
h1 { font-size: 1.6rem; margin: 0.2rem 0 0.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
a { color: var(--accent); }
nav { font-size: 0.95rem; margin-bottom: 0.5rem; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; border: 1px solid var(--line); }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; min-width: 100%; }
thead th { vertical-align: bottom; }
th[data-col] { min-width: 4.5rem; }
caption { text-align: left; padding: 0.4rem; color: var(--muted); caption-side: top; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
th, td { padding: 0.3rem 0.55rem; border-bottom: 1px solid var(--line); text-align: right; vertical-align: top; }
th { background: var(--head); font-weight: 600; }
th.group { text-align: center; border-left: 1px solid var(--line); }
th.label { text-align: right; color: var(--muted); font-weight: 400; }
td.name, th.name { text-align: left; position: sticky; left: 0; background: #fff; font-weight: 600; }
thead th.name { background: var(--head); }
.ci { display: block; color: var(--muted); font-size: 0.8em; white-space: nowrap; }
.missing { color: #8a8a8a; }
.tie { color: var(--tie); font-weight: 600; }
.sig { font-weight: 700; }
th button { font: inherit; background: none; border: 0; padding: 0; cursor: pointer; color: inherit; }
th button::after { content: " \\2195"; color: var(--muted); }
th[aria-sort=descending] button::after { content: " \\25BC"; }
th[aria-sort=ascending] button::after { content: " \\25B2"; }
.notes { font-size: 0.9rem; color: var(--muted); max-width: 60rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; }
dt { font-weight: 600; } dd { margin: 0; overflow-wrap: anywhere; }
code { font-size: 0.9em; overflow-wrap: anywhere; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
footer { margin-top: 2rem; font-size: 0.85rem; color: var(--muted); border-top: 1px solid var(--line); }
@media (max-width: 40rem) {
  body { padding: 0.5rem; } h1 { font-size: 1.3rem; }
  th, td { padding: 0.25rem 0.35rem; font-size: 0.85rem; }
  dl { grid-template-columns: 1fr; } dt { margin-top: 0.4rem; }
}
"""

#: The index's sorting: a button in each header sorts the rows by that column's data-v
#: (numbers numerically, text alphabetically, missing always last).
SCRIPT = """
document.querySelectorAll('th[data-col] button').forEach(function (button) {
  button.addEventListener('click', function () {
    var th = button.closest('th'), col = th.dataset.col, table = th.closest('table');
    var down = th.getAttribute('aria-sort') !== 'descending';
    table.querySelectorAll('th[data-col]').forEach(function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', down ? 'descending' : 'ascending');
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    function key(row) { var c = row.querySelector('[data-col="' + col + '"]'); return c ? c.dataset.v : ''; }
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x === '' || y === '') return (x === '') - (y === '');
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
      return down ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def slug(text: str) -> str:
    """A file-name-safe form of an id."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def column_page(col: Column) -> str:
    """The column's page; one page per column (a readout under two param sets adds a hash of its params)."""
    import hashlib

    readout = f"-{slug(col.readout)}" if col.show_readout else ""
    if col.show_params:
        readout += "-" + hashlib.sha256(compact_params(col.readout_params).encode()).hexdigest()[:8]
    return f"benchmarks/{slug(col.benchmark)}-v{col.version}{readout}.html"


def model_page(model: str) -> str:
    """The model's page: its id where that is a safe file name, else its slug and a hash of the id
    (``hf/org/a_b`` and ``hf/org_a/b`` would share the slug ``hf_org_a_b``)."""
    import hashlib

    name = slug(model)
    if name != model:
        name += "-" + hashlib.sha256(model.encode()).hexdigest()[:8]
    return f"models/{name}.html"


def _e(value: Any) -> str:
    return html.escape(str(value))


def _num(value: float | None) -> str:
    return MISSING if value is None or not math.isfinite(value) else f"{value:.3f}"


def _p(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return MISSING
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _ci(interval: tuple[float, float] | None) -> str:
    if interval is None:
        return ""
    return f'<span class="ci">[{interval[0]:.3f}, {interval[1]:.3f}]</span>'


def _page(title: str, body: str, root: str, script: str = "") -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n"
        '<link rel="icon" href="data:,">\n'
        f'<link rel="stylesheet" href="{root}style.css">\n</head>\n<body>\n'
        f'<nav><a href="{root}index.html">brainbench leaderboard</a></nav>\n<main>\n{body}\n</main>\n'
        + (f"<script>{script}</script>\n" if script else "")
        + "</body>\n</html>\n"
    )


def _column_species(board: Leaderboard) -> list[str]:
    out = []
    for k in range(len(board.columns)):
        cell = next((board.cells[m][k] for m in board.models if board.cells[m][k] is not None), None)
        out.append(species_of(cell) if cell is not None else UNKNOWN)
    return out


def region_under(species: str, region: str) -> str:
    """A region as headed under its species' header: ``V4`` under ``macaque`` for ``macaque V4``.

    The leaderboard's regions name their species (:func:`brainbench.results.table.region_group`),
    which the index already heads; a region that is the species alone (``mouse``) is kept.
    """
    prefix = f"{species} "
    return region[len(prefix) :] if region.lower().startswith(prefix.lower()) and len(region) > len(prefix) else region


# ---------------------------------------------------------------------------- index
def _index(board: Leaderboard, generated: str, version: str, command: str) -> str:
    species = _column_species(board)
    # groups: species -> region -> column indices, in the board's order
    groups: dict[str, dict[str, list[int]]] = {}
    for k, col in enumerate(board.columns):
        groups.setdefault(species[k], {}).setdefault(col.region, []).append(k)
    fixed = [("rank", "rank"), ("model", "model"), ("overall", "overall"), ("coverage", "coverage")]
    row1 = [f'<th colspan="{len(fixed)}" scope="colgroup" class="label">species</th>']
    row2 = [f'<th colspan="{len(fixed)}" scope="colgroup" class="label">region</th>']
    row3 = []
    for col_id, label in fixed:
        cls = ' class="name"' if col_id == "model" else ""
        row3.append(f'<th scope="col" data-col="{col_id}"{cls}><button type="button">{label}</button></th>')
    order: list[tuple[str, str, int | None]] = []  # (species, region, column or None for the region mean)
    for sp, regions in groups.items():
        width = sum(len(cols) + 1 for cols in regions.values())
        row1.append(f'<th colspan="{width}" scope="colgroup" class="group">{_e(sp)}</th>')
        for region, cols in regions.items():
            shown = region_under(sp, region)
            row2.append(f'<th colspan="{len(cols) + 1}" scope="colgroup" class="group">{_e(shown)}</th>')
            row3.append(
                f'<th scope="col" data-col="mean-{_e(slug(region))}"><button type="button">{_e(shown)} mean'
                "</button></th>"
            )
            order.append((sp, region, None))
            for k in cols:
                col = board.columns[k]
                row3.append(
                    f'<th scope="col" data-col="c{k}"><a href="{column_page(col)}">{_e(col.label)}</a> '
                    f'<button type="button" aria-label="sort by {_e(col.label)}"></button></th>'
                )
                order.append((sp, region, k))
    body = []
    for model in board.models:
        rank = board.rank_labels.get(model, "")
        have, total = board.coverage(model)
        overall = board.overall(model)
        cells = [
            f'<td data-col="rank" data-v="{_e(rank.lstrip("="))}"'
            + (' class="tie" title="shares this rank: not significantly different"' if rank.startswith("=") else "")
            + f">{_e(rank)}</td>",
            f'<th scope="row" class="name" data-col="model" data-v="{_e(model)}">'
            f'<a href="{model_page(model)}">{_e(model)}</a></th>',
            f'<td data-col="overall" data-v="{"" if overall is None else repr(overall)}">{_num(overall)}'
            f"{_ci(board.mean_interval(model))}</td>",
            f'<td data-col="coverage" data-v="{have}">{have}/{total}</td>',
        ]
        for _sp, region, column in order:
            if column is None:
                value = board.region_mean(model, region)
                cells.append(
                    f'<td data-col="mean-{_e(slug(region))}" data-v="{"" if value is None else repr(value)}"'
                    + (' class="missing"' if value is None else "")
                    + f">{_num(value)}{_ci(board.mean_interval(model, region))}</td>"
                )
                continue
            cell = board.cells[model][column]
            score = None if cell is None else cell["score"]
            mark = cell_marks(board, model, column)
            cells.append(
                f'<td data-col="c{column}" data-v="{"" if score is None else repr(score)}"'
                + (' class="missing"' if score is None else "")
                + f">{_num(score)}{mark}{_ci(board.cell_interval(model, column))}</td>"
            )
        body.append("<tr>" + "".join(cells) + "</tr>")
    notes = footnotes(board, [[cell_marks(board, m, k) for k in range(len(board.columns))] for m in board.models])
    table = (
        '<p class="notes">Each cell: the headline score and, below it, its 95% interval. A rank marked =k is shared: '
        "those models are not significantly different. Coverage: scored benchmarks, each counted once by its newest "
        "column.</p>\n"
        '<div class="scroll"><table id="leaderboard">\n'
        '<caption class="sr-only">Leaderboard: models by species, region and benchmark</caption>\n'
        f"<thead><tr>{''.join(row1)}</tr>\n<tr>{''.join(row2)}</tr>\n<tr>{''.join(row3)}</tr></thead>\n"
        f"<tbody>\n{chr(10).join(body)}\n</tbody></table></div>"
    )
    benchmarks = "".join(
        f'<li><a href="{column_page(c)}">{_e(c.label)}</a> ({_e(c.region)})</li>' for c in board.columns
    )
    models = "".join(f'<li><a href="{model_page(m)}">{_e(m)}</a></li>' for m in board.models)
    body_html = (
        "<h1>brainbench leaderboard</h1>\n"
        "<p>How well each model's layers predict recorded neurons, per benchmark, with 95% intervals. "
        "Sort by any column with its header button; without JavaScript the table stays in rank order.</p>\n"
        f"{table}\n"
        + "".join(f'<p class="notes">{_e(n)}</p>\n' for n in notes)
        + f"<h2>Benchmarks</h2>\n<ul>{benchmarks}</ul>\n<h2>Models</h2>\n<ul>{models}</ul>\n"
        + _footer(generated, version, command)
    )
    return _page("brainbench leaderboard", body_html, "", SCRIPT)


def _footer(generated: str, version: str, command: str) -> str:
    return (
        f"<footer><p>Generated {_e(generated)} by brainbench {_e(version)} from its results store alone. "
        f"Regenerate with <code>{_e(command)}</code>.</p></footer>"
    )


# ---------------------------------------------------------------------------- benchmark pages
def layer_profile(dataset: Any, aggregate: str) -> tuple[list[str], np.ndarray]:
    """``(layers, (L,) values)``: each layer's ceiled score summarised over reliable units as declared."""
    import warnings

    import numpy as np

    layers = [str(v) for v in dataset["layer"].values]
    values = np.asarray(dataset["ceiled"].values, dtype=np.float64)  # (L, N), NaN where unreliable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        summary = np.nanmedian(values, axis=1) if aggregate == "median" else np.nanmean(values, axis=1)
    return layers, summary


def _profile_figure(profiles: dict[str, tuple[list[str], np.ndarray, str]], label: str, ylabel: str, path: Path) -> str:
    """Write the per-layer profile SVG; return its alt text."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 4.0), dpi=100)
    axes = figure.add_subplot()
    alt = []
    for model, (layers, values, chosen) in profiles.items():
        depth = [i / max(1, len(layers) - 1) for i in range(len(layers))]
        (line,) = axes.plot(depth, values, marker="o", markersize=3, label=model)
        if chosen in layers:
            i = layers.index(chosen)
            axes.plot([depth[i]], [values[i]], marker="*", markersize=12, color=line.get_color())
        best = int(max(range(len(values)), key=lambda j: -math.inf if not math.isfinite(values[j]) else values[j]))
        alt.append(
            f"{model}: {len(layers)} layers, highest {values[best]:.3f} at {layers[best]}, headline layer {chosen}"
        )
    axes.axhline(0, color="#999", linewidth=0.8)
    axes.set_xlabel("relative depth (first layer 0, last layer 1); star: the run's headline layer")
    axes.set_ylabel(ylabel)
    axes.set_title(label)
    axes.legend(fontsize=8, frameon=False)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    # no date and a fixed salt for the element ids (random by default): the same store, the same file
    with matplotlib.rc_context({"svg.hashsalt": "brainbench"}):
        figure.savefig(path, format="svg", metadata={"Date": None})
    return f"Per-layer {ylabel} on {label}. " + "; ".join(alt) + "."


def _benchmark_page(
    store: ResultStore, board: Leaderboard, index: int, out: Path, generated: str, version: str, command: str
) -> str:
    col = board.columns[index]
    shown = [(m, found) for m in board.models if (found := board.cells[m][index]) is not None]
    first = shown[0][1]
    spec = spec_of(first)
    entry = registry_entry("benchmark", col.benchmark)
    aggregate, unit, _ = column_aggregates(board).get(col.label, ("median", "neuroids", "ceiled-r2"))
    kind = run_kind(first)
    from brainbench.results.store import StoreError

    profiles = {}
    unprofiled: dict[str, str] = {}
    n_stimuli = n_units = None
    described: dict[str, None] = {}  # what each run's headline is, from its own stored attrs (in order, once)
    for model, cell in shown:
        try:
            dataset = store.load_results(cell)
        except StoreError as error:  # a missing or changed results file: left out of the figure, said below
            unprofiled[model] = str(error)
            continue
        layers, values = layer_profile(dataset, aggregate)
        profiles[model] = (layers, values, str(cell["best_layer"]))
        described[describe_score(dataset.attrs)] = None
        n_stimuli = int(dataset.sizes.get("stimulus", 0)) or n_stimuli
        n_units = int(dataset.sizes.get("neuroid", 0)) or n_units
    ylabel = f"ceiled score ({aggregate} over reliable {unit})"
    figure_name = f"figures/{Path(column_page(col)).stem}.svg"
    alt = _profile_figure(profiles, col.label, ylabel, out / figure_name) if profiles else ""
    ceiling = spec.get("ceiling") or {}
    ceiling_id = getattr(entry, "ceiling", None)
    ceiling_entry = registry_entry("metric", str(ceiling_id)) if ceiling and ceiling_id else None
    head = spec.get("headline") or {}
    floor = (head.get("params") or {}).get("reliability_floor", RELIABILITY_FLOOR)
    # what the cells' draws resampled (a composite: its parts' units), else what the benchmark declares
    drawn = [got.units for _, cell in shown if (got := board.draws.get(cell["content_key"])) and got.ok]
    units = drawn[0] if drawn else declared_units(col.benchmark, kind)
    info = getattr(entry, "info", None) or {}
    facts = [
        ("benchmark", f"{col.benchmark} version {col.version} ({kind})"),
        ("region", col.region),
        ("species", species_of(first)),
        ("description", getattr(entry, "description", "") or "not available (no manifest installed declares it)"),
        ("citation", getattr(entry, "citation", "") or "not available"),
        ("licence", getattr(entry, "license", "") or "not available"),
        (
            "data size",
            "; ".join(
                [f"{n_units} {unit} x {n_stimuli} stimuli scored"] * bool(n_units)
                + [", ".join(f"{k} = {v}" for k, v in info.items())] * bool(info)
            )
            or "not stored",
        ),
        ("stimuli", f"{n_stimuli} (stimuli hash {first.get('stimuli_sha256', '')[:16]})"),
        ("readout", "none: each layer's RDM is compared with each site's" if kind == "representation" else col.readout),
        (
            "ceiling",
            (
                getattr(ceiling_entry, "description", "")
                or f"{ceiling.get('python_name', 'declared ceiling')} with {json.dumps(ceiling.get('params', {}))}"
            )
            if ceiling
            else "none (uncorrected scores)",
        ),
        (
            "headline",
            "; ".join(described or [describe_score({**first, "reliability_floor": floor})])
            + ", at the layer each split chose on its training stimuli",
        ),
        ("interval", f"{COVERS}; resampled here: {', '.join(units)} ({N_BOOT} resamples)"),
    ]
    matrix = benchmark_matrix(board, index)
    rows = []
    for model, cell in sorted(shown, key=lambda mc: (matrix.ranks.get(mc[0], "~").lstrip("=").zfill(4), mc[0])):
        rank = matrix.ranks.get(model, MISSING)
        rows.append(
            f"<tr><td{TIE if rank.startswith('=') else ''}>{_e(rank)}</td>"
            f'<th scope="row" class="name"><a href="../{model_page(model)}">{_e(model)}</a></th>'
            f"<td>{_num(cell['score'])}{_ci(board.cell_interval(model, index))}</td>"
            f"<td>{_e(cell['best_layer'])}</td></tr>"
        )
    scores = (
        '<div class="scroll"><table><caption>Ranks: 1 + the models significantly better (paired bootstrap, '
        "Holm-corrected over all pairs of this benchmark, alpha 0.05); =k is shared.</caption>"
        '<thead><tr><th scope="col">rank</th><th scope="col" class="name">model</th><th scope="col">score [95%]'
        '</th><th scope="col">headline layer</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table></div>"
    )
    if len(matrix.models) > 1:
        head_cells = "".join(f'<th scope="col">{_e(m)}</th>' for m in matrix.models)
        body = []
        for a in matrix.models:
            cells = []
            for b in matrix.models:
                if a == b:
                    cells.append("<td>·</td>")
                    continue
                c = matrix.pairs[(a, b)]
                p = c.p_holm if c.p_holm is not None else c.p
                sig = c.significant
                cells.append(
                    f"<td{SIG if sig else ''}>{c.difference:+.3f}"
                    f'<span class="ci">[{c.low:+.3f}, {c.high:+.3f}] p={_p(p)}</span></td>'
                )
            body.append(f'<tr><th scope="row" class="name">{_e(a)}</th>{"".join(cells)}</tr>')
        comparison = (
            '<div class="scroll"><table><caption>Row minus column: the paired difference, its 95% interval and '
            "the Holm-corrected p-value (two-sided, from the bootstrap standard error); bold: significant at "
            "0.05.</caption>"
            f'<thead><tr><th scope="col" class="name">row − column</th>{head_cells}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>"
        )
    else:
        comparison = "<p>Only one model has an interval on this benchmark: nothing to compare.</p>"
    if matrix.left_out:
        comparison += "<p>Not compared: " + "; ".join(f"{_e(m)} ({_e(w)})" for m, w in matrix.left_out.items()) + "</p>"
    figure = (
        f'<figure><img src="../{figure_name}" alt="{_e(alt)}" width="750" height="400">'
        f"<figcaption>{_e(ylabel)} per layer of every model (layers placed by relative depth); the star marks "
        "the layer of the run's headline (chosen most often across splits).</figcaption></figure>"
        if alt
        else "<p>No stored results file to draw the per-layer profiles from.</p>"
    )
    if unprofiled:
        figure += "<p>Not in the figure: " + "; ".join(f"{_e(m)} ({_e(w)})" for m, w in unprofiled.items()) + "</p>"
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    body_html = (
        f"<h1>{_e(col.label)}</h1>\n<dl>{dl}</dl>\n<h2>Scores</h2>\n{scores}\n<h2>Per-layer profiles</h2>\n{figure}\n"
        f"<h2>Paired comparisons</h2>\n{comparison}\n" + _footer(generated, version, command)
    )
    return _page(f"{col.label}: brainbench", body_html, "../")


# ---------------------------------------------------------------------------- model pages
def _model_page(
    store: ResultStore,
    board: Leaderboard,
    model: str,
    layers: dict[str, list[str]],
    generated: str,
    version: str,
    command: str,
) -> str:
    rows, runs = [], []
    model_layers: list[str] = []
    for k, col in enumerate(board.columns):
        cell = board.cells[model][k]
        if cell is None:
            rows.append(
                f'<tr><th scope="row" class="name"><a href="../{column_page(col)}">{_e(col.label)}</a></th>'
                f'<td class="missing">{MISSING}</td><td></td></tr>'
            )
            continue
        model_layers = model_layers or layers.get(cell["content_key"], [])
        note = board.cell_note(model, k)
        rows.append(
            f'<tr><th scope="row" class="name"><a href="../{column_page(col)}">{_e(col.label)}</a></th>'
            f"<td>{_num(cell['score'])}{_ci(board.cell_interval(model, k))}"
            + (f'<span class="ci">{_e(note)}</span>' if note else "")
            + f"</td><td>{_e(cell['best_layer'])}</td></tr>"
        )
        runs.append((col, cell))
    table = (
        '<div class="scroll"><table><thead><tr><th scope="col" class="name">benchmark</th>'
        '<th scope="col">score [95%]</th><th scope="col">headline layer</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table></div>"
    )
    provenance = []
    for col, cell in runs:
        seed = cell["seed"]
        device = str(cell.get("device") or "")
        reproduce = (
            f"brainbench score {model} {col.benchmark}"
            + (f" --seed {seed}" if seed else "")
            + (f" --device {device.split(':')[0]}" if device in ("cpu", "cuda") or device.startswith("cuda:") else "")
        )
        facts = [
            ("content key", cell["content_key"]),
            ("benchmark version", col.version),
            ("brainbench", cell.get("brainbench_version", "")),
            (
                "versions",
                f"torch {cell.get('torch_version', '')}, numpy {cell.get('numpy_version', '')}, "
                f"xarray {cell.get('xarray_version', '')}, python {cell.get('python_version', '')}",
            ),
            ("device", cell.get("device", "")),
            ("seed", seed),
            ("readout", cell.get("readout") or "none (representation)"),
            ("weights sha256", cell.get("weights_sha256", "")),
            ("data sha256", cell.get("data_sha256", "")),
            ("stimuli sha256", cell.get("stimuli_sha256", "")),
            ("scored at", cell.get("created_at", "")),
            ("reproduce", reproduce),
        ]
        dl = "".join(
            f"<dt>{_e(k)}</dt><dd>{'<code>' + _e(v) + '</code>' if k in ('content key', 'reproduce') else _e(v)}</dd>"
            for k, v in facts
        )
        provenance.append(f"<h3>{_e(col.label)}</h3><dl>{dl}</dl>")
    rank = board.rank_labels.get(model, MISSING)
    have, total = board.coverage(model)
    body_html = (
        f"<h1>{_e(model)}</h1>\n<p>Rank {_e(rank)} overall, {have}/{total} benchmarks scored; overall "
        f"{_num(board.overall(model))}{_ci(board.mean_interval(model))}</p>\n"
        f"<h2>Layers</h2>\n<p>{len(model_layers)} layers scored: "
        + ", ".join(f"<code>{_e(layer)}</code>" for layer in model_layers)
        + f"</p>\n<h2>Scores</h2>\n{table}\n<h2>Provenance of each run</h2>\n"
        + "".join(provenance)
        + _footer(generated, version, command)
    )
    return _page(f"{model}: brainbench", body_html, "../")


# ---------------------------------------------------------------------------- the site
def write_site(store: ResultStore, board: Leaderboard, out: Path, command: str) -> int:
    """Write the site for ``board`` (with draws) into ``out``; return the number of pages.

    The pages are written into a temporary folder beside ``out`` and moved into place
    at the end, so a failure never leaves half a site; an existing ``out`` keeps files
    that are not the site's (only ``index.html``, ``style.css`` and the three folders
    are replaced).
    """
    import tempfile

    from brainbench.version import __version__

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    version = __version__
    layers = store.layers_by_run()
    with tempfile.TemporaryDirectory(dir=out, prefix=".site-") as temp:
        root = Path(temp)
        (root / "benchmarks").mkdir()
        (root / "models").mkdir()
        (root / "figures").mkdir()
        (root / "style.css").write_text(STYLE.lstrip(), encoding="utf-8")
        (root / "index.html").write_text(_index(board, generated, version, command), encoding="utf-8")
        pages = 1
        for k, col in enumerate(board.columns):
            page = _benchmark_page(store, board, k, root, generated, version, command)
            (root / column_page(col)).write_text(page, encoding="utf-8")
            pages += 1
        for model in board.models:
            page = _model_page(store, board, model, layers, generated, version, command)
            (root / model_page(model)).write_text(page, encoding="utf-8")
            pages += 1
        for name in ("benchmarks", "models", "figures", "index.html", "style.css"):
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            (root / name).rename(target)
    return pages
