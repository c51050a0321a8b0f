"""``estate-sim``: simulated devices for an inventory (SPEC §10).

Only ``run`` exists so far, with the simple simulator; scenarios and load are issue 7.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

from devices.loader import InventoryError, load_inventory
from simulators.simple import SimpleSimulator


def cmd_run(args: argparse.Namespace) -> int:
    try:
        inventory = load_inventory(Path(args.inventory))
    except InventoryError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 2
    broker = urlsplit(args.broker)
    simulator = SimpleSimulator(
        inventory, broker.hostname or "127.0.0.1", broker.port or 1883, seed=args.seed
    )
    simulator.start()
    devices = sum(len(e.devices) for e in inventory.estates)
    print(f"simulating {devices} devices against {args.broker}; Ctrl-C stops", flush=True)
    stop = threading.Event()
    try:
        while not stop.wait(10):
            print(f"sent {simulator.sent:,} messages", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="estate-sim", description="Simulated estate devices")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="simulate every device of an inventory")
    run.add_argument("--broker", required=True, help="mqtt://host:port")
    run.add_argument("--inventory", required=True, help="inventory YAML")
    run.add_argument("--seed", type=int, default=1)
    run.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
