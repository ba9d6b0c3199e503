"""Re-run stored runs and report every difference from what the store holds.

For each run: the run is scored again from its model, benchmark, readout, seed and
layers (activations recomputed unless asked otherwise) and compared with

* the content key (the declarations and weights it was computed from have not changed),
* the data, stimuli and weights hashes, and the protocol (declared or custom),
* the stored rows (their ``row_sha256`` checksum) and results file (its sha256 against the row),
* every layer row (median r, EV, ceiled, neuroid count, best layer) and the headline
  score, within an absolute ``tolerance``,
* every per-neuroid value of ``r``, ``ev``, ``ceiled`` and ``ceiling`` in the stored
  netCDF, within the same tolerance.

Package-version changes are reported as notes, not differences.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from brainbench.results.runs import Execution, Request
from brainbench.results.runs import run as run_request
from brainbench.results.store import ResultStore, StoreError, _file_sha256, _finite_median

# What "same seed, same numbers" promises, as measured by benchmarks/reproducibility.py
# (table in benchmarks/README.md; README.md and docs/leaderboard.md state it, tests check it).
# The forward pass (oneDNN convolutions) and the Gram matrix (MKL's GEMM) run in float32
# through kernels chosen for the CPU and the thread count, which sum in another order; the
# float64 solver adds ~1e-15. Measured on one machine by emulating every kernel path it has
# (AVX-512, AVX2 as on an AMD EPYC, SSE4.2) and 1 against 2 threads:
#: a re-run on the same machine with the same thread count: bit for bit
SAME_MACHINE_SPREAD = 0.0
#: largest difference of any stored number (headline, layer median, per-neuroid r, EV,
#: ceiled, ceiling) between CPU kernel paths or thread counts on the real V4 data
CROSS_CPU_SPREAD = 1.6e-6
#: largest per-neuroid difference measured anywhere: one neuroid of the generated Allen
#: files under MKL's SSE4.2 path (every other neuroid there moved < 5e-7), where rounding
#: tipped a per-neuroid choice at a near-tie; layer medians and headlines moved < 5.2e-7
NEAR_TIE_SPREAD = 1.5e-5
#: the default tolerance: the largest measured difference with a margin (about 3x), so that a
#: verify on another CPU does not report kernel rounding as a difference
DEFAULT_TOLERANCE = 5e-5
#: what holds where, printed by ``brainbench leaderboard verify``
REPRODUCIBILITY = (
    "same machine and thread count: bit for bit; "
    f"another CPU, thread count or Dask worker: within {CROSS_CPU_SPREAD:g} measured "
    f"({NEAR_TIE_SPREAD:g} for a neuroid at a near-tie), covered by the default tolerance {DEFAULT_TOLERANCE:g}; "
    "a GPU: not measured (a CPU-to-GPU difference may be kernel rounding larger than the default tolerance)"
)


@dataclass
class Difference:
    content_key: str
    what: str
    stored: Any
    recomputed: Any

    def __str__(self) -> str:
        return f"{self.content_key[:12]} {self.what}: stored {self.stored!r}, re-run {self.recomputed!r}"


@dataclass
class RunCheck:
    run: dict[str, Any]
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def _close(a: Any, b: Any, tolerance: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        if math.isnan(float(a)) or math.isnan(float(b)):
            return math.isnan(float(a)) and math.isnan(float(b))
        return abs(float(a) - float(b)) <= tolerance
    return a == b


def verify_run(
    store: ResultStore,
    run: dict[str, Any],
    tolerance: float = DEFAULT_TOLERANCE,
    device: str = "auto",
    use_cache: bool = False,
) -> RunCheck:
    """Re-score one stored run and compare (see the module docstring)."""

    check = RunCheck(run)
    key = run["content_key"]
    diff = check.differences

    def differ(what: str, stored: Any, recomputed: Any) -> None:
        diff.append(Difference(key, what, stored, recomputed))

    if store.row_problem(run) is not None:  # the rows below are compared too: they show what changed
        differ("row checksum", str(run.get("row_sha256") or "")[:16], "does not match the stored row")
    path = store.root / run["results_file"]
    stored_ds = None
    if not path.is_file():
        differ("results file", str(path), "missing")
    else:
        actual = _file_sha256(path) if run.get("results_sha256") else None
        if actual is not None and actual != run["results_sha256"]:
            differ("results file sha256", run["results_sha256"][:16], actual[:16])
        else:  # a changed file is reported, not read (load_results refuses it)
            stored_ds = store.load_results(run)
    rows = store.rows(key, check=False)
    stored_spec = json.loads(run["spec"])
    if stored_spec.get("splits") not in (None, "declared") and "sha256" in (stored_spec.get("splits") or {}):
        check.notes.append("run with the caller's own splits: only their hash is stored, so it cannot be re-run")
        return check
    outcome = run_request(  # no store: every part of a composite re-scored too, none read from the store
        Request(
            run["model"],
            run["benchmark"],
            layers=tuple(r["layer"] for r in rows),
            # a composite's parts keep their own readouts; a representation run has none ("")
            readout=None if "parts" in stored_spec or not run["readout"] else run["readout"],
            readout_params=stored_spec.get("readout_overrides") or None,
            seed=run["seed"],
            tokens=(stored_spec.get("tokens") or {}).get("rule"),  # a run scored with --tokens: the same rule
        ),
        Execution(device=device, progress=False, use_cache=use_cache),
    )
    if outcome.key != key:
        fresh = json.loads(outcome.dataset.attrs["spec"])
        changed = sorted(k for k in set(fresh) | set(stored_spec) if fresh.get(k) != stored_spec.get(k))
        differ("content key (changed: " + ", ".join(changed) + ")", key[:16], outcome.key[:16])
    return _compare(check, run, rows, stored_ds, outcome.dataset, tolerance)


def _compare(
    check: RunCheck,
    run: dict[str, Any],
    rows: list[dict[str, Any]],
    stored_ds: Any,
    dataset: Any,
    tolerance: float,
) -> RunCheck:
    """Differences between a stored run (row, layer rows, results file) and its re-run dataset."""
    import numpy as np

    key = run["content_key"]

    def differ(what: str, stored: Any, recomputed: Any) -> None:
        check.differences.append(Difference(key, what, stored, recomputed))

    attrs = dataset.attrs
    prov = json.loads(attrs["provenance"])
    for column, name in (
        ("data_sha256", "data_sha256"),
        ("stimuli_sha256", "stimuli_sha256"),
        ("weights_sha256", "weights"),
    ):
        if run[column] != prov.get(name):
            differ(column, run[column], prov.get(name))
    for column, name in (
        ("torch_version", "torch"),
        ("numpy_version", "numpy"),
        ("xarray_version", "xarray"),
        ("brainbench_version", "brainbench"),
        ("device", "device"),
    ):
        if str(run[column]) != str(prov.get(name)):
            check.notes.append(f"{column}: stored {run[column]}, re-run {prov.get(name)}")
    if _device_kind(run["device"]) != _device_kind(prov.get("device")):
        check.notes.append(
            f"stored on {run['device']}, re-run on {prov.get('device')}: the tolerance {tolerance:g} is measured "
            "between CPUs; differences between a CPU and a GPU were not measured, so one found here may be "
            "kernel rounding rather than a fault"
        )
    for column in ("benchmark_version", "solver", "readout_params", "metrics", "ceiling_formula", "best_layer"):
        stored, new = run[column], attrs.get(column)
        if column in ("readout_params", "metrics", "ceiling_formula"):
            stored, new = json.loads(stored), json.loads(new or "{}")
        if str(stored) != str(new):
            differ(column, stored, new)
    if run.get("protocol") in ("declared", "custom") and attrs.get("protocol") != run["protocol"]:
        differ("protocol", run["protocol"], attrs.get("protocol"))  # e.g. the model's declared layers changed
    if not _close(run["score"], _num(attrs.get("score")), tolerance):
        differ("score", run["score"], _num(attrs.get("score")))
    for row in rows:
        layer = row["layer"]
        sel = dataset.sel(layer=layer)
        fresh = {
            "median_r": _finite_median(sel["r"].values),
            "median_ev": _finite_median(sel["ev"].values if "ev" in sel else []),
            "median_ceiled": _finite_median(sel["ceiled"].values),
            "n_neuroids": int(dataset.sizes["neuroid"]),
            "is_best_layer": int(layer == attrs["best_layer"]),
        }
        for column, value in fresh.items():
            if not _close(row[column], value, tolerance):
                differ(f"layer {layer} {column} (row {row['row_id']})", row[column], value)
    if stored_ds is not None:
        for name in ("r", "ev", "ceiled", "ceiling"):
            if name not in stored_ds or name not in dataset:
                continue
            old, new = np.asarray(stored_ds[name].values, float), np.asarray(dataset[name].values, float)
            if old.shape != new.shape:
                differ(f"per-neuroid {name} shape", old.shape, new.shape)
                continue
            same_nan = np.isnan(old) == np.isnan(new)
            gap = np.abs(np.where(np.isnan(old) | np.isnan(new), 0.0, old - new))
            if not same_nan.all() or gap.max(initial=0.0) > tolerance:
                differ(
                    f"per-neuroid {name} (max |diff| {gap.max(initial=0.0):.3g}, "
                    f"{int((gap > tolerance).sum() + (~same_nan).sum())} values)",
                    "file",
                    "re-run",
                )
    return check


def _device_kind(device: Any) -> str:
    """``"cpu"`` or ``"cuda"`` of a stored device name such as ``cuda:0``."""
    return str(device).split(":")[0]


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def verify(
    store: ResultStore,
    ref: str | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    device: str = "auto",
    use_cache: bool = False,
    progress: bool = True,
) -> list[RunCheck]:
    """Verify one run (a row id or content key) or, with ``ref=None``, every stored run."""
    from brainbench.progress import tqdm

    runs = [store.find_run(ref, check=False)] if ref is not None else store.runs(check=False)
    if not runs:
        raise StoreError(f"results store {store.path} holds no runs; run `brainbench leaderboard run` first.")
    checks = []
    for run in tqdm(runs, desc="verify", unit="run", disable=not progress):
        checks.append(verify_run(store, run, tolerance, device, use_cache))
    return checks
