"""Issue 21: the OpenAPI declares the error answers each operation gives (so a client, and the
schemathesis run, can rely on it): 401 and 403 behind a token, 422 in the shape the gateway
answers with, and a route's own 400, 404, 409, 501, 503."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import auth


@pytest.fixture
def paths(client: TestClient) -> dict[str, Any]:
    paths: dict[str, Any] = client.get("/openapi.json").json()["paths"]
    return paths


def _error_schema(response: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    return schema


def test_every_operation_behind_a_token_documents_401_403_and_our_422(paths: dict[str, Any]) -> None:
    secured = [(p, m, op) for p, ops in paths.items() for m, op in ops.items() if op.get("security")]
    assert len(secured) >= 25
    for path, method, operation in secured:
        responses = operation["responses"]
        assert {"401", "403", "422"} <= set(responses), (method, path)
        detail = _error_schema(responses["422"])["properties"]["detail"]
        # A message ("start must be before stop") or FastAPI's list of fields at fault.
        assert {s["type"] for s in detail["anyOf"]} == {"string", "array"}, (method, path)


def test_a_message_422_matches_the_documented_422(client: TestClient, paths: dict[str, Any]) -> None:
    """It did not: FastAPI's default 422 says ``detail`` is a list, ours is often a message."""
    response = client.get("/api/kpis", params={"stop": "2000-01-01T00:00:00Z"}, headers=auth("operator"))
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)
    detail = _error_schema(paths["/api/kpis"]["get"]["responses"]["422"])["properties"]["detail"]
    assert {"type": "string"} in detail["anyOf"]


@pytest.mark.parametrize(
    ("method", "path", "codes"),
    [
        ("get", "/api/alerts/{alert_id}", {"404"}),
        ("post", "/api/alerts/{alert_id}/ack", {"400", "404", "409"}),
        ("post", "/api/alerts/{alert_id}/shelve", {"400", "404", "409"}),
        ("post", "/api/workorders/{order_id}/accept", {"400", "404", "409"}),
        ("post", "/api/alerts/{alert_id}/dispatch", {"400", "404", "409"}),
        ("post", "/api/workorders", {"400"}),
        ("post", "/api/maintenance-windows", {"400"}),
        ("get", "/api/estates/{estate}/summary", {"404"}),
        ("get", "/api/devices/{estate}/{device}/readings", {"404", "501"}),
        ("get", "/api/patrols", {"404"}),
        ("get", "/health", {"503"}),
    ],
)
def test_a_routes_own_errors_are_documented(
    paths: dict[str, Any], method: str, path: str, codes: set[str]
) -> None:
    assert codes <= set(paths[path][method]["responses"])


def test_the_patrol_pages_errors_are_documented_as_json(client: TestClient, paths: dict[str, Any]) -> None:
    """The page itself is HTML; its 404 is JSON, and the OpenAPI said text/html."""
    response = client.get("/api/patrols/report", params={"estate": "nowhere"}, headers=auth("operator"))
    assert (response.status_code, response.headers["content-type"]) == (404, "application/json")
    documented = paths["/api/patrols/report"]["get"]["responses"]
    assert set(documented["404"]["content"]) == {"application/json"}
    assert set(documented["200"]["content"]) == {"text/html"}


def test_a_body_that_is_not_utf8_is_a_documented_400(client: TestClient) -> None:
    response = client.post(
        "/api/alerts/1/ack",
        content=b"\xff\xfe{",
        headers={**auth("operator"), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert isinstance(response.json()["detail"], str)
