"""Lift terminals (GB/T 24476 lift IoT): car position, doors, service mode, faults.

Fault codes are GB/T 24476's, named as docs/contract.md §3.3 lists them; the alert rules key on them.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from devices.base import Kind, KindSpec, Payload, Trade


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"
    STOP = "stop"


class Door(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Mode(StrEnum):
    """Service mode of the car; fire, firefighter and earthquake modes suppress other lift alarms."""

    NORMAL = "normal"
    INSPECTION = "inspection"
    FIRE = "fire"
    FIREFIGHTER = "firefighter"
    EMERGENCY_POWER = "emergency_power"
    OUT_OF_SERVICE = "out_of_service"
    EARTHQUAKE = "earthquake"


class Power(StrEnum):
    NORMAL = "normal"
    OUTAGE = "outage"


class LiftFaultCode(StrEnum):
    """Fault and event codes of GB/T 24476, as this project names them (docs/contract.md §3.3)."""

    ENTRAPMENT = "entrapment"
    ALARM_BUTTON = "alarm_button"
    UNINTENDED_MOVEMENT = "unintended_movement"
    DOOR_OPEN_WHILE_RUNNING = "door_open_while_running"
    OVERTRAVEL_TOP = "overtravel_top"
    OVERTRAVEL_BOTTOM = "overtravel_bottom"
    OVERSPEED = "overspeed"
    SAFETY_CIRCUIT_OPEN = "safety_circuit_open"
    DOOR_LOCK_CIRCUIT_OPEN = "door_lock_circuit_open"
    STOPPED_OUTSIDE_DOOR_ZONE = "stopped_outside_door_zone"
    DOOR_OPEN_FAILURE = "door_open_failure"
    DOOR_CLOSE_FAILURE = "door_close_failure"
    POSITION_LOST = "position_lost"
    POWER_LOSS = "power_loss"
    MOTOR_RUNTIME_LIMITER = "motor_runtime_limiter"  # GB/T 24476 fault code 06: 电动机运转时间限制器动作
    RESTART_PREVENTED = "restart_prevented"  # GB/T 24476 fault code 08: 其他阻止电梯再启动的故障


class LiftEvent(StrEnum):
    FAULT = "fault"
    FAULT_CLEARED = "fault_cleared"
    MAINTENANCE = "maintenance"


class LiftTelemetry(Payload):
    floor: int | None = Field(None, ge=-10, le=300, description="Floor the car is at (negative: basement)")
    direction: Direction | None = Field(None, strict=False, description="Direction of travel")
    door: Door | None = Field(None, strict=False, description="Car door state")
    door_zone: bool | None = Field(None, description="Car is inside the door (unlocking) zone")
    passenger: bool | None = Field(None, description="Someone is in the car")
    mode: Mode | None = Field(None, strict=False, description="Service mode")
    speed_m_s: float | None = Field(None, ge=0, le=20, description="Car speed in m/s")
    power: Power | None = Field(None, strict=False, description="Mains power state")


class LiftFault(Payload):
    """Fields of both ``fault`` and ``fault_cleared``: the clearing event names the code it clears."""

    code: LiftFaultCode = Field(strict=False, description="Fault code (GB/T 24476)")


class LiftMaintenance(Payload):
    technician: str = Field(min_length=1, max_length=64, description="Who did the maintenance")


SPEC = KindSpec(
    kind=Kind.LIFT,
    trade=Trade.LIFT,
    telemetry=LiftTelemetry,
    events={
        LiftEvent.FAULT: LiftFault,
        LiftEvent.FAULT_CLEARED: LiftFault,
        LiftEvent.MAINTENANCE: LiftMaintenance,
    },
    default_heartbeat_s=60,
    description="Passenger lift terminal: position, doors, mode, faults (GB/T 24476)",
)
