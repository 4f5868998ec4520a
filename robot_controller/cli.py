"""The `fmd-robot` command line."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.table import Table
from rich.text import Text

from fmd.codes import PackIdentifier, ParsedScan, parse_scan
from fmd.codes.escapes import show_controls, unescape_controls
from fmd.hub import HubAuthFailed, HubResult, HubUnavailable, PackState
from robot_controller import __version__
from robot_controller.cli_alerts import alerts_app
from robot_controller.cli_audit import audit_app
from robot_controller.cli_common import (
    ConfigOption,
    answer_of,
    human,
    real_hub,
    settings_of,
    show_answer,
)
from robot_controller.cli_delivery import delivery_app
from robot_controller.cli_demo import demo
from robot_controller.cli_dispense import dispense
from robot_controller.cli_hub import sim_delivery, sim_hub
from robot_controller.cli_log import log_export, log_pack, log_search
from robot_controller.cli_log_app import log_app
from robot_controller.cli_pack import (
    BatchOption,
    ExpiryOption,
    JsonOption,
    ManualOption,
    SchemeOption,
    keyed,
    pack_app,
    run_keyed,
)
from robot_controller.cli_pack_actions import ActorOption, ReasonOption, run_action
from robot_controller.cli_report import report
from robot_controller.cli_robot import robot_app, sim_plc, sim_serial_robot, sim_wwks2_robot
from robot_controller.cli_robot_stock import robot_stock  # noqa: F401 - registers `robot stock`
from robot_controller.cli_run import log_stream, run_daemon
from robot_controller.cli_scanners import scan, scanner_check, sim_camera, sim_scanner
from robot_controller.cli_users import users_app
from robot_controller.config import Config, ConfigError, load_config
from robot_controller.console import fail, json_line, line, out
from robot_controller.logs import configure_logging
from robot_controller.outbox import ReplayReport, replay
from robot_controller.pack_rules import PackAction
from robot_controller.parsed_json import parsed_as_json
from robot_controller.pipeline import utc_now
from robot_controller.robot.base import RobotConflict
from robot_controller.states import IntentStatus
from robot_controller.store import DEFAULT_ROBOT, StoreBusy, StoreError
from robot_controller.wiring import build_hub, hold_store, login_refused, open_store
from simulators.world import WorldError

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
sim.command("wwks2-robot")(sim_wwks2_robot)
sim.command("hub")(sim_hub)
sim.command("delivery")(sim_delivery)
app.command("demo")(demo)
app.add_typer(robot_app, name="robot")
app.command("dispense")(dispense)
app.add_typer(pack_app, name="pack")
app.add_typer(delivery_app, name="delivery")
app.add_typer(log_app, name="log")
log_app.command("search")(log_search)
log_app.command("pack")(log_pack)
log_app.command("export")(log_export)
app.command("report")(report)
app.add_typer(alerts_app, name="alerts")
app.add_typer(audit_app, name="audit")
app.add_typer(users_app, name="users")


@outbox.command("status")
def outbox_status(config: ConfigOption = None) -> None:
    """Show what the outbox holds, by operation and status. Read-only: a store that is not
    there is an error (exit 2), never created."""
    settings = settings_of(config)
    try:
        store = open_store(settings.store.url, read_only=True)
        try:
            counts = store.outbox_counts()
        finally:
            store.close()
    except (ConfigError, StoreError) as error:
        raise fail(str(error)) from None
    table = Table(title="Outbox", title_justify="left")
    for column in ("waiting to", "status", "count"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for (operation, status), count in sorted(counts.items()):
        table.add_row(operation, status, str(count))
    out.print(table)
    pending = sum(n for (_, status), n in counts.items() if status == IntentStatus.PENDING)
    out.print(f"{pending} waiting for the hub.")


@outbox.command("replay")
def outbox_replay(config: ConfigOption = None) -> None:
    """Send what the outbox holds to the configured hub, oldest first."""
    settings = real_hub(settings_of(config))
    configure_logging(level="warning", stream=sys.stderr)
    try:
        report = asyncio.run(_replay(settings))
    except StoreBusy as error:
        stop = f"kill -TERM {error.pid}" if error.pid is not None else "stop it"
        raise fail(
            f"{error}: the running daemon replays the outbox itself (every "
            f"pipeline.replay_every_s); to replay now, stop it first ({stop})",
            code=1,
        ) from None
    except (ConfigError, StoreError) as error:
        raise fail(str(error)) from None
    out.print(
        f"{report.done} done, {report.failed} refused by the hub, {report.flagged} flagged for "
        f"the operator (packs {', '.join(map(str, report.flagged_tokens)) or 'none'})",
        highlight=False,
    )
    if report.stopped:
        raise fail(f"stopped with {report.left} left: {report.stopped}", code=1)


@outbox.command("undo")
def outbox_undo(
    token: Annotated[int, typer.Argument(min=1, help="The pack's token, as the log names it.")],
    reason: ReasonOption,
    actor: ActorOption,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Undo the decommission of the pack a token names: `fmd-robot pack undo` for its product
    code and serial (the same rules, Art. 13; committed to the outbox, then sent).

    Exit 0 when the hub undid it, 1 when it was refused or is still pending, 2 on usage or
    configuration errors."""
    settings = settings_of(config)
    try:
        store = open_store(settings.store.url, read_only=True)
        try:
            pack = store.pack_of(token)
        finally:
            store.close()
    except (ConfigError, StoreError) as error:
        raise fail(str(error)) from None
    if pack is None:
        raise fail(f"pack {token}: the log holds no product code and serial for it", code=1)
    run_action(PackAction.UNDO, *pack, None, reason, actor, settings, as_json)


async def _replay(settings: Config) -> ReplayReport:
    hub = await build_hub(settings)
    try:
        robot = settings.robot.name if settings.robot is not None else DEFAULT_ROBOT
        # the daemon's lock: a daemon on this store (this robot's, on PostgreSQL) refuses us
        lock = await asyncio.to_thread(hold_store, settings.store.url, robot=robot)
        try:
            store = await asyncio.to_thread(
                open_store, settings.store.url, location=settings.site.location
            )
            try:
                # packs still being loaded belong to the running daemon, never to this command
                return await replay(
                    store, hub, clock=utc_now, finished_packs_only=True, claimant=robot,
                    lease=timedelta(seconds=settings.store.claim_lease_s),
                )  # fmt: skip
            finally:
                store.close()
        finally:
            lock.release()
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
        json_line(parsed_as_json(parsed))
    else:
        _show_parsed(parsed)
    raise typer.Exit(0 if parsed.ui is not None else 1)


def _show_parsed(parsed: ParsedScan) -> None:
    table = Table(show_header=False, box=None)
    table.add_row("scan", show_controls(parsed.raw[:200]))
    for key, value in parsed_as_json(parsed).items():
        if key != "problems":
            table.add_row(*human(key, value))
    out.print(table)
    for problem in parsed.problems:
        colour = "red" if problem.severity == "error" else "yellow"
        out.print(
            line((problem.severity, colour), f" {problem.code}: {problem.message}"),
            highlight=False,
        )
    verdict = ("pack UI", "green") if parsed.ui else ("not a pack UI", "red")
    out.print(line(verdict, f"; {'send to the hub' if parsed.submit else 'do not send'}"))


@app.command()
def verify(
    raw: Annotated[
        str | None, typer.Argument(help="The scan, spelled as for `parse` (or give --manual).")
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    manual: ManualOption = None,
    batch: BatchOption = None,
    expiry: ExpiryOption = None,
    scheme: SchemeOption = None,
) -> None:
    """Check one scan, or a pack keyed in by hand, against the configured hub.

    A pack keyed in by hand (--manual PRODUCT SERIAL --batch B --expiry YYMMDD) is recorded in
    the log as a manual scan, with the hub's answer.

    Exit 0 when the pack is ACTIVE, 1 when it is not (or the hub did not answer), 2 on usage
    or configuration errors (credentials the hub refuses among them).
    """
    if raw is not None and manual is not None:
        raise fail("give one scan or --manual PRODUCT SERIAL, not both")
    if raw is None and manual is None:
        raise fail("give one scan, or --manual PRODUCT SERIAL")
    if manual is None and (batch, expiry, scheme) != (None, None, None):
        raise fail("--batch, --expiry and --scheme go with --manual")
    settings = real_hub(settings_of(config))
    if manual is not None:
        run_keyed(settings, keyed(manual, batch, expiry, scheme), None, as_json)
    elif raw is not None:
        _verify_scan(settings, raw, as_json)


def _verify_scan(settings: Config, raw: str, as_json: bool) -> NoReturn:
    parsed = parse_scan(unescape_controls(raw), separators=settings.site.separators)
    if parsed.ui is None or not parsed.submit:
        _show_parsed(parsed)
        raise typer.Exit(1)
    configure_logging(level="warning", stream=sys.stderr)
    try:
        result = asyncio.run(_verify_once(settings, parsed.ui))
    except ConfigError as error:
        raise fail(str(error)) from None
    except HubAuthFailed as error:
        raise fail(str(login_refused(error))) from None
    except HubUnavailable as error:
        raise fail(f"the hub did not answer: {error}", code=1) from None
    show_answer(answer_of(result), as_json)
    ok = result.outcome == "ok" and result.state is PackState.ACTIVE
    raise typer.Exit(0 if ok else 1)


async def _verify_once(settings: Config, ui: PackIdentifier) -> HubResult:
    hub = await build_hub(settings)
    try:
        return await hub.verify(ui)
    finally:
        await hub.aclose()


@app.command()
def run(
    config: Annotated[
        Path | None, typer.Option(help="TOML configuration file (default: embedded defaults).")
    ] = None,
    drain: Annotated[
        bool,
        typer.Option(
            help="At the end of a finite input, replay the outbox (up to "
            "pipeline.drain_timeout_s) before exiting."
        ),
    ] = False,
    console: Annotated[
        bool | None,
        typer.Option(
            "--console/--no-console",
            help="The live operator view (default: when standard output is a terminal); the "
            "JSON log then goes to \\[log] file, or fmd-robot.log.",
        ),
    ] = None,
) -> None:
    """Run the daemon until SIGINT or SIGTERM, finishing the packs already taken."""
    try:
        settings = load_config(config)
    except ConfigError as error:
        raise fail(str(error)) from None
    live = sys.stdout.isatty() if console is None else console
    try:
        stream = log_stream(settings, console=live)
    except OSError as error:
        raise fail(f"log.file: cannot write the log: {error}") from None
    configure_logging(
        level=settings.log.level, fmt=settings.log.format, stream=stream or sys.stderr
    )
    if stream is not None:
        out.print(Text(f"log        {stream.name}"))
    drain_s = settings.pipeline.drain_timeout_s if drain else None
    try:
        asyncio.run(run_daemon(settings, console=live, drain_s=drain_s))
    except (ConfigError, WorldError) as error:
        raise fail(str(error)) from None
    except RobotConflict as error:
        raise fail(
            f"loading stopped: {error}; find the other master, then restart", code=1
        ) from None
    except StoreBusy as error:
        stop = f"kill -TERM {error.pid}" if error.pid is not None else "stop it"
        raise fail(
            f"{error}: one daemon per store and robot; stop that one first ({stop})"
        ) from None
    except Exception as error:
        failed = store_failure(error)
        if failed is None:
            raise
        raise fail(str(failed), code=1) from None
    finally:
        if stream is not None:
            stream.close()


def store_failure(error: BaseException | None) -> StoreError | None:
    """The store failure behind an error (a failed scan's is wrapped in `ScannerFailed`)."""
    while error is not None:
        if isinstance(error, StoreError):
            return error
        error = error.__cause__
    return None
