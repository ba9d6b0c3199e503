"""Majaj-Hong 2015 plugin: brainio conversion, fetching, registry entries and placement.

Everything runs offline on a miniature release generated in tmp_path
(tests/helpers/majajhong_fixtures.py); the pinned sha1s of the real files are patched to the
miniature's own.
"""

from __future__ import annotations

import importlib.util
import io
import zipfile

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from brainbench.assemblies import majajhong2015 as mh
from brainbench.data.assembly import AssemblyError, load_assembly
from brainbench.errors import DataError

from helpers.majajhong_fixtures import NEUROIDS, make_miniature, planted


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BRAINBENCH_OFFLINE", "1")
    return tmp_path


@pytest.fixture
def mini(env, monkeypatch):
    miniature = make_miniature(env)
    monkeypatch.setenv("BRAINBENCH_MIRROR", str(miniature.mirror))
    for name, digest in miniature.sha1.items():
        monkeypatch.setitem(mh.SHA1, name, digest)
    return miniature


def _convert(mini):
    table, id_column = mh.read_stimulus_csv(mini.path(mh.CSV_FILE))
    return mh.convert_brainio(mini.path(mh.ASSEMBLY_FILE), table, id_column)


# ---------------------------------------------------------------------- conversion
def test_conversion_lines_up_with_csv_rows_and_keeps_every_coordinate(mini):
    assembly = _convert(mini)
    table = mini.table
    assert assembly.dims == ("repetition", "stimulus", "neuroid")
    assert assembly.shape == (3, len(table), len(NEUROIDS))
    assert list(assembly.stimulus_id.values) == list(table["image_id"])
    for column in ("object_name", "category_name", "variation", "s"):
        assert list(assembly[column].values) == list(table[column]), column
    assert list(assembly["image_file"].values) == list(table["filename"])
    expected_neuroids = list(zip(*NEUROIDS, strict=True))
    for k, name in enumerate(("neuroid_id", "region", "animal", "arr", "row", "col")):
        assert list(assembly[name].values) == list(expected_neuroids[k]), name
    assert list(assembly["hemisphere"].values) == ["L", "L", "L", "R", "L"]
    assert tuple(assembly.attrs["response_window_ms"]) == (70.0, 170.0)
    assert list(assembly["background_id"].values) == [f"bg{s % 4}" for s in range(len(table))]
    assert assembly.attrs["dropped_presentation_coords"] == "session"
    assert "session" not in assembly.coords
    assert not any(getattr(index, "nlevels", 1) > 1 for index in assembly.indexes.values())


def test_conversion_puts_each_trial_in_place_and_pads_with_nan(mini):
    values = _convert(mini).values
    for s, n_reps in enumerate(mini.n_reps):
        for n in range(len(NEUROIDS)):
            trials = values[:, s, n]
            expected = [planted(r, s, n) for r in range(n_reps)]
            np.testing.assert_array_equal(trials[:n_reps], expected)
            assert np.isnan(trials[n_reps:]).all()
    assert np.isnan(values).sum() == (3 - mini.n_reps).sum() * len(NEUROIDS)


def test_netcdf_round_trip_of_converted_assembly(mini, tmp_path):
    from brainbench.data.assembly import save_assembly

    assembly = _convert(mini)
    path = save_assembly(assembly, tmp_path / "a.nc")
    assert load_assembly(path).identical(assembly)


def test_csv_that_contradicts_the_assembly_is_refused(mini):
    table, id_column = mh.read_stimulus_csv(mini.path(mh.CSV_FILE))
    table.loc[0, "object_name"] = "teapot"
    with pytest.raises(AssemblyError, match="object_name.*teapot.*misaligned"):
        mh.convert_brainio(mini.path(mh.ASSEMBLY_FILE), table, id_column)


def test_presentation_without_csv_row_is_refused(mini):
    table, id_column = mh.read_stimulus_csv(mini.path(mh.CSV_FILE))
    with pytest.raises(AssemblyError, match="CSV lacks"):
        mh.convert_brainio(mini.path(mh.ASSEMBLY_FILE), table.iloc[1:], id_column)


# ---------------------------------------------------------------------- plugin + fetch
def test_load_through_mirror_offline_and_cached(mini):
    loaded = mh.load().load(progress=False)
    assert loaded.assembly.sizes == {"repetition": 3, "stimulus": len(mini.table), "neuroid": 5}
    assert loaded.stimuli.ids == list(mini.table["image_id"])
    image = np.asarray(loaded.stimuli.image(0))
    with zipfile.ZipFile(mini.path(mh.ZIP_FILE)) as archive:
        png = archive.read(mini.table["filename"][0])
    expected = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    np.testing.assert_array_equal(image, expected)
    cached = list((mh.home() / "assemblies").glob(f"{mh.IDENTIFIER}-*.nc"))
    assert len(cached) == 1
    assert mh.load().load(progress=False).assembly.identical(loaded.assembly)


def test_region_parameter_keeps_only_that_region(mini):
    it = mh.load("IT").load(progress=False).assembly
    assert list(it["region"].values) == ["IT", "IT", "IT"]
    assert list(it["neuroid_id"].values) == ["Chabo_L_M_5_9", "Tito_L_P_8_0", "Tito_L_M_8_0"]
    with pytest.raises(AssemblyError, match="V4 and IT"):
        mh.load("V1")


def test_remote_files_are_the_pinned_brainio_files():
    files = {r.path: r for r in mh.MajajHong2015().remote_files()}
    assert set(files) == {"assy_dicarlo_MajajHong2015_public.nc", "stimulus_hvm-public.csv", "stimulus_hvm-public.zip"}
    nc = files["assy_dicarlo_MajajHong2015_public.nc"]
    assert nc.known_hash == "sha1:13d28ca0ce88ee550b54db3004374ae19096e9b9"
    assert nc.url == (
        "https://brainscore-storage.s3.amazonaws.com/brainio-brainscore/assy_dicarlo_MajajHong2015_public.nc"
    )
    csv, archive = files["stimulus_hvm-public.csv"], files["stimulus_hvm-public.zip"]
    assert csv.known_hash == "sha1:5ca7a3da00d8e9c694a9cd725df5ba0ad6d735af"
    assert archive.known_hash == "sha1:8aa44e038d7b551efa8077467622f9d48d72e473"


def test_sha1_mismatch_is_refused(env, monkeypatch):
    miniature = make_miniature(env)  # real pinned sha1s: the miniature cannot match them
    monkeypatch.setenv("BRAINBENCH_MIRROR", str(miniature.mirror))
    message = (
        r"has sha1 [0-9a-f]{12}\.\.\., but brainio-brainscore/stimulus_hvm-public\.csv "
        r"must have 5ca7a3da00d8.*delete it and fetch again"
    )
    with pytest.raises(DataError, match=message):
        mh.load().load(progress=False)


def test_zip_member_escaping_its_folder_is_refused(env, monkeypatch):
    miniature = make_miniature(env, evil_zip=True)
    monkeypatch.setenv("BRAINBENCH_MIRROR", str(miniature.mirror))
    for name, digest in miniature.sha1.items():
        monkeypatch.setitem(mh.SHA1, name, digest)
    with pytest.raises(DataError, match=r"zip member '\.\./escaped\.png' would escape its folder"):
        mh.load().load(progress=False)
    assert not (mh.home() / "extracted" / "escaped.png").exists()
    assert not list((mh.home() / "extracted" / mh.DATASET).glob("stimulus_*"))


def test_offline_without_mirror_names_the_file(env):
    from brainbench.errors import OfflineError

    with pytest.raises(OfflineError, match="stimulus_hvm-public.csv is not available offline"):
        mh.load().load(progress=False)


# ---------------------------------------------------------------------- registry
@pytest.mark.parametrize("region,n_alias", [("V4", "macaque-V4"), ("IT", "macaque-IT")])
def test_benchmark_entries(region, n_alias):
    from brainbench.registry import get_registry

    registry = get_registry()
    bench = registry.benchmark(f"majajhong2015-{region}")
    assert registry.benchmark(n_alias) is bench
    assert n_alias in bench.aliases
    assert n_alias not in registry.ids("benchmarks")
    assert bench.assembly == mh.IDENTIFIER
    python_name = registry.assembly(bench.assembly).python_name
    assert python_name == "brainbench.assemblies.majajhong2015:load"
    assert bench.selection == {"region": region}
    assert bench.readout == "simple" and bench.ceiling == "split-half"
    assert (bench.split.kind, bench.split.n_splits, bench.split.stratify, bench.split.seed) == (
        "kfold",
        10,
        "object_name",
        0,
    )
    assert bench.stimulus_placement.canvas_fraction == 1.0
    assert bench.info["n_neuroids"] == {"V4": 88, "IT": 168}[region]


def test_selection_from_the_manifest_picks_the_region(mini):
    from brainbench.registry import get_registry

    assembly = mh.load().load(progress=False).assembly
    for region, expected in (("V4", 2), ("IT", 3)):
        selection = get_registry().benchmark(f"majajhong2015-{region}").selection
        mask = np.ones(assembly.sizes["neuroid"], bool)
        for coord, value in selection.items():
            mask &= np.isin(assembly[coord].values, np.atleast_1d(value))
        assert int(mask.sum()) == expected


# ---------------------------------------------------------------------- placement
def test_declared_placement_fills_the_input_and_half_canvas_gives_gray_borders():
    pytest.importorskip("torch")
    from PIL import Image

    from brainbench.models.preprocess import place, with_placement
    from brainbench.registry import get_registry

    registry = get_registry()
    model_prep = registry.model("alexnet-untrained").preprocessing
    prep = with_placement(model_prep, registry.benchmark("majajhong2015-IT").stimulus_placement)
    white = Image.new("RGB", (256, 256), (255, 255, 255))
    full = np.asarray(place(white, prep))
    assert full.shape == (224, 224, 3) and (full == 255).all()  # 8 deg image = 8 deg field of view

    half = np.asarray(place(white, prep.model_copy(update={"canvas_fraction": 0.5})))
    gray = round(prep.background * 255)
    assert (half[56:168, 56:168] == 255).all()
    assert (half[:56] == gray).all() and (half[168:] == gray).all()
    assert (half[:, :56] == gray).all() and (half[:, 168:] == gray).all()


# ---------------------------------------------------------------------- splits + score
needs_splits = pytest.mark.skipif(
    importlib.util.find_spec("brainbench.data.splits") is None, reason="brainbench.data.splits is not written yet"
)
needs_scoring = pytest.mark.skipif(
    importlib.util.find_spec("brainbench.scoring") is None, reason="brainbench.scoring is not written yet"
)


@needs_splits
def test_stratified_splits_keep_every_object_in_train_and_test(mini):
    from brainbench.data.splits import make_splits
    from brainbench.registry import get_registry

    assembly = mh.load().load(progress=False).assembly
    spec = get_registry().benchmark("majajhong2015-IT").split
    objects = assembly[spec.stratify].values
    splits = make_splits(spec, assembly.sizes["stimulus"], objects)
    assert len(splits) == 10
    tested = np.zeros(len(objects), int)
    for split in splits:
        train, test = np.asarray(split.train), np.asarray(split.test)
        assert set(objects[train]) == set(objects) == set(objects[test])
        assert not set(train) & set(test)
        tested[test] += 1
    assert (tested == 1).all()  # k-fold: each image is tested exactly once


@needs_scoring
def test_end_to_end_score_offline_on_the_miniature(mini):
    import brainbench

    result = brainbench.score(
        "alexnet-untrained", "majajhong2015-IT", layers=["conv1", "conv5"], device="cpu", progress=False
    )
    assert isinstance(result, xr.Dataset)
    assert result.attrs["benchmark"] == "majajhong2015-IT"
    assert list(result.layer.values) == ["conv1", "conv5"]
    assert list(result["neuroid_id"].values) == ["Chabo_L_M_5_9", "Tito_L_P_8_0", "Tito_L_M_8_0"]
    assert list(result["region"].values) == ["IT"] * 3
    assert list(result["stimulus_id"].values) == list(mini.table["image_id"])
    # target = trial mean of the planted values 16 s + n + rep / 4
    expected = np.asarray([[16.0 * s + n + (k - 1) / 8.0 for n in (0, 2, 4)] for s, k in enumerate(mini.n_reps)])
    np.testing.assert_allclose(result["target"].values, expected)
    # planted responses differ by 16 between images and by at most 0.5 between trials
    assert (result["ceiling"].values > 0.99).all()
    assert np.isfinite(result["r"].values).all()


@needs_scoring
def test_cli_score_json_through_the_alias(mini):
    import json

    from typer.testing import CliRunner

    from brainbench.cli.main import app

    run = CliRunner().invoke(
        app, ["score", "alexnet-untrained", "macaque-IT", "--layers", "conv1", "--device", "cpu", "--json"]
    )
    assert run.exit_code == 0, run.output
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["benchmark"] == "majajhong2015-IT"
    assert summary["layers"]["conv1"]["n_neuroids"] == 3
    assert summary["selection"]["n_kept"] == 3


def test_describe_shows_aliases_and_list_does_not_repeat_them():
    import json

    from typer.testing import CliRunner

    from brainbench.cli.main import app

    runner = CliRunner()
    described = runner.invoke(app, ["describe", "macaque-V4", "--json"])
    assert described.exit_code == 0, described.output
    entry = json.loads(described.stdout)
    assert "macaque-V4" in json.dumps(entry) and "majajhong2015-V4" in json.dumps(entry)
    listed = runner.invoke(app, ["list", "benchmarks", "--json"])
    ids = [e["id"] for e in json.loads(listed.stdout)["benchmarks"]]
    assert ids.count("majajhong2015-V4") == 1 and ids.count("majajhong2015-IT") == 1
    assert "macaque-V4" not in ids and "macaque-IT" not in ids
