"""The composition root: one server from every room's routers, and its guard. With an API key,
nobody gets in without it: real boto3 clients sign with SigV4 (access key = the API key, checked
with the server's secret), the openai client sends it as a Bearer token."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import boto3
import httpx
import openai
import liveserver
import pytest
import uvicorn
from botocore import UNSIGNED
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from fastapi import WebSocket
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from springboard.app import ROUTERS, create_app, run
from springboard.cli import main
from springboard.errors import ValidationError
from springboard.generate import Engine
from springboard.serve import EndpointConfig, EndpointManager, EndpointRegistry

KEY, SECRET = "sb-test-key", "sb-test-secret"


def _serve(app) -> Iterator[str]:
    live = liveserver.serve(app, publish=False)
    yield live.url
    live.stop(timeout=10)


@pytest.fixture(scope="module")
def engine(tiny_causal_dir) -> Engine:
    return Engine.load(tiny_causal_dir)


@pytest.fixture(scope="module")
def keyed(tmp_path_factory, engine) -> Iterator[str]:
    manager = EndpointManager(EndpointRegistry(tmp_path_factory.mktemp("endpoints")))
    manager.add_engine(EndpointConfig(name="tiny", model=str(engine.model_dir)), engine)
    yield from _serve(create_app(manager, restore=False, api_key=KEY, api_secret=SECRET))


def _runtime(url: str, key: str = KEY, secret: str = SECRET, **config):
    return boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret, config=Config(**config))


BODY = json.dumps({"inputs": "Hi", "parameters": {"max_new_tokens": 2}})


def _operations(app) -> list[tuple[str, str]]:
    """(method, path) of every route the app serves, as its OpenAPI lists them, plus the
    control plane's POST / (one path for every X-Amz-Target operation)."""
    ops = [(method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item]
    return ops + [("POST", "/")]


def test_every_router_is_mounted_and_documented():
    app = create_app(EndpointManager(EndpointRegistry()), restore=False)
    documented = {path for _, path in _operations(app)}
    for router in ROUTERS:
        for route in router.routes:
            if hasattr(route, "path") and getattr(route, "include_in_schema", True):
                # an APIRouter's route paths include its prefix; OpenAPI drops ":path" converters
                assert route.path.replace(":path}", "}") in documented


def test_boto3_with_the_right_secret_gets_in(keyed):
    response = _runtime(keyed).invoke_endpoint(EndpointName="tiny", ContentType="application/json", Body=BODY)
    assert "generated_text" in json.loads(response["Body"].read())[0]
    stream = _runtime(keyed).invoke_endpoint_with_response_stream(
        EndpointName="tiny", ContentType="application/json", Body=BODY)
    assert list(stream["Body"])


@pytest.mark.parametrize(
    ("client_kw", "code"),
    [
        (dict(secret="wrong-secret"), "InvalidSignatureException"),
        (dict(key="another-key"), "UnrecognizedClientException"),
        (dict(signature_version=UNSIGNED), "MissingAuthenticationTokenException"),
    ],
)
def test_boto3_without_a_valid_signature_is_refused(keyed, client_kw, code):
    config = {"signature_version": client_kw.pop("signature_version")} if "signature_version" in client_kw else {}
    runtime = _runtime(keyed, **client_kw, **config)
    with pytest.raises(ClientError) as err:
        runtime.invoke_endpoint(EndpointName="tiny", ContentType="application/json", Body=BODY)
    assert err.value.response["Error"]["Code"] == code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_signed_request_with_a_changed_body_is_refused(keyed):
    request = AWSRequest(method="POST", url=f"{keyed}/endpoints/tiny/invocations", data=BODY.encode(),
                         headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(KEY, SECRET), "sagemaker", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    good = httpx.post(request.url, content=BODY.encode(), headers=headers)
    assert good.status_code == 200
    tampered = BODY.replace("Hi", "Yo").encode()
    bad = httpx.post(request.url, content=tampered, headers=headers)
    assert bad.status_code == 403 and bad.headers["x-amzn-errortype"] == "InvalidSignatureException"


def test_openai_client_needs_the_key(keyed):
    # the server has a secret: Bearer carries it (the key alone is refused: tests/test_sigv4.py)
    good = openai.OpenAI(base_url=f"{keyed}/v1", api_key=SECRET, max_retries=0)
    assert [m.id for m in good.models.list()] == ["tiny"]
    out = good.completions.create(model="tiny", prompt="Hi", max_tokens=2, temperature=0)
    assert out.choices
    bad = openai.OpenAI(base_url=f"{keyed}/v1", api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_every_route_refuses_a_request_without_the_key(keyed):
    app = create_app(EndpointManager(EndpointRegistry()), restore=False)
    for method, path in _operations(app):
        path = path.replace("{name}", "tiny").replace("{model}", "tiny")
        response = httpx.request(method, keyed + path, content=b"{}",
                                 headers={"X-Amz-Target": "SageMaker.ListEndpoints"} if path == "/" else {})
        assert response.status_code in (401, 403), (method, path, response.status_code)


def test_the_secret_defaults_to_the_key(tmp_path, engine):
    manager = EndpointManager(EndpointRegistry(tmp_path / "endpoints"))
    manager.add_engine(EndpointConfig(name="tiny", model=str(engine.model_dir)), engine)
    for url in _serve(create_app(manager, restore=False, api_key=KEY)):
        response = _runtime(url, secret=KEY).invoke_endpoint(EndpointName="tiny", ContentType="application/json",
                                                             Body=BODY)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        with pytest.raises(ClientError):
            _runtime(url, secret=SECRET).invoke_endpoint(EndpointName="tiny", ContentType="application/json",
                                                         Body=BODY)


def test_the_cli_client_sends_the_key_from_the_environment(keyed, monkeypatch):
    from springboard.serve.server import ServerClient

    with pytest.raises(ValidationError, match="SPRINGBOARD_API_KEY"):
        ServerClient(keyed).list()
    monkeypatch.setenv("SPRINGBOARD_API_KEY", KEY)
    monkeypatch.setenv("SPRINGBOARD_API_SECRET", SECRET)  # the server has one: the client sends it
    assert [r.name for r in ServerClient(keyed).list()] == ["tiny"]


def test_off_loopback_without_a_key_is_refused(monkeypatch, capsys):
    monkeypatch.delenv("SPRINGBOARD_API_KEY", raising=False)
    with pytest.raises(ValidationError, match="not loopback"):
        run(host="0.0.0.0", port=liveserver.free_port())
    assert main(["serve", "--host", "0.0.0.0", "--port", str(liveserver.free_port())]) == 1
    assert "API key" in capsys.readouterr().err


def test_loopback_without_a_key_stays_open(tmp_path):
    app = create_app(EndpointManager(EndpointRegistry(tmp_path / "endpoints")), restore=False)
    for url in _serve(app):
        assert httpx.get(f"{url}/springboard/health").status_code == 200
        assert openai.OpenAI(base_url=f"{url}/v1", api_key="anything").models.list().data == []


def test_serve_command_wires_the_key_into_the_server(monkeypatch):
    """`springboard serve --api-key K` (no network: uvicorn.run is replaced by a recorder)."""
    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(app=app, **kw))
    monkeypatch.delenv("SPRINGBOARD_API_KEY", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", "18080", "--api-key", KEY]) == 0
    assert served["host"] == "0.0.0.0" and served["port"] == 18080
    with TestClient(served["app"], base_url="http://127.0.0.1") as client:
        assert client.get("/springboard/health").status_code == 401
        assert client.get("/springboard/health", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    monkeypatch.setenv("SPRINGBOARD_API_KEY", KEY)  # the environment works as the flag does
    assert main(["serve", "--host", "0.0.0.0", "--port", "18080"]) == 0
    with TestClient(served["app"], base_url="http://127.0.0.1") as client:
        assert client.get("/springboard/health").status_code == 401


def test_a_websocket_route_added_later_is_behind_the_key_too(tmp_path):
    app = create_app(EndpointManager(EndpointRegistry(tmp_path / "endpoints")), restore=False, api_key=KEY)

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    app.add_api_websocket_route("/ws", echo)
    with TestClient(app) as client:
        # a loopback URL: the server answers loopback Host names only (TestClient says "testserver")
        with pytest.raises(WebSocketDisconnect) as err, client.websocket_connect("ws://127.0.0.1/ws") as ws:
            ws.receive_text()
        assert err.value.code == 1008
        with client.websocket_connect("ws://127.0.0.1/ws", headers={"Authorization": f"Bearer {KEY}"}) as ws:
            assert ws.receive_text() == "hello"


def test_a_caller_without_the_key_is_refused_before_its_body_is_read(keyed):
    from urllib.parse import urlsplit

    parts = urlsplit(keyed)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        # 5 MB declared (under the limit) and never sent: only the headers decide
        sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 5000000\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 401")
