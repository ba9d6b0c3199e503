"""A layer's scale does not change any score: the penalty grids are relative to the data.

An untrained MobileNetV2's deep blocks have a mean Gram eigenvalue of about 1e-13; an
absolute floor on that scale (``clamp_min(1e-12)``) shifted the ``simple`` grid there.
Multiplying a layer's features by about 1e-8 or 1e8 must leave every readout's out-of-fold
predictions, validation scores, r and EV as they are.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainbench.data.splits import Split
from brainbench.metrics.regression import explained_variance, pearson_r
from brainbench.readouts.cv import cross_validate
from brainbench.readouts.factored import FactoredReadout
from brainbench.readouts.ridge import RidgeReadout
from brainbench.readouts.sgd import SimpleSGDReadout
from brainbench.readouts.solvers.ridge import mean_eigenvalue
from brainbench.readouts.spatial import SpatialReadout

pytestmark = pytest.mark.usefixtures("one_torch_thread")

READOUTS = {
    "simple": lambda: RidgeReadout(alphas={"start": -4, "stop": 4, "num": 17}),
    "spatial-exact": lambda: SpatialReadout(laplace_ratios=[0.0, 10.0], alphas=[0.1, 1.0, 10.0]),
    "factored-als": lambda: FactoredReadout(n_iter=2),
    "simple-sgd": lambda: SimpleSGDReadout(l1=[0.0, 1.0], max_iter=20, patience=5),
}
# about 1e-8 and 1e8, as powers of two: multiplying by them is exact in float32 and float64,
# so any difference is the readout's dependence on scale, not the rounding of the product
SCALES = (2.0**-27, 2.0**27)


@pytest.fixture(scope="module")
def data():
    gen = torch.Generator().manual_seed(0)
    n, C, H, W, N = 40, 3, 5, 5, 4
    X = torch.randn(n, C, H, W, generator=gen, dtype=torch.float64)
    Y = X.flatten(1)[:, :N] * 2 + 0.5 * torch.randn(n, N, generator=gen, dtype=torch.float64)
    order = np.random.default_rng(0).permutation(n)
    splits = [Split(np.sort(order[10:]), np.sort(order[:10])), Split(np.sort(order[:30]), np.sort(order[30:]))]
    return X, Y, splits


def _scores(result, Y: torch.Tensor) -> dict[str, np.ndarray]:
    tested = ~np.isnan(result.predictions[:, 0])
    pooled, y = result.predictions[tested], Y.numpy()[tested]
    return {
        "predictions": result.split_predictions,
        "val_score": result.val_score,
        "r": pearson_r(pooled, y),
        "ev": explained_variance(pooled, y),
    }


@pytest.mark.parametrize("name", list(READOUTS))
def test_every_score_is_the_same_at_every_scale_of_the_features(name, data):
    X, Y, splits = data
    base = _scores(cross_validate(READOUTS[name](), X, Y, splits), Y)
    assert np.isfinite(base["r"]).all()
    for factor in SCALES:
        scaled = _scores(cross_validate(READOUTS[name](), X * factor, Y, splits), Y)
        for key, value in base.items():
            np.testing.assert_allclose(scaled[key], value, rtol=0, atol=1e-10, err_msg=f"{name} x {factor:g}: {key}")


def test_the_penalty_scale_follows_the_data_and_guards_a_layer_of_zeros():
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(30, 50, generator=gen, dtype=torch.float64)
    K = X @ X.T
    for factor in (1e-12, 1e-8, 1.0, 1e8):
        assert mean_eigenvalue(K * factor**2).item() == pytest.approx(mean_eigenvalue(K).item() * factor**2, rel=1e-12)
    # features constant up to rounding: the floor is the rounding left by centring, not an absolute number
    constant = torch.full((30, 50), 3.0, dtype=torch.float64) + 1e-20 * X
    Kc = constant @ constant.T
    assert 0 < mean_eigenvalue(Kc).item() <= 1e-12 * Kc.diagonal().mean().item()
    zeros = torch.zeros(30, 30, dtype=torch.float64)
    assert mean_eigenvalue(zeros).item() == 1.0
    # a layer of zeros predicts the training mean at every penalty, without NaN
    Y = torch.randn(30, 3, generator=gen, dtype=torch.float64)
    readout = RidgeReadout().fit(torch.zeros(30, 4, dtype=torch.float64), Y)
    prediction = readout.predict(torch.zeros(5, 4, dtype=torch.float64))
    torch.testing.assert_close(prediction, Y.mean(0).expand(5, 3))
