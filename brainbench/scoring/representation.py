"""Stages 4-6 of representation benchmarks: model RDMs against neural RDMs, no readout.

Sites: the assembly's ``region`` values (one site per region), or all its neuroids as one
site. Per layer and site, the benchmark's representation metric compares the layer's
RDM with the site's RDM (built from trial means) on all stimuli (``r``) and, per split,
on the split's test stimuli (``r_split``) and training stimuli (``val_score``, which
chooses the layer). The headline is nested exactly like a regression benchmark's: each
split's test pairs are scored at the layer chosen on its training pairs, and ceiled by
each site's RDM reliability (:mod:`brainbench.metrics.ceiled`). The score dataset uses
the regression layout with one "neuroid" per site (coordinate ``site``), so the store,
the leaderboard and every summary read it unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from brainbench.metrics.ceiled import headline, reliable_mask
from brainbench.metrics.rsa import correlation_rdm, pattern_rdm
from brainbench.scoring.assemble import run_attrs
from brainbench.scoring.load import LoadedData
from brainbench.scoring.measure import ceiled_values, choose_layers
from brainbench.scoring.spec import Resolved, RunSpec


def sites_of(assembly: xr.DataArray) -> dict[str, np.ndarray]:
    """Site name -> ``(neuroid,)`` bool mask: one site per ``region``, else one site ``all``."""
    if "region" in assembly.coords and assembly["region"].dims == ("neuroid",):
        regions = np.asarray([str(v) for v in assembly["region"].values])
        return {name: regions == name for name in dict.fromkeys(regions)}
    return {"all": np.ones(assembly.sizes["neuroid"], dtype=bool)}


def evaluate(run: Resolved, data: LoadedData, spec: RunSpec, features: Mapping[str, Any], *, progress: bool,
             clock: Any, threads: int) -> xr.Dataset:
    """Score every layer's RDM against every site's RDM; the score dataset (one row per site)."""
    from brainbench.progress import tqdm

    (metric,) = run.metrics.values()
    sites = sites_of(data.assembly)
    names = list(sites)
    neural = {name: pattern_rdm(data.target[:, mask]) for name, mask in sites.items()}
    trials = (data.assembly.transpose("repetition", "stimulus", "neuroid").values
              if data.has_repetitions else None)
    ceiling = np.asarray([metric.reliability(trials[:, :, mask], seed=spec.seed) if trials is not None else np.nan
                          for mask in sites.values()])
    layers = list(spec.layers)
    n_layers, n_splits, n_sites = len(layers), len(data.splits), len(names)
    r = np.full((n_layers, n_sites), np.nan)
    r_split = np.full((n_layers, n_splits, n_sites), np.nan)
    val = np.full((n_layers, n_splits, n_sites), np.nan)
    for i, layer in enumerate(tqdm(layers, desc=f"{spec.benchmark} RDMs", unit="layer", disable=not progress,
                                   leave=False)):
        model_rdm = correlation_rdm(features[layer])
        for j, name in enumerate(names):
            r[i, j] = metric.compare(model_rdm, neural[name])
            for k, split in enumerate(data.splits):
                r_split[i, k, j] = metric.compare(model_rdm, neural[name], split.test)
                val[i, k, j] = metric.compare(model_rdm, neural[name], split.train)
    clock.lap("readout_s")
    choice = choose_layers(val, layers)
    with np.errstate(invalid="ignore"):
        chosen = np.nanmean(r_split[choice.per_split, np.arange(n_splits)], axis=0)
        r_mean = np.nanmean(r_split, axis=1)
    floor = float(run.headline.params.get("reliability_floor", 0.3))
    head = headline(chosen, ceiling, floor, has_repetitions=data.has_repetitions,
                    ceiled_fn=lambda values, ceil: ceiled_values(run, values, ceil))
    clock.lap("metrics_s")
    counts = np.asarray([int(mask.sum()) for mask in sites.values()])
    dataset = xr.Dataset(
        {
            "r": (("layer", "neuroid"), r),
            "r_split": (("layer", "split", "neuroid"), r_split),
            "r_split_mean": (("layer", "neuroid"), r_mean),
            "ceiled": (("layer", "neuroid"), ceiled_values(run, r_mean, ceiling)),
            "headline_r": (("neuroid",), chosen),
            "val_score": (("layer", "split", "neuroid"), val),
            "ceiling": (("neuroid",), ceiling),
            "reliable": (("neuroid",), reliable_mask(ceiling, floor)),
        },
        coords={"layer": layers, "split": np.arange(n_splits), "neuroid_id": ("neuroid", names),
                "region": ("neuroid", names), "site": ("neuroid", np.ones(n_sites, dtype=bool)),
                "n_units": ("neuroid", counts)},
    )
    dataset.attrs.update(run_attrs(run, spec, data, choice, head, floor, features, clock.finish(), threads))
    dataset.attrs["representation_metric"] = f"{type(metric).__name__}({getattr(metric, 'method', '')})"
    return dataset
