"""The console and the crew page: served without a token, every file they load is served, and the
zh-CN and English dictionaries agree and cover every key and enum value the pages show."""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any

import pytest
from fastapi.testclient import TestClient

from alerts.model import Action, AlertState
from alerts.patrol_plan import PatrolRule, RoundStatus
from api.routes.pages import STATIC_DIR
from devices.base import Kind, Severity, Trade
from dispatch.model import OrderState, Step
from gateway.state import DeviceStatus

PAGES = {"/": "console.html", "/crew": "crew.html"}
JS = sorted(STATIC_DIR.glob("*.js"))
#: What each enum is called in the dictionary (``group.value``).
ENUMS: dict[str, type[StrEnum]] = {
    "severity": Severity,
    "alertState": AlertState,
    "alertAction": Action,
    "orderState": OrderState,
    "step": Step,
    "trade": Trade,
    "kind": Kind,
    "deviceStatus": DeviceStatus,
    "roundStatus": RoundStatus,
    "patrolRule": PatrolRule,
}
#: Keys the pages build from a value (``t(`stream.${state}`)``) rather than write out.
BUILT_KEYS = [
    "lang.zh-CN",
    "lang.en",
    "stream.connected",
    "stream.reconnecting",
    *(f"action.{step}" for step in Step),
]
#: Hooks the browser tests rely on, written literally in the pages.
TEST_IDS = [
    "login-token",
    "login-submit",
    "lang-switch",
    "stream-status",
    "alarm-row",
    "ack",
    "shelve",
    "dispatch",
    "confirm",
    "note",
    "minutes",
    "reason",
    "crew",
    "order-card",
    "order-note",
    "countdown",
    "critical-cue",
]


def _dictionary() -> dict[str, dict[str, str]]:
    source = (STATIC_DIR / "i18n.js").read_text(encoding="utf-8")
    found = re.search(r"/\* i18n:start \*/\s*const DICT = (.*?);\s*/\* i18n:end \*/", source, re.S)
    assert found, "i18n.js must keep its dictionary between the i18n:start and i18n:end markers"
    parsed: Any = json.loads(found.group(1))
    return {lang: dict(texts) for lang, texts in parsed.items()}


def _sources() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in [*JS, *STATIC_DIR.glob("*.html")])


@pytest.mark.parametrize(("path", "page"), PAGES.items())
def test_pages_are_served_without_a_token(client: TestClient, path: str, page: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == (STATIC_DIR / page).read_text(encoding="utf-8")


def test_pages_are_not_in_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert "/crew" not in paths


def test_every_file_the_pages_load_is_served(client: TestClient) -> None:
    wanted: set[str] = set()
    for page in PAGES.values():
        html = (STATIC_DIR / page).read_text(encoding="utf-8")
        wanted |= set(re.findall(r'(?:src|href)="(/static/[^"]+)"', html))
    for script in JS:  # modules import each other relatively: ./common.js
        imports = re.findall(
            r'^import .*? from "\./([^"]+)";', script.read_text(encoding="utf-8"), re.M | re.S
        )
        wanted |= {f"/static/{name}" for name in imports}
    assert {"/static/console.js", "/static/crew.js", "/static/style.css", "/static/common.js"} <= wanted
    for url in sorted(wanted):
        response = client.get(url)
        assert response.status_code == 200, url
        if url.endswith(".js"):  # browsers refuse a module served as anything else
            assert "javascript" in response.headers["content-type"], url


def test_static_files_are_package_data() -> None:
    # pyproject ships api/static/* only: a subfolder would be missing after `pip install .`.
    assert not [p for p in STATIC_DIR.iterdir() if p.is_dir()]


def test_both_languages_have_the_same_keys_and_no_empty_text() -> None:
    dictionary = _dictionary()
    assert set(dictionary) == {"zh-CN", "en"}
    zh, en = dictionary["zh-CN"], dictionary["en"]
    assert set(zh) == set(en), {"only zh-CN": set(zh) - set(en), "only en": set(en) - set(zh)}
    assert not [key for lang in (zh, en) for key, text in lang.items() if not text.strip()]
    # Placeholders must match, or one language shows a raw {name}.
    placeholders = re.compile(r"\{(\w+)\}")
    assert not [k for k in zh if set(placeholders.findall(zh[k])) != set(placeholders.findall(en[k]))]


def test_every_key_the_pages_use_is_in_the_dictionary() -> None:
    keys = set(_dictionary()["zh-CN"])
    source = _sources()
    used = set(re.findall(r"""\bt\(\s*["']([^"']+)["']""", source))
    used |= set(re.findall(r'data-i18n="([^"]+)"', source))
    # Keys passed around as strings, e.g. t(on ? "sound.on" : "sound.off") or [["nav.alarms", …]].
    groups = {key.split(".", 1)[0] for key in keys}
    used |= {k for k in re.findall(r"""["']([a-zA-Z]+\.[\w.-]+)["']""", source) if k.split(".")[0] in groups}
    assert len(used) > 100
    assert not used - keys
    assert not set(BUILT_KEYS) - keys


@pytest.mark.parametrize(("group", "enum"), ENUMS.items())
def test_every_enum_value_shown_is_translated(group: str, enum: type[StrEnum]) -> None:
    keys = set(_dictionary()["en"])
    assert not {f"{group}.{value}" for value in enum} - keys


def test_test_hooks_are_present() -> None:
    source = _sources()
    written = set(re.findall(r"""data-testid["']?\s*[:=]\s*["']([\w-]+)["']""", source))
    assert not set(TEST_IDS) - written
