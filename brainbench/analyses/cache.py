"""A small on-disk cache of score datasets, so analyses rerun without refitting readouts.

Scores are stored as netCDF under ``$BRAINBENCH_HOME/scores``. The key hashes what
determines the numbers: the model (registry entry, or the weights hash of a model
object), the benchmark (its full declaration, which carries its version, and the sha256
of its loaded assembly and stimuli), the readout (id and resolved
class and parameters), the seed, the layers and the score format. The device is not
part of the key: CPU and CUDA agree to floating-point tolerance. Each file's sha256 is
kept in a sidecar and checked on read; a bad file is removed with a one-line warning
and the score computed again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import xarray as xr

from brainbench import cache_integrity
from brainbench.registry import get_registry
from brainbench.registry.registry import Registry


def score_dir() -> Path:
    from brainbench.data.fetch import home

    return home() / "scores"


def score_key(model: Any, benchmark: Any, readout: str | None, layers: list[str] | None, seed: int,
              registry: Registry) -> tuple[str, dict[str, Any]]:
    """``(sha256 hex, the JSON-able description it hashes)`` of one scoring pass."""
    from brainbench.benchmark import Benchmark, resolve_benchmark
    from brainbench.scoring import SCORE_FORMAT

    bench = benchmark if isinstance(benchmark, Benchmark) else resolve_benchmark(benchmark, registry)
    if isinstance(model, str):
        entry = registry.model(model)
        model_part: dict[str, Any] = {"id": entry.id, "python_name": entry.python_name, "params": entry.params,
                                      "weights": entry.weights, "preprocessing": entry.preprocessing.key()}
        all_layers = list(entry.layers)
    else:
        model_part = {"id": model.identifier, "weights_sha256": model.weights_hash,
                      "preprocessing": model.preprocessing.key()}
        all_layers = list(model.layers)
    readout_id = readout or bench.entry.readout
    benchmark_part: dict[str, Any] = {"entry": bench.entry.model_dump(mode="json", exclude={"description", "citation",
                                                                                            "license", "url", "info"})}
    # the data's own hashes too: a custom benchmark has no version, and a data fix that forgot
    # to bump a version must not serve stale scores (the scorer reuses this loaded data)
    from brainbench.scoring import assembly_hash

    loaded = bench.load(progress=False)
    benchmark_part.update(data_sha256=assembly_hash(loaded.assembly), stimuli_sha256=loaded.stimuli.content_hash)
    description = {
        "model": model_part,
        "benchmark": benchmark_part,
        "readout": {"id": readout_id, "resolved": list(registry.resolve_readout(readout_id))},
        "layers": list(layers or all_layers),
        "seed": seed,
        "format": SCORE_FORMAT,
    }
    text = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest(), description


def cached_score(model: Any, benchmark: Any, *, readout: str | None = None, layers: list[str] | None = None,
                 seed: int = 0, device: str = "auto", use_cache: bool = True, progress: bool = True,
                 registry: Registry | None = None) -> xr.Dataset:
    """:func:`brainbench.score`, reading and writing ``$BRAINBENCH_HOME/scores``.

    ``use_cache=False`` recomputes (activations too) and overwrites the cached score.
    """
    from brainbench.benchmark import Benchmark, resolve_benchmark
    from brainbench.data.netcdf import write_netcdf_atomic
    from brainbench.scoring import score

    registry = registry or get_registry()
    benchmark = benchmark if isinstance(benchmark, Benchmark) else resolve_benchmark(benchmark, registry)
    key, _ = score_key(model, benchmark, readout, layers, seed, registry)
    model_id = model if isinstance(model, str) else model.identifier or "model"
    bench_id = benchmark.identifier
    path = score_dir() / f"{model_id}__{bench_id}__{readout or benchmark.entry.readout}__{key[:16]}.nc"
    cache_integrity.clean_orphans(path.parent)
    if use_cache and cache_integrity.usable(path):
        with xr.open_dataset(path, engine="netcdf4") as stored:
            return stored.load()
    dataset = score(model, benchmark, layers=layers, readout=readout, device=device, seed=seed,
                    progress=progress, use_cache=use_cache, registry=registry)
    write_netcdf_atomic(dataset, path, record_hash=True)
    return dataset
