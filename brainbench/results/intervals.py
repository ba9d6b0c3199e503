"""Confidence intervals of leaderboard cells, recomputed from what each run stored; no refit.

A cell's headline (see :mod:`brainbench.metrics.ceiled`) is a statistic of per-neuroid
(or per-site) held-out correlations. Its interval is a percentile bootstrap that
recomputes that statistic **exactly as the run computed it** on each resample of the
stored data:

* **regression** runs store the pooled out-of-fold predictions ``prediction (layer,
  stimulus, neuroid)``, the trial-averaged ``target (stimulus, neuroid)`` and each
  neuroid's ``ceiling``. The run's splits are rebuilt from their stored declaration and
  seed (and checked: see below). A resample draws stimuli with replacement (a count per
  stimulus) and, where declared, neuroids with replacement; each split's test-fold
  Pearson r is recomputed on the drawn copies of its test stimuli at the layer that split
  chose, averaged over splits, ceiled by the benchmark's ceiled metric and summarised by
  the benchmark's aggregate (median or mean) over reliable neuroids.
* **representation** runs store the RDMs they compared (``model_rdm``, ``neural_rdm``).
  A stimulus resample gives each test-stimulus pair ``(a, b)`` of a split the weight
  ``count(a) * count(b)`` -- exactly the pairs of distinct drawn positions less a stimulus
  paired with its own copy (:func:`brainbench.metrics.rsa.stimulus_pairs`) -- and the RDM
  similarity is recomputed per split at the chosen layer, then ceiled and aggregated.

* **composite** runs (:mod:`brainbench.scoring.composite`) store per-neuroid numbers, not
  predictions; their parts are runs of their own. Each part is resampled from its stored
  run exactly as its own cell is (its seed, its units, its per-draw layer choice), each
  draw's per-neuroid values are summarised by the composite's declared aggregate (per
  part, then per group such as an animal, then overall), and the parts' draws are
  combined resample by resample (:func:`draw_composite`). Parts are resampled
  independently (each session has its own stimuli and neurons); the set of parts is fixed.

The layer choice follows the run's rule where the store allows it: each split's layer is
the one with the highest median training-only validation score (``val_score``) over the
*drawn* neuroids (:func:`choose_per_draw`, as :func:`brainbench.scoring.measure.choose_layers`),
so with neuroid resampling the interval includes which layer wins. The validation scores
themselves are held fixed under stimulus resampling: for regression they come from
readout fits on training stimuli that the store cannot redo; for representation they
could be recomputed from the stored RDMs on the drawn training pairs, which this version
does not do (at 640 stimuli that is about 165,000 training pairs per split and draw).

What is held fixed, so what the interval does **not** cover: the readout's weights (it is
not refitted on another training set, so fitting noise is not in the interval), the
validation scores behind the layer choice, and each neuroid's ceiling (its trials are
not stored; with neuroid resampling a neuroid keeps its own ceiling and reliability).
What it covers: which stimuli were shown (evaluation noise) and, where the benchmark
resamples them, which neuroids were recorded, with the layer choice they lead to.

Resampling units come from the benchmark's ``resample`` declaration (default per kind:
``["stimulus", "neuroid"]`` for regression, whose neurons are a sample of an area;
``["stimulus"]`` for representation, whose sites are a fixed, named set). Neuroids that
were shown different stimuli (sessions: a neuroid's target is NaN on the stimuli it never
saw) are grouped by the stimuli they saw; stimuli are resampled within each group and
neuroids within their group.

Reproducible and paired: the generator is seeded from the run's data identity
(benchmark, version, data and stimuli hashes -- all part of the run's content key), the
resampling units and :data:`VERSION`. Every model scored on one benchmark's data therefore
sees *the same* resamples, so the difference of two models' draws is a paired bootstrap
of their difference (:func:`compare`). A run whose stored data do not recompute its
stored score (within :data:`RECOMPUTE_TOLERANCE`) gets no interval, with the reason.

Draws are cached in the results store (table ``interval_draws``) keyed on the run's
content key, its results file's sha256 (a composite's: joined with its parts' and their units),
:data:`VERSION`, the units and the number of resamples, so ``leaderboard show``
recomputes nothing the second time.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

    from brainbench.results.store import ResultStore

#: Version of the resampling numerics; bump it when a change moves any interval.
VERSION = 2
#: Resamples per cell (the p-values use the bootstrap standard error, so they are not floored at 1/B).
N_BOOT = 1000
LEVEL = 0.95
ALPHA = 0.05
#: Largest absolute difference between the stored score and its recomputation from the
#: stored data (predictions and RDMs are stored as float32).
RECOMPUTE_TOLERANCE = 1e-4
#: Headlines closer than this are the same number (float32 storage of predictions and RDMs).
SAME = 1e-6
UNITS = ("stimulus", "neuroid")
DEFAULT_UNITS = {"regression": ("stimulus", "neuroid"), "representation": ("stimulus",)}
#: Rows of one batch of resamples (bounds memory at large neuroid counts).
BATCH = 250

COVERS = (
    "95% percentile bootstrap over the benchmark's resampling units (stimuli, and neuroids where "
    "declared), recomputed from each run's stored predictions or RDMs; the readout is not refitted, so "
    "fitting noise is not in it; each split's layer is chosen again for each neuroid draw by the run's rule "
    "on its stored validation scores, and each neuroid keeps its ceiling"
)


@dataclass(frozen=True)
class Draws:
    """A run's headline on every resample.

    Attributes:
        content_key: the run's key.
        values: ``(B,)`` the headline on each resample (NaN where undefined); empty when
            no interval could be drawn.
        point: the headline recomputed from the stored data (close to the stored score).
        units: the resampled units.
        reason: why there are no draws ("" when there are).
    """

    content_key: str
    values: np.ndarray
    point: float
    units: tuple[str, ...]
    reason: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason and self.values.size > 0

    def interval(self, level: float = LEVEL) -> tuple[float, float] | None:
        """The percentile interval, or None without draws."""
        return interval_of(self.values, level) if self.ok else None


def interval_of(values: np.ndarray, level: float = LEVEL) -> tuple[float, float] | None:
    """``(low, high)`` percentile interval of finite draws; None if fewer than half are finite."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or np.isfinite(values).mean() < 0.5:
        return None
    return _percentiles(values[np.isfinite(values)], level)


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    # as brainbench.analyses.stats.percentile_interval, without importing the analyses (xarray) for `show`
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


# ---------------------------------------------------------------------------- declaration
def declared_units(benchmark: str, kind: str) -> tuple[str, ...]:
    """The resampling units the benchmark declares (``resample`` in its manifest), else the kind's default."""
    from brainbench.errors import BrainbenchError
    from brainbench.registry import get_registry

    try:
        entry = get_registry().benchmark(benchmark)
    except BrainbenchError:
        entry = None
    declared = getattr(entry, "resample", None) if entry is not None else None
    if declared:
        return tuple(u for u in UNITS if u in declared)
    return DEFAULT_UNITS.get(kind, DEFAULT_UNITS["regression"])


def resample_seed(run: dict[str, Any], units: Sequence[str]) -> list[int]:
    """Seed words of a run's resamples: its data identity, the units and :data:`VERSION` (not the model)."""
    identity = json.dumps(
        [run["benchmark"], int(run["benchmark_version"]), run["data_sha256"], run["stimuli_sha256"], list(units)]
    )
    digest = hashlib.sha256(f"{identity}|{VERSION}".encode()).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


# ---------------------------------------------------------------------------- weighted correlation
def weighted_r(weights: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of ``x`` and ``y`` with per-item weights, for many weight vectors at once.

    A bootstrap resample that draws item ``i`` ``w_i`` times has exactly this r (each
    copy is one point). Items where ``y`` is not finite are left out per column.

    Args:
        weights: ``(B, P)`` non-negative weights (draw counts).
        x: ``(P,)`` or ``(P, N)``; y: ``(P, N)``.
    Returns:
        ``(B, N)``; NaN where a resample leaves a column fewer than 2 distinct weighted
        items or no variance.
    """
    w = np.asarray(weights, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = np.broadcast_to(x[:, None], y.shape)
    valid = np.isfinite(y) & np.isfinite(x)
    m = valid.astype(np.float64)
    x0, y0 = np.where(valid, x, 0.0), np.where(valid, y, 0.0)
    # centre on the unweighted means first: the moments below then lose no precision
    with np.errstate(invalid="ignore", divide="ignore"):
        x0 = np.where(valid, x0 - x0.sum(0) / m.sum(0), 0.0)
        y0 = np.where(valid, y0 - y0.sum(0) / m.sum(0), 0.0)
        # every weighted moment in one product: (B, P) @ (P, 6N)
        moments = w @ np.concatenate([m, x0, y0, x0 * y0, x0 * x0, y0 * y0], axis=1)
        n, sx, sy, sxy, sxx, syy = np.split(moments, 6, axis=1)
        cxy = sxy - sx * sy / n
        cxx = sxx - sx**2 / n
        cyy = syy - sy**2 / n
        flat = (cxx <= 1e-12 * sxx) | (cyy <= 1e-12 * syy) | ~(sxx * syy > 0)
        r = cxy / np.sqrt(np.where(flat, 1.0, cxx * cyy))
    return np.where(flat | (n < 2), np.nan, np.clip(r, -1.0, 1.0))


# ---------------------------------------------------------------------------- the recomputation
@dataclass(frozen=True)
class _Plan:
    """What one run's headline is recomputed from.

    ``per_split(counts, index) -> (B, N)``: the split-averaged r of every neuroid for
    stimulus draw counts ``(B, S)``, at the layers chosen for the neuroid draw ``index (B,
    N)``. ``finish(r (B, N), index (B, N)) -> (B,)``.
    """

    n_stimuli: int
    groups: list[tuple[np.ndarray, np.ndarray]]  # (stimulus positions, neuroid positions) per group
    per_split: Callable[[np.ndarray, np.ndarray], np.ndarray]
    finish: Callable[[np.ndarray, np.ndarray], np.ndarray]


class NoInterval(Exception):
    """Why a run's stored data cannot be resampled (a sentence)."""


def _splits(dataset: xr.Dataset, n_stimuli: int) -> list[np.ndarray]:
    """The run's test positions per split, rebuilt from the stored declaration and seed."""
    from brainbench.data.splits import make_splits
    from brainbench.registry.manifest import SplitSpec

    record = json.loads(dataset.attrs.get("split_spec", "{}") or "{}")
    if record.get("custom") or not record:
        raise NoInterval("the run used its own splits, which the store does not keep")
    fields = {k: v for k, v in record.items() if k in SplitSpec.model_fields}
    spec = SplitSpec(**fields)
    if spec.stratify:
        raise NoInterval(f"its splits are stratified by {spec.stratify!r}, a stimulus label the store does not keep")
    seed = int(json.loads(dataset.attrs["provenance"])["seed"])
    groups = (record.get("grouped") or {}).get("labels")  # identical images kept together, as the run did
    return [s.test for s in make_splits(spec, n_stimuli, None, seed, groups)]


def _headline_fn(dataset: xr.Dataset) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The run's ceiled metric ``(r (..., N), ceiling (N,)) -> (..., N)`` as its spec declares it."""
    from brainbench.metrics.ceiled import RELIABILITY_FLOOR, ceiled_metric, signed_ceiled_r2

    spec = json.loads(dataset.attrs.get("spec", "{}") or "{}")
    head = spec.get("headline") or {}
    if head.get("python_name"):
        return ceiled_metric(head["python_name"], head.get("params") or {})
    floor = float(dataset.attrs.get("reliability_floor", RELIABILITY_FLOOR))
    return lambda r, c: signed_ceiled_r2(r, c, floor)


def aggregate_of(dataset_or_spec: Any) -> str:
    """The benchmark's declared ``site_aggregate`` (``median`` unless declared), from a dataset or a spec."""
    if hasattr(dataset_or_spec, "attrs"):
        value = dataset_or_spec.attrs.get("site_aggregate")
        if value:
            return str(value)
        spec = json.loads(dataset_or_spec.attrs.get("spec", "{}") or "{}")
    else:
        spec = dataset_or_spec or {}
    return str((spec.get("benchmark") or {}).get("site_aggregate") or "median")


def _summarise(values: np.ndarray, aggregate: str) -> np.ndarray:
    """``(B, n) -> (B,)`` median or mean over finite entries (NaN where none), as the headline summarises."""
    import warnings

    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, axis=1) if aggregate == "median" else np.nanmean(values, axis=1)


def _plan(dataset: xr.Dataset) -> _Plan:
    from brainbench.metrics.ceiled import RELIABILITY_FLOOR, UNCORRECTED, UNCORRECTED_R2, reliable_mask

    layers = [str(v) for v in dataset["layer"].values]
    choice = json.loads(dataset.attrs.get("layer_choice", "{}") or "{}").get("per_split")
    if not choice:
        raise NoInterval("the run did not store its per-split layer choice")
    chosen = [layers.index(name) for name in choice]
    ceiling = np.asarray(dataset["ceiling"].values, dtype=np.float64)
    aggregate = aggregate_of(dataset)
    score_kind = dataset.attrs.get("score_kind")
    ceil = _headline_fn(dataset)
    # the run's own verdict on each neuroid's reliability when stored (whatever rule made it), else its floor
    if "reliable" in dataset:
        reliable = np.asarray(dataset["reliable"].values, dtype=bool)
    else:
        reliable = reliable_mask(ceiling, float(dataset.attrs.get("reliability_floor", RELIABILITY_FLOOR)))

    def finish(r: np.ndarray, index: np.ndarray) -> np.ndarray:
        if score_kind == UNCORRECTED:
            per_neuroid = r
        elif score_kind == UNCORRECTED_R2:  # the ceiling taken as 1, every neuroid counted
            per_neuroid = np.sign(r) * r**2
        else:
            per_neuroid = np.where(reliable[None], ceil(r, ceiling), np.nan)
        return _summarise(np.take_along_axis(per_neuroid, index, axis=1), aggregate)

    # each split's layer for a neuroid draw: the run's rule (highest median training-only validation
    # score over the drawn neuroids, brainbench.scoring.measure.choose_layers) on the stored scores
    val = np.asarray(dataset["val_score"].values, dtype=np.float64) if "val_score" in dataset else None
    if val is not None:
        everyone = np.arange(val.shape[-1])[None]
        if [int(choose_per_draw(val[:, k, :], everyone)[0]) for k in range(val.shape[1])] != chosen:
            val = None  # the stored scores do not give back the stored choice: keep the choice fixed

    def picks(k: int, index: np.ndarray) -> np.ndarray:
        """``(B,)`` split ``k``'s layer for each neuroid draw."""
        if val is None:
            return np.full(index.shape[0], chosen[k])
        return choose_per_draw(val[:, k, :], index)

    if "model_rdm" in dataset and "neural_rdm" in dataset:
        method = str(dataset.attrs.get("rdm_method", "pearson"))
        model = np.asarray(dataset["model_rdm"].values, dtype=np.float64)
        neural = np.asarray(dataset["neural_rdm"].values, dtype=np.float64)
        n_stimuli = model.shape[-1]
        tests = _splits(dataset, n_stimuli)
        pairs = [np.triu_indices(t.size, k=1) for t in tests]
        n_sites = neural.shape[0]

        def per_split_rdm(counts: np.ndarray, index: np.ndarray) -> np.ndarray:
            out = np.zeros((counts.shape[0], n_sites))
            for k, (test, (i, j)) in enumerate(zip(tests, pairs, strict=True)):
                a, b = test[i], test[j]
                y = neural[:, a, b].T  # (P, N)
                chosen_k = picks(k, index)
                for layer in np.unique(chosen_k):
                    rows = chosen_k == layer
                    if method == "pearson":
                        out[rows] += weighted_r(counts[rows][:, a] * counts[rows][:, b], model[layer, a, b], y)
                    else:
                        out[rows] += _spearman_loop(counts[rows], test, model[layer, a, b], y)
            return out / len(tests)

        groups = [(np.arange(n_stimuli), np.arange(n_sites))]
        return _Plan(n_stimuli, groups, per_split_rdm, finish)
    if "prediction" not in dataset or "target" not in dataset:
        raise NoInterval("the run stored neither its predictions nor its RDMs")
    prediction = np.asarray(dataset["prediction"].values, dtype=np.float64)  # (L, S, N)
    target = np.asarray(dataset["target"].values, dtype=np.float64)  # (S, N)
    n_stimuli = target.shape[0]
    tests = _splits(dataset, n_stimuli)
    covered = np.zeros(n_stimuli, dtype=int)
    for test in tests:
        covered[test] += 1
    if (covered != 1).any():
        # with repeated holdouts a stimulus is in several test sets: the pooled prediction is not each split's
        raise NoInterval("its splits do not test every stimulus exactly once, so per-split predictions are not stored")

    def per_split_reg(counts: np.ndarray, index: np.ndarray) -> np.ndarray:
        import warnings

        rs = []
        for k, t in enumerate(tests):
            chosen_k = picks(k, index)
            r = np.empty((counts.shape[0], target.shape[1]))
            for layer in np.unique(chosen_k):
                rows = chosen_k == layer
                r[rows] = weighted_r(counts[rows][:, t], prediction[layer][t], target[t])
            rs.append(r)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(np.stack(rs), axis=0)

    # neuroids shown different stimuli (sessions) are grouped by the stimuli they saw
    seen = np.isfinite(target)
    patterns: dict[bytes, list[int]] = {}
    for n in range(target.shape[1]):
        patterns.setdefault(np.packbits(seen[:, n]).tobytes(), []).append(n)
    groups = [(np.flatnonzero(seen[:, ns[0]]), np.asarray(ns)) for ns in patterns.values()]
    return _Plan(n_stimuli, groups, per_split_reg, finish)


def choose_per_draw(val: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The layer :func:`brainbench.scoring.measure.choose_layers` picks for each neuroid draw.

    Args:
        val: ``(L, N)`` one split's training-only validation scores.
        index: ``(B, N)`` drawn neuroid positions.
    Returns:
        ``(B,)`` the layer with the highest median (over the drawn neuroids, finite values)
        validation score; a layer without any finite value is never chosen.
    """
    import warnings

    drawn = val[:, index]  # (L, B, N)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        finite = np.isfinite(drawn)
        medians = np.where(finite.any(-1), np.nanmedian(np.where(finite, drawn, np.nan), axis=-1), -np.inf)
    return np.argmax(medians, axis=0)


def _spearman_loop(counts: np.ndarray, test: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman RDM similarity per resample (ranks change with the draw: one comparison each)."""
    from brainbench.metrics.rsa import correlate_pairs, stimulus_pairs

    position = {int(s): p for p, s in enumerate(test)}
    square_x = np.full((test.size, test.size), np.nan)
    i, j = np.triu_indices(test.size, k=1)
    square_x[i, j] = x
    square_y = np.full((y.shape[1], test.size, test.size), np.nan)
    square_y[:, i, j] = y.T
    out = np.empty((counts.shape[0], y.shape[1]))
    for b, row in enumerate(counts):
        drawn = np.repeat([position[int(s)] for s in test], row[test].astype(int))
        first, second = stimulus_pairs(np.sort(drawn))
        out[b] = correlate_pairs(square_x[first, second][None], square_y[:, first, second], "spearman")[0]
    return out


def _resamples(
    plan: _Plan, units: Sequence[str], rng: np.random.Generator, n_boot: int
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(start, counts (b, S), index (b, N))`` per batch of ``n_boot`` resamples of a plan's units.

    The one order of random draws every interval of a run uses (its own cell's and a
    composite's that holds it as a part), so both see the same resamples.
    """
    n_neuroids = sum(g[1].size for g in plan.groups)
    for start in range(0, n_boot, BATCH):
        size = min(BATCH, n_boot - start)
        counts = np.zeros((size, plan.n_stimuli))
        index = np.empty((size, n_neuroids), dtype=np.int64)
        for stimuli, neuroids in plan.groups:
            if "stimulus" in units:
                counts[:, stimuli] = rng.multinomial(stimuli.size, np.full(stimuli.size, 1.0 / stimuli.size), size)
            else:
                counts[:, stimuli] = 1.0
            if "neuroid" in units:
                index[:, neuroids] = neuroids[rng.integers(0, neuroids.size, size=(size, neuroids.size))]
            else:
                index[:, neuroids] = neuroids
        yield start, counts, index


def _identity(plan: _Plan) -> tuple[np.ndarray, np.ndarray]:
    """``(counts (1, S), index (1, N))`` of the stored data themselves (every stimulus and neuroid once)."""
    return np.ones((1, plan.n_stimuli)), np.arange(sum(g[1].size for g in plan.groups))[None]


def _mismatch(point: float, run: dict[str, Any]) -> str:
    """Why ``point`` is not the run's stored score within :data:`RECOMPUTE_TOLERANCE` ("" when it is)."""
    stored = run.get("score")
    if stored is None or not math.isfinite(float(stored)) or abs(point - float(stored)) > RECOMPUTE_TOLERANCE:
        return f"no interval: the stored data recompute {point:.6f}, not the stored score {stored}."
    return ""


def draw(dataset: xr.Dataset, run: dict[str, Any], units: Sequence[str], n_boot: int = N_BOOT) -> Draws:
    """The headline of a run on ``n_boot`` resamples of its stored data (see the module docstring)."""
    key = str(run["content_key"])
    units = tuple(units)
    try:
        plan = _plan(dataset)
    except NoInterval as why:
        return Draws(key, np.empty(0), math.nan, units, f"no interval: {why}.")
    except (KeyError, ValueError, IndexError) as error:  # a dataset of an older scorer lacks an attr or a variable
        return Draws(key, np.empty(0), math.nan, units, f"no interval: the stored run lacks what it needs ({error!r}).")
    counts, identity = _identity(plan)
    point = float(plan.finish(plan.per_split(counts, identity), identity)[0])
    if reason := _mismatch(point, run):
        return Draws(key, np.empty(0), point, units, reason)
    rng = np.random.default_rng(resample_seed(run, units))
    values = np.empty(n_boot)
    for start, counts, index in _resamples(plan, units, rng, n_boot):
        values[start : start + counts.shape[0]] = plan.finish(plan.per_split(counts, index), index)
    return Draws(key, values, point, units)


# ---------------------------------------------------------------------------- composites
#: ``content_key -> (run row, results dataset)`` of a composite's part (raises NoInterval when it cannot).
PartLoader = Callable[[str], "tuple[dict[str, Any], xr.Dataset]"]


def is_composite(run: dict[str, Any]) -> bool:
    """Whether a run row is a composite's (its stored spec's benchmark kind)."""
    return run_kind(run) == "composite"


def part_keys(run: dict[str, Any]) -> dict[str, str]:
    """A composite run's parts, ``benchmark -> content key``, from its stored spec (in order)."""
    try:
        spec = json.loads(run.get("spec") or "{}")
    except ValueError:
        return {}
    parts = spec.get("parts") if isinstance(spec, dict) else None
    return {str(k): str(v) for k, v in parts.items()} if isinstance(parts, dict) else {}


def part_units(part_run: dict[str, Any]) -> tuple[str, ...]:
    """A part's resampling units: those of its own leaderboard cell."""
    return declared_units(part_run["benchmark"], run_kind(part_run))


def composite_units(part_runs: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """The units a composite's interval resamples: every unit any of its parts resamples."""
    used = {unit for run in part_runs for unit in part_units(run)}
    return tuple(u for u in UNITS if u in used)


def draw_composite(dataset: xr.Dataset, run: dict[str, Any], load_part: PartLoader, n_boot: int = N_BOOT) -> Draws:
    """A composite's headline on ``n_boot`` resamples composed from its parts' stored runs.

    Each part (a run of its own, :mod:`brainbench.scoring.composite`) is resampled exactly
    as its own leaderboard cell is -- the same seeded stimulus and neuroid draws
    (:func:`resample_seed` of the part's data identity and units), the same per-draw layer
    choice -- and each draw's per-neuroid values (``headline_r``, or its ceiled value with
    the part's reliability, as the composite's ``aggregate.value`` declares) are summarised
    by the declared aggregate: ``part`` over a part's drawn neuroids, ``group`` over a
    group's parts (an animal's sessions), ``overall`` over the groups. Parts are resampled
    independently of each other (each session has its own stimuli and neurons), so the
    interval covers every part's evaluation noise; the set of parts (sessions, animals)
    is held fixed. Every model on one composite gets the same draws: paired.

    Args:
        dataset: the composite's stored results (``part_content_key``, ``part_group`` and
            the ``aggregate`` attr of :func:`brainbench.scoring.composite.assemble_composite`).
        run: its run row (content key, stored score).
        load_part: a part's run row and stored results by content key, one part at a time
            (only one part's predictions are held at once).
    Returns:
        Draws of ``(n_boot,)`` values; none, with the reason, when a part cannot be
        resampled or the parts do not recompute the composite's stored score.
    """
    key = str(run["content_key"])
    try:
        how = json.loads(dataset.attrs["aggregate"])
        parts = [str(p) for p in dataset["part"].values]
        keys = [str(k) for k in dataset["part_content_key"].values]
        groups = [str(g) for g in dataset["part_group"].values]
    except (KeyError, ValueError) as error:
        return Draws(key, np.empty(0), math.nan, (), f"no interval: the stored composite lacks {error!r}.")
    if not parts or not len(parts) == len(keys) == len(groups):
        return Draws(key, np.empty(0), math.nan, (), "no interval: the stored composite names no parts.")
    ceil = _headline_fn(dataset) if how.get("value") == "ceiled" else None
    per_part: list[np.ndarray] = []  # (1 + n_boot,) per part: the stored data's value, then the draws
    used: set[str] = set()
    for name, part_key in zip(parts, keys, strict=True):
        try:
            part_run, part_ds = load_part(part_key)
            units = part_units(part_run)
            per_part.append(_part_draws(part_ds, part_run, units, ceil, str(how.get("part", "median")), n_boot))
        except NoInterval as why:
            return Draws(key, np.empty(0), math.nan, (), f"no interval: part {name}: {why}.")
        except (KeyError, ValueError, IndexError) as error:
            return Draws(key, np.empty(0), math.nan, (), f"no interval: part {name} lacks what it needs ({error!r}).")
        used.update(units)
        del part_ds  # one part's predictions at a time
    names = list(dict.fromkeys(groups))
    stacked = np.stack(per_part, axis=1)  # (1 + B, part)
    by_group = np.stack(
        [_summarise(stacked[:, [g == name for g in groups]], str(how.get("group", "mean"))) for name in names], axis=1
    )
    overall = _summarise(by_group, str(how.get("overall", "mean")))
    units_used = tuple(u for u in UNITS if u in used)
    point = float(overall[0])
    if reason := _mismatch(point, run):
        return Draws(key, np.empty(0), point, units_used, reason)
    return Draws(key, overall[1:], point, units_used)


def _part_draws(
    dataset: xr.Dataset,
    run: dict[str, Any],
    units: tuple[str, ...],
    ceil: Callable[[np.ndarray, np.ndarray], np.ndarray] | None,
    part_aggregate: str,
    n_boot: int,
) -> np.ndarray:
    """``(1 + n_boot,)`` a composite part's value on its stored data, then on each of its own resamples.

    The value is ``part_aggregate`` over the drawn neuroids of their split-averaged r at
    each split's chosen layer (``ceil=None``) or of its ceiled value where the part's run
    judged the neuroid reliable, NaN elsewhere, as
    :func:`brainbench.scoring.composite.assemble_composite` computes it.
    """
    plan = _plan(dataset)
    ceiling = np.asarray(dataset["ceiling"].values, dtype=np.float64)
    reliable = np.asarray(dataset["reliable"].values, dtype=bool)

    def value(counts: np.ndarray, index: np.ndarray) -> np.ndarray:
        r = plan.per_split(counts, index)
        per_neuroid = r if ceil is None else np.where(reliable[None], ceil(r, ceiling), np.nan)
        return _summarise(np.take_along_axis(per_neuroid, index, axis=1), part_aggregate)

    out = np.empty(1 + n_boot)
    out[:1] = value(*_identity(plan))
    rng = np.random.default_rng(resample_seed(run, units))
    for start, counts, index in _resamples(plan, units, rng, n_boot):
        out[1 + start : 1 + start + counts.shape[0]] = value(counts, index)
    return out


def one_blas_thread() -> Any:
    """A context running BLAS on one thread: the products here are small (``B x P`` by
    ``P x N`` with ``N`` a few sites), where a multi-threaded BLAS on a shared machine
    spends 30x longer synchronising than computing (measured: 18 ms vs 0.6 ms)."""
    import contextlib

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


# ---------------------------------------------------------------------------- cache
_CACHE_SCHEMA = """
CREATE TABLE IF NOT EXISTS interval_draws (
    content_key TEXT NOT NULL REFERENCES runs(content_key) ON DELETE CASCADE,
    results_sha256 TEXT NOT NULL,
    version INTEGER NOT NULL,
    units TEXT NOT NULL,
    n_boot INTEGER NOT NULL,
    point REAL,
    reason TEXT NOT NULL,
    draws BLOB NOT NULL,
    PRIMARY KEY (content_key, version, units, n_boot)
)
"""


def run_kind(run: dict[str, Any]) -> str:
    """``regression`` or ``representation``, from the run's stored spec."""
    try:
        spec = json.loads(run.get("spec") or "{}")
    except ValueError:
        spec = {}
    return str((spec.get("benchmark") or {}).get("kind") or "regression")


def cached_draws(
    store: ResultStore, runs: Sequence[dict[str, Any]], n_boot: int = N_BOOT, progress: bool = False
) -> dict[str, Draws]:
    """Draws of every run (by content key): read from the store's cache, else computed and cached.

    The cache (table ``interval_draws``, created on first use, dropped with its run) is
    keyed on the content key, :data:`VERSION`, the units and ``n_boot``, and checked
    against the results file's sha256 (a composite's: with its parts' results files'), so
    a replaced results file is drawn again. A composite's draws are composed from its
    parts' stored runs (:func:`draw_composite`).
    """
    from brainbench.progress import tqdm
    from brainbench.results.store import StoreError

    out: dict[str, Draws] = {}
    todo = []
    with store.connect() as conn:
        conn.execute(_CACHE_SCHEMA)
    for run in runs:
        try:
            units, identity = _draw_identity(store, run)
        except NoInterval as why:  # not cached: the part may be scored again
            out[run["content_key"]] = Draws(run["content_key"], np.empty(0), math.nan, (), f"no interval: {why}.")
            continue
        with store.connect() as conn:
            row = conn.execute(
                "SELECT * FROM interval_draws WHERE content_key = ? AND version = ? AND units = ? AND n_boot = ?",
                (run["content_key"], VERSION, ",".join(units), n_boot),
            ).fetchone()
        blob = row["draws"] if row is not None else b""
        # a cached row is used only whole: n_boot draws (none with a reason); a damaged one is drawn again
        whole = row is not None and isinstance(blob, bytes) and len(blob) == (0 if row["reason"] else 8 * n_boot)
        if row is not None and whole and row["results_sha256"] == identity:
            values = np.frombuffer(blob, dtype="<f8").copy()
            point = math.nan if row["point"] is None else float(row["point"])
            out[run["content_key"]] = Draws(run["content_key"], values, point, units, row["reason"])
        else:
            todo.append((run, units, identity))

    def load_part(key: str) -> tuple[dict[str, Any], xr.Dataset]:
        part = store.lookup(key)
        if part is None:
            raise NoInterval(f"its run {key[:12]} is not in the store")
        return part, store.load_results(part)

    for run, units, identity in tqdm(
        todo, desc="intervals", unit="run", disable=not progress or len(todo) < 2, leave=False
    ):
        try:
            dataset = store.load_results(run)
            with one_blas_thread():
                if is_composite(run):
                    found = draw_composite(dataset, run, load_part, n_boot)
                else:
                    found = draw(dataset, run, units, n_boot)
        except StoreError as error:
            out[run["content_key"]] = Draws(run["content_key"], np.empty(0), math.nan, units, f"no interval: {error}")
            continue  # not cached: the file may come back
        out[run["content_key"]] = found
        with store.connect() as conn, store.transaction(conn):
            conn.execute(_CACHE_SCHEMA)
            conn.execute(
                "INSERT OR REPLACE INTO interval_draws VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run["content_key"],
                    identity,
                    VERSION,
                    ",".join(units),
                    n_boot,
                    None if not math.isfinite(found.point) else found.point,
                    found.reason,
                    np.asarray(found.values, dtype="<f8").tobytes(),
                ),
            )
    return out


def _draw_identity(store: ResultStore, run: dict[str, Any]) -> tuple[tuple[str, ...], str]:
    """``(units, results identity)`` a run's cached draws are checked against.

    A run's identity is its results file's sha256; a composite's joins its own with its
    parts' (looked up by the content keys its spec names) and each part's resampling units,
    so re-scoring a part, or a part's ``resample`` declared anew, redraws it.

    Raises:
        NoInterval: a part of a composite is not in the store.
    """
    if not is_composite(run):
        return declared_units(run["benchmark"], run_kind(run)), str(run.get("results_sha256") or "")
    from brainbench.results.store import StoreError

    rows = []
    for name, key in part_keys(run).items():
        try:
            part = store.lookup(key)
        except StoreError as error:  # a part's row fails its checksum
            raise NoInterval(f"part {name}: {str(error).rstrip('.')}") from error
        if part is None:
            raise NoInterval(f"part {name}'s run {key[:12]} is not in the store; score the composite again")
        rows.append(part)
    # each part is drawn on its own units, which its manifest may change without a new results file
    joined = "\0".join(
        [str(run.get("results_sha256") or "")]
        + [f"{r.get('results_sha256') or ''}|{','.join(part_units(r))}" for r in rows]
    )
    return composite_units(rows), hashlib.sha256(joined.encode()).hexdigest()


# ---------------------------------------------------------------------------- comparisons
@dataclass(frozen=True)
class Comparison:
    """``first - second`` on one benchmark (or a mean): estimate, interval, p-value.

    ``p`` is two-sided, from the bootstrap standard error of the paired difference
    (``z = d / se``, normal tail); ``p_holm`` is Holm-adjusted over the family compared
    together (all pairs of a benchmark), ``None`` until :func:`holm` sets it.
    """

    first: str
    second: str
    difference: float
    low: float
    high: float
    p: float
    p_holm: float | None = None

    @property
    def significant(self) -> bool:
        p = self.p if self.p_holm is None else self.p_holm
        return p < ALPHA


def compare(first: str, second: str, a: float, b: float, draws_a: np.ndarray, draws_b: np.ndarray) -> Comparison:
    """Paired comparison of two headlines ``a``, ``b`` from their draws on the same resamples."""
    diff = np.asarray(draws_a, dtype=np.float64) - np.asarray(draws_b, dtype=np.float64)
    diff = diff[np.isfinite(diff)]
    estimate = float(a - b)
    if diff.size < 2:
        return Comparison(first, second, estimate, math.nan, math.nan, math.nan)
    low, high = _percentiles(diff, LEVEL)
    se = float(np.std(diff, ddof=1))
    if se <= SAME:
        # no spread: identical headlines up to float32 storage are a tie, any other difference is certain
        p = 1.0 if abs(estimate) <= SAME else 0.0
    else:
        p = math.erfc(abs(estimate) / se / math.sqrt(2))  # two-sided normal tail, 2 * sf(|z|)
    return Comparison(first, second, estimate, low, high, min(1.0, p))


def holm(comparisons: list[Comparison]) -> list[Comparison]:
    """Holm's step-down adjustment of the p-values of a family (Holm 1979, Scand. J. Statist. 6, 65-70).

    Adjusted ``p_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))`` in increasing order of
    ``p``; a NaN p stays NaN and is not counted in ``m``.
    """
    import dataclasses

    finite = sorted((c.p, k) for k, c in enumerate(comparisons) if math.isfinite(c.p))
    m = len(finite)
    adjusted: dict[int, float] = {}
    running = 0.0
    for rank, (p, k) in enumerate(finite):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[k] = running
    return [dataclasses.replace(c, p_holm=adjusted.get(k, math.nan)) for k, c in enumerate(comparisons)]


def ranks(names: list[str], comparisons: list[Comparison], ahead: dict[str, int] | None = None) -> dict[str, int]:
    """Rank = 1 + the number of models significantly better (after Holm) + ``ahead[name]``.

    Models that no model separates share a rank; a tie is shown as ``=k``. ``ahead``
    counts models placed above regardless (e.g. rows with more scored cells).
    """
    better = dict.fromkeys(names, 0)
    for c in comparisons:
        if c.significant and math.isfinite(c.difference):
            loser = c.second if c.difference > 0 else c.first
            better[loser] += 1
    return {n: 1 + better[n] + (ahead or {}).get(n, 0) for n in names}


def rank_labels(rank_of: dict[str, int]) -> dict[str, str]:
    """``"=2"`` where a rank is shared, else ``"2"``."""
    counts: dict[int, int] = {}
    for value in rank_of.values():
        counts[value] = counts.get(value, 0) + 1
    return {n: (f"={r}" if counts[r] > 1 else str(r)) for n, r in rank_of.items()}


def all_pairs(named: dict[str, tuple[float, np.ndarray]]) -> list[Comparison]:
    """Holm-adjusted paired comparisons of every pair of ``name -> (estimate, draws)``."""
    names = list(named)
    found = [
        compare(a, b, named[a][0], named[b][0], named[a][1], named[b][1])
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    ]
    return holm(found)
