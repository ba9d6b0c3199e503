"""Cached artifacts are stored with their sha256 and checked on read: altered, truncated or
unrecorded files are discarded and rebuilt with a warning; orphaned temporaries of dead
processes are removed; ``brainbench cache show|verify|clear``."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from brainbench.caching import integrity as cache_integrity

from helpers import results_fixtures as rf

LAYERS = ["c1", "c2"]


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "brainbench.cache" and r.levelno == logging.WARNING]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ---------------------------------------------------------------------------- activations
@pytest.fixture
def activations(fresh_home):
    """``(compute, original arrays, cache files)`` for a tiny model on 24 generated images."""
    import torch

    from brainbench.scoring.activations import get_activations

    model = rf.tiny_model()
    model.identifier = "tiny-integrity"
    stimuli = rf.Generated(n_stimuli=24).load().stimuli
    prep = model.preprocessing

    def compute():
        rows = get_activations(model, stimuli, LAYERS, prep, torch.device("cpu"), progress=False)
        return {layer: np.asarray(r) for layer, r in rows.items()}, {layer: r.path for layer, r in rows.items()}

    original, files = compute()
    return compute, original, files


def _header_size(path: Path) -> int:
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        (np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0)(handle)
        return handle.tell()


def test_activations_are_written_with_their_hash(activations):
    _, original, files = activations
    for layer, path in files.items():
        entry = cache_integrity.recorded(path)
        assert entry is not None
        identity = entry.pop("artifact")  # what the file is: its name, layer and cache key
        assert identity["name"] == path.name and identity["layer"] == layer and len(identity["key"]) == 64
        assert entry == {"sha256": cache_integrity.file_sha256(path), "size": path.stat().st_size}
        assert original[layer].shape[0] == 24


def test_shuffled_activation_rows_with_intact_header_are_rebuilt(activations, caplog):
    compute, original, files = activations
    path = files["c2"]
    offset = _header_size(path)
    data = np.fromfile(path, dtype=np.float32, offset=offset).reshape(original["c2"].shape)
    shuffled = data[np.random.default_rng(0).permutation(len(data))]
    assert not np.array_equal(shuffled, data)
    with open(path, "r+b") as handle:  # same size, same header, rows in another order
        handle.seek(offset)
        handle.write(shuffled.tobytes())
    again, _ = compute()
    np.testing.assert_array_equal(again["c2"], original["c2"])
    np.testing.assert_array_equal(again["c1"], original["c1"])
    messages = _warnings(caplog)
    assert len(messages) == 1 and str(path) in messages[0] and "does not match its recorded sha256" in messages[0]


def test_truncated_or_unrecorded_activation_files_are_rebuilt(activations, caplog):
    compute, original, files = activations
    with open(files["c1"], "r+b") as handle:
        handle.truncate(files["c1"].stat().st_size // 2)
    cache_integrity.sidecar(files["c2"]).unlink()
    again, _ = compute()
    for layer in LAYERS:
        np.testing.assert_array_equal(again[layer], original[layer])
    messages = _warnings(caplog)
    assert any(str(files["c1"]) in m and "truncated" in m for m in messages)
    assert any(str(files["c2"]) in m and "has no recorded hash" in m for m in messages)


def test_a_partial_cache_runs_the_network_for_the_missing_layer_only_with_the_same_numbers(activations, monkeypatch):
    compute, original, files = activations
    files["c2"].unlink()
    from brainbench.models.base import TorchModel

    asked: list[list[str]] = []
    real = TorchModel.forward_layers
    monkeypatch.setattr(
        TorchModel, "forward_layers", lambda self, batch, layers: asked.append(layers) or real(self, batch, layers)
    )
    again, _ = compute()
    assert asked and all(layers == ["c2"] for layers in asked)
    for layer in LAYERS:
        np.testing.assert_array_equal(again[layer], original[layer])


def test_verification_can_be_skipped_for_benchmarks_only(activations, monkeypatch, caplog):
    compute, original, files = activations
    path = files["c2"]
    offset = _header_size(path)
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(np.float32(123.0).tobytes())
    monkeypatch.setenv(cache_integrity.VERIFY_ENV, "0")
    unchecked, _ = compute()
    assert unchecked["c2"].flat[0] == 123.0  # what the benchmark's "unchecked" arm measures
    monkeypatch.delenv(cache_integrity.VERIFY_ENV)
    checked, _ = compute()
    np.testing.assert_array_equal(checked["c2"], original["c2"])
    assert _warnings(caplog)


def test_orphaned_temporaries_of_dead_processes_are_removed_live_ones_kept(activations):
    compute, _, files = activations
    folder = files["c1"].parent
    dead = folder / f".{files['c1'].name}.{_dead_pid()}.tmp"
    live = folder / f".{files['c2'].name}.{os.getpid()}.tmp"
    dead.write_bytes(b"partial")
    live.write_bytes(b"being written")
    compute()
    assert not dead.exists()
    assert live.exists()


def test_an_interrupted_extraction_leaves_no_file_and_a_cached_one_runs_no_network(fresh_home):
    """A forward pass that fails after some batches were written publishes nothing and leaves no temporary."""
    import torch

    from brainbench.scoring.activations import get_activations

    model = rf.tiny_model()
    model.identifier = "tiny-interrupted"
    stimuli = rf.Generated(n_stimuli=24).load().stimuli
    forward, calls = model.forward_layers, []

    def fails_on_the_third_batch(batch, layers):
        calls.append(len(batch))
        if len(calls) == 3:
            raise RuntimeError("out of memory")
        return forward(batch, layers)

    model.forward_layers = fails_on_the_third_batch
    with pytest.raises(RuntimeError, match="out of memory"):
        get_activations(model, stimuli, LAYERS, model.preprocessing, torch.device("cpu"), batch_size=8, progress=False)
    assert calls == [8, 8, 8]  # two batches of both layers were written before the failure
    assert not [p for p in (fresh_home / "activations").rglob("*") if p.is_file()]
    model.forward_layers = forward
    rows = get_activations(model, stimuli, LAYERS, model.preprocessing, torch.device("cpu"), progress=False)
    assert all(cache_integrity.check(r.path) is None for r in rows.values())
    model.forward_layers = fails_on_the_third_batch  # every layer cached: the network does not run at all
    again = get_activations(model, stimuli, LAYERS, model.preprocessing, torch.device("cpu"), progress=False)
    assert calls == [8, 8, 8] and {layer: r.path for layer, r in again.items()} == {
        layer: r.path for layer, r in rows.items()
    }


def test_a_full_disk_while_extracting_leaves_no_temporary_of_any_layer(fresh_home, monkeypatch):
    """The disk fills while bytes of several layers wait in their writers' buffers: the close of
    each fails too, and none of them may stop the other temporaries from being removed."""
    import builtins
    import errno
    import io

    import torch

    from brainbench.errors import WriteError
    from brainbench.registry.manifest import Preprocessing
    from brainbench.scoring.activations import get_activations

    room = [12_000]  # bytes left on the disk, for every file together

    class Disk(io.FileIO):
        def write(self, data):
            if len(data) > room[0]:
                raise OSError(errno.ENOSPC, "No space left on device")
            room[0] -= len(data)
            return super().write(data)

    def opened(path, mode="r", *args, **kwargs):
        return io.BufferedWriter(Disk(path, mode)) if "w" in mode else builtins.open(path, mode, *args, **kwargs)

    monkeypatch.setattr(cache_integrity, "open", opened, raising=False)
    model = rf.tiny_model()
    model.identifier = "tiny-full-disk"
    stimuli = rf.Generated(n_stimuli=24).load().stimuli
    small = Preprocessing(size=16)  # rows of 1 KiB (c1) and 0.5 KiB (c2): both writers hold buffered bytes
    with pytest.raises(WriteError, match="the disk is full"):
        get_activations(model, stimuli, LAYERS, small, torch.device("cpu"), batch_size=2, progress=False)
    assert not [p for p in (fresh_home / "activations").rglob("*") if p.is_file()]


def _small_run(benchmark_id: str):
    """A 24-stimulus generated benchmark (3 folds) and the tiny model ``tiny-integrity``."""
    from brainbench.scoring.benchmark import custom_benchmark

    loaded = rf.Generated(n_stimuli=24).load()
    bench = custom_benchmark(
        loaded.assembly, loaded.stimuli, identifier=benchmark_id, split={"kind": "kfold", "n_splits": 3}
    )
    model = rf.tiny_model()
    model.identifier = "tiny-integrity"
    return loaded, bench, model


def test_provenance_names_the_activation_hashes_read(activations, fresh_home):
    from brainbench import score

    loaded, bench, model = _small_run("gen-integrity")
    dataset = score(model, bench, progress=False, device="cpu")
    provenance = json.loads(dataset.attrs["provenance"])
    _, _, files = activations
    assert provenance["activations_sha256"] == {layer: cache_integrity.file_sha256(files[layer]) for layer in LAYERS}
    assert provenance["stimuli_sha256"] == loaded.stimuli.content_hash


# ---------------------------------------------------------------------------- assemblies
def _toy_assembly(seed: int = 0) -> xr.DataArray:
    return rf.Generated(n_stimuli=12, seed=seed).load().assembly


@pytest.mark.parametrize("damage", ["rewrite", "truncate"])
def test_damaged_assembly_cache_is_rebuilt(fresh_home, caplog, damage):
    from brainbench.assemblies.base import cached_build
    from brainbench.data.assembly import save_assembly

    builds = []

    def build():
        builds.append(1)
        return _toy_assembly()

    first = cached_build("toy", "k1", build)
    path = fresh_home / "assemblies" / "toy-k1.nc"
    assert cached_build("toy", "k1", build).identical(first) and len(builds) == 1  # reused
    if damage == "rewrite":  # another valid assembly of the same shape under the same name
        save_assembly(first.copy(data=first.values[:, ::-1]), path)
    else:
        with open(path, "r+b") as handle:
            handle.truncate(path.stat().st_size // 3)
    again = cached_build("toy", "k1", build)
    assert again.identical(first)
    assert len(builds) == 2
    messages = _warnings(caplog)
    assert len(messages) == 1 and str(path) in messages[0]


# ---------------------------------------------------------------------------- extracted images
def _zip_of_images(path: Path, n: int = 6) -> list[bytes]:
    import io

    rng = np.random.default_rng(1)
    blobs = []
    with zipfile.ZipFile(path, "w") as archive:
        for k in range(n):
            buffer = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)).save(buffer, format="PNG")
            blobs.append(buffer.getvalue())
            archive.writestr(f"im{k}.png", blobs[-1])
    return blobs


def test_replaced_extracted_image_is_detected_and_extracted_again(tmp_path, caplog):
    from brainbench.data.fetch import extract_zip
    from brainbench.data.stimuli import StimulusSet

    archive = tmp_path / "images.zip"
    blobs = _zip_of_images(archive)
    folder = extract_zip(archive, tmp_path / "extracted" / "images")
    files = [folder / f"im{k}.png" for k in range(6)]
    expected_hash = StimulusSet.from_files(files).content_hash
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(files[2])  # a replaced image
    assert StimulusSet.from_files(files).content_hash != expected_hash
    assert extract_zip(archive, folder) == folder
    assert [f.read_bytes() for f in files] == blobs
    assert StimulusSet.from_files(files).content_hash == expected_hash
    messages = _warnings(caplog)
    assert len(messages) == 1 and str(folder) in messages[0] and "im2.png" in messages[0]


def test_cowley_images_replaced_in_the_cache_are_restored(mirror, fresh_home, caplog):
    from brainbench.assemblies.cowley2023 import load as cowley2023

    first = cowley2023("210325").load(progress=False)
    folder = first.stimuli._sources[0].parent
    for k in range(1, 100):  # 99 replaced images, as in the reported case
        (folder / f"image{k:04d}.jpg").write_bytes((folder / "image0640.jpg").read_bytes())
    again = cowley2023("210325").load(progress=False)
    assert again.stimuli.content_hash == first.stimuli.content_hash
    assert again.assembly.identical(first.assembly)
    assert any(str(folder) in m for m in _warnings(caplog))


# ---------------------------------------------------------------------------- score cache
def test_truncated_stored_score_is_recomputed(fresh_home, caplog):
    """analyze reads scores from the results store: a damaged file there is scored again, with a warning."""
    from brainbench.results import runs
    from brainbench.results.store import ResultStore

    loaded, bench, model = _small_run("gen-cache")
    request, how = runs.Request(model, bench), runs.Execution(device="cpu", progress=False)
    first = runs.run(request, how, ResultStore()).dataset
    (run,) = ResultStore().runs()
    path = ResultStore().root / run["results_file"]
    with open(path, "r+b") as handle:
        handle.truncate(200)
    again = runs.run(request, how, ResultStore()).dataset
    for name in ("r", "ev", "ceiled", "ceiling"):
        np.testing.assert_allclose(again[name].values, first[name].values, rtol=1e-6, atol=1e-9)
    assert again.attrs["best_layer"] == first.attrs["best_layer"]
    messages = _warnings(caplog)
    assert len(messages) == 1 and str(path) in messages[0]
    assert ResultStore().has(run["content_key"])  # rewritten, its hash recorded again


# ---------------------------------------------------------------------------- results store
def test_changed_results_file_is_refused_naming_file_and_remedy(fresh_home):
    from brainbench.results.store import ResultStore, StoreError

    store = ResultStore()
    key = store.record(rf.fake_dataset(0))
    run = store.find_run(key)
    path = store.root / run["results_file"]
    assert store.has(key)
    np.testing.assert_array_equal(store.load_results(run)["r"].values, rf.fake_dataset(0)["r"].values)
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size - 10)
    assert not store.has(key)
    with pytest.raises(StoreError, match="cannot be rebuilt") as error:
        store.load_results(run)
    assert str(path) in str(error.value) and "fake-0" in str(error.value)


# ---------------------------------------------------------------------------- the command
def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    from brainbench.cli.main import main

    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cache_show_verify_clear(activations, fresh_home, capsys):
    from brainbench.results.store import ResultStore

    _, original, files = activations
    ResultStore().record(rf.fake_dataset(1))
    code, out, _ = _cli(["cache", "show", "--json"], capsys)
    shown = json.loads(out)
    assert code == 0 and shown["home"] == str(fresh_home)
    assert shown["kinds"]["activations"]["files"] == 2
    assert shown["kinds"]["activations"]["bytes"] >= sum(p.stat().st_size for p in files.values())
    assert shown["kinds"]["results"]["files"] >= 2  # the database and the run's netCDF

    code, out, err = _cli(["cache", "verify"], capsys)
    assert code == 0, err
    assert "0 bad" in out

    orphan = files["c1"].parent / f".x.npy.{_dead_pid()}.tmp"
    orphan.write_bytes(b"x")
    with open(files["c2"], "r+b") as handle:
        handle.seek(-4, os.SEEK_END)
        handle.write(b"\0\0\0\1")
    code, out, err = _cli(["cache", "verify", "activations"], capsys)
    assert code == 1
    assert str(files["c2"]) in err and "--fix" in err
    assert not orphan.exists() and str(orphan) in out
    assert files["c2"].exists()  # reported, not removed
    code, out, err = _cli(["cache", "verify", "activations", "--fix"], capsys)
    assert code == 0 and "removed" in err
    assert not files["c2"].exists() and not cache_integrity.sidecar(files["c2"]).exists()
    assert files["c1"].exists()

    code, _, err = _cli(["cache", "clear", "nonsense", "--yes"], capsys)
    assert code == 2 and "unknown cache kind" in err
    code, out, _ = _cli(["cache", "clear", "activations", "--yes"], capsys)
    assert code == 0 and not (fresh_home / "activations").exists()
    assert (fresh_home / "results.sqlite").exists()


def test_cache_clear_asks_first_and_never_leaves_home(fresh_home, tmp_path):
    from typer.testing import CliRunner

    from brainbench.cli.main import app

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    fresh_home.mkdir(parents=True, exist_ok=True)
    (fresh_home / "scores").symlink_to(outside, target_is_directory=True)
    (fresh_home / "assemblies").mkdir()
    (fresh_home / "assemblies" / "a.nc").write_bytes(b"x")

    runner = CliRunner()
    declined = runner.invoke(app, ["cache", "clear"], input="n\n")
    assert declined.exit_code == 1 and "nothing deleted" in declined.output
    assert (fresh_home / "assemblies" / "a.nc").exists()
    done = runner.invoke(app, ["cache", "clear"], input="y\n")
    assert done.exit_code == 0, done.output
    assert not (fresh_home / "assemblies").exists()
    assert not (fresh_home / "scores").exists()  # the link itself
    assert (outside / "keep.txt").read_text() == "mine"  # never what it pointed to


def test_verify_reports_a_bad_results_file_it_cannot_rebuild(fresh_home, capsys):
    from brainbench.results.store import ResultStore

    store = ResultStore()
    run = store.find_run(store.record(rf.fake_dataset(2)))
    path = store.root / run["results_file"]
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    code, _, err = _cli(["cache", "verify", "results", "--fix"], capsys)
    assert code == 1
    assert str(path) in err and "cannot be rebuilt" in err
    assert path.exists()
