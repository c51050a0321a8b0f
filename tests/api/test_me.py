"""``GET /api/me`` (issue 25): what each role may do, as the pages read it to show only the buttons
that will work — checked against what the routes answer to each role."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import TOKENS, auth

#: Each ability and a call that needs it (on an id that does not exist: 404 when allowed, 403 not).
CALLS = {
    "alerts:read": ("GET", "/api/alerts", None),
    "alerts:act": ("POST", "/api/alerts/424242/ack", {}),
    "orders:manage": ("POST", "/api/workorders/424242/cancel", {"note": "x"}),
    "orders:step": ("POST", "/api/workorders/424242/accept", {}),
    "handovers:write": ("POST", "/api/handovers", {"notes": "x"}),
    "orders:read": ("GET", "/api/workorders", None),
    "patrols:read": ("GET", "/api/patrols/plans", None),
    "journal:read": ("GET", "/api/journal", None),
    "handovers:read": ("GET", "/api/handovers", None),
    "kpis:read": ("GET", "/api/kpis", None),
    "deadletters:read": ("GET", "/api/deadletters", None),
    "assets:read": ("GET", "/api/assets", None),
}


@pytest.mark.parametrize("token", sorted(TOKENS))
def test_what_me_says_a_role_may_do_is_what_the_routes_allow(client: TestClient, token: str) -> None:
    me = client.get("/api/me", headers=auth(token)).json()
    principal = TOKENS[token]
    assert (me["name"], me["role"], me["crew"]) == (principal.name, principal.role.value, principal.crew)
    for ability, (method, path, body) in CALLS.items():
        answer = client.request(method, path, json=body, headers=auth(token))
        allowed = answer.status_code != 403
        assert (ability in me["can"]) == allowed, (ability, answer.status_code, answer.text)


def test_me_needs_a_token(client: TestClient) -> None:
    assert client.get("/api/me").status_code == 401
