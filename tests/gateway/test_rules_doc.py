"""docs/rules.md is generated from the rule catalogue and kept in step with it (issue 27): the
committed file must be what ``estate-gateway rules --markdown`` prints today, and every rule must
name the standard it implements or say that it is practice."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from alerts.book import FLOOD_RULE
from alerts.catalogue import DEFAULT_RULES, STANDARD_OF_OTHER_RULES
from alerts.patrol_plan import PatrolRule
from alerts.rules import ConditionRule, Predicate
from assets.model import CALENDAR_RULE, CERT_EXPIRED_RULE, CERT_EXPIRING_RULE, OVERDUE_RULE
from assets.plans import ALARMED_BY, DEFAULT_PLANS
from devices.inventory import SlaPolicy
from devices.ledger import Interval, IntervalUnit
from dispatch.desk_core import BREACH_RULE
from estate_gateway import cli
from gateway import rule_words, rules_doc
from gateway.broker_watch import BROKER_DROPPING
from gateway.stages import STAGE_FAILED

RULES_MD = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
SOURCE_NAMES = tuple(name for name, _ in rules_doc.SOURCES)
LEDGER_RULES = (OVERDUE_RULE, CERT_EXPIRING_RULE, CERT_EXPIRED_RULE, CALENDAR_RULE)


def test_committed_rules_doc_is_up_to_date() -> None:
    assert RULES_MD.read_text(encoding="utf-8") == rules_doc.render(), (
        "docs/rules.md is out of date with the rule catalogue: "
        "run `estate-gateway rules --markdown > docs/rules.md`"
    )


def test_the_command_prints_the_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["rules", "--markdown"]) == 0
    assert capsys.readouterr().out == rules_doc.render()


def test_the_plain_listing_has_one_line_per_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["rules"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [rule.id for rule in DEFAULT_RULES]


@pytest.mark.parametrize("rule", DEFAULT_RULES, ids=lambda rule: rule.id)
def test_every_catalogue_rule_names_its_standard_or_practice(rule: object) -> None:
    standard = getattr(rule, "standard", "")
    assert standard.startswith("practice") or any(name in standard for name in SOURCE_NAMES), (
        f"{getattr(rule, 'id', rule)}: standard {standard!r} names none of the sources of docs/rules.md"
    )


def test_every_rule_outside_the_catalogue_names_its_standard() -> None:
    outside = {rule.value for rule in PatrolRule} | {BREACH_RULE, FLOOD_RULE, STAGE_FAILED, BROKER_DROPPING}
    outside |= set(LEDGER_RULES)
    assert set(STANDARD_OF_OTHER_RULES) == outside
    for rule_id, standard in STANDARD_OF_OTHER_RULES.items():
        assert standard.startswith("practice") or any(name in standard for name in SOURCE_NAMES), rule_id


def test_every_rule_has_its_section_and_row() -> None:
    text = rules_doc.render()
    for rule in DEFAULT_RULES:
        assert f"### `{rule.id}`\n" in text
        assert rule.standard in text
    for rule_id in STANDARD_OF_OTHER_RULES:
        assert f"| `{rule_id}` |" in text


def test_the_document_follows_a_changed_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a copy of today's figures: change a rule and the document says the new one."""
    before = rules_doc.render()
    changed = [
        rule.model_copy(
            update={"when": (Predicate(field="chlorine_mg_l", op="<", value=0.1),), "for_s": 1800.0}
        )
        if rule.id == "water.chlorine_low"
        else rule
        for rule in DEFAULT_RULES
    ]
    assert any(isinstance(rule, ConditionRule) and rule.for_s == 1800.0 for rule in changed)
    monkeypatch.setattr(rules_doc, "DEFAULT_RULES", changed)
    after = rules_doc.render()
    assert after != before
    section = after.split("### `water.chlorine_low`", 1)[1].split("###", 1)[0]
    assert "`chlorine_mg_l` < 0.1 for 30 min (on-delay)" in section


def test_sla_follows_the_default_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    policies = (
        SlaPolicy.model_validate({"id": "only", "rules": ["lift.entrapment"], "arrive": "20m"}),
        SlaPolicy.model_validate({"id": "rest", "resolve": "9wd"}),
    )
    monkeypatch.setattr(rule_words, "DEFAULT_POLICIES", policies)
    text = rules_doc.render()
    section = text.split("### `lift.entrapment`", 1)[1].split("###", 1)[0]
    assert "| SLA (critical) | arrive 20 min · resolve 9 working days (`only`, `rest`) |" in section


def test_the_ledger_rules_and_every_plan_are_documented() -> None:
    text = rules_doc.render()
    ledger = text[text.index("## 9. The equipment ledger") :]
    for rule_id in LEDGER_RULES:
        assert f"| `{rule_id}` |" in ledger and STANDARD_OF_OTHER_RULES[rule_id] in ledger
    for plan in DEFAULT_PLANS:
        row = next(line for line in ledger.splitlines() if line.startswith(f"| `{plan.id}` |"))
        assert (
            f"| {plan.every} |" in row and f"| {plan.overdue_severity}" in row and f"`{OVERDUE_RULE}`" in row
        )
        if plan.id in ALARMED_BY:
            assert f"(opt-in: `{ALARMED_BY[plan.id][0]}`)" in row
        if plan.worse_severity is not None:
            assert f"; {plan.worse_severity} when late more than {plan.worse_after} |" in row
        assert plan.standard in row
        assert any(name in plan.standard for name in SOURCE_NAMES), f"{plan.id}: {plan.standard}"
    assert "critical** for a lift inspection certificate" in ledger


def test_the_opt_in_rules_say_they_are_off_by_default() -> None:
    text = rules_doc.render()
    for rule in DEFAULT_RULES:
        section = text.split(f"### `{rule.id}`", 1)[1].split("###", 1)[0]
        summary = next(line for line in text.splitlines() if line.startswith(f"| [`{rule.id}`]"))
        assert ("**off by default** (opt-in)" in section) is (not rule.enabled), rule.id
        assert ("(opt-in)" in summary) is (not rule.enabled), rule.id


def test_the_ledger_section_follows_a_changed_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    changed = tuple(replace(p, every=Interval(14, IntervalUnit.DAYS)) if p.id == "lift.maintenance" else p
                    for p in DEFAULT_PLANS)  # fmt: skip
    monkeypatch.setattr(rules_doc, "DEFAULT_PLANS", changed)
    row = next(line for line in rules_doc.render().splitlines() if line.startswith("| `lift.maintenance` |"))
    assert "| 14d |" in row
