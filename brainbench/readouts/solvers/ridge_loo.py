"""Import path kept for existing code: the batched ridge lives in :mod:`brainbench.readouts.solvers.ridge`."""

from brainbench.readouts.solvers.ridge import loo_ridge_batched, ridge_batched

__all__ = ["loo_ridge_batched", "ridge_batched"]
