"""Stage 6, assemble: the typed per-layer results become the score :class:`xarray.Dataset`."""

from __future__ import annotations

import json
import platform
from typing import Any

import numpy as np
import xarray as xr

from brainbench.metrics.ceiled import Headline, ReliabilityRule, describe_headline, headline_formula
from brainbench.scoring.kinds import Features
from brainbench.scoring.load import LoadedData
from brainbench.scoring.measure import LayerChoice, Measured
from brainbench.scoring.spec import Resolved, RunSpec

#: Layout version of the score dataset.
SCORE_FORMAT = 2


def assemble(
    run: Resolved,
    spec: RunSpec,
    data: LoadedData,
    measured: Measured,
    features: Features,
    timings: dict[str, float],
    threads: int,
) -> xr.Dataset:
    """Stage 6: the score dataset (layout in :mod:`brainbench.scoring`), with its spec and key in attrs."""
    layers = list(spec.layers)
    per_layer = [measured.layers[layer] for layer in layers]
    assembly = data.assembly
    neuroid_coords = {c: ("neuroid", assembly[c].values) for c in assembly.coords if assembly[c].dims == ("neuroid",)}
    coords = {
        "layer": layers,
        "split": np.arange(len(data.splits)),
        "stimulus_id": ("stimulus", assembly.stimulus_id.values),
        **neuroid_coords,
    }
    values: dict[str, Any] = {}
    for name in per_layer[0].pooled:
        values[name] = (("layer", "neuroid"), np.stack([scores.pooled[name] for scores in per_layer]))
    values["r_split"] = (("layer", "split", "neuroid"), np.stack([scores.r_split for scores in per_layer]))
    values["ev_split"] = (("layer", "split", "neuroid"), np.stack([scores.ev_split for scores in per_layer]))
    values["r_split_mean"] = (("layer", "neuroid"), measured.r_split_mean)
    values["ceiled"] = (("layer", "neuroid"), measured.ceiled)
    values["headline_r"] = (("neuroid",), measured.headline_r)
    values["val_score"] = (("layer", "split", "neuroid"), np.stack([scores.cv.val_score for scores in per_layer]))
    values["prediction"] = (
        ("layer", "stimulus", "neuroid"),
        np.stack([scores.cv.predictions for scores in per_layer]).astype(np.float32),
    )
    values["target"] = (("stimulus", "neuroid"), data.target)
    values["ceiling"] = (("neuroid",), data.ceiling)
    values["reliable"] = (("neuroid",), measured.reliable)
    if data.reliability_p is not None:
        values["reliability_p"] = (("neuroid",), data.reliability_p)
    for name in per_layer[0].cv.params:
        values[f"param_{name}"] = (
            ("layer", "split", "neuroid"),
            np.stack([scores.cv.params[name] for scores in per_layer]),
        )
    dataset = xr.Dataset(values, coords=coords)
    dataset.attrs.update(
        run_attrs(run, spec, data, measured.choice, measured.headline, measured.rule, features, timings, threads)
    )
    # the solver actually run (e.g. Adam when L1 is asked for), as the cross-validation reports it
    dataset.attrs["solver"] = str(per_layer[0].cv.info.get("solver", run.solver))
    return dataset


def run_attrs(
    run: Resolved,
    spec: RunSpec,
    data: LoadedData,
    choice: LayerChoice,
    head: Headline,
    rule: ReliabilityRule,
    features: Features,
    timings: dict[str, float],
    threads: int,
) -> dict[str, Any]:
    """The attrs every score dataset carries, whatever its benchmark's kind.

    ``rule``: the reliability rule the headline was computed under.
    """
    layers = list(spec.layers)
    content = spec.content
    scaled = {} if data.response_scale == 1.0 else {"response_scale": data.response_scale}
    floor = rule.floor
    hashes = provenance(run, spec, data, features)
    unit = "neuroid" if run.kind.uses_readout else "site"
    aggregate = run.bench.entry.site_aggregate
    return {
        **scaled,  # target and prediction are in response units times this (extreme magnitudes only)
        "model": spec.model,
        "benchmark": spec.benchmark,
        "benchmark_version": run.bench.entry.version,
        "benchmark_kind": run.kind.name,
        # descriptive, not in the key: the benchmark's declaration, else the assembly's
        "species": run.bench.entry.species or str(data.assembly.attrs.get("species", "")),
        "readout": spec.readout if run.kind.uses_readout else "",
        "solver": run.solver,
        "readout_params": json.dumps(run.readout_params, sort_keys=True, default=str),
        "readout_overrides": json.dumps(content.get("readout_overrides", {}), sort_keys=True, default=str),
        "metrics": json.dumps(
            {m: d["version"] for m, d in content["metrics"].items()}
            | {content["headline"]["id"]: content["headline"]["version"]}
        ),
        "ceiling_formula": json.dumps(
            {run.ceiling.id: run.ceiling.version} if run.ceiling is not None and data.has_repetitions else {}
        ),
        "best_layer": choice.best_layer,
        "layer_choice": json.dumps(
            {"per_split": [layers[k] for k in choice.per_split], "beats_zero": choice.beats_zero}
        ),
        "score": head.value,
        "score_kind": head.kind,
        "score_note": head.reason,
        "reliability_floor": floor,
        "n_reliable": head.n_reliable,
        # what the headline is, from the declaration (brainbench.metrics.ceiled.describe_score reads these)
        "score_aggregate": aggregate,
        "score_unit": unit,
        "n_units": head.n_neuroids,
        "n_needed": head.n_needed,
        "reliability_alpha": rule.alpha if rule.alpha is not None else "",
        "reliability_tested": int(head.tested),
        "score_description": describe_headline(
            head.kind,
            aggregate=aggregate,
            unit=unit,
            n_reliable=head.n_reliable,
            n_units=head.n_neuroids,
            reliability_floor=floor,
            reliability_alpha=rule.alpha,
            tested=head.tested,
            note=head.reason,
            formula=headline_formula(run.headline.python_name),
        ),
        "selection": json.dumps(data.selection, default=str),
        "custom_splits": int(bool(data.split_record.get("custom"))),
        "split_spec": json.dumps(data.split_record, default=str),
        "threads": int(threads),
        "provenance": json.dumps(hashes),
        "protocol": spec.protocol,  # "declared" (a leaderboard cell) or "custom", see brainbench.scoring.protocol
        "protocol_detail": json.dumps(spec.protocol_detail, sort_keys=True),
        "spec": spec.to_json(),
        "content_key": spec.key,
        "format": SCORE_FORMAT,
        "timings": json.dumps(timings),
    }


def provenance(run: Resolved, spec: RunSpec, data: LoadedData, features: Features) -> dict[str, Any]:
    """Versions, device, seed and the hashes of the bytes this score was computed from.

    ``data_sha256`` hashes the assembly values actually scored (after any selection);
    ``stimuli_sha256`` is the stimulus set's hash over the image bytes as read (cached
    extracted images are checked against their record first, see
    :func:`brainbench.data.fetch.extract_zip`); ``activations_sha256`` gives, per layer,
    the checked sha256 of the activation file the readout read.
    """
    import torch

    from brainbench.version import __version__

    return {
        "brainbench": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "xarray": xr.__version__,
        "python": platform.python_version(),
        "device": str(run.device),
        "seed": spec.seed,
        "data_sha256": spec.content["data_sha256"],
        "stimuli_sha256": spec.content["stimuli_sha256"],
        "activations_sha256": {layer: getattr(rows, "sha256", None) for layer, rows in features.items()},
        "weights": run.net.weights_hash,
    }
