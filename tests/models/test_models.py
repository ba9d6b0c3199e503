"""AlexNet plugins, preprocessing and the activation cache.

Pretrained ImageNet weights cannot be downloaded in CI: these tests use the seeded,
untrained AlexNet and check that the pretrained path fails offline with a clear error.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from brainbench.data.stimuli import StimulusSet
from brainbench.models.alexnet import alexnet
from brainbench.models.base import ModelError, TorchModel, load_model, resolve_device
from brainbench.models.preprocess import place, to_tensor, with_placement
from brainbench.registry import get_registry
from brainbench.registry.manifest import Preprocessing, StimulusPlacement
from brainbench.scoring.activations import get_activations


def test_pretrained_alexnet_offline_error_names_cache_file_and_alternative(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(ModelError) as error:
        load_model(get_registry().model("alexnet"))
    message = str(error.value)
    assert "alexnet-owt-7be5be79.pth" in message
    assert str(tmp_path / "torch") in message
    assert "alexnet-untrained" in message


def test_untrained_alexnet_is_seeded_and_has_declared_layers():
    first = load_model(get_registry().model("alexnet-untrained"))
    second = alexnet(pretrained=False, seed=0)
    other = alexnet(pretrained=False, seed=1)
    assert first.layers == ["conv1", "conv2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7"]
    assert first.weights_hash == second.weights_hash != other.weights_hash


def test_layer_shapes_are_alexnets():
    model = alexnet(pretrained=False)
    out = model.forward_layers(torch.zeros(2, 3, 224, 224), ["conv1", "conv3", "conv5", "pool5", "fc7"])
    assert out["conv1"].shape == (2, 64, 55, 55)
    assert out["conv3"].shape == (2, 384, 13, 13)
    assert out["conv5"].shape == (2, 256, 13, 13)
    assert out["pool5"].shape == (2, 256, 6, 6)
    assert out["fc7"].shape == (2, 4096)
    assert (out["conv1"] >= 0).all()  # read after the ReLU


def test_unknown_layer_and_missing_cuda_errors():
    model = alexnet(pretrained=False)
    with pytest.raises(ModelError, match="no layer 'conv9'"):
        model.check_layers(["conv9"])
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA GPU"):
            resolve_device("cuda")
        assert resolve_device("auto").type == "cpu"


def test_placement_modes():
    wide = Image.fromarray(np.full((10, 20, 3), 255, dtype=np.uint8))
    prep = Preprocessing(size=20, placement="pad")
    padded = np.asarray(place(wide, prep))
    assert padded[0, 10, 0] == 128 and padded[10, 10, 0] == 255  # gray bars top and bottom
    assert np.asarray(place(wide, Preprocessing(size=20, placement="resize"))).min() == 255
    small = with_placement(Preprocessing(size=20), StimulusPlacement(canvas_fraction=0.5))
    shrunk = np.asarray(place(wide, small))
    assert shrunk[0, 0, 0] == 128 and shrunk[10, 10, 0] == 255
    gray = Image.fromarray(np.full((5, 5), 100, dtype=np.uint8), mode="L")
    tensor = to_tensor(gray, Preprocessing(size=8))
    assert tensor.shape == (3, 8, 8)
    assert torch.allclose(tensor[0, 0, 0] * 0.229 + 0.485, torch.tensor(100 / 255), atol=1e-6)


def test_activation_cache_keys_on_content(fresh_home):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, size=(32, 32), dtype=np.uint8) for _ in range(3)]
    stimuli = StimulusSet.from_arrays(images)
    model = alexnet(pretrained=False)
    model.identifier = "alexnet-untrained"
    prep = Preprocessing(size=64)
    first = get_activations(model, stimuli, ["conv2"], prep, torch.device("cpu"), progress=False)
    files = sorted((fresh_home / "activations").rglob("*.npy"))
    assert len(files) == 1
    again = get_activations(model, stimuli, ["conv2"], prep, torch.device("cpu"), progress=False)
    np.testing.assert_array_equal(first["conv2"], again["conv2"])
    assert len(sorted((fresh_home / "activations").rglob("*.npy"))) == 1  # reused
    # new pixels, new placement or new weights: new cache entries
    images[0] = images[0] ^ 1
    get_activations(model, StimulusSet.from_arrays(images), ["conv2"], prep, torch.device("cpu"), progress=False)
    get_activations(
        model, stimuli, ["conv2"], Preprocessing(size=64, placement="pad"), torch.device("cpu"), progress=False
    )
    other = alexnet(pretrained=False, seed=5)
    other.identifier = "alexnet-untrained"
    get_activations(other, stimuli, ["conv2"], prep, torch.device("cpu"), progress=False)
    assert len(sorted((fresh_home / "activations").rglob("*.npy"))) == 4
    expected = model.forward_layers(torch.stack([to_tensor(stimuli.image(k), prep) for k in range(3)]), ["conv2"])[
        "conv2"
    ].numpy()
    np.testing.assert_allclose(first["conv2"], expected, rtol=1e-5, atol=1e-6)
    assert not list((fresh_home / "activations").rglob("*.tmp"))


def test_npy_rows_reads_blocks_without_mapping(tmp_path):
    from brainbench.scoring.activations import NpyRows

    array = np.arange(7 * 3 * 2 * 2, dtype=np.float32).reshape(7, 3, 2, 2)
    np.save(tmp_path / "a.npy", array)
    rows = NpyRows(tmp_path / "a.npy")
    assert rows.shape == (7, 3, 2, 2) and rows.dtype == np.float32 and len(rows) == 7
    np.testing.assert_array_equal(rows[2:5], array[2:5])
    np.testing.assert_array_equal(rows[5:99], array[5:])
    np.testing.assert_array_equal(np.asarray(rows), array)
    np.testing.assert_array_equal(np.asarray(rows, dtype=np.float64), array.astype(np.float64))
    np.testing.assert_array_equal(rows[::2], array[::2])


def _batchnorm_net(seed: int = 0) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU())


def test_weights_hash_of_a_batchnorm_network_is_stable_and_sees_one_changed_weight():
    """BatchNorm's 0-dim ``num_batches_tracked`` buffer once crashed the hash (a 0-dim view as bytes)."""
    first = TorchModel(_batchnorm_net(), {"bn": "1"})
    second = TorchModel(_batchnorm_net(), {"bn": "1"})
    assert first.module.state_dict()["1.num_batches_tracked"].dim() == 0
    assert first.weights_hash == second.weights_hash
    changed = _batchnorm_net()
    with torch.no_grad():
        changed[1].weight[2] += 1e-3
    assert TorchModel(changed, {"bn": "1"}).weights_hash != first.weights_hash
    counted = _batchnorm_net()
    counted[1].num_batches_tracked += 1  # the 0-dim buffer's bytes are hashed too
    assert TorchModel(counted, {"bn": "1"}).weights_hash != first.weights_hash


def test_a_module_path_is_accepted_as_a_layer_and_a_typo_is_not():
    model = alexnet(pretrained=False)
    assert model.check_layers(["conv1", "features.3"]) == ["conv1", "features.3"]
    out = model.forward_layers(torch.zeros(1, 3, 224, 224), ["features.3"])
    assert out["features.3"].shape == (1, 192, 27, 27)
    with pytest.raises(ModelError, match="no layer 'features.99'.*brainbench layers"):
        model.check_layers(["features.99"])
