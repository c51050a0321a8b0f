"""``estate-gateway rollup``: past days recomputed from the gateway's database, with progress and
what was stored printed, and a clear refusal (exit 2, nothing stored) for days that are not days,
not past, not in order, too many, or an estate that is not there; a database failure is exit 1."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from devices.clock import ManualClock
from devices.loader import load_inventory
from estate_gateway.cli import main
from gateway.db import make_engine
from gateway.service import Gateway, build_gateway
from gateway.settings import Settings
from reports.store import RollupStore
from tests.api.conftest import feed
from tests.support.gateway import SPEC_EXAMPLE

TRAPPED = ("estate/sunrise/lift/L1/event", {"type": "fault", "code": "entrapment"})
FREED = ("estate/sunrise/lift/L1/event", {"type": "fault_cleared", "code": "entrapment"})


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A gateway's database holding a 30-minute entrapment on 2026-01-05 (16:00 in Shanghai)."""
    clock = ManualClock()
    settings = Settings(
        mqtt_url="mqtt://127.0.0.1:9", data_dir=tmp_path, instance="cli", mqtt_receiver="thread"
    )
    gateway: Gateway = build_gateway(settings, load_inventory(SPEC_EXAMPLE), clock=clock)
    gateway.alarms.start()
    gateway.dispatcher.start()
    feed(gateway, TRAPPED)
    clock.advance(timedelta(minutes=30))
    feed(gateway, FREED)
    monkeypatch.setenv("ESTATE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ESTATE_INVENTORY", str(SPEC_EXAMPLE))
    monkeypatch.delenv("ESTATE_DATABASE_URL", raising=False)
    monkeypatch.delenv("ESTATE_ESTATES", raising=False)
    return tmp_path


def stored(data_dir: Path) -> list[tuple[str, date]]:
    store = RollupStore(make_engine(f"sqlite:///{data_dir / 'estate.db'}"))
    return [(r["estate"], r["day"]) for r in store.days(None, date(2025, 1, 1), date(2027, 1, 1))]


def test_past_days_are_recomputed_and_what_was_stored_is_printed(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rollup", "--estate", "sunrise", "--date", "2026-01-04", "--to", "2026-01-05"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "recomputing 2 day(s) of sunrise, 2026-01-04 to 2026-01-05"
    assert out[1].startswith("stored sunrise 2026-01-04: ") and "entrapments 0" in out[1]
    assert out[2].startswith("stored sunrise 2026-01-05: ")
    assert f"lifts {round(100 * 1410 / 1440, 2):g} %" in out[2] and "entrapments 1" in out[2]
    assert out[3] == "done: 2 day(s) stored in kpi_daily"
    assert stored(data_dir) == [("sunrise", date(2026, 1, 4)), ("sunrise", date(2026, 1, 5))]
    assert main(["rollup", "--estate", "sunrise", "--date", "2026-01-05"]) == 0  # one day, again
    assert stored(data_dir) == [("sunrise", date(2026, 1, 4)), ("sunrise", date(2026, 1, 5))]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--estate", "nowhere", "--date", "2026-01-05"],
            "no estate 'nowhere' in the inventory (estates: sunrise)",
        ),
        (
            ["--estate", "sunrise", "--date", "2026-01-05", "--to", "2026-01-04"],
            "--to 2026-01-04 is before --date",
        ),
        (["--estate", "sunrise", "--date", "2024-01-01", "--to", "2026-01-05"], "at most 400 days at a time"),
        (
            ["--estate", "sunrise", "--date", "2099-01-01"],
            "2099-01-01 has not ended yet in sunrise (Asia/Shanghai)",
        ),
    ],
)
def test_bad_requests_are_refused_and_store_nothing(
    data_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["rollup", *argv]) == 2
    assert message in capsys.readouterr().err
    assert stored(data_dir) == []


@pytest.mark.parametrize("bad", ["2026-02-30", "05/01/2026", "yesterday"])
def test_a_date_that_is_not_a_day_is_refused_by_name(
    data_dir: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["rollup", "--estate", "sunrise", "--date", bad])
    assert exited.value.code == 2
    assert f"argument --date: {bad!r} is not a day: give YYYY-MM-DD" in capsys.readouterr().err


def test_a_database_that_fails_is_exit_1_with_the_reason(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESTATE_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")  # nothing listens
    assert main(["rollup", "--estate", "sunrise", "--date", "2026-01-05"]) == 1
    assert "rollup: the database failed: OperationalError" in capsys.readouterr().err


def test_an_inventory_that_fails_is_exit_2(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESTATE_INVENTORY", str(data_dir / "missing.yaml"))
    assert main(["rollup", "--estate", "sunrise", "--date", "2026-01-05"]) == 2
    assert "cannot read the inventory" in capsys.readouterr().err


def test_an_inventory_that_run_refuses_is_refused_here_too(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same checks as ``run`` and ``check-config``: an override of a rule that does not exist."""
    data = yaml.safe_load(SPEC_EXAMPLE.read_text(encoding="utf-8"))
    data["estates"][0]["rules"] = {"lift.no_such_rule": {"enabled": False}}
    path = data_dir / "bad-rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("ESTATE_INVENTORY", str(path))
    assert main(["rollup", "--estate", "sunrise", "--date", "2026-01-05"]) == 2
    err = capsys.readouterr().err
    assert "lift.no_such_rule" in err and "1 error(s)" in err
    assert stored(data_dir) == []
