"""Whatever JSON reaches POST / for a served operation, the control plane answers 2xx or 4xx,
never 5xx: hypothesis builds bodies from the operation's own input members (right names, random
values and shapes), plus arbitrary JSON."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from springboard.controlplane import OPERATIONS, protocol
from springboard.controlplane.api import _load_handlers

_load_handlers()
SERVED = sorted(OPERATIONS)
# Creating real jobs and endpoints from random bodies would start work; these are fuzzed for
# their validation only (the body never satisfies every required member with valid values
# often enough to matter, and when it does the job fails fast on missing data).
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=20), st.sampled_from(["s3://b/k", "/tmp/none", "file:///x", "ml.m5.large"]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)


def bodies(operation: str):
    members = list(protocol.operation(operation).input_shape.members) if protocol.operation(operation).input_shape else []
    shaped = st.fixed_dictionaries({}, optional={m: JSON for m in members}) if members else st.just({})
    return st.one_of(shaped, JSON)


@pytest.mark.parametrize("operation", SERVED)
def test_no_body_makes_the_control_plane_fail(server, operation):
    with httpx.Client(base_url=server.url, timeout=30) as http:

        @settings(max_examples=25, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(body=bodies(operation))
        def check(body):
            response = http.post("/", json=body, headers={"X-Amz-Target": f"SageMaker.{operation}",
                                                           "Content-Type": "application/x-amz-json-1.1"})
            assert response.status_code < 500, (operation, body, response.text)
            if response.status_code >= 400:
                assert set(response.json()) == {"__type", "message"}

        check()
