"""Property-based fuzzing of the intake endpoints from their OpenAPI, against the live server:
whatever schemathesis generates, the server answers without a 5xx (503 + Retry-After excepted)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from tests.collect.conftest import IntakeServer, signed

INTAKE_PATHS = ("/v1/batch", "/v1/track", "/v1/identify", "/v1/page", "/v1/backflow/", "/v1/identities",
                "/v1/intake/health")


def encode(case: Any) -> bytes | None:
    if case.body is None or type(case.body).__name__ == "NotSet":
        return None
    if isinstance(case.body, bytes):
        return case.body
    if case.media_type and "json" in case.media_type and "ndjson" not in case.media_type:
        return json.dumps(case.body).encode()
    return str(case.body).encode()


def send(srv: IntakeServer, client: httpx.Client, case: Any) -> httpx.Response:
    body = encode(case)
    headers = {k: str(v) for k, v in (case.headers or {}).items() if k.lower() not in ("authorization",)}
    if case.media_type and body is not None:
        headers["Content-Type"] = case.media_type
    partner = (case.path_parameters or {}).get("partner")
    if partner is not None:
        headers.update(signed(srv.keys, partner, body or b"", key=srv.keys.admin))
    else:
        headers["Authorization"] = f"Bearer {srv.keys.source}"
    path = case.formatted_path
    return client.request(case.method, path, params=case.query or None, headers=headers, content=body)


@pytest.mark.slow
def test_fuzzing_the_intake_api_finds_no_server_error(intake_server: IntakeServer) -> None:
    schema = schemathesis.openapi.from_url(f"{intake_server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    ours = [op for op in operations if op.path.startswith(INTAKE_PATHS)]
    assert len(ours) >= 8
    statuses: dict[Any, Counter[int]] = {(op.method, op.path): Counter() for op in ours}
    with intake_server.client() as client:
        for op in ours:
            fuzz(intake_server, client, op, statuses)
    # The fuzzed requests got past authentication and signatures into the handlers.
    accepted = {path for (method, path), counts in statuses.items() if counts[200]}
    assert {"/v1/batch", "/v1/track", "/v1/backflow/{partner}", "/v1/backflow/{partner}/files",
            "/v1/identities"} <= accepted

def fuzz(srv: IntakeServer, client: httpx.Client, op: Any, statuses: dict[Any, Counter[int]]) -> None:
    @given(case=op.as_strategy())
    @settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        response = send(srv, client, case)
        statuses[(op.method, op.path)][response.status_code] += 1
        assert response.status_code < 500 or response.status_code == 503, (
            f"{op.method.upper()} {op.path}: {response.status_code} {response.text[:500]}")

    check()
