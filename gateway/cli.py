"""``estate-gateway``: run, check-config, demo, rules (docs/contract.md §10)."""

from __future__ import annotations

import argparse
import logging
import secrets
import socket
import sys
import tempfile
import threading
from collections import Counter
from importlib import resources
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from alerts.catalogue import DEFAULT_RULES
from alerts.patrol_plan import PatrolRule
from alerts.rules import override_issues
from api.app import create_app
from api.auth import Principal, Role, TokenBook, TokensFile, token_book, token_issues
from devices.inventory import Inventory, RefIssue
from devices.loader import InventoryError, check_inventory, load_inventory, load_yaml_model
from gateway import rules_doc
from gateway.broker import EmbeddedBroker, free_port
from gateway.mqtt import redacted
from gateway.service import Gateway, build_gateway
from gateway.settings import Settings, load_settings
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
    return [
        RefIssue(("sla_policies", i, "rules", j), f"no alarm rule {rule!r}")
        for i, policy in enumerate(inventory.sla_policies)
        for j, rule in enumerate(policy.rules)
        if rule not in known
    ]


CHECKS = (rule_checks, sla_checks)


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
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    """The rule catalogue: a plain list, or with ``--markdown`` the whole of docs/rules.md."""
    sys.stdout.write(rules_doc.render() if args.markdown else rules_doc.listing())
    return 0


def _serve(
    gateway: Gateway, tokens: TokenBook, host: str, port: int, on_ready: threading.Event | None = None
) -> None:
    app = create_app(gateway, tokens)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    if on_ready is not None:

        def watch() -> None:
            while not server.started and not server.should_exit:
                threading.Event().wait(0.05)
            on_ready.set()

        threading.Thread(target=watch, daemon=True).start()
    server.run()


def cmd_run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(Path(args.settings) if args.settings else None)
    except ValidationError as exc:
        print(f"settings: {exc}", file=sys.stderr)
        return 2
    inventory_path = Path(args.config) if args.config else settings.inventory
    if inventory_path is None:
        print("no inventory: set ESTATE_INVENTORY or pass --config FILE", file=sys.stderr)
        return 2
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
        alerts = gateway.alarms.book.open_alerts()
        active = sum(1 for a in alerts if a.active)
        print(
            f"[demo] devices online {by_status.get('online', 0)}/{len(states)} · "
            f"readings stored {stored:,} · dead letters {dead} · open alerts {len(alerts)} ({active} active)"
            f" · work orders under way {len(gateway.dispatcher.live)}",
            flush=True,
        )


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
