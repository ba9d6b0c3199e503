"""The ceiled score: the signed fraction of explainable variance a model explains.

Convention (version 2). Per neuroid, with ``r`` the Pearson correlation between the
model's predictions and the trial-averaged response on held-out stimuli and ``rho``
the split-half (Spearman-Brown corrected) reliability of that trial average::

    ceiled = sign(r) * r**2 / rho          where rho >= reliability_floor
           = NaN                           elsewhere (the neuroid is "unreliable")

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

Neuroids whose reliability is below ``reliability_floor`` carry too little repeatable
signal for the ratio to mean anything (it explodes as ``rho -> 0``); they are left out
of every median of the ceiled score and counted (``n_reliable``). The default floor
0.3 is exceeded by 1.8% of pure-noise neuroids at 60 stimuli x 5 repetitions (measured
on 600 simulated neuroids) and keeps all 50 real V4 neurons of ``cowley2023-V4``
(their minimum reliability is 0.53).

Without reliable neuroids -- averaged data without repetitions, or data without
repeatable signal -- there is nothing to ceil by: the headline falls back to the
uncorrected median per-split Pearson r over all neuroids and is labelled so.

References:
    Hsu, A., Borst, A., & Theunissen, F. E. (2004). Quantifying variability in neural
    responses and its application for the validation of model predictions. Network 15, 91-109.
    Schoppe, O., Harper, N. S., Willmore, B. D. B., King, A. J., & Schnupp, J. W. H.
    (2016). Measuring the performance of neural models. Front. Comput. Neurosci. 10:10.
    Yamins, D. L. K., Hong, H., Cadieu, C. F., Solomon, E. A., Seibert, D., & DiCarlo,
    J. J. (2014). Performance-optimized hierarchical models predict neural responses in
    higher visual cortex. PNAS 111, 8619-8624.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: The headline kinds a score can carry (``score_kind`` in the JSON, table and leaderboard).
CEILED = "ceiled"
UNCORRECTED = "uncorrected-r"


def reliable_mask(ceiling: np.ndarray, reliability_floor: float) -> np.ndarray:
    """``(N,)`` bool: the neuroids whose ceiling is finite and at least the floor."""
    ceiling = np.asarray(ceiling, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isfinite(ceiling) & (ceiling >= reliability_floor)


def signed_ceiled_r2(r: np.ndarray, ceiling: np.ndarray, reliability_floor: float = 0.3) -> np.ndarray:
    """``sign(r) r^2 / ceiling`` per neuroid, NaN where the neuroid is unreliable.

    Args:
        r: ``(..., N)`` held-out Pearson r (the mean over splits of each split's r).
        ceiling: ``(N,)`` split-half reliability of the trial average.
        reliability_floor: neuroids with ``ceiling < reliability_floor`` get NaN.
    Returns:
        ``(..., N)`` float64.
    """
    r = np.asarray(r, dtype=np.float64)
    ceiling = np.asarray(ceiling, dtype=np.float64)
    keep = reliable_mask(ceiling, reliability_floor)
    safe = np.where(keep, ceiling, 1.0)
    return np.where(keep, np.sign(r) * r**2 / safe, np.nan)


@dataclass(frozen=True)
class Headline:
    """One run's headline number and what it is.

    Attributes:
        value: the median (or the benchmark's declared ``site_aggregate``) over reliable
            neuroids of the ceiled score, or (``kind`` = ``uncorrected-r``) the same
            aggregate over all neuroids of the per-split mean r.
        kind: ``ceiled`` or ``uncorrected-r``.
        n_reliable: neuroids at or above the reliability floor.
        n_neuroids: neuroids scored.
        reason: why the headline is uncorrected ("" when it is ceiled).
    """

    value: float
    kind: str
    n_reliable: int
    n_neuroids: int
    reason: str = ""


#: How a headline summarises its neuroids (or sites): a benchmark's ``site_aggregate``.
AGGREGATES: dict[str, Callable[[np.ndarray], float]] = {"median": np.median, "mean": np.mean}


def headline(
    r: np.ndarray,
    ceiling: np.ndarray,
    reliability_floor: float = 0.3,
    has_repetitions: bool = True,
    ceiled_fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    aggregate: str = "median",
) -> Headline:
    """The headline of per-neuroid held-out correlations.

    Args:
        r: ``(N,)`` per-split mean Pearson r at the chosen layer(s).
        ceiling: ``(N,)`` split-half reliability (NaN without repetitions).
        reliability_floor: see :func:`signed_ceiled_r2`.
        has_repetitions: whether the data had trials to compute a ceiling from.
        ceiled_fn: ``(r (N,), ceiling (N,)) -> (N,)``, NaN for unreliable neuroids
            (default :func:`signed_ceiled_r2` at ``reliability_floor``).
        aggregate: ``median`` (default) or ``mean`` over the reliable neuroids (e.g. an
            area's few sites, where each site weighs the same); the uncorrected fallback
            uses the same aggregate.
    """
    if aggregate not in AGGREGATES:
        from brainbench.errors import BrainbenchError

        raise BrainbenchError(f"unknown headline aggregate {aggregate!r}; use one of {', '.join(AGGREGATES)}.")
    summarise = AGGREGATES[aggregate]
    r = np.asarray(r, dtype=np.float64)
    keep = reliable_mask(ceiling, reliability_floor)
    n_reliable = int(keep.sum())
    if n_reliable:
        ceiled = ceiled_fn(r, ceiling) if ceiled_fn is not None else signed_ceiled_r2(r, ceiling, reliability_floor)
        finite = ceiled[np.isfinite(ceiled)]
        value = float(summarise(finite)) if finite.size else float("nan")
        return Headline(value, CEILED, n_reliable, r.size)
    finite = r[np.isfinite(r)]
    value = float(summarise(finite)) if finite.size else float("nan")
    reason = (
        "no repetitions, so no ceiling"
        if not has_repetitions
        else f"no neuroid has split-half reliability >= {reliability_floor:g}"
    )
    return Headline(value, UNCORRECTED, 0, r.size, reason)
