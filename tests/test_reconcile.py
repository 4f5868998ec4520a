"""Stock reconciliation: the pure compare, then the robot's stock against the log end to end
(the WWKS2 robot simulator over loopback TCP, a real store, the in-process mock hub behind the
resilient hub), the daemon's check at every connect, and `fmd-robot robot stock`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from fmd.codes import parse_scan
from fmd.codes.encode import encode_gs1
from fmd.hub import MockHub, PackState, Reason
from fmd.hub.resilient import ResilientHub
from fmd.policy import SitePolicy
from robot_controller.cli import app
from robot_controller.pipeline import Pipeline
from robot_controller.pipeline.stock_check import SOURCE, check_stock
from robot_controller.reconcile import RobotPack, compare, robot_packs
from robot_controller.robot.wwks2 import Wwks2Robot
from robot_controller.robot.wwks2.link import LinkSettings
from robot_controller.robot.wwks2.robot import Wwks2Settings
from robot_controller.states import Route
from robot_controller.store import ShelvedPack, Store
from robot_controller.wiring import hold_store
from simulators.wwks2.robot import Wwks2RobotSim
from simulators.wwks2.settings import RobotSettings, ScanPack
from tests.support.packs import GTIN, hub_pack
from tests.support.until import until
from wwks2.messages import StockArticle, StockPack

LOCATION = "PHARMACY-1"
EXPIRY = date(2028, 12, 31)
QUIET = RobotSettings(keepalive_every_s=None)


def code(serial: str) -> str:
    return encode_gs1(hub_pack(serial), symbology=None)


# -- the pure compare ------------------------------------------------------------------------


def robot(id: int, scan: str | None, serial: str | None = None, article: str = GTIN) -> RobotPack:
    ui = parse_scan(scan).ui if scan else None
    return RobotPack(id, article, scan, serial, None, None, ui)


def shelved(token: int, serial: str, location: int | None = None) -> ShelvedPack:
    return ShelvedPack(token, GTIN, serial, location, False)


CASES = {
    "both by scan code": ([robot(7, code("A"))], [shelved(1, "A", 7)], "", "", "1"),
    "both by article and serial": ([robot(7, None, "A")], [shelved(1, "A", 8)], "", "", "1"),
    "both by pack id, no serial": ([robot(7, None)], [shelved(1, "A", 7)], "", "", "1"),
    "pack id given to another pack": ([robot(7, code("B"))], [shelved(1, "A", 7)], "7", "1", ""),
    "autonomous stock-in": ([robot(7, code("A"))], [], "7", "", ""),
    "no usable code": ([robot(7, "not a code", article="X")], [], "7", "", ""),
    "removed behind our back": ([], [shelved(1, "A", 7)], "", "1", ""),
    "a twin in the robot": (
        [robot(7, code("A")), robot(8, code("A"))], [shelved(1, "A", 7)], "8", "", "1",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_compare(case: str) -> None:
    in_robot, in_log, unknown, missing, consistent = CASES[case]
    found = compare(in_robot, in_log)
    assert ",".join(str(p.id) for p in found.unknown) == unknown
    assert ",".join(str(p.token) for p in found.missing) == missing
    assert ",".join(str(c.log.token) for c in found.consistent) == consistent
    assert found.agrees is (not unknown and not missing)
    assert found.counts["unknown"] == len(found.unknown)


def test_a_pack_being_stocked_in_is_settling_not_unknown() -> None:
    found = compare([robot(7, code("A"))], [], in_flight={(GTIN, "A")})
    assert found.settling
    assert not found.unknown
    assert found.agrees


def test_robot_packs_parse_the_unescaped_scan_code_else_keep_the_robots_serial() -> None:
    articles = [
        StockArticle(GTIN, packs=(StockPack(7, scan_code=code("A")),)),
        StockArticle(GTIN, packs=(StockPack(8, serial_number="B", scan_code=""),)),
        StockArticle(GTIN, packs=(StockPack(9, external_id="C"),)),
    ]
    packs = robot_packs(articles)
    assert [p.key for p in packs] == [(GTIN, "A"), (GTIN, "B"), (GTIN, "C")]
    assert [p.ui is not None for p in packs] == [True, False, False]


# -- end to end ------------------------------------------------------------------------------


@dataclass
class World:
    sim: Wwks2RobotSim
    hub: MockHub
    store: Store
    pipeline: Pipeline
    robot: Wwks2Robot

    def routes(self) -> dict[str | None, str]:
        """serial (None: no UI) → route of the packs first seen in the robot's stock."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "select o.serial, o.route from outcomes o join scans s on s.id = o.token "
                    "where s.source = :source"
                ),
                {"source": SOURCE},
            )
            return {None if serial is None else str(serial): str(route) for serial, route in rows}


def make_hub() -> MockHub:
    hub = MockHub(clock=lambda: datetime(2026, 3, 1, 9, tzinfo=UTC))
    hub.add_product(GTIN)
    hub.add_batch(GTIN, "B1", EXPIRY)
    for serial in ("CLEAN1", "CLEAN2", "GONE", "SOLD"):
        hub.add_pack(hub_pack(serial))
    hub.add_decommissioned(GTIN, "SOLD", Reason.SUPPLIED, "ELSEWHERE")
    return hub


def driver(port: int) -> Wwks2Robot:
    link = LinkSettings("127.0.0.1", port, reconnect_min_s=0.05, reconnect_max_s=0.1)
    return Wwks2Robot(Wwks2Settings(link, quarantine_destination=2))


@asynccontextmanager
async def world(url: str, packs: list[ScanPack], mode: str = "hospital") -> AsyncIterator[World]:
    hub = make_hub()
    async with Wwks2RobotSim(QUIET, scans=packs) as sim:
        robot = driver(sim.port)
        await robot.connect()
        store = Store.open(url, location=LOCATION)
        pipeline = Pipeline(
            store=store, hub=ResilientHub(hub.client(LOCATION)), robot=robot,
            site=SitePolicy(mode=mode), location=LOCATION,  # type: ignore[arg-type]
        )  # fmt: skip
        try:
            yield World(sim, hub, store, pipeline, robot)
        finally:
            await pipeline.aclose()
            await robot.aclose()
            store.close()


AUTONOMOUS = [
    ScanPack(code("CLEAN1"), stocked=True),
    ScanPack(code("SOLD"), stocked=True),  # supplied elsewhere: inactive at the hub
    ScanPack("not a code", article="12345", serial="X1", stocked=True),  # no UI
]


async def test_an_autonomous_stock_in_is_verified_clean_kept_suspect_output(
    store_url: str,
) -> None:
    async with world(store_url, AUTONOMOUS) as w:
        done = await check_stock(w.pipeline.steps, w.robot)
        assert done.found.counts == {"unknown": 3, "missing": 0, "consistent": 0, "settling": 0}
        by_serial = {s.pack.serial: s for s in done.settled}
        assert by_serial["CLEAN1"].route is Route.SHELVED
        assert not by_serial["CLEAN1"].flagged
        assert by_serial["SOLD"].route is Route.QUARANTINED
        assert by_serial["X1"].route is Route.QUARANTINED
        assert by_serial["X1"].flagged
        # the robot output the suspects; the clean one stays, shelved at its pack id in the log
        left = [p.serial for p in w.sim.shelf.packs.values()]
        assert left == ["CLEAN1"]
        shelved = w.store.shelved_packs()
        assert [(p.serial, p.location) for p in shelved] == [
            ("CLEAN1", next(iter(w.sim.shelf.packs)))
        ]
        # hospital mode: the clean one is decommissioned, as any stock-in is
        assert w.hub.pack_state(GTIN, "CLEAN1")[0] is PackState.INACTIVE
        assert w.routes() == {"CLEAN1": "shelved", "SOLD": "quarantined", None: "quarantined"}
        again = await check_stock(w.pipeline.steps, w.robot)
        assert again.found.agrees
        assert len(again.found.consistent) == 1


async def test_a_pack_removed_behind_our_back_is_flagged_once_and_stays_shelved(
    sqlite_url: str,
) -> None:
    async with world(sqlite_url, [ScanPack(code("GONE"), stocked=True)], mode="community") as w:
        await check_stock(w.pipeline.steps, w.robot)
        w.sim.shelf.packs.clear()  # taken out at the robot, nobody told us
        done = await check_stock(w.pipeline.steps, w.robot)
        assert [p.serial for p in done.found.missing] == ["GONE"]
        assert [p.serial for p in done.flagged] == ["GONE"]
        [pack] = w.store.shelved_packs()
        assert pack.flagged
        again = await check_stock(w.pipeline.steps, w.robot)
        assert again.found.missing
        assert not again.flagged


async def test_the_daemon_reconciles_at_start_and_at_every_reconnect(sqlite_url: str) -> None:
    async with world(sqlite_url, [ScanPack(code("CLEAN1"), stocked=True)]) as w:
        stop = asyncio.Event()
        running = asyncio.create_task(w.pipeline.run([], stop=stop))
        await until(lambda: w.routes() == {"CLEAN1": "shelved"})
        w.sim.preload(ScanPack(code("SOLD")))
        w.sim.drop_connections()
        await until(lambda: len(w.routes()) == 2, timeout_s=5)
        assert w.routes()["SOLD"] == "quarantined"
        stop.set()
        await running


# -- the command line ------------------------------------------------------------------------


def config_file(tmp_path: Path, port: int, hub: Path) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(
        f'[site]\nlocation = "{LOCATION}"\nmode = "hospital"\n'
        f'[store]\nurl = "sqlite:///{tmp_path / "fmd-robot.db"}"\n'
        f'[hub]\nkind = "mock"\nmaster_data = "{hub}"\n'
        f'[robot]\nkind = "wwks2"\nhost = "127.0.0.1"\nport = {port}\n'
    )
    return path


def master_data(tmp_path: Path) -> Path:
    path = tmp_path / "master.json"
    serials = ("CLEAN1", "SOLD")
    data = {
        "products": [{"product_code": GTIN}],
        "batches": [{"product_code": GTIN, "batch": "B1", "expiry": EXPIRY.isoformat()}],
        "packs": [{"product_code": GTIN, "serial": s, "batch": "B1"} for s in serials],
        "decommissioned": [
            {"product_code": GTIN, "serial": "SOLD", "reason": Reason.SUPPLIED.value,
             "location": "ELSEWHERE"}
        ],
    }  # fmt: skip
    path.write_text(json.dumps(data))
    return path


async def _cli(*args: str) -> tuple[int, str, str]:
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args))
    return result.exit_code, result.stdout, result.stderr


async def test_robot_stock_dry_run_reports_and_acting_settles(tmp_path: Path) -> None:
    hub = master_data(tmp_path)
    async with Wwks2RobotSim(QUIET, scans=AUTONOMOUS[:2]) as sim:
        config = str(config_file(tmp_path, sim.port, hub))
        Store.open(f"sqlite:///{tmp_path / 'fmd-robot.db'}").close()
        code_, out, _ = await _cli("robot", "stock", "--config", config, "--dry-run", "--json")
        answer = json.loads(out)
        assert code_ == 1
        assert answer["counts"]["unknown"] == 2
        assert answer["settled"] == []
        assert len(sim.shelf) == 2  # nothing output
        code_, out, _ = await _cli("robot", "stock", "--config", config, "--json")
        routes = {s["route"] for s in json.loads(out)["settled"]}
        assert code_ == 1
        assert routes == {"shelved", "quarantined"}
        code_, out, _ = await _cli("robot", "stock", "--config", config)
        assert code_ == 0
        assert "1 consistent" in out


async def test_robot_stock_with_the_robot_unreachable_is_one_line_exit_2(tmp_path: Path) -> None:
    hub = master_data(tmp_path)
    async with Wwks2RobotSim(QUIET) as sim:
        port = sim.port
    config = str(config_file(tmp_path, port, hub))
    code_, out, err = await _cli("robot", "stock", "--config", config, "--dry-run")
    assert code_ == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "robot" in err


async def test_robot_stock_beside_a_running_daemon_only_reports(tmp_path: Path) -> None:
    hub = master_data(tmp_path)
    async with Wwks2RobotSim(QUIET, scans=AUTONOMOUS[:1]) as sim:
        config = str(config_file(tmp_path, sim.port, hub))
        url = f"sqlite:///{tmp_path / 'fmd-robot.db'}"
        Store.open(url).close()
        lock = hold_store(url)  # as a running daemon holds it
        try:
            code_, out, _ = await _cli("robot", "stock", "--config", config, "--json")
        finally:
            lock.release()
        answer = json.loads(out)
        assert code_ == 1
        assert answer["settled"] == []
        assert answer["daemon"] is not None
        assert len(sim.shelf) == 1
