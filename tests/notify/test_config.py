"""The inventory's ``notifications:`` section: validated with the file's line and a clear reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.loader import check_inventory, load_inventory
from devices.notifications import Language, NotifyEvent
from notify.channels import MissingSecret, build_channels
from tests.support.gateway import SPEC_EXAMPLE

GOOD = """
notifications:
  console_url: "https://console.example"
  channels:
    - {id: duty-wecom, type: wecom, url: "http://127.0.0.1:9000/cgi-bin/webhook/send",
       key_env: DUTY_WECOM_KEY}
    - {id: ops-ding, type: dingtalk, url: "http://127.0.0.1:9001/robot/send",
       token_env: DING_TOKEN, secret_env: DING_SECRET}
    - {id: mail, type: email, host: smtp.example, from: gw@example.com, to: [duty@example.com],
       password_env: SMTP_PASS}
  routes:
    - {channels: [duty-wecom, ops-ding], estates: [sunrise], min_severity: major, events: [raise, escalate]}
    - {channels: [mail], regions: [xx-district], language: en, quiet_hours: {start: "22:00", end: "07:00"}}
"""


def inventory_file(tmp_path: Path, section: str) -> Path:
    path = tmp_path / "inv.yaml"
    path.write_text(SPEC_EXAMPLE.read_text() + section)
    return path


def test_the_issues_minimal_form_loads(tmp_path: Path) -> None:
    section = load_inventory(inventory_file(tmp_path, GOOD)).notifications
    assert [c.id for c in section.channels] == ["duty-wecom", "ops-ding", "mail"]
    first, second = section.routes
    assert first.events == [NotifyEvent.RAISE, NotifyEvent.ESCALATE] and first.language is Language.ZH
    assert second.language is Language.EN and second.quiet_hours is not None
    assert section.channels[0].rate_per_min == 20  # a robot's limit by default


def test_no_section_means_no_channels() -> None:
    assert load_inventory(SPEC_EXAMPLE).notifications.channels == []


SECOND_ROUTE = '    - {channels: [mail], regions: [xx-district], language: en, quiet_hours: {start: "22:00", end: "07:00"}}'  # noqa: E501


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("channels: [nope]", "channel 'nope' is not defined in notifications.channels"),
        ("channels: [mail], estates: [moon]", "estate 'moon' is not defined"),
        ("channels: [mail], regions: [west]", "region 'west' is not defined"),
        (
            "channels: [mail], events: [boom]",
            "Input should be 'raise', 'escalate', 'clear', 'order_assigned' or",
        ),
        ("channels: [mail], min_severity: huge", "Input should be 'critical', 'major', 'minor' or 'info'"),
        ("channels: [mail], quiet_hours: {start: 22:00, end: '07:00'}", 'write times as quoted "HH:MM" text'),
        ("channels: [mail], language: fr", "Input should be 'zh-CN' or 'en'"),
        ("channels: [mail], crews: [roof-team]", "crew 'roof-team' is not defined"),
        ("chanels: [mail]", "Field required"),
        ("channels: [mail], estate: [sunrise]", "Extra inputs are not permitted"),
    ],
)
def test_route_errors_name_the_line(tmp_path: Path, bad: str, reason: str) -> None:
    assert SECOND_ROUTE in GOOD
    section = GOOD.replace(SECOND_ROUTE, f"    - {{{bad}}}")
    issues = [str(i) for i in check_inventory(inventory_file(tmp_path, section))]
    line = SPEC_EXAMPLE.read_text().count("\n") + 13
    assert any(f":{line}: notifications.routes[1]" in i and reason in i for i in issues), issues


@pytest.mark.parametrize(
    ("channel", "reason"),
    [
        ("{id: w, type: wecom, url: 'ftp://x', key_env: K}", "'ftp://x' is not an http(s) URL"),
        ("{id: w, type: wecom, url: 'http://x', key_env: 693b-secret-key}", "give the NAME of an env"),
        ("{id: w, type: pager, url: 'http://x'}", "does not match any of the expected tags"),
        ("{id: w, type: sms, access_key_id_env: A, access_key_secret_env: B, sign_name: s,"
         " template_code: T, phone_numbers: []}", "List should have at least 1 item"),
        ("{id: duty-wecom, type: wecom, url: 'http://x', key_env: K}", "duplicate channel id 'duty-wecom'"),
    ],
)  # fmt: skip
def test_channel_errors_name_the_line(tmp_path: Path, channel: str, reason: str) -> None:
    section = GOOD.replace("  routes:\n", f"    - {channel}\n  routes:\n")
    issues = [str(i) for i in check_inventory(inventory_file(tmp_path, section))]
    line = SPEC_EXAMPLE.read_text().count("\n") + 11
    assert any(f":{line}: notifications.channels[3]" in i and reason in i for i in issues), issues
    assert "693b-secret-key" not in " ".join(issues)


def test_a_missing_secret_stops_start_up_naming_the_variable(tmp_path: Path) -> None:
    section = load_inventory(inventory_file(tmp_path, GOOD)).notifications
    with pytest.raises(MissingSecret, match="'ops-ding': environment variable DING_SECRET is not set"):
        build_channels(section.channels, {"DUTY_WECOM_KEY": "k", "SMTP_PASS": "p"}, lambda: None)  # type: ignore[arg-type,return-value]
