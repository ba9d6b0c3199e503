"""Manifests: validation errors, discovery, lookup, aliases, lazy import."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from brainbench.errors import ManifestError, UnknownIdError
from brainbench.registry import Registry, get_registry, load_object, refresh
from brainbench.registry.manifest import parse_manifest

REPO = Path(__file__).resolve().parents[2]

GOOD = """
[models.tiny]
python_name = "tests.tinymodel:tiny"
layers = ["a"]

[assemblies.toy-data]
python_name = "pkg.mod:load"

[readouts.ridge2]
python_name = "brainbench.readouts.ridge:RidgeReadout"

[readouts.ridge2-strong]
base = "ridge2"
params = { alphas = [100.0] }

[metrics.m]
python_name = "pkg.mod:metric"

[metrics.m-ceiled]
python_name = "pkg.mod:ceiled"
kind = "ceiled"

[metrics.m-ceiling]
python_name = "pkg.mod:ceiling"
kind = "ceiling"

[benchmarks.toy]
version = 2
assembly = "toy-data"
readout = "ridge2-strong"
metrics = ["m"]
ceiling = "m-ceiling"
headline = "m-ceiled"
aliases = ["toy-alias"]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_manifest_resolves_readout_chain_and_aliases(tmp_path):
    registry = Registry.from_paths([write(tmp_path, "a.toml", GOOD)])
    assert registry.ids("benchmarks") == ["toy"]
    assert registry.benchmark("toy-alias").id == "toy"
    python_name, _, params = registry.resolve_readout("ridge2-strong")
    assert python_name == "brainbench.readouts.ridge:RidgeReadout"
    assert params == {"alphas": [100.0]}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[models.x\n", "not valid TOML"),
        ("[widgets.x]\npython_name='a:b'\n", "unknown table [widgets]"),
        ("[models.x]\npython_name='not a name'\nlayers=['a']\n", "models.x.python_name"),
        ("[models.x]\npython_name='a.b:c'\n", "models.x.layers"),
        ("[models.x]\npython_name='a.b:c'\nlayers=['a']\ncolour='red'\n", "models.x.colour"),
        ("[benchmarks.b]\nassembly='a'\n", "benchmarks.b.version"),
        ("[readouts.r]\nparams={}\n", "exactly one of python_name"),
        ("[benchmarks.b]\nversion=1\nassembly='a'\nsplit={kind='kfold', n_splits=1}\n", "n_splits >= 2"),
    ],
)
def test_malformed_manifest_names_file_key_and_problem(text, fragment):
    with pytest.raises(ManifestError) as error:
        parse_manifest(text, "plugin/manifest.toml")
    assert "plugin/manifest.toml" in str(error.value)
    assert fragment in str(error.value)


def test_duplicate_id_names_both_sources(tmp_path):
    first = write(tmp_path, "first.toml", "[models.dup]\npython_name='a.b:c'\nlayers=['x']\n")
    second = write(tmp_path, "second.toml", "[assemblies.dup]\npython_name='a.b:c'\n")
    with pytest.raises(ManifestError) as error:
        Registry.from_paths([first, second])
    assert str(first) in str(error.value) and str(second) in str(error.value)


def test_alias_clash_is_a_duplicate(tmp_path):
    text = GOOD + "\n[models.toy-alias]\npython_name='a.b:c'\nlayers=['x']\n"
    with pytest.raises(ManifestError, match="toy-alias"):
        Registry.from_paths([write(tmp_path, "a.toml", text)])


def test_unknown_reference_in_benchmark(tmp_path):
    text = GOOD.replace('readout = "ridge2-strong"', 'readout = "ridge3"')
    with pytest.raises(ManifestError) as error:
        Registry.from_paths([write(tmp_path, "a.toml", text)])
    assert "benchmarks.toy.readout" in str(error.value) and "ridge2" in str(error.value)


def test_unknown_id_suggests_close_matches():
    registry = get_registry()
    with pytest.raises(UnknownIdError) as error:
        registry.benchmark("cowley2023-V5")
    assert "cowley2023-V4" in str(error.value)
    with pytest.raises(UnknownIdError) as error:
        registry.model("alexnet-untrianed")
    assert "alexnet-untrained" in str(error.value)


def test_builtin_manifest_found_through_entry_point():
    registry = get_registry()
    assert {"alexnet", "alexnet-untrained"} <= set(registry.ids("models"))
    assert "cowley2023-V4" in registry.ids("benchmarks")
    assert registry.benchmark("cowley2023-V4").source.endswith("registry.toml")


def test_extra_manifests_from_environment(tmp_path, monkeypatch):
    path = write(tmp_path, "mine.toml", "[models.my-net]\npython_name='a.b:c'\nlayers=['x']\n")
    monkeypatch.setenv("BRAINBENCH_MANIFESTS", str(path))
    assert "my-net" in get_registry().ids("models")


def test_refresh_rereads_a_changed_manifest(tmp_path, monkeypatch):
    path = write(tmp_path, "mine.toml", "[models.my-net]\npython_name='a.b:c'\nlayers=['x']\n")
    monkeypatch.setenv("BRAINBENCH_MANIFESTS", str(path))
    assert "my-net" in get_registry().ids("models")
    path.write_text("[models.my-other-net]\npython_name='a.b:c'\nlayers=['x']\n")
    assert "my-other-net" not in get_registry().ids("models")  # the same files found: the cached registry
    refresh()
    assert set(get_registry().ids("models")) & {"my-net", "my-other-net"} == {"my-other-net"}


def test_load_object_errors_are_clear():
    assert load_object("brainbench.readouts.ridge:RidgeReadout").__name__ == "RidgeReadout"
    with pytest.raises(ManifestError, match="cannot import"):
        load_object("brainbench.nope:thing")
    with pytest.raises(ManifestError, match="has no attribute"):
        load_object("brainbench.readouts.ridge:Nope")


def run_cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "brainbench.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )


def test_list_and_describe_do_not_import_torch():
    code = (
        "import sys\n"
        "from brainbench.cli.main import main\n"
        "rc1 = main(['list', '--json'])\n"
        "rc2 = main(['describe', 'cowley2023-V4', '--json'])\n"
        "assert rc1 == 0 and rc2 == 0, (rc1, rc2)\n"
        "heavy = [m for m in ('torch', 'torchvision', 'xarray') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_list_json_and_aliases_not_duplicated(tmp_path):
    path = write(tmp_path, "a.toml", GOOD)
    result = run_cli("list", "benchmarks", "--json", env_extra={"BRAINBENCH_MANIFESTS": str(path)})
    assert result.returncode == 0, result.stderr
    ids = [e["id"] for e in json.loads(result.stdout)["benchmarks"]]
    assert "toy" in ids and "toy-alias" not in ids
    described = json.loads(
        run_cli("describe", "toy-alias", "--json", env_extra={"BRAINBENCH_MANIFESTS": str(path)}).stdout
    )
    assert described["id"] == "toy" and described["aliases"] == ["toy-alias"]


def test_cli_unknown_id_is_one_sentence():
    result = run_cli("describe", "cowley2023-V5")
    assert result.returncode == 2
    assert "did you mean 'cowley2023-V4'" in result.stderr
    assert "Traceback" not in result.stderr


def test_wheel_packages_the_manifest(tmp_path):
    """A built wheel carries registry.toml inside the package and the entry point."""
    pytest.importorskip("hatchling")
    from hatchling.builders.wheel import WheelBuilder

    wheel = Path(next(WheelBuilder(str(REPO)).build(directory=str(tmp_path), versions=["standard"])))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "brainbench/registry.toml" in names
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        text = archive.read(entry_points).decode()
        archive.extractall(tmp_path / "site")
    assert "[brainbench.manifests]" in text and "brainbench = brainbench:registry.toml" in text
    # the installed wheel's entry point finds the packaged file, and listing reads it
    code = (
        "from brainbench.registry.discovery import manifest_sources; "
        "(builtin,) = [s for s in manifest_sources() if s.origin == 'builtin']; print(builtin.path); "
        "from brainbench.cli.main import main; assert main(['describe', 'cowley2023-V4', '--json']) == 0"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "site")},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == str(tmp_path / "site" / "brainbench" / "registry.toml")
    assert f'"source": "{tmp_path / "site" / "brainbench" / "registry.toml"}"' in result.stdout
