"""API tokens from a YAML file: roles, scope, crews, digests, and errors with their lines."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from api.auth import Role, TokenBook, TokensFile, token_book, token_issues
from devices.loader import InventoryError, load_inventory, load_yaml_model
from tests.support.gateway import SPEC_EXAMPLE

CREW_DIGEST = hashlib.sha256(b"crew-token-0123456789").hexdigest()
GOOD = f"""\
tokens:
  - {{name: 张三, role: operator, token: "operator-token-0123456789", estates: [sunrise]}}
  - name: 王师傅
    role: crew
    crew: lift-team
    token_sha256: "{CREW_DIGEST}"
  - {{name: 李经理, role: manager, token: "manager-token-0123456789"}}
"""


def _load(tmp_path: Path, text: str) -> TokenBook:
    path = tmp_path / "tokens.yaml"
    path.write_text(text, encoding="utf-8")
    inventory = load_inventory(SPEC_EXAMPLE)
    return token_book(load_yaml_model(path, TokensFile, [lambda c: token_issues(c, inventory)]), inventory)


def test_tokens_become_principals(tmp_path: Path) -> None:
    book = _load(tmp_path, GOOD)
    operator = book.find("operator-token-0123456789")
    assert operator is not None and (operator.name, operator.role, operator.estates) == (
        "张三",
        Role.OPERATOR,
        frozenset({"sunrise"}),
    )
    crew = book.find("crew-token-0123456789")  # given only as a digest
    assert crew is not None and (crew.role, crew.crew) == (Role.CREW, "lift-team")
    assert crew.estates == frozenset({"sunrise"})  # a crew token sees its crew's estates
    manager = book.find("manager-token-0123456789")
    assert manager is not None and manager.estates == frozenset()  # every estate
    assert book.find("operator-token-012345678") is None
    assert book.find("") is None


@pytest.mark.parametrize(
    ("entry", "line", "needle"),
    [
        ('{name: a, role: operator, token: "short"}', 2, "at least 16"),
        ('{name: a, role: root, token: "0123456789abcdefXYZ"}', 2, "role"),
        ('{name: a, role: crew, token: "0123456789abcdefXYZ"}', 2, "names its crew"),
        ('{name: a, role: operator, crew: lift-team, token: "0123456789abcdefXYZ"}', 2, "only a crew token"),
        ("{name: a, role: operator}", 2, "exactly one of token or token_sha256"),
        ('{name: a, role: operator, token_sha256: "abc"}', 2, "token_sha256"),
        ('{name: a, role: crew, crew: ghosts, token: "0123456789abcdefXYZ"}', 2, "no crew 'ghosts'"),
        ('{name: a, role: operator, estates: [mars], token: "0123456789abcdefXYZ"}', 2, "no estate 'mars'"),
        ('{name: a, role: operator, tokn: "0123456789abcdefXYZ"}', 2, "tokn"),
    ],
)
def test_a_bad_token_entry_is_reported_at_its_line(
    tmp_path: Path, entry: str, line: int, needle: str
) -> None:
    with pytest.raises(InventoryError) as caught:
        _load(tmp_path, f"tokens:\n  - {entry}\n")
    [issue] = [i for i in caught.value.issues if needle in i.message] or caught.value.issues
    assert issue.line == line and needle in issue.message, caught.value.issues


def test_an_unreadable_or_broken_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="cannot read it"):
        load_yaml_model(tmp_path / "missing.yaml", TokensFile)
    path = tmp_path / "tokens.yaml"
    path.write_text("tokens:\n  - {name: a\n", encoding="utf-8")
    with pytest.raises(InventoryError, match="YAML syntax error"):
        load_yaml_model(path, TokensFile)
