"""Authentication as AWS checks it (issue 19): SigV4 canonicalized exactly as AWS does (repeated
headers joined), routing only on what was signed, the Bearer token carrying the secret when one
is set, and everything the headers alone can refuse refused before the body is read. Through
the clients an attacker would use: boto3 with a tampered request (botocore's before-send hook),
httpx with raw header lists, a raw socket."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import boto3
import httpx
import liveserver
import openai
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from springboard.app import create_app
from springboard.generate import Engine
from springboard.serve import EndpointConfig, EndpointManager, EndpointRegistry

KEY, SECRET = "sb-sigv4-key", "sb-sigv4-secret"
JSON11 = "application/x-amz-json-1.1"


@pytest.fixture(scope="module")
def engine(tiny_causal_dir) -> Engine:
    return Engine.load(tiny_causal_dir)


def _start(tmp_path_factory, engine, **keys) -> Iterator[str]:
    manager = EndpointManager(EndpointRegistry(tmp_path_factory.mktemp("endpoints")))
    manager.add_engine(EndpointConfig(name="tiny", model=str(engine.model_dir)), engine)
    live = liveserver.serve(create_app(manager, restore=False, **keys), manager, publish=False)
    yield live.url
    live.stop(timeout=10)


@pytest.fixture(scope="module")
def keyed(tmp_path_factory, engine) -> Iterator[str]:
    """A server with a key (the access key id) and a separate secret."""
    yield from _start(tmp_path_factory, engine, api_key=KEY, api_secret=SECRET)


@pytest.fixture(scope="module")
def keyless(tmp_path_factory, engine) -> Iterator[str]:
    yield from _start(tmp_path_factory, engine)


def _client(service: str, url: str, key: str = KEY, secret: str = SECRET):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}))


def _signed(url: str, path: str, body: bytes, headers: list[tuple[str, str]], secret: str = SECRET,
            service: str = "sagemaker") -> list[tuple[str, str]]:
    """Signs with botocore's own signer over `headers` (every copy of a repeated one), and
    returns the header list to send, in order, with the signature's headers added."""
    request = AWSRequest(method="POST", url=url + path, data=body)
    for name, value in headers:
        request.headers[name] = value  # HTTPHeaders keeps repeated names, in order
    SigV4Auth(Credentials(KEY, secret), service, "us-east-1").add_auth(request)
    extra = [(k, v) for k, v in request.headers.items() if k.lower() in ("authorization", "x-amz-date")]
    return headers + extra


def _first_header(name: str, value: str):
    """A botocore before-send hook that puts one more copy of a header first, after signing
    (what an attacker in the middle, or a buggy proxy, does). botocore's own HeadersDict holds
    one value per name, so the request goes out with urllib3's HTTPHeaderDict, which sends every
    copy."""
    from urllib3 import HTTPHeaderDict

    def hook(request, **_):
        headers = HTTPHeaderDict()
        headers.add(name, value)
        for key, val in request.headers.items():
            headers.add(key, val)
        request.headers = headers

    return hook


# -- routing only on what was signed ---------------------------------------------------------------


@pytest.mark.parametrize("server", ["keyed", "keyless"])
def test_a_second_target_placed_first_is_refused_not_run(server, request, engine):
    url = request.getfixturevalue(server)
    sm = _client("sagemaker", url)
    sm.meta.events.register("before-send.sagemaker.ListEndpoints", _first_header("X-Amz-Target", "SageMaker.ListModels"))
    with pytest.raises(ClientError) as err:
        sm.list_endpoints()
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err.value.response["Error"]["Code"] == "UnknownOperationException"
    assert "X-Amz-Target" in err.value.response["Error"]["Message"]
    # untampered, the same client lists endpoints
    assert [e["EndpointName"] for e in _client("sagemaker", url).list_endpoints()["Endpoints"]] == ["tiny"]


def test_a_duplicated_cloudwatch_logs_target_is_refused_too(keyed):
    logs = _client("logs", keyed)
    logs.meta.events.register("before-send.cloudwatch-logs.DescribeLogStreams",
                              _first_header("X-Amz-Target", "Logs_20140328.GetLogEvents"))
    with pytest.raises(ClientError) as err:
        logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix="j/")
    assert err.value.response["Error"]["Code"] == "UnknownOperationException"


@pytest.mark.parametrize(
    ("path", "unsigned", "signed_too"),
    [
        ("/", ("X-Amz-Target", "SageMaker.ListModels"), [("Content-Type", JSON11)]),
        ("/", ("Content-Type", JSON11), [("X-Amz-Target", "SageMaker.ListModels")]),
        ("/", ("X-Amz-Target", "Logs_20140328.DescribeLogStreams"), [("Content-Type", JSON11)]),
        ("/endpoints/tiny/invocations", ("X-Amzn-SageMaker-Target-Model", "other"),
         [("Content-Type", "application/json")]),
    ],
)
def test_a_routing_header_left_out_of_the_signature_is_refused(keyed, path, unsigned, signed_too):
    body = b"{}" if path == "/" else json.dumps({"inputs": "Hi", "parameters": {"max_new_tokens": 1}}).encode()
    headers = _signed(keyed, path, body, list(signed_too)) + [unsigned]  # added after signing
    response = httpx.post(keyed + path, content=body, headers=headers)
    assert response.status_code == 403, response.text
    assert response.headers["x-amzn-errortype"] == "IncompleteSignatureException"
    assert unsigned[0].lower() in response.json()["message"]


def test_repeated_signed_headers_are_joined_as_aws_canonicalizes_them(keyed):
    """Two copies of a signed header (with runs of spaces) sign as one value 'a b,c d': a server
    that read only one copy would compute another signature and refuse a valid request."""
    body = b"{}"
    headers = _signed(keyed, "/", body, [("Content-Type", JSON11), ("X-Amz-Target", "SageMaker.ListEndpoints"),
                                         ("X-Extra", "a   b"), ("X-Extra", "c  d")])
    assert [k for k, _ in headers].count("X-Extra") == 2
    response = httpx.post(keyed + "/", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert [e["EndpointName"] for e in response.json()["Endpoints"]] == ["tiny"]
    # dropping one copy changes what was signed
    fewer = [h for h in headers if h != ("X-Extra", "c  d")]
    refused = httpx.post(keyed + "/", content=body, headers=fewer)
    assert refused.status_code == 403 and refused.headers["x-amzn-errortype"] == "InvalidSignatureException"


# -- the secret ---------------------------------------------------------------------------------------


def test_with_a_secret_bearer_must_carry_it_and_the_key_alone_opens_nothing(keyed):
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{keyed}/v1", api_key=KEY, max_retries=0).models.list()
    raw = httpx.get(f"{keyed}/springboard/endpoints", headers={"Authorization": f"Bearer {KEY}"})
    assert raw.status_code == 401 and "--api-secret" in raw.json()["message"]
    good = openai.OpenAI(base_url=f"{keyed}/v1", api_key=SECRET, max_retries=0)
    assert [m.id for m in good.models.list()] == ["tiny"]
    # boto3 signs with the key as its access key id and the secret
    assert _client("sagemaker", keyed).list_endpoints()["Endpoints"]
    with pytest.raises(ClientError):
        _client("sagemaker", keyed, secret=KEY).list_endpoints()


def test_without_a_secret_the_key_is_its_own_secret(tmp_path_factory, engine):
    for url in _start(tmp_path_factory, engine, api_key=KEY):
        assert httpx.get(f"{url}/springboard/endpoints", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert _client("sagemaker", url, secret=KEY).list_endpoints()["Endpoints"]


def test_the_cli_client_sends_the_secret_when_one_is_set(keyed, monkeypatch):
    from springboard.serve.server import ServerClient

    monkeypatch.setenv("SPRINGBOARD_API_KEY", KEY)
    monkeypatch.delenv("SPRINGBOARD_API_SECRET", raising=False)
    with pytest.raises(Exception, match="SPRINGBOARD_API_SECRET"):
        ServerClient(keyed).list()
    monkeypatch.setenv("SPRINGBOARD_API_SECRET", SECRET)
    assert [r.name for r in ServerClient(keyed).list()] == ["tiny"]


# -- refused before the body is read -----------------------------------------------------------------


def _head_only(url: str, authorization: str, date: str = "20260101T000000Z") -> bytes:
    """Sends the headers of a 5 MB POST and not one byte of its body, then reads the answer:
    only a server that decides on the headers answers at all."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall((f"POST / HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: {JSON11}\r\n"
                      f"X-Amz-Target: SageMaker.ListModels\r\nX-Amz-Date: {date}\r\n"
                      f"Authorization: {authorization}\r\nContent-Length: 5000000\r\n\r\n").encode())
        return sock.recv(65536)


SIG = "0" * 64


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (f"AWS4-HMAC-SHA256 Credential=made-up/20260101/us-east-1/sagemaker/aws4_request, "
         f"SignedHeaders=host;x-amz-date;x-amz-target, Signature={SIG}", "UnrecognizedClientException"),
        ("AWS4-HMAC-SHA256 garbage", "IncompleteSignatureException"),
        (f"AWS4-HMAC-SHA256 Credential={KEY}/20260101/us-east-1/sagemaker/aws4_request, "
         f"SignedHeaders=host;x-amz-date;x-amz-target, Signature={SIG}", "InvalidSignatureException"),  # expired
        ("Bearer wrong", "InvalidApiKey"),
    ],
)
def test_bad_authorization_is_refused_before_the_body_is_read(keyed, authorization, code):
    reply = _head_only(keyed, authorization)
    assert reply.split(b" ", 2)[1] in (b"401", b"403"), reply[:200]
    assert f"x-amzn-errortype: {code}".lower().encode() in reply.lower()


def test_a_valid_key_with_unsigned_routing_headers_is_refused_before_the_body(keyed):
    request = AWSRequest(method="POST", url=keyed + "/", data=b"")
    SigV4Auth(Credentials(KEY, SECRET), "sagemaker", "us-east-1").add_auth(request)
    # the signature covers host and x-amz-date only; the target and content type are not in it
    reply = _head_only(keyed, request.headers["Authorization"], request.headers["X-Amz-Date"]).decode("latin-1")
    assert reply.startswith("HTTP/1.1 403") and "IncompleteSignatureException" in reply
    assert "content-type, x-amz-target" in reply
