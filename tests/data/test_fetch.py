"""Remote files: cache, mirror, offline mode, hash checks, atomic downloads, safe zips."""

from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile
from functools import partial

import numpy as np
import pytest

from brainbench.data.fetch import RemoteFile, cache_path, extract_zip, fetch, load_npy
from brainbench.errors import DataError, OfflineError

PAYLOAD = b"brainbench test payload\n" * 100
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def remote(url="http://127.0.0.1:9/file.bin", known=f"sha256:{SHA}", path="sub/file.bin"):
    return RemoteFile("toyset", path, url, known, len(PAYLOAD))


def test_offline_missing_file_names_file_and_where(fresh_home, tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINBENCH_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(OfflineError) as error:
        fetch(remote())
    message = str(error.value)
    assert "toyset/sub/file.bin" in message
    assert str(fresh_home / "data" / "toyset" / "sub" / "file.bin") in message
    assert str(tmp_path / "mirror" / "toyset" / "sub" / "file.bin") in message


def test_mirror_is_read_in_place_with_hash_check(fresh_home, tmp_path, monkeypatch):
    mirrored = tmp_path / "mirror" / "toyset" / "sub" / "file.bin"
    mirrored.parent.mkdir(parents=True)
    mirrored.write_bytes(PAYLOAD)
    monkeypatch.setenv("BRAINBENCH_MIRROR", str(tmp_path / "mirror"))
    assert fetch(remote()) == mirrored
    mirrored.write_bytes(PAYLOAD + b"x")
    with pytest.raises(DataError, match="corrupt or a different version"):
        fetch(remote())


def test_sha1_declarations_are_checked(fresh_home, tmp_path, monkeypatch):
    mirrored = tmp_path / "m" / "toyset" / "sub" / "file.bin"
    mirrored.parent.mkdir(parents=True)
    mirrored.write_bytes(PAYLOAD)
    monkeypatch.setenv("BRAINBENCH_MIRROR", str(tmp_path / "m"))
    good = f"sha1:{hashlib.sha1(PAYLOAD).hexdigest()}"
    assert fetch(remote(known=good)) == mirrored
    with pytest.raises(DataError, match="sha1"):
        fetch(remote(known="sha1:" + "0" * 40))


def test_bad_declarations_are_refused():
    with pytest.raises(DataError, match="sha256:<hex>"):
        remote(known="crc32:abc")
    with pytest.raises(DataError, match="stay inside"):
        remote(path="../escape.bin")


@pytest.fixture
def http_server(tmp_path):
    """A loopback HTTP server serving tmp_path/www."""
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_caches_and_refuses_bad_hash_without_partial_file(fresh_home, http_server, monkeypatch):
    root, base = http_server
    monkeypatch.delenv("BRAINBENCH_OFFLINE")
    (root / "file.bin").write_bytes(PAYLOAD)
    good = remote(url=f"{base}/file.bin")
    path = fetch(good, progress=False)
    assert path == cache_path(good) and path.read_bytes() == PAYLOAD
    (root / "other.bin").write_bytes(b"tampered")
    bad = remote(url=f"{base}/other.bin", path="sub/other.bin")
    with pytest.raises(DataError, match="hash"):
        fetch(bad, progress=False)
    leftovers = [p.name for p in cache_path(bad).parent.iterdir()]
    assert leftovers == ["file.bin"]


def test_download_without_known_hash_records_it(fresh_home, http_server, monkeypatch):
    root, base = http_server
    monkeypatch.delenv("BRAINBENCH_OFFLINE")
    (root / "free.bin").write_bytes(PAYLOAD)
    unpinned = remote(url=f"{base}/free.bin", known=None, path="free.bin")
    path = fetch(unpinned, progress=False)
    assert (path.parent / "free.bin.sha256").read_text().strip() == SHA
    path.write_bytes(b"changed later")
    with pytest.raises(DataError):
        fetch(unpinned, progress=False)


def test_zip_member_escaping_its_folder_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr("../../escaped.txt", "bad")
    with pytest.raises(DataError, match="escape"):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_zip_extraction_is_complete(tmp_path):
    archive = tmp_path / "good.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a/b.txt", "hello")
    out = extract_zip(archive, tmp_path / "out")
    assert (out / "a" / "b.txt").read_text() == "hello"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_npy_refuses_pickles(tmp_path):
    np.save(tmp_path / "ok.npy", np.arange(3.0))
    np.testing.assert_array_equal(load_npy(tmp_path / "ok.npy"), np.arange(3.0))
    np.save(tmp_path / "bad.npy", np.array([object()]), allow_pickle=True)
    with pytest.raises(DataError):
        load_npy(tmp_path / "bad.npy")


def test_offline_error_without_a_mirror_says_how_to_supply_the_file(fresh_home, monkeypatch):
    with pytest.raises(OfflineError) as error:
        fetch(remote())
    message = str(error.value)
    assert "toyset/sub/file.bin" in message
    assert str(fresh_home / "data" / "toyset" / "sub" / "file.bin") in message
    assert "BRAINBENCH_MIRROR=DIR" in message and "DIR/toyset/sub/file.bin" in message
    assert "\n" not in message and message.endswith(".")


def test_failed_download_names_file_cache_and_mirror(fresh_home, monkeypatch):
    monkeypatch.delenv("BRAINBENCH_OFFLINE")
    import pooch

    def refuse(self, *args, **kwargs):
        raise ConnectionError("connection refused\nby the test")

    monkeypatch.setattr(pooch.Pooch, "fetch", refuse)
    with pytest.raises(DataError) as error:
        fetch(remote(), progress=False)
    message = str(error.value)
    assert (
        "could not download toyset/sub/file.bin from http://127.0.0.1:9/file.bin (connection refused by the test)"
        in message
    )
    assert str(fresh_home / "data" / "toyset" / "sub" / "file.bin") in message
    assert "BRAINBENCH_MIRROR=DIR" in message and "DIR/toyset/sub/file.bin" in message
    assert "\n" not in message and message.endswith(".")
    monkeypatch.setenv("BRAINBENCH_MIRROR", str(fresh_home / "mirror"))
    with pytest.raises(DataError, match="BRAINBENCH_MIRROR=DIR supplies DIR/toyset/sub/file.bin"):
        fetch(remote(), progress=False)


def test_git_object_id_pins_downloads_and_mirrored_files(fresh_home, http_server, tmp_path, monkeypatch):
    """A file pinned only by its git object id (no sha256) is checked on download and in a mirror."""
    from brainbench.data.fetch import git_blob_sha1

    root, base = http_server
    monkeypatch.delenv("BRAINBENCH_OFFLINE")
    (root / "file.bin").write_bytes(PAYLOAD)
    object_id = hashlib.sha1(b"blob %d\0" % len(PAYLOAD) + PAYLOAD).hexdigest()  # what `git hash-object` gives
    assert git_blob_sha1(root / "file.bin") == object_id
    good = RemoteFile("toyset", "sub/file.bin", f"{base}/file.bin", None, len(PAYLOAD), git_sha1=object_id)
    assert fetch(good, progress=False).read_bytes() == PAYLOAD
    (root / "other.bin").write_bytes(PAYLOAD[:-1] + b"?")
    bad = RemoteFile("toyset", "sub/other.bin", f"{base}/other.bin", None, len(PAYLOAD), git_sha1=object_id)
    with pytest.raises(DataError, match="git object id"):
        fetch(bad, progress=False)
    assert sorted(p.name for p in cache_path(bad).parent.iterdir()) == ["file.bin"]  # nothing staged is left
    mirrored = tmp_path / "mirror" / "toyset" / "sub" / "third.bin"
    mirrored.parent.mkdir(parents=True)
    mirrored.write_bytes(b"not the pinned bytes")
    monkeypatch.setenv("BRAINBENCH_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(DataError, match="git object id"):
        fetch(RemoteFile("toyset", "sub/third.bin", "http://127.0.0.1:9/x", None, git_sha1=object_id))
