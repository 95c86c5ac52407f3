"""Every user location (a plain path, `file://`, `s3://`) through fsspec: read, write, list,
atomic publish, directories up and down, and SageMaker's `model.tar.gz`. Which locations a
server request may read and write is `confinement.confine`.

The S3 endpoint and credentials come from the standard AWS settings, so real S3 and any
S3-compatible store work alike: `AWS_ENDPOINT_URL_S3` (else `AWS_ENDPOINT_URL`), else what
botocore reads from the profile (`AWS_PROFILE`, `~/.aws/config`'s `endpoint_url`), plus the
usual `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_DEFAULT_REGION`.

    from springboard import storage
    storage.write_text("s3://bucket/a/b.json", "{}")
    storage.upload_dir("out/model", "s3://bucket/jobs/j1/output/model")
    storage.make_tarball("out/model", "/tmp/model.tar.gz")
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
import uuid
from pathlib import Path
from typing import IO, Any

import fsspec

from springboard.errors import NotFoundError, SpringboardError, ValidationError

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
SUPPORTED = ("file", "s3", "s3a", "memory", "http", "https")  # http(s): reading (Common Crawl's mirror)


def scheme(uri: str | Path) -> str:
    """`file` for plain paths, else the URI's scheme in lower case."""
    m = _SCHEME.match(str(uri))
    return m.group(1).lower() if m else "file"


def is_remote(uri: str | Path) -> bool:
    return scheme(uri) != "file"


def local_path(uri: str | Path) -> Path:
    """A plain path for a local location (`file://` stripped, `~` expanded); an error for a
    remote one."""
    text = str(uri)
    if is_remote(text):
        raise ValidationError(f"{text!r} is not a local path")
    return Path(text.removeprefix("file://")).expanduser()


def join(base: str | Path, *parts: str) -> str:
    """`base/part/...` keeping the scheme (no double slashes)."""
    out = str(base).rstrip("/")
    for part in parts:
        out += "/" + str(part).strip("/")
    return out


def s3_options() -> dict[str, Any]:
    """s3fs options from the standard AWS environment. Only the endpoint is set explicitly
    (so fsspec's instance cache keys on it); credentials, region and profile are botocore's."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    # No listings cache: jobs in other processes write where this process lists.
    options: dict[str, Any] = {"use_listings_cache": False}
    if endpoint:
        options["endpoint_url"] = endpoint
    if os.environ.get("AWS_PROFILE"):
        options["profile"] = os.environ["AWS_PROFILE"]
    return options


def filesystem(uri: str | Path) -> tuple[fsspec.AbstractFileSystem, str]:
    """(filesystem, path within it) for any location."""
    text = str(uri)
    kind = scheme(text)
    if kind not in SUPPORTED:
        raise ValidationError(
            f"unsupported location {text!r}: use a local path, file:// or s3:// (got scheme {kind!r})"
        )
    if kind == "file":
        return fsspec.filesystem("file"), str(local_path(text).resolve())
    options = s3_options() if kind in ("s3", "s3a") else {}
    try:
        fs, path = fsspec.core.url_to_fs(text, **options)
    except ImportError as exc:
        raise ValidationError(f"{text!r}: {exc} (install s3fs for s3:// locations)") from None
    return fs, path


def display(fs: fsspec.AbstractFileSystem, path: str) -> str:
    """A location as users name it, from a filesystem and a path within it (what `filesystem`,
    `glob` or `find` give): local files as plain paths, remote ones with their scheme so users
    can find them (http(s) paths are whole URLs already)."""
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if protocol in ("file", "local") or "://" in path:
        return path
    return f"{protocol}://{path}"


def _missing(uri: str | Path) -> NotFoundError:
    return NotFoundError(f"no such file or directory: {uri}")


# --- reading and listing ---------------------------------------------------------------------


def exists(uri: str | Path) -> bool:
    fs, path = filesystem(uri)
    return bool(fs.exists(path))


def isdir(uri: str | Path) -> bool:
    fs, path = filesystem(uri)
    return bool(fs.isdir(path))


def open_file(uri: str | Path, mode: str = "rb") -> IO[Any]:
    """An open file object (use as a context manager). Writing through this is not atomic;
    `write_bytes`/`publish_file` are."""
    fs, path = filesystem(uri)
    if "r" in mode and not fs.exists(path):
        raise _missing(uri)
    if "w" in mode and scheme(uri) == "file":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return fs.open(path, mode)


def read_bytes(uri: str | Path) -> bytes:
    fs, path = filesystem(uri)
    try:
        return fs.cat_file(path)
    except FileNotFoundError:
        raise _missing(uri) from None
    except IsADirectoryError:
        raise ValidationError(f"{uri} is a directory, not a file") from None


def read_text(uri: str | Path, encoding: str = "utf-8") -> str:
    return read_bytes(uri).decode(encoding)


def list_files(uri: str | Path, recursive: bool = True) -> list[str]:
    """The files under a directory/prefix (or the one file itself), as full locations with
    the caller's scheme, sorted."""
    fs, path = filesystem(uri)
    if not fs.exists(path):
        raise _missing(uri)
    if not fs.isdir(path):
        return [str(uri)]
    found = fs.find(path) if recursive else [e["name"] for e in fs.ls(path, detail=True) if e["type"] == "file"]
    root = path.rstrip("/")
    return sorted(join(uri, f[len(root) :].lstrip("/")) for f in found if f.rstrip("/") != root)


# --- writing -----------------------------------------------------------------------------------


def write_bytes(uri: str | Path, data: bytes) -> str:
    """Writes a whole file atomically: readers see the old file or the new one, never half.
    Locally a temporary sibling is renamed over the target; an S3 PUT is atomic by itself."""
    fs, path = filesystem(uri)
    if scheme(uri) == "file":
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        fs.pipe_file(path, data)
    return str(uri)


def write_text(uri: str | Path, text: str, encoding: str = "utf-8") -> str:
    return write_bytes(uri, text.encode(encoding))


def publish_file(local: str | Path, uri: str | Path) -> str:
    """Copies a finished local file to `uri` atomically (temporary name then rename locally,
    one PUT/multipart upload on S3, which only becomes visible once complete)."""
    src = Path(local)
    if not src.is_file():
        raise _missing(local)
    fs, path = filesystem(uri)
    if scheme(uri) == "file":
        target = Path(path)
        if target.resolve() == src.resolve():
            return str(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        fs.put_file(str(src), path)
    return str(uri)


def upload_dir(local_dir: str | Path, uri: str | Path) -> list[str]:
    """Copies every file under `local_dir` to `uri/<relative path>`; returns the locations
    written. Each file is published atomically."""
    src = Path(local_dir)
    if not src.is_dir():
        raise _missing(local_dir)
    written = []
    for f in sorted(p for p in src.rglob("*") if p.is_file()):
        written.append(publish_file(f, join(uri, f.relative_to(src).as_posix())))
    return written


def download_dir(uri: str | Path, local_dir: str | Path) -> Path:
    """Copies every file under the directory/prefix `uri` into `local_dir` (a single file
    lands as `local_dir/<its name>`)."""
    dest = Path(local_dir)
    dest.mkdir(parents=True, exist_ok=True)
    fs, path = filesystem(uri)
    if not fs.exists(path):
        raise _missing(uri)
    if not fs.isdir(path):
        fs.get_file(path, str(dest / path.rstrip("/").rsplit("/", 1)[-1]))
        return dest
    root = path.rstrip("/")
    for f in fs.find(path):
        rel = f[len(root) :].lstrip("/")
        if not rel:
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(f, str(target))
    return dest


def make_bucket(uri: str) -> None:
    """Creates the bucket of an `s3://<bucket>` location when it does not exist. A configured
    endpoint where nothing listens fails at once, not after botocore's and s3fs's retries."""
    if scheme(uri) not in ("s3", "s3a"):
        raise ValidationError(f"{uri!r}: a bucket is an s3:// location")
    endpoint = s3_options().get("endpoint_url")
    if endpoint:
        import socket
        from urllib.parse import urlsplit

        parts = urlsplit(endpoint)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=5).close()
        except OSError as exc:
            raise SpringboardError(f"nothing answers at the S3 endpoint {endpoint} ({exc}): start it first") from None
    fs, path = filesystem(uri)
    bucket = path.split("/", 1)[0]
    if not fs.exists(bucket):
        fs.mkdir(bucket)


def delete(uri: str | Path) -> None:
    """Removes a file or a whole directory/prefix; a missing one is not an error."""
    fs, path = filesystem(uri)
    if fs.exists(path):
        fs.rm(path, recursive=True)


# --- model.tar.gz --------------------------------------------------------------------------------


def make_tarball(local_dir: str | Path, tar_path: str | Path) -> Path:
    """SageMaker's `model.tar.gz`: the directory's contents at the archive's top level."""
    src, out = Path(local_dir), Path(tar_path)
    if not src.is_dir():
        raise _missing(local_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        # compresslevel 1: weights barely compress, and level 9 takes minutes on a 500 MB model
        with tarfile.open(tmp, "w:gz", compresslevel=1) as tar:
            for f in sorted(src.rglob("*")):
                if f.is_file():
                    tar.add(f, arcname=f.relative_to(src).as_posix())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def extract_tarball(tar_path: str | Path, dest: str | Path) -> Path:
    """Unpacks a (local) `model.tar.gz` into `dest`. Members that would land outside `dest`
    (absolute paths, `..`, links) are refused by tarfile's `data` filter."""
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tar_path, "r:*") as tar:
            tar.extractall(out, filter="data")
    except tarfile.FilterError as exc:
        raise ValidationError(f"{tar_path}: unsafe archive member: {exc}") from None
    except (tarfile.ReadError, EOFError, OSError) as exc:
        raise ValidationError(f"{tar_path}: not a readable tar archive: {exc}") from None
    return out


def publish_tarball(local_dir: str | Path, uri: str | Path) -> str:
    """Packs `local_dir` as model.tar.gz and publishes it at `uri` (any location)."""
    with tempfile.TemporaryDirectory(prefix="springboard-tar-") as tmp:
        tar = make_tarball(local_dir, Path(tmp) / "model.tar.gz")
        return publish_file(tar, uri)


def fetch(uri: str | Path, cache_dir: str | Path) -> Path:
    """A local copy of any location: a local path is returned as it is; a remote file or
    prefix is downloaded into `cache_dir`; a `.tar.gz` (local or remote) is unpacked there."""
    text = str(uri)
    cache = Path(cache_dir)
    if not is_remote(text) and not text.endswith((".tar.gz", ".tgz")):
        path = local_path(text)
        if not path.exists():
            raise _missing(uri)
        return path
    if text.endswith((".tar.gz", ".tgz")):
        if is_remote(text):
            tar = cache / "download" / text.rstrip("/").rsplit("/", 1)[-1]
            tar.parent.mkdir(parents=True, exist_ok=True)
            fs, path = filesystem(text)
            if not fs.exists(path):
                raise _missing(uri)
            fs.get_file(path, str(tar))
        else:
            tar = local_path(text)
            if not tar.exists():
                raise _missing(uri)
        return extract_tarball(tar, cache / "extracted")
    return download_dir(text, cache / "download")


def is_local_dir(path: str | Path) -> bool:
    """Whether `path` is a local folder; a name no file system takes (too long, a NUL byte) is
    not one (Path.is_dir raises for those), so a reference that may be a name is safe to test."""
    try:
        return Path(path).is_dir()
    except (OSError, ValueError):
        return False
