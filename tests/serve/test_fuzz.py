"""Schemathesis fuzzes every operation /openapi.json describes, against a live server on
loopback hosting tiny models: whatever it sends, valid or not, the server never answers 5xx.
Bounded: a fixed number of examples per operation and mode, no example database, and it never
deletes the endpoints it is fuzzing. (Driven through hypothesis directly: schemathesis's pytest
plugin does not run under pytest 9.)"""

from __future__ import annotations

import hashlib

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

EXAMPLES = 20  # per operation and generation mode


def _aim(case) -> None:
    """Half the cases name a live endpoint, so the fuzzed bodies reach payload parsing and the
    engine instead of stopping at 'no such endpoint'."""
    if int(hashlib.sha256(repr(case.body).encode()).hexdigest(), 16) % 2:
        return
    if case.path_parameters and "name" in case.path_parameters:
        case.path_parameters["name"] = "causal"
    if isinstance(case.body, dict) and "model" in case.body:
        case.body["model"] = "causal"


def _operations(url: str):
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    return [r.ok() for r in schema.get_all_operations() if r.ok().method.upper() != "DELETE"]


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
def test_no_input_makes_the_server_fail(server, mode):
    operations = _operations(server.url)
    assert len(operations) >= 10  # the runtime, container, control, OpenAI and TGI routes
    server_errors = []

    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def fuzz(case):
            _aim(case)
            response = case.call(base_url=server.url, timeout=120)
            if response.status_code >= 500:
                server_errors.append(f"{case.method} {case.formatted_path} -> {response.status_code} "
                                     f"{response.text[:300]!r}; body {case.body!r:.300}")

        try:
            fuzz()
        except Unsatisfiable:  # negative mode: nothing to make invalid (no parameters, no body)
            assert mode is schemathesis.GenerationMode.NEGATIVE and not operation.body, operation.label
    assert not server_errors, "\n".join(server_errors[:10])
