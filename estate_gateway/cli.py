"""``estate-gateway``: run, check-config, demo, rules, profile test, rollup (docs/contract.md §10)."""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from types import FrameType

import uvicorn

from alerts.catalogue import DEFAULT_RULES
from alerts.patrol_plan import PatrolRule
from alerts.rules import override_issues
from api.app import create_app
from api.auth import Principal, Role, TokenBook, TokensFile, token_book, token_issues
from assets.plans import plan_issues
from devices.inventory import Inventory, RefIssue, SlaPolicy
from devices.loader import InventoryError, check_inventory, load_inventory, load_yaml_model
from devices.workdays import WARN_BEFORE
from gateway import rules_doc
from gateway.broker import EmbeddedBroker, free_port
from gateway.ingest import Rejection, decode_vendor
from gateway.mqtt import redacted
from gateway.service import Gateway, build_gateway
from gateway.settings import Settings, command_settings
from profiles.route import VendorRouter
from reports import cli as rollup_cli
from simulators.simple import DEMO_INCIDENTS, SimpleSimulator

log = logging.getLogger("estate-gateway")


def sample_inventory_path() -> Path:
    return Path(str(resources.files("devices") / "samples" / "sunrise.yaml"))


def rule_checks(inventory: Inventory) -> list[RefIssue]:
    """The estates' alarm-rule overrides, checked against the default rules."""
    estates = [(e.id, e.rules) for e in inventory.estates]
    return [RefIssue(loc, message) for loc, message in override_issues(DEFAULT_RULES, estates)]


def sla_checks(inventory: Inventory) -> list[RefIssue]:
    """SLA policies naming rules that do not exist would silently never apply."""
    known = {rule.id for rule in DEFAULT_RULES} | {rule.value for rule in PatrolRule}
    lists: list[tuple[tuple[str | int, ...], list[SlaPolicy]]] = [(("sla_policies",), inventory.sla_policies)]
    lists += [(("estates", k, "sla_policies"), e.sla_policies) for k, e in enumerate(inventory.estates)]
    return [
        RefIssue((*loc, i, "rules", j), f"no alarm rule {rule!r}")
        for loc, policies in lists
        for i, policy in enumerate(policies)
        for j, rule in enumerate(policy.rules)
        if rule not in known
    ]


CHECKS = (rule_checks, sla_checks, plan_issues)


def _load_inventory_or_exit(path: Path) -> Inventory:
    try:
        return load_inventory(path, CHECKS)
    except InventoryError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        print(f"{path}: {len(exc.issues)} error(s); not starting", file=sys.stderr)
        raise SystemExit(2) from None


def _load_tokens_or_exit(path: Path, inventory: Inventory) -> TokenBook:
    try:
        config = load_yaml_model(path, TokensFile, [lambda c: token_issues(c, inventory)])
    except InventoryError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        print(f"{path}: {len(exc.issues)} error(s); not starting", file=sys.stderr)
        raise SystemExit(2) from None
    return token_book(config, inventory)


def cmd_check_config(args: argparse.Namespace) -> int:
    issues = check_inventory(Path(args.file), CHECKS)
    for issue in issues:
        print(issue)
    if issues:
        print(f"{args.file}: {len(issues)} error(s)", file=sys.stderr)
        return 1
    inventory = load_inventory(Path(args.file))
    devices = sum(len(e.devices) for e in inventory.estates)
    estates, crews = len(inventory.estates), len(inventory.crews)
    print(f"{args.file}: ok — {estates} estate(s), {devices} device(s), {crews} crew(s)")
    for warning in calendar_warnings(inventory, date.today()):
        print(f"{args.file}: warning: {warning}", file=sys.stderr)
    return 0


def calendar_warnings(inventory: Inventory, today: date) -> list[str]:
    """A working-day calendar that does not cover this year, or ends within 60 days (devices/workdays.py)."""
    calendars = [("calendar", inventory.calendar)]
    calendars += [
        (f"estates {e.id} holidays", e.holidays) for e in inventory.estates if e.holidays is not None
    ]
    out = []
    for where, calendar in calendars:
        end = calendar.coverage_end(today)
        if calendar.needs_schedule and (end is None or today >= end - WARN_BEFORE):
            until = f"ends on {end}" if end else f"does not cover {today.year}"
            out.append(
                f"{where}: the holiday schedule (chinesecalendar, and the lists) {until}; working-day "
                "deadlines after it are computed conservatively (Monday to Friday, "
                "past years' holidays off): update chinesecalendar or list the holidays"
            )
    return out


def cmd_rules(args: argparse.Namespace) -> int:
    """The rule catalogue: a plain list, or with ``--markdown`` the whole of docs/rules.md."""
    sys.stdout.write(rules_doc.render() if args.markdown else rules_doc.listing())
    return 0


class _StreamClosingServer(uvicorn.Server):
    """Ends the event streams as soon as a stop is asked for (Ctrl-C, SIGTERM): uvicorn waits for
    open responses before shutting down, and an event stream never ends by itself."""

    def __init__(self, config: uvicorn.Config, gateway: Gateway) -> None:
        super().__init__(config)
        self._gateway = gateway

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._gateway.events.close()
        super().handle_exit(sig, frame)


def _serve(
    gateway: Gateway, tokens: TokenBook, host: str, port: int, on_ready: threading.Event | None = None
) -> None:
    app = create_app(gateway, tokens)
    # A bound on a graceful shutdown: a client that keeps a connection open cannot hold the exit.
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=5
    )
    server = _StreamClosingServer(config, gateway)
    if on_ready is not None:

        def watch() -> None:
            while not server.started and not server.should_exit:
                threading.Event().wait(0.05)
            on_ready.set()

        threading.Thread(target=watch, daemon=True).start()
    server.run()


def cmd_run(args: argparse.Namespace) -> int:
    found = command_settings(args.settings, args.config)
    if found is None:
        return 2
    settings, inventory_path = found
    inventory = _load_inventory_or_exit(inventory_path)
    tokens = _load_tokens_or_exit(settings.tokens_file, inventory) if settings.tokens_file else TokenBook()
    admin = settings.admin_token.get_secret_value()
    if admin:
        tokens.add(admin, Principal("admin", Role.ADMIN))
    if not len(tokens):
        log.warning("no ESTATE_ADMIN_TOKEN and no ESTATE_TOKENS_FILE: only /health and /metrics answer")
    try:
        gateway = build_gateway(settings, inventory)
    except ValueError as exc:  # ESTATE_ESTATES names an estate the inventory does not have
        print(f"ESTATE_ESTATES: {exc}", file=sys.stderr)
        return 2
    log.info(
        "gateway %s: %d devices, broker %s, readings → %s, API http://%s:%d",
        settings.instance,
        len(gateway.registry),
        redacted(settings.mqtt_url),  # never the password
        gateway.sink.name,
        settings.api_host,
        settings.api_port,
    )
    _serve(gateway, tokens, settings.api_host, settings.api_port)
    return 0


def _demo_tokens() -> tuple[TokenBook, dict[str, str]]:
    shown: dict[str, str] = {}
    book = TokenBook()
    for name, role, crew in (
        ("admin", Role.ADMIN, None),
        ("operator", Role.OPERATOR, None),
        ("manager", Role.MANAGER, None),
        ("crew lift-team", Role.CREW, "lift-team"),
        ("simulator", Role.SIMULATOR, None),
    ):
        token = secrets.token_urlsafe(18)
        book.add(token, Principal(name, role, crew=crew))
        shown[name] = token
    return book, shown


def cmd_demo(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="estate-demo-"))
    broker = EmbeddedBroker()
    broker.start()
    inventory = load_inventory(sample_inventory_path())
    port = args.port if args.port is not None else (8000 if _port_free(8000) else free_port())
    settings = Settings(
        mqtt_url=broker.url,
        data_dir=data_dir,
        api_host="127.0.0.1",
        api_port=port,
        database_url="",
        influx_url="",
        instance="demo",
        inventory=sample_inventory_path(),
    )
    gateway = build_gateway(settings, inventory)
    tokens, shown = _demo_tokens()
    simulator = SimpleSimulator(inventory, broker.host, broker.port, seed=args.seed, incidents=DEMO_INCIDENTS)
    ready = threading.Event()

    def after_start() -> None:
        ready.wait()
        gateway.mqtt.wait_connected(10)
        simulator.start()
        _print_banner(settings, broker, shown, len(gateway.registry), data_dir)
        _report_progress(gateway)

    threading.Thread(target=after_start, name="demo", daemon=True).start()
    try:
        _serve(gateway, tokens, settings.api_host, settings.api_port, on_ready=ready)
    finally:
        simulator.stop()
        broker.stop()
    return 0


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _print_banner(
    settings: Settings, broker: EmbeddedBroker, tokens: dict[str, str], devices: int, data_dir: Path
) -> None:
    base = f"http://{settings.api_host}:{settings.api_port}"
    lines = [
        "",
        "Estate gateway demo — 朝阳小区 (sunrise), all devices simulated",
        f"  Console        {base}/   (paste the operator token; crews: {base}/crew with the crew token)",
        f"  API            {base}/api/devices   (OpenAPI: {base}/docs)",
        f"  Alerts         {base}/api/alerts  (scripted incidents in the first 2 minutes)",
        f"  Work orders    {base}/api/workorders  (the lift crew's token sees its own: crew lift-team)",
        f"  Health         {base}/health      Metrics: {base}/metrics",
        f"  MQTT broker    {broker.url}  (embedded; publish to estate/sunrise/<kind>/<device>/<channel>)",
        f"  Devices        {devices} in the inventory; data in {data_dir}",
        "  Tokens (Authorization: Bearer <token>):",
        *(f"    {name:<16}{token}" for name, token in tokens.items()),
        f"  Try: curl -H 'Authorization: Bearer {tokens['operator']}' {base}/api/devices?kind=lift",
        "  Ctrl-C stops the demo.",
        "",
    ]
    print("\n".join(lines), flush=True)


def _report_progress(gateway: Gateway, every_s: float = 15.0) -> None:
    """One line of progress now and then: what the operator would look at first."""
    stop = threading.Event()
    while not stop.wait(every_s):
        now_ns = gateway.now_ns()
        states = gateway.registry.list(now_ns)
        by_status = Counter(s.status(now_ns).value for s in states)
        stored = gateway.sink.stats.points_written
        dead = sum(gateway.dead_letters.counts().values())
        alerts = gateway.core.alerts.open_alerts(with_history=False)
        active = sum(1 for a in alerts if a.active)
        print(
            f"[demo] devices online {by_status.get('online', 0)}/{len(states)} · "
            f"readings stored {stored:,} · dead letters {dead} · open alerts {len(alerts)} ({active} active)"
            f" · work orders under way {len(gateway.core.orders.live())}",
            flush=True,
        )


def cmd_profile(args: argparse.Namespace) -> int:
    """``profile test``: what a vendor sample becomes for a device of the inventory (docs/contract.md
    §3.6), exactly as the gateway would take it now: readings and events, or the dead letter."""
    inventory = _load_inventory_or_exit(Path(args.inventory))
    found = [
        (e.id, d)
        for e in inventory.estates
        for d in e.devices
        if d.id == args.device and args.estate in (None, e.id)
    ]
    if len(found) != 1:
        where = "no such device" if not found else "in several estates: give --estate"
        print(f"{args.inventory}: device {args.device!r}: {where}", file=sys.stderr)
        return 2
    estate, config = found[0]
    if config.profile is None:
        print(f"{estate}/{config.id} has no profile: it publishes canonical JSON", file=sys.stderr)
        return 2
    payload = sys.stdin.buffer.read() if args.sample == "-" else Path(args.sample).read_bytes()
    topic = f"estate/{estate}/{config.kind.value}/{config.id}/raw"
    result = decode_vendor(topic, payload, time.time_ns(), VendorRouter(inventory))
    if isinstance(result, Rejection):
        print(f"dead letter {result.reason.value}: {result.detail}")
        return 1
    for reading in result or ():
        when = datetime.fromtimestamp(reading.time_ns / 1e9, UTC).isoformat(timespec="milliseconds")
        fields = json.dumps(dict(reading.fields), ensure_ascii=False)
        print(f"{reading.channel.value:<9} {when}  {fields if reading.fields else '(a sign of life)'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="estate-gateway", description="Estate facility monitoring gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the gateway with settings from ESTATE_* variables")
    run.add_argument("--config", help="inventory YAML (default: $ESTATE_INVENTORY)")
    run.add_argument("--settings", help="a settings file adding to the environment (KEY=value lines)")
    run.set_defaults(func=cmd_run)
    check = sub.add_parser("check-config", help="validate an inventory; print file:line: reason per error")
    check.add_argument("file")
    check.set_defaults(func=cmd_check_config)
    demo = sub.add_parser("demo", help="everything embedded: broker, SQLite, simulated sample estate")
    demo.add_argument("--port", type=int, default=None, help="API port (default 8000, or a free one)")
    demo.add_argument("--data-dir", default=None, help="where to keep data (default: a new temp dir)")
    demo.add_argument("--seed", type=int, default=1, help="simulator seed")
    demo.set_defaults(func=cmd_demo)
    rules = sub.add_parser("rules", help="list the default alarm rules with the standard each implements")
    rules.add_argument(
        "--markdown", action="store_true", help="print docs/rules.md (rules --markdown > docs/rules.md)"
    )
    rules.set_defaults(func=cmd_rules)
    profile = sub.add_parser("profile", help="profile test: what a vendor device's sample payload becomes")
    profile.add_argument("action", choices=["test"])
    profile.add_argument("--inventory", required=True, help="the inventory YAML naming the device's profile")
    profile.add_argument("--device", required=True, help="the device id")
    profile.add_argument("--estate", default=None, help="its estate, if the id is in several")
    profile.add_argument("sample", help="a file holding the payload as the device sends it (- for stdin)")
    profile.set_defaults(func=cmd_profile)
    rollup_cli.add_parser(sub, CHECKS)  # rollup --estate E --date YYYY-MM-DD [--to …]: past days' KPIs
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # APScheduler logs every run of the alarm tick at INFO, and each tick it skips while one is
    # still running at WARNING: 20 lines a second at x60. The ticker reports its own lateness.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        # Ctrl-C (SIGINT): uvicorn has shut the gateway down cleanly and raises the signal again
        # so that the exit status tells; a traceback would read like a crash.
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
