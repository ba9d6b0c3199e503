"""Tiny models and generated benchmarks for the results-store, grid and leaderboard tests.

Importable by Dask worker processes (the tests put this folder on ``PYTHONPATH``), and
registered through a test-only manifest (``BRAINBENCH_MANIFESTS``) written by
:func:`write_manifest`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from brainbench.assemblies.base import AssemblySource, LoadedAssembly
from brainbench.data.assembly import make_assembly
from brainbench.data.stimuli import StimulusSet

SIZE = 16


def tiny_model(width: int = 4, seed: int = 0, fail_once: str = ""):
    """Two seeded conv layers on 16x16 inputs: ``c1`` (width, 8, 8), ``c2`` (2 width, 4, 4).

    ``fail_once``: a marker file; the first call that finds it missing creates it and
    raises (a flaky job, for the retry test).
    """
    import torch

    from brainbench.models.base import TorchModel

    if fail_once and not Path(fail_once).exists():
        Path(fail_once).write_text("failed once\n")
        raise RuntimeError("flaky model: first build fails")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = torch.nn.Sequential(
            torch.nn.Conv2d(3, width, 3, stride=2, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            torch.nn.ReLU(),
        )
    return TorchModel(net, {"c1": "1", "c2": "3"})


class Generated(AssemblySource):
    """Seeded images ``(n, 16, 16, 3)`` and trial responses ``(repetition, n, neuroid)``.

    Each neuroid is a rectified random linear filter of the 4x4 colour blocks plus Gaussian trial
    noise, so a linear readout of the images predicts it well above chance.
    """

    def __init__(
        self,
        n_stimuli: int = 40,
        n_neuroids: int = 5,
        n_repetitions: int = 4,
        seed: int = 0,
        region: str = "V1",
        noise: float = 0.5,
    ) -> None:
        self.identifier = f"generated-{seed}"
        self.n_stimuli, self.n_neuroids, self.n_repetitions = n_stimuli, n_neuroids, n_repetitions
        self.seed, self.region, self.noise = seed, region, noise

    def load(self, progress: bool = True) -> LoadedAssembly:
        rng = np.random.default_rng(self.seed)
        # 4x4 blocks of random colour, upsampled to 16x16: few dimensions, easy to read out
        blocks = rng.integers(0, 256, size=(self.n_stimuli, 4, 4, 3), dtype=np.uint8)
        images = np.ascontiguousarray(blocks.repeat(SIZE // 4, axis=1).repeat(SIZE // 4, axis=2))
        features = blocks.reshape(self.n_stimuli, -1).astype(np.float64) / 255.0
        features -= features.mean(0)
        filters = rng.normal(size=(features.shape[1], self.n_neuroids)) / np.sqrt(features.shape[1])
        drive = np.maximum(features @ filters * 4.0 + 1.0, 0.0)
        trials = drive[None] + self.noise * rng.normal(size=(self.n_repetitions, *drive.shape))
        ids = [f"g{self.seed}-{k:03d}" for k in range(self.n_stimuli)]
        assembly = make_assembly(
            trials,
            stimulus_ids=ids,
            neuroid_ids=[f"n{k}" for k in range(self.n_neuroids)],
            identifier=self.identifier,
            species="simulated",
            units="a.u.",
            neuroid_coords={"region": np.full(self.n_neuroids, self.region, dtype=object)},
        )
        return LoadedAssembly(assembly, StimulusSet.from_arrays(list(images), ids=ids))


def generated(**params) -> Generated:
    return Generated(**params)


MANIFEST = """
[models.tiny-a]
python_name = "helpers.results_fixtures:tiny_model"
layers = ["c1", "c2"]
params = {{ width = 4, seed = 0 }}
preprocessing = {{ size = 16 }}

[models.tiny-b]
python_name = "helpers.results_fixtures:tiny_model"
layers = ["c1", "c2"]
params = {{ width = 6, seed = 1 }}
preprocessing = {{ size = 16 }}

[models.tiny-flaky]
python_name = "helpers.results_fixtures:tiny_model"
layers = ["c1", "c2"]
params = {{ width = 3, seed = 2, fail_once = "{marker}" }}
preprocessing = {{ size = 16 }}

[models.tiny-broken]
python_name = "helpers.results_fixtures:no_such_factory"
layers = ["c1"]

[readouts.simple-narrow]
base = "simple"
params = {{ alphas = {{ start = -1.0, stop = 1.0, num = 3 }} }}

[assemblies.generated-v1]
python_name = "helpers.results_fixtures:generated"
params = {{ seed = 0, region = "V1" }}

[assemblies.generated-it]
python_name = "helpers.results_fixtures:generated"
params = {{ seed = 1, region = "IT", n_neuroids = 4 }}

[benchmarks.gen-V1]
version = 1
region = "V1"
assembly = "generated-v1"
split = {{ kind = "kfold", n_splits = 4, seed = 0 }}

[benchmarks.gen-IT]
version = 2
region = "IT"
assembly = "generated-it"
split = {{ kind = "kfold", n_splits = 4, seed = 0 }}
"""


def write_manifest(folder: Path, extra: str = "") -> Path:
    """Write the test manifest (and ``extra`` TOML, e.g. a composite) into ``folder``; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results-test-manifest.toml"
    path.write_text(MANIFEST.format(marker=str(folder / "flaky.marker")) + extra)
    return path


@contextmanager
def registered(manifest: Path, monkeypatch) -> Iterator:
    """The registry of ``manifest`` (BRAINBENCH_MANIFESTS set through ``monkeypatch``), dropped after."""
    from brainbench.registry import get_registry, refresh

    monkeypatch.setenv("BRAINBENCH_MANIFESTS", str(manifest))
    refresh()
    yield get_registry()
    refresh()


def fake_dataset(
    index: int,
    n_neuroids: int = 7,
    layers: tuple[str, ...] = ("l1", "l2", "l3"),
    protocol: str | None = "declared",
    seed: int = 0,
    **attrs,
):
    """A score dataset with the scorer's layout and attrs, made without torch (seeded by ``index``).

    Model ``fake-<index>`` and benchmark ``fake-bench`` (or ``attrs`` overrides, e.g.
    ``model=``, ``benchmark=``, ``benchmark_version=``) are in no manifest; the run spec
    and content key are built from the attrs as the scorer would (:func:`respec`).
    ``protocol`` None leaves out the protocol attrs (a dataset of an older scorer).
    """
    import json

    import xarray as xr

    rng = np.random.default_rng(index)
    r = rng.uniform(-0.2, 0.9, size=(len(layers), n_neuroids))
    ceiling = rng.uniform(0.5, 1.0, size=n_neuroids)
    ds = xr.Dataset(
        {
            "r": (("layer", "neuroid"), r),
            "ev": (("layer", "neuroid"), r**2 - 0.01),
            "ceiled": (("layer", "neuroid"), r**2 / ceiling[None]),
            "ceiling": (("neuroid",), ceiling),
        },
        coords={
            "layer": list(layers),
            "neuroid_id": ("neuroid", [f"n{k}" for k in range(n_neuroids)]),
            "region": ("neuroid", ["V4"] * n_neuroids),
        },
    )
    best = layers[int(np.argmax(np.median(r, axis=1)))]
    ds.attrs.update(
        {
            "model": f"fake-{index}",
            "benchmark": "fake-bench",
            "benchmark_version": 1,
            "readout": "simple",
            "solver": "exact-dual",
            "readout_params": json.dumps({"alpha": 1.0}),
            "metrics": json.dumps({"pearson-r": 1}),
            "ceiling_formula": json.dumps({"split-half": 1}),
            "best_layer": best,
            "score": float(np.median(ds["ceiled"].sel(layer=best).values)),
            "selection": json.dumps({"n_total": n_neuroids}),
            "provenance": json.dumps(
                {
                    "brainbench": "0.1.0",
                    "torch": "x",
                    "numpy": np.__version__,
                    "xarray": "x",
                    "python": "3",
                    "device": "cpu",
                    "seed": seed,
                    "data_sha256": f"d{index}",
                    "stimuli_sha256": "s",
                    "weights": f"w{index}",
                }
            ),
            "timings": json.dumps({}),
            "format": 1,
            "score_kind": "ceiled",
            "n_reliable": n_neuroids,
        }
    )
    if protocol is not None:
        ds.attrs.update(
            {"protocol": protocol, "protocol_detail": json.dumps({} if protocol == "declared" else {"seed": seed})}
        )
    ds.attrs.update(attrs)
    return respec(ds)


def respec(ds):
    """Set ``spec`` and ``content_key`` from a fake dataset's attrs (after changing them)."""
    import json

    from brainbench.caching.content import KEY_FORMAT, content_key

    attrs = ds.attrs
    prov = json.loads(attrs["provenance"])
    layers = [str(x) for x in ds["layer"].values]
    spec = {
        "format": KEY_FORMAT,
        "model": {"id": attrs["model"], "layers": layers},
        "weights": prov["weights"],
        "benchmark": {
            "id": attrs["benchmark"],
            "version": int(attrs["benchmark_version"]),
            "readout": attrs["readout"],
            "region": None,
        },
        "readout": {"id": attrs["readout"], "params": json.loads(attrs["readout_params"])},
        "metrics": json.loads(attrs["metrics"]),
        "seed": int(prov["seed"]),
        "layers": layers,
        "data_sha256": prov["data_sha256"],
        "stimuli_sha256": prov["stimuli_sha256"],
    }
    ds.attrs["spec"] = json.dumps(spec, sort_keys=True)
    ds.attrs["content_key"] = content_key(spec)
    return ds


def record_many(store: str, start: int, count: int) -> list[str]:
    """Record ``fake_dataset(start .. start + count - 1)`` (run in a child process)."""
    from brainbench.results.store import ResultStore

    target = ResultStore(store)
    return [target.record(fake_dataset(i)) for i in range(start, start + count)]
