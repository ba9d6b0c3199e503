"""Shared figure style: one colour per brain region in every figure.

Figures are plain :class:`matplotlib.figure.Figure` objects, made without pyplot: they
work headless under any backend and never change the backend a notebook or script chose
(the CLI selects Agg itself, in ``brainbench.cli.analyze``).

Known regions get fixed colours (the Allen Brain Observatory areas, macaque ventral
stream areas); any other region gets a stable colour from its name, so a region keeps
its colour across figures, analyses and runs.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: Fixed colours (Okabe-Ito and Tableau hues, colour-blind distinguishable in the common pairs).
KNOWN_REGION_COLORS: dict[str, str] = {
    "VISp": "#0072B2",
    "VISl": "#E69F00",
    "VISal": "#009E73",
    "VISpm": "#CC79A7",
    "VISam": "#D55E00",
    "VISrl": "#56B4E9",
    "V1": "#0072B2",
    "V2": "#56B4E9",
    "V4": "#009E73",
    "IT": "#D55E00",
}
_FALLBACK = [
    "#4E79A7",
    "#F28E2B",
    "#59A14F",
    "#B07AA1",
    "#9C755F",
    "#EDC948",
    "#76B7B2",
    "#FF9DA7",
    "#BAB0AC",
    "#E15759",
]


def region_color(region: str) -> str:
    """Hex colour of a region: fixed for known regions, else chosen by a stable hash of its name."""
    if region in KNOWN_REGION_COLORS:
        return KNOWN_REGION_COLORS[region]
    return _FALLBACK[zlib.crc32(region.encode()) % len(_FALLBACK)]


def region_palette(regions: Iterable[str]) -> dict[str, str]:
    """Colours for the given regions; a region whose colour is taken in this figure moves on.

    Known regions of different species share fixed colours (VISp and V1, VISal and V4, ...);
    where both are shown, the later one takes a free colour, so no two regions look alike.
    """
    palette: dict[str, str] = {}
    for region in regions:
        colour = region_color(region)
        if region not in KNOWN_REGION_COLORS or colour in palette.values():
            start = zlib.crc32(region.encode()) % len(_FALLBACK)
            for step in range(len(_FALLBACK)):
                candidate = _FALLBACK[(start + step) % len(_FALLBACK)]
                if candidate not in palette.values():
                    colour = candidate
                    break
        palette[region] = colour
    return palette


#: Up to this many rows, a heatmap or clustermap names each row (its site or neuroid).
MAX_NAMED_ROWS = 60


def level_palette(values: Iterable[str]) -> dict[str, str]:
    """Colours for an ordered secondary label (e.g. cortical layers ``L2/3`` ... ``L6``): viridis, in sorted order."""
    from matplotlib import colormaps

    levels = sorted(set(values))
    cmap = colormaps["viridis"]
    steps = np.linspace(0.95, 0.1, len(levels)) if len(levels) > 1 else np.asarray([0.5])
    return {
        level: "#{:02x}{:02x}{:02x}".format(*(int(round(255 * c)) for c in cmap(float(t))[:3]))
        for level, t in zip(levels, steps, strict=True)
    }


def new_figure(width: float = 7.0, height: float = 4.5) -> tuple[Figure, Axes]:
    """A figure with one axes in the house style (inches; 150 dpi when written), outside pyplot."""
    figure = Figure(figsize=(width, height))
    return figure, figure.add_subplot()


def new_figure_grid(
    width: float, height: float, nrows: int = 1, ncols: int = 1, **kwargs: Any
) -> tuple[Figure, np.ndarray]:
    """A figure with an ``nrows`` x ``ncols`` array of axes (always 2-D), outside pyplot.

    ``kwargs`` go to :meth:`matplotlib.figure.Figure.subplots` (``sharey``, ``gridspec_kw``, ...).
    """
    figure = Figure(figsize=(width, height))
    axes = figure.subplots(nrows, ncols, squeeze=False, **kwargs)
    return figure, np.asarray(axes)


def style_axes(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.spines[["top", "right"]].set_visible(False)


def subtitle(model: str, benchmarks: list[str], readout: str) -> str:
    """Second title line naming what was scored (representation scores have no readout)."""
    names = ", ".join(benchmarks) if len(benchmarks) <= 3 else f"{len(benchmarks)} benchmarks"
    return f"{model} on {names} ({f'readout {readout}' if readout else 'no readout'})"
