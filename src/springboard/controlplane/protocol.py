"""The AWS JSON 1.1 protocol, driven by botocore's own service model (as LocalStack and moto
do): requests are validated against the operation's input shape, responses are serialized
through its output shape (epoch-second timestamps, only the members the model defines), and
errors are `{"__type": ..., "message": ...}` bodies that botocore parses into ClientError."""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Iterator
from typing import Any

import regex
from botocore.loaders import Loader
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

ACCOUNT = "000000000000"
REGION = "local"

# Locations: botocore's patterns allow only s3:// and https://; Springboard also takes local
# paths and file:// URIs (and a hub id or job name for ModelDataUrl), resolved by the handlers,
# each checked by confinement.confine first (see `locations`).
LOCATION_SHAPES = frozenset({"S3Uri", "Url", "DestinationS3Uri", "S3ModelUri"})
# Location members a job or endpoint writes to (any other location member is read).
OUTPUT_MEMBERS = frozenset({"S3OutputPath", "S3FailurePath", "DestinationS3Uri"})


class AwsError(Exception):
    """An error answered on the wire: `code` becomes `__type` (botocore's error code)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def validation(message: str) -> AwsError:
    return AwsError("ValidationException", message)


def not_found(message: str) -> AwsError:
    """A missing resource. SageMaker answers ValidationException ("Could not find ..."),
    which the botocore waiters (endpoint_deleted, ...) rely on."""
    return AwsError("ValidationException", message)


@functools.lru_cache(maxsize=4)
def service(name: str = "sagemaker") -> ServiceModel:
    """botocore's model of an AWS service: `sagemaker`, or `logs` (CloudWatch Logs)."""
    return ServiceModel(Loader().load_service_model(name, "service-2"), name)


def operation(name: str, service_name: str = "sagemaker") -> OperationModel | None:
    try:
        return service(service_name).operation_model(name)
    except Exception:  # botocore raises OperationNotFoundError
        return None


def arn(kind: str, name: str) -> str:
    """AWS lowercases resource names in ARNs."""
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind}/{name.lower()}"


# --- requests ------------------------------------------------------------------------------------


def parse_body(body: bytes) -> Any:
    """An AWS JSON request body (SageMaker, CloudWatch Logs) as plain data, through the server's
    one JSON decoder (serve.bodies: nesting depth, lone surrogates); what it refuses is a
    SerializationException, as AWS answers a body it cannot read. Non-finite numbers
    (Infinity, NaN, 1e400) pass here and are refused by `validate` with the member they sit in."""
    from springboard.errors import DataError
    from springboard.serve.bodies import decode_json

    try:
        return decode_json(body or b"{}", field="body")
    except DataError as exc:
        raise AwsError("SerializationException", str(exc)) from None


def validate(op: OperationModel, params: Any) -> dict[str, Any]:
    """Checks `params` against the operation's input shape: required members, types, lengths,
    ranges, enums and patterns. Raises ValidationException worded as AWS words it."""
    if not isinstance(params, dict):
        raise AwsError("SerializationException", "the request body must be a JSON object")
    shape = op.input_shape
    errors: list[str] = []
    if shape is not None:
        _check(shape, params, "", errors)
    if errors:
        count = len(errors)
        raise validation(f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(errors[:10]))
    return params


def locations(shape: Shape | None, value: Any, path: str = "",
              written: bool = False) -> Iterator[tuple[str, str, bool]]:
    """(member path, location, whether it is written to) for every location member of a
    (validated) request, so the dispatcher confines them all in one place."""
    if shape is None:
        return
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        assert isinstance(shape, StructureShape)
        for key, item in value.items():
            member = shape.members.get(key)
            if member is not None and item is not None:
                yield from locations(member, item, _member_path(path, key),
                                     written or key in OUTPUT_MEMBERS or key == "CheckpointConfig")
    elif kind == "list" and isinstance(value, list):
        assert isinstance(shape, ListShape)
        for i, item in enumerate(value):
            yield from locations(shape.member, item, f"{path}.{i + 1}.member", written)
    elif kind == "map" and isinstance(value, dict):
        assert isinstance(shape, MapShape)
        for key, item in value.items():
            yield from locations(shape.value, item, f"{path}.{key}", written)
    elif kind == "string" and shape.name in LOCATION_SHAPES and isinstance(value, str):
        yield path, value, written


def _member_path(prefix: str, name: str) -> str:
    camel = name[:1].lower() + name[1:]
    return f"{prefix}.{camel}" if prefix else camel


def _show(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 100 else text[:97] + "..."


def _check(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    kind = shape.type_name
    where = path or "request"
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        if not isinstance(value, dict):
            errors.append(f"Value at '{where}' failed to satisfy constraint: Member must be a structure")
            return
        for req in shape.required_members:
            if value.get(req) is None:
                errors.append(f"Value null at '{_member_path(path, req)}' failed to satisfy constraint: Member must not be null")
        for key, item in value.items():
            member = shape.members.get(key)
            if member is None:
                errors.append(f"Unknown parameter '{_member_path(path, key)}': must be one of: {', '.join(shape.members)}")
            elif item is not None:
                _check(member, item, _member_path(path, key), errors)
        return
    if kind == "list":
        assert isinstance(shape, ListShape)
        if not isinstance(value, list):
            errors.append(f"Value '{_show(value)}' at '{where}' failed to satisfy constraint: Member must be a list")
            return
        _length(shape, value, where, errors, "length")
        for i, item in enumerate(value):
            _check(shape.member, item, f"{path}.{i + 1}.member", errors)
        return
    if kind == "map":
        assert isinstance(shape, MapShape)
        if not isinstance(value, dict):
            errors.append(f"Value at '{where}' failed to satisfy constraint: Member must be a map")
            return
        _length(shape, value, where, errors, "length")
        for key, item in value.items():
            _check(shape.key, key, f"{path}.key", errors)
            _check(shape.value, item, f"{path}.{key}", errors)
        return
    if kind == "string":
        if not isinstance(value, str):
            errors.append(f"Value '{_show(value)}' at '{where}' failed to satisfy constraint: Member must be a string")
            return
        enum = shape.enum
        if enum and value not in enum:
            errors.append(
                f"Value '{_show(value)}' at '{where}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(enum)}]"
            )
            return
        _length(shape, value, where, errors, "length")
        pattern = shape.metadata.get("pattern")
        if pattern and shape.name not in LOCATION_SHAPES and not _full_match(pattern, value):
            errors.append(
                f"Value '{_show(value)}' at '{where}' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {pattern}"
            )
        return
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(f"Value '{_show(value)}' at '{where}' failed to satisfy constraint: Member must be an integer")
            return
        _range(shape, value, where, errors)
        return
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            errors.append(f"Value '{_show(value)}' at '{where}' failed to satisfy constraint: Member must be a number")
            return
        _range(shape, value, where, errors)
        return
    if kind == "boolean" and not isinstance(value, bool):
        errors.append(f"Value '{_show(value)}' at '{where}' failed to satisfy constraint: Member must be a boolean")
    if kind == "timestamp":
        try:
            epoch(value)
        except AwsError:
            errors.append(f"Value '{_show(value)}' at '{where}' failed to satisfy constraint: Member must be a "
                          "timestamp (epoch seconds or ISO 8601, years 1-9999)")


def _length(shape: Shape, value: Any, where: str, errors: list[str], what: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and len(value) < low:
        errors.append(f"Value '{_show(value)}' at '{where}' failed to satisfy constraint: Member must have {what} greater than or equal to {low}")
    if high is not None and len(value) > high:
        errors.append(f"Value '{_show(value)}' at '{where}' failed to satisfy constraint: Member must have {what} less than or equal to {high}")


def _range(shape: Shape, value: float, where: str, errors: list[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        errors.append(f"Value '{value}' at '{where}' failed to satisfy constraint: Member must have value greater than or equal to {low}")
    if high is not None and value > high:
        errors.append(f"Value '{value}' at '{where}' failed to satisfy constraint: Member must have value less than or equal to {high}")


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> Any:
    try:
        return regex.compile(pattern)  # `regex` knows \p{L} etc., as the service's Java regexes do
    except regex.error:
        return None


def _full_match(pattern: str, value: str) -> bool:
    compiled = _compiled(pattern)
    return True if compiled is None else compiled.fullmatch(value) is not None


_EPOCH_RANGE = (dt.datetime(1, 1, 2, tzinfo=dt.timezone.utc).timestamp(),
                dt.datetime(9999, 12, 31, tzinfo=dt.timezone.utc).timestamp())


def epoch(value: Any) -> float:
    """A timestamp (epoch seconds as a number or numeric string, or an ISO 8601 string) as
    epoch seconds: the one coercion every input timestamp goes through. Anything else, a
    non-finite number or a time outside years 1-9999 is a ValidationException."""
    seconds: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value) if not isinstance(value, int) or abs(value) < 10**20 else math.inf
    elif isinstance(value, str):
        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except (ValueError, OverflowError, OSError):
                seconds = None
    if seconds is None or not math.isfinite(seconds) or not _EPOCH_RANGE[0] <= seconds <= _EPOCH_RANGE[1]:
        raise validation(f"{_show(value)!r} is not a timestamp (epoch seconds or ISO 8601, years 1-9999)")
    return seconds


# --- responses -----------------------------------------------------------------------------------


def serialize(shape: Shape | None, value: Any) -> Any:
    """Plain data shaped by the output shape: members the model does not define and None
    values are dropped, timestamps become epoch seconds, numbers get their declared type."""
    if shape is None:
        return {}
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        if not isinstance(value, dict):
            return {}
        return {
            key: serialize(shape.members[key], item)
            for key, item in value.items()
            if key in shape.members and item is not None
        }
    if kind == "list":
        assert isinstance(shape, ListShape)
        return [serialize(shape.member, item) for item in value or [] if item is not None]
    if kind == "map":
        assert isinstance(shape, MapShape)
        return {str(k): serialize(shape.value, v) for k, v in (value or {}).items() if v is not None}
    if kind == "timestamp":
        # AWS sends milliseconds; a client echoing a time back (CreationTimeAfter=...) must
        # compare equal to what it was given, so the filters in common.listing use the same grain.
        seconds = value.timestamp() if isinstance(value, dt.datetime) else float(epoch(value))
        return round(seconds, 3)
    if kind in ("integer", "long"):
        return int(value)
    if kind in ("float", "double"):
        return float(value)
    if kind == "boolean":
        return bool(value)
    if kind == "string":
        return str(value)
    return value
