"""The scorer: any model x any benchmark, every layer, on CPU or CUDA.

For each layer: activations (cached, streamed), the benchmark's readout cross-validated
over its splits, per-neuroid metrics on each split's test stimuli and on the pooled
out-of-fold predictions, and the ceiled score of :mod:`brainbench.metrics.ceiled`
(``sign(r) r^2 / ceiling`` with ``r`` the mean over splits of the test-fold r). The
headline is nested: each split's test stimuli are scored at the layer chosen on that
split's training stimuli only (leave-one-out or inner validation), never on test folds.

The result is an :class:`xarray.Dataset`:

==================  ============================  ==========================================
variable            dims                          meaning
==================  ============================  ==========================================
``r``               (layer, neuroid)              Pearson r, pooled out-of-fold predictions
``ev``              (layer, neuroid)              R^2 = 1 - SSE/SST, same predictions
``r_split``         (layer, split, neuroid)       Pearson r on each split's test stimuli
``ev_split``        (layer, split, neuroid)       R^2 on each split's test stimuli
``r_split_mean``    (layer, neuroid)              mean over splits of ``r_split``
``ceiled``          (layer, neuroid)              sign(r) r^2 / ceiling of ``r_split_mean``
                                                  (NaN where the neuroid is unreliable)
``headline_r``      (neuroid)                     per-split r at each split's chosen layer,
                                                  averaged over splits
``val_score``       (layer, split, neuroid)       training-only validation R^2
``prediction``      (layer, stimulus, neuroid)    pooled out-of-fold predictions
``target``          (stimulus, neuroid)           trial-averaged responses
``ceiling``         (neuroid)                     split-half reliability (NaN if no trials)
``reliable``        (neuroid)                     ceiling >= the headline's reliability floor
``param_<name>``    (layer, split, neuroid)       hyperparameters chosen per split
==================  ============================  ==========================================

with every neuroid coordinate of the assembly kept, and attrs ``model``, ``benchmark``,
``benchmark_version``, ``readout``, ``solver``, ``best_layer`` (the layer chosen in most
splits), ``score`` (the headline), ``score_kind`` (``ceiled`` or ``uncorrected-r``),
``score_note``, ``n_reliable``, ``reliability_floor`` and JSON strings ``layer_choice``,
``provenance``, ``timings`` and ``selection``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from brainbench.benchmark import Benchmark, resolve_benchmark
from brainbench.data.assembly import trial_mean
from brainbench.errors import BrainbenchError
from brainbench.metrics.ceiled import headline, reliable_mask, signed_ceiled_r2
from brainbench.metrics.regression import explained_variance, pearson_r
from brainbench.registry import get_registry, load_object
from brainbench.registry.registry import Registry

SCORE_FORMAT = 1


def _process_age() -> float:
    """Seconds since this process started (Linux), else 0."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def build_readout(readout_id: str, registry: Registry, seed: int):
    """Instantiate a registered readout (following ``base`` links), passing ``seed`` if accepted."""
    python_name, solver, params = registry.resolve_readout(readout_id)
    cls = load_object(python_name)
    params = dict(params)
    if "seed" in inspect.signature(cls).parameters:
        params.setdefault("seed", seed)
    try:
        readout = cls(**params)
    except TypeError as error:
        raise BrainbenchError(f"readout {readout_id!r} does not accept its declared params: {error}.") from error
    # the solver actually run (e.g. Adam when L1 is asked for) comes back in CVResult.info
    instance_solver = getattr(readout, "solver", "")
    return readout, (instance_solver if instance_solver not in ("", "unknown") else solver), params


def assembly_hash(assembly: xr.DataArray) -> str:
    """sha256 over the assembly's values and ids (the scored data's fingerprint)."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(assembly.values, dtype=np.float64).tobytes())
    for coord in ("stimulus_id", "neuroid_id"):
        digest.update("\0".join(map(str, assembly[coord].values)).encode())
    return digest.hexdigest()


def score(model: Any, benchmark: Any, *, layers: list[str] | None = None, readout: str | None = None,
          device: str = "auto", seed: int = 0, out: str | os.PathLike | None = None,
          progress: bool = True, use_cache: bool = True, batch_size: int = 32,
          registry: Registry | None = None) -> xr.Dataset:
    """Score every requested layer of a model on a benchmark.

    Args:
        model: a model id or a :class:`brainbench.models.base.TorchModel`.
        benchmark: a benchmark id (or alias) or a :class:`brainbench.benchmark.Benchmark`.
        layers: layer names (default: every layer the model declares).
        readout: a readout id overriding the benchmark's (e.g. ``spatial``, ``s2``).
        device: ``auto``, ``cpu`` or ``cuda``.
        seed: seeds the splits (with the benchmark's own seed), the ceiling halvings and
            any stochastic readout. Same seed, same numbers.
        out: folder to also write ``<model>__<benchmark>.nc`` into.
        use_cache: reuse cached activations.
    Returns:
        The score dataset described in this module's docstring.
    """
    started = time.perf_counter()
    startup = _process_age()
    import torch

    from brainbench.activations import get_activations
    from brainbench.models.base import TorchModel, load_model, resolve_device
    from brainbench.models.preprocess import with_placement
    from brainbench.splits import make_splits

    registry = registry or get_registry()
    timings: dict[str, float] = {"startup_s": round(startup, 3)}
    tick = time.perf_counter()
    bench = benchmark if isinstance(benchmark, Benchmark) else resolve_benchmark(benchmark, registry)
    net = model if isinstance(model, TorchModel) else load_model(registry.model(model))
    torch_device = resolve_device(device)
    layers = net.check_layers(layers or net.layers)
    readout_id = readout or bench.entry.readout
    readout_obj, solver, readout_params = build_readout(readout_id, registry, seed)

    loaded = bench.load(progress=progress)
    assembly = loaded.assembly
    trials = assembly.transpose("repetition", "stimulus", "neuroid").values if "repetition" in assembly.dims else None
    ceiling_entry = registry.metric(bench.entry.ceiling) if bench.entry.ceiling and trials is not None else None
    if ceiling_entry is not None:
        ceiling_fn = load_object(ceiling_entry.python_name)
        ceiling = ceiling_fn(trials, seed=seed, **ceiling_entry.params)
    else:
        ceiling = np.full(assembly.sizes["neuroid"], np.nan)
    n_total = assembly.sizes["neuroid"]
    threshold = bench.entry.reliability_threshold
    if threshold is not None:
        if ceiling_entry is None:
            raise BrainbenchError(f"benchmark {bench.identifier!r} sets a reliability threshold but has no trial data.")
        keep = np.flatnonzero(ceiling > threshold)
        if keep.size == 0:
            raise BrainbenchError(
                f"no neuroid of {bench.identifier!r} has split-half reliability above {threshold}."
            )
        assembly = assembly.isel(neuroid=keep)
        ceiling = ceiling[keep]
    target = np.asarray(trial_mean(assembly).transpose("stimulus", "neuroid").values, dtype=np.float64)
    n_stimuli, n_neuroids = target.shape
    stimulus_coords = {c: assembly[c].values for c in assembly.coords if assembly[c].dims == ("stimulus",)}
    stratify = stimulus_coords.get(bench.entry.split.stratify) if bench.entry.split.stratify else None
    if bench.entry.split.stratify and stratify is None and bench.entry.split.stratify in loaded.stimuli.metadata:
        stratify = loaded.stimuli.metadata[bench.entry.split.stratify]
    splits = make_splits(bench.entry.split, n_stimuli, stratify, seed)
    timings["load_s"] = round(time.perf_counter() - tick, 3)

    tick = time.perf_counter()
    prep = with_placement(net.preprocessing, bench.entry.stimulus_placement)
    features = get_activations(net, loaded.stimuli, layers, prep, torch_device, batch_size=batch_size,
                               progress=progress, use_cache=use_cache)
    timings["activations_s"] = round(time.perf_counter() - tick, 3)

    metric_fns = {m: load_object(registry.metric(m).python_name) for m in bench.entry.metrics}
    headline_entry = registry.metric(bench.entry.headline)
    if headline_entry.kind != "ceiled":
        raise BrainbenchError(f"benchmark {bench.identifier!r} names {headline_entry.id!r} as its headline, "
                              f"which is a {headline_entry.kind}, not a ceiled score.")
    Y = torch.as_tensor(target, device=torch_device)
    results: dict[str, LayerResult] = {}
    readout_time = metric_time = 0.0
    from tqdm.auto import tqdm

    for layer in tqdm(layers, desc=f"{bench.identifier} readout", unit="layer", disable=not progress, leave=False):
        tick = time.perf_counter()
        cv = _cross_validate(readout_obj, features[layer], Y, splits)
        readout_time += time.perf_counter() - tick
        tick = time.perf_counter()
        results[layer] = LayerResult(
            cv=cv,
            pooled={name: fn(cv.predictions, target) for name, fn in metric_fns.items()},
            r_split=np.stack([pearson_r(cv.split_predictions[k][s.test], target[s.test])
                              for k, s in enumerate(splits)]),
            ev_split=np.stack([explained_variance(cv.split_predictions[k][s.test], target[s.test])
                               for k, s in enumerate(splits)]),
        )
        metric_time += time.perf_counter() - tick
    solver = str(results[layers[0]].cv.info.get("solver", solver)) if layers else solver
    tick = time.perf_counter()
    guard_layer = min(layers, key=lambda name: int(np.prod(features[name].shape[1:])))
    check_no_test_leak(lambda: build_readout(readout_id, registry, seed)[0], features[guard_layer], Y, splits[0],
                       results[guard_layer].cv.split_predictions[0], readout_id)
    readout_time += time.perf_counter() - tick
    timings["readout_s"] = round(readout_time, 3)
    timings["metrics_s"] = round(metric_time, 3)

    floor = float(headline_entry.params.get("reliability_floor", 0.3))
    dataset = _assemble(results, layers, assembly, target, ceiling, splits, floor)
    choice = choose_layers(dataset["val_score"])
    best_layer = choice.best_layer
    r_split = dataset["r_split"].transpose("layer", "split", "neuroid").values
    with np.errstate(invalid="ignore"):
        chosen_r = np.nanmean(r_split[choice.per_split, np.arange(len(splits))], axis=0)  # (neuroid,)
    head = headline(chosen_r, ceiling, floor, has_repetitions=ceiling_entry is not None)
    dataset["headline_r"] = (("neuroid",), chosen_r)
    dataset.attrs.update({
        "model": net.identifier,
        "benchmark": bench.identifier,
        "benchmark_version": bench.entry.version,
        "readout": readout_id,
        "solver": solver,
        "readout_params": json.dumps(readout_params, sort_keys=True, default=str),
        "metrics": json.dumps({m: registry.metric(m).version
                               for m in [*bench.entry.metrics, bench.entry.headline]}),
        "ceiling_formula": json.dumps({bench.entry.ceiling: registry.metric(bench.entry.ceiling).version}
                                      if ceiling_entry is not None else {}),
        "best_layer": best_layer,
        "layer_choice": json.dumps({"per_split": [layers[k] for k in choice.per_split],
                                    "beats_zero": choice.beats_zero}),
        "score": head.value,
        "score_kind": head.kind,
        "score_note": head.reason,
        "reliability_floor": floor,
        "n_reliable": head.n_reliable,
        "selection": json.dumps({"n_total": n_total, "n_kept": int(n_neuroids), "reliability_threshold": threshold,
                                 "filters": bench.entry.selection}, default=str),
        "provenance": json.dumps(_provenance(net, torch_device, seed, assembly, loaded.stimuli.content_hash)),
        "format": SCORE_FORMAT,
    })
    timings["elapsed_s"] = round(time.perf_counter() - started + startup, 3)
    dataset.attrs["timings"] = json.dumps(timings)
    if out is not None:
        write_score(dataset, Path(out) / f"{net.identifier}__{bench.identifier}.nc")
    return dataset


def _cross_validate(readout, X, Y, splits: list):
    """Cross-validate ``readout`` on one layer's feature source ``X (n, ...)`` and responses ``Y (n, N)``."""
    from brainbench.readouts.cv import cross_validate

    return cross_validate(readout, X, Y, splits)


class LeakageError(BrainbenchError):
    """A readout whose test predictions depend on the responses of its test stimuli."""


def check_no_test_leak(new_readout, X, Y, split, reference: np.ndarray, readout_id: str) -> None:
    """Refit one split with its test responses hidden; its test predictions must not change.

    A fresh readout is cross-validated on ``split`` alone with the responses of the
    split's test stimuli set to NaN. A readout that touches them in any arithmetic (a
    fit on all rows, a mean over all stimuli, a layer or penalty chosen on test data)
    then predicts NaN or something else than it did with them visible.

    Args:
        new_readout: ``() -> Readout``, a fresh instance with the run's parameters.
        X: the layer's features ``(n, ...)``.
        Y: ``(n, N)`` responses on the compute device.
        split: the split to refit.
        reference: ``(n, N)`` that split's predictions from the scoring run.
    Raises:
        LeakageError: naming the readout.
    """
    hidden = Y.clone()
    hidden[split.test] = float("nan")
    guard = _cross_validate(new_readout(), X, hidden, [split]).split_predictions[0][split.test]
    expected = reference[split.test]
    scale = float(np.nanstd(expected)) or 1.0
    if not np.isfinite(guard).all() or np.abs(guard - expected).max() > 1e-5 * scale:
        raise LeakageError(
            f"readout {readout_id!r} uses the responses of test stimuli: its test predictions changed when "
            "those responses were hidden, so its scores would be inflated; fit on the training stimuli only."
        )


@dataclass(frozen=True)
class LayerResult:
    """One layer's cross-validated fit and metrics.

    Attributes:
        cv: the readout's cross-validation result.
        pooled: metric id -> ``(N,)`` on the pooled out-of-fold predictions.
        r_split: ``(split, N)`` Pearson r on each split's test stimuli.
        ev_split: ``(split, N)`` R^2 on each split's test stimuli.
    """

    cv: Any
    pooled: dict[str, np.ndarray]
    r_split: np.ndarray
    ev_split: np.ndarray


@dataclass(frozen=True)
class LayerChoice:
    """The layer chosen per split from that split's training data only.

    Attributes:
        per_split: ``(split,)`` index of the layer with the highest median validation
            score on each split's training stimuli.
        best_layer: the layer chosen most often (ties: the earlier layer).
        beats_zero: whether that layer's median validation score is above 0 in most
            splits, i.e. it predicts held-out training stimuli better than their mean.
    """

    per_split: np.ndarray
    best_layer: str
    beats_zero: bool


def choose_layers(val_score: xr.DataArray) -> LayerChoice:
    """Choose a layer per split from training-only validation scores.

    Each split's test stimuli are scored at the layer chosen on *that split's* training
    stimuli, so the headline never depends on a test stimulus through the layer choice
    (choosing one layer from validation scores averaged over all splits would: every
    stimulus is a training stimulus of the other splits).

    Args:
        val_score: ``(layer, split, neuroid)`` validation R^2 from training data only.
    """
    layers = [str(v) for v in val_score.layer.values]
    values = val_score.transpose("layer", "split", "neuroid").values
    with np.errstate(all="ignore"):
        finite = np.isfinite(values)
        medians = np.where(finite.any(-1), np.nanmedian(np.where(finite, values, np.nan), axis=-1), -np.inf)
    per_split = np.argmax(medians, axis=0)  # (split,)
    counts = np.bincount(per_split, minlength=len(layers))
    best = int(np.argmax(counts))
    wins = per_split == best
    beats_zero = bool((medians[best, wins] > 0).mean() > 0.5) if wins.any() else False
    return LayerChoice(per_split, layers[best], beats_zero)


def _assemble(results: dict[str, LayerResult], layers: list[str], assembly: xr.DataArray, target: np.ndarray,
              ceiling: np.ndarray, splits: list, reliability_floor: float) -> xr.Dataset:
    neuroid_coords = {c: ("neuroid", assembly[c].values) for c in assembly.coords if assembly[c].dims == ("neuroid",)}
    coords = {"layer": list(layers), "split": np.arange(len(splits)),
              "stimulus_id": ("stimulus", assembly.stimulus_id.values), **neuroid_coords}
    per_layer = [results[layer] for layer in layers]
    data: dict[str, Any] = {}
    names = {"pearson-r": "r", "explained-variance": "ev"}
    for metric in per_layer[0].pooled:
        data[names.get(metric, metric)] = (("layer", "neuroid"), np.stack([res.pooled[metric] for res in per_layer]))
    for required in ("r", "ev"):
        if required not in data:
            data[required] = (("layer", "neuroid"), np.full((len(layers), target.shape[1]), np.nan))
    r_split = np.stack([res.r_split for res in per_layer])
    data["r_split"] = (("layer", "split", "neuroid"), r_split)
    data["ev_split"] = (("layer", "split", "neuroid"), np.stack([res.ev_split for res in per_layer]))
    with np.errstate(invalid="ignore"):
        r_mean = np.nanmean(np.where(np.isfinite(r_split), r_split, np.nan), axis=1)
    data["r_split_mean"] = (("layer", "neuroid"), r_mean)
    data["ceiled"] = (("layer", "neuroid"), signed_ceiled_r2(r_mean, ceiling, reliability_floor))
    data["val_score"] = (("layer", "split", "neuroid"), np.stack([res.cv.val_score for res in per_layer]))
    data["prediction"] = (("layer", "stimulus", "neuroid"),
                          np.stack([res.cv.predictions for res in per_layer]).astype(np.float32))
    data["target"] = (("stimulus", "neuroid"), target)
    data["ceiling"] = (("neuroid",), np.asarray(ceiling, dtype=np.float64))
    data["reliable"] = (("neuroid",), reliable_mask(ceiling, reliability_floor))
    for name in per_layer[0].cv.params:
        data[f"param_{name}"] = (("layer", "split", "neuroid"), np.stack([res.cv.params[name] for res in per_layer]))
    return xr.Dataset(data, coords=coords)


def _provenance(net, device, seed: int, assembly: xr.DataArray, stimulus_hash: str) -> dict[str, Any]:
    import torch

    import brainbench

    versions = {"brainbench": brainbench.__version__, "torch": torch.__version__,
                "numpy": np.__version__, "xarray": xr.__version__, "python": platform.python_version()}
    return {
        **versions,
        "device": str(device),
        "seed": seed,
        "data_sha256": assembly_hash(assembly),
        "stimuli_sha256": stimulus_hash,
        "weights": net.weights_hash,
    }


def summarize(dataset: xr.Dataset, elapsed_s: float | None = None) -> dict[str, Any]:
    """The ``brainbench score --json`` object of a score dataset."""
    layers = {}
    for layer in dataset.layer.values:
        sel = dataset.sel(layer=layer)
        layers[str(layer)] = {
            "median_r": _median(sel["r"]),
            "median_r_split": _median(sel["r_split_mean"]),
            "median_ev": _median(sel["ev"]),
            "median_ceiled": _median(sel["ceiled"]),
            "n_neuroids": int(dataset.sizes["neuroid"]),
        }
    provenance = json.loads(dataset.attrs["provenance"])
    timings = json.loads(dataset.attrs["timings"])
    choice = json.loads(dataset.attrs["layer_choice"])
    return {
        "model": dataset.attrs["model"],
        "benchmark": dataset.attrs["benchmark"],
        "benchmark_version": int(dataset.attrs["benchmark_version"]),
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
        "reliability_floor": float(dataset.attrs["reliability_floor"]),
        "ceiling": {"median": _median(dataset["ceiling"])},
        "selection": json.loads(dataset.attrs["selection"]),
        "provenance": {k: provenance[k] for k in ("brainbench", "torch", "device", "seed", "data_sha256", "weights")},
        "timings": {k: v for k, v in timings.items() if k != "elapsed_s"},
        "elapsed_s": timings["elapsed_s"] if elapsed_s is None else round(elapsed_s, 3),
    }


def _median(values: xr.DataArray) -> float | None:
    finite = values.values[np.isfinite(values.values)]
    return _clean(float(np.median(finite))) if finite.size else None


def _clean(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def write_score(dataset: xr.Dataset, path: Path) -> Path:
    """Write a score dataset to netCDF atomically."""
    from brainbench.data.netcdf import write_netcdf_atomic

    return write_netcdf_atomic(dataset, path)
