"""Import path kept for existing code: the dual ridge lives in :mod:`brainbench.readouts.solvers.ridge`."""

from brainbench.readouts.solvers.common import alpha_grid
from brainbench.readouts.solvers.ridge import (
    DualRidgeFit,
    center_test,
    center_train,
    fit_dual_ridge_loo,
    gram,
    predict_dual_ridge,
)

__all__ = [
    "DualRidgeFit",
    "alpha_grid",
    "center_test",
    "center_train",
    "fit_dual_ridge_loo",
    "gram",
    "predict_dual_ridge",
]
