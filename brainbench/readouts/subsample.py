"""The paper's "subsampling": fit on a seeded random subset of a layer's model units.

Cocjin, Sanchez & Iglesias (Table 1, Sec. 4.1) subsample the artificial units before the
"simple" regression to fight the parameters >> stimuli problem; they do not say how
many. brainbench's "Yes" is ``DEFAULT_SUBSAMPLE = 1000`` units (a count, not a fraction,
so that every layer gets the same number of parameters per neuroid), drawn uniformly
without replacement from the ``C*H*W`` units with ``torch.Generator().manual_seed(seed)``.
The subset depends only on the layer's size and the seed, so every split of one score
uses the same units.
"""

from __future__ import annotations

import torch

DEFAULT_SUBSAMPLE = 1000


def subsample_units(n_units: int, subsample: int | float | bool | None, seed: int) -> torch.Tensor | None:
    """Sorted positions of the kept units of a flattened layer, or None to keep all.

    Args:
        n_units: ``C*H*W`` units of the layer.
        subsample: None/False/0 keeps all; True keeps :data:`DEFAULT_SUBSAMPLE`; an int
            keeps that many; a float in (0, 1] keeps that fraction.
        seed: seed of the draw.

    Returns:
        ``(k,)`` int64 positions (CPU), or None.
    """
    if subsample is None or subsample is False or subsample == 0:
        return None
    if subsample is True:
        count = DEFAULT_SUBSAMPLE
    elif isinstance(subsample, float) and subsample <= 1.0:
        count = max(1, int(round(subsample * n_units)))
    else:
        count = int(subsample)
    if count >= n_units:
        return None
    gen = torch.Generator().manual_seed(seed)
    return torch.randperm(n_units, generator=gen)[:count].sort().values
