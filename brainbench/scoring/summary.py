"""Summaries of a score dataset: the ``brainbench score --json`` object, and its netCDF file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr


def summarize(dataset: xr.Dataset, elapsed_s: float | None = None) -> dict[str, Any]:
    """The ``brainbench score --json`` object of a score dataset."""
    declared = headline_declaration(dataset)
    aggregate = declared["score_aggregate"]
    layers = {}
    for layer in dataset.layer.values:
        sel = dataset.sel(layer=layer)
        layers[str(layer)] = {
            "median_r": _median(sel.get("r")),
            "median_r_split": _median(sel.get("r_split_mean")),
            "median_ev": _median(sel.get("ev")),  # None for representation benchmarks (no predictions)
            "median_ceiled": _median(sel.get("ceiled")),
            "n_neuroids": int(dataset.sizes["neuroid"]),
        }
        if aggregate != "median":  # the benchmark's declared aggregate as well, named by it
            for name, var in (("r", "r"), ("r_split", "r_split_mean"), ("ev", "ev"), ("ceiled", "ceiled")):
                layers[str(layer)][f"{aggregate}_{name}"] = _aggregate(sel.get(var), aggregate)
    provenance = json.loads(dataset.attrs["provenance"])
    timings = json.loads(dataset.attrs["timings"])
    choice = json.loads(dataset.attrs["layer_choice"])
    return {
        "model": dataset.attrs["model"],
        "benchmark": dataset.attrs["benchmark"],
        "benchmark_version": int(dataset.attrs["benchmark_version"]),
        "benchmark_kind": dataset.attrs.get("benchmark_kind", "regression"),
        "species": dataset.attrs.get("species", ""),
        "readout": dataset.attrs["readout"],
        "solver": dataset.attrs["solver"],
        "readout_params": json.loads(dataset.attrs["readout_params"]),
        "layers": layers,
        "best_layer": dataset.attrs["best_layer"],
        "layer_choice": choice,
        "score": _clean(dataset.attrs["score"]),
        "score_kind": dataset.attrs["score_kind"],
        "score_note": dataset.attrs["score_note"],
        "n_reliable": int(dataset.attrs["n_reliable"]),
        **declared,
        "protocol": dataset.attrs.get("protocol"),
        "content_key": dataset.attrs.get("content_key"),
        "reliability_floor": float(dataset.attrs["reliability_floor"]),
        "ceiling": {"median": _median(dataset["ceiling"]), aggregate: _aggregate(dataset["ceiling"], aggregate)},
        "selection": json.loads(dataset.attrs["selection"]),
        "provenance": {k: provenance[k] for k in ("brainbench", "torch", "device", "seed", "data_sha256", "weights")},
        "timings": {k: v for k, v in timings.items() if k != "elapsed_s"},
        "elapsed_s": timings["elapsed_s"] if elapsed_s is None else round(elapsed_s, 3),
        **({"sites": sites(dataset)} if "site" in dataset.coords else {}),
        **({"noise_ceiling": json.loads(dataset.attrs["noise_ceiling"])} if "noise_ceiling" in dataset.attrs else {}),
        **(composite_parts(dataset) if "part" in dataset.dims else {}),
    }


def headline_declaration(dataset: xr.Dataset) -> dict[str, Any]:
    """What the headline is, from the declaration: aggregate, unit, test, counts and the phrase.

    ``score_description`` is :func:`brainbench.metrics.ceiled.describe_score` of the
    dataset, so scores stored before these attrs existed are described from their spec.
    """
    from brainbench.metrics.ceiled import describe_score

    attrs = dataset.attrs
    kind = attrs.get("benchmark_kind", "regression")
    alpha = attrs.get("reliability_alpha", "")
    record = {
        **attrs,
        "score_aggregate": attrs.get("score_aggregate") or attrs.get("site_aggregate") or "median",
        "score_unit": attrs.get("score_unit") or ("site" if kind == "representation" else "neuroid"),
        "n_units": int(attrs.get("n_units", dataset.sizes["neuroid"])),
    }
    return {
        "score_description": describe_score(record),
        "score_aggregate": record["score_aggregate"],
        "score_unit": record["score_unit"],
        "n_units": record["n_units"],
        "n_needed": int(attrs.get("n_needed", 1)),
        "reliability_alpha": None if alpha in ("", None) else float(alpha),
        "reliability_tested": bool(int(attrs.get("reliability_tested", 0))),
    }


def composite_parts(dataset: xr.Dataset) -> dict[str, Any]:
    """A composite score's per-part and per-group summaries and its aggregate (see :mod:`brainbench.scoring.composite`).

    ``parts``: per part, its group, neuroid and stimulus counts, ``value`` (what the
    aggregate used), its own headline ``score`` and ``score_kind`` (ceiled where it has
    trials), median per-split r, median ceiling (None without trials), best layer and
    content key (its own stored run). ``groups``: per group, ``value`` and part count.
    """
    parts = {}
    for k, name in enumerate(str(v) for v in dataset["part"].values):
        parts[name] = {
            "group": str(dataset["part_group"].values[k]),
            "n_neuroids": int(dataset["part_n_neuroids"].values[k]),
            "n_stimuli": int(dataset["part_n_stimuli"].values[k]),
            "value": _clean(float(dataset["part_value"].values[k])),
            "score": _clean(float(dataset["part_score"].values[k])),
            "score_kind": str(dataset["part_score_kind"].values[k]),
            "median_r": _clean(float(dataset["part_median_r"].values[k])),
            "median_ceiling": _clean(float(dataset["part_median_ceiling"].values[k])),
            "best_layer": str(dataset["part_best_layer"].values[k]),
            "content_key": str(dataset["part_content_key"].values[k]),
        }
    groups = {
        str(g): {"value": _clean(float(v)), "n_parts": int(n)}
        for g, v, n in zip(
            dataset["group"].values, dataset["group_value"].values, dataset["group_n_parts"].values, strict=True
        )
    }
    return {"aggregate": json.loads(dataset.attrs["aggregate"]), "parts": parts, "groups": groups}


def sites(dataset: xr.Dataset) -> dict[str, Any]:
    """Per site of a representation score: its coordinates, ceiling, r per layer and headline parts.

    ``r``: the layer RDM's similarity with the site's RDM over all stimulus pairs;
    ``r_test``: mean over splits of the same on test pairs; ``headline_r``: per-split test
    r at each split's training-chosen layer, averaged; ``headline_ceiled``: its
    ``sign(r) r^2 / ceiling`` (None where the site is below the reliability floor).
    """
    out: dict[str, Any] = {}
    layers = [str(v) for v in dataset.layer.values]
    skip = {"neuroid_id", "site"}
    for k, name in enumerate(str(v) for v in dataset["neuroid_id"].values):
        entry: dict[str, Any] = {
            str(c): _plain(dataset[c].values[k])
            for c in dataset.coords
            if dataset[c].dims == ("neuroid",) and c not in skip
        }
        entry["ceiling"] = _clean(float(dataset["ceiling"].values[k]))
        entry["reliable"] = bool(dataset["reliable"].values[k])
        entry["r"] = {layer: _clean(float(dataset["r"].values[i, k])) for i, layer in enumerate(layers)}
        entry["r_test"] = {layer: _clean(float(dataset["r_split_mean"].values[i, k])) for i, layer in enumerate(layers)}
        entry["headline_r"] = _clean(float(dataset["headline_r"].values[k]))
        if "headline_ceiled" in dataset:
            entry["headline_ceiled"] = _clean(float(dataset["headline_ceiled"].values[k]))
        out[name] = entry
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    return _clean(value) if isinstance(value, float) else value


def _median(values: xr.DataArray | None) -> float | None:
    return _aggregate(values, "median")


def _aggregate(values: xr.DataArray | None, aggregate: str) -> float | None:
    """The declared aggregate (``median`` or ``mean``) of the finite values, None if there are none."""
    from brainbench.metrics.ceiled import AGGREGATES

    if values is None:
        return None
    finite = values.values[np.isfinite(values.values)]
    return _clean(float(AGGREGATES[aggregate](finite))) if finite.size else None


def _clean(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def write_score(dataset: xr.Dataset, path: Path) -> Path:
    """Write a score dataset to netCDF atomically."""
    from brainbench.data.netcdf import write_netcdf_atomic

    return write_netcdf_atomic(dataset, path)
