"""``layer-correspondence``: which layer best predicts each region (paper fig. 8).

For each region and layer: the median and mean held-out EV over the region's neuroids,
with two percentile bootstrap confidence intervals that answer different questions:

* **over neuroids**: resample the region's neuroids (would another sample of cells
  from this region give the same curve?), from a stream seeded by the seed and the
  region's name;
* **over stimuli**: resample stimuli with replacement and recompute every neuroid's EV
  from the stored out-of-fold predictions and targets, the neuroids held fixed (would
  another sample of images give the same curve?). The readout is not refitted, so this
  interval covers evaluation noise, not fitting noise. Benchmarks are resampled
  independently (their stimuli differ), each from a stream seeded by the seed and the
  benchmark's id, so a region's intervals are the same whichever other regions are
  analysed with it (:func:`~brainbench.analyses.stats.named_rng`), and each resample's SST gets the ``S / (S - 1)``
  correction of :func:`~brainbench.analyses.stats.stimulus_bootstrap_ev` so that
  resampling does not shift EV down by about ``(1 - EV) / S``. For representation
  scores (per-layer ``r``, the RDM similarity), the stored model and neural RDMs are
  compared again on the stimulus pairs of each resample instead
  (:func:`~brainbench.metrics.rsa.bootstrap_rdm_similarity`; a stimulus paired with its
  own copy is dropped), the RDMs held fixed.

A score gets a stimulus interval only when it stores what recomputes the analysed
metric: predictions and targets for ``ev``, RDMs for a representation score's ``r``.
Otherwise the interval is left blank (NaN) and the summary says so.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from brainbench.analyses.base import (
    METRICS,
    NO_LAYER,
    RELIABILITY_THRESHOLD,
    Analysis,
    AnalysisResult,
    combine_scores,
    metric_label,
    need_choice,
    need_int,
    need_number,
    regions_in_order,
    summary_numbers,
    summary_table,
)
from brainbench.analyses.figures import new_figure_grid, region_palette, style_axes, subtitle
from brainbench.analyses.stats import (
    bootstrap_rows,
    multinomial_counts,
    named_rng,
    percentile_interval,
    stimulus_bootstrap_ev,
)
from brainbench.metrics.rsa import bootstrap_rdm_similarity

STATISTICS = {
    "median": lambda v: np.nanmedian(v, axis=0),
    "mean": lambda v: np.nanmean(v, axis=0),
}
STATISTICS_FIRST = next(iter(STATISTICS))


class LayerCorrespondence(Analysis):
    name = "layer-correspondence"
    description = (
        "Median and mean per-layer score per region (held-out EV; RDM similarity r for representation scores), "
        "with bootstrap CIs over neuroids (sites) and over stimuli (paper fig. 8)."
    )

    def run(
        self,
        scores: list[xr.Dataset],
        n_boot: int = 1000,
        level: float = 0.95,
        seed: int = 0,
        threshold: float = RELIABILITY_THRESHOLD,
        metric: str | None = None,
    ) -> AnalysisResult:
        self.check_params({"n_boot": n_boot, "level": level, "seed": seed, "threshold": threshold, "metric": metric})
        combined = combine_scores(scores, metric=metric)
        metric = str(combined.attrs["metric"])
        name_of = "EV" if metric == "ev" else metric
        units = f"{combined.attrs.get('unit', 'neuroid')}s"  # sites for representation scores
        dataset = correspondence(scores, combined, n_boot=n_boot, level=level, seed=seed)
        numbers = summary_numbers(combined, threshold)
        numbers["best_layer_by_region"] = {
            stat: {
                str(r): (str(b) if b != NO_LAYER else None)
                for r, b in zip(dataset["region"].values, dataset[f"best_layer_{stat}"].values, strict=True)
            }
            for stat in STATISTICS
        }
        figure = plot(dataset, combined)
        rows = [
            f"| region | {units} | best layer (median {name_of}) | median {name_of} there | "
            f"{percent(level)}% CI over {units} | {percent(level)}% CI over stimuli |",
            "| --- | ---: | --- | ---: | --- | --- |",
        ]
        for k, region in enumerate(dataset["region"].values):
            best = str(dataset["best_layer_median"].values[k])
            shown = best if best != NO_LAYER else str(dataset["top_layer_median"].values[k])
            sel = dataset.sel(region=region, layer=shown)
            label = best if best != NO_LAYER else f"{NO_LAYER}: every layer's median {name_of} <= 0 (highest: {shown})"
            rows.append(
                f"| {region} | {int(dataset['n_neuroids'].values[k])} | {label} | "
                f"{float(sel[f'median_{metric}']):.3f} | {_ci(sel['median_ci_neuroids'])} | "
                f"{_ci(sel['median_ci_stimuli'])} |"
            )
        source = stimulus_source(scores, metric)
        if source == "predictions":
            intervals = (
                f"{percent(level)}% percentile bootstrap intervals ({n_boot} resamples) over neuroids "
                "and over stimuli (EV recomputed from stored out-of-fold predictions)"
            )
        elif source == "rdms":
            intervals = (
                f"{percent(level)}% percentile bootstrap intervals ({n_boot} resamples) over neuroids "
                "(here: sites) and **over stimuli** (stimuli resampled with replacement, the stored model "
                "and neural RDMs compared again on the resampled pairs, a stimulus paired with its own copy "
                "dropped)"
            )
        else:
            what = "predictions" if metric == "ev" else f"RDMs to recompute {name_of}"
            intervals = (
                f"{percent(level)}% percentile bootstrap intervals ({n_boot} resamples) over neuroids "
                f"only: these scores store no {what} from resampled stimuli, so **only the CI over "
                "neuroids (here: sites) is shown** and the CI over stimuli is left blank"
            )
        undefined = int(dataset["n_undefined"].sum())
        left_out = (
            f"{undefined} {units if undefined != 1 else units[:-1]} with no defined {name_of} at any layer "
            "(e.g. a constant response) are left out of their region's statistics and counts.\n\n"
            if undefined
            else ""
        )
        markdown = (
            f"Layer-to-region correspondence: per region, the layer with the highest median {name_of} "
            f"({combined.attrs['metric_label']}), with {intervals}.\n\n"
            + "\n".join(rows)
            + "\n\n"
            + left_out
            + summary_table(numbers)
        )
        numbers["stimulus_ci"] = source is not None
        numbers["stimulus_ci_from"] = source
        return AnalysisResult(self.name, dataset, {"layer-correspondence": figure}, numbers, markdown)

    def check_params(self, params: dict[str, Any]) -> None:
        need_int(self.name, params, "n_boot", 10)
        need_number(self.name, params, "level", 0, 1)
        need_int(self.name, params, "seed", 0)
        need_number(self.name, params, "threshold")
        need_choice(self.name, params, "metric", (None, *METRICS))


def correspondence(
    scores: list[xr.Dataset], combined: xr.Dataset, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> xr.Dataset:
    """Per region and layer: median/mean of the combined ``metric`` (EV by default) and their bootstrap intervals.

    Returns:
        Dataset with ``median_<metric>``, ``mean_<metric>`` ``(region, layer)`` (``median_ev``, ``mean_ev``);
        ``{median,mean}_ci_{neuroids,stimuli}`` ``(bound, region, layer)`` with
        ``bound = [lower, upper]``; ``n_neuroids (region)``, those with a value at some layer (the
        sample; the CI over neuroids resamples them) and ``n_undefined (region)``, those with none
        (e.g. a constant response); ``top_layer_{median,mean} (region)``
        (the layer of the highest statistic) and ``best_layer_{median,mean} (region)``: the
        same, or ``"none"`` where that statistic is <= 0 at every layer.
    """
    region = combined["region"].values
    regions = regions_in_order(region)
    layers = list(map(str, combined["layer"].values))
    metric = str(combined.attrs.get("metric", "ev"))
    ev = combined[metric].values
    # a neuroid with no value at any layer (e.g. a constant response: EV undefined) is no sample of
    # its region: resampling it would only shrink each resample at random; it is counted apart
    defined = np.isfinite(ev).any(axis=1)
    data: dict[str, Any] = {}
    for stat, fn in STATISTICS.items():
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a layer without any value: NaN
            point = np.stack([fn(ev[region == r]) for r in regions])
            neuroid_ci = np.stack(
                [
                    _neuroid_interval(ev[(region == r) & defined], fn, n_boot, level, seed, stat, str(r))
                    for r in regions
                ],
                axis=1,
            )
        data[f"{stat}_{metric}"] = (("region", "layer"), point)
        data[f"{stat}_ci_neuroids"] = (("bound", "region", "layer"), neuroid_ci)
        filled = np.where(np.isfinite(point), point, -np.inf)
        top = filled.argmax(axis=1)
        beats_zero = filled[np.arange(len(regions)), top] > 0
        data[f"top_layer_{stat}"] = (("region",), np.asarray([layers[k] for k in top]))
        data[f"best_layer_{stat}"] = (
            ("region",),
            np.asarray([layers[k] if ok else NO_LAYER for k, ok in zip(top, beats_zero, strict=True)]),
        )
    stimulus = stimulus_bootstrap(scores, region, regions, n_boot, seed, metric=metric)
    for stat in STATISTICS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # no stored predictions: all-NaN, left blank
            data[f"{stat}_ci_stimuli"] = (("bound", "region", "layer"), percentile_interval(stimulus[stat], level))
    data["n_neuroids"] = (("region",), np.asarray([int(((region == r) & defined).sum()) for r in regions]))
    data["n_undefined"] = (("region",), np.asarray([int(((region == r) & ~defined).sum()) for r in regions]))
    dataset = xr.Dataset(data, coords={"region": regions, "layer": layers, "bound": ["lower", "upper"]})
    dataset.attrs.update(
        {
            "model": combined.attrs["model"],
            "benchmarks": combined.attrs["benchmarks"],
            "readout": combined.attrs["readout"],
            "n_boot": n_boot,
            "level": level,
            "seed": seed,
            "metric": metric,
            "metric_label": str(combined.attrs.get("metric_label", metric_label(metric))),
        }
    )
    if metric == "ev":
        dataset.attrs["ev"] = "held-out R^2 = 1 - SSE/SST on pooled out-of-fold predictions"
    return dataset


def _neuroid_interval(
    values: np.ndarray, fn: Any, n_boot: int, level: float, seed: int, stat: str, region: str
) -> np.ndarray:
    """``(2, L)`` percentile interval of ``fn`` over ``n_boot`` resamples of the rows of ``values`` (NaN if none)."""
    if not values.shape[0]:
        return np.full((2, values.shape[1]), np.nan)
    return percentile_interval(bootstrap_rows(values, fn, n_boot, named_rng(seed, "neuroids", stat, region)), level)


def stimulus_source(scores: list[xr.Dataset], metric: str) -> str | None:
    """What the CI over stimuli recomputes ``metric`` from: ``predictions``, ``rdms`` or None (no CI).

    ``predictions`` when ``metric`` is ``ev`` and every score stores predictions and
    targets; ``rdms`` when ``metric`` is ``r`` and every score is a representation score
    storing its model and neural RDMs and their comparison (``rdm_method``).
    """
    if metric == "ev" and all("prediction" in d and "target" in d for d in scores):
        return "predictions"
    if metric == "r" and all("model_rdm" in d and "neural_rdm" in d and d.attrs.get("rdm_method") for d in scores):
        return "rdms"
    return None


def stimulus_bootstrap(
    scores: list[xr.Dataset],
    region: np.ndarray,
    regions: list[str],
    n_boot: int,
    seed: int,
    chunk: int = 50,
    metric: str = "ev",
) -> dict[str, np.ndarray]:
    """``{stat: (n_boot, K, L)}`` region statistics of ``metric`` recomputed on resampled stimuli.

    Each benchmark's stimuli are resampled independently, from a stream seeded by ``seed``
    and the benchmark's id (:func:`~brainbench.analyses.stats.named_rng`), so an area's
    interval does not depend on which other benchmarks are analysed with it; see
    :func:`stimulus_source` for what is recomputed (all NaN when nothing can be).
    """
    n_layers = scores[0].sizes["layer"]
    out = {stat: np.full((n_boot, len(regions), n_layers), np.nan) for stat in STATISTICS}
    source = stimulus_source(scores, metric)
    if source is None:
        return out  # nothing to recompute the metric from: the interval stays NaN and the figure omits it
    resample: list[Any] = []
    for position, dataset in enumerate(scores):
        # the benchmark's own stream (two scores of one benchmark, e.g. two readouts, differ by position)
        name = str(dataset.attrs.get("benchmark", ""))
        twins = [k for k, d in enumerate(scores) if str(d.attrs.get("benchmark", "")) == name]
        rng = named_rng(seed, "stimuli", name, str(twins.index(position)))
        if source == "predictions":
            prediction = dataset["prediction"].transpose("layer", "stimulus", "neuroid").values
            target = dataset["target"].transpose("stimulus", "neuroid").values
            rows = np.isfinite(prediction).all(axis=(0, 2)) & np.isfinite(target).all(axis=1)
            p, t = prediction[:, rows], target[rows]
            resample.append(
                lambda size, p=p, t=t, rng=rng: stimulus_bootstrap_ev(
                    p, t, multinomial_counts(t.shape[0], size, rng), debias=True
                )
            )
        else:
            models = dataset["model_rdm"].transpose("layer", "stimulus", "stimulus_b").values
            neural = dataset["neural_rdm"].transpose("neuroid", "stimulus", "stimulus_b").values
            method = str(dataset.attrs["rdm_method"])
            resample.append(
                lambda size, m=models, n=neural, how=method, rng=rng: bootstrap_rdm_similarity(m, n, size, rng, how)
            )
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        values = np.concatenate([draw(size) for draw in resample], axis=2)  # (size, L, N)
        for k, name in enumerate(regions):
            block = values[:, :, region == name]
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a resample with no defined value: NaN
                out["median"][start : start + size, k] = np.nanmedian(block, axis=2)
                out["mean"][start : start + size, k] = np.nanmean(block, axis=2)
    return out


def plot(dataset: xr.Dataset, combined: xr.Dataset) -> Figure:
    """Median (left) and mean (right) EV per layer per region; band: neuroid CI, bars: stimulus CI."""
    regions = list(map(str, dataset["region"].values))
    layers = list(map(str, dataset["layer"].values))
    palette = region_palette(regions)
    figure, grid = new_figure_grid(max(9.0, 1.3 * len(layers) + 3), 4.6, ncols=2, sharey=True)
    axes = list(grid[0])
    x = np.arange(len(layers))
    offsets = (np.arange(len(regions)) - (len(regions) - 1) / 2) * 0.06
    level = percent(float(dataset.attrs["level"]))
    metric = str(dataset.attrs.get("metric", "ev"))
    unit = "sites" if metric != "ev" and "site" in combined.coords else "neuroids"
    label = str(dataset.attrs["metric_label"])
    for ax, stat in zip(axes, STATISTICS, strict=True):
        for k, name in enumerate(regions):
            colour = palette[name]
            point = dataset[f"{stat}_{metric}"].values[k]
            band = dataset[f"{stat}_ci_neuroids"].values[:, k]
            bars = dataset[f"{stat}_ci_stimuli"].values[:, k]
            ax.fill_between(x, band[0], band[1], color=colour, alpha=0.18, linewidth=0)
            if np.isfinite(bars).any():
                # a percentile interval need not contain the point estimate: draw it from its bounds
                ax.errorbar(
                    x + offsets[k],
                    (bars[0] + bars[1]) / 2,
                    yerr=(bars[1] - bars[0]) / 2,
                    fmt="none",
                    ecolor=colour,
                    elinewidth=1.2,
                    capsize=3,
                )
            ax.plot(
                x + offsets[k],
                point,
                color=colour,
                marker="o",
                linewidth=2,
                label=f"{name} (n = {int(dataset['n_neuroids'].values[k])})",
            )
        ax.axhline(0.0, color="0.3", linewidth=0.8, linestyle="--")
        ax.set_xticks(x, layers, rotation=45, ha="right")
        style_axes(ax, f"{stat.capitalize()} over {unit}", "model layer", label if stat == "median" else "")
    axes[1].legend(frameon=False, fontsize=8, title="region", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    has_bars = bool(np.isfinite(dataset[f"{STATISTICS_FIRST}_ci_stimuli"].values).any())
    bars_text = (
        f"; bars: {level}% CI over stimuli"
        if has_bars
        else " (no CI over stimuli: nothing stored to recompute it from)"
    )
    what = "held-out EV" if metric == "ev" else label
    figure.suptitle(
        f"Layer-to-region correspondence: {what} per layer\n"
        + subtitle(combined.attrs["model"], json.loads(combined.attrs["benchmarks"]), combined.attrs["readout"])
        + f"\nshaded: {level}% CI over {unit}{bars_text} "
        f"({dataset.attrs['n_boot']} bootstrap resamples)",
        fontsize=10,
    )
    figure.tight_layout()
    return figure


def percent(level: float) -> str:
    """``0.95`` -> ``"95"``, ``0.975`` -> ``"97.5"`` (``int(100 * 0.57)`` would say 56)."""
    return f"{round(100 * level, 6):g}"


def _ci(values: xr.DataArray) -> str:
    low, high = (float(v) for v in values.values)
    return "-" if not np.isfinite([low, high]).all() else f"[{low:.3f}, {high:.3f}]"
