"""Analyses never change the matplotlib backend a notebook or script chose, and keep no pyplot state."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

# Runs in a fresh interpreter: the backend is chosen before brainbench is imported, as a
# notebook (``%matplotlib ...``) or a script (``matplotlib.use``) would.
SCRIPT = """
import sys
import matplotlib

matplotlib.use(sys.argv[1])

import brainbench.analyses  # noqa: F401
from brainbench.analyses.clustermap import Clustermap
from brainbench.analyses.ev_distribution import EVDistribution
from brainbench.analyses.layer_correspondence import LayerCorrespondence
from brainbench.analyses.layer_profile import LayerProfile
from brainbench.analyses.preferred_layer import PreferredLayer
from brainbench.analyses.profile_consistency import ProfileConsistency
from helpers.analysis_fixtures import synthetic_scores  # tests/ is on PYTHONPATH

assert matplotlib.get_backend() == sys.argv[1], ("import", matplotlib.get_backend())
scores = synthetic_scores({"VISl": 1, "VISam": 4, "VISp": 0}, n_per_region=6, n_stimuli=30)
params = {LayerCorrespondence: {"n_boot": 20}, ProfileConsistency: {"n_permutations": 20}}
for analysis in (LayerProfile, LayerCorrespondence, ProfileConsistency, Clustermap, EVDistribution,
                 PreferredLayer):
    result = analysis().run([scores], **params.get(analysis, {}))
    pyplot = sys.modules.get("matplotlib.pyplot")
    assert pyplot is None or not pyplot.get_fignums(), (analysis.name, "left figures in pyplot")
    result.write(sys.argv[2] + "/" + analysis.name)
    result.close()
    assert matplotlib.get_backend() == sys.argv[1], (analysis.name, matplotlib.get_backend())
print("backend", matplotlib.get_backend())
"""


def test_analyses_keep_the_chosen_backend(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    env["MPLCONFIGDIR"] = str(tmp_path / "mplconfig")
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])])
    # "svg" and "pdf" are non-interactive backends other than Agg, so they run headless.
    for backend in ("svg", "pdf"):
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, backend, str(tmp_path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.strip().splitlines()[-1] == f"backend {backend}"
    assert (tmp_path / "clustermap" / "clustermap.png").stat().st_size > 10_000
