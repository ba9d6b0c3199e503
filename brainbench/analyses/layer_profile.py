"""``layer-profile``: each neuroid's per-layer score at every model layer.

The per-layer score is the declared one (:mod:`brainbench.analyses.base`): held-out EV
(and r) for regression scores, the RDM similarity ``r`` for representation scores,
whose rows are sites. The neuroid (or site) x layer matrix is the raw material of the
paper's figures 8-15 (Cocjin & Sanchez-Iglesias, seed paper of this project): one pass
of the model per benchmark, every layer scored with the same readout (or RDM
comparison) and splits.
"""

from __future__ import annotations

import json
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
    headline_values,
    metric_label,
    need_choice,
    need_number,
    plural,
    preferred_layers,
    regions_in_order,
    summary_numbers,
    summary_table,
    unit_labels,
)
from brainbench.analyses.figures import (
    MAX_NAMED_ROWS,
    new_figure,
    new_figure_grid,
    region_palette,
    style_axes,
    subtitle,
)

EV_LABEL = "explained variance (held-out R², fraction)"


class LayerProfile(Analysis):
    name = "layer-profile"
    description = (
        "Neuroid x layer matrix of the declared per-layer score (held-out EV and r; for representation "
        "scores site x layer RDM similarity r), with every neuroid coordinate kept."
    )

    def run(
        self, scores: list[xr.Dataset], threshold: float = RELIABILITY_THRESHOLD, metric: str | None = None
    ) -> AnalysisResult:
        self.check_params({"threshold": threshold, "metric": metric})
        combined = combine_scores(scores, metric=metric)
        metric = str(combined.attrs["metric"])
        layers = list(map(str, combined["layer"].values))
        preferred = preferred_layers(combined[metric].values)
        added: dict[str, Any] = {
            "preferred_layer": ("neuroid", np.asarray([layers[k] if k >= 0 else NO_LAYER for k in preferred])),
            f"headline_{metric}": ("neuroid", headline_values(combined, metric)),
        }
        dataset = combined.assign(added)
        if "ev" in dataset:
            dataset["ev"].attrs.update(long_name="held-out explained variance R^2 = 1 - SSE/SST", units="1")
        dataset["r"].attrs.update(
            long_name="held-out Pearson r"
            if metric == "ev"
            else "Pearson r between the layer's RDM and the site's RDM",
            units="1",
        )
        numbers = summary_numbers(combined, threshold)
        figures = {
            "layer-profile-heatmap": heatmap(combined, preferred),
            "layer-profile-lines": profile_lines(combined),
        }
        unit = str(combined.attrs["unit"])
        what = "Held-out explained variance" if metric == "ev" else str(combined.attrs["metric_label"])
        readout = combined.attrs["readout"]
        markdown = (
            f"{what} of {plural(unit, numbers['n_neuroids'])} at each of "
            f"{len(layers)} layers of {combined.attrs['model']} "
            f"({', '.join(json.loads(combined.attrs['benchmarks']))}; "
            f"{f'readout {readout}' if readout else 'no readout'}).\n\n" + summary_table(numbers)
        )
        return AnalysisResult(self.name, dataset, figures, numbers, markdown)

    def check_params(self, params: dict[str, Any]) -> None:
        need_number(self.name, params, "threshold")
        need_choice(self.name, params, "metric", (None, *METRICS))


def sort_neuroids(region: np.ndarray, preferred: np.ndarray) -> np.ndarray:
    """Order: by region (first-appearance order), then preferred layer, then original order."""
    rank = {name: k for k, name in enumerate(regions_in_order(region))}
    return np.lexsort((np.arange(region.size), preferred, np.asarray([rank[r] for r in region])))


def heatmap(combined: xr.Dataset, preferred: np.ndarray) -> Figure:
    """Neuroid x layer image of the per-layer score with a region colour strip (rows named when few)."""
    from matplotlib.colors import ListedColormap, TwoSlopeNorm
    from matplotlib.patches import Patch

    region = combined["region"].values
    order = sort_neuroids(region, preferred)
    metric = str(combined.attrs.get("metric", "ev"))
    unit = str(combined.attrs.get("unit", "neuroid"))
    label = str(combined.attrs.get("metric_label", metric_label(metric)))
    ev = combined[metric].values[order]
    layers = list(map(str, combined["layer"].values))
    regions = regions_in_order(region)
    palette = region_palette(regions)
    finite = ev[np.isfinite(ev)]
    top = max(float(np.percentile(finite, 99)) if finite.size else 1.0, 1e-3)
    bottom = min(float(np.percentile(finite, 1)) if finite.size else -1.0, -1e-3)
    bottom, top = colour_range(bottom, top)
    height = min(10.0, 4.0 + 0.02 * ev.shape[0])
    figure, axes = new_figure_grid(
        2.5 + 0.6 * len(layers), height, ncols=2, gridspec_kw={"width_ratios": [0.04, 1], "wspace": 0.02}
    )
    strip, ax = axes[0]
    codes = np.asarray([regions.index(r) for r in region[order]])[:, None]
    strip.imshow(
        codes,
        aspect="auto",
        cmap=ListedColormap([palette[r] for r in regions]),
        vmin=-0.5,
        vmax=len(regions) - 0.5,
        interpolation="nearest",
    )
    strip.set_xticks([])
    strip.set_ylabel(f"{unit}, sorted by region then preferred layer (n = {ev.shape[0]})")
    if ev.shape[0] <= MAX_NAMED_ROWS:  # few rows (e.g. 21 sites): name each one
        strip.set_yticks(range(ev.shape[0]), unit_labels(combined)[order], fontsize=7)
    else:
        strip.set_yticks([])
    image = ax.imshow(ev, aspect="auto", cmap="RdBu_r", norm=TwoSlopeNorm(0.0, bottom, top), interpolation="nearest")
    ax.set_xticks(range(len(layers)), layers, rotation=45, ha="right")
    ax.set_yticks([])
    ax.set_xlabel("model layer")
    ax.set_title(
        ("Held-out explained variance" if metric == "ev" else f"{label}:")
        + f" per {unit} and layer\n"
        + subtitle(combined.attrs["model"], json.loads(combined.attrs["benchmarks"]), combined.attrs["readout"]),
        fontsize=10,
    )
    colorbar = figure.colorbar(image, ax=ax, fraction=0.05, pad=0.02, ticks=colour_ticks(bottom, top))
    what = "held-out EV (R², fraction; " if metric == "ev" else f"{label} ("
    colorbar.set_label(f"{what}clipped at 1st/99th pct.)")
    colorbar.ax.yaxis.set_major_formatter("{x:.2f}")
    figure.legend(
        handles=[Patch(color=palette[r], label=r) for r in regions],
        title="region",
        loc="lower center",
        ncols=min(len(regions), 6),
        frameon=False,
        bbox_to_anchor=(0.5, -0.08),
    )
    figure.subplots_adjust(bottom=0.2)
    return figure


def colour_range(bottom: float, top: float) -> tuple[float, float]:
    """``(bottom, top)`` of the two-slope colour norm: a side under 5% of the other is widened to mirror it.

    Each side of a two-slope norm fills half the colour bar; a sliver (e.g. all RDM
    similarities above 0, clipped at -0.001) would spread a range of nothing over half of
    it. Mirrored, both halves share one scale and white stays at 0.
    """
    if -bottom < 0.05 * top:
        bottom = -top
    elif top < 0.05 * -bottom:
        top = -bottom
    return bottom, top


def colour_ticks(bottom: float, top: float) -> np.ndarray:
    """Colour-bar ticks of a two-slope norm: 3 below 0 and 4 above, rounded, with no ``-0.00``."""
    low, high = np.ceil(bottom * 1000) / 1000, np.floor(top * 1000) / 1000  # rounded inwards: all shown
    ticks = np.unique(np.round(np.concatenate([np.linspace(low, 0, 3), np.linspace(0, high, 4)]), 3))
    return ticks + 0.0  # -0.0 + 0.0 is 0.0


def profile_lines(combined: xr.Dataset) -> Figure:
    """Each neuroid's profile of the per-layer score (thin) and each region's median profile (thick)."""
    region = combined["region"].values
    metric = str(combined.attrs.get("metric", "ev"))
    unit = str(combined.attrs.get("unit", "neuroid"))
    ev = combined[metric].values
    layers = list(map(str, combined["layer"].values))
    regions = regions_in_order(region)
    palette = region_palette(regions)
    figure, ax = new_figure(max(6.0, 0.8 * len(layers) + 2), 4.5)
    x = np.arange(len(layers))
    alpha = float(np.clip(8.0 / max(ev.shape[0], 1), 0.03, 0.4))
    for name in regions:
        rows = ev[region == name]
        ax.plot(x, rows.T, color=palette[name], alpha=alpha, linewidth=0.6)
        with np.errstate(all="ignore"):
            median = np.nanmedian(rows, axis=0) if rows.size else np.full(len(layers), np.nan)
        ax.plot(x, median, color=palette[name], linewidth=2.5, marker="o", label=f"{name} median (n = {rows.shape[0]})")
    ax.axhline(0.0, color="0.3", linewidth=0.8, linestyle="--")
    ax.set_xticks(x, layers, rotation=45, ha="right")
    finite = ev[np.isfinite(ev)]
    if finite.size:
        ax.set_ylim(max(float(np.percentile(finite, 1)), -1.0) - 0.05, float(finite.max()) + 0.05)
    style_axes(
        ax,
        f"Layer profiles of individual {plural(unit)} (thin) and region medians (thick)\n"
        + subtitle(combined.attrs["model"], json.loads(combined.attrs["benchmarks"]), combined.attrs["readout"]),
        "model layer",
        str(combined.attrs.get("metric_label", metric_label(metric))),
    )
    ax.legend(frameon=False, fontsize=8)
    figure.tight_layout()
    return figure
