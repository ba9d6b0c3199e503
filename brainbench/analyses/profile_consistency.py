"""``profile-consistency``: are layer profiles more alike within a region than between?

A neuroid's *layer profile* is its declared per-layer score at each layer (a vector of
``L`` values): held-out EV for regression scores; for representation scores, whose rows
are sites (an area's cortical layers for ``allen-rsa-*``), the RDM similarity ``r``.
Following the paper's figure 9, the Pearson correlation between two profiles measures
how alike they are regardless of their overall level; the distributions of these
correlations within each region and between each pair of regions are reported, with
the pooled mean over all same-region and all different-region pairs, and a permutation
test asks whether same-region pairs correlate more than different-region pairs
(statistic: mean within-pair r minus mean between-pair r; null: region labels shuffled
across neuroids, region sizes kept). ``stratify`` names a neuroid coordinate (e.g.
``cortical_layer``) to shuffle the labels only within each of its values.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

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
)
from brainbench.analyses.figures import new_figure, new_figure_grid, region_palette, style_axes, subtitle
from brainbench.analyses.stats import pair_values, permutation_test, profile_correlation, within_and_between

R_LABEL = "Pearson r between two neuroids' layer profiles"


def profile_r_label(unit: str = "neuroid") -> str:
    """What the profile correlations are, named for the rows (``neuroid`` or ``site``)."""
    return f"Pearson r between two {unit}s' layer profiles"


class Dropped(NamedTuple):
    """How many neuroids :func:`defined_profiles` dropped, and why."""

    undefined: int  # a NaN layer or a flat profile: no correlation defined
    unreliable: int  # defined, but ceiling <= threshold under reliable_only (NaN ceiling included)

    @property
    def total(self) -> int:
        return self.undefined + self.unreliable

    def describe(self, threshold: float) -> str:
        """``"2 dropped: NaN or flat profile"`` (plus the unreliable ones where any were dropped)."""
        text = f"{self.undefined} dropped: NaN or flat profile"
        return text + (f"; {self.unreliable} unreliable (ceiling <= {threshold})" if self.unreliable else "")


def defined_profiles(
    combined: xr.Dataset, metric: str = "ev", reliable_only: bool = False, threshold: float = RELIABILITY_THRESHOLD
) -> tuple[xr.Dataset, np.ndarray, Dropped]:
    """Neuroids whose profile correlation is defined, and their ``(n, n)`` correlation matrix.

    A profile with a NaN layer or no variation across layers has no correlation and is
    dropped; ``reliable_only`` also drops neuroids with ceiling <= ``threshold``.
    Returns:
        (kept neuroids of ``combined``, correlation matrix, how many were dropped and why).
    """
    if metric not in combined:
        raise AnalysisError(f"unknown profile metric {metric!r}; use ev, r or ceiled.")
    profiles = combined[metric].values
    corr = profile_correlation(profiles)
    defined = np.isfinite(np.diag(corr))
    keep = defined & (combined["ceiling"].values > threshold) if reliable_only else defined
    index = np.flatnonzero(keep)
    dropped = Dropped(int((~defined).sum()), int((defined & ~keep).sum()))
    return combined.isel(neuroid=index), corr[np.ix_(index, index)], dropped


class ProfileConsistency(Analysis):
    name = "profile-consistency"
    description = (
        "Correlations between neuroids' (representation scores: sites') layer profiles of the declared "
        "per-layer score within and between regions (paper fig. 9), with a permutation test of within > between."
    )

    def run(
        self,
        scores: list[xr.Dataset],
        metric: str | None = None,
        n_permutations: int = 1000,
        seed: int = 0,
        reliable_only: bool = False,
        threshold: float = RELIABILITY_THRESHOLD,
        stratify: str | None = None,
    ) -> AnalysisResult:
        self.check_params(
            {
                "metric": metric,
                "n_permutations": n_permutations,
                "seed": seed,
                "reliable_only": reliable_only,
                "threshold": threshold,
                "stratify": stratify,
            }
        )
        combined = combine_scores(scores, metric=metric)
        metric = str(combined.attrs["metric"])  # the declared per-layer score unless one is asked for
        unit = str(combined.attrs["unit"])
        kept, corr, dropped = defined_profiles(combined, metric, reliable_only, threshold)
        if kept.sizes["neuroid"] < 3:
            raise AnalysisError(
                f"only {plural(unit, kept.sizes['neuroid'])} have a defined layer profile; "
                f"profile-consistency needs at least 3 (score more layers or {plural(unit)})."
            )
        if stratify is not None and (stratify not in kept.coords or kept[stratify].dims != ("neuroid",)):
            names = sorted(str(c) for c in kept.coords if kept[c].dims == ("neuroid",) and c != "region")
            raise AnalysisError(
                f"stratify={stratify!r} is not a coordinate of the {plural(unit)}; choose one of {', '.join(names)}."
            )
        region = kept["region"].values
        regions = regions_in_order(region)
        n_regions = len(regions)
        pair_stats = np.full((4, n_regions, n_regions), np.nan)  # mean, median, n pairs, fraction r > 0
        distributions: dict[tuple[str, str], np.ndarray] = {}
        for a, first in enumerate(regions):
            for b, second in enumerate(regions):
                values = pair_values(corr, region, first, second)
                distributions[(first, second)] = values
                if values.size:
                    pair_stats[:, a, b] = [values.mean(), np.median(values), values.size, (values > 0).mean()]
                else:
                    pair_stats[2, a, b] = 0
        within, between = within_and_between(corr, region)
        test: dict[str, Any] = {
            "n_permutations": n_permutations,
            "statistic": f"mean within-region r minus mean between-region r over distinct {unit} pairs",
            "null": f"region labels shuffled across {plural(unit)}, region sizes kept"
            + (f", only among {plural(unit)} of the same {stratify}" if stratify else ""),
            "stratify": stratify,
        }
        null = np.empty(0)
        # the statistic needs a same-region pair: with one profile per region there is no within mean
        if n_regions >= 2 and within.size and n_permutations > 0:
            strata = None if stratify is None else np.asarray([str(v) for v in kept[stratify].values])
            observed, null, p = permutation_test(
                corr, region, n_permutations, np.random.default_rng(seed), strata=strata
            )
            test.update(
                observed=round(observed, 6),
                p_value=round(p, 6),
                null_mean=round(float(null.mean()), 6),
                null_sd=round(float(null.std()), 6),
            )
        else:
            if n_regions < 2:
                why = f"the within-vs-between permutation test needs {plural(unit)} of at least two regions"
            elif not within.size:
                why = (
                    "the within-vs-between permutation test needs a region with at least two "
                    f"{plural(unit)} of defined profile"
                )
            else:
                why = "n_permutations=0 asked for no permutations"
            test.update(observed=None, p_value=None, note=why)
        coords = {
            "region": regions,
            "region_other": regions,
            "neuroid_id": ("neuroid", kept["neuroid_id"].values),
            "neuroid_region": ("neuroid", region),
            "neuroid_id_other": ("neuroid_other", kept["neuroid_id"].values),
        }
        dataset = xr.Dataset(
            {
                "correlation": (("neuroid", "neuroid_other"), corr),
                "pair_mean": (("region", "region_other"), pair_stats[0]),
                "pair_median": (("region", "region_other"), pair_stats[1]),
                "pair_count": (("region", "region_other"), pair_stats[2].astype(np.int64)),
                "pair_fraction_positive": (("region", "region_other"), pair_stats[3]),
                "null": (("permutation",), null),
            },
            coords=coords,
        )
        dataset["correlation"].attrs["long_name"] = profile_r_label(unit) + f" ({metric} at each layer)"
        dataset.attrs.update(
            {
                "model": combined.attrs["model"],
                "benchmarks": combined.attrs["benchmarks"],
                "readout": combined.attrs["readout"],
                "metric": metric,
                "unit": unit,
                "seed": seed,
                "n_dropped_undefined": dropped.undefined,
                "n_dropped_unreliable": dropped.unreliable,
                "pooled_within_mean": float(within.mean()) if within.size else np.nan,
                "pooled_between_mean": float(between.mean()) if between.size else np.nan,
                "test": json.dumps(test),
            }
        )
        numbers = summary_numbers(combined, threshold)
        numbers["consistency"] = {
            "metric": metric,
            "metric_label": str(combined.attrs["metric_label"]),
            "unit": unit,
            "n_profiles": int(kept.sizes["neuroid"]),
            "n_dropped": dropped.total,
            "n_dropped_undefined": dropped.undefined,
            "n_dropped_unreliable": dropped.unreliable,
            "dropped": dropped.describe(threshold),
            "pooled": {"within": _describe(within), "between": _describe(between)},
            "within": {r: _describe(distributions[(r, r)]) for r in regions},
            "between": {
                f"{a} x {b}": _describe(distributions[(a, b)]) for i, a in enumerate(regions) for b in regions[i + 1 :]
            },
            "permutation_test": test,
        }
        figures = {"profile-consistency": histograms(distributions, regions, combined, metric)}
        if null.size:
            figures["profile-consistency-permutation"] = null_figure(null, test, combined)
        markdown = _markdown(numbers, test, metric) + "\n\n" + summary_table(numbers)
        return AnalysisResult(self.name, dataset, figures, numbers, markdown)

    def check_params(self, params: dict[str, Any]) -> None:
        need_choice(self.name, params, "metric", (None, *METRICS))
        need_int(self.name, params, "n_permutations", 0)
        need_int(self.name, params, "seed", 0)
        need_bool(self.name, params, "reliable_only")
        need_number(self.name, params, "threshold")
        if params.get("stratify") is not None and not isinstance(params["stratify"], str):
            raise AnalysisError(
                f"{self.name} parameter stratify must name a coordinate, e.g. cortical_layer; "
                f"got {params['stratify']!r}."
            )


def _describe(values: np.ndarray) -> dict[str, Any]:
    if values.size == 0:
        return {"n_pairs": 0}
    return {
        "n_pairs": int(values.size),
        "mean": round(float(values.mean()), 6),
        "median": round(float(np.median(values)), 6),
        "fraction_positive": round(float((values > 0).mean()), 6),
    }


def _markdown(numbers: dict[str, Any], test: dict[str, Any], metric: str) -> str:
    info = numbers["consistency"]
    unit = info["unit"]
    pooled = info["pooled"]
    lines = [
        f"Pearson correlation between the layer profiles ({info['metric_label']} at each layer) of "
        f"{plural(unit, info['n_profiles'])} ({info['dropped']}); "
        f"r below is that correlation between two {plural(unit)}' profiles.",
        "",
        "| pairs | n pairs | mean r | median r | r > 0 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, group in (("pooled", pooled), ("within", info["within"]), ("between", info["between"])):
        for name, d in group.items():
            if d["n_pairs"]:
                lines.append(
                    f"| {label} {name} | {d['n_pairs']} | {d['mean']:.3f} | {d['median']:.3f} | "
                    f"{100 * d['fraction_positive']:.1f}% |"
                )
    lines.append("")
    if test.get("p_value") is not None:
        lines.append(
            f"Permutation test (within > between, {test['n_permutations']} label shuffles; null: "
            f"{test['null']}): observed difference {test['observed']:.4f} (null mean {test['null_mean']:.4f}, sd "
            f"{test['null_sd']:.4f}), one-sided p = {test['p_value']:.4g}."
        )
    else:
        lines.append(f"Permutation test: not run; {test['note']}.")
    return "\n".join(lines)


def histograms(
    distributions: dict[tuple[str, str], np.ndarray], regions: list[str], combined: xr.Dataset, metric: str
) -> Figure:
    """Lower-triangle grid: within-region histograms on the diagonal, between-region below."""
    palette = region_palette(regions)
    k = len(regions)
    size = 2.6 if k > 1 else 5.0
    figure, axes = new_figure_grid(size * k + 0.8, size * k * 0.8 + 1.0, nrows=k, ncols=k, sharex=True)
    bins = np.linspace(-1, 1, 41)
    for a, first in enumerate(regions):
        for b, second in enumerate(regions):
            ax = axes[a, b]
            if b > a:
                ax.set_visible(False)
                continue
            values = distributions[(first, second)]
            colour = palette[first] if a == b else "0.45"
            if values.size:
                ax.hist(values, bins=bins, weights=np.full(values.size, 1.0 / values.size), color=colour, alpha=0.85)
                ax.axvline(np.median(values), color="k", linewidth=1, linestyle="--")
            kind = f"within {first}" if a == b else f"{first} x {second}"
            style_axes(ax, f"{kind} ({values.size} pairs)", "", "")
            ax.title.set_fontsize(9)
    # shared axis labels: per-panel ones collide in a grid
    unit = str(combined.attrs.get("unit", "neuroid"))
    figure.supxlabel(profile_r_label(unit), fontsize=10)
    figure.supylabel(f"fraction of the panel's {unit} pairs", fontsize=10)
    figure.suptitle(
        "Consistency of layer profiles within (diagonal) and between regions\n"
        + subtitle(combined.attrs["model"], json.loads(combined.attrs["benchmarks"]), combined.attrs["readout"])
        + f"; profile = {combined.attrs.get('metric_label', metric)} at each layer; dashed: median",
        fontsize=10,
    )
    figure.tight_layout()
    return figure


def null_figure(null: np.ndarray, test: dict[str, Any], combined: xr.Dataset) -> Figure:
    figure, ax = new_figure(6.0, 4.0)
    shuffled = "shuffled region labels" + (f" within {test['stratify']}" if test.get("stratify") else "")
    ax.hist(null, bins=40, color="0.6", label=f"{shuffled} ({null.size})")
    ax.axvline(test["observed"], color="#D55E00", linewidth=2, label=f"observed (p = {test['p_value']:.3g})")
    style_axes(
        ax,
        "Permutation test: are profiles more similar within regions?\n"
        + subtitle(combined.attrs["model"], json.loads(combined.attrs["benchmarks"]), combined.attrs["readout"]),
        f"mean within-region r minus mean between-region r ({combined.attrs.get('unit', 'neuroid')} pairs)",
        "number of permutations",
    )
    ax.legend(frameon=False, fontsize=8)
    figure.tight_layout()
    return figure
