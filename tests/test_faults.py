"""Faults found by trying brainbench as a new user would: each test reproduces one and checks its fix.

Deletions never follow a link out of ``$BRAINBENCH_HOME``; named and ambiguous response
axes; scores at any finite scale; checksummed store rows; sidecars that name their
artifact; one-sentence errors for plugin bugs, unwritable places and full disks; plugin
id clashes; store options and stale temporaries; the smallest data set.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from brainbench.assemblies.byod import wrap_recordings
from brainbench.caching import integrity as cache_integrity
from brainbench.data.assembly import AssemblyError

from helpers import results_fixtures as rf

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent

RNG = np.random.default_rng(18)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _cli(capsys, args: list[str]) -> tuple[int, str, str]:
    from brainbench.cli.main import main

    capsys.readouterr()
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _sentence(err: str) -> str:
    """The one ``error: ...`` line of stderr (other lines may be warnings), no traceback."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and lines[0].endswith("."), err
    return lines[0]


@pytest.fixture
def tiny(tmp_path, monkeypatch, fresh_home) -> Path:
    """The tiny test manifest (model tiny-a, benchmark gen-V1) and a fresh BRAINBENCH_HOME."""
    monkeypatch.setenv("BRAINBENCH_MANIFESTS", str(rf.write_manifest(tmp_path / "manifest")))
    from brainbench.registry import refresh

    refresh()
    return fresh_home


def _no_activations(home: Path) -> None:
    folder = home / "activations"
    assert not folder.exists() or not any(folder.rglob("*.npy"))


# ------------------------------------------------------------------ 1. links out of the home
def test_nothing_is_deleted_through_a_link_that_leaves_home(fresh_home, tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.nc").write_text("not brainbench's")
    orphan = elsewhere / f".precious.nc.{_dead_pid()}.tmp"  # looks like a dead writer's temporary
    orphan.write_text("also not brainbench's")
    fresh_home.mkdir(parents=True)
    (fresh_home / "assemblies").symlink_to(elsewhere, target_is_directory=True)
    (fresh_home / "activations").mkdir()
    (fresh_home / "activations" / "some-model").symlink_to(elsewhere, target_is_directory=True)  # a link deeper in

    code, out, err = _cli(capsys, ["cache", "verify", "--fix"])
    assert code == 1
    assert (elsewhere / "precious.nc").read_text() == "not brainbench's"
    assert orphan.exists()
    assert "outside BRAINBENCH_HOME" in err and "not removed" in err
    with pytest.raises(cache_integrity.OutsideHomeError, match="outside BRAINBENCH_HOME"):
        cache_integrity.remove(fresh_home / "assemblies" / "precious.nc")
    with pytest.raises(cache_integrity.OutsideHomeError, match="outside BRAINBENCH_HOME"):
        cache_integrity.usable(fresh_home / "assemblies" / "precious.nc")  # a reader's discard
    assert cache_integrity.clean_orphans(fresh_home / "assemblies") == []
    assert (elsewhere / "precious.nc").exists() and orphan.exists()
    code, _, _ = _cli(capsys, ["cache", "clear", "--yes"])
    assert code == 0 and (elsewhere / "precious.nc").exists() and orphan.exists()  # links go, never their targets
    assert not (fresh_home / "assemblies").exists() and not (fresh_home / "activations").exists()


# ------------------------------------------------------------------ 2, 3. response axes
def test_named_dims_of_a_data_array_are_honoured():
    x = RNG.normal(size=(6, 6))  # (stimulus, neuroid), square: the names must decide
    images = RNG.uniform(size=(6, 4, 4))
    data = wrap_recordings(xr.DataArray(x.T, dims=("neuroid", "stimulus")), images)
    np.testing.assert_array_equal(data.assembly.transpose("stimulus", "neuroid").values, x)
    with pytest.raises(AssemblyError, match=r"dims="):
        wrap_recordings(x, images)  # unnamed and square: either axis could be the stimulus axis
    with pytest.raises(AssemblyError, match="drop dims= or make them agree"):
        wrap_recordings(xr.DataArray(x.T, dims=("neuroid", "stimulus")), images, dims=("stimulus", "neuroid"))
    with pytest.raises(AssemblyError, match="must name each of"):
        wrap_recordings(xr.DataArray(x, dims=("image", "cell")), images)
    unnamed = wrap_recordings(xr.DataArray(RNG.normal(size=(6, 4))), images)  # dim_0, dim_1 name nothing
    assert unnamed.assembly.sizes["neuroid"] == 4


@pytest.mark.parametrize("padded", [True, False])
def test_cowley_layout_without_dims_is_refused_naming_dims(padded):
    """(neuroid, stimulus, repetition) = (50, 64, 10) must not be read as 50 repetitions of 10 neuroids."""
    values = RNG.normal(size=(50, 64, 10))
    if padded:
        values[:, :, 8:] = np.where(RNG.random((50, 64, 2)) < 0.5, np.nan, values[:, :, 8:])
    images = RNG.uniform(size=(64, 4, 4))
    with pytest.raises(AssemblyError) as error:
        wrap_recordings(values, images)
    message = str(error.value)
    assert "dims=('neuroid', 'stimulus', 'repetition')" in message and message.count(".") >= 1
    assert "\n" not in message and message.endswith(".")
    data = wrap_recordings(values, images, dims=("neuroid", "stimulus", "repetition"))
    assert data.assembly.sizes == {"repetition": 10, "stimulus": 64, "neuroid": 50}


# ------------------------------------------------------------------ 4. any finite scale
def test_metrics_are_exact_under_power_of_two_scaling_and_finite_at_any_scale():
    from brainbench.metrics.ceiling import split_half_reliability
    from brainbench.metrics.regression import explained_variance, pearson_r

    trials = RNG.normal(size=(6, 30, 4)) + RNG.normal(size=(1, 30, 4))
    prediction = trials.mean(0) + RNG.normal(size=(30, 4))
    target = trials.mean(0)
    base = (
        pearson_r(prediction, target),
        explained_variance(prediction, target),
        split_half_reliability(trials, n_splits=5),
    )
    for scale in (2.0**600, 2.0**-600, 1e200, 1e-200):
        scaled = (
            pearson_r(prediction * scale, target * scale),
            explained_variance(prediction * scale, target * scale),
            split_half_reliability(trials * scale, n_splits=5),
        )
        for before, after in zip(base, scaled, strict=True):
            assert np.isfinite(after).all()
            if np.log2(scale).is_integer():
                np.testing.assert_array_equal(after, before)  # exact: bit for bit
            else:
                np.testing.assert_allclose(after, before, rtol=1e-12, atol=1e-14)


@pytest.fixture(scope="module")
def scale_scores(tmp_path_factory):
    """Scores of the generated benchmark with its responses multiplied by 1, 1e200 and 1e-200."""
    import brainbench
    from brainbench.scoring.benchmark import custom_benchmark

    loaded = rf.Generated(n_stimuli=24).load()
    model = rf.tiny_model()
    model.identifier = "tiny-scale"
    home = tmp_path_factory.mktemp("scale-home")
    previous = os.environ.get("BRAINBENCH_HOME")
    os.environ["BRAINBENCH_HOME"] = str(home)
    try:
        out = {}
        for scale in (1.0, 1e200, 1e-200):
            assembly = loaded.assembly.copy(data=loaded.assembly.values * scale)
            bench = custom_benchmark(assembly, loaded.stimuli, identifier="scale", split={"n_splits": 3})
            out[scale] = brainbench.score(model, bench, progress=False, device="cpu")
    finally:
        if previous is None:
            os.environ.pop("BRAINBENCH_HOME", None)
        else:
            os.environ["BRAINBENCH_HOME"] = previous
    return out


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_scores_do_not_depend_on_the_scale_of_the_responses(scale_scores, scale):
    base, scaled = scale_scores[1.0], scale_scores[scale]
    assert np.isfinite(scaled.attrs["score"]) and scaled.attrs["score_kind"] == base.attrs["score_kind"]
    assert scaled.attrs["best_layer"] == base.attrs["best_layer"]
    # only the inputs' rounding differs (x * 1e200 is not a power of two): measured <= 7e-13
    np.testing.assert_allclose(scaled.attrs["score"], base.attrs["score"], rtol=1e-9, atol=1e-10)
    for name in ("r", "ev", "ceiled", "ceiling", "r_split", "headline_r"):
        np.testing.assert_allclose(scaled[name].values, base[name].values, rtol=1e-9, atol=1e-10, err_msg=name)
    assert "response_scale" not in base.attrs
    assert np.log2(scaled.attrs["response_scale"]).is_integer()


# ------------------------------------------------------------------ 5. store row checksums
def _flip_stored_score(path: Path, score: float) -> None:
    """Flip the last byte of the first big-endian float64 ``score`` in the SQLite file (as a disk fault would)."""
    blob = bytearray(path.read_bytes())
    at = blob.find(struct.pack(">d", score))
    assert at >= 0
    blob[at + 7] ^= 0x01
    path.write_bytes(bytes(blob))


def test_a_flipped_byte_in_a_stored_score_is_caught_by_every_read(fresh_home, capsys):
    from brainbench.results.store import ResultStore, StoreError

    store = ResultStore()
    key = store.record(rf.fake_dataset(3))
    run = store.lookup(key)
    assert run is not None and run["row_sha256"] and store.has(key)
    _flip_stored_score(store.path, run["score"])
    with sqlite3.connect(store.path) as conn:
        stored = [conn.execute("SELECT score FROM runs").fetchone()[0]]
        stored += [v for (v,) in conn.execute("SELECT median_ceiled FROM layer_scores")]
    assert any(0 < abs(v - run["score"]) < 1e-9 for v in stored)  # the file really holds another number now

    for read in (store.runs, lambda: store.lookup(key), lambda: store.find_run(key[:8]), store.rows):
        with pytest.raises(StoreError, match="does not match its row checksum"):
            read()
    assert not store.has(key)
    code, _, err = _cli(capsys, ["leaderboard", "show"])
    assert code == 2 and key[:12] in _sentence(err)
    code, _, err = _cli(capsys, ["cache", "verify", "results"])
    assert code == 1 and "row checksum" in err and "fake-3" in err
    store.record(rf.fake_dataset(3))  # the remedy the message names: score it again, replacing the row
    assert [run["score"] for run in store.runs()] == [run["score"]]


def test_a_changed_layer_row_is_caught(fresh_home):
    from brainbench.results.store import ResultStore, StoreError

    store = ResultStore()
    key = store.record(rf.fake_dataset(4))
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE layer_scores SET median_r = median_r + 0.01 WHERE layer = 'l2'")
    with pytest.raises(StoreError, match="row checksum"):
        store.rows(key)
    with pytest.raises(StoreError, match="row checksum"):
        store.layers_by_run()


# ------------------------------------------------------------------ 6. sidecars name their artifact
def test_activation_files_swapped_with_their_sidecars_are_rebuilt(fresh_home, caplog):
    import torch

    from brainbench.scoring.activations import get_activations

    model = rf.tiny_model()
    model.identifier = "tiny-swap"
    stimuli = rf.Generated(n_stimuli=16).load().stimuli

    def compute():
        rows = get_activations(model, stimuli, ["c1", "c2"], model.preprocessing, torch.device("cpu"), progress=False)
        return {layer: np.asarray(r) for layer, r in rows.items()}, {layer: r.path for layer, r in rows.items()}

    original, files = compute()
    a, b = files["c1"], files["c2"]
    for first, second in ((a, b), (cache_integrity.sidecar(a), cache_integrity.sidecar(b))):
        swap = first.with_name("swap")
        first.rename(swap)
        second.rename(first)
        swap.rename(second)
    again, _ = compute()
    for layer in ("c1", "c2"):
        np.testing.assert_array_equal(again[layer], original[layer])
    warned = [r.getMessage() for r in caplog.records if r.name == "brainbench.cache"]
    assert len(warned) == 2 and all("swapped" in message for message in warned)
    assert cache_integrity.recorded(files["c1"])["artifact"]["layer"] == "c1"  # rebuilt with its identity


# ------------------------------------------------------------------ 7. one sentence, not a traceback
def test_a_plugin_module_that_raises_on_import_is_one_sentence(tiny, tmp_path, monkeypatch, capsys):
    plugin = tmp_path / "boom_plugin"
    plugin.mkdir()
    (plugin / "boom_models.py").write_text('raise RuntimeError("this plugin needs a GPU driver")\n')
    manifest = plugin / "manifest.toml"
    manifest.write_text('[models.boom-net]\npython_name = "boom_models:net"\nlayers = ["a"]\n')
    monkeypatch.syspath_prepend(str(plugin))
    monkeypatch.setenv("BRAINBENCH_MANIFESTS", os.pathsep.join([os.environ["BRAINBENCH_MANIFESTS"], str(manifest)]))
    from brainbench.registry import refresh

    refresh()
    for args in (["layers", "boom-net"], ["score", "boom-net", "gen-V1", "--no-store"]):
        code, _, err = _cli(capsys, args)
        line = _sentence(err)
        assert code == 2 and "RuntimeError: this plugin needs a GPU driver" in line and "boom_models" in line


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_an_unwritable_out_is_refused_before_any_work(tiny, capsys):
    code, _, err = _cli(capsys, ["score", "tiny-a", "gen-V1", "--no-store", "--out", "/proc/x"])
    assert code == 2 and "--out /proc/x cannot be written" in _sentence(err)
    _no_activations(tiny)


def test_a_full_disk_while_writing_activations_is_one_sentence(tiny, monkeypatch, capsys):
    class FullDisk:
        def __init__(self, *args, **kwargs):
            pass

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self):
            pass

    monkeypatch.setattr(cache_integrity, "open", lambda *a, **k: FullDisk(), raising=False)
    code, _, err = _cli(capsys, ["score", "tiny-a", "gen-V1", "--no-store"])
    line = _sentence(err)
    assert code == 2 and "the disk is full" in line and "activations" in line
    assert not any(p.name.endswith(".tmp") for p in (tiny / "activations").rglob("*"))


@pytest.mark.parametrize(
    "failure", [OSError(errno.ENOSPC, "No space left on device"), RuntimeError("NetCDF: HDF error")]
)
def test_a_full_disk_while_storing_shows_the_score_then_one_sentence(tiny, monkeypatch, capsys, failure):
    def full(self, path, *args, **kwargs):
        Path(path).write_bytes(b"partial")
        raise failure

    monkeypatch.setattr(xr.Dataset, "to_netcdf", full)
    code, out, err = _cli(capsys, ["score", "tiny-a", "gen-V1", "--json"])
    line = _sentence(err)
    assert code == 2 and "not stored" in line and "results" in line
    assert json.loads(out)["model"] == "tiny-a"  # the numbers are shown, not lost
    assert not any(p.name.endswith(".tmp") for p in (tiny / "results").rglob("*"))


def test_a_sidecar_entry_without_size_is_reported_not_a_key_error(fresh_home, capsys):
    folder = fresh_home / "extracted" / "images" / "set"
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(b"x")
    cache_integrity.sidecar(folder).write_text(json.dumps({"files": {"a.png": {"sha256": "00"}}}))
    code, _, err = _cli(capsys, ["cache", "verify", "data"])
    assert code == 1 and "malformed hash record" in err and "Traceback" not in err


def _read_only(monkeypatch, home: Path) -> None:
    """Make ``home`` behave as a read-only file system: every new file or folder, rename or
    removal under it fails with EROFS, as Linux reports them (also the removal of a file that
    is not there); reads go on."""
    import builtins
    import io

    def inside(path) -> bool:
        return isinstance(path, (str, os.PathLike)) and os.path.abspath(os.fspath(path)).startswith(f"{home}{os.sep}")

    def refuse(path):
        raise OSError(errno.EROFS, "Read-only file system", os.fspath(path))

    def guarded(real, n_paths: int):
        def call(*args, **kwargs):
            for path in args[:n_paths]:
                if inside(path):
                    if not os.path.isdir(os.path.dirname(os.path.abspath(os.fspath(path)))):
                        return real(*args, **kwargs)  # ENOENT comes first, as on Linux
                    if real.__name__ == "mkdir" and os.path.lexists(path):
                        return real(*args, **kwargs)  # EEXIST too
                    refuse(path)
            return real(*args, **kwargs)

        return call

    real_open = builtins.open

    def opened(file, mode="r", *args, **kwargs):
        if inside(file) and any(flag in mode for flag in "wax+"):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    for name, n_paths in (("mkdir", 1), ("unlink", 1), ("rmdir", 1), ("replace", 2), ("rename", 2)):
        monkeypatch.setattr(os, name, guarded(getattr(os, name), n_paths))
    monkeypatch.setattr(builtins, "open", opened)
    monkeypatch.setattr(io, "open", opened)


def test_a_read_only_home_is_one_sentence_before_the_network_runs_and_a_cached_run_still_scores(
    tiny, monkeypatch, capsys, tmp_path
):
    from brainbench.caching import hash_cache
    from brainbench.models.base import TorchModel

    code, _, err = _cli(capsys, ["score", "tiny-a", "gen-V1", "--no-store"])  # the cache, then read-only
    assert code == 0, err
    (layer_file, *_) = sorted((tiny / "activations").rglob("*.npy"))
    (data := tmp_path / "data.bin").write_bytes(b"1")
    monkeypatch.setattr(hash_cache, "_now_ns", lambda: time.time_ns() + 60 * 10**9)  # files settled: remembered
    hash_cache.file_sha256(next((tmp_path / "manifest").iterdir()))  # the hash cache's folder exists
    with monkeypatch.context() as patch:
        _read_only(patch, tiny)
        code, _, err = _cli(capsys, ["score", "tiny-a", "gen-V1", "--no-store"])
        assert code == 0, err  # all cached: nothing to write
        assert hash_cache.file_sha256(data)  # a hash that cannot be remembered is only computed again
    with open(layer_file, "r+b") as handle:  # a damaged layer that cannot be removed nor rebuilt
        handle.seek(-4, os.SEEK_END)
        handle.write(b"\x00\x00\xc0\x7f")
    with monkeypatch.context() as patch:
        _read_only(patch, tiny)
        code, _, err = _cli(capsys, ["score", "tiny-a", "gen-V1", "--no-store"])
        assert code == 2 and "read-only" in _sentence(err) and str(layer_file) in _sentence(err)
    shutil.rmtree(tiny / "activations")
    with monkeypatch.context() as patch:
        _read_only(patch, tiny)
        patch.setattr(TorchModel, "forward_layers", lambda *a, **k: pytest.fail("the network ran"))
        code, _, err = _cli(capsys, ["score", "tiny-a", "gen-V1", "--no-store"])
        line = _sentence(err)
        assert code == 2 and "read-only" in line and "activations" in line
    _no_activations(tiny)


def test_a_read_only_home_while_a_data_set_is_unpacked_or_its_assembly_looked_up(fresh_home, tmp_path, monkeypatch):
    import zipfile

    from brainbench.data.fetch import extract_zip
    from brainbench.errors import WriteError

    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("a.png", b"not really a png")
    (fresh_home / "assemblies").mkdir(parents=True)
    _read_only(monkeypatch, fresh_home)
    assert not cache_integrity.usable(fresh_home / "assemblies" / "built.nc")  # not there: to be built
    with pytest.raises(WriteError, match="read-only"):
        extract_zip(archive, fresh_home / "extracted" / "set")
    assert not (fresh_home / "extracted").exists()


# ------------------------------------------------------------------ 8. a plugin redeclaring a built-in id
def test_a_plugin_that_redeclares_a_builtin_id_is_skipped_and_listed(tmp_path, monkeypatch, capsys):
    site = tmp_path / "site"
    info = site / "clash_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: clash-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[brainbench.manifests]\nclash = clash_plugin:manifest.toml\n")
    (site / "clash_plugin").mkdir()
    (site / "clash_plugin" / "__init__.py").write_text("")
    (site / "clash_plugin" / "manifest.toml").write_text(
        '[models.alexnet-untrained]\npython_name = "clash_plugin.m:net"\nlayers = ["a"]\n'
        '[models.clash-own-net]\npython_name = "clash_plugin.m:net"\nlayers = ["a"]\n'
    )
    monkeypatch.syspath_prepend(str(site))
    from brainbench.registry import refresh

    refresh()
    code, out, err = _cli(capsys, ["list", "--problems", "--json"])
    assert code == 0, err
    (problem,) = json.loads(out)["problems"]
    assert problem["file"] == str(site / "clash_plugin" / "manifest.toml") and "declared twice" in problem["problem"]
    refresh()
    code, out, err = _cli(capsys, ["list", "models", "--json"])
    assert code == 0 and "declared twice" in err
    models = {e["id"]: e["source"] for e in json.loads(out)["models"]}
    assert "clash-own-net" not in models and "clash_plugin" not in models["alexnet-untrained"]
    code, out, _ = _cli(capsys, ["describe", "alexnet-untrained", "--json"])
    assert code == 0 and "clash_plugin" not in json.loads(out)["python_name"]


# ------------------------------------------------------------------ 9. store options, temporaries, size
def test_no_store_with_store_is_refused(tiny, capsys, tmp_path):
    code, _, err = _cli(capsys, ["score", "tiny-a", "gen-V1", "--no-store", "--store", str(tmp_path / "x.sqlite")])
    assert code == 2 and "--no-store and --store" in _sentence(err)
    _no_activations(tiny)
    assert not (tmp_path / "x.sqlite").exists()


def test_a_truncated_store_is_refused_before_the_work(tiny, capsys):
    from brainbench.results.store import ResultStore

    store = ResultStore()
    store.record(rf.fake_dataset(5))
    store.path.write_bytes(store.path.read_bytes()[:1500])
    code, _, err = _cli(capsys, ["score", "tiny-a", "gen-V1"])
    assert code == 2 and str(store.path) in _sentence(err)
    _no_activations(tiny)


def test_stale_result_temporaries_of_dead_writers_are_removed(fresh_home):
    from brainbench.results.store import ResultStore

    store = ResultStore()
    store.results_dir.mkdir(parents=True)
    stale = store.results_dir / f".{'0' * 64}.nc.{_dead_pid()}.tmp"
    stale.write_bytes(b"half a netCDF")
    live = store.results_dir / f".{'1' * 64}.nc.{os.getpid()}.tmp"
    live.write_bytes(b"being written")
    store.record(rf.fake_dataset(6))
    assert not stale.exists() and live.exists()


def test_the_smallest_data_set_scores_with_the_default_split_and_too_few_say_what_to_pass(one_torch_thread, fresh_home):
    """README: 6 stimuli score with the default split (2 folds of 3); 3 stimuli say what to pass."""
    import brainbench
    from brainbench.errors import BrainbenchError
    from brainbench.scoring.benchmark import custom_benchmark

    model = rf.tiny_model()
    model.identifier = "tiny-few"
    six = rf.Generated(n_stimuli=6, n_neuroids=3).load()
    dataset = brainbench.score(model, custom_benchmark(six.assembly, six.stimuli), progress=False, device="cpu")
    assert dataset.sizes["split"] == 2 and np.isfinite(dataset["r_split"].values).all()
    assert np.isfinite(dataset.attrs["score"])
    three = rf.Generated(n_stimuli=3, n_neuroids=3).load()
    with pytest.raises(BrainbenchError, match=r"give at least 6 stimuli, or pass your own splits="):
        custom_benchmark(three.assembly, three.stimuli)
    with pytest.raises(BrainbenchError, match=r"declare n_splits = 3 or fewer .*split=\{'n_splits': 3\}"):
        brainbench.score(model, custom_benchmark(three.assembly, three.stimuli, split={"n_splits": 10}), progress=False)


# ------------------------------------------------------------------ a relative mirror
def test_a_relative_mirror_is_read_against_the_start_folder_and_named_absolute(tmp_path, monkeypatch, fresh_home):
    import hashlib

    from brainbench.caching import paths
    from brainbench.data import RemoteFile, fetch
    from brainbench.errors import OfflineError

    start, elsewhere, mirror = tmp_path / "repo", tmp_path / "elsewhere", tmp_path / "shared" / "mirror"
    for folder in (start, elsewhere, mirror / "ds"):
        folder.mkdir(parents=True)
    (mirror / "ds" / "f.bin").write_bytes(b"data")
    digest = hashlib.sha256(b"data").hexdigest()
    monkeypatch.setattr(paths, "START_DIRECTORY", start)  # brainbench started in repo/ ...
    monkeypatch.setenv("BRAINBENCH_MIRROR", "../shared/mirror")
    monkeypatch.chdir(elsewhere)  # ... and the working directory changed since
    found = fetch(RemoteFile("ds", "f.bin", "https://example.invalid/f.bin", f"sha256:{digest}"))
    assert found == mirror / "ds" / "f.bin"
    with pytest.raises(OfflineError) as error:
        fetch(RemoteFile("ds", "missing.bin", "https://example.invalid/m", f"sha256:{digest}"))
    assert str(mirror / "ds" / "missing.bin") in str(error.value) and ".." not in str(error.value)
