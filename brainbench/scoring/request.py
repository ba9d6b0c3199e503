"""What to score and how: the two objects every scoring path takes whole.

A :class:`Request` holds everything that enters a run's content key (with the data and
the weights); an :class:`Execution` how it is computed (device, threads, caches,
progress, an output folder), none of which enters the key. They are checked together,
once, by :func:`brainbench.scoring.arguments.check_request`;
:func:`brainbench.results.runs.run` (re-exported there) finds or computes the run.
Nothing here imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from brainbench.models.base import TorchModel
    from brainbench.models.rdm import RDMModel
    from brainbench.registry.manifest import TokenRule
    from brainbench.scoring.benchmark import Benchmark

__all__ = ["Execution", "Request"]


@dataclass(frozen=True)
class Request:
    """What to score: everything here enters the run's content key (with the data and weights).

    Attributes:
        model: a model id, a :class:`~brainbench.models.base.TorchModel` or an RDM model.
        benchmark: a benchmark id (or alias) or a :class:`~brainbench.scoring.benchmark.Benchmark`.
        layers: layer names (None: every layer the model declares); any sequence, checked
            by :func:`~brainbench.scoring.arguments.check_request` (a bare string is refused).
        readout: a readout id overriding the benchmark's.
        readout_params: overrides of the readout's declared params.
        splits: the caller's own ``(train, test)`` splits (never remembered, never stored by request).
        seed: the run's seed.
        tokens: a token rule (:mod:`brainbench.models.tokens`) in place of the declared one of
            a model named by id; the run builds the model with it (None: the model's own).
    """

    model: str | TorchModel | RDMModel
    benchmark: str | Benchmark
    layers: Sequence[str] | None = None
    readout: str | None = None
    readout_params: dict[str, Any] | None = None
    splits: list | None = None
    seed: int = 0
    tokens: TokenRule | None = None


@dataclass(frozen=True)
class Execution:
    """How to compute a run; nothing here changes its numbers or its key.

    Attributes:
        device: ``auto``, ``cpu`` or ``cuda``.
        progress: show progress bars.
        use_cache: reuse a stored score and cached activations; False recomputes both
            (and records the new run in place of the old).
        batch_size: images per forward pass.
        threads: CPU threads for torch and BLAS (None: :func:`brainbench.scoring.threads.resolve_threads`).
        out: folder to also write ``<model>__<benchmark>.nc`` into.
    """

    device: str = "auto"
    progress: bool = True
    use_cache: bool = True
    batch_size: int = 32
    threads: int | None = None
    out: str | os.PathLike | None = None
