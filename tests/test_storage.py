"""storage.py against a local directory and moto's S3 server (real S3 wire via s3fs)."""

from __future__ import annotations

import os
import tarfile

import boto3
import pytest

from springboard import confinement, storage
from springboard.errors import NotFoundError, ValidationError


def _tree(root):
    (root / "sub").mkdir(parents=True)
    (root / "config.json").write_text('{"a": 1}')
    (root / "sub" / "weights.bin").write_bytes(b"\x00\x01" * 100)
    return root


@pytest.mark.parametrize("where", ["local", "file", "s3"])
def test_write_read_list_exists_delete(where, tmp_path, request):
    base = {
        "local": lambda: str(tmp_path / "area"),
        "file": lambda: f"file://{tmp_path}/area",
        "s3": lambda: request.getfixturevalue("s3_bucket") + "/area",
    }[where]()
    target = storage.join(base, "dir", "x.json")
    assert not storage.exists(target)
    storage.write_text(target, '{"k": "v"}')
    assert storage.exists(target) and storage.read_text(target) == '{"k": "v"}'
    storage.write_bytes(storage.join(base, "dir", "deeper", "y.bin"), b"yy")
    listed = storage.list_files(storage.join(base, "dir"))
    assert listed == [storage.join(base, "dir", "deeper", "y.bin"), target]
    assert storage.list_files(storage.join(base, "dir"), recursive=False) == [target]
    assert storage.isdir(storage.join(base, "dir"))
    with pytest.raises(NotFoundError, match="no such file"):
        storage.read_bytes(storage.join(base, "missing.txt"))
    storage.delete(storage.join(base, "dir"))
    assert not storage.exists(target)


def test_local_write_is_atomic_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out" / "f.txt"
    storage.write_text(str(target), "one")
    storage.write_text(str(target), "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]


def test_upload_download_directory_through_s3(s3_bucket, tmp_path):
    src = _tree(tmp_path / "model")
    written = storage.upload_dir(src, s3_bucket + "/jobs/j1/model")
    assert sorted(written) == [s3_bucket + "/jobs/j1/model/config.json", s3_bucket + "/jobs/j1/model/sub/weights.bin"]
    # what another S3 client sees
    s3 = boto3.client("s3", region_name="us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket[5:], Prefix="jobs/")["Contents"]]
    assert sorted(keys) == ["jobs/j1/model/config.json", "jobs/j1/model/sub/weights.bin"]
    back = storage.download_dir(s3_bucket + "/jobs/j1/model", tmp_path / "back")
    assert (back / "sub" / "weights.bin").read_bytes() == b"\x00\x01" * 100
    assert (back / "config.json").read_text() == '{"a": 1}'


def test_model_tarball_round_trip_and_fetch(s3_bucket, tmp_path):
    src = _tree(tmp_path / "model")
    url = storage.publish_tarball(src, s3_bucket + "/out/model.tar.gz")
    assert url == s3_bucket + "/out/model.tar.gz"
    local_tar = tmp_path / "m.tar.gz"
    local_tar.write_bytes(storage.read_bytes(url))
    with tarfile.open(local_tar) as tar:
        assert sorted(tar.getnames()) == ["config.json", "sub/weights.bin"]  # contents at top level
    got = storage.fetch(url, tmp_path / "cache")
    assert (got / "config.json").read_text() == '{"a": 1}'
    # a plain local directory is used where it is
    assert storage.fetch(str(src), tmp_path / "cache2") == src
    # a remote prefix is downloaded
    storage.upload_dir(src, s3_bucket + "/plain")
    assert (storage.fetch(s3_bucket + "/plain", tmp_path / "cache3") / "sub" / "weights.bin").exists()


def test_extract_refuses_members_outside_the_destination(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    payload = tmp_path / "p.txt"
    payload.write_text("x")
    with tarfile.open(evil, "w:gz") as tar:
        tar.add(payload, arcname="../escape.txt")
    with pytest.raises(ValidationError, match="unsafe archive member"):
        storage.extract_tarball(evil, tmp_path / "dest")
    assert not (tmp_path / "escape.txt").exists()


def test_bad_locations_are_clear_errors(tmp_path):
    with pytest.raises(ValidationError, match="unsupported location 'ftp://x/y'"):
        storage.read_bytes("ftp://x/y")
    with pytest.raises(NotFoundError):
        storage.fetch(str(tmp_path / "nothing"), tmp_path / "c")


def test_endpoint_comes_from_the_standard_aws_setting(moto_s3_server, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://example.invalid:1")
    assert storage.s3_options()["endpoint_url"] == "http://example.invalid:1"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_s3_server)
    assert storage.s3_options()["endpoint_url"] == moto_s3_server


# -- confinement (issue 19): what a server request may touch ---------------------------------------


def test_confine_admits_the_home_the_roots_and_s3_only(sb_home, tmp_path, monkeypatch):
    from springboard.errors import AccessDeniedError

    root = tmp_path / "root"
    (root / "data").mkdir(parents=True)
    monkeypatch.setenv("SPRINGBOARD_DATA_ROOTS", f"{tmp_path / 'nowhere'}{os.pathsep}{root}")
    assert confinement.confine(root / "data", "f") == str((root / "data").resolve())
    assert confinement.confine(f"file://{root}/new/file.txt", "f", write=True) == str(root.resolve() / "new" / "file.txt")
    assert confinement.confine(sb_home / "jobs" / "x", "f", write=True).endswith("x")
    assert confinement.confine("s3://bucket/k", "f", write=True) == "s3://bucket/k"
    for outside in ("/etc/passwd", f"{root}/../elsewhere", str(tmp_path / "decoy")):
        with pytest.raises(AccessDeniedError, match="field 'f'.*SPRINGBOARD_DATA_ROOTS"):
            confinement.confine(outside, "f")
    (root / "link").symlink_to("/etc")
    with pytest.raises(AccessDeniedError):
        confinement.confine(root / "link" / "passwd", "f")
    with pytest.raises(AccessDeniedError, match="data root itself"):
        confinement.confine(root, "f", write=True, overwrite=True)
    with pytest.raises(AccessDeniedError, match="data root itself"):
        confinement.confine(sb_home, "f", write=True)
    with pytest.raises(ValidationError, match="relative"):
        confinement.confine("data/x", "f")
    with pytest.raises(AccessDeniedError, match="memory"):
        confinement.confine("memory://x", "f")


def test_confine_http_only_under_an_allowed_prefix(monkeypatch):
    from springboard.errors import AccessDeniedError

    url = "https://data.commoncrawl.org/crawl-data/x.warc.gz"
    with pytest.raises(AccessDeniedError, match="SPRINGBOARD_ALLOW_HTTP"):
        confinement.confine(url, "f")
    monkeypatch.setenv("SPRINGBOARD_ALLOW_HTTP", "https://data.commoncrawl.org/crawl-data, http://127.0.0.1:9/a/")
    assert confinement.confine(url, "f") == url
    for bad in ("https://data.commoncrawl.org.evil.example/crawl-data/x", "http://data.commoncrawl.org/crawl-data/x",
                "https://data.commoncrawl.org/crawl-dataX", "https://user@data.commoncrawl.org/crawl-data/x",
                "http://127.0.0.1:10/a/x", "http://127.0.0.1:9/ab"):
        with pytest.raises(AccessDeniedError):
            confinement.confine(bad, "f")
    with pytest.raises(AccessDeniedError, match="writes only"):
        confinement.confine(url, "f", write=True)
    monkeypatch.setenv("SPRINGBOARD_ALLOW_HTTP", "1")
    assert confinement.confine("http://anything.example/x", "f") == "http://anything.example/x"


def test_confine_reference_leaves_names_alone(tmp_path, monkeypatch):
    from springboard.errors import AccessDeniedError

    monkeypatch.chdir(tmp_path)
    assert confinement.confine_reference("smollm2-135m-instruct", "model") == "smollm2-135m-instruct"
    assert confinement.confine_reference("HuggingFaceTB/SmolLM2-135M", "model") == "HuggingFaceTB/SmolLM2-135M"
    with pytest.raises(AccessDeniedError):
        confinement.confine_reference("/etc", "model")
    (tmp_path / "here").mkdir()  # a folder in the server's working directory is a location, not a name
    with pytest.raises(ValidationError, match="relative"):
        confinement.confine_reference("here", "model")


def test_confine_refuses_names_no_file_system_takes_as_bad_input():
    """A name too long for the file system or holding a NUL byte is a 4xx-class error (the
    endpoint route's fuzzing found a 500: OSError 'File name too long')."""
    long_name = "x" * 5000
    assert confinement.confine_reference(long_name, "adapters") == long_name  # a name, not a location
    assert confinement.confine_reference("a\x00b", "model") == "a\x00b"
    from springboard.errors import AccessDeniedError

    for bad in ("/" + "y" * 5000 + "/z", "/tmp/a\x00b", "y" * 5000 + "/../z"):
        with pytest.raises((ValidationError, AccessDeniedError), match="field 'model'"):
            confinement.confine_reference(bad, "model")


def test_a_model_reference_too_long_for_a_path_is_an_unknown_name():
    """Path.is_dir raises for such names; a model or adapter reference that is a name is resolved
    as a name (NotFoundError, a 404), never a 500."""
    from springboard.hub.resolve import resolve_model

    assert storage.is_local_dir("x" * 5000) is False and storage.is_local_dir("a\x00b") is False
    with pytest.raises(NotFoundError):
        resolve_model("x" * 5000)
