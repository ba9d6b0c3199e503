"""``clustermap``: hierarchical clustering of layer-profile correlations (paper figs. 10-15).

Neuroids are clustered on correlation distance ``1 - r`` between their layer profiles
(the declared per-layer score at each layer: held-out EV, or for representation scores,
whose rows are sites, the RDM similarity ``r``; average linkage, optimal leaf ordering)
and shown as a clustered correlation matrix with region colour bars, and a second bar
for the sites' ``cortical_layer`` where the scores have one. Up to 60 rows are named
(a site as ``area cortical-layer``, e.g. ``VISp L2/3``). If regions had distinct
profiles, the colour bars would form blocks along the diagonal; the adjusted Rand
index between the tree cut into as many clusters as there are regions and the region
labels puts a number on that.
Figures: all neuroids; each region alone (figs. 14-15) when there are several; each
pair of regions (figs. 10-13) when there are more than two.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from brainbench.analyses.base import (
    METRICS,
    RELIABILITY_THRESHOLD,
    Analysis,
    AnalysisError,
    AnalysisResult,
    combine_scores,
    need_bool,
    need_choice,
    need_int,
    need_number,
    plural,
    regions_in_order,
    summary_numbers,
    summary_table,
    unit_labels,
)
from brainbench.analyses.figures import MAX_NAMED_ROWS, level_palette, region_palette, subtitle
from brainbench.analyses.profile_consistency import defined_profiles, profile_r_label
from brainbench.analyses.stats import adjusted_rand_index, cluster_order

#: scipy's linkage methods (average, UPGMA, is the one defined for any distance such as 1 - r).
LINKAGE_METHODS = ("average", "single", "complete", "weighted", "centroid", "median", "ward")


class Clustermap(Analysis):
    name = "clustermap"
    description = (
        "Hierarchical clustering of the layer-profile correlation matrix (neuroids, or sites of representation "
        "scores) with region colour bars, and cortical-layer bars where sites have one (figs. 10-15)."
    )

    def run(
        self,
        scores: list[xr.Dataset],
        metric: str | None = None,
        method: str = "average",
        n_clusters: int | None = None,
        panels: str = "auto",
        reliable_only: bool = False,
        threshold: float = RELIABILITY_THRESHOLD,
    ) -> AnalysisResult:
        self.check_params(
            {
                "metric": metric,
                "method": method,
                "n_clusters": n_clusters,
                "panels": panels,
                "reliable_only": reliable_only,
                "threshold": threshold,
            }
        )
        combined = combine_scores(scores, metric=metric)
        metric = str(combined.attrs["metric"])  # the declared per-layer score unless one is asked for
        kept, corr, dropped = defined_profiles(combined, metric, reliable_only, threshold)
        n = kept.sizes["neuroid"]
        unit = str(combined.attrs["unit"])
        if n < 3:
            raise AnalysisError(f"only {plural(unit, n)} have a defined layer profile; clustermap needs at least 3.")
        region = kept["region"].values
        names = unit_labels(kept)
        level = kept["cortical_layer"].values.astype(str) if "cortical_layer" in kept.coords else None
        regions = regions_in_order(region)
        tree, order = cluster_order(corr, method)
        from scipy.cluster.hierarchy import fcluster

        k = n_clusters or max(len(regions), 2)
        labels = fcluster(tree, t=k, criterion="maxclust")
        ari = adjusted_rand_index(labels, region) if len(regions) > 1 else None
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n)
        extra = {"cortical_layer": ("neuroid", level)} if level is not None else {}
        dataset = xr.Dataset(
            {
                "correlation": (("neuroid", "neuroid_other"), corr),
                "leaf_position": (("neuroid",), position),
                "cluster": (("neuroid",), labels.astype(np.int64)),
                "linkage": (("merge", "linkage_column"), tree),
            },
            coords={
                "neuroid_id": ("neuroid", kept["neuroid_id"].values),
                "region": ("neuroid", region),
                "label": ("neuroid", names),
                **extra,
                "neuroid_id_other": ("neuroid_other", kept["neuroid_id"].values),
                "linkage_column": ["left", "right", "distance", "size"],
            },
        )
        dataset.attrs.update(
            {
                "model": combined.attrs["model"],
                "benchmarks": combined.attrs["benchmarks"],
                "readout": combined.attrs["readout"],
                "metric": metric,
                "unit": unit,
                "method": method,
                "distance": "1 - Pearson r",
                "n_clusters": k,
                "adjusted_rand_index": np.nan if ari is None else ari,
            }
        )
        title = subtitle(combined.attrs["model"], json.loads(combined.attrs["benchmarks"]), combined.attrs["readout"])
        rows = Rows(region, names, level, unit)
        figures = {"clustermap": draw(corr, rows, regions, method, f"all regions, {plural(unit, n)}", title)}
        groups: list[tuple[str, ...]] = []
        if len(regions) > 1:
            groups += [(r,) for r in regions]
        if len(regions) > 2 or panels == "all":
            groups += list(itertools.combinations(regions, 2)) if len(regions) > 1 else []
        for group in groups:
            index = np.flatnonzero(np.isin(region, group))
            if index.size >= 3:
                label = " and ".join(group)
                figures[f"clustermap-{'-'.join(group)}"] = draw(
                    corr[np.ix_(index, index)],
                    rows.subset(index),
                    regions,
                    method,
                    f"{label}, {plural(unit, index.size)}",
                    title,
                )
        numbers = summary_numbers(combined, threshold)
        numbers["clustering"] = {
            "metric": metric,
            "method": method,
            "n_profiles": n,
            "n_dropped": dropped.total,
            "n_dropped_undefined": dropped.undefined,
            "n_dropped_unreliable": dropped.unreliable,
            "n_clusters": k,
            "unit": unit,
            "leaf_order": [str(v) for v in names[order]],
            "adjusted_rand_index_vs_region": ari,
            "cluster_sizes": {int(c): int((labels == c).sum()) for c in np.unique(labels)},
        }
        ari_text = (
            f"Adjusted Rand index between the tree cut into {k} clusters and the region labels: "
            f"{ari:.3f} (0: no more agreement than chance, 1: clusters are the regions)."
            if ari is not None
            else "One region only: no region agreement to measure."
        )
        markdown = (
            f"Hierarchical clustering ({method} linkage on 1 - r, r the Pearson correlation between two "
            f"profiles) of {plural(unit, n)}' layer profiles ({combined.attrs['metric_label']} at each layer; "
            f"{dropped.describe(threshold)}). {ari_text}\n\n"
            + (f"Leaf order: {', '.join(names[order])}.\n\n" if n <= MAX_NAMED_ROWS else "")
            + summary_table(numbers)
        )
        return AnalysisResult(self.name, dataset, figures, numbers, markdown)

    def check_params(self, params: dict[str, Any]) -> None:
        if params.get("panels", "auto") not in ("auto", "all"):
            raise AnalysisError(
                f"clustermap panels must be 'auto' (all, each region, each pair) or 'all'; got {params['panels']!r}."
            )
        need_choice(self.name, params, "metric", (None, *METRICS))
        need_choice(self.name, params, "method", LINKAGE_METHODS)
        if params.get("n_clusters") is not None:
            need_int(self.name, params, "n_clusters", 1)
        need_bool(self.name, params, "reliable_only")
        need_number(self.name, params, "threshold")


@dataclass(frozen=True)
class Rows:
    """What the clustermap shows of each row: region, display name, optional cortical layer, unit."""

    region: np.ndarray
    names: np.ndarray
    level: np.ndarray | None
    unit: str

    def subset(self, index: np.ndarray) -> Rows:
        level = None if self.level is None else self.level[index]
        return Rows(self.region[index], self.names[index], level, self.unit)


def draw(corr: np.ndarray, rows: Rows, regions: list[str], method: str, label: str, title: str) -> Figure:
    """A seaborn clustermap of ``corr`` (re-clustered for this subset) with region (and cortical-layer) bars.

    seaborn draws a clustermap on a pyplot figure (in whatever backend is active; it never
    selects one); the figure is then released from pyplot, like every analysis figure.
    """
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns
    from matplotlib.patches import Patch

    palette = region_palette(regions)
    tree, _ = cluster_order(corr, method)
    n = corr.shape[0]
    named = n <= MAX_NAMED_ROWS
    index = pd.Index(rows.names if named and len(set(rows.names)) == n else np.arange(n).astype(str))
    bars = {"region": [palette[r] for r in rows.region]}
    levels = level_palette(rows.level) if rows.level is not None else {}
    if rows.level is not None:
        bars["cortical layer"] = [levels[v] for v in rows.level]
    colours = pd.DataFrame(bars, index=index)
    size = float(np.clip(4.0 + 0.01 * n, 6.0, 11.0))
    grid = sns.clustermap(
        pd.DataFrame(corr, index=index, columns=index),
        row_linkage=tree,
        col_linkage=tree,
        row_colors=colours,
        col_colors=colours,
        cmap="RdBu_r",
        vmin=-1,
        vmax=1,
        xticklabels=named,
        yticklabels=named,
        figsize=(size, size),
        dendrogram_ratio=0.12,
        colors_ratio=0.025,
        cbar_pos=(0.02, 0.83, 0.025, 0.12),
        rasterized=True,
    )
    if named:
        grid.ax_heatmap.tick_params(labelsize=7)
    grid.ax_heatmap.set_xlabel(f"{rows.unit} (clustered order)")
    grid.ax_heatmap.set_ylabel(f"{rows.unit} (clustered order)")
    grid.ax_cbar.set_title("r", fontsize=9)
    present = [r for r in regions if r in set(rows.region)]
    legend = grid.ax_heatmap.legend(
        handles=[Patch(color=palette[r], label=r) for r in present],
        title="region",
        loc="upper left",
        bbox_to_anchor=(1.3 if named else 1.01, 1.0),
        frameon=False,
    )
    if levels:
        grid.ax_heatmap.add_artist(legend)
        grid.ax_heatmap.legend(
            handles=[Patch(color=c, label=v) for v, c in levels.items()],
            title="cortical layer",
            loc="lower left",
            bbox_to_anchor=(1.3 if named else 1.01, 0.0),
            frameon=False,
        )
    bar_text = "region and cortical layer" if levels else "region"
    grid.figure.suptitle(
        f"Clustered correlations between layer profiles: {label}\n{title}\n"
        f"colour: {profile_r_label(rows.unit)}; bars: {bar_text}",
        fontsize=10,
        y=1.09,
    )
    figure: Figure = grid.figure
    plt.close(figure)  # pyplot forgets it (no window, no notebook auto-display); it still saves
    return figure
