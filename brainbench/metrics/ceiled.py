"""The ceiled score: the signed fraction of explainable variance a model explains.

Convention (version 3). Per neuroid, with ``r`` the Pearson correlation between the
model's predictions and the trial-averaged response on held-out stimuli and ``rho``
the split-half (Spearman-Brown corrected) reliability of that trial average::

    ceiled = sign(r) * r**2 / rho          where the neuroid is reliable (below)
           = NaN                           elsewhere

Under ``response = signal + independent noise``, ``rho`` estimates
``var(signal) / var(trial mean)``, the largest ``r**2`` any model can reach against
the noisy trial mean, so ``r**2 / rho`` is the fraction of the explainable
(repeatable) variance that the model explains: the squared normalised correlation
``CC_norm**2`` of Hsu, Borst & Theunissen (2004) and Schoppe et al. (2016), with
``CC_max**2`` estimated by split-half reliability as in Yamins et al. (2014). A model
that predicts the noise-free response perfectly scores about 1; one that explains a
fraction ``f`` of it scores about ``f``. The sign of ``r`` is kept, so a model that
predicts worse than a constant stays negative, and pure noise (``r`` about 0 in
either direction) scores about 0 instead of ``r**2 / rho`` > 0.

``r`` is the *mean over splits* of each split's test-fold correlation, not the
correlation of the pooled out-of-fold predictions: pooling concatenates predictions of
models fitted on different training sets, whose fold-to-fold offsets are anti-correlated
with the test folds' means (each test fold's prediction leans towards the mean of the
*other* stimuli), which drives pooled ``r`` strongly negative for unpredictable
neuroids (about -0.3 on pure noise, against about 0 per split). Both are reported.

A neuroid is *reliable* when its trial mean carries repeatable stimulus-driven signal
beyond chance, for the data's own numbers of stimuli and repetitions, and enough of it for
the ratio to mean anything (it explodes as ``rho -> 0``):

* its ceiling ``rho`` is at least ``reliability_floor`` (:data:`RELIABILITY_FLOOR`, 0.3), and
* where the data have trials to permute and the metric declares ``reliability_alpha``,
  its stimulus-permutation p-value (:func:`brainbench.metrics.ceiling.stimulus_permutation_p`,
  ``n_permutations`` permutations of which stimulus each trial belongs to, within each
  repetition) is at most ``reliability_alpha`` (0.01): a neuroid without any
  stimulus-driven signal is called reliable with probability at most 0.01, whatever its
  numbers of stimuli and repetitions (measured: 1.0% of 2,000 pure-noise neuroids at 60
  stimuli x 5 repetitions, where the floor alone passed 3.3%).

Unreliable neuroids are left out of every aggregate of the ceiled score and counted
(``n_reliable``). With many neuroids a few pass any per-neuroid test by chance, and the
ceiled median of one or two chance neuroids says nothing about the model. So where the
test applies and ``count_alpha`` is declared, the headline is ceiled only when the count
of reliable neuroids is itself beyond chance: at least the smallest ``k`` with
``P(Binomial(n_tested, reliability_alpha) >= k) <= count_alpha`` (:func:`min_reliable`;
3 of 20 neuroids, 4 of 50, 1 of 1 at 0.01 and 0.01). Otherwise, and whenever no neuroid
is reliable (averaged data without repetitions, or data without repeatable signal), the
headline falls back to the declared ``uncorrected`` score over all neuroids, labelled so
with a ``score_note`` that says why: ``signed-r2`` (version 3), ``sign(r) r**2``, the ceiled
score with the ceiling (at most 1) taken as 1, so never further from 0; or ``r`` (version 2), the
per-split r itself. Representation sites ceiled by a reliability given with their RDMs, or
by the split-half reliability of an RDM, have no per-site null: the floor alone decides
and the count rule does not apply (each site pools a population), which the label says.

The headline's label -- aggregate, unit, criterion and fallback, all from the declaration
-- is built by :func:`describe_headline` (and from a score's attrs or summary by
:func:`describe_score`), so the table, the JSON, the leaderboard and the docs say the same.

References:
    Phipson, B., & Smyth, G. K. (2010). Permutation p-values should never be zero: calculating
    exact p-values when permutations are randomly drawn. Stat. Appl. Genet. Mol. Biol. 9(1):39.
    Hsu, A., Borst, A., & Theunissen, F. E. (2004). Quantifying variability in neural
    responses and its application for the validation of model predictions. Network 15, 91-109.
    Schoppe, O., Harper, N. S., Willmore, B. D. B., King, A. J., & Schnupp, J. W. H.
    (2016). Measuring the performance of neural models. Front. Comput. Neurosci. 10:10.
    Yamins, D. L. K., Hong, H., Cadieu, C. F., Solomon, E. A., Seibert, D., & DiCarlo,
    J. J. (2014). Performance-optimized hierarchical models predict neural responses in
    higher visual cortex. PNAS 111, 8619-8624.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The least ceiling a reliable neuroid (or site) has, where a ceiled metric declares no
#: ``reliability_floor`` (the built-in headline metrics declare this value). Also the
#: default when reading a stored score that records none.
RELIABILITY_FLOOR = 0.3
#: The headline kinds a score can carry (``score_kind`` in the JSON, table and leaderboard).
CEILED = "ceiled"
UNCORRECTED = "uncorrected-r"
UNCORRECTED_R2 = "uncorrected-r2"
#: A ceiled metric's declared ``uncorrected`` fallback -> the ``score_kind`` it gives.
FALLBACKS = {"r": UNCORRECTED, "signed-r2": UNCORRECTED_R2}
SCORE_KINDS = (CEILED, UNCORRECTED, UNCORRECTED_R2)
#: Declared params of a ceiled metric that the headline consumes; the rest go to its function.
HEADLINE_PARAMS = ("n_permutations", "count_alpha", "uncorrected")


@dataclass(frozen=True)
class ReliabilityRule:
    """Which neuroids are reliable and when the headline is ceiled: a ceiled metric's params.

    Attributes:
        floor: ``reliability_floor``, the least ceiling a reliable neuroid has.
        alpha: ``reliability_alpha``, the largest stimulus-permutation p-value a reliable
            neuroid has (None: no test, the floor alone decides).
        n_permutations: permutations of that test.
        count_alpha: the headline is ceiled only when chance reaches the number of
            reliable neuroids with probability at most this (None: one reliable neuroid
            suffices). Applies only where the test does.
        uncorrected: the fallback, ``signed-r2`` or ``r`` (see :data:`FALLBACKS`).
    """

    floor: float = RELIABILITY_FLOOR
    alpha: float | None = None
    n_permutations: int = 199
    count_alpha: float | None = None
    uncorrected: str = "r"

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ReliabilityRule:
        """The rule a ceiled metric's declared ``params`` state (absent ones: version-2 behaviour)."""
        from brainbench.errors import BrainbenchError

        rule = cls(
            floor=float(params.get("reliability_floor", RELIABILITY_FLOOR)),
            alpha=None if params.get("reliability_alpha") is None else float(params["reliability_alpha"]),
            n_permutations=int(params.get("n_permutations", 199)),
            count_alpha=None if params.get("count_alpha") is None else float(params["count_alpha"]),
            uncorrected=str(params.get("uncorrected", "r")),
        )
        if rule.uncorrected not in FALLBACKS:
            raise BrainbenchError(
                f"unknown uncorrected fallback {rule.uncorrected!r}; declare one of {', '.join(FALLBACKS)}."
            )
        for name, value in (("reliability_alpha", rule.alpha), ("count_alpha", rule.count_alpha)):
            if value is not None and not 0 < value < 1:
                raise BrainbenchError(f"{name} must lie between 0 and 1, got {value:g}.")
        if rule.n_permutations < 1:
            raise BrainbenchError(f"n_permutations must be at least 1, got {rule.n_permutations}.")
        return rule

    def criterion(self, tested: bool) -> str:
        """What a reliable neuroid passed, in words."""
        if tested and self.alpha is not None:
            return f"reliability >= {self.floor:g} and stimulus-permutation p <= {self.alpha:g}"
        return f"reliability >= {self.floor:g}"


def reliable_mask(
    ceiling: np.ndarray, reliability_floor: float, p_value: np.ndarray | None = None, alpha: float | None = None
) -> np.ndarray:
    """``(N,)`` bool: ceiling finite and >= the floor, and (given both) ``p_value <= alpha``."""
    ceiling = np.asarray(ceiling, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(ceiling) & (ceiling >= reliability_floor)
        if p_value is not None and alpha is not None:
            keep &= np.asarray(p_value, dtype=np.float64) <= alpha  # NaN p: untestable, unreliable
    return keep


def signed_ceiled_r2(
    r: np.ndarray,
    ceiling: np.ndarray,
    reliability_floor: float = RELIABILITY_FLOOR,
    reliability_alpha: float | None = None,
    p_value: np.ndarray | None = None,
) -> np.ndarray:
    """``sign(r) r^2 / ceiling`` per neuroid, NaN where the neuroid is unreliable.

    Args:
        r: ``(..., N)`` held-out Pearson r (the mean over splits of each split's r).
        ceiling: ``(N,)`` split-half reliability of the trial average.
        reliability_floor: neuroids with ``ceiling < reliability_floor`` get NaN.
        reliability_alpha: with ``p_value``, neuroids with ``p_value > reliability_alpha`` get NaN.
        p_value: ``(N,)`` stimulus-permutation p-values, or None (no test).
    Returns:
        ``(..., N)`` float64.
    """
    r = np.asarray(r, dtype=np.float64)
    ceiling = np.asarray(ceiling, dtype=np.float64)
    keep = reliable_mask(ceiling, reliability_floor, p_value, reliability_alpha)
    safe = np.where(keep, ceiling, 1.0)
    return np.where(keep, np.sign(r) * r**2 / safe, np.nan)


def ceiled_metric(python_name: str, params: Mapping[str, Any]) -> Callable[..., np.ndarray]:
    """A declared ceiled metric as ``f(r (..., N), ceiling (N,), p_value (N,) | None) -> (..., N)``.

    The metric's function gets its declared params except those the headline itself
    consumes (:data:`HEADLINE_PARAMS`), and the p-values when it takes a ``p_value``
    argument: the one way the scorer and the leaderboard's intervals apply a headline.
    """
    import inspect

    from brainbench.registry import load_object

    function = load_object(python_name)
    kept = {k: v for k, v in params.items() if k not in HEADLINE_PARAMS}
    takes_p = "p_value" in inspect.signature(function).parameters

    def apply(r: np.ndarray, ceiling: np.ndarray, p_value: np.ndarray | None = None) -> np.ndarray:
        extra = {"p_value": p_value} if p_value is not None and takes_p else {}
        return np.asarray(function(r, ceiling, **kept, **extra), dtype=np.float64)

    return apply


SIGNED_CEILED_R2_FORMULA = "sign(r) r^2 / reliability (signed fraction of explainable variance)"
signed_ceiled_r2.formula = SIGNED_CEILED_R2_FORMULA  # type: ignore[attr-defined]  # read by describe_headline


def min_reliable(n_tested: int, alpha: float | None, count_alpha: float | None) -> int:
    """The fewest reliable neuroids that chance alone reaches with probability <= ``count_alpha``.

    The smallest ``k >= 1`` with ``P(Binomial(n_tested, alpha) >= k) <= count_alpha``: each of
    ``n_tested`` signal-free neuroids passes a level-``alpha`` test with probability at most
    ``alpha``. 1 without a test or without ``count_alpha``; ``n_tested + 1`` (never) if no
    count suffices.
    """
    if alpha is None or count_alpha is None or n_tested < 1:
        return 1
    from scipy.stats import binom

    tails = binom.sf(np.arange(n_tested + 1) - 1, n_tested, alpha)  # tails[k] = P(X >= k)
    # a relative margin so that P(X >= 1) = 0.01 for one neuroid at alpha 0.01 counts as <= 0.01
    passing = np.flatnonzero((tails <= count_alpha * (1 + 1e-9)) & (np.arange(n_tested + 1) >= 1))
    return int(passing[0]) if passing.size else n_tested + 1


@dataclass(frozen=True)
class Headline:
    """One run's headline number and what it is.

    Attributes:
        value: the benchmark's declared aggregate (``site_aggregate``: median or mean) over
            reliable neuroids of the ceiled score, or (an ``uncorrected-*`` kind) the same
            aggregate over all neuroids of the declared uncorrected score.
        kind: one of :data:`SCORE_KINDS`.
        n_reliable: reliable neuroids (see :class:`ReliabilityRule`).
        n_neuroids: neuroids scored.
        reason: why the headline is uncorrected ("" when it is ceiled).
        n_needed: reliable neuroids needed for a ceiled headline (:func:`min_reliable`).
        tested: whether the neuroids were tested against chance (p-values given).
    """

    value: float
    kind: str
    n_reliable: int
    n_neuroids: int
    reason: str = ""
    n_needed: int = 1
    tested: bool = False


#: How a headline summarises its neuroids (or sites): a benchmark's ``site_aggregate``.
AGGREGATES: dict[str, Callable[[np.ndarray], float]] = {"median": np.median, "mean": np.mean}


def headline(
    r: np.ndarray,
    ceiling: np.ndarray,
    reliability_floor: float = RELIABILITY_FLOOR,
    has_repetitions: bool = True,
    ceiled_fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    aggregate: str = "median",
    *,
    rule: ReliabilityRule | None = None,
    p_value: np.ndarray | None = None,
    unit: str = "neuroid",
) -> Headline:
    """The headline of per-neuroid held-out correlations.

    Args:
        r: ``(N,)`` per-split mean Pearson r at the chosen layer(s).
        ceiling: ``(N,)`` split-half reliability (NaN without repetitions).
        reliability_floor: the floor when no ``rule`` is given.
        has_repetitions: whether the data had trials to compute a ceiling from.
        ceiled_fn: ``(r (N,), ceiling (N,)) -> (N,)``, NaN for unreliable neuroids
            (default :func:`signed_ceiled_r2` with the rule's floor, test and ``p_value``).
        aggregate: ``median`` (default) or ``mean`` over the reliable neuroids (e.g. an
            area's few sites, where each site weighs the same); the uncorrected fallback
            uses the same aggregate.
        rule: the declared reliability rule (default: ``reliability_floor`` alone, fallback ``r``).
        p_value: ``(N,)`` stimulus-permutation p-values, or None where the data have no
            trials to permute (then the floor alone decides and the count rule is off).
        unit: what a neuroid is called in the reason (``neuroid`` or ``site``).
    """
    from brainbench.errors import BrainbenchError

    if aggregate not in AGGREGATES:
        raise BrainbenchError(f"unknown headline aggregate {aggregate!r}; use one of {', '.join(AGGREGATES)}.")
    rule = rule if rule is not None else ReliabilityRule(floor=reliability_floor)
    summarise = AGGREGATES[aggregate]
    r = np.asarray(r, dtype=np.float64)
    tested = p_value is not None and rule.alpha is not None
    keep = reliable_mask(ceiling, rule.floor, p_value if tested else None, rule.alpha)
    n_reliable = int(keep.sum())
    n_tested = int(np.isfinite(np.asarray(p_value, dtype=np.float64)).sum()) if tested else 0
    needed = min_reliable(n_tested, rule.alpha, rule.count_alpha) if tested else 1
    if n_reliable >= needed:
        if ceiled_fn is not None:
            ceiled = ceiled_fn(r, ceiling)
        else:
            ceiled = signed_ceiled_r2(r, ceiling, rule.floor, rule.alpha, p_value if tested else None)
        chosen = ceiled[keep & np.isfinite(ceiled)]
        value = float(summarise(chosen)) if chosen.size else float("nan")
        return Headline(value, CEILED, n_reliable, r.size, "", needed, tested)
    fallback = np.sign(r) * r**2 if rule.uncorrected == "signed-r2" else r
    finite = fallback[np.isfinite(fallback)]
    value = float(summarise(finite)) if finite.size else float("nan")
    criterion = rule.criterion(tested)
    if not has_repetitions:
        reason = "no repetitions, so no ceiling"
    elif n_reliable == 0:
        reason = f"no {unit} is reliable ({criterion})"
    else:
        reason = (
            f"only {n_reliable} of {r.size} {unit}s {'is' if n_reliable == 1 else 'are'} reliable ({criterion}), "
            f"and chance alone makes that many of {n_tested} reliable with probability above {rule.count_alpha:g}; "
            f"a ceiled headline needs at least {needed}"
        )
    return Headline(value, FALLBACKS[rule.uncorrected], n_reliable, r.size, reason, needed, tested)


def describe_headline(
    kind: str,
    *,
    aggregate: str = "median",
    unit: str = "neuroid",
    n_reliable: int | None = None,
    n_units: int | None = None,
    reliability_floor: float = RELIABILITY_FLOOR,
    reliability_alpha: float | None = None,
    tested: bool = False,
    note: str = "",
    formula: str = "",
) -> str:
    """What a headline number is, in one phrase, from what its benchmark and metric declare.

    Args:
        kind: the score's kind (:data:`SCORE_KINDS`; anything else is named as it is).
        aggregate: the benchmark's ``site_aggregate`` (``median`` or ``mean``).
        unit: ``neuroid`` (regression benchmarks) or ``site`` (representation benchmarks).
        n_reliable: reliable neuroids (or sites); n_units: all of them (None: not stated).
        reliability_floor, reliability_alpha: the declared criterion; tested: whether the
            permutation test was applied (data with trials to permute).
        note: the score's ``score_note`` (why an uncorrected headline is uncorrected).
        formula: what the ceiled metric computes per unit, its function's ``formula``
            attribute (:func:`headline_formula`); default that of :func:`signed_ceiled_r2`.
    Returns:
        e.g. ``mean over 4 of 4 sites with reliability >= 0.3 of the ceiled score sign(r)
        r^2 / reliability (signed fraction of explainable variance; no per-site test against
        chance)``.
    """
    units = unit if n_units == 1 else f"{unit}s"
    if kind == CEILED:
        rule = ReliabilityRule(floor=reliability_floor, alpha=reliability_alpha)
        count = f"{n_reliable} of {n_units} " if n_reliable is not None and n_units is not None else ""
        formula = formula or SIGNED_CEILED_R2_FORMULA
        if not tested:  # said inside the formula's closing parenthesis where it has one
            untested = f"no per-{unit} test against chance"
            formula = f"{formula[:-1]}; {untested})" if formula.endswith(")") else f"{formula} ({untested})"
        return f"{aggregate} over {count}{units} with {rule.criterion(tested)} of the ceiled score {formula}"
    over = f"the one {unit}" if n_units == 1 else f"all {n_units} {units}" if n_units is not None else f"all {units}"
    why = f": {note}" if note else ""
    if kind == UNCORRECTED_R2:
        return (
            f"UNCORRECTED {aggregate} over {over} of sign(r) r^2 (the ceiled score with the ceiling "
            f"taken as 1, so never further from 0){why}; not comparable with ceiled scores"
        )
    if kind == UNCORRECTED:
        return f"UNCORRECTED {aggregate} over {over} of the per-split r{why}; not comparable with ceiled scores"
    return f"a {kind} score{why}"


def headline_formula(python_name: str | None) -> str:
    """What a ceiled metric computes per unit, from its function's ``formula`` attribute ("" if none)."""
    if not python_name:
        return ""
    from brainbench.errors import BrainbenchError
    from brainbench.registry import load_object

    try:
        return str(getattr(load_object(python_name), "formula", ""))
    except BrainbenchError:  # a plugin no longer installed: the generic phrase
        return ""


def describe_score(record: Mapping[str, Any]) -> str:
    """:func:`describe_headline` of a score: its dataset attrs, its ``--json`` summary or a store row.

    Reads ``score_kind``, ``score_note``, ``n_reliable``, ``reliability_floor`` and, where
    present, ``score_aggregate``, ``score_unit``, ``n_units``, ``reliability_alpha`` and
    ``reliability_tested``; scores recorded before those existed are described from their
    ``spec`` (the benchmark's declared ``site_aggregate`` and kind) or ``benchmark_kind``.
    """
    import json

    spec = record.get("spec") or {}
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except ValueError:
            spec = {}
    bench = spec.get("benchmark", {}) if isinstance(spec, dict) else {}
    kind_of_bench = record.get("benchmark_kind") or bench.get("kind") or "regression"
    aggregate = record.get("score_aggregate") or record.get("site_aggregate") or bench.get("site_aggregate") or "median"
    unit = record.get("score_unit") or ("site" if kind_of_bench == "representation" else "neuroid")
    alpha = record.get("reliability_alpha")
    n_reliable = record.get("n_reliable")
    n_units = record.get("n_units")
    return describe_headline(
        str(record.get("score_kind", "")),
        aggregate=str(aggregate),
        unit=str(unit),
        n_reliable=None if n_reliable is None else int(n_reliable),
        n_units=None if n_units is None else int(n_units),
        reliability_floor=float(record.get("reliability_floor", RELIABILITY_FLOOR)),
        reliability_alpha=None if alpha is None or alpha == "" else float(alpha),
        tested=bool(record.get("reliability_tested", False)),
        note=str(record.get("score_note", "") or ""),
        formula=headline_formula((spec.get("headline") or {}).get("python_name") if isinstance(spec, dict) else None),
    )
