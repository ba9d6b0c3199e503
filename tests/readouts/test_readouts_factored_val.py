"""The factored ``als`` validation score is honest: it ranks layers as held-out data do.

Planted case: a small "true" layer (4 channels) carries a mask x features signal with
population R^2 0.5; a "big" layer (64 channels) holds the true channels diluted in noise
plus 60 pure-noise channels, i.e. capacity to fit noise. The scorer picks the layer with
the highest median ``val_score_`` (training data only), so that score must track the
held-out R^2 and rank the true layer first.
"""

from __future__ import annotations

import pytest
import torch

from brainbench.readouts.base import r2_columns
from brainbench.readouts.factored import FactoredReadout

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _bump(H: int, W: int, centre: tuple[float, float], width: float) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    return torch.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * width**2)).double()


def _two_layers(seed: int, n: int = 600, N: int = 16, c_big: int = 64):
    """``(X_true (n, 4, 8, 8), X_big (n, c_big, 8, 8), Y (n, N))``, population R^2 0.5."""
    gen = torch.Generator().manual_seed(seed)
    C, H, W = 4, 8, 8
    X_true = torch.randn(n, C, H, W, generator=gen, dtype=torch.float64)
    kernels = torch.zeros(N, C, H, W, dtype=torch.float64)
    for j in range(N):
        centre = (1 + 6 * torch.rand(1, generator=gen).item(), 1 + 6 * torch.rand(1, generator=gen).item())
        kernels[j] = torch.randn(C, 1, 1, generator=gen, dtype=torch.float64) * _bump(H, W, centre, 1.0)
    signal = torch.einsum("nchw,lchw->nl", X_true, kernels)
    Y = signal + signal.std(0) * torch.randn(signal.shape, generator=gen, dtype=torch.float64)
    X_big = torch.randn(n, c_big, H, W, generator=gen, dtype=torch.float64)
    X_big[:, :C] += 0.3 * X_true
    return X_true, X_big, Y


@pytest.mark.parametrize("seed", [0, 1])
def test_als_val_score_ranks_the_true_layer_and_tracks_held_out_r2(seed):
    X_true, X_big, Y = _two_layers(seed)
    tr, te = slice(0, 400), slice(400, None)
    val, test = {}, {}
    for name, X in (("true", X_true), ("big", X_big)):
        fit = FactoredReadout(solver="als", dtype="float64").fit(X[tr], Y[tr])
        val[name] = fit.val_score_
        test[name] = r2_columns(Y[te], fit.predict(X[te]).double())
        # inner holdout of 60 stimuli, 200 test stimuli, 16 neuroids: the medians agreed to
        # 0.07 over seeds 0-5 (the old last-mask-step LOO was off by ~0.8 on the big layer)
        assert abs(val[name].median() - test[name].median()) < 0.15, (name, val[name], test[name])
    assert test["true"].median() > test["big"].median() + 0.3  # the planted truth
    assert val["true"].median() > val["big"].median() + 0.3  # what the scorer sees
    assert (val["true"] > val["big"]).float().mean() >= 0.9


def test_loo_of_the_last_mask_step_is_the_optimism_that_was_fixed():
    # val_fraction = 0 keeps the previous score (LOO of the last mask step): on the
    # noise-fitting layer it is positive while held-out R^2 is strongly negative, so the
    # tracking assertion above would fail for it by a wide margin
    _, X_big, Y = _two_layers(0)
    loo = FactoredReadout(solver="als", val_fraction=0.0, n_iter=5, dtype="float64").fit(X_big[:400], Y[:400])
    held_out = r2_columns(Y[400:], loo.predict(X_big[400:]).double())
    assert loo.val_score_.median() > 0 > held_out.median()
    assert loo.val_score_.median() > held_out.median() + 0.5


def test_als_inner_split_is_seeded():
    X_true, _, Y = _two_layers(2, n=120, N=4)
    runs = [FactoredReadout(solver="als", seed=s, dtype="float64").fit(X_true, Y) for s in (0, 0, 1)]
    assert torch.equal(runs[0].val_score_, runs[1].val_score_)
    assert torch.equal(runs[0].predict(X_true), runs[1].predict(X_true))
    assert not torch.equal(runs[0].val_score_, runs[2].val_score_)
