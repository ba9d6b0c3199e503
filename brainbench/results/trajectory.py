"""A training trajectory: the checkpoints of one architecture scored as one family.

``brainbench score 'runs/ckpt_*.pt' cowley2023-V4 --arch torchvision/resnet18`` and
:func:`score_checkpoints` score every checkpoint a glob, folder or list names
(:func:`brainbench.models.checkpoint.open_checkpoints`: ordered by the number in the
names, else their natural order). Each checkpoint is its own run, with its own key (its
file's sha256 is its weights hash) and its own row in the results store; its activations
are computed once and cached under that hash.

One call does what a loop of ``brainbench score`` processes would do, without repeating
what the checkpoints share: the interpreter, torch and the registry are started once,
every file is checked against the architecture before any scoring starts, the
benchmark's assembly and stimuli are loaded and its ceiling and splits computed once, and
the network is built once, each checkpoint's weights loaded into it in turn. Each
checkpoint's numbers are exactly those of scoring it alone (same key, same data, same
readout); ``benchmarks/bench_trajectory.py`` measures the difference in time.

The ``trajectory`` analysis (:mod:`brainbench.analyses.trajectory`) plots the headline
score and the chosen layer against the checkpoint.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import xarray as xr

from brainbench.registry.manifest import Preprocessing, TokenRule

if TYPE_CHECKING:  # pragma: no cover
    from brainbench.models.checkpoint import Checkpoints

__all__ = ["score_checkpoints"]


def score_checkpoints(
    checkpoints: str | os.PathLike | Sequence[str | os.PathLike] | Checkpoints,
    benchmark: Any,
    *,
    arch: str,
    layers: list[str] | None = None,
    tokens: TokenRule | None = None,
    preprocessing: Preprocessing | None = None,
    readout: str | None = None,
    readout_params: dict[str, Any] | None = None,
    seed: int = 0,
    device: str = "auto",
    batch_size: int = 32,
    use_cache: bool = True,
    progress: bool = True,
    store: Any = None,
    record: bool = True,
    reuse_stored: bool = False,
    registry: Any = None,
    threads: int | None = None,
) -> list[xr.Dataset]:
    """Score every checkpoint of a training run on one benchmark, in training order.

    Args:
        checkpoints: a glob (``"runs/ckpt_*.pt"``), a folder, one file, or a list of files
            (kept in the order given); or a run already opened by
            :func:`~brainbench.models.checkpoint.open_checkpoints` (several benchmarks, one
            opening; its layers, tokens and preprocessing are then those it was opened with).
        benchmark: a benchmark id (or alias) or :class:`brainbench.scoring.benchmark.Benchmark`.
        arch: the architecture's model id (``torchvision/resnet18``, ``timm/<arch>``, ...).
        layers, tokens, preprocessing: overrides of the architecture's.
        readout, readout_params, seed, device, batch_size, use_cache: as for :func:`brainbench.score`.
        store: the results store (path, :class:`~brainbench.results.store.ResultStore` or None
            for the default).
        record: record each checkpoint's score in the store.
        reuse_stored: return a checkpoint's stored score when its key is already there.
    Returns:
        One score dataset per checkpoint (the layout of :mod:`brainbench.scoring`), with attrs
        ``checkpoint`` (file name), ``checkpoint_index`` and ``checkpoint_step`` (-1 when the
        name has no number).
    """
    from brainbench.models.checkpoint import Checkpoints, open_checkpoints
    from brainbench.models.preprocess import with_placement
    from brainbench.progress import tqdm
    from brainbench.registry import get_registry
    from brainbench.results.store import ResultStore
    from brainbench.scoring.activations import PlacedImages
    from brainbench.scoring.arguments import check_score_arguments
    from brainbench.scoring.benchmark import Benchmark, resolve_benchmark
    from brainbench.scoring.load import load
    from brainbench.scoring.scorer import score_prepared
    from brainbench.scoring.spec import resolve
    from brainbench.scoring.threads import limit_threads, resolve_threads

    check_score_arguments(layers=layers, device=device, seed=seed, batch_size=batch_size, out=None)
    count = resolve_threads(threads)
    registry = registry or get_registry()
    bench = benchmark if isinstance(benchmark, Benchmark) else resolve_benchmark(benchmark, registry)
    if readout is not None:
        registry.readout(readout)  # an unknown readout: one sentence before any file is read
    target = (store if isinstance(store, ResultStore) else ResultStore(store)) if (record or reuse_stored) else None
    options: dict[str, Any] = {
        "layers": layers,
        "readout": readout,
        "readout_params": readout_params,
        "seed": seed,
        "device": device,
    }
    with limit_threads(count):  # the one thread setting of the call (as in brainbench.results.runs)
        # the files found, hashed and checked against the architecture, built once: before any scoring
        series = (
            checkpoints
            if isinstance(checkpoints, Checkpoints)
            else open_checkpoints(
                checkpoints,
                arch,
                layers=layers,
                tokens=tokens,
                preprocessing=preprocessing,
                registry=registry,
                progress=progress,
            )
        )
        # each score's place in the trajectory (attrs), known before any of them is computed
        places = [
            {"checkpoint": path.name, "checkpoint_index": index, "checkpoint_step": -1 if step is None else step}
            for index, (path, step) in enumerate(zip(series.paths, series.steps, strict=True))
        ]
        results: list[xr.Dataset] = []
        inputs: PlacedImages | None = None  # placed images, decoded once for every checkpoint
        data = None
        for place, net in tqdm(
            zip(places, series.nets(), strict=True),
            total=len(places),
            desc="checkpoints",
            unit="ckpt",
            disable=not progress,
        ):
            started = time.perf_counter()
            run = resolve(net, bench, registry=registry, **options)
            if data is None:  # assembly, stimuli, ceiling and splits: the same for every checkpoint
                data = load(run, progress=progress)
            spec = data.spec_of(run.spec)
            dataset = target.reusable(spec.key) if (reuse_stored and target is not None and use_cache) else None
            scored = dataset is None
            if dataset is None:
                prep = with_placement(net.preprocessing, bench.entry.stimulus_placement)
                if inputs is None or not inputs.matches(data.stimuli, prep):
                    inputs = PlacedImages(data.stimuli, prep)
                dataset = score_prepared(
                    run,
                    data,
                    spec,
                    progress=progress,
                    use_cache=use_cache,
                    batch_size=batch_size,
                    threads=count,
                    load_s=time.perf_counter() - started,
                    inputs=inputs,
                )
            dataset.attrs.update(place)
            if scored and record and target is not None:
                target.record(dataset)
            results.append(dataset)
    return results
