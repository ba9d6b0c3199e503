"""Analyses of score datasets: layer profiles, layer-region correspondence, consistency, clustermaps.

Each analysis is a plugin (``[analyses.ID]`` in a manifest) implementing the tiny
:class:`Analysis` contract (see :mod:`brainbench.analyses.base`); :func:`analyze` scores
(with a cache) and runs one, and ``brainbench analyze`` is its command line. The public
API (docs/api.md) is this package's ``__all__``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from brainbench.faces import lazy_face

if TYPE_CHECKING:  # pragma: no cover - what mypy and readers see; _HOMES says the same
    from brainbench.analyses.base import Analysis, AnalysisError, AnalysisResult, combine_scores, summary_numbers
    from brainbench.analyses.runner import analyze, load_analysis, run_analysis

#: Where each public name is defined. The face is lazy: importing this package (or any
#: module in it) imports none of them; each is imported on first use.
_HOMES = {
    "Analysis": "brainbench.analyses.base",
    "AnalysisError": "brainbench.analyses.base",
    "AnalysisResult": "brainbench.analyses.base",
    "combine_scores": "brainbench.analyses.base",
    "summary_numbers": "brainbench.analyses.base",
    "analyze": "brainbench.analyses.runner",
    "load_analysis": "brainbench.analyses.runner",
    "run_analysis": "brainbench.analyses.runner",
}

__all__ = [
    "Analysis",
    "AnalysisError",
    "AnalysisResult",
    "analyze",
    "combine_scores",
    "load_analysis",
    "run_analysis",
    "summary_numbers",
]

if not TYPE_CHECKING:  # mypy reads the imports above: a misspelt name is an error, not Any
    __getattr__, __dir__ = lazy_face(__name__, _HOMES, __all__)
