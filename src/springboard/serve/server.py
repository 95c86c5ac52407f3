"""Running the server, finding it, and talking to it.

`springboard serve` (springboard.app, the composition root) runs one uvicorn server hosting many
endpoints and records its address in SPRINGBOARD_HOME/server.json. `deploy` (CLI and SDK) finds that server, or starts one in the
background (detached, like a job's worker) when none answers."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from springboard import settings
from springboard.errors import AccessDeniedError, ConflictError, NotFoundError, SpringboardError, ValidationError
from springboard.serve.registry import EndpointConfig, EndpointRecord, endpoint_name

log = logging.getLogger("springboard.serve")

DEFAULT_PORT = settings.DEFAULT_PORT


def server_file() -> Path:
    return settings.home() / "server.json"


def server_log() -> Path:
    return settings.home() / "server.log"


def client_host(host: str) -> str:
    """Where a client on this machine reaches a server bound to `host`."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def auth_headers() -> dict[str, str]:
    """The Bearer token for a server that requires a key: its secret (SPRINGBOARD_API_SECRET)
    when it has one, else the key (SPRINGBOARD_API_KEY), as springboard.guard.Guard checks."""
    token = settings.api_secret() or settings.api_key()
    return {"Authorization": f"Bearer {token}"} if token else {}


def find_server() -> str | None:
    """The URL of a server that answers for this SPRINGBOARD_HOME, if any."""
    try:
        info = json.loads(server_file().read_text())
    except (OSError, ValueError):
        return None
    url = info.get("url")
    try:
        # 401/403: a server answers but wants a key; the caller's requests then say so.
        if url and httpx.get(f"{url}/springboard/health", headers=auth_headers(), timeout=2.0).status_code in (
            200, 401, 403,
        ):
            return url
    except httpx.HTTPError:
        pass
    return None


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise SpringboardError("no free port for the endpoint server")


def ensure_server(timeout: float = 60.0) -> str:
    """A running server's URL; starts one in the background if none answers."""
    url = find_server()
    if url:
        return url
    port = _free_port(DEFAULT_PORT)
    env = dict(os.environ, SPRINGBOARD_HOME=str(settings.home()), PYTHONUNBUFFERED="1")
    with open(server_log(), "ab") as logf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "springboard.app", "--host", "127.0.0.1", "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,  # outlives the deploying command, like a job worker
        )
    log.info("started endpoint server (pid %d) on port %d; log %s", proc.pid, port, server_log())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SpringboardError(f"the endpoint server exited (code {proc.returncode}); see {server_log()}")
        url = find_server()
        if url:
            return url
        time.sleep(0.2)
    raise SpringboardError(f"the endpoint server did not come up within {timeout:.0f}s; see {server_log()}")


class ServerClient:
    """The control API (/springboard/endpoints) and the runtime path, over HTTP."""

    def __init__(self, url: str | None = None, start: bool = False) -> None:
        if url is None:
            url = ensure_server() if start else find_server()
        if url is None:
            raise NotFoundError(
                "no endpoint server is running for this SPRINGBOARD_HOME; start one with `springboard serve`"
            )
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, headers=auth_headers(),
                                 timeout=httpx.Timeout(600.0, connect=5.0))

    def _check(self, response: httpx.Response) -> httpx.Response:
        if response.status_code < 400:
            return response
        try:
            kind = response.json()["error"]["type"]
        except (ValueError, KeyError, TypeError):
            kind = None
        if response.status_code == 403 and kind in ("AccessDeniedError", "Forbidden"):
            # a location outside the server's roots, or a Host/Origin it refuses: its own message
            raise AccessDeniedError(response.json()["error"]["message"])
        if response.status_code in (401, 403):
            raise ValidationError(
                f"the server at {self.url} refused the request ({response.status_code}): it requires an API key; "
                "set SPRINGBOARD_API_KEY to the key it was started with (and SPRINGBOARD_API_SECRET to its "
                "secret, if it has one)"
            )
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text
        error = {404: NotFoundError, 409: ConflictError}.get(response.status_code, ValidationError)
        raise error(message)

    def create(self, config: EndpointConfig) -> EndpointRecord:
        response = self._check(self.http.post("/springboard/endpoints", json=config.model_dump()))
        return EndpointRecord.model_validate(response.json())

    def describe(self, name: str) -> EndpointRecord:
        path = f"/springboard/endpoints/{endpoint_name(name)}"
        return EndpointRecord.model_validate(self._check(self.http.get(path)).json())

    def list(self) -> list[EndpointRecord]:
        return [EndpointRecord.model_validate(r) for r in self._check(self.http.get("/springboard/endpoints")).json()]

    def delete(self, name: str) -> None:
        self._check(self.http.delete(f"/springboard/endpoints/{endpoint_name(name)}"))

    def attach_adapter(self, name: str, adapter: str, artifact: str) -> EndpointRecord:
        path = f"/springboard/endpoints/{endpoint_name(name)}/adapters"
        response = self._check(self.http.post(path, json={"name": adapter, "artifact": artifact}))
        return EndpointRecord.model_validate(response.json())

    def wait(self, name: str, timeout: float = 1800.0, poll: float = 0.5) -> EndpointRecord:
        """Waits until the endpoint leaves Creating (InService or Failed)."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.describe(name)
            if record.status != "Creating" or time.monotonic() > deadline:
                return record
            time.sleep(poll)

    def invoke(self, name: str, body: bytes, content_type: str = "application/json",
               accept: str = "application/json", custom_attributes: str | None = None) -> httpx.Response:
        headers = {"Content-Type": content_type, "Accept": accept}
        if custom_attributes:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = custom_attributes
        response = self.http.post(f"/endpoints/{endpoint_name(name)}/invocations", content=body, headers=headers)
        if response.status_code >= 400:
            kind = response.headers.get("x-amzn-errortype", "Error")
            try:
                message = response.json().get("Message", response.text)
            except ValueError:
                message = response.text
            error = NotFoundError if "not found" in message and kind == "ValidationError" else ValidationError
            raise error(f"{kind}: {message}")
        return response


def record_summary(record: EndpointRecord) -> dict[str, Any]:
    return {
        "EndpointName": record.name,
        "EndpointStatus": record.status,
        "Model": record.model,
        "ModelId": record.model_id,
        "Precision": record.precision,
        "FailureReason": record.failure_reason,
        "CreationTime": record.creation_time,
        "LastModifiedTime": record.last_modified_time,
    }
