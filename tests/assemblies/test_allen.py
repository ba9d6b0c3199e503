"""Allen Brain Observatory plugin: NWB reader, responses, pinned lists, fetching and bad inputs.

Every file is a miniature NWB v1 written by :mod:`allen_fixtures`; nothing touches the network.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from brainbench.assemblies.allen import experiments as exps
from brainbench.assemblies.allen import source as src
from brainbench.assemblies.allen.nwb import read_session, read_template
from brainbench.assemblies.allen.responses import repetitions, sweep_length, trial_responses
from brainbench.data.fetch import file_hash
from brainbench.errors import DataError, OfflineError

from helpers.allen_fixtures import write_area, write_nwb

# ---------------------------------------------------------------- reader and responses


def _allen_by_hand(traces, frame, start, end, window_sweeps, trace="corrected"):
    """Allen's get_sweep_response / mean_sweep_response written out trial by trial."""
    sweep = int(end[1] - start[1])
    inter = 4 * sweep
    out = {}
    for k, (f, s) in enumerate(zip(frame, start, strict=True)):
        if f < 0:
            continue
        cut = traces[:, s - inter : s + sweep + inter]
        if trace == "corrected":
            rel = 100 * (cut / cut[:, :inter].mean(axis=1, keepdims=True) - 1)
            out[k] = rel[:, inter : inter + window_sweeps * sweep].mean(axis=1)
        else:
            out[k] = cut[:, inter : inter + window_sweeps * sweep].mean(axis=1) - cut[:, :inter].mean(axis=1)
    return out, sweep


@pytest.mark.parametrize("pipeline", ["2.0", "1.0"])
def test_reader_reads_what_was_written(tmp_path, pipeline):
    truth = write_nwb(tmp_path / "e.nwb", 501, n_cells=3, pipeline_version=pipeline)
    session = read_session(truth.path)
    assert session.experiment_id == 501
    assert session.metadata["area"] == "VISl" and session.metadata["imaging_depth"] == 175
    assert session.metadata["cre_line"] == "Cux2-CreERT2/wt"
    np.testing.assert_array_equal(session.cell_specimen_ids, truth.cell_specimen_ids)
    # corrected = demixed (or raw before 2.0) - r * neuropil, not the raw Fluorescence data
    np.testing.assert_allclose(session.traces, truth.corrected, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(session.frame, truth.frame)
    np.testing.assert_array_equal(session.start, truth.start)
    np.testing.assert_array_equal(session.end, truth.end)
    dff = read_session(truth.path, trace="dff")
    np.testing.assert_array_equal(dff.traces, truth.dff)
    np.testing.assert_array_equal(read_template(truth.path), truth.template)


def test_stimulus_table_is_sorted_by_start(tmp_path):
    import h5py

    truth = write_nwb(tmp_path / "e.nwb", 7, n_cells=2)
    with h5py.File(truth.path, "r+") as h:  # store the table shuffled; the reader must sort it
        g = h["stimulus/presentation/natural_scenes_stimulus"]
        perm = np.random.default_rng(0).permutation(truth.frame.size)
        data, dur = g["data"][()], g["frame_duration"][()]
        g["data"][...] = data[perm]
        g["frame_duration"][...] = dur[perm]
    session = read_session(truth.path)
    np.testing.assert_array_equal(session.frame, truth.frame)
    np.testing.assert_array_equal(session.start, truth.start)


@pytest.mark.parametrize(
    ("window", "sweeps", "trace"),
    [("500ms", 2, "corrected"), ("250ms", 1, "corrected"), ("500ms", 2, "dff")],
)
def test_responses_match_hand_computed_windows(tmp_path, window, sweeps, trace):
    truth = write_nwb(tmp_path / "e.nwb", 11, n_cells=3, drop_presentation_of=5)
    session = read_session(truth.path, trace=trace)
    length = sweep_length(session.start, session.end)
    per_trial = trial_responses(session.traces, session.start, length, window, trace)
    reps = repetitions(session.frame, per_trial)
    expected, sweep = _allen_by_hand(
        truth.corrected if trace == "corrected" else truth.dff,
        truth.frame,
        truth.start,
        truth.end,
        sweeps,
        trace,
    )
    assert length == sweep == 7  # 250 ms at 30 Hz, as in the real sessions
    assert reps.shape == (4, 118, 3)
    seen = np.zeros(118, dtype=int)
    for k, f in enumerate(truth.frame):
        if f < 0:
            continue
        np.testing.assert_allclose(reps[seen[f], f], expected[k], rtol=1e-9, atol=1e-9)
        seen[f] += 1
    # the scene with a dropped presentation is NaN-padded, every other one is complete
    assert np.isnan(reps[3, 5]).all() and not np.isnan(np.delete(reps, 5, axis=1)).any()
    # blanks are not scenes: 4 blocks x 3 blanks were dropped
    assert int((truth.frame < 0).sum()) == 12 and int(np.isfinite(reps[..., 0]).sum()) == 118 * 4 - 1


def test_response_recovers_planted_tuning(tmp_path):
    truth = write_nwb(tmp_path / "e.nwb", 3, n_cells=3, n_repeats=6, noise=0.5)
    session = read_session(truth.path)
    per_trial = trial_responses(session.traces, session.start, 7, "250ms")
    mean = np.nanmean(repetitions(session.frame, per_trial), axis=0)
    for c in range(3):
        assert np.corrcoef(mean[:, c], truth.tuning[:, c])[0, 1] > 0.8  # baselines hold earlier responses


def test_trials_without_full_baseline_are_dropped():
    traces = np.ones((1, 100)) * 10.0
    start = np.array([5, 40, 92])  # first lacks a 28-frame baseline, last runs past the end
    out = trial_responses(traces, start, 7)
    assert np.isnan(out[0]).all() and np.isnan(out[2]).all()
    assert out[1, 0] == pytest.approx(0.0)


# ---------------------------------------------------------------- pinned experiments


def test_pinned_lists_match_the_issue():
    counts = {a: len(exps.pinned(a)) for a in exps.AREAS}
    assert counts == {"VISp": 16, "VISl": 11, "VISal": 13, "VISam": 11, "VISpm": 13, "VISrl": 12}
    full = {a: len(exps.pinned(a, "full")) for a in exps.AREAS}
    assert full == {"VISp": 144, "VISl": 106, "VISpm": 87, "VISal": 41, "VISrl": 40, "VISam": 38}
    for area in exps.AREAS:
        assert all(e.sha256 and len(e.sha256) == 64 and e.size for e in exps.pinned(area))
        assert 2.5 < exps.download_gb(area) < 7.0
    full = src.load("VISl", variant="full").remote_files()
    assert len(full) == 106 and sum(r.known_hash is not None for r in full) == 11
    first_full = exps.pinned("VISl", "full")[0].experiment_id
    assert full[0].path == f"ophys_experiment_data/{first_full}.nwb"
    assert src.load("VISl", variant="full").identifier == "allen-VISl-full"
    first = exps.pinned("VISal")[0]
    assert (first.experiment_id, first.container_id, first.imaging_depth) == (
        501889084,
        511510797,
        175,
    )
    assert first.sha256.startswith("ef7d0d7f3f72")


def test_rma_route(monkeypatch):
    url = exps.rma_query_url(501889084)
    assert url.startswith("http://api.brain-map.org/api/v2/data/query.json?q=model::WellKnownFile")
    assert "[attachable_id$eq501889084]" in url and "well_known_file_type[name$eqNWBOphys]" in url
    answer = json.dumps({"success": True, "msg": [{"download_link": "/api/v2/well_known_file_download/123"}]})
    assert exps.parse_rma_response(answer, 1) == "http://api.brain-map.org/api/v2/well_known_file_download/123"
    with pytest.raises(DataError, match="did not list an NWB file"):
        exps.parse_rma_response(json.dumps({"success": True, "msg": []}), 1)


# ---------------------------------------------------------------- the assembly plugin


def _patched(monkeypatch, folder: Path, area: str = "VISl", n: int = 3, **kwargs):
    """Miniature files for the first ``n`` pinned experiments, the hash list patched to them."""
    chosen = exps.pinned(area)[:n]
    truths = write_area(folder, chosen, **kwargs)
    patched = tuple(
        dataclasses.replace(
            e,
            sha256=file_hash(truths[e.experiment_id].path),
            size=truths[e.experiment_id].path.stat().st_size,
        )
        for e in chosen
    )
    monkeypatch.setattr(src, "pinned", lambda a, variant="pinned": patched if a == area else ())
    return patched, truths


@pytest.fixture
def allen_mirror(monkeypatch, tmp_path):
    mirror = tmp_path / "mirror"
    patched, truths = _patched(monkeypatch, mirror / src.DATASET)
    monkeypatch.setenv("BRAINBENCH_MIRROR", str(mirror))
    return patched, truths


def test_assembly_from_mirror(allen_mirror, fresh_home):
    patched, truths = allen_mirror
    loaded = src.load("VISl").load(progress=False)
    a = loaded.assembly
    assert a.dims == ("repetition", "stimulus", "neuroid") and a.shape == (4, 118, 12)
    assert list(a.stimulus_id.values[:2]) == ["natural_scene_000", "natural_scene_001"]
    first = patched[0]
    assert a.neuroid_id.values[0] == f"{first.experiment_id}-{truths[first.experiment_id].cell_specimen_ids[0]}"
    for coord in (
        "region",
        "experiment_id",
        "container_id",
        "cre_line",
        "imaging_depth",
        "cell_specimen_id",
    ):
        assert a[coord].dims == ("neuroid",)
    assert set(a.region.values) == {"VISl"}
    assert list(a.experiment_id.values[::4]) == [e.experiment_id for e in patched]
    assert a.attrs["response_window_ms"].tolist() == [0.0, 500.0]
    # the values are those of the reader + responses, experiment by experiment
    t = truths[patched[1].experiment_id]
    expected, _ = _allen_by_hand(t.corrected, t.frame, t.start, t.end, 2)
    k = int(np.flatnonzero(t.frame == 42)[0])
    np.testing.assert_allclose(a.values[0, 42, 4:8], expected[k], rtol=1e-9)
    # stimuli: the template, in order
    assert len(loaded.stimuli) == 118 and loaded.stimuli.ids == list(a.stimulus_id.values)
    np.testing.assert_array_equal(np.asarray(loaded.stimuli.image(7).convert("L")), t.template[7])


def test_cache_is_used_and_never_rereads_nwb(allen_mirror, fresh_home, monkeypatch):
    first = src.load("VISl").load(progress=False)
    cached = list((fresh_home / "assemblies").glob("allen-VISl-*.nc"))
    assert len(cached) == 1

    def boom(*args, **kwargs):
        raise AssertionError("NWB read although the cache is valid")

    with monkeypatch.context() as patch:
        patch.setattr(src, "read_session", boom)
        patch.setattr(src, "read_template", boom)
        patch.setattr(src, "fetch", boom)
        again = src.load("VISl").load(progress=False)
    assert again.assembly.identical(first.assembly)
    assert again.stimuli.content_hash == first.stimuli.content_hash
    # another window is another cache entry
    other = src.load("VISl", window="250ms").load(progress=False)
    assert not np.allclose(np.nan_to_num(other.assembly.values), np.nan_to_num(first.assembly.values))


def test_allensdk_manifest_reused_without_allensdk(monkeypatch, tmp_path, fresh_home):
    cache = tmp_path / "allensdk_cache"
    _patched(monkeypatch, cache, n=2)
    manifest = cache / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "manifest": [
                    {"key": "BASEDIR", "type": "dir", "spec": "."},
                    {
                        "key": "EXPERIMENT_DATA",
                        "type": "file",
                        "spec": "ophys_experiment_data/%d.nwb",
                        "parent_key": "BASEDIR",
                    },
                ]
            }
        )
    )
    monkeypatch.setenv(src.MANIFEST_ENV, str(manifest))
    loaded = src.load("VISl").load(progress=False)
    assert loaded.assembly.sizes["neuroid"] == 8
    assert not (fresh_home / "data").exists()  # nothing was copied or downloaded


def test_download_url_resolved_only_when_downloading(monkeypatch, tmp_path, fresh_home):
    patched, _ = _patched(monkeypatch, tmp_path / "files", n=1)
    calls, fetched = [], []
    monkeypatch.setattr(src, "resolve_download_url", lambda i: calls.append(i) or f"https://x/{i}")
    source = src.load("VISl")
    with pytest.raises(OfflineError, match="ophys_experiment_data"):  # offline: no query either
        source.locate(patched[0], progress=False)
    assert calls == []
    monkeypatch.delenv("BRAINBENCH_OFFLINE")
    monkeypatch.setattr(src, "fetch", lambda remote, progress: fetched.append(remote) or Path("x"))
    source.locate(patched[0], progress=False)
    assert calls == [patched[0].experiment_id] and fetched[0].url == f"https://x/{patched[0].experiment_id}"
    assert fetched[0].known_hash == f"sha256:{patched[0].sha256}"


# ---------------------------------------------------------------- bad inputs


def _nothing_cached(home: Path) -> None:
    assert not list(home.glob("assemblies/*")), "an assembly was written although the build failed"
    assert not list(home.glob("extracted/**/*.npy")), "a template was written although the build failed"


def test_truncated_and_corrupt_files(tmp_path):
    truth = write_nwb(tmp_path / "e.nwb", 1, n_cells=2)
    blob = truth.path.read_bytes()
    truncated = tmp_path / "truncated.nwb"
    truncated.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="truncated or corrupt|corrupt"):
        read_session(truncated)
    garbage = tmp_path / "garbage.nwb"
    garbage.write_bytes(b"not an hdf5 file" * 100)
    with pytest.raises(DataError, match="not a readable HDF5/NWB file"):
        read_template(garbage)


def test_hash_mismatch_leaves_no_cache(allen_mirror, fresh_home, monkeypatch):
    patched, truths = allen_mirror
    bad = list(patched)
    bad[1] = dataclasses.replace(bad[1], sha256="0" * 64)
    monkeypatch.setattr(src, "pinned", lambda a, variant="pinned": tuple(bad))
    with pytest.raises(DataError, match="delete it and fetch again"):
        src.load("VISl").load(progress=False)
    _nothing_cached(fresh_home)


def test_experiment_without_natural_scenes(tmp_path):
    truth = write_nwb(tmp_path / "e.nwb", 1, n_cells=2, natural_scenes=False)
    with pytest.raises(DataError, match="no natural_scenes stimulus .*spontaneous.*three_session_B"):
        read_session(truth.path)
    with pytest.raises(DataError, match="does not hold the natural scenes"):
        read_template(truth.path)


def test_nan_traces(tmp_path):
    import h5py

    truth = write_nwb(tmp_path / "e.nwb", 1, n_cells=2)
    with h5py.File(truth.path, "r+") as h:
        h["processing/brain_observatory_pipeline/DfOverF/imaging_plane_1/data"][1, 50] = np.nan
    with pytest.raises(
        DataError,
        match=rf"non-finite dff values .*specimen {truth.cell_specimen_ids[1]} at frame 50",
    ):
        read_session(truth.path, trace="dff")


def test_templates_that_differ_leave_no_cache(monkeypatch, tmp_path, fresh_home):
    mirror = tmp_path / "mirror"
    patched, truths = _patched(monkeypatch, mirror / src.DATASET, n=3)
    odd = patched[2]
    template = truths[odd.experiment_id].template.copy()
    template[17, 0, 0] ^= 1
    write_nwb(truths[odd.experiment_id].path, odd.experiment_id, seed=2, template=template)
    fixed = tuple(patched[:2]) + (dataclasses.replace(odd, sha256=file_hash(truths[odd.experiment_id].path)),)
    monkeypatch.setattr(src, "pinned", lambda a, variant="pinned": fixed)
    monkeypatch.setenv("BRAINBENCH_MIRROR", str(mirror))
    with pytest.raises(DataError, match=f"template of experiment {odd.experiment_id}.*differs"):
        src.load("VISl").load(progress=False)
    _nothing_cached(fresh_home)


def test_wrong_experiment_in_place(monkeypatch, tmp_path, fresh_home):
    mirror = tmp_path / "mirror"
    patched, truths = _patched(monkeypatch, mirror / src.DATASET, n=1)
    path = truths[patched[0].experiment_id].path
    write_nwb(path, 999, n_cells=2)
    fixed = (dataclasses.replace(patched[0], sha256=file_hash(path)),)
    monkeypatch.setattr(src, "pinned", lambda a, variant="pinned": fixed)
    monkeypatch.setenv("BRAINBENCH_MIRROR", str(mirror))
    with pytest.raises(DataError, match="holds experiment 999"):
        src.load("VISl").load(progress=False)
    _nothing_cached(fresh_home)


def test_bad_parameters():
    with pytest.raises(DataError, match="window must be one of"):
        src.load("VISl", window="1s")
    with pytest.raises(DataError, match="unknown Allen area 'V1'"):
        src.load("V1")


# ---------------------------------------------------------------- allensdk cross-check


def test_allensdk_reads_the_same(tmp_path):
    pytest.importorskip(
        "allensdk",
        reason="allensdk is an optional extra (Python<3.12, numpy<1.24); not installed in this environment",
    )
    from allensdk.brain_observatory.natural_scenes import NaturalScenes
    from allensdk.core.brain_observatory_nwb_data_set import BrainObservatoryNwbDataSet

    truth = write_nwb(tmp_path / "e.nwb", 5, n_cells=3)
    ds = BrainObservatoryNwbDataSet(str(truth.path))
    ts, dff = ds.get_dff_traces()
    np.testing.assert_array_equal(dff, truth.dff)
    np.testing.assert_array_equal(ds.get_cell_specimen_ids(), truth.cell_specimen_ids)
    table = ds.get_stimulus_table("natural_scenes")
    session = read_session(truth.path)
    np.testing.assert_array_equal(table.frame.values, session.frame)
    np.testing.assert_array_equal(table.start.values, session.start)
    np.testing.assert_array_equal(ds.get_stimulus_template("natural_scenes"), read_template(truth.path))
    _, corrected = ds.get_corrected_fluorescence_traces()
    np.testing.assert_allclose(corrected, session.traces)
    ns = NaturalScenes(ds)
    ours = trial_responses(session.traces, session.start, sweep_length(session.start, session.end))
    theirs = ns.mean_sweep_response.values[:, :3].astype(float)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
