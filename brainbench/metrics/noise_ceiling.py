"""The noise ceiling of a group of subjects' RDMs (Nili et al. 2014), and the ratio headline.

Nili, H., Wingfield, C., Walther, A., Su, L., Marslen-Wilson, W., & Kriegeskorte, N.
(2014). A toolbox for representational similarity analysis. PLoS Comput. Biol. 10:e1003553.

A model is scored against each subject's RDM and the scores are averaged over subjects.
The best any model can do under the inter-subject variability is bracketed by:

* the **upper bound**: each subject's RDM compared with the mean RDM of *all* subjects
  (itself included), averaged over subjects. The mean of all subjects is the RDM that
  maximises the average similarity (for Pearson r on z-scored RDMs exactly, for rank
  comparisons approximately), so no model can be expected to beat it, but it overfits:
  it contains the subject it is compared with.
* the **lower bound**: each subject's RDM compared with the mean RDM of the *other*
  subjects (leave one subject out), averaged over subjects: a model estimated from
  independent data, which the true model should reach.

Both bounds use the same comparison (Spearman's rho, Kendall's tau-a, ...) as the model
scores they ceil, over all stimulus pairs.

As a ceiling of an RDM assembly (:func:`nili_noise_ceiling`, ``input = "rdm-assembly"``)
the sites are the subjects; every site gets the group's bound named by ``bound`` as its
``ceiling``, and both bounds (group and per subject) come back as site coordinates. With
the ratio headline (:func:`ceiling_ratio`, ``r / ceiling``) and the sites' mean, the
headline is ``mean over subjects of r / bound``: 1 means "as good as the bound".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from brainbench.metrics.rsa import METHODS, compare


def nili_bounds(rdms: np.ndarray, method: str = "spearman") -> tuple[np.ndarray, np.ndarray]:
    """Per-subject lower and upper bounds of the noise ceiling.

    Args:
        rdms: ``(subject, stimulus, stimulus)`` one RDM per subject, at least 2 subjects.
        method: the comparison (:data:`brainbench.metrics.rsa.METHODS`).
    Returns:
        ``(lower (subject,), upper (subject,))``: each subject's RDM compared with the mean
        of the other subjects' RDMs, and with the mean of all.
    """
    rdms = np.asarray(rdms, dtype=np.float64)
    n = rdms.shape[0]
    if n < 2:
        from brainbench.errors import BrainbenchError

        raise BrainbenchError("a noise ceiling needs at least two subjects' RDMs; a single RDM has none.")
    total = rdms.sum(axis=0)
    mean_all = total / n
    lower = np.asarray([compare(rdms[s], (total - rdms[s]) / (n - 1), method) for s in range(n)])
    upper = np.asarray([compare(rdms[s], mean_all, method) for s in range(n)])
    return lower, upper


def nili_noise_ceiling(assembly: Any, method: str = "spearman", bound: str = "lower") -> dict[str, np.ndarray]:
    """The noise ceiling of an RDM assembly whose sites are subjects (after the benchmark's selection).

    Args:
        assembly: RDM assembly ``(site, stimulus, stimulus_b)``, one site per subject.
        method: the comparison, the same as the benchmark's representation metric's.
        bound: ``lower`` or ``upper``: the group bound every site is ceiled by.
    Returns:
        ``{"ceiling": (site,), "lower": (site,), "upper": (site,), "lower_subject":
        (site,), "upper_subject": (site,)}``: the declared bound and both group bounds
        (the same for every site), and each subject's own bounds. The load stage keeps
        every entry but ``ceiling`` as a site coordinate ``ceiling_<name>``.
    """
    from brainbench.errors import BrainbenchError

    if bound not in ("lower", "upper"):
        raise BrainbenchError(f"unknown noise-ceiling bound {bound!r}; use lower or upper.")
    if method not in METHODS:
        raise BrainbenchError(f"unknown RDM comparison {method!r}; use one of {', '.join(METHODS)}.")
    rdms = np.asarray(assembly.transpose("site", "stimulus", "stimulus_b").values, dtype=np.float64)
    lower, upper = nili_bounds(rdms, method)
    n = rdms.shape[0]
    group = {"lower": np.full(n, lower.mean()), "upper": np.full(n, upper.mean())}
    return {"ceiling": group[bound], **group, "lower_subject": lower, "upper_subject": upper}


nili_noise_ceiling.input = "rdm-assembly"  # type: ignore[attr-defined]  # read by the load stage


def ceiling_ratio(r: np.ndarray, ceiling: np.ndarray, reliability_floor: float = 0.1) -> np.ndarray:
    """``r / ceiling`` per site (or neuroid), NaN where the ceiling is below ``reliability_floor``.

    The normalisation of a similarity by a noise ceiling in the same units (a Spearman rho
    by the rho bound of Nili et al. 2014; a CKA by the split-half CKA): 1 is "at the
    ceiling", and a model can exceed 1 when its ceiling is a lower bound.

    Args:
        r: ``(..., N)`` the similarities.
        ceiling: ``(N,)`` the ceilings.
        reliability_floor: ceilings below it ceil nothing (NaN): the ratio would explode.
    Returns:
        ``(..., N)`` float64.
    """
    r = np.asarray(r, dtype=np.float64)
    ceiling = np.asarray(ceiling, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(ceiling) & (ceiling >= reliability_floor)
    return np.where(keep, r / np.where(keep, ceiling, 1.0), np.nan)


#: what the headline is per site, read by brainbench.metrics.ceiled.describe_headline
ceiling_ratio.formula = "similarity / its ceiling (1 = at the ceiling; a lower bound can be exceeded)"  # type: ignore
