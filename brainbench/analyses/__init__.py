"""Analyses of score datasets: layer profiles, layer-region correspondence, consistency, clustermaps.

Each analysis is a plugin (``[analyses.ID]`` in a manifest) implementing the tiny
:class:`~brainbench.analyses.base.Analysis` contract; :func:`analyze` scores (with a
cache) and runs one, and ``brainbench analyze`` is its command line.
"""

from brainbench.analyses.base import Analysis, AnalysisError, AnalysisResult, combine_scores, summary_numbers
from brainbench.analyses.runner import analyze, load_analysis, run_analysis

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
