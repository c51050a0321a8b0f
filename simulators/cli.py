"""``estate-sim``: simulated devices for an inventory (docs/contract.md §10).

One function per subcommand (``cmd_<name>``) and its parser in ``build_parser``; ``run`` drives
the simulated world (``simulators/world.py``) in real time (``simulators/live.py``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devices.loader import InventoryError, load_inventory
from simulators.live import Broker, MqttSink, Progress, drive
from simulators.lockstep import Ticks, drive_lockstep
from simulators.scenario_io import GatewayApi, GatewayClock, RunError
from simulators.scenario_lockstep import SETTLE_S
from simulators.world import World


def cmd_run(args: argparse.Namespace) -> int:
    try:
        inventory = load_inventory(Path(args.inventory))
    except InventoryError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 2
    try:
        broker = Broker.from_url(args.broker)
        if args.gateway is not None and args.start is not None:
            raise ValueError("--start and --gateway exclude each other: the gateway's clock gives the start")
        start, speed = _start(args.start), args.speed or 1.0  # a bad --start is told before connecting
        if args.speed is not None and args.speed <= 0:
            raise ValueError("--speed must be positive")
        if args.duration is not None and args.duration < 0:
            raise ValueError("--duration must not be negative")
        sink = MqttSink(broker, client_id=f"estate-sim-{args.seed}-{os.getpid()}")
        clock_topic = None
        if args.gateway is not None:  # read after connecting, so the connection takes none of its time
            clock = _gateway_clock(args.gateway, args.speed)
            start, speed, clock_topic = clock.now, clock.speed, clock.topic
    except (ValueError, OSError, RunError) as exc:
        print(f"estate-sim run: {exc}", file=sys.stderr)
        return 2
    world = World(inventory, seed=args.seed, start=start)
    devices = sum(len(e.devices) for e in inventory.estates)
    print(
        f"simulating {devices} devices from {start.isoformat()} at ×{speed:g} against {args.broker}"
        + (
            f"; driving the clock of the gateway {args.gateway} (lock-step on {clock_topic})"
            if clock_topic
            else f"; on the clock of the gateway {args.gateway}"
            if args.gateway
            else f"; the gateway's clock: ESTATE_CLOCK_SPEED={speed:g} ESTATE_CLOCK_START={start.isoformat()}"
        )
        + "; Ctrl-C stops",
        flush=True,
    )
    stop = threading.Event()
    sent = 0
    try:
        if clock_topic is not None and args.gateway is not None:
            sent = _drive_lockstep(world, sink, args.gateway, clock_topic, args.duration, stop)
        else:
            sent = drive(world, sink, speed=speed, stop=stop, duration_s=args.duration, progress=_progress)
    except KeyboardInterrupt:
        stop.set()
        sent = sink.sent
    except RunError as exc:  # the gateway stopped settling (down, or stuck): nothing more to drive
        print(f"estate-sim run: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        sink.close()
    print(f"done: simulated time {world.now.isoformat()} · {sent:,} messages sent", flush=True)
    return 0


def _start(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--start {text!r} is not ISO 8601") from None
    if when.tzinfo is None:
        raise ValueError(f"--start {text!r} needs a UTC offset, e.g. {text}+08:00")
    return when.astimezone(UTC)


def _gateway_clock(url: str, speed: float | None) -> GatewayClock:
    """The running gateway's clock from its ``/health`` (no token needed), ``now`` carried forward
    to this instant unless the gateway is driven (then it waits for our clock messages); a
    ``--speed`` that differs from the gateway's is refused."""
    api = GatewayApi(url, token=None)
    try:
        clock = api.clock()
    finally:
        api.close()
    if speed is not None and speed != clock.speed:
        raise ValueError(
            f"--speed {speed:g} but the gateway {url} runs at ×{clock.speed:g}: leave out --speed"
        )
    if clock.topic is not None:
        return clock
    ahead = timedelta(seconds=(time.monotonic() - clock.at) * clock.speed)
    return replace(clock, now=(clock.now + ahead).astimezone(UTC))


def _drive_lockstep(
    world: World, sink: MqttSink, gateway: str, topic: str, duration_s: float | None, stop: threading.Event
) -> int:
    """Lock-step, unpaced: as fast as the gateway settles (simulators.lockstep.drive_lockstep),
    with a progress line every simulated hour."""
    api = GatewayApi(gateway, token=None)
    end = world.now + timedelta(seconds=duration_s) if duration_s is not None else None
    last_hour = [world.now]

    def report(at: datetime, sent: int) -> None:
        if at - last_hour[0] >= timedelta(hours=1):
            last_hour[0] = at
            _progress(Progress(at, sent))

    try:
        return drive_lockstep(
            world,
            sink,
            Ticks(topic, world.now),
            lambda when: api.wait_settled(when, SETTLE_S),
            end=end,
            stop=stop,
            on_window=report,
        )
    finally:
        api.close()


def _progress(progress: Progress) -> None:
    print(
        f"simulated {progress.simulated.isoformat(timespec='seconds')} · {progress.sent:,} messages sent",
        flush=True,
    )


def cmd_scenario(args: argparse.Namespace) -> int:
    from simulators.scenario import ScenarioError, load_scenario  # noqa: PLC0415 - only this command
    from simulators.scenario_runner import UNUSABLE, run_scenario  # noqa: PLC0415

    try:
        loaded = load_scenario(args.file)
    except ScenarioError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return UNUSABLE
    return run_scenario(loaded, args.gateway, args.token, args.broker, seed=args.seed, wait_s=args.wait)


def cmd_load(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn  # noqa: PLC0415

    from simulators.load import load_devices, run_load  # noqa: PLC0415 - only this command

    try:
        broker = Broker.from_url(args.broker)
        inventory = load_inventory(Path(args.inventory)) if args.inventory else None
    except (ValueError, InventoryError) as exc:
        print(exc, file=sys.stderr)
        return 2
    devices = load_devices(args.devices, inventory)
    with Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
    ) as bar:
        task = bar.add_task(
            f"{args.devices:,} devices at {args.rate:,.0f} msg/s", total=int(args.rate * args.duration)
        )
        summary = run_load(
            broker.host,
            broker.port,
            devices=devices,
            rate=args.rate,
            duration_s=args.duration,
            seed=args.seed,
            progress=lambda sent, _total: bar.update(task, completed=sent),
        )
    print(summary, flush=True)
    return 0 if summary.acknowledged == summary.sent else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="estate-sim", description="Simulated estate devices")
    sub = parser.add_subparsers(dest="command", required=True)
    # -- estate-sim run ------------------------------------------------------------------------
    run = sub.add_parser("run", help="simulate every device of an inventory, in real time")
    run.add_argument("--broker", required=True, help="mqtt://[user[:password]@]host[:port]")
    run.add_argument("--inventory", required=True, help="inventory YAML")
    run.add_argument(
        "--speed", type=float, default=None, help="simulated s per wall s (default 1, or the gateway's)"
    )
    run.add_argument("--seed", type=int, default=1, help="same seed, same messages (default 1)")
    run.add_argument("--start", default=None, help="simulated start, ISO 8601 with offset (default now)")
    run.add_argument(
        "--gateway",
        default=None,
        help="follow a running gateway's clock: start at its now and run at its speed (reads GET URL/health)",
    )
    run.add_argument("--duration", type=float, default=None, help="stop after S simulated seconds (exit 0)")
    run.set_defaults(func=cmd_run)
    # -- estate-sim scenario --------------------------------------------------------------------
    scenario = sub.add_parser("scenario", help="run a scenario against a gateway and check what it expects")
    scenario.add_argument("file", help="scenario YAML")
    scenario.add_argument("--gateway", required=True, help="the gateway's API, e.g. http://127.0.0.1:8000")
    scenario.add_argument("--token", required=True, help="bearer token (simulator, operator or admin)")
    scenario.add_argument("--broker", required=True, help="mqtt://host:port")
    scenario.add_argument("--seed", type=int, default=None, help="overrides the scenario's seed")
    scenario.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="S",
        help="wait up to S s for the gateway to come up (start both together: at x60 every wall "
        "second the runner starts late is a simulated minute the devices were silent)",
    )
    scenario.set_defaults(func=cmd_scenario)
    # -- estate-sim load --------------------------------------------------------------------------
    load = sub.add_parser("load", help="sustained QoS 1 load for benchmarks, with progress and a summary")
    load.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="mqtt://host:port")
    load.add_argument("--devices", type=int, required=True, help="how many devices take turns")
    load.add_argument("--rate", type=float, required=True, help="messages per second")
    load.add_argument("--duration", type=float, required=True, help="seconds")
    load.add_argument("--inventory", default=None, help="use this inventory's devices (else synthetic ids)")
    load.add_argument("--seed", type=int, default=1)
    load.set_defaults(func=cmd_load)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
