"""The hand-out against the WWKS2 robot simulator over TCP, on a real store (SQLite and
PostgreSQL): packs stocked in through the pipeline, handed out by an OutputRequest (or at the
robot's terminal), recorded dispensed; in community mode decommissioned SUPPLIED once each,
lost hub replies or not; a refusal opens an alert case; the robot's refusals and shortfalls;
TaskInfo and TaskCancel; `fmd-robot dispense` and `robot task|cancel` on bad input."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from fmd.codes.encode import encode_gs1
from fmd.codes.model import PackIdentifier
from fmd.hub import HubClient, HubResult, MockHub, PackState, Reason
from fmd.policy import SitePolicy
from robot_controller.dispense import Handed, HandOut
from robot_controller.dispense_rules import ended
from robot_controller.operator_console import instruction
from robot_controller.outbox import replay
from robot_controller.pipeline import Pipeline, Routed
from robot_controller.pipeline.context import utc_now
from robot_controller.pipeline.hand_out import handed_out
from robot_controller.robot.wwks2 import LinkSettings, Wwks2Robot, Wwks2Settings
from robot_controller.states import HandOutWhy, IntentStatus, Route
from robot_controller.store import Store
from robot_controller.store.schema import audit_events, outcomes, verifications
from robot_controller.wiring import hold_store
from simulators.wwks2 import RobotSettings, ScanPack, Wwks2RobotSim
from tests.support.outbox import LOCATION, NOW, quick
from tests.support.packs import GTIN, hub_pack
from tests.support.relay import RelayClient
from tests.support.until import until
from wwks2.messages import (
    CancelStatus,
    OutputAccepted,
    OutputCriteria,
    OutputStatus,
    TaskStatus,
)

QUIET = RobotSettings(keepalive_every_s=None)
ROOT = str(Path(__file__).resolve().parents[1])
SERIALS = ("DSP1", "DSP2", "DSP3")


NAME = "Aspirin 100 mg tablets, 50"


def a_hub(*serials: str) -> MockHub:
    """A national system that knows these packs of batch B1, expiring end of 2028."""
    hub = MockHub(seed=3)
    hub.add_product(GTIN, name=NAME)
    hub.add_batch(GTIN, "B1", NOW.date().replace(year=2028, month=12, day=31))
    for serial in serials:
        hub.add_pack(hub_pack(serial))
    return hub


def driver(port: int) -> Wwks2Robot:
    link = LinkSettings("127.0.0.1", port, keepalive_every_s=60, status_every_s=60)
    return Wwks2Robot(Wwks2Settings(link, output_within_s=10))


@dataclass
class Site:
    """A robot simulator, a national system, a store with packs stocked in through the
    pipeline, and a driver connected to the robot."""

    sim: Wwks2RobotSim
    hub: MockHub
    store: Store
    robot: Wwks2Robot
    community: bool

    def hand_out(self, hub: MockHub | None = None) -> HandOut:
        return HandOut(self.store, quick(hub or self.hub), utc_now, community=self.community,
                       location=LOCATION)  # fmt: skip

    async def dispense(self, quantity: int, *, article: str = GTIN) -> list[Handed]:
        output = await self.robot.output((OutputCriteria(quantity, article_id=article),), 1)
        assert output.response.details.status is OutputAccepted.QUEUED
        message = await self.robot.finished(output)
        assert message is not None
        return await self.hand_out().record(message, actor="dr.ana")


async def stock_in(
    store: Store, hub: MockHub, sim: Wwks2RobotSim, mode: str, *serials: str
) -> None:
    """Feed the packs through the robot's input; the pipeline answers and records them."""
    robot = driver(sim.port)
    await robot.connect()
    pipeline = Pipeline(store=store, hub=quick(hub), robot=robot,
                        site=SitePolicy(mode=mode),  # type: ignore[arg-type]
                        location=LOCATION)  # fmt: skip
    stop = asyncio.Event()
    running = asyncio.create_task(pipeline.run([], stop=stop))
    try:
        fed = [sim.feed(ScanPack(encode_gs1(hub_pack(s)))) for s in serials]
        assert all(outcome.stored for outcome in await asyncio.gather(*fed))

        async def all_routed() -> bool:
            return len(await asyncio.to_thread(store.outcomes)) >= len(serials)

        await until(all_routed, timeout_s=10, every_s=0.02)
    finally:
        stop.set()
        await running
        await pipeline.aclose()
        await robot.aclose()


@asynccontextmanager
async def a_site(store: Store, mode: str = "hospital", serials: tuple[str, ...] = SERIALS,
                 settings: RobotSettings = QUIET) -> AsyncIterator[Site]:  # fmt: skip
    hub = a_hub(*serials)
    async with Wwks2RobotSim(settings) as sim:
        await stock_in(store, hub, sim, mode, *serials)
        robot = driver(sim.port)
        await robot.connect()
        try:
            yield Site(sim, hub, store, robot, mode == "community")
        finally:
            await robot.aclose()


def routes(store: Store) -> dict[str, str]:
    with store.engine.connect() as conn:
        return {r.serial: r.route for r in conn.execute(sa.select(outcomes))}


def events(store: Store, action: str) -> list[Any]:
    with store.engine.connect() as conn:
        query = sa.select(audit_events).where(audit_events.c.action == action)
        return list(conn.execute(query.order_by(audit_events.c.id)))


# -- hospital mode ---------------------------------------------------------------------------


async def test_hospital_hand_out_records_each_pack_dispensed_with_no_hub_change(
    store: Store,
) -> None:
    async with a_site(store) as site:
        changes = site.hub.state_changes
        handed = await site.dispense(2)

    assert [h.dispensed.shelved for h in handed] == [True, True]
    assert all(h.intent is None and not h.trouble for h in handed)
    out = {h.left.ui.serial for h in handed if h.left.ui}
    assert routes(store) == {s: "dispensed" if s in out else "shelved" for s in SERIALS}
    assert site.hub.state_changes == changes  # decommissioned at stock-in already
    for serial in out:
        assert not store.in_stock(hub_pack(serial))
    [first, second] = events(store, "pack.dispensed")
    assert first.actor == second.actor == "dr.ana"
    before, after = json.loads(first.before), json.loads(first.after)
    assert (before["route"], after["route"]) == ("shelved", "dispensed")
    assert after["message"] == f"handed out by the robot (pack {handed[0].left.robot_pack})"
    assert store.check_audit_chain().ok


async def test_the_same_report_twice_records_nothing_the_second_time(store: Store) -> None:
    async with a_site(store, "community") as site:
        output = await site.robot.output((OutputCriteria(1, article_id=GTIN),), 1)
        message = await site.robot.finished(output)
        assert message is not None
        [once] = await site.hand_out().record(message, actor="dr.ana")
        [twice] = await site.hand_out().record(message, actor="dr.ana")

    assert (once.dispensed.already, twice.dispensed.already) == (False, True)
    assert once.intent is not None
    assert twice.intent is not None
    assert twice.intent.id == once.intent.id
    assert site.hub.state_changes_by_pack[(GTIN, once.intent.ui.serial)] == 1


# -- community mode --------------------------------------------------------------------------


async def test_community_hand_out_decommissions_each_pack_supplied_once(store: Store) -> None:
    async with a_site(store, "community") as site:
        assert site.hub.state_changes == 0  # community mode: nothing at stock-in
        handed = await site.dispense(3)

    assert [h.intent.status for h in handed if h.intent] == [IntentStatus.DONE] * 3
    for serial in SERIALS:
        assert site.hub.pack_state(GTIN, serial) == (PackState.INACTIVE, (Reason.SUPPLIED,))
    assert site.hub.state_changes == 3
    assert store.alert_cases() == []
    queued = [e for e in events(store, "outbox.queued") if e.actor != "daemon"]  # its verifies
    assert [(e.actor, e.why) for e in queued] == [("dr.ana", "handed out by the robot")] * 3


async def test_lost_hub_replies_never_decommission_a_pack_twice(store: Store) -> None:
    async with a_site(store, "community") as site:
        site.hub.set_faults(lost_reply_rate=0.5)
        handed = await site.dispense(3)
        site.hub.set_faults(lost_reply_rate=0.0)
        for _ in range(5):  # what an answer was lost for is asked about, then settled
            if all(h.intent and h.intent.status is IntentStatus.DONE for h in handed):
                break
            await replay(store, quick(site.hub), clock=utc_now, finished_packs_only=True)
            handed = [await site.hand_out().settled(h) for h in handed]

    assert [h.intent.status for h in handed if h.intent] == [IntentStatus.DONE] * 3
    with store.engine.connect() as conn:
        lost = conn.execute(
            sa.select(sa.func.count()).where(verifications.c.error.like("%lost reply%"))
        ).scalar()
    assert lost  # replies were lost, and no pack was decommissioned twice
    assert all(n == 1 for n in site.hub.state_changes_by_pack.values())
    assert site.hub.state_changes == 3
    assert store.alert_cases() == []


async def test_a_refused_decommission_opens_an_alert_case(store: Store) -> None:
    async with a_site(store, "community", serials=("DSP1",)) as site:
        await site.hub.client(LOCATION).decommission(hub_pack("DSP1"), Reason.DESTROYED)
        [handed] = await site.dispense(1)

    assert handed.intent is not None
    assert handed.intent.status is IntentStatus.FAILED
    assert handed.case is not None
    assert handed.trouble
    [case] = store.alert_cases()
    assert (case.id, case.token, case.serial) == (handed.case.id, handed.dispensed.token, "DSP1")


# -- the robot's side ------------------------------------------------------------------------


async def test_an_incomplete_output_records_the_packs_that_left(store: Store) -> None:
    async with a_site(store, serials=("DSP1", "DSP2")) as site:
        output = await site.robot.output((OutputCriteria(5, article_id=GTIN),), 1)
        message = await site.robot.finished(output)
        assert message is not None
        assert message.details.status is OutputStatus.INCOMPLETE
        handed = await site.hand_out().record(message, actor="dr.ana")

    assert len(handed) == 2
    assert ended(message, 5) == "the output ended Incomplete: 2 of 5 packs left (3 short)"
    assert set(routes(store).values()) == {Route.DISPENSED.value}


async def test_a_rejected_output_is_never_queued(store: Store) -> None:
    settings = RobotSettings(keepalive_every_s=None, valid_destinations=frozenset({1}))
    async with a_site(store, serials=("DSP1",), settings=settings) as site:
        output = await site.robot.output((OutputCriteria(1, article_id=GTIN),), 7)
        assert output.response.details.status is OutputAccepted.REJECTED
        assert await site.robot.finished(output) is None
    assert routes(store) == {"DSP1": "shelved"}


async def test_task_info_and_task_cancel(store: Store) -> None:
    slow = RobotSettings(keepalive_every_s=None, move_time_s=0.3)
    async with a_site(store, serials=("DSP1", "DSP2"), settings=slow) as site:
        output = await site.robot.output((OutputCriteria(2, article_id=GTIN),), 1)
        info = await site.robot.task_info(output.id)
        assert info.task.status in (TaskStatus.QUEUED, TaskStatus.IN_PROCESS)
        cancelled = await site.robot.task_cancel(output.id)
        assert cancelled.tasks[0].status is CancelStatus.CANCELLED
        message = await site.robot.finished(output)
        assert message is not None
        assert message.details.status is OutputStatus.ABORTED
        assert (await site.robot.task_info(output.id)).task.status is TaskStatus.ABORTED
        assert (await site.robot.task_cancel(output.id)).tasks[
            0
        ].status is CancelStatus.CANCEL_ERROR
        assert (await site.robot.task_info("nope")).task.status is TaskStatus.UNKNOWN
        assert (await site.robot.task_cancel("nope")).tasks[0].status is CancelStatus.UNKNOWN


@dataclass
class Daemon:
    """A running daemon's robot simulator, what it told `on_routed`, and its stop."""

    sim: Wwks2RobotSim
    told: list[Routed]
    stop: asyncio.Event


@asynccontextmanager
async def a_daemon(
    store: Store, hub: MockHub, client: HubClient | None = None
) -> AsyncIterator[Daemon]:
    """A community daemon driving a WWKS2 robot simulator with SERIALS stocked in, running until
    the block ends (`client`: its hub connection, the mock's own by default)."""
    async with Wwks2RobotSim(QUIET) as sim:
        await stock_in(store, hub, sim, "community", *SERIALS)
        robot = driver(sim.port)
        await robot.connect()
        daemon = Daemon(sim, [], asyncio.Event())
        pipeline = Pipeline(store=store, hub=quick(client or hub), robot=robot,
                            on_routed=daemon.told.append, site=SitePolicy(mode="community"),
                            location=LOCATION)  # fmt: skip
        running = asyncio.create_task(pipeline.run([], stop=daemon.stop))
        try:
            yield daemon
        finally:
            daemon.stop.set()
            await running
            await pipeline.aclose()
            await robot.aclose()


async def test_the_daemon_records_an_output_made_at_the_robots_terminal(store: Store) -> None:
    hub = a_hub(*SERIALS)
    async with a_daemon(store, hub) as daemon:
        manual = await daemon.sim.manual_output(OutputCriteria(1, article_id=GTIN))
        assert manual.id == "1"
        serial = manual.articles[0].packs[0].serial_number or ""

        async def supplied() -> bool:
            return hub.pack_state(GTIN, serial) == (PackState.INACTIVE, (Reason.SUPPLIED,))

        async def told_and_supplied() -> bool:  # told once its decommission has settled
            return len(daemon.told) > 0 and await supplied()

        await until(told_and_supplied, timeout_s=10, every_s=0.02)

    assert routes(store)[serial] == "dispensed"
    assert hub.state_changes == 1
    [event] = events(store, "pack.dispensed")
    assert event.actor == "robot robot's terminal"
    [handed] = daemon.told  # the bench and the counters hear of it as of any routed pack
    assert (handed.route, handed.why, handed.flagged) == (
        Route.DISPENSED, HandOutWhy.HANDED_OUT, False
    )  # fmt: skip
    assert handed.ui is not None
    assert handed.ui.serial == serial
    assert handed.message.endswith("SUPPLIED at the hub")
    assert handed.product_name == NAME  # as the hub named it when the pack was loaded


class HeldDecommission(RelayClient):
    """A hub whose decommissions wait for `release` (`asked` is set when one arrives)."""

    def __init__(self, inner: HubClient) -> None:
        super().__init__(inner)
        self.asked, self.release = asyncio.Event(), asyncio.Event()

    async def decommission(
        self, ui: PackIdentifier, to: Reason, *, trx: str | None = None
    ) -> HubResult:
        self.asked.set()
        await self.release.wait()
        return await super().decommission(ui, to, trx=trx)


async def test_a_hand_out_under_way_when_the_daemon_stops_is_finished_first(store: Store) -> None:
    hub = a_hub(*SERIALS)
    held = HeldDecommission(hub.client(LOCATION))
    async with a_daemon(store, hub, held) as daemon:
        try:
            await daemon.sim.manual_output(OutputCriteria(1, article_id=GTIN))
            await asyncio.wait_for(held.asked.wait(), 10)  # its SUPPLIED decommission is out
            daemon.stop.set()  # the daemon is told to stop meanwhile
        finally:
            held.release.set()  # the block's end then waits for the daemon to stop

    [handed] = [r for r in daemon.told if r.route is Route.DISPENSED]  # told before it stopped
    assert handed.message.endswith("SUPPLIED at the hub")
    assert hub.state_changes == 1
    assert [i.status for i in store.intents_of(handed.token)][-1] is IntentStatus.DONE


async def test_a_pack_never_shelved_here_is_recorded_and_flagged_and_not_decommissioned(
    store: Store,
) -> None:
    """WWKS2 has no authentication: a report naming a pack this site never shelved must not
    change that pack at the hub on the robot's word alone."""
    hub = a_hub("ELSE1")
    async with Wwks2RobotSim(QUIET) as sim:
        sim.preload(ScanPack(encode_gs1(hub_pack("ELSE1")), stocked=True))
        robot = driver(sim.port)
        await robot.connect()
        try:
            site = Site(sim, hub, store, robot, community=True)
            [handed] = await site.dispense(1)
        finally:
            await robot.aclose()

    assert (handed.dispensed.shelved, handed.trouble) == (False, True)
    assert handed.intent is None
    assert hub.state_changes == 0
    told = handed_out(handed)
    assert (told.route, told.why, told.flagged) == (
        Route.DISPENSED, HandOutWhy.NOT_SHELVED_HERE, True
    )  # fmt: skip
    assert "check this pack: handed out by the robot, but never shelved here" in instruction(told)
    with store.engine.connect() as conn:
        [row] = list(conn.execute(sa.select(outcomes)))
    assert (row.route, row.why, row.flagged, row.serial) == (
        "dispensed", "not-shelved-here", True, "ELSE1"
    )  # fmt: skip


# -- the command line ------------------------------------------------------------------------


def config_file(tmp_path: Path, port: int, url: str, mode: str = "hospital") -> Path:
    path = tmp_path / "site.toml"
    path.write_text(
        f'[site]\nmode = "{mode}"\nlocation = "{LOCATION}"\n'
        f'[store]\nurl = "{url}"\n'
        f'[robot]\nkind = "wwks2"\nhost = "127.0.0.1"\nport = {port}\noutput_within_s = 5\n'
    )
    return path


async def cli(*args: str) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": ROOT}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "robot_controller", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await process.communicate()
    return process.returncode or 0, stdout.decode(), stderr.decode()


async def test_cli_dispense_hands_out_and_records(tmp_path: Path, sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    try:
        async with a_site(store, serials=("DSP1", "DSP2")) as site:
            config = config_file(tmp_path, site.sim.port, sqlite_url)
            code, stdout, stderr = await cli(
                "dispense", "--product", GTIN, "--config", str(config), "--actor", "dr.ana"
            )
            assert (code, stderr) == (0, "")
            assert "Queued" in stdout
            assert "dispensed from the shelf" in stdout
            code, stdout, stderr = await cli("dispense", "--product", GTIN, "--quantity", "3",
                                             "--config", str(config), "--json")  # fmt: skip
            assert code == 3
            assert '"left": 1' in stdout
            assert "2 short" in stdout
        assert sorted(routes(store).values()) == ["dispensed", "dispensed"]
    finally:
        store.close()


async def test_cli_a_rejected_output_and_an_unreachable_robot(
    tmp_path: Path, sqlite_url: str
) -> None:
    settings = RobotSettings(keepalive_every_s=None, valid_destinations=frozenset({1}))
    async with Wwks2RobotSim(settings) as sim:
        config = config_file(tmp_path, sim.port, sqlite_url)
        code, _, stderr = await cli("dispense", "--article", "X1", "--destination", "4",
                                    "--config", str(config))  # fmt: skip
        assert code == 1
        assert "rejected output" in stderr
        assert "Traceback" not in stderr
        port = sim.port
    code, _, stderr = await cli("dispense", "--article", "X1", "--config", str(config))
    assert code == 1
    assert stderr.count("\n") == 1
    assert f"127.0.0.1:{port}: cannot connect" in stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["dispense"], "exactly one of --product CODE or --article ID"),
        (["dispense", "--product", GTIN, "--article", "A"], "exactly one of"),
        (["dispense", "--product", "09506000134353"], "is not a product code"),
        (["dispense", "--article", " "], "give the robot's article id"),
        (["dispense", "--article", "A", "--quantity", "0"], "--quantity"),
        (["robot", "task", "7"], "needs a WWKS2 robot"),
        (["robot", "cancel", "7"], "needs a WWKS2 robot"),
    ],
)
async def test_cli_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, sqlite_url: str, args: list[str], says: str
) -> None:
    config = tmp_path / "site.toml"
    robot = '[robot]\nkind = "wwks2"\nhost = "127.0.0.1"\n'
    if args[0] == "robot":
        robot = '[robot]\nkind = "sim"\n'
    config.write_text(f'[store]\nurl = "{sqlite_url}"\n{robot}')
    code, _, stderr = await cli(*args, "--config", str(config))
    assert code == 2
    assert says in stderr
    assert "Traceback" not in stderr


async def test_cli_robot_task_and_cancel(tmp_path: Path, sqlite_url: str) -> None:
    async with Wwks2RobotSim(QUIET) as sim:
        config = config_file(tmp_path, sim.port, sqlite_url)
        code, stdout, _ = await cli("robot", "task", "42", "--config", str(config))
        assert (code, stdout.strip()) == (1, "output 42: Unknown (0 packs out)")
        code, stdout, _ = await cli("robot", "cancel", "42", "--config", str(config))
        assert (code, stdout.strip()) == (1, "output 42: Unknown")


async def test_cli_beside_a_running_daemon_commits_the_decommission_only(
    tmp_path: Path, sqlite_url: str
) -> None:
    store = Store.open(sqlite_url)
    master = tmp_path / "hub.json"
    master.write_text(json.dumps({
        "products": [{"product_code": GTIN, "scheme": "GTIN", "name": "x"}],
        "batches": [{"product_code": GTIN, "batch": "B1", "expiry": "2028-12-31"}],
        "packs": [{"product_code": GTIN, "serial": "DSP1", "batch": "B1"}],
    }))  # fmt: skip
    try:
        async with a_site(store, "community", serials=("DSP1",)) as site:
            config = config_file(tmp_path, site.sim.port, sqlite_url, "community")
            config.write_text(
                config.read_text() + f'[hub]\nkind = "mock"\nmaster_data = "{master}"\n'
            )
            lock = hold_store(sqlite_url)  # as a running daemon holds it
            try:
                code, stdout, stderr = await cli("dispense", "--article", GTIN,
                                                 "--config", str(config))  # fmt: skip
            finally:
                lock.release()
            assert code == 0, stderr
            assert "a running daemon sends it" in stdout
            [intent] = [i for i in store.pending_intents() if i.reason is Reason.SUPPLIED]
            assert intent.attempts == 0
            assert site.hub.state_changes == 0
            await replay(store, quick(site.hub), clock=utc_now, finished_packs_only=True)
        assert site.hub.pack_state(GTIN, "DSP1") == (PackState.INACTIVE, (Reason.SUPPLIED,))
    finally:
        store.close()
