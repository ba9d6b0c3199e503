"""timm and Hugging Face networks by name, token rules, and what spatial readouts say about tokens.

Nothing is downloaded: timm networks are built untrained (``timm/test_vit``, timm's own
tiny test architectures), Hugging Face encoders from tiny random configurations
registered through the API; the pretrained paths are checked up to their offline errors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from brainbench.errors import BrainbenchError
from brainbench.models.base import ModelError, load_model
from brainbench.models.tokens import TOKENS_VERSION, apply_rule
from brainbench.registry import get_registry

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}


def _transformers():
    return pytest.importorskip("transformers")  # the `huggingface` extra (in `test`)


def _vit_config():
    return _transformers().ViTConfig(**TINY, image_size=32, patch_size=8)


# -- token rules --------------------------------------------------------------------------------


def test_token_rules_turn_tokens_into_the_declared_features():
    tokens = torch.arange(2 * 5 * 3, dtype=torch.float32).reshape(2, 5, 3)  # 1 class token + 2 x 2 patches
    assert torch.equal(apply_rule(tokens, "cls", 1), tokens[:, 0])
    assert torch.equal(apply_rule(tokens, "mean", 1), tokens[:, 1:].mean(1))
    assert torch.equal(apply_rule(tokens, "flatten", 1), tokens.reshape(2, 15))
    grid = apply_rule(tokens, "grid", 1)
    assert grid.shape == (2, 3, 2, 2)
    # patch (row 1, column 0) is token 1 + 2 = 3; channel d of the grid is width d of the token
    assert torch.equal(grid[:, :, 1, 0], tokens[:, 3])
    feature_map = torch.ones(2, 4, 3, 3)
    assert apply_rule(feature_map, "cls", 1) is feature_map  # only (B, T, D) outputs change
    with pytest.raises(BrainbenchError, match="not a square grid"):
        apply_rule(torch.zeros(2, 6, 3), "grid", 1, "blocks.0")


@pytest.mark.parametrize("readout", ["spatial", "factored"])
def test_spatial_readouts_say_in_one_sentence_that_tokens_have_no_grid(readout):
    from brainbench.scoring.spec import build_readout

    estimator, _, _ = build_readout(readout, get_registry(), seed=0)
    with pytest.raises(BrainbenchError) as error:
        estimator.fit(torch.randn(20, 5, 8), torch.randn(20, 3))
    message = str(error.value)
    assert "transformer tokens (T, D) of shape (5, 8), which has no spatial grid" in message
    assert "--tokens grid" in message and len(message.splitlines()) == 1
    grid = apply_rule(torch.randn(20, 5, 8), "grid", 1)  # the same tokens as a (8, 2, 2) grid: accepted
    fitted = build_readout(
        readout, get_registry(), seed=0, overrides={"max_iter": 5} if readout == "factored" else None
    )
    assert fitted[0].fit(grid, torch.randn(20, 3)).predict(grid).shape == (20, 3)


# -- timm ---------------------------------------------------------------------------------------


def test_timm_ids_resolve_like_the_torchvision_family():
    pytest.importorskip("timm")  # the `timm` extra (in `test`)
    registry = get_registry()
    vit = registry.model("timm/test_vit:untrained")
    assert vit.layers == [f"blocks.{i}" for i in range(6)] and vit.tokens == "flatten"
    assert vit.preprocessing.size == 160 and vit.preprocessing.mean == (0.5, 0.5, 0.5)  # its data config
    cnn = registry.model("timm/test_resnet:untrained")
    assert cnn.layers == ["layer1", "layer2", "layer3", "layer4"] and cnn.tokens is None  # stages
    assert registry.model("timm/resnet18").id == "timm/resnet18:a1_in1k"  # the default tag, named
    with pytest.raises(ModelError, match=r"no architecture 'resnet19' \(did you mean 'resnet18'"):
        registry.model("timm/resnet19")
    with pytest.raises(ModelError, match="no pretrained tag 'a9_in1k'"):
        registry.model("timm/resnet18:a9_in1k")


def test_timm_pretrained_weights_offline_name_the_file_and_where_it_goes(monkeypatch, tmp_path):
    timm = pytest.importorskip("timm")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelError) as error:  # BRAINBENCH_OFFLINE=1 (conftest): refused before timm is asked
        load_model(get_registry().model("timm/test_vit:r160_in1k"))
    message = str(error.value)
    assert "model.safetensors of https://huggingface.co/timm/test_vit.r160_in1k" in message
    assert str(tmp_path / "hub" / "models--timm--test_vit.r160_in1k") in message
    assert "'timm/test_vit:untrained'" in message and len(message.splitlines()) == 1

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files (HF_HUB_OFFLINE)")

    monkeypatch.delenv("BRAINBENCH_OFFLINE")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(ModelError, match="not cached and the network is off"):
        load_model(get_registry().model("timm/test_vit:r160_in1k"))
    monkeypatch.delenv("HF_HUB_OFFLINE")  # network allowed, but timm's download fails: the same one sentence
    with pytest.raises(ModelError, match=r"could not load timm's test_vit.r160_in1k weights .*put model.safetensors"):
        load_model(get_registry().model("timm/test_vit:r160_in1k"))


def test_layers_command_lists_every_timm_module():
    pytest.importorskip("timm")  # the `timm` extra (in `test`)
    from typer.testing import CliRunner

    from brainbench.cli.main import app

    shown = CliRunner().invoke(app, ["layers", "timm/test_vit:untrained", "--json"])
    assert shown.exit_code == 0, shown.output
    modules = {m["path"]: m for m in json.loads(shown.output)["modules"]}
    assert modules["blocks.3.attn.qkv"]["shape"] == [101, 192]  # every module, not only the defaults
    assert modules["blocks.5"]["default"] and modules["blocks.5"]["shape"] == [101, 64]


@pytest.mark.slow
def test_a_timm_vit_scores_on_v4_with_its_token_rule_in_the_key(mirror):
    pytest.importorskip("timm")  # the `timm` extra (in `test`)
    import brainbench
    from brainbench.scoring import summarize

    dataset = brainbench.score("timm/test_vit:untrained", "cowley2023-V4", layers=["blocks.1"], progress=False)
    spec = json.loads(dataset.attrs["spec"])
    assert spec["tokens"] == {"rule": "flatten", "prefix_tokens": 1, "version": TOKENS_VERSION}
    assert spec["model"]["tokens"] == "flatten"
    summary = summarize(dataset)
    assert summary["model"] == "timm/test_vit:untrained" and np.isfinite(summary["score"])


# -- Hugging Face -------------------------------------------------------------------------------


def test_tiny_hugging_face_encoders_build_from_configurations():
    transformers = _transformers()
    from brainbench.models.hf_zoo import hf_encoder

    configs = {
        "vit": _vit_config(),
        "dinov2": transformers.Dinov2Config(**TINY, image_size=32, patch_size=8),
        "clip": transformers.CLIPConfig(vision_config={**TINY, "image_size": 32, "patch_size": 8}),
    }
    for name, config in configs.items():
        net = hf_encoder(config, f"tiny-{name}", tokens="grid")
        assert len(net.layers) == 2 and net.preprocessing.size == 32, name
        out = net.forward_layers(torch.zeros(2, 3, 32, 32), net.layers)
        assert all(value.shape == (2, 32, 4, 4) for value in out.values()), name  # 16 patches as a 4 x 4 grid
    again = hf_encoder(_vit_config(), "tiny-vit")
    assert again.weights_hash == hf_encoder(_vit_config(), "tiny-vit").weights_hash  # seeded init


def test_hugging_face_ids_offline_name_the_file_and_where_it_goes(monkeypatch, tmp_path, capsys):
    _transformers()
    from brainbench.cli.main import main

    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as error:
        get_registry().model("hf/google/vit-base-patch16-224")
    message = str(error.value)
    assert "google/vit-base-patch16-224: config.json is not in the local cache" in message
    assert str(tmp_path / "hub" / "models--google--vit-base-patch16-224") in message
    assert main(["score", "hf/google/vit-base-patch16-224", "cowley2023-V4", "--no-store"]) == 2
    assert "config.json" in capsys.readouterr().err
    with pytest.raises(ModelError, match="the only tag of hf/<model id>"):
        get_registry().model("hf/google/vit-base-patch16-224:IMAGENET")


@pytest.mark.slow
def test_a_tiny_vit_scores_on_v4_with_grid_tokens_named_in_the_key(mirror):
    import brainbench
    from brainbench.models.hf_zoo import hf_encoder

    net = hf_encoder(_vit_config(), "tiny-vit", tokens="grid")
    dataset = brainbench.score(net, "cowley2023-V4", layers=["layers.1"], progress=False)
    spec = json.loads(dataset.attrs["spec"])
    assert spec["tokens"]["rule"] == "grid" and spec["weights"] == net.weights_hash
    assert np.isfinite(dataset.attrs["score"])
    flat = hf_encoder(_vit_config(), "tiny-vit", tokens="flatten")
    with pytest.raises(BrainbenchError, match=r"layer 'layers.1' gives a 1-d feature vector of shape \(544,\)"):
        brainbench.score(flat, "cowley2023-V4", layers=["layers.1"], readout="spatial", progress=False)
