"""The third-party plugin package: installed with pip, listed, scored, on the leaderboard; plugin check."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "plugins" / "brainbench-example"
BRAINBENCH = [sys.executable, "-m", "brainbench.cli.main"]


@pytest.fixture(scope="session")
def installed_plugin(tmp_path_factory) -> Path:
    """pip-install the example plugin (a copy, so no build files land in the repo) into a folder.

    ``--no-build-isolation --no-deps``: no network; setuptools from the test environment builds it.
    """
    work = tmp_path_factory.mktemp("plugin")
    source = work / "src"
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = work / "site"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (target / "brainbench_example" / "manifest.toml").is_file()  # the manifest ships as package data
    return target


def _run(args, env_extra, cwd=None):
    env = {**os.environ, **env_extra}
    return subprocess.run([*BRAINBENCH, *args], capture_output=True, text=True, env=env, timeout=600, cwd=cwd)


def test_installed_plugin_is_listed_scored_and_on_the_leaderboard(installed_plugin, tmp_path):
    env = {"PYTHONPATH": str(installed_plugin), "BRAINBENCH_HOME": str(tmp_path / "home"), "BRAINBENCH_OFFLINE": "1"}
    listed = _run(["list", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    model = next(m for m in data["models"] if m["id"] == "example-cnn")
    assert model["source"].endswith("brainbench_example/manifest.toml")
    assert str(installed_plugin) in model["source"]  # found through the installed entry point
    assert any(b["id"] == "example-gabor-V1sim" for b in data["benchmarks"])

    # a layer subset is stored but is not the declared protocol: it never fills the cell
    subset = _run(["score", "example-cnn", "example-gabor-V1sim", "--layers", "pool", "--json"], env)
    assert subset.returncode == 0, subset.stderr
    scored = _run(["score", "example-cnn", "example-gabor-V1sim", "--json"], env)
    assert scored.returncode == 0, scored.stderr
    summary = json.loads(scored.stdout)
    assert summary["benchmark_version"] == 1 and set(summary["layers"]) == {"conv1", "conv2", "conv3", "pool"}
    assert summary["selection"]["n_kept"] == 40
    # simulated cells are reliable, and a random CNN predicts them above chance
    assert summary["ceiling"]["median"] > 0.5
    assert summary["layers"]["pool"]["median_r"] > 0.2

    board = _run(["leaderboard", "show", "--format", "json"], env)
    assert board.returncode == 0, board.stderr
    (row,) = json.loads(board.stdout)["models"]
    cell = row["benchmarks"]["example-gabor-V1sim v1"]
    assert row["model"] == "example-cnn" and cell["score"] == pytest.approx(summary["score"], abs=1e-6)
    # averaged by species and region: the plugin declares species "simulated"
    assert row["regions"] == {"simulated V1-sim": pytest.approx(summary["score"], abs=1e-6)}

    # without the plugin on the path, its ids are unknown: nothing is special-cased in the core
    bare = _run(["describe", "example-cnn"], {k: v for k, v in env.items() if k != "PYTHONPATH"})
    assert bare.returncode == 2 and "unknown id 'example-cnn'" in bare.stderr


def test_listing_the_installed_plugin_imports_neither_it_nor_torch(installed_plugin):
    """The entry point names the manifest as a resource: listing and describing run no plugin code."""
    code = (
        "import sys\n"
        "from brainbench.cli.main import main\n"
        "assert main(['list', '--json']) == 0\n"
        "assert main(['describe', 'example-gabor-V1sim', '--json']) == 0\n"
        "loaded = [m for m in ('torch', 'torchvision', 'brainbench_example') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed_plugin), str(REPO)])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert '"id": "example-cnn"' in result.stdout  # the plugin was listed, from its manifest alone
    assert "warning" not in result.stderr


def test_plugin_check_passes_the_example():
    proc = _run(["plugin", "check", str(PLUGIN)], {})
    assert proc.returncode == 0, proc.stderr
    assert "models.example-cnn: brainbench_example.models:small_cnn imports" in proc.stdout
    assert "assemblies.example-gabor-sim" in proc.stdout
    assert "note" not in proc.stdout  # declares schema_version and names its manifest as a resource


@pytest.fixture
def broken_copy(tmp_path) -> Path:
    copy = tmp_path / "broken-plugin"
    shutil.copytree(PLUGIN, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    return copy


def test_plugin_check_reports_a_bad_python_name_and_reference(broken_copy):
    manifest = broken_copy / "brainbench_example" / "manifest.toml"
    text = manifest.read_text()
    text = text.replace("brainbench_example.models:small_cnn", "brainbench_example.models:tiny_cnn")
    text = text.replace('readout = "simple"', 'readout = "simpel"')
    manifest.write_text(text)
    proc = _run(["plugin", "check", str(broken_copy)], {})
    assert proc.returncode == 2
    assert "models.example-cnn: 'brainbench_example.models' has no attribute 'tiny_cnn'" in proc.stderr
    assert "benchmarks.example-gabor-V1sim.readout': unknown readout 'simpel'" in proc.stderr
    assert "'simple'" in proc.stderr  # the suggestion
    assert "2 problems in" in proc.stderr


def test_plugin_check_reports_a_malformed_manifest_and_entry_point(broken_copy, tmp_path):
    manifest = broken_copy / "brainbench_example" / "manifest.toml"
    manifest.write_text(manifest.read_text().replace('layers = ["conv1", "conv2", "conv3", "pool"]\n', ""))
    proc = _run(["plugin", "check", str(manifest)], {})
    assert proc.returncode == 2
    assert "key 'models.example-cnn.layers': Field required" in proc.stderr

    pyproject = broken_copy / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace("brainbench_example:manifest.toml", "brainbench_example:manifest_file.toml")
    )
    proc = _run(["plugin", "check", str(broken_copy)], {})
    assert proc.returncode == 2
    assert "entry point 'brainbench-example'" in proc.stderr and "manifest_file.toml" in proc.stderr
    assert "which does not exist" in proc.stderr

    pyproject.write_text(
        pyproject.read_text().replace("brainbench_example:manifest_file.toml", "brainbench_example:manifest_function")
    )
    proc = _run(["plugin", "check", str(broken_copy)], {})
    assert proc.returncode == 2
    assert "has no attribute 'manifest_function'" in proc.stderr
    assert "names a function, so every `brainbench list` imports 'brainbench_example'" in proc.stdout

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "pyproject.toml").write_text('[project]\nname = "x"\n')
    proc = _run(["plugin", "check", str(empty)], {})
    assert proc.returncode == 2 and "declares no entry point in group brainbench.manifests" in proc.stderr
