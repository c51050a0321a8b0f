"""Read the inventory YAML, validate it, and report every problem with its file and line.

Bad configuration must stop start-up naming the file and the line (docs/contract.md §4, §11). The
YAML is composed into nodes first, so every mapping key and sequence item keeps its line; pydantic's
error locations and the cross-reference locations are then mapped back to the closest line.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from devices.inventory import Inventory, Loc, RefIssue, check_references

try:  # libyaml parses a 100k-device inventory several times faster than pure Python
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

M = TypeVar("M", bound=BaseModel)
#: Bound on the rounds of dropping invalid parts before the cross-reference checks give up.
_SALVAGE_ROUNDS = 20


@dataclass(frozen=True)
class ConfigIssue:
    """One problem of a configuration file; ``line`` is 1-based, None when not about a line."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


class InventoryError(Exception):
    """The inventory cannot be used; ``issues`` lists every problem found, in line order."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        super().__init__("\n".join(map(str, issues)))
        self.issues = issues


#: A check from a later stage (e.g. the alarm rules' overrides) on a valid inventory: issues as
#: (location path, message), mapped to lines like the loader's own.
ExtraCheck = Callable[[Inventory], list[RefIssue]]


def load_inventory(path: str | Path, checks: Sequence[ExtraCheck] = ()) -> Inventory:
    """The validated inventory of a YAML file; raises :class:`InventoryError` listing all issues."""
    inventory, issues = _read(Path(path), checks)
    if inventory is None or issues:
        raise InventoryError(issues)
    return inventory


def check_inventory(path: str | Path, checks: Sequence[ExtraCheck] = ()) -> list[ConfigIssue]:
    """Every issue of a YAML inventory file (empty: the file loads)."""
    return _read(Path(path), checks)[1]


def load_yaml_model(
    path: str | Path, model: type[M], checks: Sequence[Callable[[M], list[RefIssue]]] = ()
) -> M:
    """Any YAML configuration file validated by a pydantic ``model`` (e.g. the API tokens), its
    problems reported like the inventory's: ``file:line: reason``, all at once."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InventoryError([ConfigIssue(file, None, f"cannot read it: {reason}")]) from None
    loader = _LineLoader(text)
    try:
        data = loader.build()
    except yaml.YAMLError as exc:
        raise InventoryError([_yaml_issue(file, text, exc)]) from None
    finally:
        loader.dispose()
    try:
        value = model.model_validate(data)
    except ValidationError as exc:
        problems = _schema_issues(exc)
    else:
        problems = [issue for check in checks for issue in check(value)]
    issues = [ConfigIssue(file, line, message) for line, message in loader.issues]
    issues += [ConfigIssue(file, _line(loader.lines, loc), _message(loc, text)) for loc, text in problems]
    if issues:
        raise InventoryError(sorted(issues, key=lambda issue: (issue.line or 0, issue.message)))
    return value


class _LineLoader(_SafeLoader):
    """Builds plain data from composed nodes, keeping the 1-based line of every key and item."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.lines: dict[Loc, int] = {(): 1}
        self.issues: list[tuple[int, str]] = []

    def build(self) -> object:
        node = self.get_single_node()
        return None if node is None else self._build(node, ())

    def _build(self, node: yaml.Node, loc: Loc) -> object:
        self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            return [self._build(item, (*loc, i)) for i, item in enumerate(node.value)]
        try:
            return self.construct_object(node)
        except ValueError:  # 2026-02-30 looks like a date but is none: validation will say so
            return node.value

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[object, object]:
        own = [pair for pair in node.value if pair[0].tag != "tag:yaml.org,2002:merge"]
        self.flatten_mapping(node)  # resolves "<<" merge keys: their pairs now come first
        merged = node.value[: len(node.value) - len(own)]
        out: dict[object, object] = {}
        for key_node, value_node in own:
            self._entry(out, key_node, value_node, loc)
        # A key of its own overrides a merged one, and a later merge source an earlier one.
        for key_node, value_node in reversed(merged):
            self._entry(out, key_node, value_node, loc, merged=True)
        return out

    def _entry(
        self,
        out: dict[object, object],
        key_node: yaml.Node,
        value_node: yaml.Node,
        loc: Loc,
        merged: bool = False,
    ) -> None:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            self.issues.append((line, f"{_path(loc) or 'document'}: a key must be plain text"))
            return
        key = self.construct_object(key_node)
        if key in out:
            if not merged:  # keep the first value: its lines are the ones recorded for this path
                first = self.lines[(*loc, key)]
                self.issues.append((line, f"{_path((*loc, key))}: duplicate key (first at line {first})"))
            return
        self.lines[(*loc, key)] = line
        out[key] = self._build(value_node, (*loc, key))


def _read(path: Path, checks: Sequence[ExtraCheck] = ()) -> tuple[Inventory | None, list[ConfigIssue]]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return None, [ConfigIssue(file, None, f"cannot read the inventory: {reason}")]
    loader = _LineLoader(text)
    try:
        data = loader.build()
    except yaml.YAMLError as exc:
        return None, [_yaml_issue(file, text, exc)]
    except RecursionError:  # an alias inside its own anchor (&a [*a]) or absurd nesting
        return None, [ConfigIssue(file, None, "YAML nests too deep (an alias inside its own anchor?)")]
    finally:
        loader.dispose()
    inventory, problems = _validate(data)
    if inventory is not None and not problems:
        problems = [issue for check in checks for issue in check(inventory)]
    issues = {ConfigIssue(file, line, message) for line, message in loader.issues}
    issues |= {ConfigIssue(file, _line(loader.lines, loc), _message(loc, text)) for loc, text in problems}
    return inventory, sorted(issues, key=lambda issue: (issue.line or 0, issue.message))


def _yaml_issue(file: str, text: str, exc: yaml.YAMLError) -> ConfigIssue:
    if isinstance(exc, yaml.MarkedYAMLError):
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        return ConfigIssue(file, line, f"YAML syntax error: {exc.problem or exc}")
    position = getattr(exc, "position", None)  # a ReaderError (bad character) has only an offset
    line = text.count("\n", 0, position) + 1 if isinstance(position, int) else None
    return ConfigIssue(file, line, f"YAML syntax error: {str(exc).splitlines()[0]}")


def _validate(data: object) -> tuple[Inventory | None, list[RefIssue]]:
    try:
        inventory = Inventory.model_validate(data)
    except ValidationError as exc:
        return None, [*_schema_issues(exc), *_salvaged_references(data)]
    return inventory, check_references(inventory)


def _schema_issues(exc: ValidationError) -> list[RefIssue]:
    return [RefIssue(tuple(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in exc.errors()]


def _salvaged_references(data: object) -> list[RefIssue]:
    """The cross-reference issues of the schema-valid rest, so one run reports both kinds.

    Each round drops the deepest existing part at every error location (the bad value, or the list
    item a required field is missing from) until the rest validates. Issue locations are mapped back
    to the original list indexes. A reference to a dropped item is reported as unknown too.
    """
    data = copy.deepcopy(data)
    kept: dict[Loc, list[int]] = {}
    for _ in range(_SALVAGE_ROUNDS):
        try:
            partial = Inventory.model_validate(data)
        except ValidationError as exc:
            if not _prune(data, exc, kept):
                return []
            continue
        return [RefIssue(_original(issue.loc, kept), issue.message) for issue in check_references(partial)]
    return []


def _prune(data: object, exc: ValidationError, kept: dict[Loc, list[int]]) -> bool:
    targets = {_walk(data, tuple(error["loc"]))[0] for error in exc.errors()} - {()}
    # Deepest first and higher indexes first, so a removal never shifts a target still to remove.
    for loc in sorted(targets, key=lambda t: (len(t), t[-1] if isinstance(t[-1], int) else -1), reverse=True):
        container = _walk(data, loc[:-1])[1]
        if isinstance(container, list) and isinstance(loc[-1], int):
            indexes = kept.setdefault(_original(loc[:-1], kept), list(range(len(container))))
            del indexes[loc[-1]]
            del container[loc[-1]]
        elif isinstance(container, dict):
            del container[loc[-1]]
    return bool(targets)


def _walk(data: object, loc: Loc) -> tuple[Loc, object]:
    """The longest prefix of ``loc`` that exists in ``data``, and the value found there."""
    node = data
    for depth, part in enumerate(loc):
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_list or (isinstance(node, dict) and part in node)):
            return loc[:depth], node
        node = node[part]  # type: ignore[index]  # checked just above
    return loc, node


def _original(loc: Loc, kept: dict[Loc, list[int]]) -> Loc:
    """``loc`` after list items were dropped, translated to indexes of the file as written."""
    out: list[str | int] = []
    for part in loc:
        indexes = kept.get(tuple(out))
        out.append(indexes[part] if indexes is not None and isinstance(part, int) else part)
    return tuple(out)


def _line(lines: dict[Loc, int], loc: Loc) -> int:
    while loc not in lines:
        loc = loc[:-1]
    return lines[loc]


def _message(loc: Loc, text: str) -> str:
    return f"{_path(loc)}: {text}" if loc else text


def _path(loc: Loc) -> str:
    """``estates[0].devices[3].kind`` for ``("estates", 0, "devices", 3, "kind")``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out
