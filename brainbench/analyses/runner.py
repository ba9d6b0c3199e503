"""Run a registered analysis: score (through the results store) every benchmark x readout, analyse, write files."""

from __future__ import annotations

import inspect
import os
from typing import Any

import xarray as xr

from brainbench.analyses.base import Analysis, AnalysisError, AnalysisResult
from brainbench.registry import get_registry, load_object
from brainbench.registry.registry import Registry


def load_analysis(analysis_id: str, registry: Registry | None = None) -> tuple[Analysis, dict[str, Any]]:
    """The analysis object of a registry id and its declared default params."""
    registry = registry or get_registry()
    entry = registry.analysis(analysis_id)
    target = load_object(entry.python_name)
    analysis = target() if isinstance(target, type) else target
    if not isinstance(analysis, Analysis) and not callable(getattr(analysis, "run", None)):
        raise AnalysisError(f"{entry.python_name} is not an analysis (it has no run method).")
    if not getattr(analysis, "name", ""):
        analysis.name = entry.id
    return analysis, dict(entry.params)


def check_params(analysis: Analysis, params: dict[str, Any]) -> None:
    """Refuse an unknown parameter name or a bad value in one sentence, before any scoring.

    Names are checked against ``analysis.run``'s signature, values by the analysis's own
    :meth:`~brainbench.analyses.base.Analysis.check_params` (a plugin without one: names only).
    """
    accepted = inspect.signature(analysis.run).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            names = ", ".join(p for p in accepted if p != "scores")
            raise AnalysisError(f"analysis {analysis.name!r} has no parameter {unknown[0]!r}; it takes: {names}.")
    check = getattr(analysis, "check_params", None)
    if callable(check):
        check(dict(params))


def run_analysis(analysis: Analysis, scores: list[xr.Dataset], params: dict[str, Any] | None = None) -> AnalysisResult:
    """``analysis.run(scores, **params)`` with unknown parameters and bad values reported clearly."""
    params = dict(params or {})
    check_params(analysis, params)
    return analysis.run(scores, **params)


def refuse_repeats(benchmark_ids: list[str]) -> None:
    """Refuse a benchmark named twice (also as id and alias): its neuroids would be pooled twice.

    A neuroid and its copy have identical profiles (r = 1), which would inflate every
    within-region statistic and count each neuroid twice.
    """
    repeated = [b for k, b in enumerate(benchmark_ids) if b in benchmark_ids[:k]]
    if repeated:
        raise AnalysisError(
            f"benchmark {repeated[0]} is named twice (its id or an alias); name each benchmark once, "
            "or its neuroids would be counted twice."
        )


def _with_seed(analysis: Analysis, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """``params`` plus ``seed`` where ``run`` takes one and the params name none (one --seed drives all)."""
    if "seed" in inspect.signature(analysis.run).parameters:
        return {"seed": seed, **params}
    return dict(params)


def analyze(
    analysis_id: str,
    model: Any,
    benchmarks: list[Any],
    *,
    readouts: list[str] | None = None,
    layers: list[str] | None = None,
    params: dict[str, Any] | None = None,
    out: str | os.PathLike | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
    use_cache: bool = True,
    registry: Registry | None = None,
    store: str | os.PathLike | None = None,
) -> AnalysisResult:
    """Score ``model`` on every benchmark (and readout), run an analysis, optionally write it.

    Scores come from the results store when their content key is there (a run of
    ``brainbench score`` is never refitted) and are recorded there otherwise.

    Args:
        analysis_id: a registered analysis id (``brainbench analyze --list``).
        model: model id or :class:`brainbench.models.base.TorchModel`.
        benchmarks: benchmark ids or :class:`brainbench.scoring.benchmark.Benchmark` objects.
        readouts: readout ids; one for most analyses (default: each benchmark's own), any
            number for a multi-readout analysis (default: its :meth:`Analysis.default_readouts`).
        params: analysis parameters, overriding those its manifest entry declares.
        out: folder for ``<analysis>.nc``, figures (PNG + SVG), ``summary.md`` and ``summary.json``.
        use_cache: reuse stored scores and cached activations (False recomputes and re-records).
        store: the results store (default ``$BRAINBENCH_STORE`` or ``$BRAINBENCH_HOME/results.sqlite``).
    """
    from brainbench.progress import tqdm
    from brainbench.results.runs import Execution, Request, run
    from brainbench.results.store import ResultStore
    from brainbench.scoring.arguments import check_out_dir
    from brainbench.scoring.benchmark import Benchmark

    registry = registry or get_registry()
    analysis, declared = load_analysis(analysis_id, registry)
    if not benchmarks:
        raise AnalysisError("name at least one benchmark to analyse.")
    params = _with_seed(analysis, {**declared, **(params or {})}, seed)
    check_params(analysis, params)  # a typo or a bad value fails now, not after every benchmark is scored
    check_out_dir(out)  # as the command does: a file or an unwritable --out fails before the scoring
    # the entries only (an unknown id fails here, before any pass): each pass's data are loaded, if at
    # all, by its run (a stored run is read without instantiating its assembly)
    benches = [b.entry if isinstance(b, Benchmark) else registry.benchmark(b) for b in benchmarks]
    refuse_repeats([b.id for b in benches])
    readout_list: list[str | None]
    if getattr(analysis, "multi_readout", False):
        chosen: list[str] = list(readouts or analysis.default_readouts(registry.ids("readouts")) or [])
        readout_list = [*chosen] if chosen else [None]
    else:
        if readouts and len(readouts) > 1:
            raise AnalysisError(
                f"analysis {analysis_id!r} uses one readout; pass a single --readout "
                "(regime-comparison compares several)."
            )
        readout_list = [readouts[0] if readouts else None]
    for readout in readout_list:
        if readout is not None:
            registry.readout(readout)  # unknown id: a clear error before any scoring
    named = [registry.readout(r).id for r in readout_list if r is not None]
    if len(set(named)) < len(named):
        raise AnalysisError("a readout is named twice (its id or an alias); name each readout once.")
    # an id is passed on as given: the store then finds a stored run by its remembered key
    passes = [(b, r, given) for r in readout_list for b, given in zip(benches, benchmarks, strict=True)]
    model_id = model if isinstance(model, str) else model.identifier
    target = ResultStore(store)
    how = Execution(device=device, progress=progress, use_cache=use_cache)
    scores = []
    for bench, readout, asked in tqdm(
        passes, desc=f"{analysis_id}: {model_id} x benchmark passes", unit="pass", disable=not progress
    ):
        request = Request(model, asked, layers=None if layers is None else tuple(layers), readout=readout, seed=seed)
        dataset = run(request, how, store=target, registry=registry).dataset
        if "region" not in dataset.coords:
            dataset.attrs["region"] = bench.region or bench.id
        scores.append(dataset)
    title = f"{analysis_id}: {model_id} on {', '.join(b.id for b in benches)}"
    return _analyse(analysis, scores, params, out, title)


def analyze_checkpoints(
    analysis_id: str,
    checkpoints: Any,
    benchmarks: list[Any],
    *,
    arch: str,
    readout: str | None = None,
    layers: list[str] | None = None,
    params: dict[str, Any] | None = None,
    out: str | os.PathLike | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
    use_cache: bool = True,
    registry: Registry | None = None,
    store: str | os.PathLike | None = None,
) -> AnalysisResult:
    """Score checkpoints of architecture ``arch`` on every benchmark (through the store), analyse, write.

    ``checkpoints``: a glob, folder, file or list of files (:func:`brainbench.results.trajectory.score_checkpoints`).
    Several checkpoints need an analysis of a series (``trajectory``); any analysis takes one.
    """
    from brainbench.models.checkpoint import open_checkpoints
    from brainbench.results.trajectory import score_checkpoints
    from brainbench.scoring.arguments import check_device, check_layer_names, check_out_dir, check_seed

    registry = registry or get_registry()
    analysis, declared = load_analysis(analysis_id, registry)
    if not benchmarks:
        raise AnalysisError("name at least one benchmark to analyse.")
    params = _with_seed(analysis, {**declared, **(params or {})}, seed)
    check_params(analysis, params)
    check_out_dir(out)
    # the options score_checkpoints checks, checked here too: the run is opened (every file read) first
    layers = check_layer_names(layers)
    check_device(device)
    check_seed(seed)
    # every id checked before any file is read
    refuse_repeats(
        [registry.benchmark(b).id if isinstance(b, str) else str(getattr(b, "entry", b).id) for b in benchmarks]
    )
    if readout is not None:
        registry.readout(readout)
    # the files found, hashed and checked once for every benchmark (not once per benchmark)
    series = open_checkpoints(checkpoints, arch, layers=layers, registry=registry, progress=progress)
    if len(series.paths) > 1 and not getattr(analysis, "takes_series", False):
        raise AnalysisError(
            f"analysis {analysis_id!r} analyses one model, but {len(series.paths)} checkpoints were "
            "given; pass one checkpoint, or use the trajectory analysis for a series."
        )
    scores: list[xr.Dataset] = []
    for bench in benchmarks:
        scores += score_checkpoints(
            series,
            bench,
            arch=arch,
            layers=layers,
            readout=readout,
            seed=seed,
            device=device,
            use_cache=use_cache,
            progress=progress,
            store=store,
            record=True,
            reuse_stored=use_cache,
            registry=registry,
        )
    names = ", ".join(str(s.attrs.get("benchmark", "")) for s in scores[:: max(1, len(scores) // len(benchmarks))])
    title = f"{analysis_id}: checkpoints of {arch} on {names}"
    return _analyse(analysis, scores, params, out, title)


def _analyse(
    analysis: Analysis,
    scores: list[xr.Dataset],
    params: dict[str, Any],
    out: str | os.PathLike | None,
    title: str,
) -> AnalysisResult:
    """Run ``analysis`` on the scores with ``params`` (checked, the seed merged in) and write it to ``out``."""
    result = run_analysis(analysis, scores, params)
    if out is not None:
        result.write(out, title=title)
    return result
