"""The packages' layering (issue 20): the composition root (estate_gateway) depends on api and
gateway; api depends on gateway, never the other way; api reaches alarm state only through
gateway/core.py (no ``gateway.alarms.book…`` chains, no locks)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(package: str) -> dict[str, set[str]]:
    """Each module of ``package`` (by path) → the top-level packages it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_gateway_never_imports_the_api_or_the_command() -> None:
    wrong = {m: sorted(n & {"api", "estate_gateway"}) for m, n in _imports("gateway").items()}
    assert {m: n for m, n in wrong.items() if n} == {}


def test_the_alarm_core_imports_neither_the_gateway_nor_the_api() -> None:
    for package in ("alerts", "dispatch", "assets"):
        wrong = {m: sorted(n & {"api", "gateway", "estate_gateway"}) for m, n in _imports(package).items()}
        assert {m: n for m, n in wrong.items() if n} == {}, package


def test_the_api_never_imports_the_command() -> None:
    wrong = {m: sorted(n & {"estate_gateway"}) for m, n in _imports("api").items()}
    assert {m: n for m, n in wrong.items() if n} == {}


def test_the_api_reaches_alarm_state_only_through_the_core() -> None:
    chains = (".alarms.", ".dispatcher.", ".book.", ".lock", ".live.", ".states.")
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "api").rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ("gateway." in line and any(chain in line for chain in chains))
        or ".book." in line
        or ".lock" in line
    ]
    assert found == []
