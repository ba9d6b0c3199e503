"""``clustermap``: hierarchical clustering of layer-profile correlations (paper figs. 10-15).

Neuroids are clustered on correlation distance ``1 - r`` between their layer profiles
(average linkage, optimal leaf ordering) and shown as a clustered correlation matrix
with region colour bars. If regions had distinct profiles, the colour bars would form
blocks along the diagonal; the adjusted Rand index between the tree cut into as many
clusters as there are regions and the region labels puts a number on that.
Figures: all neuroids; each region alone (figs. 14-15) when there are several; each
pair of regions (figs. 10-13) when there are more than two.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from brainbench.analyses.base import (
    RELIABILITY_THRESHOLD,
    Analysis,
    AnalysisError,
    AnalysisResult,
    combine_scores,
    regions_in_order,
    summary_numbers,
    summary_table,
)
from brainbench.analyses.figures import region_palette, subtitle
from brainbench.analyses.profile_consistency import R_LABEL, defined_profiles
from brainbench.analyses.stats import adjusted_rand_index, cluster_order


class Clustermap(Analysis):
    name = "clustermap"
    description = (
        "Hierarchical clustering of the layer-profile correlation matrix with region colour bars (figs. 10-15)."
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
        if panels not in ("auto", "all"):
            raise AnalysisError(
                f"clustermap panels must be 'auto' (all, each region, each pair) or 'all'; got {panels!r}."
            )
        combined = combine_scores(scores, metric=metric)
        metric = str(combined.attrs["metric"])  # the declared per-layer score unless one is asked for
        kept, corr, dropped = defined_profiles(combined, metric, reliable_only, threshold)
        n = kept.sizes["neuroid"]
        if n < 3:
            raise AnalysisError(f"only {n} neuroids have a defined layer profile; clustermap needs at least 3.")
        region = kept["region"].values
        regions = regions_in_order(region)
        tree, order = cluster_order(corr, method)
        from scipy.cluster.hierarchy import fcluster

        k = n_clusters or max(len(regions), 2)
        labels = fcluster(tree, t=k, criterion="maxclust")
        ari = adjusted_rand_index(labels, region) if len(regions) > 1 else None
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n)
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
                "method": method,
                "distance": "1 - Pearson r",
                "n_clusters": k,
                "adjusted_rand_index": np.nan if ari is None else ari,
            }
        )
        title = subtitle(combined.attrs["model"], json.loads(combined.attrs["benchmarks"]), combined.attrs["readout"])
        figures = {"clustermap": draw(corr, region, regions, method, f"all regions, {n} neuroids", title)}
        groups: list[tuple[str, ...]] = []
        if len(regions) > 1:
            groups += [(r,) for r in regions]
        if len(regions) > 2 or panels == "all":
            groups += list(itertools.combinations(regions, 2)) if len(regions) > 1 else []
        for group in groups:
            index = np.flatnonzero(np.isin(region, group))
            if index.size >= 3:
                label = " and ".join(group)
                figures[f"clustermap_{'_'.join(group)}"] = draw(
                    corr[np.ix_(index, index)], region[index], regions, method, f"{label}, {index.size} neuroids", title
                )
        numbers = summary_numbers(combined, threshold)
        numbers["clustering"] = {
            "metric": metric,
            "method": method,
            "n_profiles": n,
            "n_dropped": dropped,
            "n_clusters": k,
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
            f"Hierarchical clustering ({method} linkage on 1 - r) of {n} neuroids' layer profiles "
            f"({metric} at each layer; {dropped} dropped with NaN or flat profiles). {ari_text}\n\n"
            + summary_table(numbers)
        )
        return AnalysisResult(self.name, dataset, figures, numbers, markdown)


def draw(corr: np.ndarray, region: np.ndarray, regions: list[str], method: str, label: str, title: str) -> Figure:
    """A seaborn clustermap of ``corr`` (re-clustered for this subset) with region colour bars.

    seaborn draws a clustermap on a pyplot figure (in whatever backend is active; it never
    selects one); the figure is then released from pyplot, like every analysis figure.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.patches import Patch

    palette = region_palette(regions)
    tree, _ = cluster_order(corr, method)
    colours = [palette[r] for r in region]
    size = float(np.clip(4.0 + 0.01 * corr.shape[0], 6.0, 11.0))
    grid = sns.clustermap(
        corr,
        row_linkage=tree,
        col_linkage=tree,
        row_colors=colours,
        col_colors=colours,
        cmap="RdBu_r",
        vmin=-1,
        vmax=1,
        xticklabels=False,
        yticklabels=False,
        figsize=(size, size),
        dendrogram_ratio=0.12,
        colors_ratio=0.025,
        cbar_pos=(0.02, 0.83, 0.025, 0.12),
        rasterized=True,
    )
    grid.ax_heatmap.set_xlabel("neuroid (clustered order)")
    grid.ax_heatmap.set_ylabel("neuroid (clustered order)")
    grid.ax_cbar.set_title("r", fontsize=9)
    present = [r for r in regions if r in set(region)]
    grid.ax_heatmap.legend(
        handles=[Patch(color=palette[r], label=r) for r in present],
        title="region",
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        frameon=False,
    )
    grid.figure.suptitle(
        f"Clustered correlations between layer profiles: {label}\n{title}\ncolour: {R_LABEL}; bars: region",
        fontsize=10,
        y=1.09,
    )
    figure: Figure = grid.figure
    plt.close(figure)  # pyplot forgets it (no window, no notebook auto-display); it still saves
    return figure
