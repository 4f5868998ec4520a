"""`fmd-robot robot stock [--json] [--dry-run]`: the robot's stock against the log, and (beside
no running daemon, without --dry-run) what the differences ask for (`pipeline.stock_check`).

Exit 0: the robot and the log agree; 1: differences found; 2: a usage error, or the robot (or
the store) cannot be reached. Beside a running daemon it only reports: that daemon acts at its
robot's next connect."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated, NoReturn

import typer
from rich.table import Table

from fmd.codes.escapes import show_controls
from robot_controller.cli_common import ConfigOption, settings_of
from robot_controller.cli_pack import JsonOption
from robot_controller.cli_robot import robot_app
from robot_controller.config import Config, ConfigError, Wwks2RobotConfig
from robot_controller.console import err, fail, json_line, line, out
from robot_controller.logs import configure_logging
from robot_controller.pipeline.stock_check import KeepsStock, StockCheck, check_stock
from robot_controller.reconcile import Reconciliation, RobotPack, compare, robot_packs
from robot_controller.robot.base import Robot, RobotError
from robot_controller.store import StoreBusy, StoreError
from robot_controller.wiring import build_daemon, open_robot, open_store

DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Only compare: verify, output and flag nothing.")
]
NOT_WWKS2 = "robot stock: only a WWKS2 robot reports its stock pack by pack ([robot] kind)"


@robot_app.command("stock")
def robot_stock(
    config: ConfigOption = None, as_json: JsonOption = False, dry_run: DryRunOption = False
) -> None:
    """Compare the robot's stock with the log: packs it holds that the log never allowed,
    packs the log shelved that it no longer holds. Without --dry-run (and with no daemon
    running) the first are verified now (a suspect one output to quarantine) and the second
    flagged. Exit 0 when they agree, 1 on differences, 2 when the robot cannot be reached."""
    settings = settings_of(config)
    if not isinstance(settings.robot, Wwks2RobotConfig):
        raise fail(NOT_WWKS2)
    configure_logging(level="warning", stream=sys.stderr)
    try:
        checked, busy = asyncio.run(_check(settings, act=not dry_run))
    except (ConfigError, RobotError, StoreError) as error:
        raise fail(str(error)) from None
    _show(checked, busy, as_json)


async def _check(settings: Config, *, act: bool) -> tuple[StockCheck, str | None]:
    """Act through the daemon's own wiring when no daemon holds the store; else only compare."""
    if act:
        try:
            daemon = await build_daemon(settings)
        except StoreBusy as error:
            return await _compare(settings), str(error)
        try:
            return await check_stock(daemon.pipeline.steps, _keeper(daemon.robot)), None
        finally:
            await daemon.aclose()
    return await _compare(settings), None


async def _compare(settings: Config) -> StockCheck:
    robot = await open_robot(settings.robot)
    try:
        stock = await _keeper(robot).stock()
    finally:
        await robot.aclose()
    name = settings.robot.name if settings.robot is not None else ""
    store = await asyncio.to_thread(open_store, settings.store.url, read_only=True)
    try:
        shelved = await asyncio.to_thread(store.shelved_packs, robot=name)
    finally:
        store.close()
    packs = robot_packs(stock.articles, separators=settings.site.separators)
    return StockCheck(compare(packs, shelved))


def _keeper(robot: Robot) -> KeepsStock:
    if not isinstance(robot, KeepsStock):
        raise ConfigError(NOT_WWKS2)
    return robot


def _state(found: Reconciliation) -> dict[int, str]:
    states = {pack.id: "unknown" for pack in found.unknown}
    states |= {pack.id: "settling" for pack in found.settling}
    return states | {both.robot.id: "consistent" for both in found.consistent}


def _pack(pack: RobotPack, state: str) -> dict[str, object]:
    ui = pack.ui
    return {
        "id": pack.id,
        "article": pack.article_id,
        "product_code": ui.product_code if ui else None,
        "serial": ui.serial if ui else pack.serial,
        "batch": ui.batch if ui else pack.batch,
        "expiry": pack.expiry.isoformat() if pack.expiry else None,
        "scan_code": pack.scan_code,
        "state": state,
    }


def _show(checked: StockCheck, busy: str | None, as_json: bool) -> NoReturn:
    found = checked.found
    states = _state(found)
    packs = sorted(
        [*(both.robot for both in found.consistent), *found.unknown, *found.settling],
        key=lambda pack: pack.id,
    )
    if as_json:
        json_line({
            "agrees": found.agrees,
            "counts": found.counts,
            "robot": [_pack(pack, states[pack.id]) for pack in packs],
            "missing": [
                {"token": p.token, "product_code": p.product_code, "serial": p.serial,
                 "location": p.location}
                for p in found.missing
            ],
            "settled": [
                {"id": s.pack.id, "token": s.token, "route": s.route.value, "why": s.why.value,
                 "flagged": s.flagged}
                for s in checked.settled
            ],
            "flagged": [p.token for p in checked.flagged],
            "daemon": busy,
        })  # fmt: skip
    else:
        _print(checked, [_pack(pack, states[pack.id]) for pack in packs], busy)
    raise typer.Exit(0 if found.agrees else 1)


def _print(checked: StockCheck, packs: list[dict[str, object]], busy: str | None) -> None:
    columns = ("id", "article", "serial", "batch", "expiry", "scan_code", "state")
    table = Table(*(column.replace("_", " ") for column in columns))
    for pack in packs:
        table.add_row(*(show_controls(str(pack[column] or "—")) for column in columns))
    out.print(table)
    for missing in checked.found.missing:
        out.print(
            f"missing: token {missing.token} {missing.product_code} {missing.serial} (robot "
            f"pack {missing.location or 'unknown'}): shelved in the log, not in the robot",
            highlight=False,
        )
    for settled in checked.settled:
        flag = ", flagged" if settled.flagged else ""
        out.print(
            f"robot pack {settled.pack.id}: verified as token {settled.token}, "
            f"{settled.route.value} ({settled.why.value}){flag}",
            highlight=False,
        )
    counts = checked.found.counts
    out.print(
        f"{counts['consistent']} consistent, {counts['unknown']} never allowed by the log, "
        f"{counts['missing']} missing from the robot, {counts['settling']} being stocked in",
        highlight=False,
    )
    if busy is not None:
        err.print(
            line(("note:", "bold yellow"), f" only compared: {busy}; that daemon acts at its "
                 "robot's next connect"),
            highlight=False,
        )  # fmt: skip
