"""A scenario's references to its inventory and to the simulated world's faults: every estate,
device, crew, patrol plan and fault named must exist, and a fault must fit the device's kind.
Issues carry the location inside the scenario, so the loader can name the line."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from devices.inventory import DeviceConfig, Estate, Inventory, Loc, RefIssue
from simulators.scenario import AlertExpect, NoAlert, OrderExpect, Scenario, Step


def world_faults() -> Mapping[str, Any] | None:
    """``simulators.world.FAULTS``, or None while the world simulator is not installed."""
    try:
        from simulators.world import FAULTS  # noqa: PLC0415 - optional until the world simulator lands
    except ImportError:
        return None
    return dict(FAULTS)


def fault_kinds(spec: Any) -> set[str]:
    """The device kinds a fault applies to (empty: any kind)."""
    kinds = getattr(spec, "kinds", ()) or ()
    return {str(getattr(kind, "value", kind)) for kind in kinds}


def estate_wide(spec: Any) -> bool:
    """A fault of a whole estate, given without a device (``uplink_down``)."""
    return getattr(spec, "estate_wide", None) is not None


def check_references(scenario: Scenario, inventory: Inventory) -> list[RefIssue]:
    if not inventory.estates:
        return [RefIssue(("inventory",), "the inventory has no estate")]
    faults = world_faults()
    issues = [
        issue
        for i, step in enumerate(scenario.steps)
        for issue in _step(step, ("steps", i), inventory, faults)
    ]
    issues += _expectations(scenario, inventory)
    return issues


def _estate(inventory: Inventory, estate: str | None, loc: Loc) -> tuple[Estate | None, list[RefIssue]]:
    found = inventory.estate(estate) if estate else inventory.estates[0]
    if found is None:
        known = ", ".join(e.id for e in inventory.estates)
        return None, [RefIssue((*loc, "estate"), f"no estate {estate!r} in the inventory (it has {known})")]
    return found, []


def _device(estate: Estate, device: str | None, loc: Loc) -> list[RefIssue]:
    if device is None or estate.device(device) is not None:
        return []
    return [RefIssue((*loc, "device"), f"no device {device!r} in estate {estate.id}")]


def _step(step: Step, loc: Loc, inventory: Inventory, faults: Mapping[str, Any] | None) -> Iterator[RefIssue]:
    if step.publish is not None:
        return
    estate, issues = _estate(inventory, step.estate, loc)
    yield from issues
    if estate is None:
        return
    yield from _device(estate, step.device, loc)
    name = step.fault or step.clear or ""
    if faults is None:
        yield RefIssue((*loc, step.action), "fault and clear steps need simulators.world (not installed)")
        return
    config = estate.device(step.device or "")
    if name not in faults:
        yield RefIssue((*loc, step.action), f"unknown fault {name!r}; {_choices(faults, config)}")
        return
    wide = estate_wide(faults[name])
    if wide and step.device is not None:
        yield RefIssue((*loc, "device"), f"fault {name!r} is of a whole estate: it takes no device")
    elif not wide and step.device is None:
        yield RefIssue((*loc,), f"a {step.action} step needs a device ({name!r} is a device's fault)")
    elif config is not None:
        yield from _fits(step, loc, name, faults[name], estate, config)
    elif step.params:
        yield RefIssue((*loc, "params"), f"fault {name!r} takes no parameters")


def _choices(faults: Mapping[str, Any], config: DeviceConfig | None) -> str:
    if config is None:
        return f"known: {', '.join(sorted(faults))}"
    kind = config.kind.value
    fitting = sorted(
        name
        for name, spec in faults.items()
        if not estate_wide(spec) and (not fault_kinds(spec) or kind in fault_kinds(spec))
    )
    return f"a {kind} can have: {', '.join(fitting)}"


def _fits(
    step: Step, loc: Loc, name: str, spec: Any, estate: Estate, config: DeviceConfig
) -> Iterator[RefIssue]:
    """The fault suits the device, takes the parameters given, and clearing it means something."""
    kinds = fault_kinds(spec)
    if kinds and config.kind.value not in kinds:
        kind_list = ", ".join(sorted(kinds))
        yield RefIssue(
            (*loc, step.action), f"fault {name!r} is for {kind_list}, not {config.kind.value} ({config.id})"
        )
    if getattr(spec, "needs_children", False) and not estate.children(config.id):
        yield RefIssue((*loc, "device"), f"fault {name!r} needs a device with children; {config.id} has none")
    known = getattr(spec, "params", None)
    unknown = sorted(set(step.params) - set(known)) if known is not None else []
    if unknown:
        takes = ", ".join(sorted(known)) if known else "no parameters"
        yield RefIssue((*loc, "params"), f"fault {name!r} takes {takes}, not {', '.join(unknown)}")
    if step.clear is not None and not getattr(spec, "lasting", True):
        yield RefIssue((*loc, "clear"), f"fault {name!r} is a one-off event: clearing it does nothing")


def _expectations(scenario: Scenario, inventory: Inventory) -> list[RefIssue]:
    issues: list[RefIssue] = []
    expect = scenario.expect
    groups: tuple[tuple[str, Sequence[AlertExpect | NoAlert | OrderExpect]], ...] = (
        ("alerts", expect.alerts),
        ("no_alerts", expect.no_alerts),
        ("workorders", expect.workorders),
    )
    for group, items in groups:
        for i, item in enumerate(items):
            loc: Loc = ("expect", group, i)
            estate, found = _estate(inventory, item.estate, loc)
            issues += found
            if estate is not None:
                issues += _device(estate, item.device, loc)
    crews = {crew.id for crew in inventory.crews}
    for i, order in enumerate(expect.workorders):
        if order.crew is not None and order.crew not in crews:
            loc = ("expect", "workorders", i, "crew")
            issues.append(RefIssue(loc, f"no crew {order.crew!r} in the inventory"))
    for i, patrol in enumerate(expect.patrols):
        issues += _patrol(
            patrol.estate, patrol.plan, patrol.window, patrol.number, ("expect", "patrols", i), inventory
        )
    return issues


def _patrol(
    estate_id: str | None, plan_id: str, window: str, number: int, loc: Loc, inventory: Inventory
) -> list[RefIssue]:
    estate, issues = _estate(inventory, estate_id, loc)
    if estate is None:
        return issues
    plan = next((p for p in estate.patrols if p.id == plan_id), None)
    if plan is None:
        return [RefIssue((*loc, "plan"), f"no patrol plan {plan_id!r} in estate {estate.id}")]
    found = next((w for w in plan.windows if w.name == window), None)
    if found is None:
        names = ", ".join(w.name for w in plan.windows)
        return [RefIssue((*loc, "window"), f"plan {plan_id} has no window {window!r} (it has {names})")]
    if number > found.rounds:
        return [RefIssue((*loc, "number"), f"window {window} of plan {plan_id} has {found.rounds} rounds")]
    return []
