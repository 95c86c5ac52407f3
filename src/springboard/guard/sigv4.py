"""SigV4 (boto3, the sagemaker SDK) checked exactly as AWS canonicalizes: the header's form, the
access key (the server's API key), the time, the signed headers, then the signature itself,
recomputed with botocore's own signer once the body is read."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import hmac
import re

from springboard.guard.asgi import Refused, Scope, joined, pairs

MAX_CLOCK_SKEW = datetime.timedelta(minutes=15)  # as AWS allows for a SigV4 X-Amz-Date

_SIGV4 = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<signature>[0-9a-f]{64})\s*$"
)
_SIGNED_ALWAYS = ("host", "x-amz-date")


def _must_be_signed(name: str) -> bool:
    """Headers that route or interpret a request (the operation, the payload's type, SageMaker's
    target model/variant/custom attributes): a SigV4 request must sign every one it carries, so
    nothing unsigned decides what runs. botocore signs every header it sends but these few
    (x-amzn-trace-id among them)."""
    return name in ("content-type", "x-amz-target") or (
        name.startswith(("x-amz-", "x-amzn-")) and name != "x-amzn-trace-id")


@dataclasses.dataclass(frozen=True)
class SigV4:
    """A SigV4 Authorization header's parts, checked against everything but the body."""

    access_key: str
    region: str
    service: str
    signed: list[str]
    signature: str
    amz_date: str


def sigv4_preflight(scope: Scope, api_key: str) -> SigV4:
    """Everything about a SigV4 request the headers alone decide: the header's form, the access
    key id (the server's API key), X-Amz-Date within 15 minutes, and SignedHeaders naming host,
    x-amz-date and every routing header present (see _must_be_signed). Raises Refused (403,
    AWS's error codes); runs before the body is read."""
    match = _SIGV4.match(joined(scope, "authorization") or "")
    if not match:
        raise Refused(403, "IncompleteSignatureException", "the Authorization header is not a SigV4 signature")
    parts = match["credential"].split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise Refused(403, "IncompleteSignatureException", "malformed SigV4 credential scope")
    access_key, day, region, service, _ = parts
    if not hmac.compare_digest(access_key.encode(), api_key.encode()):
        raise Refused(403, "UnrecognizedClientException",
                      "The security token included in the request is invalid (the access key id must be "
                      "the server's API key)")
    amz_date = joined(scope, "x-amz-date") or ""
    try:
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise Refused(403, "IncompleteSignatureException", "missing or malformed X-Amz-Date") from None
    if abs(datetime.datetime.now(datetime.timezone.utc) - when) > MAX_CLOCK_SKEW or amz_date[:8] != day:
        raise Refused(403, "InvalidSignatureException", "Signature expired: X-Amz-Date is more than 15 minutes "
                      "from the server's time")
    signed = match["signed"].split(";")
    if signed != sorted(set(signed)) or any(name != name.lower() for name in signed):
        raise Refused(403, "IncompleteSignatureException",
                      "SignedHeaders must list lowercase header names once each, sorted")
    present = {name for name, _ in pairs(scope)}
    absent = [name for name in signed if name not in present]
    if absent:
        raise Refused(403, "IncompleteSignatureException",
                      f"SignedHeaders names headers the request does not carry: {', '.join(absent)}")
    unsigned = sorted({*_SIGNED_ALWAYS, *(n for n in present if _must_be_signed(n))} - set(signed))
    if unsigned:
        raise Refused(403, "IncompleteSignatureException",
                      f"SignedHeaders must include {', '.join(unsigned)} (this server routes and reads only "
                      "what is signed)")
    return SigV4(access_key, region, service, signed, match["signature"], amz_date)


def verify_sigv4(scope: Scope, body: bytes, api_key: str, secret: str) -> None:
    """Recomputes the request's SigV4 signature with botocore's signer and the server's secret,
    over every copy of each signed header (botocore's canonical form joins them as AWS does).
    Raises Refused (403, AWS's error codes) when the key, the signature or the time is wrong."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest, HTTPHeaders
    from botocore.credentials import Credentials

    class Verifier(SigV4Auth):
        def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
            # Exactly the headers the client named, every copy: botocore's own list leaves out
            # a few (user-agent, ...) that another client may well have signed.
            chosen = HTTPHeaders()
            for name, value in request.headers.items():
                chosen[name] = value
            return chosen

    sig = sigv4_preflight(scope, api_key)
    declared_hash = joined(scope, "x-amz-content-sha256")
    if declared_hash is not None and declared_hash != hashlib.sha256(body).hexdigest():
        raise Refused(403, "InvalidSignatureException", "X-Amz-Content-SHA256 does not match the body")
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    # Always "http": botocore then hashes the body into the signature (what boto3 does over
    # http). The host comes from the signed Host header, not the URL.
    url = f"http://localhost{path.decode('latin-1')}" + (f"?{query.decode('latin-1')}" if query else "")
    request = AWSRequest(method=scope["method"], url=url, data=body)
    for name, value in pairs(scope):
        if name in sig.signed:
            request.headers[name] = value  # HTTPHeaders keeps every copy, in order
    request.context["timestamp"] = sig.amz_date
    signer = Verifier(Credentials(sig.access_key, secret), sig.service, sig.region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected.encode(), sig.signature.encode()):
        raise Refused(403, "InvalidSignatureException",
                      "The request signature we calculated does not match the signature you provided. "
                      "Check your AWS Secret Access Key and signing method.")
