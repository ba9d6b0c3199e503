"""Stage 2, load: the benchmark's assembly and stimuli, its ceiling, the target and the splits.

An assembly of responses gives the target (trial means) and, with trials, the declared
ceiling and, where the headline declares a test against chance (``reliability_alpha``),
each neuroid's stimulus-permutation p-value. An RDM assembly
(:func:`brainbench.data.assembly.make_rdm_assembly`) gives the site RDMs themselves and
the ceiling its declared ceiling reads from it (e.g. the ``ceiling`` coordinate); there is
then no target, and only representation benchmarks can score it.

Responses whose largest finite magnitude lies outside ``[2^-100, 2^100]`` (about 1e-30
to 1e30) are first multiplied by the power of two that brings it into ``[0.5, 1)``
(:func:`response_scale`): every score is scale-invariant, and the readouts' sums of
squares could otherwise overflow (responses of 1e200) or underflow (1e-200). The
factor is exact in floating point and recorded as ``response_scale``; responses in the
usual range are left untouched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import xarray as xr

from brainbench.data.assembly import is_rdm_assembly, trial_mean, unit_dim
from brainbench.data.stimuli import StimulusSet
from brainbench.errors import BrainbenchError
from brainbench.metrics.ceiled import ReliabilityRule
from brainbench.metrics.ceiling import stimulus_permutation_p
from brainbench.registry import load_object
from brainbench.scoring.spec import Resolved, RunSpec

#: Largest finite magnitudes left unscaled (see the module docstring).
SAFE_MAGNITUDE = (2.0**-100, 2.0**100)


def response_scale(values: np.ndarray) -> float:
    """The power of two the responses are multiplied by before scoring: 1 in the usual range.

    Outside :data:`SAFE_MAGNITUDE` it brings the largest finite magnitude into ``[0.5, 1)``.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = np.abs(values[np.isfinite(values)])
    top = float(finite.max()) if finite.size else 0.0
    if top == 0.0 or SAFE_MAGNITUDE[0] <= top <= SAFE_MAGNITUDE[1]:
        return 1.0
    return float(np.ldexp(1.0, -int(np.frexp(top)[1])))


@dataclass(frozen=True)
class LoadedData:
    """What the fit and measure stages score against.

    Attributes:
        assembly: the assembly after selection and the reliability threshold.
        stimuli: the benchmark's images, in the assembly's stimulus order.
        target: ``(stimulus, neuroid)`` float64 trial-averaged responses; ``None`` when the
            assembly provides RDMs instead of responses.
        ceiling: ``(neuroid,)`` the ceiling (NaN without repetitions or a ceiling); for an
            RDM assembly ``(site,)``, each site RDM's reliability.
        has_repetitions: whether a ceiling could be computed (from trials, or given with
            the RDMs).
        splits: the train/test splits of the stimuli.
        split_record: JSON-able record of the splits (declaration, or hash of the caller's).
        selection: JSON-able record of the neuroid selection (counts, threshold, filters).
        rdms: ``(site, stimulus, stimulus)`` float64 dissimilarities when the assembly
            provides them (an RDM assembly), else None.
        response_scale: the power of two the responses (assembly, target) were
            multiplied by (:func:`response_scale`; 1 in the usual range).
        ceiling_coords: per-site detail of the ceiling that a ceiling reader returned beside
            it (e.g. ``ceiling_lower`` and ``ceiling_upper``, the two bounds of a noise
            ceiling), kept as site coordinates of the score.
        data_sha256: sha256 (hex) of the assembly actually scored, after selection and
            scaling (:func:`assembly_hash`).
        stimuli_sha256: the stimulus set's sha256 over its ids and image bytes
            (:attr:`brainbench.data.stimuli.StimulusSet.content_hash`).
        spec: the run's spec completed with those hashes and the record of the caller's own
            splits (:meth:`brainbench.scoring.spec.RunSpec.with_data`): its key is final.
        reliability_p: ``(neuroid,)`` stimulus-permutation p-values of the trials
            (:func:`brainbench.metrics.ceiling.stimulus_permutation_p`) when the headline
            declares a test and the data have trials, else None.
    """

    assembly: xr.DataArray
    stimuli: StimulusSet
    target: np.ndarray | None
    ceiling: np.ndarray
    has_repetitions: bool
    splits: list
    split_record: dict[str, Any]
    selection: dict[str, Any]
    data_sha256: str
    stimuli_sha256: str
    spec: RunSpec
    rdms: np.ndarray | None = None
    response_scale: float = 1.0
    ceiling_coords: dict[str, np.ndarray] = field(default_factory=dict)
    reliability_p: np.ndarray | None = None

    def spec_of(self, run_spec: RunSpec) -> RunSpec:
        """``run_spec`` completed with this data's hashes and the record of the caller's own splits.

        :attr:`spec` is this for the run that loaded the data; a trajectory's checkpoints,
        scored over one load, each complete their own spec with it.
        """
        own = self.split_record if self.split_record.get("custom") else None
        grouped = self.split_record.get("grouped")  # identical images kept together: other splits, another key
        return run_spec.with_data(self.data_sha256, self.stimuli_sha256, splits=own, grouped=grouped)


def assembly_hash(assembly: xr.DataArray) -> str:
    """sha256 over the assembly's values and ids (the scored data's fingerprint)."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(assembly.values, dtype=np.float64).tobytes())
    for coord in ("stimulus_id", "site_id" if is_rdm_assembly(assembly) else "neuroid_id"):
        digest.update("\0".join(map(str, assembly[coord].values)).encode())
    return digest.hexdigest()


def data_hashes(data: LoadedData) -> tuple[str, str]:
    """``(assembly sha256, stimuli sha256)`` of the data actually scored, as :func:`load` hashed them."""
    return data.data_sha256, data.stimuli_sha256


def load(run: Resolved, progress: bool = True) -> LoadedData:
    """Stage 2: load the benchmark's data, compute its ceiling, select neuroids, make the splits.

    In that order: the ceiling (and the headline's reliability test) decides which neuroids
    are kept, then the splits of the stimuli are made, and the data's hashes complete the
    run's spec (:attr:`LoadedData.spec`, :meth:`brainbench.scoring.spec.RunSpec.with_data`).
    """
    from brainbench.data.splits import run_splits

    bench = run.bench
    loaded = bench.load(progress=progress)
    if is_rdm_assembly(loaded.assembly):
        part = _rdm_part(run, loaded.assembly, loaded.stimuli)
    else:
        part = _response_part(run, loaded.assembly, loaded.stimuli)
    own = run.splits if run.splits is not None else bench.splits
    # identical images (a repeated block of a session) stay on one side of every declared split
    groups = None if own is not None else loaded.stimuli.identical_groups(part.assembly["stimulus_id"].values)
    splits, split_record = run_splits(
        bench.entry.split,
        part.assembly.sizes["stimulus"],
        own=own,
        stratify_values=part.stratify,
        seed=run.spec.seed,
        groups=groups,
    )
    data = LoadedData(
        assembly=part.assembly,
        stimuli=loaded.stimuli,
        target=part.target,
        ceiling=part.ceiling,
        has_repetitions=part.has_repetitions,
        splits=splits,
        split_record=split_record,
        selection=part.selection,
        data_sha256=part.data_sha256,
        stimuli_sha256=loaded.stimuli.content_hash,
        spec=run.spec,  # completed below, from the fields it is completed with
        rdms=part.rdms,
        response_scale=part.response_scale,
        ceiling_coords=part.ceiling_coords,
        reliability_p=part.reliability_p,
    )
    return replace(data, spec=data.spec_of(run.spec))


@dataclass(frozen=True)
class _Part:
    """What an assembly of responses, or of RDMs, gives :class:`LoadedData` before the splits.

    Attributes as in :class:`LoadedData`; ``stratify``: ``(stimulus,)`` the labels the
    declared split stratifies by, or None.
    """

    assembly: xr.DataArray
    target: np.ndarray | None
    ceiling: np.ndarray
    has_repetitions: bool
    selection: dict[str, Any]
    data_sha256: str
    stratify: Any = None
    rdms: np.ndarray | None = None
    response_scale: float = 1.0
    ceiling_coords: dict[str, np.ndarray] = field(default_factory=dict)
    reliability_p: np.ndarray | None = None


def _response_part(run: Resolved, assembly: xr.DataArray, stimuli: StimulusSet) -> _Part:
    """Stage 2 for an assembly of responses: scale, ceiling and reliability test, selection, target."""
    bench = run.bench
    stratify_by = bench.entry.split.stratify
    stratify = None
    if stratify_by:
        if stratify_by in assembly.coords and assembly[stratify_by].dims == ("stimulus",):
            stratify = assembly[stratify_by].values
        elif stratify_by in stimuli.metadata:
            stratify = stimuli.metadata[stratify_by]
    scale = response_scale(assembly.values)
    if scale != 1.0:  # exact: every score is scale-invariant, and nothing overflows now
        assembly = assembly.copy(data=assembly.values * scale)
    has_trials = "repetition" in assembly.dims
    n_total = assembly.sizes["neuroid"]
    threshold = bench.entry.reliability_threshold
    if threshold is not None and (run.ceiling is None or not has_trials):
        raise BrainbenchError(f"benchmark {bench.identifier!r} sets a reliability threshold but has no trial data.")
    p_value = None
    if run.ceiling is not None and has_trials:
        trials = assembly.transpose("repetition", "stimulus", "neuroid").values
        ceiling = load_object(run.ceiling.python_name)(trials, seed=run.spec.seed, **run.ceiling.params)
        rule = ReliabilityRule.from_params(run.headline.params)
        if rule.alpha is not None and run.kind.uses_readout:  # representation sites: see metrics.ceiled
            p_value = stimulus_permutation_p(trials, rule.n_permutations, seed=run.spec.seed)
    else:
        ceiling = np.full(n_total, np.nan)
    if threshold is not None:
        keep = np.flatnonzero(ceiling > threshold)
        if keep.size == 0:
            raise BrainbenchError(f"no neuroid of {bench.identifier!r} has split-half reliability above {threshold}.")
        assembly = assembly.isel(neuroid=keep)
        ceiling = ceiling[keep]
        p_value = p_value[keep] if p_value is not None else None
    target = np.asarray(trial_mean(assembly).transpose("stimulus", "neuroid").values, dtype=np.float64)
    return _Part(
        assembly=assembly,
        target=target,
        ceiling=np.asarray(ceiling, dtype=np.float64),
        has_repetitions=run.ceiling is not None and has_trials,
        selection={
            "n_total": n_total,
            "n_kept": int(target.shape[1]),
            "reliability_threshold": threshold,
            "filters": bench.entry.selection,
        },
        data_sha256=assembly_hash(assembly),
        stratify=stratify,
        response_scale=scale,
        reliability_p=p_value,
    )


def _rdm_part(run: Resolved, assembly: xr.DataArray, stimuli: StimulusSet) -> _Part:
    """Stage 2 for an RDM assembly: the site RDMs and their declared ceiling."""
    bench = run.bench
    if run.kind.uses_readout:
        raise BrainbenchError(
            f"benchmark {bench.identifier!r} fits a readout, but its assembly provides RDMs, not "
            'responses; declare it with kind = "representation".'
        )
    if bench.entry.reliability_threshold is not None:
        raise BrainbenchError(
            f"benchmark {bench.identifier!r} sets a reliability threshold, which only applies to "
            "trial data; remove it (an RDM's reliability ceils its score instead)."
        )
    metric: Any = next(iter(run.metrics.values()), None)
    if getattr(metric, "input", "rdm") != "rdm":
        raise BrainbenchError(
            f"benchmark {bench.identifier!r} compares {metric.input} matrices of activations and responses "
            f"({getattr(metric, 'method', type(metric).__name__)}), but its assembly provides RDMs only; "
            "use an RDM comparison (e.g. rdm-spearman) on it."
        )
    stratify_by = bench.entry.split.stratify
    stratify = stimuli.metadata[stratify_by] if stratify_by and stratify_by in stimuli.metadata else None
    n_sites = assembly.sizes[unit_dim(assembly)]
    ceiling = np.full(n_sites, np.nan)
    ceiling_coords: dict[str, np.ndarray] = {}
    if run.ceiling is not None:
        reader = load_object(run.ceiling.python_name)
        if getattr(reader, "input", "trials") != "rdm-assembly":
            raise BrainbenchError(
                f"benchmark {bench.identifier!r} names ceiling {run.ceiling.id!r}, which needs "
                "trials, but its assembly provides RDMs; name a ceiling that reads RDM "
                "assemblies (e.g. rdm-given-reliability)."
            )
        ceiling_method = run.ceiling.params.get("method")
        if ceiling_method is not None and getattr(metric, "method", ceiling_method) != ceiling_method:
            raise BrainbenchError(
                f"benchmark {bench.identifier!r} compares RDMs by {metric.method} but its ceiling "
                f"{run.ceiling.id!r} by {ceiling_method}; declare a ceiling computed with the same comparison."
            )
        result = reader(assembly, **run.ceiling.params)
        if isinstance(result, Mapping):  # the ceiling and its detail (a noise ceiling's two bounds)
            ceiling = np.asarray(result["ceiling"], dtype=np.float64)
            ceiling_coords = {
                f"ceiling_{k}": np.asarray(v, dtype=np.float64) for k, v in result.items() if k != "ceiling"
            }
        else:
            ceiling = np.asarray(result, dtype=np.float64)
    return _Part(
        assembly=assembly,
        target=None,
        ceiling=ceiling,
        has_repetitions=run.ceiling is not None and bool(np.isfinite(ceiling).any()),
        selection={
            "n_total": n_sites,
            "n_kept": n_sites,
            "reliability_threshold": None,
            "filters": bench.entry.selection,
            "unit": "site",
        },
        data_sha256=assembly_hash(assembly),
        stratify=stratify,
        rdms=np.asarray(assembly.transpose("site", "stimulus", "stimulus_b").values, dtype=np.float64),
        ceiling_coords=ceiling_coords,
    )
