"""The paper's readouts (simple-sgd, spatial, factored) on planted-truth synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainbench.errors import BrainbenchError
from brainbench.readouts.base import Split, r2_columns
from brainbench.readouts.cv import cross_validate
from brainbench.readouts.factored import FactoredReadout
from brainbench.readouts.sgd import SimpleSGDReadout
from brainbench.readouts.spatial import SpatialReadout
from brainbench.readouts.subsample import DEFAULT_SUBSAMPLE, subsample_units

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _bump(H, W, centre, width):
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    return torch.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * width**2)).double()


def _respond(X, kernels, r2, gen):
    """Responses with a known population R^2: noise variance = signal var * (1 - r2) / r2."""
    signal = torch.einsum("nchw,lchw->nl", X, kernels)
    noise_sd = signal.std(0) * np.sqrt((1 - r2) / r2)
    return signal + noise_sd * torch.randn(signal.shape, generator=gen, dtype=X.dtype)


def _smooth_kernels(N, C, H, W, gen):
    out = torch.zeros(N, C, H, W, dtype=torch.float64)
    for j in range(N):
        centre = (2 + 4 * torch.rand(1, generator=gen).item(), 2 + 4 * torch.rand(1, generator=gen).item())
        out[j] = _bump(H, W, centre, 1.8) * torch.randn(C, 1, 1, generator=gen, dtype=torch.float64)
    return out


def test_spatial_exact_and_adam_agree_on_l2_plus_laplacian():
    gen = torch.Generator().manual_seed(0)
    n, C, H, W, N = 60, 2, 6, 6, 3
    X = torch.randn(n, C, H, W, generator=gen, dtype=torch.float64)
    Y = _respond(X, _smooth_kernels(N, C, H, W, gen), 0.8, gen)
    exact = SpatialReadout(solver="exact", l2=1.0, laplace=2.0, dtype="float64").fit(X[:45], Y[:45])
    adam = SpatialReadout(
        solver="adam", l2=1.0, laplace=2.0, val_fraction=0.0, max_iter=1500, lr=0.02, dtype="float64"
    ).fit(X[:45], Y[:45])
    p_exact, p_adam = exact.predict(X[45:]), adam.predict(X[45:])
    assert torch.allclose(p_adam, p_exact, rtol=0, atol=1e-3 * p_exact.abs().max().item())
    assert torch.allclose(adam.kernel(), exact.kernel(), atol=1e-3 * exact.kernel().abs().max().item())
    assert exact.solver == "exact" and adam.solver == "adam"


def test_spatial_beats_plain_ridge_at_small_n_on_smooth_kernels():
    from brainbench.readouts.ridge import RidgeReadout

    gen = torch.Generator().manual_seed(1)
    n_train, n_test, C, H, W, N = 50, 200, 3, 9, 9, 6
    X = torch.randn(n_train + n_test, C, H, W, generator=gen, dtype=torch.float64)
    Y = _respond(X, _smooth_kernels(N, C, H, W, gen), 0.8, gen)
    tr, te = slice(0, n_train), slice(n_train, None)
    spatial = SpatialReadout(dtype="float64").fit(X[tr], Y[tr])
    ridge = RidgeReadout(alphas={"start": -3, "stop": 4, "num": 15}).fit(X[tr].reshape(n_train, -1), Y[tr])
    r2_spatial = r2_columns(Y[te], spatial.predict(X[te]))
    r2_ridge = r2_columns(Y[te], ridge.predict(X[te].reshape(n_test, -1)))
    assert r2_spatial.median() > r2_ridge.median() + 0.15
    assert (r2_spatial > r2_ridge).all()


def test_inner_loo_picks_the_laplacian_for_smooth_kernels_and_not_for_rough_ones():
    gen = torch.Generator().manual_seed(2)
    n, C, H, W, N = 80, 2, 8, 8, 8
    X = torch.randn(n, C, H, W, generator=gen, dtype=torch.float64)
    smooth = _respond(X, _smooth_kernels(N, C, H, W, gen), 0.8, gen)
    rough_kernels = torch.zeros(N, C, H, W, dtype=torch.float64)
    for j in range(N):  # a few isolated pixels: the Laplacian penalty fights them
        idx = torch.randperm(C * H * W, generator=gen)[:4]
        rough_kernels[j].view(-1)[idx] = torch.randn(4, generator=gen, dtype=torch.float64)
    rough = _respond(X, rough_kernels, 0.8, gen)
    ratio = {}
    for name, Y in (("smooth", smooth), ("rough", rough)):
        fit = SpatialReadout(dtype="float64").fit(X, Y)
        p = fit.chosen_params()
        ratio[name] = p["laplace"] / p["l2"]
    assert (ratio["smooth"] > 0).float().mean() >= 0.75
    assert (ratio["rough"] == 0).float().mean() >= 0.75


def test_spatial_cross_validate_equals_fit_predict_per_split():
    gen = torch.Generator().manual_seed(3)
    n, C, H, W, N = 40, 2, 5, 5, 3
    X = torch.randn(n, C, H, W, generator=gen, dtype=torch.float64)
    Y = _respond(X, _smooth_kernels(N, C, H, W, gen), 0.7, gen)
    order = np.random.default_rng(0).permutation(n)
    splits = [Split(np.sort(order[10:]), np.sort(order[:10])), Split(np.sort(order[:30]), np.sort(order[30:]))]
    cv = cross_validate(SpatialReadout(dtype="float64"), X, Y, splits)
    for k, split in enumerate(splits):
        single = SpatialReadout(dtype="float64").fit(X[split.train], Y[split.train])
        expected = single.predict(X[split.test]).numpy()
        np.testing.assert_allclose(cv.split_predictions[k, split.test], expected, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(cv.val_score[k], single.val_score_.numpy(), rtol=1e-7)


def _factored_problem(seed, n, r2=0.8):
    gen = torch.Generator().manual_seed(seed)
    C, H, W, N = 6, 9, 9, 4
    X = torch.relu(torch.randn(n, C, H, W, generator=gen, dtype=torch.float64))
    centres = [(2, 2), (6, 6), (2, 6), (6, 2)]
    kernels = torch.zeros(N, C, H, W, dtype=torch.float64)
    for j, c in enumerate(centres):
        feat = torch.zeros(C, dtype=torch.float64)
        feat[j % C], feat[(j + 2) % C] = 1.0, -0.7  # a sparse feature vector
        kernels[j] = feat[:, None, None] * _bump(H, W, c, 0.8)
    return X, _respond(X, kernels, r2, gen), centres


def test_factored_als_recovers_mask_location_and_known_r2():
    X, Y, centres = _factored_problem(4, 700)
    tr, te = slice(0, 500), slice(500, None)
    fit = FactoredReadout(solver="als").fit(X[tr], Y[tr])
    peaks = fit.masks().abs().flatten(1).argmax(1)
    assert [(int(p) // 9, int(p) % 9) for p in peaks] == centres
    r2 = r2_columns(Y[te], fit.predict(X[te]).double())
    # the population R^2 is 0.8; 200 test stimuli give sampling error of a few hundredths
    assert torch.all((r2 > 0.68) & (r2 < 0.9)), r2
    assert torch.all((fit.val_score_ > 0.65) & (fit.val_score_ < 0.9))


def test_factored_als_cross_validate_equals_fit_predict_per_split():
    # cross-validation shares one layout of the whole layer (centred and scaled over all
    # stimuli, one Gram matrix); fit() builds its own from the training stimuli only. The
    # centre and scale must change no prediction, validation score or penalty.
    X, Y, _ = _factored_problem(6, 160)
    order = np.random.default_rng(1).permutation(160)
    splits = [Split(np.sort(order[40:]), np.sort(order[:40])), Split(np.sort(order[:120]), np.sort(order[120:]))]
    cv = cross_validate(FactoredReadout(dtype="float64"), X, Y, splits)
    for k, split in enumerate(splits):
        single = FactoredReadout(dtype="float64").fit(X[split.train], Y[split.train])
        expected = single.predict(X[split.test]).numpy()
        np.testing.assert_allclose(cv.split_predictions[k, split.test], expected, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(cv.val_score[k], single.val_score_.numpy(), rtol=1e-7, atol=1e-10)
        for name in ("rel_alpha_feature", "rel_alpha_mask"):
            np.testing.assert_allclose(cv.params[name][k], single.chosen_params()[name].numpy(), rtol=1e-7)
        np.testing.assert_allclose(cv.params["laplace_ratio"][k], single.laplace_ratio_.numpy())


def test_factored_als_feature_penalty_is_one_grid_value_per_batch():
    X, Y, _ = _factored_problem(7, 300)
    grid = (0.03, 0.1, 0.3, 1.0, 3.0)
    chosen = set()
    for batch in (4, 2, 1):
        rel = FactoredReadout(dtype="float64", feature_alphas=grid, neuroid_batch=batch).fit(X, Y).als_.rel_feature
        for start in range(0, 4, batch):
            values = rel[start : start + batch]
            assert torch.equal(values, values[0].expand_as(values))
            assert min(abs(float(values[0]) - g) / g for g in grid) < 1e-12
        chosen.add(tuple(rel.tolist()))
    # one value per batch, so batches of one neuroid may choose differently
    assert len(chosen) > 1


def test_factored_adam_recovers_mask_location():
    X, Y, centres = _factored_problem(5, 400, r2=0.9)
    fit = FactoredReadout(solver="adam", max_iter=800, lr=3e-3, patience=200).fit(X[:300], Y[:300])
    peaks = fit.masks().abs().flatten(1).argmax(1)
    hits = sum((int(p) // 9, int(p) % 9) == c for p, c in zip(peaks, centres, strict=True))
    assert hits >= 3
    r2 = r2_columns(Y[300:], fit.predict(X[300:]).double())
    assert r2.median() > 0.5


def test_simple_sgd_l1_recovers_a_sparse_map():
    gen = torch.Generator().manual_seed(6)
    n, F = 150, 120
    X = torch.randn(n, F, generator=gen, dtype=torch.float64)
    support = torch.tensor([3, 40, 77, 101])
    w = torch.zeros(F, dtype=torch.float64)
    w[support] = torch.tensor([1.0, -1.0, 0.8, -0.6], dtype=torch.float64)
    Y = (X @ w + 0.3 * torch.randn(n, generator=gen, dtype=torch.float64))[:, None]
    mass = {}
    for l1 in (0.0, 10.0):
        fit = SimpleSGDReadout(l1=l1, l2=0.0, lr=0.01, max_iter=1500, patience=300, dtype="float64").fit(X, Y)
        coef = fit.coef_[0].abs()
        mass[l1] = (coef[support].sum() / coef.sum()).item()
        if l1 > 0:
            assert set(coef.topk(4).indices.tolist()) == set(support.tolist())
    assert mass[10.0] > 0.8
    assert mass[10.0] > mass[0.0] + 0.2


def test_same_seed_same_numbers_and_seed_changes_the_subsample():
    gen = torch.Generator().manual_seed(7)
    X = torch.randn(50, 3, 6, 6, generator=gen)
    Y = torch.randn(50, 4, generator=gen)
    runs = [SimpleSGDReadout(subsample_features=40, max_iter=60, seed=s).fit(X, Y) for s in (0, 0, 1)]
    assert torch.equal(runs[0].predict(X), runs[1].predict(X))
    assert torch.equal(runs[0].units_, runs[1].units_)
    assert not torch.equal(runs[0].units_, runs[2].units_)
    facs = [FactoredReadout(solver="adam", max_iter=40, seed=0).fit(X, Y) for _ in range(2)]
    assert torch.equal(facs[0].predict(X), facs[1].predict(X))


def test_subsample_semantics():
    assert subsample_units(5000, None, 0) is None
    assert len(subsample_units(5000, True, 0)) == DEFAULT_SUBSAMPLE
    assert len(subsample_units(5000, 0.1, 0)) == 500
    kept = subsample_units(5000, 300, 3)
    assert len(kept) == 300 and len(set(kept.tolist())) == 300 and kept.max() < 5000
    assert subsample_units(100, 1000, 0) is None  # asking for more than exist keeps all


def test_l1_forces_adam_and_bad_solver_is_a_clear_error():
    from brainbench.errors import BrainbenchError

    # constructor arguments are kept as given; fit resolves the solver it runs into solver_
    X, Y = torch.randn(12, 1, 3, 3), torch.randn(12, 1)
    l1 = SpatialReadout(solver="exact", l1=1.0, max_iter=5)
    assert l1.resolve_solver() == "adam" and l1.fit(X, Y).solver_ == "adam" and l1.solver == "exact"
    with pytest.raises(BrainbenchError, match="solver"):
        FactoredReadout(solver="newton").fit(X, Y)
    with pytest.raises(BrainbenchError, match="l2 > 0 or laplace > 0"):
        SpatialReadout(l2=0.0, laplace=0.0).fit(torch.randn(10, 1, 3, 3), torch.randn(10, 1))


@pytest.mark.parametrize("params", [{"n_iter": 0}, {"refit_iter": -1}])
def test_factored_als_refuses_an_impossible_number_of_sweeps(params):
    X, Y, _ = _factored_problem(8, 40)
    with pytest.raises(BrainbenchError, match="n_iter >= 1 and refit_iter >= 0"):
        FactoredReadout(**params).fit(X, Y)
