"""Training-fold standardisation that makes the penalty weights of eq. 4-5 dimensionless.

Features: each unit is centred on the training stimuli and the whole layer is divided by
one scalar, the root-mean-square of the centred training features, so that the average
unit has unit variance while the relative scale of units (and so the spatial structure
the Laplacian penalty acts on) is kept. Responses: each neuroid is z-scored on the
training stimuli. The unpenalised bias ``b_l`` of eq. 1-3 is the training mean that
centring removes, restored in :meth:`Standardizer.unscale_y`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Standardizer:
    """Affine maps fitted on training data.

    Attributes:
        x_mean: ``(1, *feature_shape)`` per-unit training mean.
        x_scale: scalar tensor, RMS of the centred training features.
        y_mean: ``(N,)`` training mean per neuroid.
        y_std: ``(N,)`` training standard deviation per neuroid (1 where it is 0).
    """

    x_mean: torch.Tensor
    x_scale: torch.Tensor
    y_mean: torch.Tensor
    y_std: torch.Tensor

    @classmethod
    def fit(cls, X: torch.Tensor, Y: torch.Tensor) -> Standardizer:
        """``X`` ``(n, ...)``, ``Y`` ``(n, N)``."""
        x_mean = X.mean(0, keepdim=True)
        x_scale = (X - x_mean).pow(2).mean().sqrt()
        x_scale = torch.where(x_scale > 0, x_scale, torch.ones_like(x_scale))
        return cls(x_mean, x_scale, *response_scale(Y))

    def x(self, X: torch.Tensor) -> torch.Tensor:
        return (X - self.x_mean.to(X.dtype)) / self.x_scale.to(X.dtype)

    def y(self, Y: torch.Tensor) -> torch.Tensor:
        return (Y - self.y_mean.to(Y.dtype)) / self.y_std.to(Y.dtype)

    def unscale_y(self, Y: torch.Tensor, columns: slice | torch.Tensor | None = None) -> torch.Tensor:
        mean, std = self.y_mean, self.y_std
        if columns is not None:
            mean, std = mean[columns], std[columns]
        return Y * std.to(Y.dtype) + mean.to(Y.dtype)


def response_scale(Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N,)`` training mean and standard deviation (1 where it is 0) of ``Y`` ``(n, N)``."""
    y_std = Y.std(0, unbiased=False)
    return Y.mean(0), torch.where(y_std > 0, y_std, torch.ones_like(y_std))
