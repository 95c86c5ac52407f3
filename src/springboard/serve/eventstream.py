"""AWS event-stream framing (application/vnd.amazon.eventstream), as botocore's
`EventStreamBuffer` parses it for `invoke_endpoint_with_response_stream`.

A message: prelude = total length (uint32 BE), headers length (uint32 BE), CRC32 of those
8 bytes; then headers; then the payload; then CRC32 of everything before it. A header is
name length (uint8), name, value type (7 = string), value length (uint16 BE), value."""

from __future__ import annotations

import json
import struct
from binascii import crc32

CONTENT_TYPE = "application/vnd.amazon.eventstream"
_STRING = 7


def _headers(headers: dict[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
        out += struct.pack("!B", len(raw_name)) + raw_name
        out += struct.pack("!BH", _STRING, len(raw_value)) + raw_value
    return bytes(out)


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    head = _headers(headers)
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack("!II", total, len(head))
    prelude += struct.pack("!I", crc32(prelude) & 0xFFFFFFFF)
    body = prelude + head + payload
    return body + struct.pack("!I", crc32(body) & 0xFFFFFFFF)


def payload_part(data: bytes) -> bytes:
    """One `PayloadPart` event; boto3 yields it as {"PayloadPart": {"Bytes": data}}."""
    return encode_message(
        {
            ":event-type": "PayloadPart",
            ":content-type": "application/octet-stream",
            ":message-type": "event",
        },
        data,
    )


def model_stream_error(message: str, error_code: str = "ModelStreamError") -> bytes:
    """A mid-stream failure; botocore raises it as an EventStreamError with code ModelStreamError."""
    return encode_message(
        {
            ":exception-type": "ModelStreamError",
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        json.dumps({"Message": message, "ErrorCode": error_code}).encode("utf-8"),
    )
