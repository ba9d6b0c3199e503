"""Import path kept for existing code: the Laplacian penalty lives in :mod:`brainbench.readouts.solvers.laplacian`."""

from brainbench.readouts.solvers.laplacian import (
    LAPLACE_3X3,
    laplace_kernel,
    laplacian,
    laplacian_operator,
    laplacian_penalty,
    penalty_eigh,
)

__all__ = ["LAPLACE_3X3", "laplace_kernel", "laplacian", "laplacian_operator", "laplacian_penalty", "penalty_eigh"]
