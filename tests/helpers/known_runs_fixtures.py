"""A seeded tiny model and a benchmark read from one declared data file, for the stored-run lookup tests.

Registered through a test-only manifest (:func:`write_manifest`); the data file lies in a
test mirror (``BRAINBENCH_MIRROR``) and is declared with its sha256, like a real dataset's.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from brainbench.assemblies.base import AssemblySource, LoadedAssembly
from brainbench.data.assembly import make_assembly
from brainbench.data.fetch import RemoteFile, fetch, load_npy
from brainbench.data.stimuli import StimulusSet

DATASET = "known-runs-test"
N_STIMULI, N_NEUROIDS, N_REPETITIONS = 24, 4, 4


def seeded_model(pretrained: bool = False, seed: int = 0):
    """Two seeded conv layers on 16x16 inputs (``pretrained`` must be False: there are no weights)."""
    import torch

    from brainbench.models.base import TorchModel

    assert not pretrained
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2, padding=1), torch.nn.ReLU())
    return TorchModel(net, {"c1": "1"})


class OneFile(AssemblySource):
    """Trial responses ``(repetition, stimulus, neuroid)`` from one declared ``.npy``; seeded images."""

    def __init__(self, sha256: str, path: str = "responses.npy") -> None:
        self.identifier = "one-file"
        self._remote = RemoteFile(DATASET, path, f"https://example.invalid/{path}", f"sha256:{sha256}")

    def remote_files(self) -> list[RemoteFile]:
        return [self._remote]

    def load(self, progress: bool = True) -> LoadedAssembly:
        trials = load_npy(fetch(self._remote, progress))
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, size=(N_STIMULI, 16, 16, 3), dtype=np.uint8)
        ids = [f"s{k:02d}" for k in range(N_STIMULI)]
        assembly = make_assembly(
            trials,
            stimulus_ids=ids,
            neuroid_ids=[f"n{k}" for k in range(N_NEUROIDS)],
            neuroid_coords={"subject": ["m1"] * N_NEUROIDS},
            identifier=self.identifier,
            species="simulated",
            units="a.u.",
        )
        return LoadedAssembly(assembly, StimulusSet.from_arrays(list(images), ids=ids))


def one_file(sha256: str, path: str = "responses.npy") -> OneFile:
    return OneFile(sha256, path)


def write_data(mirror: Path, seed: int = 0) -> Path:
    """The responses file in ``mirror`` (same size for every seed); returns its path."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(1, N_STIMULI, N_NEUROIDS))
    trials = signal + 0.3 * rng.normal(size=(N_REPETITIONS, N_STIMULI, N_NEUROIDS))
    path = mirror / DATASET / "responses.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, trials)
    return path


def write_manifest(folder: Path, data: Path) -> Path:
    """The test manifest: the model, the assembly (with the data's sha256), two benchmarks and their composite."""
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    path = folder / "known-runs-manifest.toml"
    path.write_text(
        f"""
[models.seeded-tiny]
python_name = "helpers.known_runs_fixtures:seeded_model"
layers = ["c1"]
params = {{ pretrained = false, seed = 0 }}
preprocessing = {{ size = 16 }}

[assemblies.one-file]
python_name = "helpers.known_runs_fixtures:one_file"
params = {{ sha256 = "{digest}" }}

[benchmarks.one-file-bench]
version = 1
assembly = "one-file"
split = {{ kind = "kfold", n_splits = 3, seed = 0 }}

[benchmarks.one-file-bench-2]
version = 1
assembly = "one-file"
split = {{ kind = "kfold", n_splits = 3, seed = 1 }}

[benchmarks.one-file-both]
kind = "composite"
version = 1
parts = ["one-file-bench", "one-file-bench-2"]
aggregate = {{ value = "r", group_by = "subject" }}
"""
    )
    return path


def offline_env(root: Path) -> dict[str, str]:
    """The data in a mirror under ``root``, its manifest, and the environment of an offline run over them."""
    data = write_data(root / "mirror")
    return {
        "BRAINBENCH_HOME": str(root / "home"),
        "BRAINBENCH_MIRROR": str(root / "mirror"),
        "BRAINBENCH_MANIFESTS": str(write_manifest(root, data)),
        "BRAINBENCH_OFFLINE": "1",
    }
