"""The ledger's API: list and detail, a crew's record closing its planned order, the photo on disk
(≤ 5 MB, never in the SQL row), and the CSV exports (UTF-8 with a BOM)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from devices.clock import ManualClock
from gateway.service import Gateway
from tests.api.conftest import auth, tick


@pytest.fixture
def ledger(gateway: Gateway, clock: ManualClock) -> Gateway:
    assert gateway.ledger is not None
    assert gateway.ledger is not None
    gateway.core.owner.call(gateway.ledger.start)
    clock.advance(timedelta(days=13))  # the lift's first planned order (15 days, 3 days' lead)
    tick(gateway)
    return gateway


def test_list_detail_and_a_crew_record(client: TestClient, ledger: Gateway) -> None:
    listed = client.get("/api/assets?estate=sunrise&kind=lift", headers=auth("operator")).json()
    assert [a["id"] for a in listed] == ["L1"] and listed[0]["next_due"] == "2026-01-20"
    orders = client.get("/api/maintenance/orders?estate=sunrise", headers=auth("crew")).json()
    (order,) = orders
    assert (order["kind"], order["crew"], order["source"]) == ("maintenance", "lift-team", "plan")
    body = {"note": "曳引机、门机检查", "readings": {"brake_gap_mm": 0.5}}
    answer = client.post(f"/api/maintenance/orders/{order['id']}/record", json=body, headers=auth("crew"))
    assert answer.status_code == 201, answer.text
    record = answer.json()
    assert (record["work_order"], record["next_due"]) == (order["id"], "2026-02-02")  # 18 Jan + 15
    assert client.get(f"/api/workorders/{order['id']}", headers=auth("operator")).json()["state"] == "closed"
    detail = client.get("/api/assets/L1", headers=auth("operator")).json()
    plan = next(p for p in detail["plans"] if p["id"] == "lift.maintenance")
    assert (plan["next_due"], plan["work_order"]) == ("2026-02-02", None)
    assert [r["id"] for r in detail["records"]] == [record["id"]]
    again = client.post(f"/api/maintenance/orders/{order['id']}/record", json={}, headers=auth("crew"))
    assert again.status_code == 409


def test_bad_records_get_a_clear_4xx(client: TestClient, ledger: Gateway) -> None:
    h = auth("operator")
    assert client.post("/api/assets/NOPE/records", json={}, headers=h).status_code == 404
    wrong = client.post("/api/assets/L1/records", json={"plan": "water.cleaning"}, headers=h)
    assert wrong.status_code == 422 and "lift.maintenance" in wrong.json()["detail"]
    future = client.post("/api/assets/L1/records", json={"done_on": "2030-01-01"}, headers=h)
    assert future.status_code == 422
    nan = client.post("/api/assets/L1/records", content=b'{"readings": {"x": NaN}}', headers=h)
    assert nan.status_code == 422
    assert client.get("/api/assets?kind=spaceship", headers=h).status_code == 422


def test_photo_on_disk_at_most_5_mb(client: TestClient, ledger: Gateway, tmp_path: Path) -> None:
    h = auth("operator")
    record = client.post("/api/assets/T1/records", json={"plan": "water.cleaning"}, headers=h).json()
    url = f"/api/assets/records/{record['id']}/photo"
    jpeg = b"\xff\xd8\xff\xe0" + b"x" * 1000
    put = client.put(url, content=jpeg, headers=h | {"Content-Type": "image/jpeg"})
    assert put.status_code == 200 and put.json()["photo"] is True
    assert (tmp_path / "photos" / f"record-{record['id']}.jpg").read_bytes() == jpeg
    assert client.get(url, headers=h).content == jpeg
    big = b"x" * (5 * 1024 * 1024 + 1)
    assert client.put(url, content=big, headers=h | {"Content-Type": "image/jpeg"}).status_code == 413
    assert client.put(url, content=b"GIF8", headers=h | {"Content-Type": "image/gif"}).status_code == 415
    assert client.get(url, headers=h).content == jpeg  # the refused uploads lost nothing


def test_a_photo_the_disk_refuses_is_a_503_and_the_record_stands(
    client: TestClient, ledger: Gateway, tmp_path: Path
) -> None:
    h = auth("operator")
    record = client.post("/api/assets/T1/records", json={}, headers=h).json()
    (tmp_path / "photos").write_text("a file where the folder should be")  # injected failure
    url = f"/api/assets/records/{record['id']}/photo"
    answer = client.put(url, content=b"\xff\xd8x", headers=h | {"Content-Type": "image/jpeg"})
    assert answer.status_code == 503 and "could not be stored" in answer.json()["detail"]
    assert client.get("/api/assets/T1", headers=h).json()["records"][0]["photo"] is False


def test_csv_exports_with_bom(client: TestClient, ledger: Gateway) -> None:
    h = auth("operator")
    client.post("/api/assets/T1/records", json={"plan": "water.cleaning", "readings": {"chlorine_mg_l": 0.5}},
                headers=h)  # fmt: skip
    ledger_csv = client.get("/api/assets.csv?estate=sunrise", headers=h)
    assert ledger_csv.headers["content-type"].startswith("text/csv")
    assert ledger_csv.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(ledger_csv.content.decode("utf-8-sig"))))
    assert rows[0][:2] == ["小区 estate", "编号 id"] and {r[1] for r in rows[1:]} >= {"L1", "T1", "CAM1"}
    year = client.get("/api/assets/records.csv?year=2026&estate=sunrise", headers=h)
    records = list(csv.reader(io.StringIO(year.content.decode("utf-8-sig"))))
    assert year.content.startswith(b"\xef\xbb\xbf") and len(records) == 2
    assert records[1][:3] == ["sunrise", "T1", "water.cleaning"] and records[1][8] == "chlorine_mg_l=0.5"
    assert (
        len(
            list(
                csv.reader(
                    io.StringIO(
                        client.get("/api/assets/records.csv?year=2025", headers=h).content.decode("utf-8-sig")
                    )
                )
            )
        )
        == 1
    )
    assert client.get("/api/assets/records.csv?year=1999", headers=h).status_code == 422


def test_a_crew_records_only_its_own_trades_plans(client: TestClient, ledger: Gateway) -> None:
    """The lift crew's token cannot sign off a tank's cleaning (nor a water crew a lift's statutory
    visit); a record with no plan, or an operator's, is not limited so."""
    crew, operator = auth("crew"), auth("operator")  # crew: lift-team
    refused = client.post("/api/assets/T1/records", json={"plan": "water.cleaning"}, headers=crew)
    assert refused.status_code == 403 and "water work" in refused.json()["detail"]
    assert client.get("/api/assets/T1", headers=operator).json()["records"] == []  # nothing stored
    assert (
        client.post("/api/assets/L1/records", json={"plan": "lift.maintenance"}, headers=crew).status_code
        == 201
    )
    assert client.post("/api/assets/T1/records", json={"note": "看过"}, headers=crew).status_code == 201
    assert (
        client.post("/api/assets/T1/records", json={"plan": "water.cleaning"}, headers=operator).status_code
        == 201
    )


def test_a_record_date_out_of_range_is_refused(client: TestClient, ledger: Gateway) -> None:
    h = auth("operator")
    for day in ("1900-12-08", "0001-01-01"):
        answer = client.post("/api/assets/T1/records", json={"done_on": day}, headers=h)
        assert answer.status_code == 422 and "2000-01-01" in answer.text, answer.text
    assert client.get("/api/assets/T1", headers=h).json()["records"] == []  # nothing stored


def test_a_note_a_spreadsheet_would_run_is_exported_as_text(client: TestClient, ledger: Gateway) -> None:
    """CSV injection: a crew's note ``=HYPERLINK(…)`` must not become a live formula in the manager's
    Excel; it is written with a leading ``'``, and a plain note as it is."""
    h = auth("operator")
    for note in ('=HYPERLINK("http://x","click")', "+1 pump", "@SUM(A1)", "-2+3", "已清洗 ok"):
        assert client.post("/api/assets/T1/records", json={"note": note}, headers=h).status_code == 201
    year = client.get("/api/assets/records.csv?year=2026&estate=sunrise", headers=h)
    rows = list(csv.reader(io.StringIO(year.content.decode("utf-8-sig"))))
    column = rows[0].index("备注 note")
    notes = {row[column] for row in rows[1:]}
    assert notes == {'\'=HYPERLINK("http://x","click")', "'+1 pump", "'@SUM(A1)", "'-2+3", "已清洗 ok"}
