"""docs/contract.md stays true (issue 27): what it names exists in the code, and what the code has
is named in it — device kinds, channels, events and payload fields with their values and ranges (the
registry), the inventory's fields and defaults, the alert and work-order JSON, the HTTP endpoints, the
commands and their options, the settings with their defaults. And the repository cites only
documents it has: sections of docs/contract.md and docs/rules.md that exist, never the project's
original papers outside it."""

from __future__ import annotations

import argparse
import enum
import os
import re
import typing
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from alerts.model import Action, Alert, AlertState
from api.app import create_app
from api.auth import TokenBook
from devices.base import Channel, Kind, Payload, Severity, Trade
from devices.inventory import Inventory
from devices.loader import load_inventory
from devices.registry import REGISTRY
from dispatch.model import OrderAction, OrderState, Source, WorkOrder
from estate_gateway import cli as gateway_cli
from gateway.settings import Settings
from simulators import cli as simulators_cli

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
TICKED = re.compile(r"`([^`]+)`")

# -- reading the document -------------------------------------------------------------------------


def section(number: str, text: str = CONTRACT) -> str:
    """The body of section ``number`` ("3", "3.3"): from its heading to the next of its level."""
    level = "#" * (2 + number.count("."))
    start = re.search(rf"^{level} {re.escape(number)}\.? .*$", text, re.MULTILINE)
    assert start is not None, f"docs/contract.md has no section §{number}"
    end = re.search(rf"^#{{2,{len(level)}}} ", text[start.end() :], re.MULTILINE)
    return text[start.end() : start.end() + end.start()] if end else text[start.end() :]


def table_rows(text: str) -> Iterator[list[str]]:
    """The cells of every table body row (not the header or the rule under it)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        if i + 1 < len(lines) and set(lines[i + 1]) <= set("|-: ") and "-" in lines[i + 1]:
            continue  # a header row
        yield [cell.strip() for cell in line.strip().strip("|").split("|")]


def tables_by_heading(text: str) -> dict[str, list[list[str]]]:
    """``#### `name` `` (or ``#### Title (`name`)``) → the rows of the table under it."""
    out: dict[str, list[list[str]]] = {}
    for part in re.split(r"^#### ", text, flags=re.MULTILINE)[1:]:
        heading, _, body = part.partition("\n")
        names = TICKED.findall(heading)
        assert names, f"heading without a `name`: {heading!r}"
        out[names[-1]] = list(table_rows(body))
    return out


def ticked(cell: str) -> str | None:
    found = TICKED.fullmatch(cell)
    return found[1] if found else None


# -- §3: kinds, channels, events, payload fields --------------------------------------------------


Entry = tuple[str, str, str | None, str | None]  # kind, channel, event type, field


def _model_entries(kind: Kind, channel: str, event: str | None, model: type[Payload]) -> set[Entry]:
    if not model.model_fields:
        return {(kind.value, channel, event, None)}
    return {(kind.value, channel, event, name) for name in model.model_fields}


def registry_entries() -> set[Entry]:
    entries: set[Entry] = set()
    for kind, spec in REGISTRY.items():
        entries |= _model_entries(kind, Channel.TELEMETRY.value, None, spec.telemetry)
        for event, model in spec.events.items():
            entries |= _model_entries(kind, Channel.EVENT.value, str(event), model)
        entries |= _model_entries(kind, Channel.HEARTBEAT.value, None, spec.heartbeat)
    return entries


def payload_tables(text: str = CONTRACT) -> dict[str, list[list[str]]]:
    return tables_by_heading(section("3.3", text))


def doc_entries(text: str = CONTRACT) -> set[Entry]:
    entries: set[Entry] = set()
    for kind, rows in payload_tables(text).items():
        for channel, event, field, *_ in rows:
            entries.add((kind, channel, ticked(event), ticked(field)))
    return entries


def test_every_kind_has_its_payload_table() -> None:
    assert set(payload_tables()) == {kind.value for kind in Kind}


def test_doc_payloads_match_the_registry() -> None:
    doc, code = doc_entries(), registry_entries()
    assert not doc - code, (
        f"named in docs/contract.md §3.3 but not in the registry: {sorted(doc - code, key=str)}"
    )
    assert not code - doc, (
        f"in the registry but missing from docs/contract.md §3.3: {sorted(code - doc, key=str)}"
    )


def _enum_in(annotation: Any) -> type[enum.Enum] | None:
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return annotation
    for arg in typing.get_args(annotation):
        if found := _enum_in(arg):
            return found
    return None


def _payload_field(kind: str, channel: str, event: str | None, field: str) -> FieldInfo:
    spec = REGISTRY[Kind(kind)]
    model = {"telemetry": spec.telemetry, "heartbeat": spec.heartbeat}.get(channel)
    model = model or spec.events[cast(Any, event)]
    return model.model_fields[field]


def _bounds(info: FieldInfo) -> str:
    """A field's declared range as the doc writes it, without spaces: "-10…300", "1…64"."""
    found = [
        getattr(meta, attr)
        for meta in info.metadata
        for attr in ("ge", "gt", "min_length", "le", "lt", "max_length")
        if getattr(meta, attr, None) is not None
    ]
    return "…".join(f"{bound:g}" for bound in found)


def test_doc_payload_values_ranges_and_required_marks_match_the_models() -> None:
    for kind, rows in payload_tables().items():
        for channel, event, field_cell, type_cell, range_cell, meaning in rows:
            name = ticked(field_cell)
            if name is None:
                continue
            info = _payload_field(kind, channel, ticked(event), name)
            where = f"{kind} {channel} {event} {name}"
            values = _enum_in(info.annotation)
            if values is not None:
                assert set(TICKED.findall(type_cell)) == {v.value for v in values}, where
            written = range_cell.replace("−", "-").replace("characters", "").replace(" ", "")
            assert written == _bounds(info), (
                f"{where}: range {range_cell!r}, the model says {_bounds(info)!r}"
            )
            assert ("*required*" in meaning) == info.is_required(), where


def test_every_channel_is_described() -> None:
    listed = set(re.findall(r"^  - `(\w+)`:", section("3.1"), re.MULTILINE))
    assert listed == {channel.value for channel in Channel}


# -- §4: the inventory ---------------------------------------------------------------------------


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]


def _is_list(annotation: Any) -> bool:
    return typing.get_origin(annotation) is list or any(_is_list(a) for a in typing.get_args(annotation))


def _yaml_name(name: str, info: FieldInfo) -> str:
    return info.alias or name


def inventory_models() -> dict[str, list[type[BaseModel]]]:
    """YAML path (``estates[].devices[]``) → the models whose fields sit there. A model met again (a
    region's children, an estate's holidays: the calendar's fields) is described once, where it
    sits nearest the top."""
    out: dict[str, list[type[BaseModel]]] = {}
    seen: set[type[BaseModel]] = {Inventory}
    queue: list[tuple[type[BaseModel], str]] = [(Inventory, "(top level)")]
    while queue:
        model, path = queue.pop(0)
        out.setdefault(path, []).append(model)
        for name, info in model.model_fields.items():
            child = (f"{path}." if path != "(top level)" else "") + _yaml_name(name, info)
            child += "[]" if _is_list(info.annotation) else ""
            for sub in _models_in(info.annotation):
                if sub not in seen:
                    seen.add(sub)
                    queue.append((sub, child))
    return out


def test_the_example_is_the_sample_file_and_loads() -> None:
    block = re.search(r"^```yaml\n(.*?)^```$", section("4"), re.MULTILINE | re.DOTALL)
    assert block is not None, "docs/contract.md §4 has no YAML example"
    sample = ROOT / "devices" / "samples" / "spec_example.yaml"
    assert block[1] == sample.read_text(encoding="utf-8")
    load_inventory(sample)  # raises InventoryError, with every problem, if the gateway refuses it


def inventory_tables() -> dict[str, list[list[str]]]:
    return tables_by_heading(section("4"))


def test_doc_inventory_paths_match_the_models() -> None:
    assert set(inventory_tables()) == set(inventory_models())


@pytest.mark.parametrize("path", sorted(inventory_models()))
def test_doc_inventory_fields_match_the_models(path: str) -> None:
    code = {_yaml_name(n, i) for model in inventory_models()[path] for n, i in model.model_fields.items()}
    doc = {ticked(row[0]) for row in inventory_tables().get(path, [])}
    assert doc == code, (
        f"docs/contract.md §4 `{path}`: only in the doc {doc - code}, only in the code {code - doc}"
    )


def _shown(value: object) -> str | None:
    """How a simple default is written in the doc's default cell; None: not checked."""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, enum.Enum):
        return f"`{value.value}`"
    if isinstance(value, int | float):
        return f"`{value:g}`" if isinstance(value, float) else f"`{value}`"
    if isinstance(value, str | Path) and str(value):
        return f"`{value}`"
    return None


def _default_problem(info: FieldInfo, cell: str) -> str | None:
    if info.is_required():
        return None if "required" in cell else "required, the doc gives a default"
    if info.default_factory is not None:
        return None
    if info.default is None:
        return None if cell.startswith("none") else "default none"
    shown = _shown(info.default)
    if shown is not None and shown not in cell and f"`{info.default}`" not in cell:
        return f"default {shown}"
    return None


@pytest.mark.parametrize("path", sorted(inventory_models()))
def test_doc_inventory_defaults_match_the_models(path: str) -> None:
    cells = {ticked(row[0]): row[2] for row in inventory_tables().get(path, [])}
    for model in inventory_models()[path]:
        for name, info in model.model_fields.items():
            cell = cells.get(_yaml_name(name, info), "")
            problem = _default_problem(info, cell)
            assert problem is None, (
                f"§4 `{path}` `{name}` ({model.__name__}): {problem}; the doc says {cell!r}"
            )


# -- §5, §7: the alert and work-order JSON -------------------------------------------------------

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _without_asides(text: str) -> str:
    while (shorter := re.sub(r"\([^()]*\)", "", text)) != text:
        text = shorter
    return text


def json_fields(text: str, start: str, stop: str) -> set[str]:
    """The field names of a "**… JSON** (…): `a`, `b` (…), …" paragraph, asides left out."""
    paragraph = text[text.index(start) + len(start) :]
    paragraph = paragraph[: paragraph.index(stop)]
    return set(TICKED.findall(_without_asides(paragraph)))


def values_after(text: str, start: str, stop: str = ".") -> set[str]:
    rest = text[text.index(start) + len(start) :]
    return set(TICKED.findall(rest[: rest.index(stop)]))


def test_doc_alert_json_matches_the_alert() -> None:
    alert = Alert(
        1, "sunrise", "B1", "L1", "lift", "lift.entrapment", Severity.CRITICAL, "困人", "trapped", T0
    )
    text = section("5")
    single = set(alert.to_json(with_history=True)) | {"notifications"}  # GET /api/alerts/{id} adds it
    assert json_fields(text, "**Alert JSON**", "Times are") == single
    assert values_after(text, "`state` (", ")") == {state.value for state in AlertState}
    assert values_after(text, "`severity` (", ")") == {severity.value for severity in Severity}
    assert values_after(text, "History actions:") == {action.value for action in Action}


def test_doc_work_order_json_matches_the_order() -> None:
    order = WorkOrder(
        id=1,
        estate="sunrise",
        building="B1",
        device="L1",
        alert=1,
        alert_key="sunrise/L1/lift.entrapment",
        rule="lift.entrapment",
        trade=Trade.LIFT,
        crew="lift-team",
        severity=Severity.CRITICAL,
        state=OrderState.ASSIGNED,
        title="困人",
        description="",
        source=Source.ALERT,
        category=None,
        created_at=T0,
    )
    text = section("7")
    assert json_fields(text, "**Work-order JSON**", "\n\n") == set(order.to_json(with_history=True))
    assert values_after(text, "`source` (", ")") == {source.value for source in Source}
    assert values_after(text, "; actions ", ")") == {action.value for action in OrderAction}
    assert values_after(text, "States:", "\n`reassign`") == {state.value for state in OrderState}


# -- §8: the HTTP API ----------------------------------------------------------------------------


def app() -> FastAPI:
    # The app only keeps the gateway; nothing here starts it or calls it.
    return create_app(cast(Any, object()), TokenBook(), manage_lifecycle=False)


def schema_endpoints(application: FastAPI) -> set[str]:
    """Every endpoint of the OpenAPI description (the pages are left out of it)."""
    paths: dict[str, dict[str, Any]] = application.openapi()["paths"]
    return {f"{method.upper()} {path}" for path, methods in paths.items() for method in methods}


def test_doc_endpoints_match_the_app() -> None:
    application = app()
    doc = {cast(str, ticked(row[0])) for row in table_rows(section("8"))}
    code = schema_endpoints(application)
    assert not code - doc, f"endpoints missing from docs/contract.md §8: {sorted(code - doc)}"
    client = TestClient(application)
    for endpoint in sorted(doc - code):  # outside the OpenAPI description: the pages
        method, path = endpoint.split(" ", 1)
        assert method == "GET" and "{" not in path, f"§8 names {endpoint}, which the app does not have"
        status = client.get(path).status_code
        assert status == 200, f"§8 names {endpoint}, which answers {status}"


# -- §10: the command line ----------------------------------------------------------------------


def cli_commands() -> dict[str, set[str]]:
    """``estate-gateway run`` → its long options, for every subcommand of both programs."""
    out: dict[str, set[str]] = {}
    for parser in (gateway_cli.build_parser(), simulators_cli.build_parser()):
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        for name, command in commands.choices.items():
            options = {o for a in command._actions for o in a.option_strings if o.startswith("--")}
            out[f"{parser.prog} {name}"] = options - {"--help"}
    return out


def test_doc_commands_and_options_match_the_parsers() -> None:
    doc = {
        " ".join(cell.split()[:2]): set(re.findall(r"--[a-z][a-z-]*", cell))
        for cell in (cast(str, ticked(row[0])) for row in table_rows(section("10")))
    }
    assert doc == cli_commands()


# -- §12: settings -------------------------------------------------------------------------------


def setting_variables() -> dict[str, FieldInfo]:
    return {f"ESTATE_{name.upper()}": info for name, info in Settings.model_fields.items()}


def test_doc_settings_match_settings() -> None:
    doc = [ticked(row[0]) for row in table_rows(section("12"))]
    assert len(doc) == len(set(doc)), "a setting twice in docs/contract.md §12"
    code = set(setting_variables())
    assert not set(doc) - code, f"§12 names settings Settings lacks: {sorted(set(doc) - code, key=str)}"
    assert not code - set(doc), f"settings missing from docs/contract.md §12: {sorted(code - set(doc))}"


@pytest.mark.parametrize("variable", sorted(setting_variables()))
def test_doc_setting_defaults_match_settings(variable: str) -> None:
    cells = {ticked(row[0]): row[1] for row in table_rows(section("12"))}
    info, cell = setting_variables()[variable], cells.get(variable, "")
    if info.default_factory is not None:  # computed at start (the host name): the doc says which
        return
    default = info.default.get_secret_value() if isinstance(info.default, SecretStr) else info.default
    if default == "":
        assert cell.startswith("empty"), f"{variable}: default empty, the doc says {cell!r}"
    else:
        assert _default_problem(info, cell) is None, f"{variable}: default {default!r}, the doc says {cell!r}"


def test_no_document_names_a_setting_that_does_not_exist() -> None:
    known = set(setting_variables())
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        # ESTATE_TEST_*: the test suite's own knobs, not the gateway's settings.
        named = set(re.findall(r"\bESTATE_(?!TEST_)[A-Z_]*[A-Z]\b", path.read_text(encoding="utf-8")))
        assert named <= known, f"{path.name} names settings that do not exist: {sorted(named - known)}"


# -- citations -----------------------------------------------------------------------------------

#: "docs/contract.md §3.4", "docs/rules.md §7", "docs/contract.md §7, §8".
CITATION = re.compile(r"docs/(contract|rules)\.md ((?:§\d+(?:\.\d+)?(?:, )?)+)")
#: Documents that are not in the repository: cited, a newcomer could not open them.
OUTSIDE = ("../shared", "SPEC §", "STANDARDS.md", "STANDARDS §")
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".sh", ".js", ".html", ".css", ".cfg", ".txt"}
SKIP_DIRS = {
    ".git",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "__pycache__",
    "node_modules",
    "artifacts",
}


def repository_texts() -> Iterator[tuple[Path, str]]:
    """Every text file of the repository (not caches, build output or this test's own patterns)."""
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            path = Path(folder) / name
            if path.suffix in TEXT_SUFFIXES and path != Path(__file__).resolve():
                yield path.relative_to(ROOT), path.read_text(encoding="utf-8", errors="replace")


def section_numbers(text: str) -> set[str]:
    return set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", text, re.MULTILINE))


def test_every_citation_of_the_docs_names_a_section_they_have() -> None:
    sections = {
        "contract": section_numbers(CONTRACT),
        "rules": section_numbers((ROOT / "docs" / "rules.md").read_text(encoding="utf-8")),
    }
    assert {"3.4", "12"} <= sections["contract"] and {"1", "8"} <= sections["rules"]
    stale = [
        f"{path}: docs/{doc}.md §{number}"
        for path, text in repository_texts()
        for doc, numbers in CITATION.findall(text)
        for number in re.findall(r"§([\d.]+)", numbers)
        if number not in sections[doc]
    ]
    assert not stale, f"citations of sections that do not exist: {stale}"


def test_nothing_cites_documents_outside_the_repository() -> None:
    found = [
        f"{path}:{number}: {line.strip()[:100]}"
        for path, text in repository_texts()
        for number, line in enumerate(text.splitlines(), start=1)
        if any(outside in line for outside in OUTSIDE)
    ]
    assert not found, "cite docs/contract.md, docs/rules.md or the standard itself:\n" + "\n".join(found)


# -- the checks themselves -----------------------------------------------------------------------


def test_the_checks_see_a_renamed_field_and_a_dropped_setting() -> None:
    """The comparisons above are not vacuous: a row renamed or dropped in the doc is noticed."""
    renamed = CONTRACT.replace("| telemetry | | `floor` |", "| telemetry | | `storey` |", 1)
    assert renamed != CONTRACT
    doc, code = doc_entries(renamed), registry_entries()
    assert doc - code == {("lift", "telemetry", None, "storey")}
    assert code - doc == {("lift", "telemetry", None, "floor")}
    dropped = CONTRACT.replace("| `ESTATE_FLUSH_MS` |", "| `ESTATE_FLUSHED_MS` |", 1)
    assert dropped != CONTRACT
    before = {ticked(row[0]) for row in table_rows(section("12"))}
    after = {ticked(row[0]) for row in table_rows(section("12", dropped))}
    assert "ESTATE_FLUSH_MS" in setting_variables()
    assert before - after == {"ESTATE_FLUSH_MS"} and after - before == {"ESTATE_FLUSHED_MS"}


def test_the_citation_check_reads_every_section_of_a_citation() -> None:
    [(doc, numbers)] = CITATION.findall("as docs/contract.md §7, §13.2 says.")
    assert doc == "contract" and re.findall(r"§([\d.]+)", numbers) == ["7", "13.2"]
    assert "7" in section_numbers(CONTRACT) and "13.2" not in section_numbers(CONTRACT)
