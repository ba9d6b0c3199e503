"""Stages 4-6 of representation benchmarks: model RDMs against neural RDMs, no readout.

Sites and their RDMs (:func:`neural_sites`): an RDM assembly gives them directly (one
site per matrix, ceiled by the reliability its declared ceiling reads, every site
coordinate kept); an assembly of responses gives one site per ``region`` value (or all
its neuroids as one site), whose RDM is built from trial means and ceiled by the
metric's split-half RDM reliability. From there one code path takes the RDMs as its
input. Per layer and site, the benchmark's representation metric compares the layer's
RDM with the site's RDM on all stimuli (``r``) and, per split,
on the split's test stimuli (``r_split``) and training stimuli (``val_score``, which
chooses the layer). The headline is nested exactly like a regression benchmark's: each
split's test pairs are scored at the layer chosen on its training pairs, and ceiled by
each site's RDM reliability (:mod:`brainbench.metrics.ceiled`), summarised over sites by
the benchmark's ``site_aggregate`` (median or mean). The score dataset uses the regression
layout with one "neuroid" per site (coordinate ``site``), so the store, the leaderboard
and every summary read it unchanged; it has no predictions, and its attr
``analysis_metric = "r"`` tells the analyses which variable is its per-layer score.

What is compared is the metric's ``input`` (:func:`layer_matrix`): RDMs (``1 - Pearson r``
between a layer's stimulus patterns, or the matrix a model that supplies an RDM gives,
:mod:`brainbench.models.rdm`), or for a metric of ``input = "gram"`` (linear CKA,
:mod:`brainbench.metrics.cka`) the Gram matrices of the layer's activations and of each
site's responses. A ceiling that returns detail beside the ceiling (a noise ceiling's
two bounds) adds it as site coordinates ``ceiling_<name>``, and attr ``noise_ceiling``
(JSON) summarises it.

For a confidence interval over stimuli (:mod:`brainbench.analyses.layer_correspondence`
resamples the stimuli and compares the RDMs again) the dataset stores the RDMs it
compared, as float32 with coordinates ``stimulus_id`` and ``stimulus_b_id``:
``model_rdm (layer, stimulus, stimulus_b)`` and ``neural_rdm (neuroid, stimulus,
stimulus_b)``, with attr ``rdm_method`` (the comparison, ``pearson`` or ``spearman``).
That is ``4 S^2 (L + N)`` bytes: about 0.7 MB for the 118 scenes of an ``allen-rsa-*``
benchmark at 8 layers and 4 sites, about 13 MB at 640 stimuli. A representation metric
whose comparison is not one of :data:`~brainbench.metrics.rsa.METHODS` stores no RDMs,
since the resampled comparison could not be the one it scored.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from brainbench.errors import BrainbenchError
from brainbench.metrics.ceiled import UNCORRECTED
from brainbench.metrics.cka import gram_matrix
from brainbench.metrics.rsa import METHODS, correlation_rdm, pattern_rdm
from brainbench.scoring.assemble import run_attrs
from brainbench.scoring.load import LoadedData
from brainbench.scoring.measure import nested_headline
from brainbench.scoring.spec import Resolved, RunSpec

if TYPE_CHECKING:  # pragma: no cover
    from brainbench.models.rdm import SuppliedRDM
    from brainbench.readouts.features import FeatureSource
    from brainbench.scoring.kinds import Clock, Features


def sites_of(assembly: xr.DataArray) -> dict[str, np.ndarray]:
    """Site name -> ``(neuroid,)`` bool mask: one site per ``region``, else one site ``all``."""
    if "region" in assembly.coords and assembly["region"].dims == ("neuroid",):
        regions = np.asarray([str(v) for v in assembly["region"].values])
        return {name: regions == name for name in dict.fromkeys(regions)}
    return {"all": np.ones(assembly.sizes["neuroid"], dtype=bool)}


def layer_matrix(metric: Any, features: FeatureSource | SuppliedRDM) -> np.ndarray:
    """The ``(stimulus, stimulus)`` matrix of one layer that ``metric`` compares.

    A model that supplies its RDM gives it directly; otherwise the layer's correlation
    RDM, or its Gram matrix for a metric of ``input = "gram"``.
    """
    from brainbench.models.rdm import SuppliedRDM

    if isinstance(features, SuppliedRDM):
        return features.matrix
    return gram_matrix(features) if getattr(metric, "input", "rdm") == "gram" else correlation_rdm(features)


def check_not_data(model_id: str, model_rdm: np.ndarray, neural: np.ndarray, names: list[str]) -> None:
    """Refuse a supplied model RDM whose upper triangle is a site's own (the data scored as a model).

    Raises:
        BrainbenchError: naming the site, before any score is computed.
    """
    rows, cols = np.triu_indices(model_rdm.shape[0], k=1)
    upper = model_rdm[rows, cols]
    for name, rdm in zip(names, neural, strict=True):
        if np.allclose(upper, rdm[rows, cols], rtol=1e-6, atol=1e-9):
            raise BrainbenchError(
                f"model {model_id!r} supplies an RDM identical to site {name!r}'s: it is the benchmark's data, "
                "not a model of it, so it is not scored against it."
            )


def neural_sites(
    metric: Any, data: LoadedData, seed: int
) -> tuple[list[str], np.ndarray, np.ndarray, dict[str, tuple[str, np.ndarray]]]:
    """Each site's name, matrix, ceiling and coordinates, from an RDM assembly or from responses.

    Returns:
        ``(names, matrices (site, stimulus, stimulus), ceiling (site,), coords)`` with
        ``coords`` the score dataset's per-site coordinates (dim ``neuroid``); the
        matrices are RDMs, or Gram matrices of responses for a metric of ``input = "gram"``.
    """
    if data.rdms is not None:
        assembly = data.assembly
        names = [str(v) for v in assembly["site_id"].values]
        coords = {
            str(c): ("neuroid", assembly[c].values)
            for c in assembly.coords
            if assembly[c].dims == ("site",) and c not in ("site_id", "ceiling")
        }
        coords.setdefault("region", ("neuroid", np.asarray(names, dtype=object)))
        coords.update({name: ("neuroid", values) for name, values in data.ceiling_coords.items()})
        return names, data.rdms, np.asarray(data.ceiling, dtype=np.float64), coords
    if data.target is None:
        raise BrainbenchError("a representation benchmark needs either site RDMs or responses.")
    sites = sites_of(data.assembly)
    names = list(sites)
    build = gram_matrix if getattr(metric, "input", "rdm") == "gram" else pattern_rdm
    rdms = np.stack([build(data.target[:, mask]) for mask in sites.values()])
    trials = data.assembly.transpose("repetition", "stimulus", "neuroid").values if data.has_repetitions else None
    ceiling = np.asarray(
        [metric.reliability(trials[:, :, mask], seed=seed) if trials is not None else np.nan for mask in sites.values()]
    )
    counts = np.asarray([int(mask.sum()) for mask in sites.values()])
    return (
        names,
        rdms,
        ceiling,
        {"region": ("neuroid", np.asarray(names, dtype=object)), "n_units": ("neuroid", counts)},
    )


def evaluate(
    run: Resolved,
    data: LoadedData,
    spec: RunSpec,
    features: Features,
    progress: bool,
    clock: Clock,
    threads: int,
) -> xr.Dataset:
    """Stages 4-6 of a representation benchmark: every layer's RDM against every site's RDM.

    Returns:
        The score dataset, one "neuroid" per site (layout in the module docstring).
    """
    from brainbench.progress import tqdm

    (metric,) = run.metrics.values()
    names, neural, ceiling, site_coords = neural_sites(metric, data, spec.seed)
    layers = list(spec.layers)
    n_layers, n_splits, n_sites = len(layers), len(data.splits), len(names)
    r = np.full((n_layers, n_sites), np.nan)
    r_split = np.full((n_layers, n_splits, n_sites), np.nan)
    val = np.full((n_layers, n_splits, n_sites), np.nan)
    n_stimuli = neural.shape[-1]
    model_rdms = np.empty((n_layers, n_stimuli, n_stimuli), dtype=np.float32)
    for i, layer in enumerate(
        tqdm(layers, desc=f"{spec.benchmark} RDMs", unit="layer", disable=not progress, leave=False)
    ):
        model_rdm = layer_matrix(metric, features[layer])
        if getattr(run.net, "supplies", "activations") == "rdm":
            check_not_data(spec.model, model_rdm, neural, names)
        model_rdms[i] = model_rdm
        for j in range(n_sites):
            r[i, j] = metric.compare(model_rdm, neural[j])
            for k, split in enumerate(data.splits):
                r_split[i, k, j] = metric.compare(model_rdm, neural[j], split.test)
                val[i, k, j] = metric.compare(model_rdm, neural[j], split.train)
    clock.lap("readout_s")
    # no p-values: a site's reliability (given with its RDM, or the split-half reliability of
    # its RDM) has no per-site null here, so the floor alone decides and the count rule is off
    nested = nested_headline(
        run, val, r_split, layers, ceiling, has_repetitions=data.has_repetitions, p_value=None, unit="site"
    )
    choice, chosen, head = nested.choice, nested.chosen_r, nested.headline
    with np.errstate(invalid="ignore"):
        r_mean = np.nanmean(r_split, axis=1)
    if data.rdms is not None and run.ceiling is None and head.kind == UNCORRECTED:
        head = replace(
            head,
            reason=f"RDMs without a ceiling (a single RDM has no trials or subjects to split), so the headline is "
            f"the uncorrected {getattr(metric, 'method', 'RDM')} similarity",
        )
    clock.lap("metrics_s")
    method = getattr(metric, "method", None)
    stimulus_ids = np.asarray(data.assembly["stimulus_id"].values)
    rdm_vars: dict[str, Any] = {}
    rdm_coords: dict[str, Any] = {}
    if method in METHODS:
        rdm_vars = {
            "model_rdm": (("layer", "stimulus", "stimulus_b"), model_rdms),
            "neural_rdm": (("neuroid", "stimulus", "stimulus_b"), np.asarray(neural, dtype=np.float32)),
        }
        rdm_coords = {"stimulus_id": ("stimulus", stimulus_ids), "stimulus_b_id": ("stimulus_b", stimulus_ids.copy())}
    dataset = xr.Dataset(
        {
            "r": (("layer", "neuroid"), r),
            "r_split": (("layer", "split", "neuroid"), r_split),
            "r_split_mean": (("layer", "neuroid"), r_mean),
            "ceiled": (("layer", "neuroid"), nested.ceiled_fn(r_mean, ceiling)),
            "headline_r": (("neuroid",), chosen),
            "headline_ceiled": (("neuroid",), nested.ceiled_fn(chosen, ceiling)),
            "val_score": (("layer", "split", "neuroid"), val),
            "ceiling": (("neuroid",), ceiling),
            "reliable": (("neuroid",), nested.reliable),
            **rdm_vars,
        },
        coords={
            "layer": layers,
            "split": np.arange(n_splits),
            "neuroid_id": ("neuroid", names),
            "site": ("neuroid", np.ones(n_sites, dtype=bool)),
            **site_coords,
            **rdm_coords,
        },
    )
    dataset.attrs.update(run_attrs(run, spec, data, choice, head, nested.rule, features, clock.finish(), threads))
    dataset.attrs["representation_metric"] = f"{type(metric).__name__}({getattr(metric, 'method', '')})"
    dataset.attrs["site_aggregate"] = run.bench.entry.site_aggregate
    dataset.attrs["analysis_metric"] = "r"
    if "ceiling_lower" in data.ceiling_coords and "ceiling_upper" in data.ceiling_coords:
        dataset.attrs["noise_ceiling"] = json.dumps(noise_ceiling_summary(run, data))
    if method in METHODS:
        dataset.attrs["rdm_method"] = method
    return dataset


def noise_ceiling_summary(run: Resolved, data: LoadedData) -> dict[str, Any]:
    """The two bounds of a noise ceiling, which one ceils the headline, and its declaration."""
    ceiling = run.ceiling
    params = dict(ceiling.params) if ceiling is not None else {}
    return {
        "lower": float(np.nanmean(data.ceiling_coords["ceiling_lower"])),
        "upper": float(np.nanmean(data.ceiling_coords["ceiling_upper"])),
        "bound": params.get("bound", ""),
        "method": params.get("method", ""),
        "n_subjects": int(np.asarray(data.ceiling_coords["ceiling_lower"]).size),
        "ceiling": ceiling.id if ceiling is not None else "",
        "citation": ceiling.citation if ceiling is not None else "",
    }
