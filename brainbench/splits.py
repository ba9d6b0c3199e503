"""Seeded train/test splits of stimuli (k-fold, stratified k-fold, repeated holdout)."""

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


def make_splits(spec: SplitSpec, n: int, stratify_values: Sequence | None = None,
                seed: int = 0) -> list[Split]:
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
        raise BrainbenchError(f"{spec.n_splits} folds need at least as many stimuli; there are {n}.")
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
    return [Split(train=np.flatnonzero(fold != k), test=np.flatnonzero(fold == k))
            for k in range(spec.n_splits)]
