"""Brain-Score's PLS regression metric (brainscore-vision 2.4.2, ``load_metric('pls')``).

brainscore-vision pins ``numpy<2``, ``scikit-learn<1.6`` and (through brainscore-core)
``xarray<2022.6``, so it lives in its own virtual environment, built on first use by
:func:`ensure_venv` under ``.bench-venv-brainscore/`` (git-ignored). The suite's worker
runs inside that environment and calls :func:`run` there.

``BS_INSTALL_DEPENDENCIES=no`` is always set: otherwise Brain-Score's plugin loader
pip-installs each plugin's requirements into whatever ``pip`` is on PATH.

Only what ``load_metric('pls')`` imports is installed: brainscore-vision and
brainscore-core without dependencies, then their light dependencies. torch,
torchvision, jupyter, opencv-python and eva-decord (several GB) are left out because
the metric never imports them; the PLS itself is scikit-learn's ``PLSRegression``
(25 components, ``scale=False``) wrapped in Brain-Score's ``XarrayRegression``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

VENV = Path(__file__).resolve().parents[2] / ".bench-venv-brainscore"
PACKAGES = ["brainscore-vision==2.4.2", "brainscore-core==2.5.0"]
DEPENDENCIES = [
    "numpy<2",
    "scikit-learn<1.6",
    "scipy",
    "xarray<2022.6",
    "pandas<2",
    "tqdm",
    "PyYAML",
    "netCDF4",
    "Pillow",
    "boto3",
    "fire",
    "peewee",
    "psycopg2-binary",
    "pybtex",
    "requests",
    "gitpython",
    "h5py",
    "importlib-metadata<5",
    "networkx",
    "psutil",
    "result-caching",
]


def python() -> Path:
    return VENV / "bin" / "python"


def environment() -> dict[str, str]:
    return {**os.environ, "BS_INSTALL_DEPENDENCIES": "no"}


def ensure_venv(log=print) -> Path:
    """Build the Brain-Score environment if it does not import yet; returns its python.

    Raises:
        RuntimeError: with pip's last lines, when the environment cannot be built.
    """
    check = [str(python()), "-c", "from brainscore_vision import load_metric; load_metric('pls')"]
    if python().is_file() and subprocess.run(check, env=environment(), capture_output=True).returncode == 0:
        return python()
    log(f"building the Brain-Score environment in {VENV} (first use, about 2 minutes)")
    base = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [base, "-m", "venv", str(VENV)],
        [str(python()), "-m", "pip", "install", "-q", "--no-deps", *PACKAGES],
        [str(python()), "-m", "pip", "install", "-q", *DEPENDENCIES],
    ]
    for step in steps:
        done = subprocess.run(step, env=environment(), capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
            raise RuntimeError(f"{' '.join(step[:4])} ... failed:\n{tail}")
    done = subprocess.run(check, env=environment(), capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"the Brain-Score environment does not import load_metric('pls'):\n{tail}")
    return python()


def run(X: np.ndarray, Y: np.ndarray, splits, alphas=None, device: str = "cpu") -> np.ndarray:
    """Pooled out-of-fold predictions ``(n, N)`` from Brain-Score's PLS regression.

    Runs inside the Brain-Score environment. ``alphas`` is unused (PLS has none).
    Fits the regression object of ``load_metric('pls')`` on each of the suite's splits
    (instead of the metric's own random 90/10 splits) so that every method sees the
    same train/test stimuli.
    """
    os.environ["BS_INSTALL_DEPENDENCIES"] = "no"
    from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly
    from brainscore_vision import load_metric

    metric = load_metric("pls")
    n = X.shape[0]
    ids = np.array([f"s{k:06d}" for k in range(n)])

    def assembly(values: np.ndarray, rows: np.ndarray, prefix: str) -> NeuroidAssembly:
        # two coordinates per dimension, as in Brain-Score's own assemblies (with one, the
        # assembly turns it into the dimension's index and ``sortby("stimulus_id")`` fails)
        columns = np.arange(values.shape[1])
        return NeuroidAssembly(
            values[rows],
            dims=["presentation", "neuroid"],
            coords={
                "stimulus_id": ("presentation", ids[rows]),
                "stimulus_position": ("presentation", rows),
                "neuroid_id": ("neuroid", np.array([f"{prefix}{j}" for j in columns])),
                "neuroid_position": ("neuroid", columns),
            },
        )

    prediction = np.full(Y.shape, np.nan)
    for train, test in splits:
        metric.regression.fit(assembly(X, train, "f"), assembly(Y, train, "n"))
        predicted = metric.regression.predict(assembly(X, test, "f"))
        predicted = predicted.sortby("stimulus_id").transpose("presentation", "neuroid")
        # zero-padded ids sort like positions; neuroid ids give the column of each output
        columns = np.array([int(str(name)[1:]) for name in predicted["neuroid_id"].values])
        prediction[np.sort(test)[:, None], columns[None, :]] = np.asarray(predicted.values)
    return prediction
