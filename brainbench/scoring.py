"""The scorer: any model x any benchmark, every layer, on CPU or CUDA.

For each layer: activations (cached, streamed), the benchmark's readout cross-validated
over its splits, per-neuroid metrics on pooled out-of-fold predictions, and the ceiled
score ``r^2 / ceiling``. The headline layer is chosen from training-fold validation
scores only (leave-one-out or inner splits), never from test folds.

The result is an :class:`xarray.Dataset`:

==================  ============================  ==========================================
variable            dims                          meaning
==================  ============================  ==========================================
``r``               (layer, neuroid)              Pearson r, pooled out-of-fold predictions
``ev``              (layer, neuroid)              R^2 = 1 - SSE/SST, same predictions
``ceiled``          (layer, neuroid)              r^2 / ceiling (NaN where ceiling <= 0)
``r_split``         (layer, split, neuroid)       Pearson r on each split's test stimuli
``ev_split``        (layer, split, neuroid)       R^2 on each split's test stimuli
``val_score``       (layer, split, neuroid)       training-only validation R^2
``prediction``      (layer, stimulus, neuroid)    pooled out-of-fold predictions
``target``          (stimulus, neuroid)           trial-averaged responses
``ceiling``         (neuroid)                     split-half reliability (NaN if no trials)
``param_<name>``    (layer, split, neuroid)       hyperparameters chosen per split
==================  ============================  ==========================================

with every neuroid coordinate of the assembly kept, and attrs ``model``, ``benchmark``,
``benchmark_version``, ``readout``, ``solver``, ``best_layer``, ``score`` and JSON
strings ``provenance``, ``timings`` and ``selection``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from brainbench.benchmark import Benchmark, resolve_benchmark
from brainbench.data.assembly import trial_mean
from brainbench.errors import BrainbenchError
from brainbench.identifiers import check_identifier
from brainbench.registry import get_registry, load_object
from brainbench.registry.registry import Registry
from brainbench.threads import scoped_threads

SCORE_FORMAT = 1


def _process_age() -> float:
    """Seconds since this process started (Linux), else 0."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def build_readout(readout_id: str, registry: Registry, seed: int, overrides: dict[str, Any] | None = None):
    """Instantiate a registered readout (following ``base`` links), passing ``seed`` if accepted.

    ``overrides`` replace declared params (e.g. ``{"alphas": [0.1, 1, 10]}``); each key
    must be an argument of the readout's constructor.
    """
    python_name, solver, params = registry.resolve_readout(readout_id)
    cls = load_object(python_name)
    params = {**params, **_check_overrides(readout_id, cls, overrides)}
    if "seed" in inspect.signature(cls).parameters:
        params.setdefault("seed", seed)
    try:
        readout = cls(**params)
    except TypeError as error:
        raise BrainbenchError(f"readout {readout_id!r} does not accept its declared params: {error}.") from error
    # the instance knows best: a readout may switch solver (e.g. to Adam when L1 is asked for)
    instance_solver = getattr(readout, "solver", "")
    return readout, (instance_solver if instance_solver not in ("", "unknown") else solver), params


def _check_overrides(readout_id: str, cls: type, overrides: dict[str, Any] | None) -> dict[str, Any]:
    if overrides is None:
        return {}
    if not isinstance(overrides, dict) or not all(isinstance(k, str) for k in overrides):
        raise BrainbenchError(f"readout_params must be a dict of argument names to values, got {overrides!r}.")
    accepted = inspect.signature(cls).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted(set(overrides) - set(accepted))
        if unknown:
            raise BrainbenchError(f"readout {readout_id!r} has no parameter {unknown[0]!r}; "
                                  f"it accepts {', '.join(accepted) or 'none'}.")
    return dict(overrides)


def assembly_hash(assembly: xr.DataArray) -> str:
    """sha256 over the assembly's values and ids (the scored data's fingerprint)."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(assembly.values, dtype=np.float64).tobytes())
    for coord in ("stimulus_id", "neuroid_id"):
        digest.update("\0".join(map(str, assembly[coord].values)).encode())
    return digest.hexdigest()


@scoped_threads
def score(model: Any, benchmark: Any, *, layers: list[str] | None = None, readout: str | None = None,
          device: str = "auto", seed: int = 0, out: str | os.PathLike | None = None,
          progress: bool = True, use_cache: bool = True, batch_size: int = 32,
          registry: Registry | None = None, splits: list | None = None,
          readout_params: dict[str, Any] | None = None, threads: int | None = None) -> xr.Dataset:
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
        splits: your own train/test split instead of the benchmark's: a list of
            ``(train_indices, test_indices)`` pairs or :class:`brainbench.readouts.base.Split`,
            positions into the assembly's stimulus axis (checked: in range, disjoint,
            non-empty). Recorded in attrs ``custom_splits`` (1/0) and ``split_spec``.
        readout_params: overrides of the readout's declared params, e.g.
            ``{"alphas": [0.1, 1, 10]}`` or ``{"alphas": {"start": -2, "stop": 2, "num": 9}}``;
            each key must be a constructor argument of the readout. Recorded in attrs
            ``readout_params`` (the merged params) and ``readout_overrides``.
        threads: CPU threads for torch and BLAS during the call (default: see
            :mod:`brainbench.threads`); recorded in attrs ``threads``.
    Returns:
        The score dataset described in this module's docstring.
    """
    started = time.perf_counter()
    startup = _process_age()
    import torch

    from brainbench.activations import get_activations
    from brainbench.models.base import TorchModel, load_model, resolve_device
    from brainbench.models.preprocess import with_placement
    from brainbench.splits import check_splits, make_splits, split_spec

    registry = registry or get_registry()
    timings: dict[str, float] = {"startup_s": round(startup, 3)}
    tick = time.perf_counter()
    bench = benchmark if isinstance(benchmark, Benchmark) else resolve_benchmark(benchmark, registry)
    net = model if isinstance(model, TorchModel) else load_model(registry.model(model))
    torch_device = resolve_device(device)
    layers = net.check_layers(layers or net.layers)
    readout_id = readout or bench.entry.readout
    readout_overrides = readout_params
    out_name = (f"{check_identifier(net.identifier or 'model', 'model id')}__"
                f"{check_identifier(bench.identifier, 'benchmark id')}.nc")
    readout_obj, solver, readout_params = build_readout(readout_id, registry, seed, readout_overrides)

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
    custom = splits if splits is not None else bench.splits
    splits = check_splits(custom if custom is not None else make_splits(bench.entry.split, n_stimuli, stratify, seed),
                          n_stimuli)
    timings["load_s"] = round(time.perf_counter() - tick, 3)

    tick = time.perf_counter()
    prep = with_placement(net.preprocessing, bench.entry.stimulus_placement)
    features = get_activations(net, loaded.stimuli, layers, prep, torch_device, batch_size=batch_size,
                               progress=progress, use_cache=use_cache)
    timings["activations_s"] = round(time.perf_counter() - tick, 3)

    metric_fns = {m: load_object(registry.metric(m).python_name) for m in bench.entry.metrics}
    Y = torch.as_tensor(target, device=torch_device)
    results: dict[str, Any] = {}
    readout_time = metric_time = 0.0
    from tqdm.auto import tqdm

    for layer in tqdm(layers, desc=f"{bench.identifier} readout", unit="layer", disable=not progress, leave=False):
        tick = time.perf_counter()
        X = features[layer]
        if readout_obj.uses_gram:
            cv = readout_obj.cross_validate(X, Y, splits)
        else:
            X_t = torch.from_numpy(np.array(X, dtype=np.float32)).to(torch_device)
            if not readout_obj.needs_spatial:
                X_t = X_t.reshape(X_t.shape[0], -1)
            cv = readout_obj.cross_validate(X_t, Y.float(), splits)
        readout_time += time.perf_counter() - tick
        tick = time.perf_counter()
        per_split_r = np.stack([_split_metric(metric_fns, "pearson-r", cv.split_predictions[k], target, s)
                                for k, s in enumerate(splits)])
        per_split_ev = np.stack([_split_metric(metric_fns, "explained-variance", cv.split_predictions[k], target, s)
                                 for k, s in enumerate(splits)])
        values = {name: fn(cv.predictions, target) for name, fn in metric_fns.items()}
        results[layer] = (cv, values, per_split_r, per_split_ev)
        metric_time += time.perf_counter() - tick
    timings["readout_s"] = round(readout_time, 3)
    timings["metrics_s"] = round(metric_time, 3)

    dataset = _assemble(results, layers, assembly, target, ceiling, splits)
    val = dataset["val_score"].mean("split").median("neuroid")
    best_layer = str(val.idxmax("layer").item()) if np.isfinite(val.values).any() else layers[0]
    dataset.attrs.update({
        "model": net.identifier,
        "benchmark": bench.identifier,
        "benchmark_version": bench.entry.version,
        "readout": readout_id,
        "solver": solver,
        "readout_params": json.dumps(readout_params, sort_keys=True, default=str),
        "metrics": json.dumps({m: registry.metric(m).version for m in bench.entry.metrics}),
        "ceiling_formula": json.dumps({bench.entry.ceiling: registry.metric(bench.entry.ceiling).version}
                                      if ceiling_entry is not None else {}),
        "best_layer": best_layer,
        "score": float(dataset["ceiled"].sel(layer=best_layer).median(skipna=True)),
        "selection": json.dumps({"n_total": n_total, "n_kept": int(n_neuroids), "reliability_threshold": threshold,
                                 "filters": bench.entry.selection}, default=str),
        "provenance": json.dumps(_provenance(net, torch_device, seed, assembly, loaded.stimuli.content_hash)),
        "format": SCORE_FORMAT,
    })
    timings["elapsed_s"] = round(time.perf_counter() - started + startup, 3)
    dataset.attrs["timings"] = json.dumps(timings)
    dataset.attrs.update({"threads": int(threads), "custom_splits": int(custom is not None),
                          "split_spec": json.dumps(split_spec(bench.entry.split, splits, custom is not None)),
                          "readout_overrides": json.dumps(readout_overrides or {}, sort_keys=True, default=str)})
    if out is not None:
        write_score(dataset, Path(out) / out_name)
    return dataset


def _split_metric(fns, name, split_prediction, target, split) -> np.ndarray:
    fn = fns.get(name)
    if fn is None:
        return np.full(target.shape[1], np.nan)
    return fn(split_prediction[split.test], target[split.test])


def _assemble(results, layers, assembly, target, ceiling, splits) -> xr.Dataset:
    neuroid_coords = {c: ("neuroid", assembly[c].values) for c in assembly.coords if assembly[c].dims == ("neuroid",)}
    coords = {"layer": list(layers), "split": np.arange(len(splits)),
              "stimulus_id": ("stimulus", assembly.stimulus_id.values), **neuroid_coords}
    first_values = results[layers[0]][1]
    data: dict[str, Any] = {}
    names = {"pearson-r": "r", "explained-variance": "ev"}
    for metric in first_values:
        data[names.get(metric, metric)] = (("layer", "neuroid"), np.stack([results[lay][1][metric] for lay in layers]))
    for required in ("r", "ev"):
        if required not in data:
            data[required] = (("layer", "neuroid"), np.full((len(layers), target.shape[1]), np.nan))
    r = data["r"][1]
    with np.errstate(invalid="ignore", divide="ignore"):
        ceiled = np.where(ceiling[None] > 0, r**2 / ceiling[None], np.nan)
    data["ceiled"] = (("layer", "neuroid"), ceiled)
    data["r_split"] = (("layer", "split", "neuroid"), np.stack([results[lay][2] for lay in layers]))
    data["ev_split"] = (("layer", "split", "neuroid"), np.stack([results[lay][3] for lay in layers]))
    data["val_score"] = (("layer", "split", "neuroid"), np.stack([results[lay][0].val_score for lay in layers]))
    data["prediction"] = (("layer", "stimulus", "neuroid"),
                          np.stack([results[lay][0].predictions for lay in layers]).astype(np.float32))
    data["target"] = (("stimulus", "neuroid"), target)
    data["ceiling"] = (("neuroid",), np.asarray(ceiling, dtype=np.float64))
    for name in results[layers[0]][0].params:
        data[f"param_{name}"] = (("layer", "split", "neuroid"),
                                 np.stack([results[lay][0].params[name] for lay in layers]))
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
            "median_ev": _median(sel["ev"]),
            "median_ceiled": _median(sel["ceiled"]),
            "n_neuroids": int(dataset.sizes["neuroid"]),
        }
    provenance = json.loads(dataset.attrs["provenance"])
    timings = json.loads(dataset.attrs["timings"])
    return {
        "model": dataset.attrs["model"],
        "benchmark": dataset.attrs["benchmark"],
        "benchmark_version": int(dataset.attrs["benchmark_version"]),
        "readout": dataset.attrs["readout"],
        "solver": dataset.attrs["solver"],
        "readout_params": json.loads(dataset.attrs["readout_params"]),
        "layers": layers,
        "best_layer": dataset.attrs["best_layer"],
        "score": _clean(dataset.attrs["score"]),
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
