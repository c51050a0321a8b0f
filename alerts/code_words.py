"""Fault codes in words for the messages the gateway writes (alarm texts, notifications): a
person reads 困人, not ``entrapment`` (issue 23: no raw codes). Codes not listed stay as they are."""

from __future__ import annotations

from devices.kinds.lift import LiftFaultCode as C

CODE_WORDS: dict[str, tuple[str, str]] = {
    C.ENTRAPMENT: ("困人", "passenger trapped"),
    C.ALARM_BUTTON: ("报警按钮", "alarm button"),
    C.UNINTENDED_MOVEMENT: ("轿厢意外移动", "unintended car movement"),
    C.DOOR_OPEN_WHILE_RUNNING: ("开门走梯", "moving with the doors open"),
    C.OVERTRAVEL_TOP: ("冲顶", "overtravel at the top"),
    C.OVERTRAVEL_BOTTOM: ("蹲底", "overtravel at the bottom"),
    C.OVERSPEED: ("超速", "overspeed"),
    C.SAFETY_CIRCUIT_OPEN: ("安全回路断路", "safety circuit open"),
    C.DOOR_LOCK_CIRCUIT_OPEN: ("门锁回路断路", "door lock circuit open"),
    C.STOPPED_OUTSIDE_DOOR_ZONE: ("平层区外停梯", "stopped outside the door zone"),
    C.DOOR_OPEN_FAILURE: ("开门故障", "doors fail to open"),
    C.DOOR_CLOSE_FAILURE: ("关门故障", "doors fail to close"),
    C.POSITION_LOST: ("位置丢失", "car position lost"),
    C.POWER_LOSS: ("停电", "power loss"),
    C.MOTOR_RUNTIME_LIMITER: ("电动机运转时间限制器动作", "motor run-time limiter tripped"),
    C.RESTART_PREVENTED: ("阻止再启动的故障", "fault preventing a restart"),
}


def code_words(code: object) -> tuple[object, object]:
    """The code in Chinese and in English; an unknown code (or none) as it is."""
    words = CODE_WORDS.get(code) if isinstance(code, str) else None
    return words if words is not None else (code, code)
