"""``trajectory``: the score and the chosen layer of a training run's checkpoints, in training order.

Input: the score datasets of a series of checkpoints of one architecture on one or more
benchmarks (:func:`brainbench.results.trajectory.score_checkpoints`, or ``brainbench analyze
trajectory 'runs/*.pt' BENCHMARK --arch ARCH``). Each dataset's attrs ``checkpoint``,
``checkpoint_index`` and ``checkpoint_step`` place it on the x axis: the step (the number
in the file name) when every checkpoint has a distinct one, else its position, labelled
with the file name. Datasets without those attrs (models scored one by one) are placed in
the order given, labelled with their model id.

Per checkpoint and benchmark: the headline score (attr ``score``, the benchmark's ceiled
median at the layer chosen on training stimuli), the chosen layer (attr ``best_layer``,
the layer chosen in most splits) and every layer's median ``metric`` (default ``ceiled``).

Intervals: :func:`score_interval` is the one place a checkpoint's score interval comes
from; it returns None until the leaderboard provides intervals (set
:data:`INTERVAL_HOOK`, or give score datasets attrs ``score_low`` and ``score_high``),
and the figure then draws them as error bars.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from brainbench.analyses.base import METRICS, Analysis, AnalysisError, AnalysisResult, metric_label, need_choice
from brainbench.analyses.figures import new_figure_grid, style_axes

#: One colour per benchmark (Okabe-Ito).
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
#: Where the leaderboard's score intervals plug in: ``(score dataset) -> (low, high)`` or None.
INTERVAL_HOOK: Callable[[xr.Dataset], tuple[float, float] | None] | None = None


def score_interval(dataset: xr.Dataset) -> tuple[float, float] | None:
    """``(low, high)`` interval of a dataset's headline score, or None where none is available."""
    if INTERVAL_HOOK is not None:
        return INTERVAL_HOOK(dataset)
    low, high = dataset.attrs.get("score_low"), dataset.attrs.get("score_high")
    if low is None or high is None:
        return None
    return float(low), float(high)


def _position(dataset: xr.Dataset, order: int) -> tuple[int, int | None, str]:
    """``(index, step or None, label)`` of one dataset in the trajectory."""
    index = int(dataset.attrs.get("checkpoint_index", order))
    step = int(dataset.attrs.get("checkpoint_step", -1))
    label = str(dataset.attrs.get("checkpoint") or dataset.attrs.get("model", f"#{order}"))
    return index, (step if step >= 0 else None), label


def _in_training_order(series: list[xr.Dataset]) -> list[xr.Dataset]:
    """One benchmark's datasets sorted by checkpoint index (datasets without one: in the order given)."""
    order = np.argsort([_position(d, k)[0] for k, d in enumerate(series)], kind="stable")
    return [series[k] for k in order]


class Trajectory(Analysis):
    name = "trajectory"
    description = "Headline score and chosen layer against the checkpoint of a training run."
    #: takes the datasets of several models (checkpoints), not one model's
    takes_series = True

    def run(self, scores: list[xr.Dataset], metric: str = "ceiled") -> AnalysisResult:
        self.check_params({"metric": metric})
        if not scores:
            raise AnalysisError("the trajectory analysis needs the score datasets of at least one checkpoint.")
        benchmarks = list(dict.fromkeys(str(d.attrs.get("benchmark", "")) for d in scores))
        by_bench = {b: [d for d in scores if str(d.attrs.get("benchmark", "")) == b] for b in benchmarks}
        counts = {len(v) for v in by_bench.values()}
        if len(counts) != 1:
            raise AnalysisError("every benchmark of a trajectory needs the same checkpoints; score them all on each.")
        # each benchmark's series in its own training order: the datasets of one benchmark may
        # come in any order, and a column must be one checkpoint on every benchmark
        by_bench = {b: _in_training_order(v) for b, v in by_bench.items()}
        first = by_bench[benchmarks[0]]
        places = [_position(d, k) for k, d in enumerate(first)]
        for bench, series in by_bench.items():
            if [_position(d, k)[2] for k, d in enumerate(series)] != [p[2] for p in places]:
                raise AnalysisError(
                    f"{bench} was scored on other checkpoints than {benchmarks[0]}; score the same checkpoints "
                    "on every benchmark of a trajectory."
                )
        layers = list(map(str, first[0]["layer"].values))
        for bench, series in by_bench.items():
            for dataset in series:
                if list(map(str, dataset["layer"].values)) != layers:
                    raise AnalysisError(
                        f"checkpoint {dataset.attrs.get('checkpoint', '?')} on {bench} was scored on other layers "
                        f"than the first ({', '.join(layers)}); score every checkpoint on the same layers."
                    )
                if metric not in dataset or dataset[metric].dims != ("layer", "neuroid"):
                    raise AnalysisError(f"score dataset of {bench} has no per-layer {metric!r}; pass metric=ceiled.")
        steps = [p[1] for p in places]
        use_steps = None not in steps and len(set(steps)) == len(steps)
        x = np.asarray(steps if use_steps else range(len(places)), dtype=np.float64)
        n_ckpt, n_bench = len(places), len(benchmarks)
        score = np.full((n_bench, n_ckpt), np.nan)
        low = np.full((n_bench, n_ckpt), np.nan)
        high = np.full((n_bench, n_ckpt), np.nan)
        chosen = np.full((n_bench, n_ckpt), -1, dtype=np.int64)
        # what each headline is: ceiled, or the declared uncorrected fallback where too few neuroids were
        # reliable (brainbench.metrics.ceiled), which can change along a training run
        kind = np.full((n_bench, n_ckpt), "ceiled", dtype=object)
        per_layer = np.full((n_bench, n_ckpt, len(layers)), np.nan)
        for i, bench in enumerate(benchmarks):
            for j, dataset in enumerate(by_bench[bench]):
                score[i, j] = float(dataset.attrs.get("score", np.nan))
                kind[i, j] = str(dataset.attrs.get("score_kind") or "ceiled")
                chosen[i, j] = layers.index(str(dataset.attrs["best_layer"]))
                per_layer[i, j] = np.nanmedian(np.asarray(dataset[metric].values, dtype=np.float64), axis=1)
                interval = score_interval(dataset)
                if interval is not None:
                    low[i, j], high[i, j] = interval
        labels = [p[2] for p in places]
        result = xr.Dataset(
            {
                "score": (("benchmark", "checkpoint"), score),
                "score_kind": (("benchmark", "checkpoint"), kind),
                "score_low": (("benchmark", "checkpoint"), low),
                "score_high": (("benchmark", "checkpoint"), high),
                "chosen_layer": (
                    ("benchmark", "checkpoint"),
                    np.asarray([[layers[k] for k in row] for row in chosen], dtype=object),
                ),
                "layer_score": (("benchmark", "checkpoint", "layer"), per_layer),
            },
            coords={
                "benchmark": benchmarks,
                "checkpoint": labels,
                "x": ("checkpoint", x),
                "step": ("checkpoint", np.asarray([-1 if s is None else s for s in steps])),
                "model": ("checkpoint", [str(d.attrs.get("model", "")) for d in by_bench[benchmarks[0]]]),
                "layer": layers,
            },
        )
        result.attrs.update(
            {
                "metric": metric,
                "arch": _arch(first[0]),
                "x_axis": "step" if use_steps else "checkpoint order",
                "has_intervals": int(bool(np.isfinite(low).any())),
            }
        )
        numbers = {
            "benchmarks": {
                bench: [
                    {
                        "checkpoint": labels[j],
                        "step": steps[j],
                        "score": None if not np.isfinite(score[i, j]) else round(float(score[i, j]), 6),
                        "score_kind": str(kind[i, j]),
                        "chosen_layer": layers[chosen[i, j]],
                        "interval": None if not np.isfinite(low[i, j]) else [float(low[i, j]), float(high[i, j])],
                    }
                    for j in range(n_ckpt)
                ]
                for i, bench in enumerate(benchmarks)
            },
            "x_axis": result.attrs["x_axis"],
        }
        figure = plot(result, use_steps)
        rows = ["| checkpoint | step | " + " | ".join(f"{b} score (chosen layer)" for b in benchmarks) + " |"]
        rows.append("| --- | ---: | " + " | ".join("---" for _ in benchmarks) + " |")
        for j in range(n_ckpt):
            cells = [
                f"{score[i, j]:.3f}{'' if kind[i, j] == 'ceiled' else f' {kind[i, j]}'} ({layers[chosen[i, j]]})"
                for i in range(n_bench)
            ]
            rows.append(f"| {labels[j]} | {'-' if steps[j] is None else steps[j]} | " + " | ".join(cells) + " |")
        interval_note = (
            "Error bars: the leaderboard's score intervals."
            if result.attrs["has_intervals"]
            else "No score intervals were available for these runs; the scores are shown without them."
        )
        markdown = (
            "Headline score (the benchmark's ceiled median at the layer chosen on training stimuli, unless "
            "marked with the uncorrected fallback used where too few neuroids were reliable) and the "
            f"chosen layer of each checkpoint. {interval_note}\n\n" + "\n".join(rows)
        )
        return AnalysisResult(self.name, result, {"trajectory": figure}, numbers, markdown)

    def check_params(self, params: dict[str, Any]) -> None:
        need_choice(self.name, params, "metric", METRICS)


def plot(result: xr.Dataset, use_steps: bool) -> Figure:
    """Three rows sharing the x axis: headline score, chosen layer, every layer's median score."""
    benchmarks = list(map(str, result["benchmark"].values))
    layers = list(map(str, result["layer"].values))
    x = result["x"].values
    figure, axes = new_figure_grid(
        max(6.5, 0.5 * len(x) + 3), 8.5, nrows=3, sharex=True, gridspec_kw={"height_ratios": [3, 2, 3]}
    )
    top, middle, bottom = axes[:, 0]
    for i, bench in enumerate(benchmarks):
        colour = COLOURS[i % len(COLOURS)]
        score = result["score"].values[i]
        low, high = result["score_low"].values[i], result["score_high"].values[i]
        if np.isfinite(low).any():
            errors = np.vstack([score - low, high - score])
            top.errorbar(x, score, yerr=errors, color=colour, marker="o", capsize=3, label=bench)
        else:
            top.plot(x, score, color=colour, marker="o", label=bench)
        fallback = result["score_kind"].values[i] != "ceiled"
        if fallback.any():  # an uncorrected headline is another quantity: hollow, named in the legend
            top.plot(
                x[fallback], score[fallback], "o", color=colour, markerfacecolor="white", label=f"{bench}: uncorrected"
            )
        chosen = [layers.index(str(v)) for v in result["chosen_layer"].values[i]]
        middle.step(x, chosen, where="mid", color=colour, alpha=0.6)
        middle.plot(x, chosen, "o", color=colour)
    top.axhline(0.0, color="0.6", lw=0.8)
    kinds = sorted({str(k) for k in result["score_kind"].values.ravel()})
    style_axes(top, "headline score per checkpoint", "", f"{' or '.join(kinds)} score")
    if len(benchmarks) > 1 or len(kinds) > 1:
        top.legend(frameon=False, fontsize=8)
    middle.set_yticks(range(len(layers)), layers, fontsize=8)
    middle.set_ylim(-0.5, len(layers) - 0.5)
    style_axes(middle, "layer chosen on training stimuli", "", "layer")
    grid = result["layer_score"].values[0].T  # (layer, checkpoint) of the first benchmark
    edges = _edges(x)
    image = bottom.pcolormesh(edges, np.arange(len(layers) + 1) - 0.5, grid, cmap="viridis", shading="flat")
    bottom.set_yticks(range(len(layers)), layers, fontsize=8)
    colour_axes = bottom.inset_axes((1.01, 0.0, 0.02, 1.0))  # beside the axes: the x axes stay aligned
    figure.colorbar(image, cax=colour_axes, label=f"median {result.attrs['metric']}")
    style_axes(
        bottom,
        f"every layer on {benchmarks[0]}: median {metric_label(str(result.attrs['metric']))}",
        "training step" if use_steps else "checkpoint",
        "layer",
    )
    if not use_steps:
        bottom.set_xticks(x, list(map(str, result["checkpoint"].values)), rotation=30, ha="right", fontsize=8)
    figure.suptitle(f"{len(x)} checkpoints of {result.attrs['arch']}", fontsize=10)
    figure.tight_layout()
    return figure


def _arch(dataset: xr.Dataset) -> str:
    """The architecture a checkpoint's run names (its model id for a model scored by id)."""
    try:
        return str(json.loads(dataset.attrs["spec"])["model"]["params"]["arch"]).removesuffix(":untrained")
    except (KeyError, TypeError, ValueError):
        return str(dataset.attrs.get("model", "a model"))


def _edges(x: np.ndarray) -> np.ndarray:
    """Cell edges around sorted centres ``x`` (for pcolormesh)."""
    if len(x) == 1:
        return np.asarray([x[0] - 0.5, x[0] + 0.5])
    mid = (x[1:] + x[:-1]) / 2
    return np.concatenate([[x[0] - (mid[0] - x[0])], mid, [x[-1] + (x[-1] - mid[-1])]])
