"""What every SageMaker-SDK example here shares: a Springboard server and an S3 store on loopback,
and the environment `springboard jumpstart env` prints, so the rest of each example is the seed's
notebook code, unchanged but for sizes.

    with local_sagemaker(workdir) as local:      # starts what is not given
        ...  # plain `sagemaker` / boto3 code; S3 locations under local.bucket

Pass `endpoint_url` to use a running `springboard serve` (started with the same S3 settings:
it reads the channels and writes the outputs), `s3_endpoint_url` for MinIO / any S3 (the default
starts moto's S3 server in this process; moto is a dev dependency)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROLE = "arn:aws:iam::111122223333:role/springboard"  # any role ARN: Springboard ignores it


@dataclass
class Local:
    endpoint_url: str
    s3_endpoint_url: str
    bucket: str  # "s3://<name>": the SDK's default bucket

    def upload_dir(self, local_dir: Path, prefix: str) -> str:
        """Uploads the files of `local_dir` under `<bucket>/<prefix>/`; returns that S3 prefix."""
        import boto3

        s3 = boto3.client("s3")
        name = self.bucket.removeprefix("s3://")
        for path in sorted(Path(local_dir).rglob("*")):
            if path.is_file():
                s3.upload_file(str(path), name, f"{prefix}/{path.relative_to(local_dir).as_posix()}")
        return f"{self.bucket}/{prefix}/"

    def read_text(self, uri: str) -> str:
        import boto3

        name, _, key = uri.removeprefix("s3://").partition("/")
        return boto3.client("s3").get_object(Bucket=name, Key=key)["Body"].read().decode("utf-8")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(url: str, process: subprocess.Popen | None, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"springboard serve exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/ping", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"no Springboard server answered at {url} within {seconds:.0f} s")


@contextmanager
def local_sagemaker(
    workdir: Path,
    endpoint_url: str | None = None,
    s3_endpoint_url: str | None = None,
    bucket: str = "springboard",
) -> Iterator[Local]:
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    server = moto = None
    try:
        if s3_endpoint_url is None:
            try:
                from moto.server import ThreadedMotoServer
            except ImportError:
                raise SystemExit("moto is not installed: pass --s3-endpoint-url (MinIO, S3) or install "
                                 "the dev extra") from None
            port = _free_port()
            moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            moto.start()
            s3_endpoint_url = f"http://127.0.0.1:{port}"
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "springboard")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "springboard")
        os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
        # The server reads and writes S3 too (channels, outputs): it starts with the same settings.
        os.environ["AWS_ENDPOINT_URL_S3"] = s3_endpoint_url
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        if endpoint_url is None:
            # A private SPRINGBOARD_HOME for this run; converted weights stay shared.
            from springboard import settings

            models = str(settings.models_dir())
            os.environ["SPRINGBOARD_HOME"] = str(workdir / "home")
            os.environ["SPRINGBOARD_MODELS_DIR"] = models
            # The example's own files (data, outputs) are paths the server may use (README:
            # "What a request may touch").
            roots = [r for r in os.environ.get("SPRINGBOARD_DATA_ROOTS", "").split(os.pathsep) if r]
            os.environ["SPRINGBOARD_DATA_ROOTS"] = os.pathsep.join([*roots, str(workdir)])
            port = _free_port()
            endpoint_url = f"http://127.0.0.1:{port}"
            log = open(workdir / "server.log", "ab")
            server = subprocess.Popen([sys.executable, "-m", "springboard.app", "--port", str(port)],
                                      stdout=log, stderr=subprocess.STDOUT)
        _wait_ready(endpoint_url, server)

        from springboard.hub.jumpstart import sdk_environment

        os.environ.update(sdk_environment(endpoint_url, s3_endpoint_url, bucket=bucket,
                                          directory=workdir / "jumpstart"))
        import boto3

        s3 = boto3.client("s3")
        if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
            s3.create_bucket(Bucket=bucket)
        yield Local(endpoint_url, s3_endpoint_url, f"s3://{bucket}")
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        if moto is not None:
            moto.stop()


def delete_endpoints(*predictors) -> None:
    for predictor in predictors:
        if predictor is not None:
            predictor.delete_model()
            predictor.delete_endpoint()
