"""Issue 20, bounded API work: every id, instant and period a request names is checked, so bad
input is a 4xx with a message, never a 500 or a minute of work."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.service import Gateway
from tests.api.conftest import auth

HUGE = str(2**31)  # one past the largest id a column holds (PostgreSQL's integer overflowed: a 500)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", f"/api/alerts/{HUGE}", None),
        ("post", f"/api/alerts/{HUGE}/ack", {}),
        ("post", f"/api/alerts/{HUGE}/shelve", {"minutes": 5, "reason": "x"}),
        ("post", f"/api/alerts/{HUGE}/dispatch", {}),
        ("get", f"/api/workorders/{HUGE}", None),
        ("post", f"/api/workorders/{HUGE}/accept", {}),
        ("get", f"/api/deadletters?before_id={HUGE}", None),
        ("get", f"/api/handovers/{HUGE}", None),
        ("post", f"/api/handovers/{HUGE}/sign", {}),
        ("get", f"/api/assets/records/{HUGE}/photo", None),
        ("get", f"/api/notifications?alert={HUGE}", None),
        ("get", f"/api/alerts/{2**63}", None),
        ("get", "/api/alerts/0", None),
    ],
)
def test_ids_beyond_what_a_column_holds_are_refused(
    client: TestClient, method: str, path: str, body: Any
) -> None:
    kwargs: dict[str, Any] = {"headers": auth("operator")}
    if body is not None:
        kwargs["json"] = body
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == 422, response.text


def test_the_largest_id_is_looked_up(client: TestClient) -> None:
    largest = 2**31 - 1
    assert client.get(f"/api/alerts/{largest}", headers=auth("operator")).status_code == 404
    assert client.get(f"/api/workorders/{largest}", headers=auth("operator")).status_code == 404


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"start": "1026-12-07T00:00:00Z"}, "start must lie between 2000-01-01 and 2100-01-01"),
        ({"start": "0001-01-01T00:00:00Z"}, "start must lie between"),
        ({"stop": "9999-12-31T23:59:59Z"}, "stop must lie between"),
        ({"start": "2026-01-01T00:00:00"}, "start needs a UTC offset"),
        ({"start": "2025-01-01T00:00:00Z", "stop": "2026-03-01T00:00:00Z"}, "at most 400 days"),
        ({"start": "2026-03-01T00:00:00Z", "stop": "2026-02-01T00:00:00Z"}, "start must be before stop"),
    ],
)
@pytest.mark.parametrize("path", ["/api/kpis", "/api/devices/sunrise/T1/readings"])
def test_periods_are_bounded_with_a_clear_message(
    client: TestClient, path: str, params: dict[str, str], says: str
) -> None:
    response = client.get(path, params=params, headers=auth("operator"))
    assert response.status_code == 422, response.text
    assert says in response.json()["detail"]


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1999-12-31"])
def test_patrol_dates_out_of_range_are_refused(client: TestClient, day: str) -> None:
    response = client.get("/api/patrols", params={"estate": "sunrise", "date": day}, headers=auth("operator"))
    assert response.status_code == 422, response.text


def test_a_400_day_kpi_request_is_served(client: TestClient) -> None:
    params = {"start": "2025-01-01T00:00:00Z", "stop": "2026-02-05T00:00:00Z"}
    response = client.get("/api/kpis", params=params, headers=auth("operator"))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_nan_or_infinite_minutes_on_shelve_is_a_json_422(client: TestClient, number: bytes) -> None:
    response = client.post(
        "/api/alerts/1/shelve",
        content=b'{"minutes": ' + number + b', "reason": "x"}',
        headers={**auth("operator"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]  # an answer at all: serialising the input was a 500
    assert error["loc"] == ["body", "minutes"]


@pytest.mark.parametrize("limit", ["0", "5001", "99999999999999999999", "NaN"])
def test_the_work_order_limit_is_checked_not_quietly_clamped(client: TestClient, limit: str) -> None:
    response = client.get("/api/workorders", params={"limit": limit}, headers=auth("operator"))
    assert response.status_code == 422, response.text


def test_a_kpi_request_never_takes_the_alarm_lock(client: TestClient, gateway: Gateway) -> None:
    """/api/kpis (patrols included) reads the SQL stores only: the rules never wait behind a
    request (they waited 32 s behind one, issue 20)."""
    lock = gateway.alarms.book.guard
    holds = [0]

    class Counting:
        def __enter__(self) -> None:
            lock.acquire()
            holds[0] += 1

        def __exit__(self, *_: object) -> None:
            lock.release()

    gateway.alarms.book.guard = Counting()  # type: ignore[assignment]
    try:
        params = {"estate": "sunrise", "start": "2025-01-01T00:00:00Z", "stop": "2026-02-05T00:00:00Z"}
        assert client.get("/api/kpis", params=params, headers=auth("operator")).status_code == 200
    finally:
        gateway.alarms.book.guard = lock
    assert holds[0] == 0


def test_dead_letters_are_listed_in_the_callers_estate_scope(client: TestClient, gateway: Gateway) -> None:
    """Issue 21 (item 2): an operator scoped to another estate read sunrise's topics and payloads."""
    from tests.api.conftest import feed  # noqa: PLC0415

    feed(gateway, ("estate/sunrise/lift/L1/telemetry", b"{floor: 3"), ("estate/x y/lift/L1/telemetry", b"{}"))
    everyone = client.get("/api/deadletters", headers=auth("operator")).json()
    assert everyone["counts"] == {"malformed_json": 1, "bad_id": 1}
    scoped = client.get("/api/deadletters", headers=auth("other-estate")).json()
    assert scoped == {"counts": {}, "items": []}


@pytest.mark.parametrize("minutes", ["5", True, [5], {"minutes": 5}, None])
def test_shelve_minutes_must_be_a_number_not_a_string(client: TestClient, minutes: object) -> None:
    response = client.post(
        "/api/alerts/1/shelve", json={"minutes": minutes, "reason": "x"}, headers=auth("operator")
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "minutes"]
