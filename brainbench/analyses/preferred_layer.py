"""``preferred-layer``: which layer predicts each neuroid best, and how that spreads per region.

The preferred layer is the layer with the neuroid's highest held-out EV. It is a
description of the profile, not a model selection (it looks at test folds); the
headline score of a benchmark never uses it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from brainbench.analyses.base import (
    NO_LAYER,
    RELIABILITY_THRESHOLD,
    Analysis,
    AnalysisResult,
    combine_scores,
    need_bool,
    need_number,
    preferred_layers,
    regions_in_order,
    summary_numbers,
    summary_table,
)
from brainbench.analyses.figures import new_figure, region_palette, style_axes, subtitle


class PreferredLayer(Analysis):
    name = "preferred-layer"
    description = "Each neuroid's best-predicting layer and the distribution of preferred layers per region."

    def run(
        self, scores: list[xr.Dataset], threshold: float = RELIABILITY_THRESHOLD, reliable_only: bool = False
    ) -> AnalysisResult:
        self.check_params({"threshold": threshold, "reliable_only": reliable_only})
        combined = combine_scores(scores, metric="ev")  # an EV analysis: scores without EV are refused
        if reliable_only:
            combined = combined.isel(neuroid=np.flatnonzero(combined["ceiling"].values > threshold))
        layers = list(map(str, combined["layer"].values))
        preferred = preferred_layers(combined["ev"].values)
        region = combined["region"].values
        regions = regions_in_order(region)
        counts = np.asarray(
            [[int(((region == r) & (preferred == k)).sum()) for k in range(len(layers))] for r in regions]
        )
        # neuroids no layer predicts above 0 prefer none: counted apart, but in the region's total
        none = np.asarray([int(((region == r) & (preferred < 0)).sum()) for r in regions])
        best_ev = np.where(
            preferred >= 0, combined["ev"].values[np.arange(preferred.size), np.maximum(preferred, 0)], np.nan
        )
        dataset = xr.Dataset(
            {
                "preferred_layer": (("neuroid",), np.asarray([layers[k] if k >= 0 else NO_LAYER for k in preferred])),
                "preferred_ev": (("neuroid",), best_ev),
                "count": (("region", "layer"), counts),
                "count_none": (("region",), none),
            },
            coords={
                "neuroid_id": ("neuroid", combined["neuroid_id"].values),
                "neuroid_region": ("neuroid", region),
                "region": regions,
                "layer": layers,
            },
        )
        dataset.attrs.update({k: combined.attrs[k] for k in ("model", "benchmarks", "readout")})
        dataset.attrs["reliable_only"] = int(reliable_only)
        numbers = summary_numbers(combined, threshold)
        figure = plot(counts, none, regions, layers, combined)
        markdown = (
            "Preferred layer = the layer with the neuroid's highest held-out EV"
            + (f" (reliable neuroids only, ceiling > {threshold})" if reliable_only else "")
            + ".\n\n"
            + summary_table(numbers)
        )
        return AnalysisResult(self.name, dataset, {"preferred-layer": figure}, numbers, markdown)

    def check_params(self, params: dict[str, Any]) -> None:
        need_number(self.name, params, "threshold")
        need_bool(self.name, params, "reliable_only")


def plot(counts: np.ndarray, none: np.ndarray, regions: list[str], layers: list[str], combined: xr.Dataset) -> Figure:
    """Bars: the fraction of each region's neuroids preferring each layer (those preferring none included in n)."""
    palette = region_palette(regions)
    figure, ax = new_figure(max(6.0, 0.9 * len(layers) + 2), 4.3)
    x = np.arange(len(layers))
    width = 0.8 / max(len(regions), 1)
    for k, name in enumerate(regions):
        n = int(counts[k].sum() + none[k])
        total = max(n, 1)
        ax.bar(
            x + (k - (len(regions) - 1) / 2) * width,
            counts[k] / total,
            width=width,
            color=palette[name],
            label=f"{name} (n = {n}" + (f"; {int(none[k])} with no layer above 0)" if none[k] else ")"),
        )
    ax.set_xticks(x, layers, rotation=45, ha="right")
    style_axes(
        ax,
        "Preferred layer per neuroid (layer of highest held-out EV)\n"
        + subtitle(combined.attrs["model"], json.loads(combined.attrs["benchmarks"]), combined.attrs["readout"]),
        "model layer",
        "fraction of the region's neuroids",
    )
    ax.legend(frameon=False, fontsize=8, title="region")
    figure.tight_layout()
    return figure
