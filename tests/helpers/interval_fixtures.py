"""Planted regression runs for the interval and comparison tests: known truth, no torch.

Population: ``S`` stimuli with a latent ``z ~ N(0, 1)``; neuroid ``j`` responds
``t = z + sigma_j e`` (so its reliability is ``1 / (1 + sigma_j^2)``, stored as its
ceiling) and a model predicts ``p = z + m_j u``, so the population ceiled score of
neuroid ``j`` is ``rho_j^2 / c_j = 1 / (1 + m_j^2)``. With ``m ~ U(m_low, m_high)`` the
population median of the ceiled score is ``1 / (1 + median(m)^2)``.

The stored score is computed the way the scorer computes it (per-split Pearson r of
:func:`brainbench.metrics.regression.pearson_r` at each split's chosen layer, averaged,
then :func:`brainbench.metrics.ceiled.headline`), independently of the interval code.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from brainbench.caching.content import KEY_FORMAT, content_key
from brainbench.data.splits import make_splits
from brainbench.metrics.ceiled import headline, signed_ceiled_r2
from brainbench.metrics.regression import pearson_r
from brainbench.registry.manifest import SplitSpec

HEADLINE = {"id": "ceiled-r2", "python_name": "brainbench.metrics.ceiled:signed_ceiled_r2", "params": {}}


def population(seed: int, n_stimuli: int, n_neuroids: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(z (S,), sigma (N,), target (S, N))`` of one simulated recording."""
    rng = np.random.default_rng([seed, 1])
    z = rng.normal(size=n_stimuli)
    sigma = rng.uniform(0.5, 1.5, size=n_neuroids)
    target = z[:, None] + sigma * rng.normal(size=(n_stimuli, n_neuroids))
    return z, sigma, target


def predictions(z: np.ndarray, n_neuroids: int, seed: int, m_low: float, m_high: float) -> np.ndarray:
    """``(S, N)`` a model's predictions of the latent, with per-neuroid noise ``m ~ U(m_low, m_high)``."""
    rng = np.random.default_rng([seed, 2])
    m = rng.uniform(m_low, m_high, size=n_neuroids)
    return z[:, None] + m * rng.normal(size=(z.size, n_neuroids))


def truth(m_low: float, m_high: float) -> float:
    """The population median ceiled score for ``m ~ U(m_low, m_high)``."""
    return 1.0 / (1.0 + ((m_low + m_high) / 2) ** 2)


def planted_dataset(
    model: str,
    prediction: np.ndarray,
    target: np.ndarray,
    sigma: np.ndarray,
    n_splits: int = 5,
    benchmark: str = "planted",
    data_id: str = "d0",
    region: str = "V4",
    val_score: np.ndarray | None = None,
) -> xr.Dataset:
    """A regression score dataset with the scorer's variables and attrs.

    ``prediction``: ``(S, N)`` for one layer ``l1``, or ``(L, S, N)`` for layers ``l1..lL``.
    ``val_score``: ``(L, split, N)`` training-only validation scores; each split's layer is
    then chosen by :func:`brainbench.scoring.measure.choose_layers` (else ``l1``).
    """
    from brainbench.scoring.measure import choose_layers

    per_layer = prediction[None] if prediction.ndim == 2 else prediction
    layers = [f"l{k + 1}" for k in range(per_layer.shape[0])]
    n_stimuli, n_neuroids = target.shape
    spec_split = SplitSpec(kind="kfold", n_splits=n_splits, seed=0)
    tests = [s.test for s in make_splits(spec_split, n_stimuli, None, 0)]
    if val_score is None:
        per_split = np.zeros(n_splits, dtype=int)
    else:
        per_split = choose_layers(val_score, layers).per_split
    r_split = np.stack([np.stack([pearson_r(p[t], target[t]) for t in tests]) for p in per_layer])  # (L, K, N)
    chosen_r = np.nanmean(r_split[per_split, np.arange(n_splits)], axis=0)
    r_mean = np.nanmean(r_split, axis=1)
    ceiling = 1.0 / (1.0 + sigma**2)
    head = headline(chosen_r, ceiling, 0.3)
    variables = {
        "r": (("layer", "neuroid"), np.stack([pearson_r(p, target) for p in per_layer])),
        "r_split": (("layer", "split", "neuroid"), r_split),
        "r_split_mean": (("layer", "neuroid"), r_mean),
        "ceiled": (("layer", "neuroid"), signed_ceiled_r2(r_mean, ceiling)),
        "prediction": (("layer", "stimulus", "neuroid"), per_layer.astype(np.float32)),
        "target": (("stimulus", "neuroid"), target),
        "ceiling": (("neuroid",), ceiling),
    }
    if val_score is not None:
        variables["val_score"] = (("layer", "split", "neuroid"), val_score)
    ds = xr.Dataset(
        variables,
        coords={
            "layer": layers,
            "split": np.arange(n_splits),
            "stimulus_id": ("stimulus", [f"s{k}" for k in range(n_stimuli)]),
            "neuroid_id": ("neuroid", [f"n{k}" for k in range(n_neuroids)]),
            "region": ("neuroid", [region] * n_neuroids),
        },
    )
    provenance = {
        "brainbench": "test",
        "seed": 0,
        "device": "cpu",
        "data_sha256": data_id,
        "stimuli_sha256": "s",
        "weights": model,
    }
    spec = {
        "format": KEY_FORMAT,
        "model": {"id": model, "layers": layers},
        "weights": model,
        "benchmark": {"id": benchmark, "version": 1, "kind": "regression", "region": region},
        "headline": HEADLINE,
        "seed": 0,
        "layers": layers,
        "data_sha256": data_id,
        "stimuli_sha256": "s",
    }
    ds.attrs.update(
        {
            "model": model,
            "benchmark": benchmark,
            "benchmark_version": 1,
            "readout": "simple",
            "solver": "exact-dual",
            "readout_params": "{}",
            "metrics": "{}",
            "ceiling_formula": "{}",
            "best_layer": layers[int(np.bincount(per_split).argmax())],
            "layer_choice": json.dumps({"per_split": [layers[k] for k in per_split], "beats_zero": True}),
            "score": head.value,
            "score_kind": head.kind,
            "n_reliable": head.n_reliable,
            "reliability_floor": 0.3,
            "selection": "{}",
            "split_spec": json.dumps({"custom": False, **spec_split.model_dump()}),
            "provenance": json.dumps(provenance),
            "timings": "{}",
            "protocol": "declared",
            "protocol_detail": "{}",
            "spec": json.dumps(spec, sort_keys=True),
            "content_key": content_key(spec),
            "format": 2,
        }
    )
    return ds


def run_row(ds: xr.Dataset, created_at: str = "2026-01-01T00:00:00") -> dict:
    """The store's run row of a planted dataset (what :func:`brainbench.results.table.build` reads)."""
    prov = json.loads(ds.attrs["provenance"])
    return {
        "content_key": ds.attrs["content_key"],
        "model": ds.attrs["model"],
        "benchmark": ds.attrs["benchmark"],
        "benchmark_version": 1,
        "region": str(ds["region"].values[0]),
        "readout": "simple",
        "readout_params": "{}",
        "protocol": "declared",
        "score_kind": ds.attrs["score_kind"],
        "score": ds.attrs["score"],
        "n_reliable": ds.attrs["n_reliable"],
        "best_layer": ds.attrs["best_layer"],
        "seed": 0,
        "created_at": created_at,
        "spec": ds.attrs["spec"],
        "data_sha256": prov["data_sha256"],
        "stimuli_sha256": prov["stimuli_sha256"],
        "results_sha256": "",
    }
