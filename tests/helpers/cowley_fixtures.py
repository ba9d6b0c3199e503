"""A generated two-session Cowley et al. (2023) composite: images, trials, pin list and manifest.

Used by the composite tests of the assemblies and the results (``miniature`` is a fixture:
import it into a test module to use it there).
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile

import numpy as np
import pytest

from brainbench.data.fetch import git_blob_sha1

MINI = {"900001": ("WE", 6, 24, 5), "900002": ("RA", 5, 20, 4)}  # session -> (animal, neurons, images, repeats)


def _jpeg(rng: np.random.Generator) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture
def miniature(tmp_path, monkeypatch):
    """Two generated sessions in a temporary mirror, their pin list, and a manifest declaring them.

    Each neuron's trials are a shared signal per image plus noise, with NaN-padded repeats
    (the last image of each session has one repeat fewer), as in the upstream files.
    """
    rng = np.random.default_rng(0)
    root = tmp_path / "mirror" / "cowley2023"
    rows = []
    for session, (animal, neurons, images, repeats) in MINI.items():
        archive = root / "images" / f"images_{session}.zip"
        archive.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(archive, "w") as zf:
            for k in range(1, images + 1):
                zf.writestr(f"image{k:04d}.jpg", _jpeg(rng))
        signal = rng.normal(size=(neurons, images, 1))
        trials = signal + 0.5 * rng.normal(size=(neurons, images, repeats))
        trials[:, -1, -1] = np.nan
        raw = root / "responses_raw" / f"responses_{session}.npy"
        raw.parent.mkdir(parents=True, exist_ok=True)
        np.save(raw, trials)
        for kind, path in (("images", archive), ("raw", raw)):
            sha256 = hashlib.sha256(path.read_bytes()).hexdigest() if kind == "images" else ""  # raw: git id only
            rows.append([session, animal, kind, str(path.relative_to(root)), git_blob_sha1(path), "", sha256])
    pins = tmp_path / "pins.tsv"
    with open(pins, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["session", "animal", "kind", "path", "git_blob_sha1", "bytes", "sha256"])
        writer.writerows(rows)
    manifest = tmp_path / "mini.toml"
    manifest.write_text(
        f"""
[assemblies.mini-pinned]
python_name = "brainbench.assemblies.cowley2023:pinned"
params = {{ responses = "raw", pins = "{pins}" }}

[benchmarks.mini-full]
kind = "composite"
version = 1
region = "V4"
assembly = "mini-pinned"
part_param = "session"
ceiling = "split-half"
split = {{ kind = "kfold", n_splits = 4, seed = 0 }}
aggregate = {{ value = "ceiled", part = "median", group_by = "subject", group = "mean", overall = "mean" }}
"""
    )
    monkeypatch.setenv("BRAINBENCH_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("BRAINBENCH_MANIFESTS", str(manifest))
    from brainbench.registry import refresh

    refresh()
    return root
