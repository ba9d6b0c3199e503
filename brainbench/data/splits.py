"""Seeded train/test splits of stimuli (k-fold, stratified k-fold, repeated holdout).

:func:`run_splits` gives a run its splits and their record in one call: the caller's own
splits checked, or those the benchmark declares made (:func:`make_splits`) and checked.
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


def make_splits(spec: SplitSpec, n: int, stratify_values: Sequence | None = None, seed: int = 0) -> list[Split]:
    """Splits of ``n`` stimuli as declared by ``spec``.

    Args:
        spec: the benchmark's split declaration.
        n: number of stimuli.
        stratify_values: ``(n,)`` class labels when ``spec.stratify`` is set: each class
            is spread evenly over the folds, so with at least two stimuli per class every
            class appears in every training set and in every class's test fold.
        seed: run seed, combined with ``spec.seed``.
    """
    rng = np.random.default_rng([spec.seed, seed])
    if spec.kind == "holdout":
        n_test = max(1, round(n * spec.test_fraction))
        if n_test >= n:
            raise BrainbenchError(f"a holdout of {spec.test_fraction} leaves no training stimuli out of {n}.")
        splits = []
        for _ in range(spec.n_splits):
            order = rng.permutation(n)
            splits.append(Split(train=np.sort(order[n_test:]), test=np.sort(order[:n_test])))
        return splits
    if spec.n_splits > n:
        raise BrainbenchError(
            f"{spec.n_splits} folds need at least as many stimuli, but there are {n}; declare n_splits = {n} "
            f"or fewer (custom_benchmark(..., split={{'n_splits': {n}}}))."
        )
    fold = np.empty(n, dtype=np.int64)
    if spec.stratify:
        if stratify_values is None:
            raise BrainbenchError(f"split stratifies by {spec.stratify!r} but the stimuli have no such coordinate.")
        labels = np.asarray([str(v) for v in stratify_values])
        offset = 0
        for label in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == label))
            fold[members] = (offset + np.arange(len(members))) % spec.n_splits
            offset += len(members)
    else:
        fold[rng.permutation(n)] = np.arange(n) % spec.n_splits
    return [Split(train=np.flatnonzero(fold != k), test=np.flatnonzero(fold == k)) for k in range(spec.n_splits)]


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


def split_spec(spec: SplitSpec, splits: Sequence[Split], custom: bool) -> dict:
    """A JSON-able record of the splits used: the declaration, or for custom splits their sizes and hash."""
    if not custom:
        return {"custom": False, **spec.model_dump()}
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
) -> tuple[list[Split], dict]:
    """A run's splits of ``n`` stimuli and their record (:func:`split_spec`).

    Args:
        declared: the benchmark's split declaration.
        n: number of stimuli.
        own: the caller's own splits (see :func:`check_splits`), used instead of the declared ones.
        stratify_values: ``(n,)`` class labels when ``declared.stratify`` is set.
        seed: run seed (see :func:`make_splits`).

    Returns:
        ``(splits, record)``: the checked :class:`Split` objects, and the declaration or,
        for the caller's own splits, their sizes and sha256.
    """
    splits = check_splits(own if own is not None else make_splits(declared, n, stratify_values, seed), n)
    return splits, split_spec(declared, splits, own is not None)
