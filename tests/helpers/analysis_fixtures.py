"""Synthetic score datasets whose neuroids prefer planted layers (the analyses' tests)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from brainbench.metrics.regression import explained_variance, pearson_r

LAYERS = ["l0", "l1", "l2", "l3", "l4", "l5"]


def synthetic_scores(
    peaks: dict[str, int],
    n_per_region: int = 20,
    n_stimuli: int = 80,
    seed: int = 0,
    benchmark: str = "synthetic",
    readout: str = "simple",
    region_coord: bool = True,
    jitter: float = 0.15,
) -> xr.Dataset:
    """A score dataset in brainbench.scoring's layout whose neuroids prefer planted layers.

    Neuroid ``i`` of a region with peak layer ``p`` gets predictions ``target + noise`` whose
    noise grows with ``|layer - p|`` (plus per-neuroid jitter), so its EV profile peaks at ``p``.
    EV and r are computed from the stored predictions, as the scorer does.
    """
    rng = np.random.default_rng(seed)
    regions = [name for name in peaks for _ in range(n_per_region)]
    n = len(regions)
    target = rng.standard_normal((n_stimuli, n)) * rng.uniform(0.5, 2.0, n)
    prediction = np.empty((len(LAYERS), n_stimuli, n))
    for i, name in enumerate(regions):
        distance = np.abs(np.arange(len(LAYERS)) - peaks[name])
        noise_sd = (0.5 + 0.35 * distance) * np.exp(jitter * rng.standard_normal(len(LAYERS)))
        for layer in range(len(LAYERS)):
            noise = noise_sd[layer] * target[:, i].std() * rng.standard_normal(n_stimuli)
            prediction[layer, :, i] = target[:, i] + noise
    ev = np.stack([explained_variance(prediction[k], target) for k in range(len(LAYERS))])
    r = np.stack([pearson_r(prediction[k], target) for k in range(len(LAYERS))])
    ceiling = rng.uniform(0.2, 0.95, n)
    coords = {
        "layer": LAYERS,
        "neuroid_id": ("neuroid", [f"n{i}" for i in range(n)]),
        "stimulus_id": ("stimulus", [f"s{k}" for k in range(n_stimuli)]),
        "subject": ("neuroid", np.asarray(["m1", "m2"] * (n // 2) + ["m1"] * (n % 2))),
    }
    if region_coord:
        coords["region"] = ("neuroid", np.asarray(regions))
    dataset = xr.Dataset(
        {
            "r": (("layer", "neuroid"), r),
            "ev": (("layer", "neuroid"), ev),
            "ceiled": (("layer", "neuroid"), r**2 / ceiling),
            "prediction": (("layer", "stimulus", "neuroid"), prediction.astype(np.float32)),
            "target": (("stimulus", "neuroid"), target),
            "ceiling": (("neuroid",), ceiling),
        },
        coords=coords,
    )
    best = LAYERS[int(np.argmax(np.median(ev, axis=1)))]
    dataset.attrs.update(model="synthetic-model", benchmark=benchmark, readout=readout, best_layer=best)
    return dataset
