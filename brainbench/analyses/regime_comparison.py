"""``regime-comparison``: held-out EV per readout configuration (paper fig. 7).

The paper compared four subsampled, L1/L2-regularised readouts (s1-s4) and one spatial
Laplacian readout (sp1). Here any registered readouts can be compared: by default
``simple`` and those of s1-s4, sp1 that the registry declares. EV is read at each
readout's own headline layer (chosen on training folds only).
"""

from __future__ import annotations

import json
from typing import Any, cast

import numpy as np
import xarray as xr
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from brainbench.analyses.base import (
    RELIABILITY_THRESHOLD,
    Analysis,
    AnalysisError,
    AnalysisResult,
    combine_scores,
    headline_values,
    need_number,
    regions_in_order,
    summary_numbers,
)
from brainbench.analyses.figures import new_figure, region_palette, style_axes
from brainbench.analyses.layer_profile import EV_LABEL

PAPER_READOUTS = ("simple", "s1", "s2", "s3", "s4", "sp1")


class RegimeComparison(Analysis):
    name = "regime-comparison"
    description = (
        "Held-out EV per readout configuration as violins (fig. 7); default: simple and the paper's s1-s4, sp1."
    )
    multi_readout = True

    def default_readouts(self, available: list[str]) -> list[str]:
        return [r for r in PAPER_READOUTS if r in available]

    def run(self, scores: list[xr.Dataset], threshold: float = RELIABILITY_THRESHOLD) -> AnalysisResult:
        self.check_params({"threshold": threshold})
        by_readout: dict[str, list[xr.Dataset]] = {}
        for dataset in scores:
            by_readout.setdefault(str(dataset.attrs.get("readout", "")), []).append(dataset)
        readouts = list(by_readout)
        combined = {r: combine_scores(v, metric="ev") for r, v in by_readout.items()}
        first = combined[readouts[0]]
        ids = first["neuroid_id"].values
        for name, c in combined.items():
            if list(c["neuroid_id"].values) != list(ids):
                raise AnalysisError(
                    f"readout {name!r} was scored on other neuroids than {readouts[0]!r}; "
                    "compare readouts on the same benchmarks."
                )
        ev = np.stack([headline_values(combined[r], "ev") for r in readouts])
        best = np.asarray(
            [
                str(combined[r]["headline_layer"].values[0]) if len(by_readout[r]) == 1 else "per benchmark"
                for r in readouts
            ]
        )
        dataset = xr.Dataset(
            {
                "headline_ev": (("readout", "neuroid"), ev),
                "ev": (("readout", "neuroid", "layer"), np.stack([combined[r]["ev"].values for r in readouts])),
                "headline_layer": (("readout",), best),
            },
            coords={
                "readout": readouts,
                "layer": first["layer"].values,
                "neuroid_id": ("neuroid", ids),
                "region": ("neuroid", first["region"].values),
            },
        )
        dataset.attrs.update({"model": first.attrs["model"], "benchmarks": first.attrs["benchmarks"]})
        numbers: dict[str, Any] = {"readouts": {}}
        rows = ["| readout | median EV | max EV | EV > 0 | headline layer |", "| --- | ---: | ---: | ---: | --- |"]
        for k, name in enumerate(readouts):
            values = ev[k][np.isfinite(ev[k])]
            median = float(np.median(values)) if values.size else None
            top = float(values.max()) if values.size else None
            positive = float((values > 0).mean()) if values.size else None
            numbers["readouts"][name] = {
                "median_ev": median,
                "max_ev": top,
                "fraction_ev_positive": positive,
                "headline_layer": str(best[k]),
                "summary": summary_numbers(combined[name], threshold),
            }
            rows.append(
                f"| {name} | {_f(median)} | {_f(top)} | "
                f"{_f(None if positive is None else 100 * positive, '.1f')}% | {best[k]} |"
            )
        if len(readouts) == 1:
            rows.append("\nOnly one readout was scored; register or pass more with --readout to compare.")
        markdown = "Held-out EV per readout configuration at each readout's headline layer.\n\n" + "\n".join(rows)
        figure = plot(ev, readouts, first)
        return AnalysisResult(self.name, dataset, {"regime-comparison": figure}, numbers, markdown)

    def check_params(self, params: dict[str, Any]) -> None:
        need_number(self.name, params, "threshold")


def _f(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def plot(ev: np.ndarray, readouts: list[str], combined: xr.Dataset) -> Figure:
    region = combined["region"].values
    regions = regions_in_order(region)
    palette = region_palette(regions)
    figure, ax = new_figure(max(6.0, 1.4 * len(readouts) * max(1, len(regions)) ** 0.5 + 2), 4.5)
    width = 0.8 / len(regions)
    for j, name in enumerate(regions):
        positions, data = [], []
        for k in range(len(readouts)):
            values = ev[k][(region == name) & np.isfinite(ev[k])]
            if values.size >= 2:
                positions.append(k + (j - (len(regions) - 1) / 2) * width)
                data.append(values)
        if data:
            parts = ax.violinplot(data, positions=positions, widths=width * 0.95, showmedians=True)
            # matplotlib's stubs type every value of this dict as one Collection; "bodies" is a list of them
            for body in cast("list[PolyCollection]", parts["bodies"]):
                body.set_facecolor(palette[name])
                body.set_edgecolor(palette[name])
                body.set_alpha(0.55)
            for key in ("cmedians", "cmins", "cmaxes", "cbars"):
                parts[key].set_color(palette[name])
        ax.plot([], [], color=palette[name], linewidth=6, alpha=0.55, label=name)
    ax.axhline(0.0, color="0.3", linewidth=0.8, linestyle="--")
    ax.set_xticks(range(len(readouts)), readouts)
    style_axes(
        ax,
        "Held-out EV per readout configuration (headline layer of each)\n"
        f"{combined.attrs['model']} on {', '.join(json.loads(combined.attrs['benchmarks']))}",
        "readout configuration",
        EV_LABEL,
    )
    ax.legend(frameon=False, fontsize=8, title="region")
    figure.tight_layout()
    return figure
