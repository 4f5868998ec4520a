"""The `fmd-robot` command line."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import structlog
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fmd.codes import PackIdentifier, ParsedScan, parse_scan
from fmd.codes.escapes import show_controls, unescape_controls
from fmd.hub import HubResult, HubUnavailable, MockHub, PackState
from fmd.hub.master_data import MasterData, MasterDataError, load_master_data
from fmd.policy import Decision, SitePolicy
from robot_controller import __version__
from robot_controller.cli_robot import robot_app, sim_plc, sim_serial_robot
from robot_controller.cli_scanners import scan, scanner_check, sim_camera, sim_scanner
from robot_controller.config import Config, ConfigError, MockHubConfig, load_config
from robot_controller.console import err, fail, out
from robot_controller.demo import DemoOptions, DemoReport, run_demo
from robot_controller.logs import configure_logging
from robot_controller.outbox import ReplayReport, replay
from robot_controller.parsed_json import parsed_as_json
from robot_controller.pipeline import utc_now
from robot_controller.simulated import simulated
from robot_controller.states import IntentStatus
from robot_controller.store import Store
from robot_controller.wiring import build_daemon, build_hub, read_master_data
from simulators.delivery import generate_delivery, master_data
from simulators.hub import Accounts, Faults, HubSimulator
from simulators.world import (
    HUB_KINDS,
    ROBOT_KINDS,
    SCANNER_KINDS,
    HubKind,
    RobotKind,
    ScannerKind,
    WorldError,
    write_master_data,
    write_scans,
)

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
DEMO_HUBS: tuple[HubKind, ...] = tuple(k for k in HUB_KINDS if k != "none")
DEMO_ROBOTS: tuple[RobotKind, ...] = tuple(k for k in ROBOT_KINDS if k != "none")
DEMO_SCANNERS: tuple[ScannerKind, ...] = tuple(k for k in SCANNER_KINDS if k != "none")
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML configuration file (default: embedded).")
]


def _settings(config: Path | None) -> Config:
    try:
        return load_config(config)
    except ConfigError as error:
        raise fail(str(error)) from None


def _real_hub(settings: Config) -> Config:
    """`settings`, if its hub exists outside a running simulation (usage error otherwise)."""
    hub = settings.hub
    if isinstance(hub, MockHubConfig) and hub.master_data is None:
        raise fail(
            "hub: this configuration's national system is simulated and exists only while "
            "`fmd-robot run` or `fmd-robot demo` runs; give --config with a hub of kind "
            '"soap" or "rest", or of kind "mock" with master_data = "FILE.json"'
        )
    return settings


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
    pending = sum(n for (_, status), n in counts.items() if status == IntentStatus.PENDING)
    out.print(f"{pending} waiting for the hub.")


@outbox.command("replay")
def outbox_replay(config: ConfigOption = None) -> None:
    """Send what the outbox holds to the configured hub, oldest first."""
    settings = _real_hub(_settings(config))
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
    hub = await build_hub(settings)
    try:
        store = await asyncio.to_thread(Store.open, settings.store.url)
        try:
            # packs still being loaded belong to the running daemon, never to this command
            return await replay(store, hub, clock=utc_now, finished_packs_only=True)
        finally:
            store.close()
    finally:
        await hub.aclose()


def main() -> None:
    app()


def _show_version(wanted: bool) -> None:
    if wanted:
        out.print(f"fmd-robot {__version__}", highlight=False)
        raise typer.Exit(0)


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """EU FMD verification for pharmacy dispensing robots."""


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
    if hub not in DEMO_HUBS:
        raise fail(f"--hub must be one of {', '.join(DEMO_HUBS)}, not {hub!r}")
    if robot not in DEMO_ROBOTS:
        raise fail(f"--robot must be one of {', '.join(DEMO_ROBOTS)}, not {robot!r}")
    if scanner not in DEMO_SCANNERS:
        raise fail(f"--scanner must be one of {', '.join(DEMO_SCANNERS)}, not {scanner!r}")
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
        except (ConfigError, WorldError) as error:
            raise fail(str(error)) from None
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
    settings = _real_hub(_settings(config))
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
    hub = await build_hub(settings)
    try:
        return await hub.verify(ui)
    finally:
        await hub.aclose()


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
    master_data: Annotated[
        Path | None,
        typer.Option(
            "--master-data",
            help="A JSON file of products, batches and packs to serve (default: a generated "
            "delivery's, from --packs and --seed).",
        ),
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
    hub = MockHub(seed=seed)
    try:
        data = (
            read_master_data(master_data)
            if master_data is not None
            else _master_data_of(packs, seed)
        )
        load_master_data(hub, data)
    except MasterDataError as error:
        raise fail(f"--master-data {master_data}: {error}") from None
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
    if simulator.pki is None:
        raise fail("the simulator started without its certificates")
    soap, rest = Accounts().soap[0], Accounts().rest[0]
    if "soap" in chosen:
        out.print(f"SOAP  {simulator.soap_url}  (client certificate required)", highlight=False)
    if "rest" in chosen:
        out.print(f"REST  {simulator.rest_url}", highlight=False)
    out.print(f"admin {simulator.admin_url}/stats, PUT {simulator.admin_url}/faults",
              highlight=False)  # fmt: skip
    out.print(
        f"CA {simulator.pki.ca}\nclient certificate {simulator.pki.client_cert} "
        f"key {simulator.pki.client_key}\nSOAP login {soap.client_login_id} / {soap.user_id} / "
        f"{soap.password}; REST client {rest.client_id} / {rest.client_secret}\n"
        f"{len(data.packs)} packs of master data loaded. Ctrl-C stops.",
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


def _master_data_of(packs: int, seed: int) -> MasterData:
    return master_data(generate_delivery(packs, seed=seed))


@sim.command("delivery")
def sim_delivery(
    out_file: Annotated[Path, typer.Option("--out", help="The master-data JSON file to write.")],
    scans_file: Annotated[
        Path, typer.Option("--scans", help="The raw scans to write, one per line (GS as 0x1D).")
    ],
    packs: Annotated[int, typer.Option(min=0, help="Packs in the delivery.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the delivery (same seed, same files).")] = 1,
    suspect_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of suspect packs.")
    ] = 0.1,
) -> None:
    """Write a generated delivery: its master data (for `[hub] master_data` or `sim hub
    --master-data`) and its raw scans (for a script scanner or a virtual one)."""
    delivery = generate_delivery(packs, seed=seed, suspect_rate=suspect_rate)
    try:
        write_master_data(master_data(delivery), out_file)
        write_scans(delivery.raws, scans_file)
    except OSError as error:
        raise fail(f"cannot write {error.filename}: {error.strerror or error}") from None
    out.print(
        f"{len(delivery.packs)} packs: master data in {out_file}, scans in {scans_file}",
        highlight=False,
    )


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
    except (ConfigError, WorldError) as error:
        raise fail(str(error)) from None


async def _run_daemon(settings: Config) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if settings.simulation is None:
        await _serve(settings, stop)
        return
    simulation = settings.simulation
    structlog.get_logger("fmd.simulation").warning(
        "simulation.started",
        hub=simulation.hub,
        robot=simulation.robot,
        scanner=simulation.scanner,
        detail="a simulated world, not a real site: remove [simulation] from the config",
    )
    with tempfile.TemporaryDirectory(prefix="fmd-robot-world-") as folder:
        async with simulated(settings, Path(folder)) as (reached, world):
            await _serve(reached, stop, begin=world.begin)


async def _serve(
    settings: Config, stop: asyncio.Event, begin: Callable[[Callable[[], int]], None] | None = None
) -> None:
    routed = 0

    def count(_token: int, _route: str, _decision: Decision) -> None:
        nonlocal routed
        routed += 1

    daemon = await build_daemon(settings, on_routed=count)
    try:
        if begin is not None:
            begin(lambda: routed)
        await daemon.run(stop=stop)
    finally:
        await daemon.aclose()
