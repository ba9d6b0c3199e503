"""The readout contract: clone-safe estimators, solvers by name, streamed features, one CV loop."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from brainbench.data.splits import Split
from brainbench.errors import BrainbenchError
from brainbench.readouts import cv as cv_module
from brainbench.readouts.base import clone
from brainbench.readouts.cv import cross_validate
from brainbench.readouts.factored import FactoredReadout
from brainbench.readouts.ridge import RidgeReadout
from brainbench.readouts.sgd import SimpleSGDReadout
from brainbench.readouts.solvers import generalized
from brainbench.readouts.spatial import SpatialReadout
from brainbench.scoring.activations import NpyRows

pytestmark = pytest.mark.usefixtures("one_torch_thread")

READOUTS = {
    "simple": lambda: RidgeReadout(alphas={"start": -2, "stop": 2, "num": 5}),
    "simple-sgd": lambda: SimpleSGDReadout(l1=[0.0, 1.0], max_iter=20, patience=5),
    "spatial-exact": lambda: SpatialReadout(laplace_ratios=[0.0, 10.0], alphas=[0.1, 1.0, 10.0]),
    "spatial-adam": lambda: SpatialReadout(solver="adam", l1=0.1, max_iter=20, patience=5),
    "factored-als": lambda: FactoredReadout(n_iter=2),
    "factored-adam": lambda: FactoredReadout(solver="adam", max_iter=20, patience=5),
}


def _data(n=40, C=3, H=5, W=5, N=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, C, H, W, generator=gen)
    Y = X.flatten(1)[:, :N] * 2 + 0.5 * torch.randn(n, N, generator=gen)
    order = np.random.default_rng(seed).permutation(n)
    splits = [Split(np.sort(order[10:]), np.sort(order[:10])), Split(np.sort(order[:30]), np.sort(order[30:]))]
    return X, Y.double(), splits


@pytest.mark.parametrize("name", list(READOUTS))
def test_readouts_are_clone_safe(name):
    X, Y, splits = _data()
    readout = READOUTS[name]()
    before = readout.get_params()
    first = cross_validate(readout, X, Y, splits)
    assert readout.get_params() == before
    assert not [k for k in vars(readout) if k.endswith("_")], "cross_validate fitted the readout it was given"
    second = cross_validate(readout, X, Y, splits)
    np.testing.assert_array_equal(first.split_predictions, second.split_predictions)
    np.testing.assert_array_equal(first.val_score, second.val_score)
    readout.fit(X, Y.float())
    assert readout.get_params() == before, "fit changed a constructor argument"
    fresh = clone(readout)
    assert fresh.get_params() == before
    assert not [k for k in vars(fresh) if k.endswith("_")]


def test_the_solver_run_is_reported_not_written_into_the_parameters():
    X, Y, splits = _data()
    readout = SpatialReadout(solver="exact", l1=0.5, max_iter=10)
    result = cross_validate(readout, X, Y, splits)
    assert readout.solver == "exact" and result.info["solver"] == "adam"


@pytest.mark.parametrize(
    "make",
    [
        lambda: RidgeReadout(solver="cg"),
        lambda: SimpleSGDReadout(solver="lbfgs"),
        lambda: SpatialReadout(solver="newton"),
        lambda: FactoredReadout(solver="em"),
    ],
)
def test_an_unknown_solver_is_one_sentence_at_fit(make):
    readout = make()  # constructing never fails
    X, Y, _ = _data(n=12)
    with pytest.raises(BrainbenchError) as error:
        readout.fit(X, Y)
    message = str(error.value)
    assert "solver must be one of" in message and message.endswith(".") and message.count(". ") == 0


class CountingRows:
    """A feature source that records every row slice read and refuses to be read whole."""

    def __init__(self, rows: NpyRows) -> None:
        self.rows, self.reads = rows, []
        self.shape, self.dtype = rows.shape, rows.dtype

    def __getitem__(self, index):
        assert isinstance(index, slice), "read by a non-slice index"
        start, stop, _ = index.indices(self.shape[0])
        self.reads.append(stop - start)
        return self.rows[index]

    def __array__(self, dtype=None, copy=None):
        raise AssertionError("the whole source was read with np.asarray")


@pytest.fixture
def source(tmp_path):
    X, Y, splits = _data(n=60, C=4, H=6, W=6, N=3, seed=1)
    np.save(tmp_path / "layer.npy", X.numpy())
    return X, Y, splits, tmp_path / "layer.npy"


def test_ridge_streams_row_blocks_and_matches_fit_predict(source):
    X, Y, splits, path = source
    rows = CountingRows(NpyRows(path))
    readout = RidgeReadout(alphas={"start": -2, "stop": 2, "num": 9})
    import brainbench.readouts.ridge as ridge_module

    original = ridge_module.gram
    ridge_module.gram = lambda features, device=None: original(features, block=16, device=device)
    try:
        result = cross_validate(readout, rows, Y, splits)
    finally:
        ridge_module.gram = original
    assert max(rows.reads) <= 16 < X.shape[0]
    for k, split in enumerate(splits):
        single = RidgeReadout(alphas={"start": -2, "stop": 2, "num": 9}).fit(X[split.train].double(), Y[split.train])
        np.testing.assert_allclose(
            result.split_predictions[k, split.test], single.predict(X[split.test].double()), atol=1e-5
        )


def test_spatial_exact_streams_row_blocks_with_the_same_predictions(source, monkeypatch):
    X, Y, splits, path = source
    whole = cross_validate(SpatialReadout(), X, Y, splits)
    rows = CountingRows(NpyRows(path))
    row_bytes = int(np.prod(X.shape[1:])) * 4
    monkeypatch.setattr(generalized, "GRAM_BLOCK_BYTES", 7 * row_bytes)
    streamed = cross_validate(SpatialReadout(), rows, Y, splits)
    assert max(rows.reads) == 7 < X.shape[0]
    np.testing.assert_allclose(streamed.split_predictions, whole.split_predictions, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(streamed.val_score, whole.val_score, atol=1e-5)


def test_readouts_that_need_the_whole_layer_read_it_in_blocks(source):
    X, Y, splits, path = source
    rows = CountingRows(NpyRows(path))
    streamed = cross_validate(FactoredReadout(n_iter=2), rows, Y, splits)
    whole = cross_validate(FactoredReadout(n_iter=2), X, Y, splits)
    assert rows.reads and sum(rows.reads) == X.shape[0]  # once, by slices
    np.testing.assert_array_equal(streamed.split_predictions, whole.split_predictions)


def test_the_scorer_cross_validates_every_readout_the_same_way():
    from brainbench.scoring import fit

    source = inspect.getsource(fit.cross_validate)
    body = source.split('"""')[-1]
    for word in ("uses_gram", "needs_spatial", "isinstance", "np.array", "reshape", "if ", "solver"):
        assert word not in body, word
    assert "run(readout, features, Y, splits)" in body
    assert "for k, split in enumerate(splits)" in inspect.getsource(cv_module.cross_validate)
