"""The scorer: any model x any benchmark, every layer, on CPU or CUDA.

:func:`brainbench.score` runs six named stages, each in its own module, each touching only
what the previous one handed it:

1. **resolve** (:mod:`~brainbench.scoring.spec`): ids -> one frozen run spec and the live
   model, benchmark and readout factory;
2. **load** (:mod:`~brainbench.scoring.load`): assembly, stimuli, ceiling, selection,
   target and splits; the spec is completed with the data's hashes, giving the
   results store's key;
3. **features** (:func:`brainbench.scoring.activations.get_activations`): one streamed, cached,
   hash-checked feature source per layer;
4. **fit** (:mod:`~brainbench.scoring.fit`): the readout cross-validated on each layer
   (it chooses its own input form), then the leakage guard;
5. **measure** (:mod:`~brainbench.scoring.measure`): the declared metrics, per-split r
   and R^2, the nested layer choice and the headline;
6. **assemble** (:mod:`~brainbench.scoring.assemble`): the typed per-layer results
   become the dataset below, with the spec and its key in attrs.

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
``reliability_p``   (neuroid)                     stimulus-permutation p-value (where tested)
``reliable``        (neuroid)                     ceiling >= the headline's reliability floor
                                                  and, where tested, p <= its reliability_alpha
``param_<name>``    (layer, split, neuroid)       hyperparameters chosen per split
==================  ============================  ==========================================

with every neuroid coordinate of the assembly kept, and attrs ``model``, ``benchmark``,
``benchmark_version``, ``readout``, ``solver``, ``best_layer`` (the layer chosen in most
splits), ``score`` (the headline), ``score_kind`` (``ceiled``, ``uncorrected-r2`` or ``uncorrected-r``),
``score_note``, ``n_reliable``, ``reliability_floor``, the declaration's ``score_aggregate``,
``score_unit``, ``n_units``, ``n_needed``, ``reliability_alpha``, ``reliability_tested`` and
the phrase ``score_description`` built from them, ``protocol``, ``content_key`` (the
results store's key: sha256 of ``spec``) and JSON strings ``spec``, ``protocol_detail``,
``layer_choice``, ``provenance``, ``timings`` (seconds of each stage of this call) and
``selection``. Responses of extreme magnitude (outside about 1e-30 to 1e30) are scored
after an exact power-of-two rescaling (:func:`brainbench.scoring.load.response_scale`);
the dataset then has attr ``response_scale`` and ``target`` / ``prediction`` are in
response units times it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from brainbench.faces import lazy_face

if TYPE_CHECKING:  # pragma: no cover
    from brainbench.scoring.assemble import SCORE_FORMAT
    from brainbench.scoring.benchmark import Benchmark, custom_benchmark
    from brainbench.scoring.composite import check_composite_options
    from brainbench.scoring.fit import LeakageError, check_no_test_leak
    from brainbench.scoring.load import LoadedData, assembly_hash
    from brainbench.scoring.measure import choose_layers
    from brainbench.scoring.scorer import prepare, score_prepared
    from brainbench.scoring.spec import Resolved, RunSpec, build_readout, resolve
    from brainbench.scoring.summary import summarize, write_score

#: Where each name of this package's face lives. Importing a submodule (``brainbench.scoring.protocol``,
#: ``brainbench.scoring.arguments``) must not import the scorer and torch: the face is lazy.
_HOMES = {
    "SCORE_FORMAT": "brainbench.scoring.assemble",
    "Benchmark": "brainbench.scoring.benchmark",
    "custom_benchmark": "brainbench.scoring.benchmark",
    "LeakageError": "brainbench.scoring.fit",
    "check_no_test_leak": "brainbench.scoring.fit",
    "LoadedData": "brainbench.scoring.load",
    "assembly_hash": "brainbench.scoring.load",
    "choose_layers": "brainbench.scoring.measure",
    "check_composite_options": "brainbench.scoring.composite",
    "prepare": "brainbench.scoring.scorer",
    "score_prepared": "brainbench.scoring.scorer",
    "Resolved": "brainbench.scoring.spec",
    "RunSpec": "brainbench.scoring.spec",
    "build_readout": "brainbench.scoring.spec",
    "resolve": "brainbench.scoring.spec",
    "summarize": "brainbench.scoring.summary",
    "write_score": "brainbench.scoring.summary",
}

__all__ = [
    "Benchmark",
    "LeakageError",
    "LoadedData",
    "Resolved",
    "RunSpec",
    "SCORE_FORMAT",
    "assembly_hash",
    "build_readout",
    "check_composite_options",
    "check_no_test_leak",
    "choose_layers",
    "custom_benchmark",
    "prepare",
    "resolve",
    "score_prepared",
    "summarize",
    "write_score",
]


if not TYPE_CHECKING:  # mypy reads the imports above: a misspelt name is an error, not Any
    __getattr__, __dir__ = lazy_face(__name__, _HOMES, __all__)
