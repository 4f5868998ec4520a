"""The `fmd-robot` command line."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import tempfile
import threading
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fmd.codes import PackIdentifier, ParsedScan, parse_scan
from fmd.codes.escapes import show_controls, unescape_controls
from fmd.hub import HubResult, HubUnavailable, MockHub, PackState
from fmd.hub.resilient import ResilientHub
from fmd.policy import Decision, SitePolicy
from robot_controller.cli_robot import robot_app, sim_plc, sim_serial_robot
from robot_controller.cli_scanners import scan, scanner_check, sim_camera, sim_scanner
from robot_controller.config import Config, ConfigError, load_config
from robot_controller.console import err, fail, out
from robot_controller.demo import DemoOptions, DemoReport, run_demo
from robot_controller.demo_robots import ROBOT_KINDS
from robot_controller.demo_scanners import SCANNER_KINDS
from robot_controller.hub_connection import HUB_KINDS
from robot_controller.logs import configure_logging
from robot_controller.outbox import ReplayReport, replay
from robot_controller.parsed_json import parsed_as_json
from robot_controller.pipeline import utc_now
from robot_controller.runtime import build_daemon, build_hub, close_hub
from robot_controller.store import Store
from simulators.delivery import generate_delivery, seed_hub
from simulators.hub import Faults, HubSimulator

app = typer.Typer(
    name="fmd-robot",
    help="EU FMD verification for pharmacy dispensing robots.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


sim = typer.Typer(help="Run a simulated device standalone.", no_args_is_help=True)
app.add_typer(sim, name="sim")
outbox = typer.Typer(help="State changes and checks waiting for the hub.", no_args_is_help=True)
app.add_typer(outbox, name="outbox")
app.command("scan")(scan)
app.command("scanner-check")(scanner_check)
sim.command("scanner")(sim_scanner)
sim.command("camera")(sim_camera)
sim.command("plc")(sim_plc)
sim.command("serial-robot")(sim_serial_robot)
app.add_typer(robot_app, name="robot")
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML configuration file (default: embedded).")
]


def _settings(config: Path | None) -> Config:
    try:
        return load_config(config)
    except ConfigError as error:
        raise fail(str(error)) from None


@outbox.command("status")
def outbox_status(config: ConfigOption = None) -> None:
    """Show what the outbox holds, by operation and status."""
    settings = _settings(config)
    store = Store.open(settings.store.url)
    try:
        counts = store.outbox_counts()
    finally:
        store.close()
    table = Table(title="Outbox", title_justify="left")
    for column in ("operation", "status", "intents"):
        table.add_column(column, justify="right" if column == "intents" else "left")
    for (operation, status), count in sorted(counts.items()):
        table.add_row(operation, status, str(count))
    out.print(table)
    pending = sum(n for (_, status), n in counts.items() if status == "pending")
    out.print(f"{pending} waiting for the hub.")


@outbox.command("replay")
def outbox_replay(config: ConfigOption = None) -> None:
    """Send what the outbox holds to the configured hub, oldest first."""
    settings = _settings(config)
    configure_logging(level="warning", stream=sys.stderr)
    try:
        report = asyncio.run(_replay(settings))
    except ConfigError as error:
        raise fail(str(error)) from None
    out.print(
        f"{report.done} done, {report.failed} refused by the hub, {report.flagged} flagged for "
        f"the operator (packs {', '.join(map(str, report.flagged_tokens)) or 'none'})",
        highlight=False,
    )
    if report.stopped:
        raise fail(f"stopped with {report.left} left: {report.stopped}", code=1)


async def _replay(settings: Config) -> ReplayReport:
    delivery = generate_delivery(
        settings.simulation.packs,
        seed=settings.simulation.seed,
        suspect_rate=settings.simulation.suspect_rate,
    )
    hub = await build_hub(settings, delivery)
    store = await asyncio.to_thread(Store.open, settings.store.url)
    try:
        resilient = hub if isinstance(hub, ResilientHub) else ResilientHub(hub)
        # packs still being loaded belong to the running daemon, never to this command
        return await replay(store, resilient, clock=utc_now, finished_packs_only=True)
    finally:
        await close_hub(hub)
        store.close()


def main() -> None:
    app()


@app.command()
def parse(
    raw: Annotated[
        str,
        typer.Argument(
            help="The scan; control characters as <GS>, <RS>, "
            "<EOT>, <FNC1> or \\x1d; may start with ]d2."
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    separator: Annotated[
        str | None, typer.Option(help="A substitute character the scanner sends for GS.")
    ] = None,
) -> None:
    """Parse one scan and show its unique identifier and any problems.

    Exit 0 when the scan is a pack UI, 1 when it is not, 2 on usage errors.
    """
    if separator is not None and len(unescape_controls(separator)) != 1:
        raise fail("--separator takes exactly one character")
    separators = "\x1d" + (unescape_controls(separator) if separator else "")
    parsed = parse_scan(unescape_controls(raw), separators=separators)
    if as_json:
        sys.stdout.write(json.dumps(parsed_as_json(parsed), ensure_ascii=False) + "\n")
    else:
        _show_parsed(parsed)
    raise typer.Exit(0 if parsed.ui is not None else 1)


def _show_parsed(parsed: ParsedScan) -> None:
    table = Table(show_header=False, box=None)
    table.add_row("scan", show_controls(parsed.raw[:200]))
    for key, value in parsed_as_json(parsed).items():
        if key != "problems":
            table.add_row(key, "—" if value is None else str(value))
    out.print(table)
    for problem in parsed.problems:
        colour = "red" if problem.severity == "error" else "yellow"
        out.print(
            f"[{colour}]{problem.severity}[/] {problem.code}: {problem.message}", highlight=False
        )
    verdict = "[green]pack UI[/]" if parsed.ui else "[red]not a pack UI[/]"
    out.print(f"{verdict}; {'send to the hub' if parsed.submit else 'do not send: rescan'}")


@app.command()
def demo(
    packs: Annotated[int, typer.Option(min=0, help="Packs in the delivery.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the delivery (same seed, same run).")] = 1,
    suspect_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of suspect packs.")
    ] = 0.1,
    mode: Annotated[
        str, typer.Option(help="hospital (decommission at loading) or community.")
    ] = "hospital",
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
    db: Annotated[Path | None, typer.Option(help="SQLite file (default: a new one).")] = None,
    hub_latency_ms: Annotated[float, typer.Option(min=0.0, help="Simulated hub latency.")] = 0.0,
    move_time_ms: Annotated[float, typer.Option(min=0.0, help="Robot time per move.")] = 0.0,
    hub: Annotated[
        str, typer.Option(help="mock (in process), or soap / rest over HTTPS to the simulator.")
    ] = "soap",
    scanner: Annotated[
        str,
        typer.Option(
            help="script (in process), serial (a virtual scanner on a pty) or camera "
            "(a generated video read through OpenCV)."
        ),
    ] = "script",
    robot: Annotated[
        str,
        typer.Option(
            help="modbus-tcp (a simulated PLC on loopback), modbus-rtu / serial (simulated "
            "robots over ptys) or sim (in process)."
        ),
    ] = "modbus-tcp",
) -> None:
    """Load a generated delivery (genuine and suspect packs) through the whole pipeline."""
    if mode not in ("hospital", "community"):
        raise fail(f"--mode must be hospital or community, not {mode!r}")
    if hub not in HUB_KINDS:
        raise fail(f"--hub must be one of {', '.join(HUB_KINDS)}, not {hub!r}")
    if robot not in ROBOT_KINDS:
        raise fail(f"--robot must be one of {', '.join(ROBOT_KINDS)}, not {robot!r}")
    if scanner not in SCANNER_KINDS:
        raise fail(f"--scanner must be one of {', '.join(SCANNER_KINDS)}, not {scanner!r}")
    if db is not None and db.exists():
        raise fail(f"{db} exists; the demo needs a fresh store (choose another --db)")
    folder = Path(tempfile.mkdtemp(prefix="fmd-robot-demo-"))
    options = DemoOptions(
        packs=packs,
        seed=seed,
        suspect_rate=suspect_rate,
        site=replace(SitePolicy(), mode=mode),  # type: ignore[arg-type]
        db=db or folder / "fmd-robot.db",
        hub_latency_s=hub_latency_ms / 1000,
        move_time_s=move_time_ms / 1000,
        hub=hub,
        scanner=scanner,
        robot=robot,
    )
    with (folder / "fmd-robot.log").open("w", encoding="utf-8") as log_file:
        configure_logging(stream=log_file)
        try:
            report = _run_demo_with_progress(options, quiet=as_json)
        finally:
            configure_logging(level="warning", stream=sys.stderr)
    if as_json:
        sys.stdout.write(json.dumps(report.as_json()) + "\n")
    else:
        _show_report(report, folder / "fmd-robot.log")
    raise typer.Exit(0 if report.misrouted == report.lost == report.moved_twice == 0 else 1)


def _run_demo_with_progress(options: DemoOptions, *, quiet: bool) -> DemoReport:
    progress = Progress(
        TextColumn("loading delivery"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[routes]}"),
        TimeElapsedColumn(),
        console=err,
        disable=quiet or not err.is_terminal,
    )
    routes: Counter[str] = Counter()
    with progress:
        task = progress.add_task("packs", total=options.packs, routes="")

        def routed(_token: int, route: str, _decision: Decision) -> None:
            routes[route] += 1
            shown = " ".join(f"{name} {count}" for name, count in sorted(routes.items()))
            progress.update(task, advance=1, routes=shown)

        return asyncio.run(run_demo(options, on_routed=routed))


def _show_report(report: DemoReport, log_path: Path) -> None:
    table = Table(title="Delivery loaded", title_justify="left")
    table.add_column("pack kind")
    for route in ("shelved", "quarantined", "rejected", "lost"):
        table.add_column(route, justify="right")
    for kind, routes in sorted(report.by_kind.items()):
        table.add_row(
            kind,
            *(str(routes.get(r, 0) or "") for r in ("shelved", "quarantined", "rejected", "lost")),
        )
    out.print(table)
    verdict = (
        "[green]every pack routed as expected, none moved twice[/]"
        if report.misrouted == report.moved_twice == 0
        else f"[red]{report.misrouted} packs misrouted, {report.moved_twice} moved twice[/]"
    )
    out.print(
        f"{report.packs} packs in {report.elapsed_s:.2f} s ({report.packs_per_s:.0f} packs/s): "
        f"{report.shelved} shelved, {report.quarantined} quarantined, {report.rejected} rejected; "
        f"{report.decommissioned} decommissioned, {report.alerts} alerts, {report.lost} lost. "
        f"{verdict}",
        highlight=False,
    )
    out.print(f"store: {report.db}\nlog:   {log_path}", highlight=False)


@app.command()
def verify(
    raw: Annotated[str, typer.Argument(help="The scan, spelled as for `parse`.")],
    config: Annotated[
        Path | None, typer.Option(help="TOML configuration file (default: embedded defaults).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Check one scan against the configured hub and print its answer.

    Exit 0 when the pack is ACTIVE, 1 when it is not (or the hub did not answer), 2 on usage
    or configuration errors.
    """
    try:
        settings = load_config(config)
    except ConfigError as error:
        raise fail(str(error)) from None
    parsed = parse_scan(unescape_controls(raw), separators=settings.site.separators)
    if parsed.ui is None or not parsed.submit:
        _show_parsed(parsed)
        raise typer.Exit(1)
    configure_logging(level="warning", stream=sys.stderr)
    try:
        result = asyncio.run(_verify_once(settings, parsed.ui))
    except ConfigError as error:
        raise fail(str(error)) from None
    except HubUnavailable as error:
        raise fail(f"the hub did not answer: {error}", code=1) from None
    answer = {
        "outcome": result.outcome,
        "return_code": result.return_code,
        "state": result.state.value,
        "reasons": [r.value for r in result.reasons],
        "alert_id": result.alert_id,
        "message": result.message,
        "latency_ms": round(result.latency_s * 1000, 1),
    }
    if as_json:
        sys.stdout.write(json.dumps(answer) + "\n")
    else:
        table = Table(show_header=False, box=None)
        for key, value in answer.items():
            table.add_row(key, "—" if value in (None, []) else str(value))
        out.print(table)
    ok = result.outcome == "ok" and result.state is PackState.ACTIVE
    raise typer.Exit(0 if ok else 1)


async def _verify_once(settings: Config, ui: PackIdentifier) -> HubResult:
    delivery = generate_delivery(
        settings.simulation.packs,
        seed=settings.simulation.seed,
        suspect_rate=settings.simulation.suspect_rate,
    )
    hub = await build_hub(settings, delivery)
    try:
        return await hub.verify(ui)
    finally:
        await close_hub(hub)


@sim.command("hub")
def sim_hub(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=0, max=65534, help="REST port; SOAP on the next.")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the master data and of the faults.")] = 1,
    packs: Annotated[int, typer.Option(min=0, help="Packs of master data to load.")] = 200,
    dialects: Annotated[str, typer.Option(help="Comma-separated: soap,rest.")] = "soap,rest",
    fault: Annotated[
        list[str] | None,
        typer.Option(help="A fault setting NAME=VALUE, e.g. lost_reply_rate=0.1 (repeatable)."),
    ] = None,
) -> None:
    """Serve the NMVS simulator (SOAP over mutual TLS, REST over TLS) until Ctrl-C."""
    chosen = tuple(d.strip() for d in dialects.split(",") if d.strip())
    if not chosen or set(chosen) - {"soap", "rest"}:
        raise fail("--dialects takes soap, rest or soap,rest")
    faults = Faults()
    malformed = [item for item in fault or [] if "=" not in item]
    if malformed:
        raise fail(f"--fault takes NAME=VALUE, not {malformed[0]!r}")
    try:
        faults.update(dict(item.split("=", 1) for item in fault or []))
    except ValueError as error:
        raise fail(f"--fault: {error} (NAME=VALUE, names: {', '.join(vars(faults))})") from None
    delivery = generate_delivery(packs, seed=seed)
    hub = MockHub(seed=seed)
    seed_hub(hub, delivery)
    simulator = HubSimulator(
        hub,
        host=host,
        rest_port=port,
        soap_port=port + 1 if port else 0,
        dialects=chosen,
        seed=seed,
        faults=faults,
    )
    try:
        simulator.start()
    except (OSError, RuntimeError) as error:
        raise fail(f"cannot start the simulator: {error}") from None
    assert simulator.pki is not None
    if "soap" in chosen:
        out.print(f"SOAP  {simulator.soap_url}  (client certificate required)", highlight=False)
    if "rest" in chosen:
        out.print(f"REST  {simulator.rest_url}", highlight=False)
    out.print(f"admin {simulator.admin_url}/stats, PUT {simulator.admin_url}/faults",
              highlight=False)  # fmt: skip
    out.print(
        f"CA {simulator.pki.ca}\nclient certificate {simulator.pki.client_cert} "
        f"key {simulator.pki.client_key}\nSOAP login PHARMACY01 / robot01 / sim-password-1; "
        f"REST client robot-equipment-01 / sim-secret-1\n{len(delivery.packs)} packs of master "
        "data loaded. Ctrl-C stops.",
        highlight=False,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()


@app.command()
def run(
    config: Annotated[
        Path | None, typer.Option(help="TOML configuration file (default: embedded defaults).")
    ] = None,
) -> None:
    """Run the daemon until SIGINT or SIGTERM, finishing the packs already taken."""
    try:
        settings = load_config(config)
    except ConfigError as error:
        raise fail(str(error)) from None
    configure_logging(level=settings.log.level, fmt=settings.log.format, stream=sys.stderr)
    try:
        asyncio.run(_run_daemon(settings))
    except ConfigError as error:
        raise fail(str(error)) from None


async def _run_daemon(settings: Config) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    daemon = await build_daemon(settings)
    try:
        await daemon.pipeline.run(daemon.scanners, stop=stop)
    finally:
        await daemon.aclose()
