"""Checkpoint files as models, and training trajectories scored, stored and plotted.

The checkpoints are written by the tests: torchvision's MobileNetV3-small (seed 0) with
its weights perturbed a little more at each "epoch", saved the ways training code saves
them (a plain state dict, Lightning's ``state_dict`` with ``model.`` prefixes, a
``model_state_dict`` with DDP's ``module.`` prefixes). The end-to-end tests score them on
the mirrored V4 recordings at 64 x 64 pixels and two layers, through an architecture
declared in a test manifest (``tiny-mnv3``), so nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import brainbench
from brainbench.errors import BrainbenchError
from brainbench.models.base import ModelError, load_model
from brainbench.models.checkpoint import (
    checkpoint_entry,
    checkpoint_model,
    find_checkpoints,
    open_checkpoints,
    read_state_dict,
    strip_prefixes,
)

REPO = Path(__file__).resolve().parents[2]
ARCH = "torchvision/mobilenet_v3_small"
LAYERS = ["features.1", "features.3"]
MANIFEST = """
schema_version = 1

[models.tiny-mnv3]
python_name = "helpers.tiny_archs:mobilenet_v3_small"
description = "MobileNetV3-small at 64 x 64 pixels (test architecture)."
layers = ["features.1", "features.3"]
params = { seed = 0 }
preprocessing = { size = 64 }

[models.my-net]
checkpoint = "runs/epoch_2.pt"
arch = "tiny-mnv3"
description = "The second checkpoint, declared once for reuse."
"""


def _untrained() -> torch.nn.Module:
    import torchvision

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return torchvision.models.get_model("mobilenet_v3_small", weights=None).eval()


def _save_run(folder: Path) -> dict[str, dict[str, torch.Tensor]]:
    """Three checkpoints of one run, saved in three formats; returns file name -> true state dict."""
    folder.mkdir(parents=True, exist_ok=True)
    net = _untrained()
    generator = torch.Generator().manual_seed(1)
    saved = {}
    for epoch in (1, 2, 10):
        with torch.no_grad():
            for param in net.parameters():
                param.add_(0.05 * torch.randn(param.shape, generator=generator))
        state = {k: v.clone() for k, v in net.state_dict().items()}
        name = f"epoch_{epoch}.pt"
        if epoch == 1:
            torch.save(state, folder / name)
        elif epoch == 2:  # Lightning: the module's net under `model`, plus training state
            torch.save({"state_dict": {f"model.{k}": v for k, v in state.items()}, "epoch": 2}, folder / name)
        else:  # a training loop's dict around a DDP-wrapped model
            torch.save({"model_state_dict": {f"module.{k}": v for k, v in state.items()}, "step": 10}, folder / name)
        saved[name] = state
    return saved


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> tuple[Path, dict[str, dict[str, torch.Tensor]]]:
    root = tmp_path_factory.mktemp("training")
    saved = _save_run(root / "runs")
    (root / "manifest.toml").write_text(MANIFEST)
    return root, saved


# -- loading ------------------------------------------------------------------------------------


def test_training_checkpoint_formats_load_as_they_are(run_dir):
    root, saved = run_dir
    for name, state in saved.items():
        path = root / "runs" / name
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        net = checkpoint_model(f"{ARCH}:untrained", sha, str(path))
        loaded = net.module.state_dict()
        assert all(torch.equal(loaded[k], v) for k, v in state.items()), name
        assert net.weights_hash == sha  # the file's sha256 is the weights hash
    safetensors = pytest.importorskip("safetensors.torch")
    safetensors.save_file(saved["epoch_1.pt"], str(root / "epoch_1.safetensors"))
    loaded = read_state_dict(root / "epoch_1.safetensors")
    assert all(torch.equal(loaded[k], v) for k, v in saved["epoch_1.pt"].items())
    compiled = strip_prefixes({f"_orig_mod.{k}": v for k, v in saved["epoch_1.pt"].items()}, list(saved["epoch_1.pt"]))
    assert set(compiled) == set(saved["epoch_1.pt"])  # torch.compile's prefix too


def test_mismatched_keys_and_shapes_are_refused_in_one_sentence(tmp_path, run_dir):
    _, saved = run_dir
    state = dict(saved["epoch_1.pt"])
    del state["features.0.0.weight"]
    state["head.extra.weight"] = torch.zeros(3)
    torch.save(state, tmp_path / "broken.pt")
    entry = checkpoint_entry(tmp_path / "broken.pt", ARCH)
    with pytest.raises(ModelError) as error:
        load_model(entry)
    message = str(error.value)
    assert "1 of its keys are missing ('features.0.0.weight')" in message
    assert "1 are not in the architecture ('head.extra.weight')" in message and "--arch" in message
    assert len(message.splitlines()) == 1
    import torchvision

    torch.save(torchvision.models.get_model("mobilenet_v3_large", weights=None).state_dict(), tmp_path / "large.pt")
    with pytest.raises(ModelError, match="keys are missing|tensors have other shapes"):
        load_model(checkpoint_entry(tmp_path / "large.pt", ARCH))


def test_files_that_are_not_state_dicts_are_refused(tmp_path):
    torch.save(_untrained(), tmp_path / "whole-module.pt")  # a pickled module needs code to load
    with pytest.raises(ModelError, match=r"weights_only=True.*torch.save\(model.state_dict\(\), path\)"):
        read_state_dict(tmp_path / "whole-module.pt")
    torch.save({"optimizer": [1, 2]}, tmp_path / "optimizer.pt")
    with pytest.raises(ModelError, match="not a state dict|no tensors"):
        read_state_dict(tmp_path / "optimizer.pt")


def test_checkpoints_are_ordered_by_the_number_in_their_names(tmp_path):
    for name in ("ckpt_10.pt", "ckpt_2.pt", "ckpt_1.pt", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    expected = ["ckpt_1.pt", "ckpt_2.pt", "ckpt_10.pt"]
    assert [p.name for p in find_checkpoints(tmp_path)] == expected  # a folder: its checkpoint files
    assert [p.name for p in find_checkpoints(str(tmp_path / "ckpt_*.pt"))] == expected
    for name in ("final.pt", "best.pt"):
        (tmp_path / "named" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "named" / name).write_bytes(b"x")
    assert [p.name for p in find_checkpoints(tmp_path / "named")] == ["best.pt", "final.pt"]  # natural order
    with pytest.raises(ModelError, match="no file matches"):
        find_checkpoints(str(tmp_path / "missing_*.pt"))


def test_a_run_is_opened_once_every_file_checked_before_any_model_and_one_network_built(tmp_path, run_dir):
    root, saved = run_dir
    series = open_checkpoints(str(root / "runs" / "epoch_*.pt"), ARCH, layers=LAYERS, progress=False)
    assert [p.name for p in series.paths] == ["epoch_1.pt", "epoch_2.pt", "epoch_10.pt"] and series.steps == [1, 2, 10]
    networks = set()
    for path, entry, net in zip(series.paths, series.entries, series.nets(), strict=True):
        assert net.weights_hash == entry.params["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert net.identifier == entry.id and net.layers == LAYERS
        loaded = net.module.state_dict()
        assert all(torch.equal(loaded[k], v) for k, v in saved[path.name].items()), path.name
        networks.add(id(net.module))
    assert len(networks) == 1  # built once, each file's weights loaded into it in turn
    given = [root / "runs" / "epoch_10.pt", root / "runs" / "epoch_1.pt"]
    assert open_checkpoints(given, ARCH, progress=False).paths == given  # a list keeps the order given
    with pytest.raises(ModelError, match="no checkpoints were given"):
        open_checkpoints([], ARCH)
    state = dict(saved["epoch_1.pt"])
    del state["features.0.0.weight"]
    torch.save(state, tmp_path / "last.pt")
    with pytest.raises(ModelError, match="checkpoint last.pt does not fit"):  # before any model is made
        open_checkpoints([given[1], tmp_path / "last.pt"], ARCH, progress=False)


def test_a_checkpoint_saved_over_after_the_run_was_opened_is_refused_not_named_for_its_old_bytes(tmp_path, run_dir):
    """An opened run serves every benchmark of an analysis; a file rewritten meanwhile (``last.pt``
    saved again by the training) must not be scored under the entry (id, sha256) of its old bytes."""
    root, _ = run_dir
    for name in ("epoch_1.pt", "epoch_2.pt"):
        shutil.copy(root / "runs" / name, tmp_path / name)
    series = open_checkpoints(str(tmp_path / "epoch_*.pt"), ARCH, layers=LAYERS, progress=False)
    shutil.copy(root / "runs" / "epoch_10.pt", tmp_path / "epoch_2.pt")  # other weights, same name
    nets = series.nets()
    assert next(nets).weights_hash == series.entries[0].params["sha256"]  # the unchanged one scores as opened
    with pytest.raises(ModelError, match="epoch_2.pt changed since it was named"):
        next(nets)


def test_an_unchanged_checkpoint_is_hashed_once_across_processes(tmp_path, run_dir, fresh_home, monkeypatch):
    from brainbench.caching import hash_cache

    root, _ = run_dir
    path = tmp_path / "copy.pt"
    shutil.copy(root / "runs" / "epoch_1.pt", path)
    monkeypatch.setattr(hash_cache, "_now_ns", lambda: time.time_ns() + 60 * 10**9)  # the copy is a minute old
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert checkpoint_entry(path, ARCH).params["sha256"] == sha
    # the hash is in the persistent hash cache (what a new process reads), not only in memory:
    # with the file unreadable to hashing, the entry still answers
    monkeypatch.setattr(hash_cache, "_hash_file", lambda path: pytest.fail(f"{path} was read again"))
    assert hash_cache.file_sha256(path) == sha
    path.write_bytes(path.read_bytes())  # rewritten: its fingerprint moves, so it is hashed again
    with pytest.raises(pytest.fail.Exception, match="read again"):
        hash_cache.file_sha256(path)


def test_run_key_holds_the_file_hash_and_the_architecture_not_the_path(tmp_path, run_dir):
    from brainbench.registry import get_registry
    from brainbench.scoring.spec import resolve

    root, _ = run_dir
    registry = get_registry()
    original = root / "runs" / "epoch_1.pt"
    moved = tmp_path / "elsewhere.pt"
    shutil.copy(original, moved)
    first = resolve(load_model(checkpoint_entry(original, ARCH)), "cowley2023-V4", registry=registry)
    moved_net = brainbench.load_checkpoint(moved, ARCH, identifier=first.spec.model)
    again = resolve(moved_net, "cowley2023-V4", registry=registry)
    sha = hashlib.sha256(original.read_bytes()).hexdigest()
    assert first.spec.content["weights"] == sha and first.spec.model == f"checkpoint/epoch_1-{sha[:8]}"
    assert first.spec.content["model"]["params"] == {"arch": f"{ARCH}:untrained", "sha256": sha}
    assert str(original) not in json.dumps(first.spec.content) and first.spec.content == again.spec.content
    other = resolve(
        load_model(checkpoint_entry(root / "runs" / "epoch_2.pt", ARCH)), "cowley2023-V4", registry=registry
    )
    assert other.spec.content["weights"] != sha


# -- command-line errors, before any long work ------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["runs/missing.pt", "--arch", ARCH], "does not exist"),
        (["runs/epoch_1.pt", "--arch", "torchvision/resnet19"], "no classification architecture 'resnet19'"),
        (["alexnet-untrained", "--arch", ARCH], "is a model id; drop --arch"),
        (["runs/epoch_1.pt"], "names checkpoint files, not a model id; name the architecture"),
        (["runs/*.pt"], "with --arch"),
        (["alexnet-untrained", "--tokens", "pooled"], "token rule 'pooled' is not one of cls, mean, flatten, grid"),
        (["runs/epoch_1.pt", "--arch", ARCH, "--readout", "nope"], "unknown readout 'nope'"),
        (["runs/epoch_1.pt", "--arch", ARCH, "--batch-size", "0"], "batch size must be an integer >= 1"),
    ],
)
def test_checkpoint_options_fail_in_one_sentence(run_dir, monkeypatch, capsys, args, expected):
    from brainbench.cli.main import main

    root, _ = run_dir
    monkeypatch.chdir(root)
    assert main(["score", args[0], "cowley2023-V4", *args[1:], "--no-store"]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1


def test_a_manifest_entry_names_a_checkpoint_relative_to_the_manifest(run_dir, monkeypatch):
    from brainbench.registry import get_registry

    root, _ = run_dir
    monkeypatch.setenv("BRAINBENCH_MANIFESTS", str(root / "manifest.toml"))
    entry = get_registry().model("my-net")
    sha = hashlib.sha256((root / "runs" / "epoch_2.pt").read_bytes()).hexdigest()
    assert entry.id == "my-net" and entry.layers == LAYERS and entry.preprocessing.size == 64
    assert entry.params == {"arch": "tiny-mnv3", "sha256": sha} and entry.info["path"] == str(
        root / "runs" / "epoch_2.pt"
    )


# -- a trajectory on the real V4 recordings -----------------------------------------------------


@pytest.fixture(scope="module")
def trajectory(run_dir, tmp_path_factory):
    """The three checkpoints scored as one trajectory, recorded in a fresh store."""
    mirror = Path(os.environ.get("BRAINBENCH_TEST_MIRROR", REPO.parent / "shared" / "data" / "mirror"))
    if not (mirror / "cowley2023").is_dir():
        pytest.skip(f"real-data mirror not found at {mirror}")
    root, _ = run_dir
    home = tmp_path_factory.mktemp("home")
    from brainbench.registry import refresh

    with pytest.MonkeyPatch.context() as patch:
        for key, value in {
            "BRAINBENCH_MIRROR": str(mirror),
            "BRAINBENCH_OFFLINE": "1",
            "BRAINBENCH_HOME": str(home),
            "BRAINBENCH_MANIFESTS": str(root / "manifest.toml"),
        }.items():
            patch.setenv(key, value)
        refresh()
        from brainbench.results.trajectory import score_checkpoints

        datasets = score_checkpoints(
            str(root / "runs" / "epoch_*.pt"), "cowley2023-V4", arch="tiny-mnv3", progress=False, threads=2
        )
        refresh()
    return root, home, mirror, datasets


@pytest.mark.mirror
def test_a_trajectory_is_scored_in_order_and_stored_one_run_per_checkpoint(trajectory):
    from brainbench.results.store import ResultStore

    _, home, _, datasets = trajectory
    assert [d.attrs["checkpoint"] for d in datasets] == ["epoch_1.pt", "epoch_2.pt", "epoch_10.pt"]
    assert [d.attrs["checkpoint_step"] for d in datasets] == [1, 2, 10]
    keys = [d.attrs["content_key"] for d in datasets]
    assert len(set(keys)) == 3  # each checkpoint its own run
    runs = ResultStore(home / "results.sqlite").runs()
    assert sorted(r["content_key"] for r in runs) == sorted(keys)
    scores = np.asarray([d.attrs["score"] for d in datasets])
    assert np.isfinite(scores).all() and len(set(scores.round(9))) == 3  # different weights, different numbers
    assert all(list(d["layer"].values) == LAYERS for d in datasets)
    # activations once per checkpoint: one cached file per (checkpoint, layer)
    cached = list((home / "activations").rglob("*.npy"))
    assert len(cached) == 3 * len(LAYERS)


def _use_trajectory_home(trajectory, monkeypatch) -> None:
    """The environment the trajectory fixture scored in: its mirror, home and manifest."""
    root, home, mirror, _ = trajectory
    monkeypatch.setenv("BRAINBENCH_MIRROR", str(mirror))
    monkeypatch.setenv("BRAINBENCH_HOME", str(home))
    monkeypatch.setenv("BRAINBENCH_MANIFESTS", str(root / "manifest.toml"))


@pytest.mark.mirror
def test_one_checkpoint_from_the_command_line_scores_as_in_the_trajectory(trajectory, monkeypatch, capsys):
    from brainbench.cli.main import main

    root, home, mirror, datasets = trajectory
    _use_trajectory_home(trajectory, monkeypatch)
    monkeypatch.chdir(root)
    assert main(["score", "runs/epoch_2.pt", "cowley2023-V4", "--arch", "tiny-mnv3", "--json", "--no-store"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"] == datasets[1].attrs["model"] and summary["checkpoint"]["step"] == 2
    assert summary["score"] == round(float(datasets[1].attrs["score"]), 6)  # same key, same numbers
    assert summary["best_layer"] == datasets[1].attrs["best_layer"]


@pytest.mark.mirror
def test_the_trajectory_analysis_plots_score_and_chosen_layer(trajectory, monkeypatch, tmp_path, capsys):
    import xarray as xr
    from PIL import Image

    from brainbench.cli.main import main
    from brainbench.results.store import ResultStore

    root, home, mirror, datasets = trajectory
    _use_trajectory_home(trajectory, monkeypatch)
    args = ["analyze", "trajectory", str(root / "runs"), "cowley2023-V4", "--arch", "tiny-mnv3", "--out", str(tmp_path)]
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert len(ResultStore(home / "results.sqlite").runs()) == 3  # read from the store, not scored again
    written = sorted(path.name for path in tmp_path.iterdir())
    assert "summary.json" in written and all(name in out for name in written), out  # names every file it wrote
    with xr.open_dataset(tmp_path / "trajectory.nc") as data:
        assert list(data["checkpoint"].values) == ["epoch_1.pt", "epoch_2.pt", "epoch_10.pt"]
        assert list(data["x"].values) == [1, 2, 10] and data.attrs["x_axis"] == "step"
        np.testing.assert_array_equal(data["score"].values[0], [d.attrs["score"] for d in datasets])
        assert list(data["chosen_layer"].values[0]) == [d.attrs["best_layer"] for d in datasets]
        assert data.attrs["has_intervals"] == 0
    assert "without them" in (tmp_path / "summary.md").read_text()
    pixels = np.asarray(Image.open(tmp_path / "trajectory.png").convert("L"), dtype=np.float64)
    assert pixels.std() > 20  # not blank: lines, markers, a colour map
    assert (tmp_path / "trajectory.svg").stat().st_size > 10_000


def test_the_trajectory_analysis_draws_intervals_where_runs_have_them(trajectory):
    from brainbench.analyses.trajectory import Trajectory

    _, _, _, datasets = trajectory
    with_intervals = [d.copy() for d in datasets]
    for d in with_intervals:
        d.attrs.update(score_low=d.attrs["score"] - 0.01, score_high=d.attrs["score"] + 0.02)
    result = Trajectory().run(with_intervals)
    assert result.dataset.attrs["has_intervals"] == 1
    np.testing.assert_allclose(result.dataset["score_high"].values[0] - result.dataset["score"].values[0], 0.02)
    result.close()


def test_an_unknown_benchmark_or_readout_is_refused_before_any_file_is_looked_at(run_dir):
    from brainbench.results.trajectory import score_checkpoints

    root, _ = run_dir
    with pytest.raises(BrainbenchError, match="unknown benchmark"):
        score_checkpoints(str(root / "runs"), "cowley2023-V5", arch=ARCH, progress=False)
    with pytest.raises(BrainbenchError, match="unknown benchmark"):  # not "does not exist": ids first
        score_checkpoints(str(root / "missing.pt"), "cowley2023-V5", arch=ARCH, progress=False)
    with pytest.raises(BrainbenchError, match="unknown readout 'nope'"):
        score_checkpoints(str(root / "missing.pt"), "cowley2023-V4", arch=ARCH, readout="nope", progress=False)


def test_a_checkpoint_analysis_opens_the_run_once_and_refuses_a_series_before_scoring(run_dir, monkeypatch):
    from brainbench.analyses import AnalysisError
    from brainbench.analyses.runner import analyze_checkpoints
    from brainbench.models import checkpoint
    from brainbench.scoring import scorer

    root, _ = run_dir
    monkeypatch.setattr(scorer, "score_prepared", lambda *a, **k: pytest.fail("scored before the refusal"))
    reads: list[str] = []
    real = checkpoint.read_state_dict
    monkeypatch.setattr(checkpoint, "read_state_dict", lambda path: reads.append(path.name) or real(path))
    with pytest.raises(AnalysisError, match="analyses one model, but 3 checkpoints were given"):
        analyze_checkpoints("layer-profile", str(root / "runs"), ["cowley2023-V4"], arch=ARCH, progress=False)
    assert sorted(reads) == ["epoch_1.pt", "epoch_10.pt", "epoch_2.pt"]  # each file checked once, none scored
    with pytest.raises(BrainbenchError, match="unknown benchmark"):  # ids before any file
        analyze_checkpoints("trajectory", str(root / "missing.pt"), ["cowley2023-V5"], arch=ARCH, progress=False)


@pytest.mark.parametrize(
    ("option", "sentence"),
    [({"seed": -1}, "seed must be an integer"), ({"device": "gpu"}, "device 'gpu'"), ({"layers": "c1"}, "layers must")],
)
def test_a_checkpoint_analysis_refuses_a_bad_option_before_it_opens_the_run(tmp_path, monkeypatch, option, sentence):
    from brainbench.analyses.runner import analyze_checkpoints
    from brainbench.models import checkpoint

    # opening the run reads and hashes every file: a bad option is refused before it
    monkeypatch.setattr(checkpoint, "find_checkpoints", lambda *a, **k: pytest.fail("the run was opened first"))
    with pytest.raises(BrainbenchError, match=sentence):
        analyze_checkpoints("trajectory", str(tmp_path), ["cowley2023-V4"], arch=ARCH, progress=False, **option)
