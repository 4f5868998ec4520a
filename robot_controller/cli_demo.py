"""`fmd-robot demo`: a generated delivery loaded through the daemon a site runs, with the
world around it simulated, shown as a table of where each kind of pack went."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from fmd.policy import SitePolicy
from robot_controller.config import ConfigError, WebConfig
from robot_controller.console import err, fail, line, out
from robot_controller.demo import DemoOptions, DemoReport, DemoWeb, run_demo
from robot_controller.logs import configure_logging
from robot_controller.operator_console import ENGLISH, ROUTE_WORDS
from robot_controller.pipeline import Routed
from robot_controller.states import Route
from simulators.world import (
    HUB_KINDS,
    ROBOT_KINDS,
    SCANNER_KINDS,
    HubKind,
    RobotKind,
    ScannerKind,
    WorldError,
)

DEMO_HUBS: tuple[HubKind, ...] = tuple(k for k in HUB_KINDS if k != "none")
DEMO_ROBOTS: tuple[RobotKind, ...] = tuple(k for k in ROBOT_KINDS if k != "none")
DEMO_SCANNERS: tuple[ScannerKind, ...] = tuple(k for k in SCANNER_KINDS if k != "none")


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
    hub_error_rate: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Share of hub calls that fail (technical error)."),
    ] = 0.0,
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
            "robots over ptys), wwks2 (a storage robot on loopback that scans the packs "
            "itself: --scanner is not used) or sim (in process)."
        ),
    ] = "modbus-tcp",
    web: Annotated[
        bool,
        typer.Option(
            "--web",
            help="Serve the screens while the delivery loads (an admin `demo` is added and "
            "its token printed), and after it until Ctrl-C.",
        ),
    ] = False,
    web_port: Annotated[
        int, typer.Option(min=0, max=65535, help="The screens' port with --web (0: any free).")
    ] = 8080,
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
    if db is not None and not db.absolute().parent.is_dir():
        raise fail(f"--db {db}: there is no folder {db.absolute().parent}")
    folder = Path(tempfile.mkdtemp(prefix="fmd-robot-demo-"))
    options = DemoOptions(
        packs=packs,
        seed=seed,
        suspect_rate=suspect_rate,
        site=replace(SitePolicy(), mode=mode),  # type: ignore[arg-type]
        db=db or folder / "fmd-robot.db",
        hub_latency_s=hub_latency_ms / 1000,
        hub_error_rate=hub_error_rate,
        move_time_s=move_time_ms / 1000,
        hub=hub,
        scanner=scanner,
        robot=robot,
        web=WebConfig(enabled=web, port=web_port),
    )
    with (folder / "fmd-robot.log").open("w", encoding="utf-8") as log_file:
        configure_logging(stream=log_file)
        try:
            report, set_aside = _run_demo_with_progress(
                options, quiet=as_json, show=lambda r, s: _show(r, s, as_json, folder)
            )
        except (ConfigError, WorldError) as error:
            raise fail(str(error)) from None
        finally:
            configure_logging(level="warning", stream=sys.stderr)
    if not web:
        _show(report, set_aside, as_json, folder)
    raise typer.Exit(0 if report.ok else 1)


def _show(report: DemoReport, set_aside: list[Routed], as_json: bool, folder: Path) -> None:
    if as_json:
        sys.stdout.write(json.dumps(report.as_json()) + "\n")
        sys.stdout.flush()
    else:
        _show_report(report, folder / "fmd-robot.log", set_aside)


def _run_demo_with_progress(
    options: DemoOptions, *, quiet: bool, show: Callable[[DemoReport, list[Routed]], None]
) -> tuple[DemoReport, list[Routed]]:
    """The demo's report, and the packs it set aside (not shelved, or flagged), in order."""
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
    set_aside: list[Routed] = []
    with progress:
        task = progress.add_task("packs", total=options.packs, routes="")

        def routed(pack: Routed) -> None:
            routes[pack.route] += 1
            if pack.flagged or pack.route is not Route.SHELVED:
                set_aside.append(pack)
            shown = " ".join(f"{name} {count}" for name, count in sorted(routes.items()))
            progress.update(task, advance=1, routes=shown)

        def ready(url: str, token: str) -> None:
            err.print(line("web: ", (url, "bold"), " — sign in with the token ", (token, "bold"),
                           " (the admin `demo`)"), soft_wrap=True)  # fmt: skip

        async def linger(report: DemoReport) -> None:
            progress.stop()
            show(report, sorted(set_aside, key=lambda pack: pack.token))
            err.print("the delivery is loaded; the screens stay up until Ctrl-C", highlight=False)
            await until_signal()

        web = DemoWeb(ready, linger) if options.web.enabled else None
        report = asyncio.run(run_demo(options, on_routed=routed, web=web))
    return report, sorted(set_aside, key=lambda pack: pack.token)


async def until_signal() -> None:
    """Wait for SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _show_report(report: DemoReport, log_path: Path, set_aside: list[Routed]) -> None:
    table = Table(title="Delivery loaded", title_justify="left")
    table.add_column("pack kind")
    returned = any(routes.get("returned") for routes in report.by_kind.values())
    columns = ("shelved", "quarantined", "rejected", *(("returned",) if returned else ()), "lost")
    for route in columns:
        table.add_column(route, justify="right")
    for kind, routes in sorted(report.by_kind.items()):
        table.add_row(kind, *(str(routes.get(r, 0) or "") for r in columns))
    out.print(table)
    held_back: tuple[str, str] | str = (
        (f"; {report.held_back} held back off the shelf (the hub or the robot could not "
         "serve them)", "yellow")
        if report.held_back
        else ""
    )  # fmt: skip
    if report.unsafe or report.misrouted or report.moved_twice:
        verdict: tuple[str, str] = (
            f"{report.unsafe} suspect packs shelved, {report.misrouted} misrouted, "
            f"{report.moved_twice} moved twice",
            "red",
        )
    elif report.held_back:
        verdict = ("no pack shelved unsafely or misrouted, none moved twice", "green")
    else:
        verdict = ("every pack routed as expected, none moved twice", "green")
    figures = (
        f"{report.packs} packs in {report.elapsed_s:.2f} s ({report.packs_per_s:.0f} packs/s): "
        f"{report.shelved} shelved, {report.quarantined} quarantined, {report.rejected} rejected; "
        f"{report.decommissioned} decommissioned, {report.alerts} alerts, {report.lost} lost. "
    )
    out.print(line(figures, verdict, held_back), highlight=False)
    if set_aside:
        out.print(_set_aside(set_aside))
    out.print(f"store: {report.db}\nlog:   {log_path}", highlight=False)


def _set_aside(packs: list[Routed]) -> Table:
    """The packs not shelved (or flagged): where each went and why, in plain words."""
    table = Table(title="Packs set aside", title_justify="left")
    for column in ("pack", "serial", "went to", "why"):
        table.add_column(column, overflow="fold")
    for pack in packs:
        icon, name, _ = ROUTE_WORDS[pack.route]
        serial = pack.ui.serial if pack.ui is not None else "—"
        why = ENGLISH.why(pack.why)
        table.add_row(str(pack.token), Text(serial), f"{icon} {name}", Text(why))
    return table
