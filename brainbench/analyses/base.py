"""The analysis plugin contract and the neuroid table every analysis starts from.

An analysis is a class registered as ``[analyses.ID]`` (``python_name``) whose
:meth:`Analysis.run` takes a list of score datasets (one per benchmark and readout, one
model; the layout of :mod:`brainbench.scoring`) and returns an :class:`AnalysisResult`:
an :class:`xarray.Dataset` (written as netCDF), matplotlib figures (PNG and SVG) and
summary numbers plus markdown. Like xarray's ``BackendEntrypoint``, the class is the
whole contract: a third party subclasses :class:`Analysis`, declares it in a manifest,
and ``brainbench analyze`` runs it.

Analyses never assume one assembly: :func:`combine_scores` concatenates neuroids of
every benchmark along one ``neuroid`` dim, keeping every neuroid coordinate the
datasets share, plus ``benchmark`` and ``region`` (the assembly's ``region`` coordinate,
else the dataset's ``region`` attr, else the benchmark id).

The per-layer score an analysis profiles is a *declared* choice, not a guess: a score
dataset names it in its attr ``analysis_metric`` (regression scores have none and mean
``ev``, held-out R^2; representation scores declare ``r``, the similarity of the layer's
RDM with the site's RDM), a caller may override it (``metric=``), and
:func:`combine_scores` records it as the combined dataset's ``metric`` attr, which every
analysis reads. For representation scores a "neuroid" is a site: the combined dataset's
attr ``unit`` says ``site`` (else ``neuroid``), and analyses name their rows, the metric
and the ceiling by it (:func:`metric_label`, :func:`unit_labels`).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import xarray as xr

from brainbench.errors import BrainbenchError

if TYPE_CHECKING:  # matplotlib is the optional `analysis` extra
    from matplotlib.figure import Figure

#: A neuroid counts as reliable when its split-half ceiling exceeds this (Spearman-Brown
#: corrected reliability of the trial-averaged response; 0.5 means at least half of its
#: across-stimulus variance is repeatable).
RELIABILITY_THRESHOLD = 0.5


class AnalysisError(BrainbenchError):
    """Scores an analysis cannot use (wrong layout, too few neuroids, unknown parameter)."""


@dataclass
class AnalysisResult:
    """What an analysis returns.

    Attributes:
        name: the analysis id (file stem of the netCDF).
        dataset: the analysis data; written as ``<name>.nc``.
        figures: figure stem -> matplotlib figure; written as ``<stem>.png`` and ``.svg``.
        numbers: summary numbers (JSON-serialisable), written to ``summary.json``.
        markdown: summary paragraphs (markdown) placed above the figures in ``summary.md``.
        written: what :meth:`write` wrote last, kind -> path (empty before).

    Every file name uses ``-`` between words (:func:`file_stem`), never ``_``.
    """

    name: str
    dataset: xr.Dataset
    figures: dict[str, Figure] = field(default_factory=dict)
    numbers: dict[str, Any] = field(default_factory=dict)
    markdown: str = ""
    written: dict[str, Path] = field(default_factory=dict)

    def write(self, out: str | os.PathLike, title: str | None = None, dpi: int = 150) -> dict[str, Path]:
        """Write netCDF, PNG + SVG figures, ``summary.json`` and ``summary.md`` into ``out``.

        Every file is first written into a staging folder inside ``out`` and moved into
        place only once all of them are complete: a failure (a figure that cannot be drawn,
        a full disk) leaves ``out`` as it was, never a new ``.nc`` beside an old summary
        or a half-written file; a file system error is a one-sentence
        :class:`~brainbench.errors.WriteError`.

        Returns:
            kind -> path (``data``, ``summary``, ``numbers`` and ``<stem>.png`` / ``.svg``,
            ``stem`` the figure's :func:`file_stem`); also kept as :attr:`written`.
        """
        import shutil
        import tempfile

        from brainbench.errors import write_failed

        out = Path(out)
        try:
            out.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{file_stem(self.name)}.", suffix=".partial", dir=out))
        except OSError as error:
            raise write_failed(out, error, "the analysis folder") from error
        try:
            names = self._write_files(staging, title, dpi)
            try:
                for name in names.values():  # same file system: each rename is atomic
                    os.replace(staging / name, out / name)
            except OSError as error:
                raise write_failed(out, error, "the analysis files into") from error
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self.written = {kind: out / name for kind, name in names.items()}
        return dict(self.written)

    def _write_files(self, folder: Path, title: str | None, dpi: int) -> dict[str, str]:
        """Write every file into ``folder``; returns kind -> file name."""
        from brainbench.errors import write_failed

        data_name = f"{file_stem(self.name)}.nc"
        write_netcdf(self.dataset, folder / data_name)
        names: dict[str, str] = {"data": data_name}
        try:
            for key, figure in self.figures.items():
                stem = file_stem(key)
                for ext in ("png", "svg"):
                    figure.savefig(folder / f"{stem}.{ext}", dpi=dpi, bbox_inches="tight")
                    names[f"{stem}.{ext}"] = f"{stem}.{ext}"
            (folder / "summary.json").write_text(json.dumps(_jsonable(self.numbers), indent=2) + "\n")
            names["numbers"] = "summary.json"
            lines = [f"# {title or self.name}", "", self.markdown.strip(), ""]
            for key in self.figures:
                lines += [f"![{file_stem(key)}]({file_stem(key)}.png)", ""]
            lines += [f"Data: `{data_name}` (netCDF). Numbers: `summary.json`. Figures also as SVG.", ""]
            (folder / "summary.md").write_text("\n".join(lines))
            names["summary"] = "summary.md"
        except OSError as error:
            raise write_failed(folder.parent, error, "the analysis files into") from error
        return names

    def close(self) -> None:
        """Release the figures' memory (pyplot keeps the figures it made until they are closed)."""
        pyplot = sys.modules.get("matplotlib.pyplot")  # only a plugin's pyplot figures need it
        for figure in self.figures.values():
            if pyplot is not None:
                pyplot.close(figure)
            figure.clear()


def file_stem(name: str) -> str:
    """The file name stem of a figure or analysis name: words joined by ``-`` (one convention)."""
    return name.replace("_", "-")


class Analysis:
    """Base class of an analysis plugin.

    Subclasses set ``name`` and ``description`` and implement :meth:`run`. An analysis
    that compares readouts sets ``multi_readout = True``; the runner then scores every
    requested readout (default :meth:`default_readouts`) and passes all datasets.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    multi_readout: ClassVar[bool] = False

    def run(self, scores: list[xr.Dataset], *args: Any, **params: Any) -> AnalysisResult:
        """Analyse ``scores``; ``params`` are the subclass's own keyword parameters (``--param``)."""
        raise NotImplementedError

    def default_readouts(self, available: list[str]) -> list[str] | None:
        """Readouts to score when the user names none (``None``: each benchmark's own)."""
        return None

    def check_params(self, params: dict[str, Any]) -> None:
        """Refuse a bad parameter value in one sentence (:class:`AnalysisError`).

        The runner calls it before any scoring, with the manifest's defaults and the
        user's ``--param`` values merged, so a typo fails in a second, not after every
        benchmark was scored. The default accepts anything; an analysis checks its own.
        """


# ----------------------------------------------------------------------- parameter checks
#: The per-layer scores an analysis may profile (``metric=``; None: the declared one).
METRICS = ("ev", "r", "ceiled")


def _refuse(analysis: str, name: str, need: str, value: Any) -> AnalysisError:
    return AnalysisError(f"{analysis} parameter {name} must be {need}; got {value!r}.")


def need_int(analysis: str, params: dict[str, Any], name: str, minimum: int) -> None:
    """``params[name]``, where given, is an integer >= ``minimum`` (not a bool, not 1e3)."""
    value = params.get(name)
    if name in params and not (
        isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= minimum
    ):
        raise _refuse(analysis, name, f"an integer >= {minimum}", value)


def need_number(
    analysis: str, params: dict[str, Any], name: str, low: float | None = None, high: float | None = None
) -> None:
    """``params[name]``, where given, is a finite real number, strictly between ``low`` and ``high`` where given."""
    if name not in params:
        return
    value: Any = params[name]
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    ok = ok and bool(np.isfinite(value)) and (low is None or value > low) and (high is None or value < high)
    if not ok:
        bounds = f" between {low} and {high}" if low is not None and high is not None else ""
        raise _refuse(analysis, name, f"a number{bounds}", value)


def need_bool(analysis: str, params: dict[str, Any], name: str) -> None:
    """``params[name]``, where given, is ``true`` or ``false`` (a string such as ``"False"`` would read as true)."""
    if name in params and not isinstance(params[name], (bool, np.bool_)):
        raise _refuse(analysis, name, "true or false", params[name])


def need_choice(analysis: str, params: dict[str, Any], name: str, choices: tuple[Any, ...]) -> None:
    """``params[name]``, where given, is one of ``choices`` (None among them: may be left out)."""
    if name in params and params[name] not in choices:
        named = ", ".join(str(c) for c in choices if c is not None)
        raise _refuse(analysis, name, f"one of {named}", params[name])


# ---------------------------------------------------------------------------- combining
def region_of(dataset: xr.Dataset) -> np.ndarray:
    """``(neuroid,)`` region labels of a score dataset (coord, else attr, else benchmark id)."""
    n = dataset.sizes["neuroid"]
    if "region" in dataset.coords and dataset["region"].dims == ("neuroid",):
        return np.asarray([str(v) for v in dataset["region"].values])
    label = str(dataset.attrs.get("region") or dataset.attrs.get("benchmark") or "unknown")
    return np.full(n, label)


#: Axis labels of the per-layer scores analyses profile (see the module docstring).
METRIC_LABELS = {
    "ev": "explained variance (held-out R², fraction)",
    "r": "r (correlation)",
    "ceiled": "ceiled score (sign(r) r² / ceiling)",
}
#: Axis labels of the per-layer scores of representation scores, whose "neuroids" are
#: sites: there ``r`` is the similarity of the layer's RDM with the site's RDM.
SITE_METRIC_LABELS = {
    "r": "RDM similarity r, layer RDM vs site RDM",
    "ceiled": "ceiled RDM similarity (sign(r) r² / RDM reliability)",
}
#: The per-layer score of a dataset that declares none (regression scores).
DEFAULT_METRIC = "ev"
#: What one row of a combined dataset is: a recorded unit, or a site of a representation score.
NEUROID, SITE = "neuroid", "site"


def declared_metric(scores: list[xr.Dataset], requested: str | None = None) -> str:
    """The per-layer score to analyse: ``requested``, else the datasets' ``analysis_metric`` attr, else ``ev``.

    Raises:
        AnalysisError: when the datasets declare different metrics and none is requested,
            or a dataset lacks the chosen variable.
    """
    if requested is None:
        declared = {str(d.attrs.get("analysis_metric") or DEFAULT_METRIC) for d in scores}
        if len(declared) > 1:
            raise AnalysisError(
                f"the score datasets declare different per-layer scores "
                f"({', '.join(sorted(declared))}); analyse one kind of benchmark at a time "
                "or pass metric=."
            )
        requested = declared.pop() if declared else DEFAULT_METRIC
    for k, dataset in enumerate(scores):
        if requested not in dataset or dataset[requested].dims != ("layer", "neuroid"):
            raise AnalysisError(
                f"score dataset {k} ({dataset.attrs.get('benchmark', '?')}) has no per-layer "
                f"{requested!r}; choose one of ev, r or ceiled that it has."
            )
    return requested


def metric_label(metric: str, unit: str = NEUROID) -> str:
    """The axis label of a per-layer score (``unit`` ``site``: of a representation score)."""
    if unit == SITE and metric in SITE_METRIC_LABELS:
        return SITE_METRIC_LABELS[metric]
    return METRIC_LABELS.get(metric, metric)


def metric_name(metric: str) -> str:
    """The short name of a per-layer score in prose and table headers (``EV``, ``r``, ``ceiled``)."""
    return {"ev": "EV", "r": "r", "ceiled": "ceiled"}.get(metric, metric)


def unit_of(scores: list[xr.Dataset]) -> str:
    """``site`` when every dataset is a representation score (one row per site), else ``neuroid``."""
    sites = [d.attrs.get("benchmark_kind") == "representation" or "site" in d.coords for d in scores]
    return SITE if sites and all(sites) else NEUROID


def plural(unit: str, n: int | None = None) -> str:
    """``"21 sites"`` / ``"neuroids"``."""
    word = unit if n == 1 else f"{unit}s"
    return word if n is None else f"{n} {word}"


def unit_labels(combined: xr.Dataset) -> np.ndarray:
    """``(neuroid,)`` display names: ``area cortical-layer`` for sites that have one, else the id."""
    ids = np.asarray([str(i) for i in combined["neuroid_id"].values])
    if "cortical_layer" not in combined.coords or combined["cortical_layer"].dims != ("neuroid",):
        return ids
    region = combined["region"].values
    layer = combined["cortical_layer"].values
    return np.asarray([f"{r} {c}" for r, c in zip(region, layer, strict=True)])


def check_scores(scores: list[xr.Dataset], metric: str | None = None) -> None:
    """Raise :class:`AnalysisError` unless every item is a score dataset of one model."""
    if not scores:
        raise AnalysisError("an analysis needs at least one score dataset; pass a benchmark.")
    metric = metric or str(scores[0].attrs.get("analysis_metric") or DEFAULT_METRIC)
    for k, dataset in enumerate(scores):
        missing = [v for v in (metric, "r") if v not in dataset]
        if missing or "layer" not in dataset.dims or "neuroid" not in dataset.dims:
            raise AnalysisError(
                f"score dataset {k} lacks {missing or ['layer/neuroid dims']}; pass datasets made by brainbench.score."
            )
    models = {str(d.attrs.get("model", "")) for d in scores}
    if len(models) > 1:
        raise AnalysisError(
            f"score datasets come from several models ({', '.join(sorted(models))}); analyse one model at a time."
        )


def combine_scores(
    scores: list[xr.Dataset], variables: tuple[str, ...] = ("ev", "r", "ceiled"), metric: str | None = None
) -> xr.Dataset:
    """Concatenate per-neuroid, per-layer scores of several benchmarks along ``neuroid``.

    Args:
        scores: score datasets of one model and one readout; all must share their layers.
        metric: the per-layer score to analyse (default: the declared one, see
            :func:`declared_metric`); recorded as attrs ``metric`` and ``metric_label``,
            beside ``unit`` (``site`` for representation scores, see :func:`unit_of`).
    Returns:
        Dataset with ``variables`` as ``(neuroid, layer)``, ``ceiling (neuroid)``,
        ``headline (neuroid)`` (each benchmark's training-chosen best layer), and coords
        ``neuroid_id``, ``benchmark``, ``region`` and every neuroid coord all datasets share.
        Neuroid ids are prefixed with the benchmark id when two benchmarks share an id.
    """
    if not scores:
        raise AnalysisError("an analysis needs at least one score dataset; pass a benchmark.")
    metric = declared_metric(scores, metric)
    check_scores(scores, metric)
    names = [str(d.attrs.get("benchmark", "")) for d in scores]
    twice = [b for k, b in enumerate(names) if b and b in names[:k]]
    if twice:  # a neuroid and its copy (r = 1) would inflate every within-region statistic
        raise AnalysisError(
            f"the scores of benchmark {twice[0]} are given twice; pass each benchmark's scores once "
            "(one readout at a time), or its neuroids would be counted twice."
        )
    variables = tuple(dict.fromkeys((*variables, metric)))
    layers = list(map(str, scores[0]["layer"].values))
    for dataset in scores[1:]:
        if list(map(str, dataset["layer"].values)) != layers:
            raise AnalysisError(
                "score datasets were made on different layers; score every benchmark on the same layers."
            )
    shared = set.intersection(*({str(c) for c in d.coords if d[c].dims == ("neuroid",)} for d in scores))
    shared -= {"neuroid_id", "region", "benchmark"}
    parts = []
    for dataset in scores:
        n = dataset.sizes["neuroid"]
        benchmark = str(dataset.attrs.get("benchmark", "unknown"))
        data: dict[str, tuple[tuple[str, ...], np.ndarray]] = {
            v: (("neuroid", "layer"), dataset[v].transpose("neuroid", "layer").values.astype(np.float64))
            for v in variables
            if v in dataset
        }
        ceiling = dataset["ceiling"].values if "ceiling" in dataset else np.full(n, np.nan)
        data["ceiling"] = (("neuroid",), np.asarray(ceiling, dtype=np.float64))
        best = str(dataset.attrs.get("best_layer", layers[0]))
        data["headline_layer"] = (("neuroid",), np.full(n, best))
        ids = dataset["neuroid_id"].values if "neuroid_id" in dataset.coords else np.arange(n)
        coords: dict[str, Any] = {
            "layer": layers,
            "neuroid_id": ("neuroid", np.asarray([str(i) for i in ids])),
            "benchmark": ("neuroid", np.full(n, benchmark)),
            "region": ("neuroid", region_of(dataset)),
        }
        for name in sorted(shared):
            values = dataset[name].values
            coords[name] = ("neuroid", values.astype(str) if values.dtype.kind in "OUS" else values)
        parts.append(xr.Dataset(data, coords=coords))
    combined = xr.concat(parts, dim="neuroid") if len(parts) > 1 else parts[0]
    ids = combined["neuroid_id"].values
    if len(set(ids)) != len(ids):
        combined = combined.assign_coords(
            neuroid_id=(
                "neuroid",
                np.asarray([f"{b}/{i}" for b, i in zip(combined["benchmark"].values, ids, strict=True)]),
            )
        )
    combined.attrs.update(
        {
            "model": str(scores[0].attrs.get("model", "")),
            "benchmarks": json.dumps([str(d.attrs.get("benchmark", "")) for d in scores]),
            "readout": str(scores[0].attrs.get("readout", "")),
            "metric": metric,
            "metric_label": metric_label(metric, unit_of(scores)),
            "unit": unit_of(scores),
            "has_predictions": int(all("prediction" in d and "target" in d for d in scores)),
        }
    )
    return combined


def regions_in_order(region: np.ndarray) -> list[str]:
    """Distinct regions in order of first appearance (benchmark order is the user's order)."""
    seen: dict[str, None] = {}
    for value in region:
        seen.setdefault(str(value), None)
    return list(seen)


def headline_values(combined: xr.Dataset, variable: str | None = None) -> np.ndarray:
    """``(neuroid,)`` ``variable`` (default: the combined ``metric``) at each neuroid's benchmark headline layer."""
    variable = variable or str(combined.attrs.get("metric", DEFAULT_METRIC))
    values = combined[variable].values
    layers = list(map(str, combined["layer"].values))
    index = np.asarray([layers.index(str(b)) for b in combined["headline_layer"].values])
    return values[np.arange(values.shape[0]), index]


#: The name analyses give a neuroid or region that no layer predicts better than zero.
NO_LAYER = "none"


def preferred_layers(values: np.ndarray, above: float | None = 0.0) -> np.ndarray:
    """``(neuroid,)`` index of each row's largest finite value.

    -1 for an all-NaN row and, unless ``above`` is None, for a row whose largest value
    is not above ``above``: a layer with held-out EV <= 0 predicts no better than the
    mean, so naming it the "preferred" layer would read like a real match.
    """
    values = np.asarray(values, dtype=np.float64)
    filled = np.where(np.isfinite(values), values, -np.inf)
    best = filled.argmax(axis=1)
    top = filled[np.arange(values.shape[0]), best]
    valid = np.isfinite(top) if above is None else np.isfinite(top) & (top > above)
    return np.where(valid, best, -1)


def summary_numbers(combined: xr.Dataset, threshold: float = RELIABILITY_THRESHOLD) -> dict[str, Any]:
    """Numbers every analysis reports, beyond the paper.

    EV is read at each benchmark's headline layer (chosen on training folds only), so the
    fractions are not inflated by picking a layer on test data. A neuroid is *reliable*
    when its split-half ceiling exceeds ``threshold``.
    """
    metric = str(combined.attrs.get("metric", DEFAULT_METRIC))
    ev = headline_values(combined, metric)
    ceiling = combined["ceiling"].values
    region = combined["region"].values
    layers = list(map(str, combined["layer"].values))
    preferred = preferred_layers(combined[metric].values)
    numbers: dict[str, Any] = {
        "n_neuroids": int(ev.size),
        "unit": str(combined.attrs.get("unit", NEUROID)),
        "metric": metric,
        "reliability_threshold": threshold,
        "all": _fractions(ev, ceiling, threshold, metric),
        "by_region": {},
    }
    for name in regions_in_order(region):
        mask = region == name
        counts = {layer: int((preferred[mask] == k).sum()) for k, layer in enumerate(layers)}
        counts[NO_LAYER] = int((preferred[mask] == -1).sum())
        numbers["by_region"][name] = {
            **_fractions(ev[mask], ceiling[mask], threshold, metric),
            "preferred_layer_counts": counts,
            "modal_preferred_layer": max(counts, key=lambda layer: counts[layer]) if mask.any() else None,
        }
    return numbers


def _fractions(ev: np.ndarray, ceiling: np.ndarray, threshold: float, metric: str = DEFAULT_METRIC) -> dict[str, Any]:
    """Summary of the headline-layer ``metric`` values (keys named after the metric, ``ev`` by default)."""
    finite = np.isfinite(ev)
    reliable = finite & (ceiling > threshold)
    return {
        "n": int(ev.size),
        "n_defined": int(finite.sum()),  # the medians and fractions are of these
        f"median_{metric}_headline": _number(np.median(ev[finite])) if finite.any() else None,
        f"fraction_{metric}_positive": _number((ev[finite] > 0).mean()) if finite.any() else None,
        "n_reliable": int(reliable.sum()),
        f"fraction_reliable_{metric}_positive": _number((ev[reliable] > 0).mean()) if reliable.any() else None,
    }


def summary_table(numbers: dict[str, Any]) -> str:
    """Markdown table of :func:`summary_numbers`."""
    metric = numbers.get("metric", DEFAULT_METRIC)
    unit = numbers.get("unit", NEUROID)
    name_of = metric_name(metric)
    rows = [
        f"| region | {plural(unit)} | median {name_of} (headline layer) | {name_of} > 0 | reliable | reliable with "
        f"{name_of} > 0 | modal preferred layer |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, entry in numbers["by_region"].items():
        rows.append(
            f"| {name} | {entry['n']} | {_fmt(entry[f'median_{metric}_headline'])} | "
            f"{_pct(entry[f'fraction_{metric}_positive'])} | {entry['n_reliable']} | "
            f"{_pct(entry[f'fraction_reliable_{metric}_positive'])} | {entry['modal_preferred_layer']} |"
        )
    entry = numbers["all"]
    rows.append(
        f"| **all** | {entry['n']} | {_fmt(entry[f'median_{metric}_headline'])} | "
        f"{_pct(entry[f'fraction_{metric}_positive'])} | {entry['n_reliable']} | "
        f"{_pct(entry[f'fraction_reliable_{metric}_positive'])} | |"
    )
    if metric == "ev":
        what = "EV = held-out R^2 (1 - SSE/SST)"
    elif metric == "r" and unit == SITE:
        what = "r = correlation of the layer's RDM with each site's RDM over stimulus pairs (RDM similarity)"
    elif metric == "r":
        what = "r = Pearson r of held-out predictions with the response"
    else:
        what = f"{name_of} = the score's {metric!r} variable"
    ceiling = "the split-half reliability of the site's RDM" if unit == SITE else "split-half ceiling"
    note = (
        f"\n{what} at each benchmark's headline layer, chosen on training stimuli only. Reliable: "
        f"{ceiling} > {numbers['reliability_threshold']}. Preferred layer: the layer with the {unit}'s "
        f"highest {name_of}; {NO_LAYER!r} where no layer's {name_of} is above 0."
    )
    undefined = entry["n"] - entry.get("n_defined", entry["n"])
    if undefined:
        note += (
            f" {plural(unit, undefined)} {'has' if undefined == 1 else 'have'} no defined {name_of} at the "
            f"headline layer (e.g. a constant response): counted in the {plural(unit)} column, left out of "
            "the medians and fractions."
        )
    return "\n".join(rows) + "\n" + note


def _number(value: float) -> float:
    return round(float(value), 6)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_netcdf(dataset: xr.Dataset, path: Path) -> Path:
    """Write an analysis dataset atomically; object-typed arrays are stored as strings."""
    from brainbench.data.netcdf import write_netcdf_atomic

    return write_netcdf_atomic(dataset, path)
