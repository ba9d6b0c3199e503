"""Seeded train/test splits of stimuli (k-fold, stratified k-fold, repeated holdout).

:func:`run_splits` gives a run its splits and their record in one call: the caller's own
splits checked, or those the benchmark declares made (:func:`make_splits`) and checked.
Declared splits never divide a group of identical images: a stimulus set that shows the
same image under two ids (a session that repeats a block of images) keeps the copies on
one side of every split, so a test image is never also a training image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from brainbench.errors import BrainbenchError
from brainbench.registry.manifest import SplitSpec


@dataclass
class Split:
    """One train/test split of stimulus positions.

    Attributes:
        train: ``(n_train,)`` int64 positions into the stimulus axis.
        test: ``(n_test,)`` int64 positions, disjoint from ``train``.
    """

    train: np.ndarray
    test: np.ndarray


def make_splits(
    spec: SplitSpec,
    n: int,
    stratify_values: Sequence | None = None,
    seed: int = 0,
    groups: Sequence[int] | np.ndarray | None = None,
) -> list[Split]:
    """Splits of ``n`` stimuli as declared by ``spec``, a group of stimuli never divided.

    Args:
        spec: the benchmark's split declaration.
        n: number of stimuli.
        stratify_values: ``(n,)`` class labels when ``spec.stratify`` is set: each class
            is spread evenly over the folds, so with at least two stimuli per class every
            class appears in every training set and in every class's test fold.
        seed: run seed, combined with ``spec.seed``.
        groups: ``(n,)`` group labels (e.g. :meth:`brainbench.data.stimuli.StimulusSet.identical_groups`):
            the stimuli of one group are always on the same side of a split, so a test
            image never has an identical copy among the training images. None, or every
            stimulus its own group: the splits of ``n`` ungrouped stimuli, exactly.
    """
    rng = np.random.default_rng([spec.seed, seed])
    member, sizes = _groups(groups, n)  # stimulus -> its group (0, 1, ... in order of first appearance)
    n_groups = len(sizes)
    if spec.kind == "holdout":
        n_test = max(1, round(n * spec.test_fraction))
        splits = []
        for _ in range(spec.n_splits):
            order = rng.permutation(n_groups)
            taken = int(np.searchsorted(np.cumsum(sizes[order]), n_test)) + 1  # whole groups, n_test stimuli or more
            test = np.isin(member, order[:taken])
            if test.all():
                raise BrainbenchError(f"a holdout of {spec.test_fraction} leaves no training stimuli out of {n}.")
            splits.append(Split(train=np.flatnonzero(~test), test=np.flatnonzero(test)))
        return splits
    if spec.n_splits > n_groups:
        copies = f" ({n - n_groups} of them copies of others, kept with their originals)" if n_groups < n else ""
        raise BrainbenchError(
            f"{spec.n_splits} folds need at least as many stimuli, but there are {n_groups}{copies}; declare "
            f"n_splits = {n_groups} or fewer (custom_benchmark(..., split={{'n_splits': {n_groups}}}))."
        )
    fold = np.empty(n_groups, dtype=np.int64)  # each group's fold
    if spec.stratify:
        if stratify_values is None:
            raise BrainbenchError(f"split stratifies by {spec.stratify!r} but the stimuli have no such coordinate.")
        labels = np.asarray([str(v) for v in stratify_values])[np.unique(member, return_index=True)[1]]
        offset = 0
        for label in np.unique(labels):  # a group's class is its first stimulus's
            members = rng.permutation(np.flatnonzero(labels == label))
            fold[members] = (offset + np.arange(len(members))) % spec.n_splits
            offset += len(members)
    else:
        fold[rng.permutation(n_groups)] = np.arange(n_groups) % spec.n_splits
    fold = fold[member]
    return [Split(train=np.flatnonzero(fold != k), test=np.flatnonzero(fold == k)) for k in range(spec.n_splits)]


def _groups(groups: Sequence[int] | np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``((n,) each stimulus's group, (n_groups,) each group's size)``, groups numbered by first appearance."""
    if groups is None:
        return np.arange(n), np.ones(n, dtype=np.int64)
    values = np.asarray(groups)
    if values.shape != (n,):
        raise BrainbenchError(f"groups must give one label per stimulus ({n}), got shape {values.shape}.")
    _, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    member = rank[inverse.reshape(-1)]
    return member, np.bincount(member, minlength=len(first))


def check_splits(splits: Sequence, n: int) -> list[Split]:
    """Validate train/test splits of ``n`` stimuli; return them as :class:`Split` objects.

    Args:
        splits: :class:`Split` objects or ``(train_indices, test_indices)`` pairs, each a
            sequence of integer positions into the stimulus axis.
        n: number of stimuli.

    Every split needs at least 2 training stimuli and 1 test stimulus, positions in
    ``[0, n)``, no position twice and no position in both train and test.
    """
    if isinstance(splits, (Split, str, bytes)) or not isinstance(splits, Sequence) or len(splits) == 0:
        raise BrainbenchError(
            "splits must be a non-empty list of (train_indices, test_indices) pairs or Split objects."
        )
    checked = []
    for k, split in enumerate(splits):
        if isinstance(split, Split):
            parts = (split.train, split.test)
        elif isinstance(split, Sequence) and not isinstance(split, (str, bytes)) and len(split) == 2:
            parts = tuple(split)
        else:
            raise BrainbenchError(f"split {k} is not a (train_indices, test_indices) pair.")
        arrays = []
        for name, part in zip(("train", "test"), parts, strict=True):
            array = np.asarray(part)
            if array.ndim != 1 or not (array.dtype.kind in "iu" or (array.size == 0 and array.dtype.kind == "f")):
                raise BrainbenchError(f"split {k}'s {name} indices must be a 1-d list of integer positions.")
            array = array.astype(np.int64)
            if array.size and (array.min() < 0 or array.max() >= n):
                bad = array[(array < 0) | (array >= n)][0]
                raise BrainbenchError(f"split {k}'s {name} index {bad} is out of range for {n} stimuli.")
            if np.unique(array).size != array.size:
                raise BrainbenchError(f"split {k}'s {name} indices repeat a stimulus.")
            arrays.append(array)
        train, test = arrays
        if train.size < 2 or test.size < 1:
            raise BrainbenchError(
                f"split {k} has {train.size} training and {test.size} test stimuli; "
                "a split needs at least 2 training stimuli and 1 test stimulus."
            )
        shared = np.intersect1d(train, test)
        if shared.size:
            raise BrainbenchError(f"split {k} uses stimulus {shared[0]} for both training and testing.")
        checked.append(Split(train=train, test=test))
    return checked


def split_spec(spec: SplitSpec, splits: Sequence[Split], custom: bool, groups: np.ndarray | None = None) -> dict:
    """A JSON-able record of the splits used: the declaration, or for custom splits their sizes and hash.

    A declaration's record also holds, when ``groups`` joins stimuli (identical images kept
    together), ``grouped``: how many groups of more than one stimulus, how many stimuli
    they hold, and every stimulus's group label (numbered by first appearance), from which
    the same splits are made again (the leaderboard's intervals).
    """
    if not custom:
        record = {"custom": False, **spec.model_dump()}
        if groups is not None:
            member, sizes = _groups(groups, len(groups))
            if (sizes > 1).any():
                record["grouped"] = {
                    "groups": int((sizes > 1).sum()),
                    "stimuli": int(sizes[sizes > 1].sum()),
                    "labels": member.tolist(),
                }
        return record
    import hashlib

    digest = hashlib.sha256()
    for split in splits:
        digest.update(split.train.tobytes() + b"|" + split.test.tobytes() + b";")
    return {
        "custom": True,
        "n_splits": len(splits),
        "n_train": [int(s.train.size) for s in splits],
        "n_test": [int(s.test.size) for s in splits],
        "sha256": digest.hexdigest(),
    }


def run_splits(
    declared: SplitSpec,
    n: int,
    *,
    own: Sequence | None = None,
    stratify_values: Sequence | None = None,
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> tuple[list[Split], dict]:
    """A run's splits of ``n`` stimuli and their record (:func:`split_spec`).

    Args:
        declared: the benchmark's split declaration.
        n: number of stimuli.
        own: the caller's own splits (see :func:`check_splits`), used instead of the declared ones.
        stratify_values: ``(n,)`` class labels when ``declared.stratify`` is set.
        seed: run seed (see :func:`make_splits`).
        groups: ``(n,)`` labels of stimuli that must stay on one side of every declared
            split (identical images; see :func:`make_splits`). The caller's own splits are
            used as given.

    Returns:
        ``(splits, record)``: the checked :class:`Split` objects, and the declaration (with
        the grouping, when it joins stimuli) or, for the caller's own splits, their sizes
        and sha256.
    """
    if own is not None:
        checked = check_splits(own, n)
        return checked, split_spec(declared, checked, True)
    splits = check_splits(make_splits(declared, n, stratify_values, seed, groups), n)
    return splits, split_spec(declared, splits, False, groups)
