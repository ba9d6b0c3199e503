"""Manifest discovery: entry points in both forms, broken plugins skipped with a warning, schema_version.

The installed plugins here are real distributions: a ``*.dist-info`` folder with an
``entry_points.txt`` in a temporary folder put first on the path of a subprocess, so
``importlib.metadata`` finds them exactly as it finds a pip-installed package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from brainbench.errors import ManifestError, ManifestWarning
from brainbench.registry.discovery import ManifestSource, is_resource, locate_resource, resource_parts
from brainbench.registry.manifest import SCHEMA_VERSION, parse_manifest
from brainbench.registry.registry import build_registry

REPO = Path(__file__).resolve().parents[2]

# a package whose import is an error: any test that sees this message imported plugin code
TRAP = 'raise RuntimeError("brainbench imported plugin code while listing")\n'

GOOD_PLUGIN = """schema_version = 1

[models.fine-net]
python_name = "fine_plugin.models:net"
layers = ["a"]
"""


def make_distribution(site: Path, name: str, entry_points: dict[str, str], files: dict[str, str]) -> None:
    """Install distribution ``name`` into ``site``: its metadata, its entry points and ``files``."""
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = ["[brainbench.manifests]", *(f"{key} = {value}" for key, value in entry_points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for relative, text in files.items():
        path = site / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def run_cli(site: Path, *args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    return subprocess.run(
        [sys.executable, "-m", "brainbench.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=site,
        timeout=120,
    )


@pytest.fixture
def broken_site(tmp_path) -> Path:
    """One good plugin and one distribution whose five manifests are broken in five ways."""
    site = tmp_path / "site"
    make_distribution(
        site,
        "fine-plugin",
        {"fine": "fine_plugin:manifest.toml"},
        {"fine_plugin/__init__.py": TRAP, "fine_plugin/manifest.toml": GOOD_PLUGIN},
    )
    make_distribution(
        site,
        "broken-plugins",
        {
            "bad-name": "broken_plugins:bad_name.toml",
            "bad-toml": "broken_plugins:bad_toml.toml",
            "future": "broken_plugins:future.toml",
            "bad-ref": "broken_plugins:bad_ref.toml",
            "missing": "broken_plugins:nowhere.toml",
        },
        {
            "broken_plugins/__init__.py": TRAP,
            "broken_plugins/bad_name.toml": "[models.bad-name-net]\npython_name = 'not a name'\nlayers = ['a']\n",
            "broken_plugins/bad_toml.toml": "[models.half\npython_name = 'x.y:z'\n",
            "broken_plugins/future.toml": "schema_version = 99\n[gadgets.new-kind]\nthing = 1\n",
            # a built-in assembly (fine) and a readout nobody declares
            "broken_plugins/bad_ref.toml": "[benchmarks.bad-ref-bench]\nversion = 1\nassembly = 'cowley2023-210325'\n"
            "readout = 'simpel'\n",
        },
    )
    return site


def test_broken_plugins_are_skipped_with_one_warning_each(broken_site):
    listed = run_cli(broken_site, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    ids = {kind: {e["id"] for e in entries} for kind, entries in json.loads(listed.stdout).items()}
    assert {"alexnet", "alexnet-untrained", "fine-net"} <= ids["models"]  # the built-ins and the good plugin
    assert "cowley2023-V4" in ids["benchmarks"] and "bad-ref-bench" not in ids["benchmarks"]
    assert "bad-name-net" not in ids["models"]
    warnings = [line for line in listed.stderr.splitlines() if line.strip()]
    assert len(warnings) == 5, listed.stderr
    assert all(line.startswith("warning: skipped plugin manifest ") for line in warnings)
    site = str(broken_site / "broken_plugins")
    expected = {
        "bad_name.toml: key 'models.bad-name-net.python_name'": f"{site}/bad_name.toml",
        "not valid TOML": f"{site}/bad_toml.toml",
        "upgrade brainbench": f"{site}/future.toml",
        "key 'benchmarks.bad-ref-bench.readout': unknown readout 'simpel'": f"{site}/bad_ref.toml",
        "there is no file nowhere.toml in package 'broken_plugins'": "entry point 'missing'",
    }
    for fragment, name in expected.items():
        (line,) = [line for line in warnings if fragment in line]
        assert name in line
    assert "Traceback" not in listed.stderr and "RuntimeError" not in listed.stderr


def test_list_problems_shows_file_key_and_problem(broken_site):
    shown = run_cli(broken_site, "list", "--problems", "--json")
    assert shown.returncode == 0, shown.stderr
    assert "warning:" not in shown.stderr  # listed on stdout, not warned about twice
    problems = {
        Path(p["file"]).name if p["file"].startswith("/") else p["file"]: p
        for p in json.loads(shown.stdout)["problems"]
    }
    assert set(problems) == {
        "bad_name.toml",
        "bad_toml.toml",
        "future.toml",
        "bad_ref.toml",
        next(k for k in problems if k.startswith("entry point 'missing'")),
    }
    assert problems["bad_name.toml"]["key"] == "models.bad-name-net.python_name"
    assert "must look like" in problems["bad_name.toml"]["problem"]
    assert problems["bad_toml.toml"]["key"] == "" and "not valid TOML" in problems["bad_toml.toml"]["problem"]
    future = problems["future.toml"]
    assert future["key"] == "schema_version" and "schema 99" in future["problem"]
    assert f"schema {SCHEMA_VERSION} at most; upgrade brainbench" in future["problem"]
    assert problems["bad_ref.toml"]["key"] == "benchmarks.bad-ref-bench.readout"
    assert "entry point 'bad-ref'" in problems["bad_ref.toml"]["declared_by"]
    assert "'broken-plugins'" in problems["bad_ref.toml"]["declared_by"]  # the distribution is named

    combined = run_cli(broken_site, "list", "models", "--problems")
    assert combined.returncode == 2 and "drop the kind or drop --problems" in combined.stderr

    table = run_cli(broken_site, "list", "--problems")
    assert table.returncode == 0, table.stderr
    assert table.stdout.startswith("5 installed plugin manifests were skipped")
    assert (
        f"\n{broken_site / 'broken_plugins' / 'bad_name.toml'}\n  key          models.bad-name-net.python_name\n"
        in table.stdout
    )

    checked = run_cli(broken_site, "plugin", "check")
    assert checked.returncode == 2
    assert checked.stderr.count("PROBLEM") == 5, checked.stderr
    assert "key 'models.bad-name-net.python_name'" in checked.stderr and "upgrade brainbench" in checked.stderr
    assert "5 problems in the installed manifests" in checked.stderr
    assert f"ok       manifest {broken_site / 'fine_plugin' / 'manifest.toml'} is valid" in checked.stdout


def test_listing_imports_no_plugin_code_nor_torch(broken_site):
    code = (
        "import sys, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "from brainbench.cli.main import main\n"
        "assert main(['list', '--json']) == 0\n"
        "assert main(['describe', 'fine-net', '--json']) == 0\n"
        "loaded = [m for m in ('torch', 'fine_plugin', 'broken_plugins') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(broken_site), str(REPO)])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr


def test_an_id_clash_between_plugins_skips_both(tmp_path):
    """Neither plugin is preferred: both are skipped and listed, and brainbench still runs."""
    site = tmp_path / "site"
    clash = "[models.same-net]\npython_name = 'a.b:c'\nlayers = ['a']\n"
    make_distribution(
        site,
        "plugin-one",
        {"one": "plugin_one:manifest.toml"},
        {"plugin_one/__init__.py": TRAP, "plugin_one/manifest.toml": clash},
    )
    make_distribution(
        site,
        "plugin-two",
        {"two": "plugin_two:manifest.toml"},
        {"plugin_two/__init__.py": TRAP, "plugin_two/manifest.toml": clash},
    )
    listed = run_cli(site, "list", "models", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "same-net" not in {e["id"] for e in json.loads(listed.stdout)["models"]}
    assert "id 'same-net' is declared twice" in listed.stderr
    problems = run_cli(site, "list", "--problems", "--json")
    assert problems.returncode == 0, problems.stderr
    files = {p["file"] for p in json.loads(problems.stdout)["problems"]}
    assert files == {str(site / "plugin_one" / "manifest.toml"), str(site / "plugin_two" / "manifest.toml")}


def test_the_callable_form_still_works_and_imports_its_module(tmp_path):
    site = tmp_path / "site"
    make_distribution(
        site,
        "old-style",
        {"old": "old_style:manifest_path"},
        {
            "old_style/__init__.py": "from pathlib import Path\n\n"
            "def manifest_path():\n    return Path(__file__).parent / 'manifest.toml'\n",
            "old_style/manifest.toml": "[models.old-net]\npython_name = 'old_style.m:net'\nlayers = ['a']\n",
        },
    )
    make_distribution(site, "old-broken", {"old-broken": "old_broken_missing:manifest_path"}, {})
    listed = run_cli(site, "list", "models", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "old-net" in {e["id"] for e in json.loads(listed.stdout)["models"]}
    (warning,) = listed.stderr.strip().splitlines()
    assert "entry point 'old-broken'" in warning and "No module named 'old_broken_missing'" in warning

    checked = run_cli(site, "plugin", "check", str(site / "old_style" / "manifest.toml"))
    assert checked.returncode == 2  # the other installed plugin is broken
    assert "installed plugin manifest is broken" in checked.stderr
    assert "declares no schema_version, so it is read as schema 1" in checked.stdout


def test_the_builtin_entry_point_as_a_resource_in_a_source_checkout(tmp_path):
    """``brainbench:registry.toml`` finds the repository's registry.toml when brainbench is not a wheel."""
    site = tmp_path / "site"
    make_distribution(site, "brainbench", {"brainbench": "brainbench:registry.toml"}, {})
    shown = run_cli(site, "describe", "cowley2023-V4", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["source"] == str(REPO / "registry.toml")


def test_broken_user_and_builtin_manifests_are_errors(tmp_path):
    mine = tmp_path / "mine.toml"
    mine.write_text("[models.mine]\npython_name = 'not a name'\nlayers = ['a']\n")
    site = tmp_path / "site"
    site.mkdir()
    listed = run_cli(site, "list", env_extra={"BRAINBENCH_MANIFESTS": str(mine)})
    assert listed.returncode == 2
    assert listed.stderr.startswith(f"error: {mine}: key 'models.mine.python_name'")

    builtin = ManifestSource("builtin", "entry point 'brainbench'", tmp_path / "gone.toml")
    with pytest.raises(ManifestError, match="cannot read manifest"):
        build_registry([builtin])
    plugin = ManifestSource("plugin", "entry point 'x'", tmp_path / "gone.toml")
    with pytest.warns(ManifestWarning, match="gone.toml: No such file"):
        registry = build_registry([plugin])
    (skipped,) = registry.skipped
    assert skipped.file == str(tmp_path / "gone.toml") and skipped.declared_by == "entry point 'x'"


def test_skipping_a_plugin_skips_the_plugins_that_rely_on_it(tmp_path):
    base = tmp_path / "base.toml"
    base.write_text(
        "[assemblies.base-data]\npython_name = 'a.b:c'\n"
        "[benchmarks.base-bench]\nversion = 1\nassembly = 'base-data'\nreadout = 'nope'\n"
    )
    user = tmp_path / "user.toml"
    user.write_text(
        "[benchmarks.user-bench]\nversion = 1\nassembly = 'base-data'\nreadout = 'r'\n"
        "metrics = []\nceiling = ''\nheadline = 'm'\n[metrics.m]\npython_name = 'a.b:c'\nkind = 'ceiled'\n"
        "[readouts.r]\npython_name = 'a.b:C'\n"
    )
    with pytest.warns(ManifestWarning) as caught:
        registry = build_registry(
            [ManifestSource("plugin", "entry point 'base'", base), ManifestSource("plugin", "entry point 'user'", user)]
        )
    assert [problem.key for problem in registry.skipped] == [
        "benchmarks.base-bench.readout",
        "benchmarks.user-bench.assembly",
    ]
    assert len(caught) == 2 and registry.ids("benchmarks") == []


def test_entry_point_forms_and_resource_values(tmp_path):
    assert is_resource("pkg:manifest.toml") and is_resource("pkg.sub:data/brainbench.toml")
    assert not is_resource("pkg.module:manifest_path")
    assert resource_parts("pkg.sub:data/m.toml") == ("pkg.sub", Path("data/m.toml"))
    for value in ("pkg", "not a package:m.toml", "pkg:../m.toml", "pkg:/etc/m.toml"):
        with pytest.raises(ValueError):
            resource_parts(value)
    with pytest.raises(ValueError, match="'no_such_package_anywhere' is not installed"):
        locate_resource("no_such_package_anywhere:m.toml")
    with pytest.raises(ValueError, match="is a module"):
        locate_resource("difflib:m.toml")
    assert locate_resource("brainbench:registry.toml") == REPO / "registry.toml"  # the source checkout's root


@pytest.mark.parametrize(
    ("declared", "fragment"),
    [
        ("schema_version = 0\n", "must be a positive integer"),
        ("schema_version = '1'\n", "must be a positive integer"),
        ("schema_version = true\n", "must be a positive integer"),
        (f"schema_version = {SCHEMA_VERSION + 1}\n", "upgrade brainbench"),
    ],
)
def test_schema_version_is_checked(declared, fragment):
    with pytest.raises(ManifestError, match=fragment) as error:
        parse_manifest(declared, "plugin/manifest.toml")
    assert "plugin/manifest.toml: key 'schema_version'" in str(error.value)


def test_schema_version_is_recorded_and_defaults_to_schema_1():
    assert parse_manifest("schema_version = 1\n", "a.toml").schema_version == 1
    undeclared = parse_manifest("[models.x]\npython_name = 'a.b:c'\nlayers = ['a']\n", "b.toml")
    assert undeclared.schema_version is None and "x" in undeclared.entries["models"]
    assert parse_manifest((REPO / "registry.toml").read_text(), "registry.toml").schema_version == SCHEMA_VERSION
