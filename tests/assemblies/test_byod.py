"""Bringing your own recordings: every input that used to pass silently or fail raw."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from brainbench.assemblies.byod import wrap_recordings
from brainbench.data.assembly import AssemblyError
from brainbench.data.stimuli import StimulusSet, natural_key
from brainbench.errors import BrainbenchError, DataError
from brainbench.identifiers import IdentifierError, check_identifier

RNG = np.random.default_rng(11)


def _responses(n_stimuli: int, n_neuroids: int = 4, reps: int | None = None) -> np.ndarray:
    shape = (n_stimuli, n_neuroids) if reps is None else (reps, n_stimuli, n_neuroids)
    return RNG.normal(size=shape)


def _folder(tmp_path, n: int, name: str = "images"):
    folder = tmp_path / name
    folder.mkdir()
    for k in range(1, n + 1):  # pixel value k identifies img<k>
        Image.fromarray(np.full((4, 4), k, dtype=np.uint8)).save(folder / f"img{k}.png")
    return folder


# ------------------------------------------------------------------ pixel range
def test_float_images_in_0_255_keep_their_values():
    images = RNG.uniform(0, 255, size=(6, 31, 31))
    images[0] *= 0.003  # a dark image (max < 1) inside a 0-255 set stays dark
    data = wrap_recordings(_responses(6), images, identifier="float255")
    pixels = np.asarray(data.stimuli.image(1))[..., 0]
    np.testing.assert_array_equal(pixels, np.rint(images[1]).astype(np.uint8))
    assert len(np.unique(pixels)) > 100
    assert np.asarray(data.stimuli.image(0)).max() <= 1


def test_float_images_in_0_1_are_scaled_and_out_of_range_refused():
    images = RNG.uniform(0, 1, size=(4, 5, 5))
    stimuli = StimulusSet.from_arrays(images)
    np.testing.assert_array_equal(np.asarray(stimuli.image(2))[..., 0], np.rint(images[2] * 255).astype(np.uint8))
    with pytest.raises(DataError, match=r"\[0, 1\] or \[0, 255\]"):
        StimulusSet.from_arrays(images * 300)
    with pytest.raises(DataError, match=r"range over \[-0\.9"):
        StimulusSet.from_arrays(images - 1)
    ints = StimulusSet.from_arrays(np.full((3, 2, 2), 200, dtype=np.int64))
    assert np.asarray(ints.image(0)).max() == 200


# ------------------------------------------------------------------ image order and ids
def test_natural_order_of_a_folder(tmp_path):
    folder = _folder(tmp_path, 12)
    responses = _responses(12)
    data = wrap_recordings(responses, folder, identifier="natural")
    assert data.stimuli.ids == [f"img{k}" for k in range(1, 13)]
    assert [np.asarray(data.stimuli.image(k))[0, 0, 0] for k in range(12)] == list(range(1, 13))
    assert sorted(["img10", "img2", "Img1"], key=natural_key) == ["Img1", "img2", "img10"]


def test_stimulus_ids_select_and_order_a_folder_and_a_zip(tmp_path):
    folder = _folder(tmp_path, 12)
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for k in range(1, 13):
            zf.write(folder / f"img{k}.png", f"set/img{k}.png")
    order = ["img12", "img3", "img7", "img1"]
    for source in (folder, archive):
        data = wrap_recordings(_responses(4, n_neuroids=3), source, identifier="chosen", stimulus_ids=order)
        assert data.stimuli.ids == order
        assert list(data.assembly.stimulus_id.values) == order
        assert [np.asarray(data.stimuli.image(k))[0, 0, 0] for k in range(4)] == [12, 3, 7, 1]
    with pytest.raises(DataError, match="match no image file stem.*'img13'"):
        wrap_recordings(_responses(3), folder, stimulus_ids=["img1", "img2", "img13"])


# ------------------------------------------------------------------ axes
def test_dims_transposes_and_accidental_shapes_are_refused():
    trials = _responses(5, n_neuroids=3, reps=4)  # (repetition, stimulus, neuroid)
    images = RNG.integers(0, 255, size=(5, 4, 4), dtype=np.uint8)
    given = trials.transpose(2, 1, 0)  # (neuroid, stimulus, repetition): axis -2 is still 5
    data = wrap_recordings(given, images, dims=("neuroid", "stimulus", "repetition"))
    np.testing.assert_array_equal(data.assembly.values, trials)
    swapped = trials.transpose(1, 0, 2)  # (stimulus, repetition, neuroid)
    with pytest.raises(AssemblyError, match=r"dims=\('stimulus', 'repetition', 'neuroid'\)"):
        wrap_recordings(swapped, images)
    with pytest.raises(AssemblyError, match=r"dims=\('neuroid', 'stimulus'\)"):
        wrap_recordings(trials[0].T, images)
    with pytest.raises(AssemblyError, match="must name each of"):
        wrap_recordings(trials, images, dims=("trial", "stimulus", "neuroid"))
    flat = wrap_recordings(trials[0].T, images, dims=("neuroid", "stimulus"))
    np.testing.assert_array_equal(flat.assembly.values, trials[0])


# ------------------------------------------------------------------ identifiers
@pytest.mark.parametrize("bad", ["lab/v1 session", "../escape", "a..b", ".hidden", "", "x" * 129, "a\\b"])
def test_unsafe_identifiers_are_refused(bad):
    with pytest.raises(IdentifierError, match="cannot be used as a file name"):
        wrap_recordings(_responses(3), RNG.uniform(size=(3, 4, 4)), identifier=bad)


def test_identifier_rule_everywhere_a_name_becomes_a_path():
    from brainbench.scoring.benchmark import custom_benchmark

    assert check_identifier("lab-v1.session_2") == "lab-v1.session_2"
    data = wrap_recordings(_responses(3), RNG.uniform(size=(3, 4, 4)), identifier="ok")
    with pytest.raises(IdentifierError):
        custom_benchmark(data.assembly, data.stimuli, identifier="../../etc")
    from brainbench.caching.activation_cache import activation_file

    with pytest.raises(IdentifierError, match="model id"):
        activation_file("../outside", "conv1", "0" * 64)
    with pytest.raises(IdentifierError, match="layer name"):
        activation_file("alexnet", "../conv1", "0" * 64)


# ------------------------------------------------------------------ responses
def test_constant_neuroids_are_dropped_and_all_constant_refused():
    images = RNG.uniform(size=(5, 4, 4))
    responses = _responses(5, n_neuroids=4)
    responses[:, 1] = 3.0
    with pytest.warns(UserWarning, match="dropping 1 of 4 neuroids.*n0001"):
        data = wrap_recordings(responses, images)
    assert list(data.assembly.neuroid_id.values) == ["n0000", "n0002", "n0003"]
    with pytest.raises(AssemblyError, match="nothing to predict"):
        wrap_recordings(np.ones((5, 4)), images)


def test_bad_responses_are_refused_with_a_sentence(tmp_path):
    images = RNG.uniform(size=(5, 4, 4))
    with pytest.raises(AssemblyError, match="region lists 3 values for 4 neuroids"):
        wrap_recordings(_responses(5), images, region=["V1", "V2", "V4"])
    with pytest.raises(AssemblyError, match="coordinate 'depth' has shape"):
        wrap_recordings(_responses(5), images, neuroid_coords={"depth": [1, 2]})
    np.save(tmp_path / "text.npy", np.array([["1.0", "2.0"]] * 5))
    with pytest.raises(DataError, match="text.npy holds <U3 values, not numbers"):
        wrap_recordings(tmp_path / "text.npy", images)
    np.save(tmp_path / "complex.npy", _responses(5) + 1j)
    with pytest.raises(DataError, match="complex numbers"):
        wrap_recordings(tmp_path / "complex.npy", images)
    with pytest.raises(DataError, match="rectangular"):
        wrap_recordings([[1.0, 2.0], [3.0]], images)
    with pytest.raises(AssemblyError, match="2 stimuli are too few.*at least 3"):
        wrap_recordings(_responses(2), images[:2])


def test_a_file_that_is_not_an_image_is_named(tmp_path):
    folder = _folder(tmp_path, 4)
    (folder / "img3.png").write_bytes(b"this is not a png")
    with pytest.raises(DataError, match=r"'img3' \(.*img3.png\) is not an image Pillow can read"):
        wrap_recordings(_responses(4, n_neuroids=3), folder)
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for k in range(1, 5):
            zf.write(folder / f"img{k}.png", f"img{k}.png")
    with pytest.raises(DataError, match=r"'img3.png' in bad.zip"):
        wrap_recordings(_responses(4, n_neuroids=3), archive)
    with pytest.raises(DataError, match="img3.png"):  # lazy access names it too
        StimulusSet.from_files(sorted(folder.iterdir())).image(2)


# ------------------------------------------------------------------ splits, readout params, threads
def _tiny(n: int = 24):
    """A tiny model and responses linear in its pooled features."""
    import torch

    from brainbench.models.base import TorchModel
    from brainbench.registry.manifest import Preprocessing

    rng = np.random.default_rng(5)
    images = rng.integers(0, 255, size=(n, 12, 12), dtype=np.uint8)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1))
    model = TorchModel(net, {"pool": "2"}, identifier="tiny-byod", preprocessing=Preprocessing(size=12))
    trials = rng.normal(size=(3, n, 3)) + np.linspace(0, 3, n)[None, :, None]
    dims = ("repetition", "stimulus", "neuroid")  # 3 repetitions of 3 neuroids: either could be axis 0
    return model, wrap_recordings(trials, images, identifier="byod-splits", dims=dims)


def test_score_with_explicit_splits_readout_params_and_threads(one_torch_thread):
    import torch

    import brainbench
    from brainbench.readouts.base import Split
    from brainbench.scoring.benchmark import custom_benchmark

    model, data = _tiny()
    splits = [(list(range(0, 18)), list(range(18, 24))), Split(np.arange(6, 24), np.arange(6))]
    bench = custom_benchmark(data.assembly, data.stimuli)
    result = brainbench.score(
        model, bench, splits=splits, readout_params={"alphas": [2.0], "alpha_scale": "none"}, threads=1, progress=False
    )
    assert result.sizes["split"] == 2
    tested = np.isfinite(result["prediction"].sel(layer="pool").values[:, 0])
    assert tested.sum() == 12 and tested[:6].all() and tested[18:].all() and not tested[6:18].any()
    np.testing.assert_array_equal(result["param_alpha"].values, 2.0)
    assert json.loads(result.attrs["readout_params"])["alphas"] == [2.0]
    assert json.loads(result.attrs["readout_overrides"]) == {"alphas": [2.0], "alpha_scale": "none"}
    assert result.attrs["custom_splits"] == 1 and json.loads(result.attrs["split_spec"])["n_test"] == [6, 6]
    assert result.attrs["threads"] == 1 and torch.get_num_threads() == 1
    own = brainbench.score(
        model, custom_benchmark(data.assembly, data.stimuli, splits=splits[:1]), progress=False, threads=1
    )
    assert own.sizes["split"] == 1 and own.attrs["custom_splits"] == 1
    declared = brainbench.score(
        model, custom_benchmark(data.assembly, data.stimuli, split={"n_splits": 3}), progress=False, threads=1
    )
    assert declared.attrs["custom_splits"] == 0 and json.loads(declared.attrs["split_spec"])["n_splits"] == 3


@pytest.mark.parametrize(
    ("splits", "message"),
    [
        ([([0, 1, 2], [2, 3])], "both training and testing"),
        ([([0, 1, 2], [24])], "index 24 is out of range for 24 stimuli"),
        ([([0, 1, 2], [])], "at least 2 training stimuli and 1 test"),
        ([([0, 0, 1], [3])], "repeat a stimulus"),
        ([([0.5, 1], [3])], "integer positions"),
        ([], "non-empty list"),
    ],
)
def test_bad_splits_are_refused(splits, message):
    from brainbench.data.splits import check_splits

    with pytest.raises(BrainbenchError, match=message):
        check_splits(splits, 24)


def test_unknown_readout_params_are_refused(one_torch_thread):
    import brainbench
    from brainbench.scoring.benchmark import custom_benchmark

    model, data = _tiny()
    with pytest.raises(BrainbenchError, match="has no parameter 'alpha'; it accepts alphas"):
        brainbench.score(
            model, custom_benchmark(data.assembly, data.stimuli), readout_params={"alpha": 1.0}, progress=False
        )
