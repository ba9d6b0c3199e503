"""Stage 5, measure: per-neuroid metrics of every layer, the layer choice and the headline.

For every layer: the benchmark's declared metrics on the pooled out-of-fold predictions,
and Pearson r and R^2 on each split's test stimuli. The headline is nested: each split's
test stimuli are scored at the layer chosen on that split's training stimuli
(:func:`choose_layers`), and summarised by the benchmark's ceiled metric
(:mod:`brainbench.metrics.ceiled`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from brainbench.errors import BrainbenchError
from brainbench.metrics.ceiled import Headline, ReliabilityRule, ceiled_metric, headline, reliable_mask
from brainbench.metrics.regression import explained_variance, pearson_r
from brainbench.scoring.load import LoadedData
from brainbench.scoring.spec import Resolved

if TYPE_CHECKING:  # pragma: no cover
    from brainbench.readouts.base import CVResult  # imports torch: a name in signatures only

#: Variables every regression score has: computed here when no declared metric names them.
CORE_METRICS = {"r": pearson_r, "ev": explained_variance}


@dataclass(frozen=True)
class LayerScores:
    """One layer's fit and per-neuroid metrics.

    Attributes:
        cv: the readout's cross-validation result.
        pooled: variable name -> ``(N,)`` on the pooled out-of-fold predictions.
        r_split: ``(split, N)`` Pearson r on each split's test stimuli.
        ev_split: ``(split, N)`` R^2 on each split's test stimuli.
    """

    cv: CVResult
    pooled: dict[str, np.ndarray]
    r_split: np.ndarray
    ev_split: np.ndarray


@dataclass(frozen=True)
class LayerChoice:
    """The layer chosen per split from that split's training data only.

    Attributes:
        per_split: ``(split,)`` index of the layer with the highest median validation
            score on each split's training stimuli.
        best_layer: the layer chosen most often (ties: the earlier layer).
        beats_zero: whether that layer's median validation score is above 0 in most
            splits, i.e. it predicts held-out training stimuli better than their mean.
    """

    per_split: np.ndarray
    best_layer: str
    beats_zero: bool


@dataclass(frozen=True)
class Measured:
    """Everything the assemble stage turns into a dataset.

    Attributes:
        layers: layer -> :class:`LayerScores`, in the run's layer order.
        choice: the nested layer choice.
        headline_r: ``(N,)`` per-split r at each split's chosen layer, averaged over splits.
        headline: the headline number and what it is.
        rule: the reliability rule the ceiled metric declares.
        r_split_mean: ``(layer, N)`` mean over splits of each split's test r (NaN splits left out).
        ceiled: ``(layer, N)`` the ceiled metric of ``r_split_mean`` (NaN where unreliable).
        reliable: ``(N,)`` whether each neuroid passes the rule (floor, and test where declared).
    """

    layers: dict[str, LayerScores]
    choice: LayerChoice
    headline_r: np.ndarray
    headline: Headline
    rule: ReliabilityRule
    r_split_mean: np.ndarray
    ceiled: np.ndarray
    reliable: np.ndarray


def measure(run: Resolved, data: LoadedData, fits: Mapping[str, CVResult]) -> Measured:
    """Stage 5: the declared metrics per layer, the layer choice, the ceiled scores and the headline.

    Every number of the score is computed here; stage 6 only lays them out.
    """
    target, splits = data.target, data.splits
    if target is None:  # an RDM assembly: only representation benchmarks take one (checked at load)
        raise BrainbenchError(f"benchmark {run.bench.identifier!r} has no responses to regress onto.")
    layers = {}
    for layer, cv in fits.items():
        pooled = {name: fn(cv.predictions, target) for name, fn in run.metrics.items()}
        for name, fn in CORE_METRICS.items():
            pooled.setdefault(name, fn(cv.predictions, target))
        layers[layer] = LayerScores(
            cv=cv,
            pooled=pooled,
            r_split=np.stack(
                [pearson_r(cv.split_predictions[k][s.test], target[s.test]) for k, s in enumerate(splits)]
            ),
            ev_split=np.stack(
                [explained_variance(cv.split_predictions[k][s.test], target[s.test]) for k, s in enumerate(splits)]
            ),
        )
    r_split = np.stack([scores.r_split for scores in layers.values()])  # (layer, split, neuroid)
    nested = nested_headline(
        run,
        np.stack([scores.cv.val_score for scores in layers.values()]),
        r_split,
        list(layers),
        data.ceiling,
        has_repetitions=data.has_repetitions,
        p_value=data.reliability_p,
        unit="neuroid",
    )
    with np.errstate(invalid="ignore"):
        r_mean = np.nanmean(np.where(np.isfinite(r_split), r_split, np.nan), axis=1)
    return Measured(
        layers=layers,
        choice=nested.choice,
        headline_r=nested.chosen_r,
        headline=nested.headline,
        rule=nested.rule,
        r_split_mean=r_mean,
        ceiled=nested.ceiled_fn(r_mean, data.ceiling, data.reliability_p),
        reliable=nested.reliable,
    )


@dataclass(frozen=True)
class NestedHeadline:
    """The nested layer choice and the headline it gives.

    Attributes:
        choice: the layer chosen per split on that split's training stimuli.
        chosen_r: ``(unit,)`` each split's test r at its chosen layer, averaged over splits.
        headline: the headline number and what it is.
        rule: the reliability rule the headline metric declares.
        reliable: ``(unit,)`` whether each unit passes the rule (its floor, and its test
            where declared and p-values are given).
        ceiled_fn: the declared ceiled metric, ``(r (..., unit), ceiling (unit,), p_value
            (unit,) | None) -> (..., unit)`` (:func:`~brainbench.metrics.ceiled.ceiled_metric`).
    """

    choice: LayerChoice
    chosen_r: np.ndarray
    headline: Headline
    rule: ReliabilityRule
    reliable: np.ndarray
    ceiled_fn: Callable[..., np.ndarray]


def nested_headline(
    run: Resolved,
    val_score: np.ndarray,
    r_split: np.ndarray,
    layers: list[str],
    ceiling: np.ndarray,
    *,
    has_repetitions: bool,
    p_value: np.ndarray | None,
    unit: str,
) -> NestedHeadline:
    """Layer choice and headline, the same for every benchmark kind (regression and representation).

    Each split's test score is taken at the layer :func:`choose_layers` picks from that
    split's training score; their mean over splits is summarised by the benchmark's
    ceiled metric (its declared reliability rule, the benchmark's ``site_aggregate``).

    Args:
        run: the resolved run (its headline metric and benchmark).
        val_score: ``(layer, split, unit)`` training-only validation scores.
        r_split: ``(layer, split, unit)`` scores on each split's test stimuli.
        layers: the layer names, in that order.
        ceiling: ``(unit,)`` each neuroid's (or site's) ceiling.
        has_repetitions: whether the data had a ceiling to compute.
        p_value: ``(unit,)`` stimulus-permutation p-values, or None (no test: the floor decides).
        unit: ``neuroid`` or ``site``, as the headline's reason names them.
    """
    choice = choose_layers(val_score, layers)
    with np.errstate(invalid="ignore"):
        chosen_r = np.nanmean(r_split[choice.per_split, np.arange(r_split.shape[1])], axis=0)
    rule = ReliabilityRule.from_params(run.headline.params)
    ceiled_fn = ceiled_metric(run.headline.python_name, run.headline.params)
    head = headline(
        chosen_r,
        ceiling,
        has_repetitions=has_repetitions,
        ceiled_fn=lambda r, ceil: ceiled_fn(r, ceil, p_value),
        aggregate=run.bench.entry.site_aggregate,
        rule=rule,
        p_value=p_value,
        unit=unit,
    )
    reliable = reliable_mask(ceiling, rule.floor, p_value, rule.alpha)
    return NestedHeadline(choice, chosen_r, head, rule, reliable, ceiled_fn)


def choose_layers(val_score: np.ndarray, layers: list[str]) -> LayerChoice:
    """Choose a layer per split from training-only validation scores.

    Each split's test stimuli are scored at the layer chosen on *that split's* training
    stimuli, so the headline never depends on a test stimulus through the layer choice
    (choosing one layer from validation scores averaged over all splits would: every
    stimulus is a training stimulus of the other splits).

    Args:
        val_score: ``(layer, split, neuroid)`` validation R^2 from training data only.
        layers: the layer names, in that order.
    """
    import warnings

    values = np.asarray(val_score, dtype=np.float64)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN layers: -inf below, never chosen
        finite = np.isfinite(values)
        medians = np.where(finite.any(-1), np.nanmedian(np.where(finite, values, np.nan), axis=-1), -np.inf)
    per_split = np.argmax(medians, axis=0)  # (split,)
    counts = np.bincount(per_split, minlength=len(layers))
    best = int(np.argmax(counts))
    wins = per_split == best
    beats_zero = bool((medians[best, wins] > 0).mean() > 0.5) if wins.any() else False
    return LayerChoice(per_split, layers[best], beats_zero)
