"""NeuralAssembly, StimulusSet and the bring-your-own-data helper."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from brainbench.assemblies.byod import wrap_recordings
from brainbench.data.assembly import (
    AssemblyError,
    load_assembly,
    make_assembly,
    save_assembly,
    trial_mean,
    validate_assembly,
)
from brainbench.data.stimuli import StimulusSet
from brainbench.errors import DataError


def trial_assembly(rng, n_rep=4, n_stim=6, n_neuroid=3):
    values = rng.normal(size=(n_rep, n_stim, n_neuroid))
    values[3, 0, :] = np.nan  # one missing trial
    return make_assembly(
        values,
        stimulus_ids=[f"s{k}" for k in range(n_stim)],
        neuroid_ids=[f"n{k}" for k in range(n_neuroid)],
        identifier="toy",
        species="mouse",
        units="dF/F",
        response_window_ms=(0, 500),
        citation="Toy 2026",
        neuroid_coords={"region": ["VISp", "VISl", "VISl"], "depth": [175, 275, 375]},
        stimulus_coords={"category": ["a", "b", "a", "b", "a", "b"]},
    )


def test_netcdf_round_trip_is_identical(tmp_path):
    assembly = trial_assembly(np.random.default_rng(0))
    path = save_assembly(assembly, tmp_path / "a.nc")
    loaded = load_assembly(path)
    assert loaded.identical(assembly)
    assert list(loaded.region.values) == ["VISp", "VISl", "VISl"]
    assert not list(tmp_path.glob(".*tmp"))


def test_trial_mean_skips_missing_trials():
    assembly = trial_assembly(np.random.default_rng(1))
    mean = trial_mean(assembly)
    expected = np.nanmean(assembly.values[:, 0, 0])
    assert mean.dims == ("stimulus", "neuroid")
    assert mean.values[0, 0] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda a: a.transpose("stimulus", "repetition", "neuroid"), "dims must be"),
        (lambda a: a.assign_coords(neuroid_id=("neuroid", ["n0", "n0", "n1"])), "neuroid_id must be unique"),
        (lambda a: a.where(a.neuroid_id != "n1"), "no valid trial"),
        (lambda a: a.copy(data=np.where(np.isnan(a.values), 0, np.inf)), "infinite"),
        (lambda a: a.drop_vars("stimulus_id"), "stimulus_id"),
        (lambda a: a.set_index(neuroid=["neuroid_id", "region"]), "MultiIndex"),
    ],
)
def test_validation_errors(mutate, fragment):
    assembly = trial_assembly(np.random.default_rng(2))
    with pytest.raises(AssemblyError, match=fragment):
        bad = mutate(assembly)
        bad.attrs = dict(assembly.attrs)
        validate_assembly(bad)


def test_averaged_assembly_refuses_nan():
    values = np.ones((3, 2))
    values[1, 1] = np.nan
    with pytest.raises(AssemblyError, match="averaged assembly contains NaN"):
        make_assembly(values, stimulus_ids="abc", neuroid_ids="xy", identifier="t")


def test_stimulus_sets_from_arrays_files_and_zip_hash_the_same_pixels(tmp_path):
    rng = np.random.default_rng(3)
    arrays = [rng.integers(0, 255, size=(8, 10, 3), dtype=np.uint8) for _ in range(3)]
    paths = []
    for k, array in enumerate(arrays):
        paths.append(tmp_path / f"img{k}.png")
        Image.fromarray(array).save(paths[-1])
    with zipfile.ZipFile(tmp_path / "imgs.zip", "w") as archive:
        for path in paths:
            archive.write(path, path.name)
    from_files = StimulusSet.from_files(paths)
    from_zip = StimulusSet.from_zip(tmp_path / "imgs.zip", [p.name for p in paths])
    from_arrays = StimulusSet.from_arrays(arrays, ids=["img0", "img1", "img2"])
    assert from_files.ids == from_zip.ids == ["img0", "img1", "img2"]
    assert from_files.content_hash == from_zip.content_hash  # same bytes
    for k in range(3):
        np.testing.assert_array_equal(np.asarray(from_zip.image(k)), arrays[k])
        np.testing.assert_array_equal(np.asarray(from_arrays.image(k)), arrays[k])
    changed = [a.copy() for a in arrays]
    changed[1][0, 0, 0] ^= 1
    assert StimulusSet.from_arrays(changed, ids=from_arrays.ids).content_hash != from_arrays.content_hash


def test_stimulus_set_errors(tmp_path):
    with pytest.raises(DataError, match="unique"):
        StimulusSet.from_arrays([np.zeros((2, 2))] * 2, ids=["a", "a"])
    with pytest.raises(DataError, match="does not exist"):
        StimulusSet.from_files([tmp_path / "missing.png"])
    with pytest.raises(DataError, match="NaN"):
        StimulusSet.from_arrays([np.full((2, 2), np.nan)])


def test_wrap_recordings_from_files(tmp_path):
    rng = np.random.default_rng(4)
    folder = tmp_path / "images"
    folder.mkdir()
    for k in range(5):
        Image.fromarray(rng.integers(0, 255, size=(6, 6), dtype=np.uint8)).save(folder / f"im{k}.png")
    responses = rng.normal(size=(3, 5, 4))
    np.save(tmp_path / "r.npy", responses)
    data = wrap_recordings(tmp_path / "r.npy", folder, identifier="mine", region="V1", units="Hz")
    assert data.assembly.dims == ("repetition", "stimulus", "neuroid")
    assert list(data.assembly.stimulus_id.values) == [f"im{k}" for k in range(5)]
    assert set(data.assembly.region.values) == {"V1"}
    np.testing.assert_array_equal(data.assembly.values, responses)
    assert data.stimuli.ids == list(data.assembly.stimulus_id.values)


def test_wrap_recordings_refuses_mismatch_and_pickles(tmp_path):
    with pytest.raises(AssemblyError, match="4 images but responses have 5 stimuli"):
        wrap_recordings(np.zeros((5, 2)), np.zeros((4, 3, 3)))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="not a plain numeric"):
        wrap_recordings(tmp_path / "obj.npy", np.zeros((1, 3, 3)))


def test_custom_benchmark_scores_user_data():
    """The helper's output goes through the whole scorer like a built-in benchmark."""
    import torch

    import brainbench
    from brainbench.models.base import TorchModel
    from brainbench.registry.manifest import Preprocessing
    from brainbench.scoring.benchmark import custom_benchmark

    rng = np.random.default_rng(5)
    images = rng.integers(0, 255, size=(40, 16, 16), dtype=np.uint8)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1))
    model = TorchModel(net, {"relu": "1", "pool": "2"}, identifier="tiny", preprocessing=Preprocessing(size=16))
    # responses that a linear map of the pooled features explains well
    feats = (
        model.forward_layers(
            torch.stack(
                [
                    __import__("brainbench.models.preprocess", fromlist=["to_tensor"]).to_tensor(
                        StimulusSet.from_arrays(list(images)).image(k), model.preprocessing
                    )
                    for k in range(40)
                ]
            ),
            ["pool"],
        )["pool"]
        .reshape(40, -1)
        .double()
        .numpy()
    )
    weights = rng.normal(size=(feats.shape[1], 3))
    signal = feats @ weights
    trials = signal[None] + 0.1 * signal.std() * rng.normal(size=(4, 40, 3))
    dims = ("repetition", "stimulus", "neuroid")  # 4 repetitions of 3 neuroids: say which axis is which
    data = wrap_recordings(trials, images, identifier="user-data", region="V1", dims=dims)
    result = brainbench.score(
        model, custom_benchmark(data.assembly, data.stimuli, split={"n_splits": 5}), progress=False
    )
    assert isinstance(result, xr.Dataset)
    assert result.attrs["benchmark"] == "user-data"
    assert float(result["r"].sel(layer="pool").median()) > 0.9


def test_run_splits_are_the_declared_ones_or_the_callers_own_checked():
    from brainbench.data.splits import make_splits, run_splits
    from brainbench.errors import BrainbenchError
    from brainbench.registry.manifest import SplitSpec

    declared = SplitSpec(n_splits=3, seed=2)
    splits, record = run_splits(declared, 12, seed=5)
    assert [s.test.tolist() for s in splits] == [s.test.tolist() for s in make_splits(declared, 12, None, 5)]
    assert record == {"custom": False, **declared.model_dump()}
    own, own_record = run_splits(declared, 12, own=[(range(2, 12), [0, 1])], seed=5)
    assert own[0].train.dtype == np.int64 and own_record["custom"] is True and own_record["n_test"] == [2]
    with pytest.raises(BrainbenchError, match="out of range for 12 stimuli"):
        run_splits(declared, 12, own=[([0, 1, 2], [12])])


def _old_splits(spec, n, labels, seed):
    """The splits of distinct stimuli as made before identical images were grouped (the reference)."""
    rng = np.random.default_rng([spec.seed, seed])
    if spec.kind == "holdout":
        n_test = max(1, round(n * spec.test_fraction))
        orders = [rng.permutation(n) for _ in range(spec.n_splits)]
        return [np.sort(order[:n_test]).tolist() for order in orders]
    fold = np.empty(n, dtype=np.int64)
    if spec.stratify:
        offset = 0
        for label in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == label))
            fold[members] = (offset + np.arange(len(members))) % spec.n_splits
            offset += len(members)
    else:
        fold[rng.permutation(n)] = np.arange(n) % spec.n_splits
    return [np.flatnonzero(fold == k).tolist() for k in range(spec.n_splits)]


@pytest.mark.parametrize(
    "declared",
    [
        {"n_splits": 5, "seed": 3},
        {"n_splits": 4, "seed": 0, "stratify": "category"},
        {"kind": "holdout", "n_splits": 3, "test_fraction": 0.3, "seed": 1},
    ],
    ids=["kfold", "stratified", "holdout"],
)
def test_identical_images_stay_on_one_side_of_every_split_and_distinct_ones_split_as_before(declared):
    from brainbench.data.splits import make_splits, run_splits
    from brainbench.registry.manifest import SplitSpec

    spec = SplitSpec(**declared)
    n = 30
    labels = np.array(["a", "b", "c"] * 10)  # stimulus k + 20 copies stimulus k: the same class
    for seed in (0, 7):
        reference = _old_splits(spec, n, labels, seed)
        for groups in (None, np.arange(n), np.arange(n)[::-1]):  # distinct stimuli, whatever the labels
            made = make_splits(spec, n, labels, seed, groups)
            assert [s.test.tolist() for s in made] == reference
    copies = np.r_[np.arange(20), np.arange(10)]  # stimuli 20-29 are copies of 0-9
    splits, record = run_splits(spec, n, stratify_values=labels, seed=0, groups=copies)
    for split in splits:
        assert not set(copies[split.train]) & set(copies[split.test])  # no copy on the other side
        assert split.train.size >= 2 and split.test.size >= 1
    if spec.kind == "kfold":
        assert sorted(k for s in splits for k in s.test.tolist()) == list(range(n))  # each stimulus tested once
    assert record["grouped"] == {"groups": 10, "stimuli": 20, "labels": copies.tolist()}
    assert "grouped" not in run_splits(spec, n, stratify_values=labels, groups=np.arange(n))[1]


def test_too_few_distinct_images_for_the_folds_is_one_sentence():
    from brainbench.data.splits import make_splits
    from brainbench.errors import BrainbenchError
    from brainbench.registry.manifest import SplitSpec

    with pytest.raises(BrainbenchError, match=r"there are 4 \(2 of them copies of others"):
        make_splits(SplitSpec(n_splits=5), 6, groups=[0, 1, 2, 3, 0, 1])


def test_a_stimulus_set_groups_identical_images_and_a_run_keeps_them_together():
    import brainbench
    from brainbench.models.base import TorchModel
    from brainbench.registry.manifest import Preprocessing
    from brainbench.scoring import prepare
    from brainbench.scoring.benchmark import custom_benchmark

    rng = np.random.default_rng(3)
    images = list(rng.integers(0, 255, size=(24, 8, 8), dtype=np.uint8))
    images[20:] = images[:4]  # the last four show the first four again, under their own ids
    stimuli = StimulusSet.from_arrays(images)
    assert stimuli.identical_groups(stimuli.ids).tolist() == [*range(20), 0, 1, 2, 3]
    assert stimuli.identical_groups(stimuli.ids[20:][::-1]).tolist() == [0, 1, 2, 3]
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.AdaptiveAvgPool2d(1))
    model = TorchModel(net, {"pool": "1"}, identifier="tiny-dup", preprocessing=Preprocessing(size=8))
    trials = rng.normal(size=(3, 24, 2))
    data = wrap_recordings(trials, images, identifier="dup-data", dims=("repetition", "stimulus", "neuroid"))
    bench = custom_benchmark(data.assembly, data.stimuli, split={"n_splits": 4})
    _, loaded, spec = prepare(model, bench, progress=False)
    groups = loaded.stimuli.identical_groups(loaded.assembly["stimulus_id"].values)
    for split in loaded.splits:  # no test image is also a training image
        assert not set(groups[split.train]) & set(groups[split.test])
    assert spec.content["split_groups"]["groups"] == 4  # the grouping is in the key
    alone = wrap_recordings(trials[:, :20], images[:20], identifier="nodup", dims=("repetition", "stimulus", "neuroid"))
    distinct = custom_benchmark(alone.assembly, alone.stimuli, split={"n_splits": 4})
    assert "split_groups" not in prepare(model, distinct, progress=False)[2].content  # keys of distinct sets unchanged
    assert brainbench.score(model, bench, progress=False).attrs["split_spec"].count('"grouped"') == 1
