"""``ev-distribution``: how held-out EV is distributed over neuroids (paper fig. 6).

EV is read at each benchmark's headline layer (chosen on training folds only). A second
panel sets EV against the neuroid's split-half ceiling: unreliable neuroids cannot be
predicted, so a low EV there says little about the model.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from brainbench.analyses.base import (
    RELIABILITY_THRESHOLD,
    Analysis,
    AnalysisResult,
    combine_scores,
    headline_values,
    need_int,
    need_number,
    regions_in_order,
    summary_numbers,
    summary_table,
)
from brainbench.analyses.figures import new_figure_grid, region_palette, style_axes, subtitle
from brainbench.analyses.layer_profile import EV_LABEL


class EVDistribution(Analysis):
    name = "ev-distribution"
    description = "Distribution of held-out EV over neuroids at the headline layer; EV against reliability (fig. 6)."

    def run(self, scores: list[xr.Dataset], threshold: float = RELIABILITY_THRESHOLD, bins: int = 30) -> AnalysisResult:
        self.check_params({"threshold": threshold, "bins": bins})
        combined = combine_scores(scores, metric="ev")  # an EV analysis: scores without EV are refused
        ev = headline_values(combined, "ev")
        dataset = xr.Dataset(
            {
                "headline_ev": (("neuroid",), ev),
                "ceiling": combined["ceiling"],
                "headline_layer": combined["headline_layer"],
            },
            coords={c: combined[c] for c in combined.coords if combined[c].dims == ("neuroid",)},
        )
        dataset.attrs.update({k: combined.attrs[k] for k in ("model", "benchmarks", "readout")})
        dataset.attrs["reliability_threshold"] = threshold
        numbers = summary_numbers(combined, threshold)
        figure = plot(combined, ev, threshold, bins)
        markdown = "Held-out EV of each neuroid at its benchmark's headline layer.\n\n" + summary_table(numbers)
        return AnalysisResult(self.name, dataset, {"ev-distribution": figure}, numbers, markdown)

    def check_params(self, params: dict[str, Any]) -> None:
        need_number(self.name, params, "threshold")
        need_int(self.name, params, "bins", 1)


def plot(combined: xr.Dataset, ev: np.ndarray, threshold: float, bins: int) -> Figure:
    region = combined["region"].values
    ceiling = combined["ceiling"].values
    regions = regions_in_order(region)
    palette = region_palette(regions)
    figure, axes = new_figure_grid(11.0, 4.3, ncols=2)
    left, right = axes[0]
    finite = ev[np.isfinite(ev)]
    low = max(float(np.percentile(finite, 1)), -2.0) if finite.size else -1.0
    edges = np.linspace(min(low, 0.0), max(float(finite.max()) if finite.size else 1.0, 0.05), bins + 1)
    for name in regions:
        values = ev[(region == name) & np.isfinite(ev)]
        if values.size:
            left.hist(
                np.clip(values, edges[0], edges[-1]),
                bins=edges,
                histtype="step",
                linewidth=2,
                color=palette[name],
                weights=np.full(values.size, 1.0 / values.size),
                label=f"{name} (n = {values.size}, median {np.median(values):.3f})",
            )
        right.scatter(ceiling[region == name], ev[region == name], s=14, alpha=0.7, color=palette[name], label=name)
    left.axvline(0.0, color="0.3", linewidth=0.8, linestyle="--")
    style_axes(
        left,
        "Held-out EV at the headline layer",
        EV_LABEL + " (clipped at 1st pct.)",
        "fraction of the region's neuroids",
    )
    left.legend(frameon=False, fontsize=8)
    right.axhline(0.0, color="0.3", linewidth=0.8, linestyle="--")
    if np.isfinite(ceiling).any():
        right.axvline(threshold, color="0.5", linewidth=0.8, linestyle=":", label=f"reliability threshold {threshold}")
        top = np.linspace(0, max(1.0, float(np.nanmax(ceiling))), 50)
        right.plot(top, top, color="0.7", linewidth=0.8, label="EV = reliability (about the attainable maximum)")
    style_axes(
        right, "EV against the neuroid's reliability", "split-half reliability (Spearman-Brown, fraction)", EV_LABEL
    )
    right.legend(frameon=False, fontsize=8)
    if finite.size:
        right.set_ylim(low - 0.05, float(finite.max()) + 0.05)
    figure.suptitle(
        "Distribution of held-out explained variance over neuroids\n"
        + subtitle(combined.attrs["model"], json.loads(combined.attrs["benchmarks"]), combined.attrs["readout"]),
        fontsize=10,
    )
    figure.tight_layout()
    return figure
