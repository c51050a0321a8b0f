"""docs/rules.md, written from the rule catalogue: ``estate-gateway rules --markdown``.

Every default rule with its condition, on-delay and clear, severity, dispatch policy, the default
deadlines of its work orders and the standard it implements — all read from the code
(``alerts.catalogue``, ``alerts.patrol_plan``; each rule put in words by ``gateway.rule_words``), so
the document cannot drift from what runs: ``tests/gateway/test_rules_doc.py`` regenerates it and
fails when the committed file differs.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence

from alerts.book import FLOOD_RULE, Policy
from alerts.catalogue import DEFAULT_RULES, STANDARD_OF_OTHER_RULES
from alerts.patrol_plan import MESSAGES, SEVERITY, PatrolPolicy, PatrolRule
from alerts.rules import Rule
from assets.desk import EXPIRED_SEVERITY
from assets.model import CALENDAR_RULE, CERT_EXPIRED_RULE, CERT_EXPIRING_RULE, CERT_WARN_DAYS, OVERDUE_RULE
from assets.plans import ALARMED_BY, DEFAULT_PLANS
from devices.base import Kind
from devices.inventory import PatrolPlan
from devices.workdays import WARN_BEFORE
from dispatch.desk_core import ALWAYS_DISPATCH, BREACH_RULE
from dispatch.routing import trade_for
from gateway.broker_watch import BROKER_DROPPING, DROPPED_TOPIC, DropCounter
from gateway.rule_words import condition, seconds, severities, sla
from gateway.settings import Settings
from gateway.stages import STAGE_FAILED

#: The sources a rule's ``standard`` may name (or it starts with "practice"), with what each covers.
SOURCES: tuple[tuple[str, str], ...] = (
    ("GB/T 24476", "Lift IoT (电梯物联网): the status fields and fault codes a lift terminal reports"),
    ("TSG T5002", "Lift maintenance rules: maintenance at most 15 days apart; rescue on site ≤ 30 min"),
    ("GB 5749-2022", "Drinking water (生活饮用水卫生标准): free chlorine, turbidity, pH limits"),
    ("CJJ 140", "Secondary water supply (二次供水): tank level, hatch, pump room, online analysers"),
    ("GB/T 28181", "Video surveillance networking: camera keepalive, video-loss alarm"),
    ("security-service regulation", "National security-service rule (保安服务): recordings kept ≥ 30 days"),
    ("GB 50396", "Access control (出入口控制系统): forced door, denied bursts, tamper, fire release"),
    ("municipal lighting rules", "Lighting: lit rate, 完好率, lamp and circuit faults, leakage"),
    ("GA/T 644", "Guard tour (电子巡更): plans, rounds, checkpoints, SOS"),
    ("GB 50348", "Security engineering: an alarm when a checkpoint is not reached in time"),
    ("ISA-18.2", "Alarm management (also IEC 62682): lifecycle, suppression, flood, escalation"),
    ("EEMUA 191", "Alarm management guide: alarm load and floods"),
    (
        "estate service standard",
        "The estates' own service plans (seed): 完好率, cleaning, patrols, 维修及时率",
    ),
    ("特种设备安全法", "Special Equipment Safety Law: lifts inspected periodically, certificate kept"),
    ("TSG T7001", "Lift supervision and periodic inspection rules: the yearly statutory inspection"),
    ("GB 50444", "Fire extinguishers: configuration, inspection and maintenance"),
    ("GB 25201", "Fire facilities: maintenance and management"),
    ("GB/T 21431", "Lightning protection systems: periodic testing"),
    ("practice", "An industry habit, not a written figure"),
)

#: The document's sections, numbered for good: code cites them ("docs/rules.md §7"), so a new kind
#: takes the next free number rather than shifting the others.
_KIND_SECTIONS: dict[Kind | None, tuple[int, str]] = {
    Kind.LIFT: (1, "Lifts 电梯"),
    Kind.WATER_TANK: (2, "Secondary water supply 二次供水"),
    Kind.CCTV: (3, "CCTV 视频监控"),
    Kind.ACCESS: (4, "Access control 门禁"),
    Kind.LIGHT: (5, "Lighting 照明"),
    None: (6, "The estate as a whole 全小区"),
}
_PATROL_SECTION, _SYSTEM_SECTION, _LEDGER_SECTION = 7, 8, 9


#: What an off-by-default rule's section says.
_OPT_IN = (
    "**off by default** (opt-in): the equipment ledger's `maintenance.overdue` is this lateness's "
    "alarm (§9); an estate switches this rule on with `rules: {<id>: {enabled: true}}`, and it is "
    "then the one source"
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _rule_section(rule: Rule) -> Iterator[str]:
    raised, clears = condition(rule)
    trade = trade_for(rule.kind, rule.id)
    levels = severities(rule)
    yield f"### `{rule.id}`"
    yield ""
    yield "| | |"
    yield "|---|---|"
    yield f"| 告警 (zh-CN) | {_cell(rule.message)} |"
    yield f"| alert (English) | {_cell(rule.message_en)} |"
    yield f"| kind | `{rule.kind}` |" if rule.kind else "| kind | — (estate-wide) |"
    if not rule.enabled:
        yield f"| on | {_OPT_IN} |"
    yield f"| raised by | {_cell(raised)} |"
    yield f"| cleared by | {_cell(clears)} |"
    for severity, when in levels:
        yield f"| severity | **{severity}**{' ' + when if when else ''} |"
    dispatch = (
        "automatic work order" if rule.dispatch else "by an operator (`POST /api/alerts/{id}/dispatch`)"
    )
    yield f"| dispatch | {dispatch}; trade `{trade}` |"
    for severity, _ in levels:
        yield f"| SLA ({severity}) | {sla(rule.id, rule.kind, severity)} |"
    yield f"| standard | {_cell(rule.standard)} |"
    yield ""


def _summary(rules: Sequence[Rule]) -> Iterator[str]:
    yield "| rule | kind | severity | dispatch | standard |"
    yield "|---|---|---|---|---|"
    for rule in rules:
        kind = f"`{rule.kind}`" if rule.kind else "—"
        auto = "auto" if rule.dispatch else "operator"
        link = f"[`{rule.id}`](#{rule.id.replace('.', '')})" + ("" if rule.enabled else " (opt-in)")
        yield f"| {link} | {kind} | {rule.severity} | {auto} | {_cell(rule.standard)} |"


_PATROL_CONDITIONS: dict[PatrolRule, str] = {
    PatrolRule.CHECKPOINT_MISSED: "a checkpoint not scanned by its due time + the plan's grace "
    "(`grace_min`, default {grace} min)",
    PatrolRule.ROUND_NOT_STARTED: "no scan {start} after a round's start",
    PatrolRule.ROUND_INCOMPLETE: "checkpoints unscanned when the round's slot (+ grace) ends",
    PatrolRule.TOO_FEW_GUARDS: "fewer guards at a checkpoint than the window's `min_guards`",
    PatrolRule.OUT_OF_ORDER: "a checkpoint first reached after one that comes later on the route",
    PatrolRule.UNKNOWN: "a scan naming a checkpoint or guard not in the inventory",
    PatrolRule.SOS: "event `sos` from a handset",
}
#: Judged like the others but not raised: ``alerts.patrol_watch`` keeps the scan as a dead letter.
_DEAD_LETTER_ONLY = {PatrolRule.UNKNOWN: "unknown_reference"}


def _patrol_rows() -> Iterator[str]:
    grace = PatrolPlan.model_fields["grace_min"].default
    start = seconds(PatrolPolicy().start_within.total_seconds())
    yield "| rule | raised by | severity | dispatch | SLA | standard | 告警 (zh-CN) / alert (English) |"
    yield "|---|---|---|---|---|---|---|"
    for rule in PatrolRule:
        text = _PATROL_CONDITIONS[rule].format(grace=grace, start=start)
        auto = "automatic" if rule.value in ALWAYS_DISPATCH else "operator"
        severity, deadlines = SEVERITY[rule].value, sla(rule.value, None, SEVERITY[rule])
        if rule in _DEAD_LETTER_ONLY:
            text += f": no alert, the scan is kept as the dead letter `{_DEAD_LETTER_ONLY[rule]}`"
            severity = auto = deadlines = "—"
        zh, en = MESSAGES[rule]
        yield (
            f"| `{rule.value}` | {text} | {severity} | {auto} | {deadlines} "
            f"| {_cell(STANDARD_OF_OTHER_RULES[rule.value])} | {_cell(zh)} / {_cell(en)} |"
        )


def _clear_after_s() -> float:
    """How long the broker's count must stand still before ``gateway.broker_dropping`` clears."""
    default: float = inspect.signature(DropCounter).parameters["clear_after_s"].default
    return default


def _system_rows() -> Iterator[str]:
    policy, after = Policy(), Settings.model_fields["stage_alarm_after"].default
    window = seconds(policy.flood_window.total_seconds())
    rows = (
        (
            BREACH_RULE,
            "a work order's accept, arrive or resolve deadline missed (once per deadline)",
            "the order's severity, at least minor",
            "cleared when the step is done or the order cancelled",
        ),
        (
            FLOOD_RULE,
            f"more than {policy.flood_start} alarms annunciated in {window} in an estate; "
            f"minor and info alarms held back meanwhile",
            "major",
            f"fewer than {policy.flood_end} in {window}",
        ),
        (
            STAGE_FAILED,
            f"a stage of the gateway failing {after} times in a row (`ESTATE_STAGE_ALARM_AFTER`), "
            "on `gateway/{instance}/alarm`, not in the alert book",
            "critical",
            "the stage's next success",
        ),
        (
            BROKER_DROPPING,
            f"the broker's own count of dropped messages (`{DROPPED_TOPIC}`) rose "
            "(`ESTATE_BROKER_WATCH`), on `gateway/{instance}/alarm`, not in the alert book",
            "critical",
            f"no new drop for {seconds(_clear_after_s())}",
        ),
    )
    yield "| rule | raised by | severity | cleared by | standard |"
    yield "|---|---|---|---|---|"
    for rule_id, raised, severity, clears in rows:
        standard = _cell(STANDARD_OF_OTHER_RULES[rule_id])
        yield f"| `{rule_id}` | {raised} | {severity} | {clears} | {standard} |"


def _ledger_rows() -> Iterator[str]:
    expired = ", ".join(
        f"**{sev}** for a {kind} {cert} certificate" for (kind, cert), sev in EXPIRED_SEVERITY.items()
    )
    rows = (
        (
            OVERDUE_RULE,
            "a plan's task not recorded by the end of its due day (local time), a lift's 15-day "
            "visit and a tank's cleaning included; one alarm per asset, whichever of its plans is "
            "late — except a device plan whose opt-in compliance rule the estate switched on (below)",
            "the plan's overdue severity (table below), raised once more to the worse one when it is "
            "late past the plan's `worse_after`",
            "a record of every late plan of the asset",
        ),
        (
            CERT_EXPIRING_RULE,
            f"a certificate of the asset (`estates[].assets[].certificates`) expiring within "
            f"{CERT_WARN_DAYS} days",
            "minor",
            "the certificate renewed (a later `expires`) or expired",
        ),
        (CERT_EXPIRED_RULE, "a certificate past its `expires` day", f"{expired}; else major", "renewed"),
        (
            CALENDAR_RULE,
            f"{WARN_BEFORE.days} days before the working-day calendar's coverage ends (chinesecalendar, "
            "or the inventory's lists for a year it lacks); working-day deadlines after that are "
            "computed conservatively: Monday to Friday with past years' public holidays off",
            "info",
            "the package or the lists cover the coming year",
        ),
    )
    yield "| rule | raised by | severity | cleared by | standard |"
    yield "|---|---|---|---|---|"
    for rule_id, raised, severity, clears in rows:
        standard = _cell(STANDARD_OF_OTHER_RULES[rule_id])
        yield f"| `{rule_id}` | {raised} | {severity} | {clears} | {standard} |"
    yield ""
    yield (
        "Each plan makes a **planned work order** (preventive, category `maintenance`) its lead time "
        "before the due day, routed to its trade's crew, its resolve deadline the end of the due day. "
        "One lateness is one alarm: that order running past its deadline is recorded on the order "
        f"(维修及时率) but raises no `{BREACH_RULE}`, the asset's `{OVERDUE_RULE}` being the alarm. "
        "Two device plans have an **opt-in** compliance rule in the catalogue, counting days since the "
        "device's own record event (the alarm column, in brackets). They are off by default, so "
        f"`{OVERDUE_RULE}` is the alarm of every plan; an estate that switches one on "
        "(`estates[].rules`) makes it the only source of that plan's alarm — the ledger then raises "
        f"no `{OVERDUE_RULE}` for it, and a crew's record moves the rule's clock on as the device's "
        "own event does."
    )
    yield ""
    yield "| plan | asset | task 任务 | every | order made | trade | overdue severity | alarm | standard |"
    yield "|---|---|---|---|---|---|---|---|---|"
    for plan in DEFAULT_PLANS:
        alarm = f"`{OVERDUE_RULE}`"
        if plan.id in ALARMED_BY:
            alarm += f" (opt-in: `{ALARMED_BY[plan.id][0]}`)"
        severity = str(plan.overdue_severity)
        if plan.worse_after is not None and plan.worse_severity is not None:
            severity += f"; {plan.worse_severity} when late more than {plan.worse_after}"
        yield (
            f"| `{plan.id}` | `{plan.kind}` | {_cell(plan.task)} / {_cell(plan.task_en)} | {plan.every} "
            f"| {plan.lead} ahead | `{plan.trade}` | {severity} | {alarm} "
            f"| {_cell(plan.standard)} |"
        )


_HEADER = """\
# Default alarm rules

<!-- Generated by `estate-gateway rules --markdown > docs/rules.md` from alerts/catalogue.py: do not
edit by hand. tests/gateway/test_rules_doc.py fails when this file differs from the catalogue. -->

Every alarm rule the gateway ships with, as the code defines it (`alerts/catalogue.py`, the
guard-tour rules of `alerts/patrol_plan.py`), with the standard or requirement each implements.
Every figure is a **default**: an estate changes any setting of a rule, or switches it off, in its
inventory (`estates[].rules`, docs/contract.md §4); the work-order deadlines shown are the
defaults of `dispatch/deadlines.py`, which an estate's own `sla_policies`, then the inventory's,
come before (docs/contract.md §7); the alarm-management figures (escalation, chattering, flood,
shelving, guard-tour severities) are set by `alarm_management`, for all estates or one. Alerts
follow the ISA-18.2 lifecycle of docs/contract.md §5.

**Severity** is what the alert is raised with; some rules raise a higher one in named
circumstances. **Dispatch** says whether a work order is made automatically or only when an
operator dispatches the alert, and which trade it goes to. **SLA** lists the order's default
clocks at each severity and the policies (`dispatch/deadlines.py`) that set them. **Standard**
names the source; "practice" marks an industry habit rather than a written figure, "(seed)" a
figure from the estate service plans the project was commissioned from.
"""


def render() -> str:
    """The whole of docs/rules.md."""
    lines = [_HEADER, "## Sources", "", "| source | what it covers |", "|---|---|"]
    lines += [f"| {name} | {what} |" for name, what in SOURCES]
    lines += ["", f"## All {len(DEFAULT_RULES)} catalogue rules", "", *_summary(DEFAULT_RULES), ""]
    kinds = sorted({rule.kind for rule in DEFAULT_RULES}, key=lambda kind: _KIND_SECTIONS[kind][0])
    for kind in kinds:
        number, title = _KIND_SECTIONS[kind]
        lines += [f"## {number}. {title}", ""]
        for rule in DEFAULT_RULES:
            if rule.kind == kind:
                lines += _rule_section(rule)
    lines += [f"## {_PATROL_SECTION}. Guard tour 电子巡更 (`alerts/patrol_plan.py`)", ""]
    lines += [*_patrol_rows(), ""]
    lines += [f"## {_SYSTEM_SECTION}. Alarms about the work and the gateway itself", "", *_system_rows(), ""]
    lines += [f"## {_LEDGER_SECTION}. The equipment ledger 设备台账 (`assets/`)", "", *_ledger_rows()]
    return "\n".join(lines) + "\n"


def listing() -> str:
    """A plain list of the rules for a terminal: id, kind, severity, dispatch, standard."""
    rows = [
        f"{rule.id:<32} {rule.kind or '-':<11} {rule.severity:<9} {'auto' if rule.dispatch else '-':<5} "
        f"{rule.standard}"
        for rule in DEFAULT_RULES
    ]
    return "\n".join(rows) + "\n"
