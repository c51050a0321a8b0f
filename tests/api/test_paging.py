"""Issue 21 (item 5): the lists that can grow without bound come a page at a time — devices
(20,000 made-up ids made a 3.6 MB unregistered list) and dead letters — with ``limit``, a
``Link`` to the next page and the total in ``X-Total-Count``; the body keeps its shape."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.service import Gateway
from tests.api.conftest import auth, feed

UNREGISTERED = [f"X{n}" for n in (3, 1, 5, 2, 4)]
MESSAGES: list[tuple[str, dict[str, object] | bytes]] = [
    (f"estate/sunrise/lift/{d}/telemetry", {"floor": 1}) for d in UNREGISTERED
]


def _next(response: Any) -> str | None:
    found = re.fullmatch(r'<([^>]+)>; rel="next"', response.headers.get("Link", ""))
    return found.group(1) if found else None


def _all_pages(client: TestClient, url: str, token: str) -> tuple[list[Any], list[int]]:
    """Every page from ``url`` on, following the links; and the total each page told."""
    pages, totals, next_url = [], [], url  # type: tuple[list[Any], list[int], str | None]
    while next_url is not None:
        response = client.get(next_url, headers=auth(token))
        assert response.status_code == 200, response.text
        pages.append(response.json())
        totals.append(int(response.headers["X-Total-Count"]))
        next_url = _next(response)
    return pages, totals


def test_unregistered_devices_come_a_page_at_a_time(client: TestClient, gateway: Gateway) -> None:
    feed(gateway, *MESSAGES)
    pages, totals = _all_pages(client, "/api/devices?status=unregistered&limit=2", "operator")
    assert [[d["id"] for d in page] for page in pages] == [["X1", "X2"], ["X3", "X4"], ["X5"]]
    assert totals == [5, 5, 5]


def test_a_device_page_is_cut_at_the_limit_and_links_on_with_the_same_filters(
    client: TestClient, gateway: Gateway
) -> None:
    feed(gateway, *MESSAGES)
    response = client.get(
        "/api/devices", params={"status": "unregistered", "limit": 3}, headers=auth("operator")
    )
    assert len(response.json()) == 3
    assert _next(response) == "/api/devices?status=unregistered&limit=3&after=sunrise%2FX3"
    everything = client.get("/api/devices", headers=auth("operator"))
    assert "Link" not in everything.headers  # 8 inventory devices + 5: one page (default 1,000)
    assert int(everything.headers["X-Total-Count"]) == len(everything.json()) == 13


def test_the_total_counts_only_the_callers_scope(client: TestClient, gateway: Gateway) -> None:
    feed(gateway, ("estate/sunrise/lift/X1/telemetry", {"floor": 1}))
    response = client.get("/api/devices", headers=auth("other-estate"))
    assert (response.json(), response.headers["X-Total-Count"]) == ([], "0")


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 1001},
        {"limit": "x"},
        {"after": "sunrise"},
        {"after": "a/b/c"},
        {"after": "a b/c"},
    ],
)
def test_device_paging_parameters_are_checked(client: TestClient, params: dict[str, Any]) -> None:
    response = client.get("/api/devices", params=params, headers=auth("operator"))
    assert response.status_code == 422, response.text


def test_dead_letters_come_a_page_at_a_time(client: TestClient, gateway: Gateway) -> None:
    feed(gateway, *(("estate/sunrise/lift/L1/telemetry", b"{oops") for _ in range(5)))
    pages, totals = _all_pages(client, "/api/deadletters?limit=2", "operator")
    ids = [[item["id"] for item in page["items"]] for page in pages]
    assert [len(page) for page in ids] == [2, 2, 1]
    flat = [i for page in ids for i in page]
    assert flat == sorted(flat, reverse=True) and len(set(flat)) == 5  # newest first, none twice
    assert totals == [5, 5, 5]
    assert all(page["counts"] == {"malformed_json": 5} for page in pages)


def test_dead_letters_total_follows_the_reason_and_the_scope(client: TestClient, gateway: Gateway) -> None:
    feed(
        gateway,
        ("estate/sunrise/lift/L1/telemetry", b"{oops"),
        ("estate/sunrise/lift/L1/telemetry", {"floor": "x"}),
    )

    def get(token: str, **query: str | int) -> Any:
        return client.get("/api/deadletters", params=query, headers=auth(token))

    assert get("operator").headers["X-Total-Count"] == "2"
    assert get("operator", reason="malformed_json").headers["X-Total-Count"] == "1"
    assert get("other-estate").headers["X-Total-Count"] == "0"
    assert get("operator", limit=1001).status_code == 422


def test_both_lists_document_their_paging(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/devices", "/api/deadletters"):
        operation = paths[path]["get"]
        assert set(operation["responses"]["200"]["headers"]) == {"X-Total-Count", "Link"}
        [limit] = [p for p in operation["parameters"] if p["name"] == "limit"]
        assert limit["schema"]["maximum"] == 1000
