"""Stock-in over WWKS2: the robot scans each pack and asks; the daemon answers every pack right,
before the robot's deadline, and records what the robot did. Against the WWKS2 robot simulator
over loopback TCP, with a real store and the mock national system."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from fmd.codes import parse_scan
from fmd.codes.encode import encode_gs1
from fmd.codes.model import PackIdentifier
from fmd.hub import MockHub
from fmd.hub.resilient import ResilientHub
from fmd.policy import Action, Decision, SitePolicy, Why, decide
from robot_controller.pipeline import Pipeline
from robot_controller.pipeline.stock_check import check_stock
from robot_controller.pipeline.stock_in import StockInTiming
from robot_controller.robot.wwks2 import LinkSettings, Wwks2Robot, Wwks2Settings
from robot_controller.states import Stage
from robot_controller.store import Store
from robot_controller.texts import catalogue
from robot_controller.wiring import robot_words
from scanners.base import Scan
from simulators.delivery import SUSPECT_KINDS, Kind, generate_delivery, seed_hub, supply_elsewhere
from simulators.wwks2 import Faults, InputOutcome, RobotSettings, ScanPack, Wwks2RobotSim
from wwks2 import messages as m
from wwks2.codec import decode, encode
from wwks2.framing import Framer
from wwks2.messages import InputHandling

TODAY = datetime.now(UTC).date()
LOCATION = "ward-pharmacy"
GS = "\x1d"
HOSPITAL = SitePolicy()
ROBOT = RobotSettings()
TIMING = StockInTiming(answer_within_s=2.0)


@dataclass
class StockedIn:
    """A stock-in run: the robot, the store, and each fed pack's outcome at the robot."""

    robot: Wwks2RobotSim
    store: Store
    outcomes: list[InputOutcome]
    hub: MockHub

    def rows(self, query: str) -> list[tuple[object, ...]]:
        with self.store.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(query))]

    def routes(self) -> list[str]:
        """Our recorded route of each fed pack, in feeding order (by its scan)."""
        recorded = self.store.outcomes()
        tokens = [token for token, _raw in self.store.raw_scans()]
        return [recorded[token][0] for token in tokens]


@asynccontextmanager
async def loading(
    url: str,
    *,
    site: SitePolicy = HOSPITAL,
    hub: MockHub,
    robot: RobotSettings = ROBOT,
    faults: Faults | None = None,
    timing: StockInTiming = TIMING,
    link: dict[str, Any] | None = None,
) -> AsyncIterator[tuple[Wwks2RobotSim, Pipeline, asyncio.Event]]:
    """A daemon's pipeline connected to a simulated WWKS2 robot; it loads until the event."""
    async with Wwks2RobotSim(robot, faults=faults) as sim:
        settings = Wwks2Settings(LinkSettings("127.0.0.1", sim.port, **(link or {})))
        driver = Wwks2Robot(settings)
        await driver.connect()
        store = Store.open(url, location=LOCATION)
        pipeline = Pipeline(
            store=store,
            hub=ResilientHub(hub.client(LOCATION), timeout_s=10.0),
            robot=driver,
            site=site,
            location=LOCATION,
            stock_in=timing,
        )
        stop = asyncio.Event()
        running = asyncio.create_task(pipeline.run([], stop=stop))
        try:
            yield sim, pipeline, stop
        finally:
            stop.set()
            await running
            await pipeline.aclose()
            await driver.aclose()


async def stock_in(
    url: str, packs: Sequence[ScanPack], *, hub: MockHub, **options: object
) -> StockedIn:
    """Feed `packs` to the robot one after another and wait for each one's InputMessage."""
    async with loading(url, hub=hub, **options) as (sim, pipeline, _stop):  # type: ignore[arg-type]
        outcomes = [await sim.feed(pack) for pack in packs]
        store = pipeline.store
    return StockedIn(sim, store, outcomes, hub)


def ui(serial: str, *, batch: str = "B1", expiry: str = "301231") -> PackIdentifier:
    year, month, day = 2000 + int(expiry[:2]), int(expiry[2:4]), int(expiry[4:])
    return PackIdentifier("GTIN", "04150000000015", serial, batch, date(year, month, day), expiry)


def code(pack: PackIdentifier) -> str:
    return encode_gs1(pack, symbology=None)


def hub_with(*packs: PackIdentifier) -> MockHub:
    hub = MockHub(seed=1)
    hub.add_product("04150000000015")
    for batch in {(pack.batch, pack.expiry) for pack in packs}:
        hub.add_batch("04150000000015", *batch)  # type: ignore[arg-type]
    for pack in packs:
        hub.add_pack(pack)
    return hub


async def test_every_kind_of_a_generated_delivery_is_answered_as_its_route_says(
    sqlite_url: str,
) -> None:
    delivery = generate_delivery(4 * len(SUSPECT_KINDS), seed=5, suspect_rate=1.0, today=TODAY)
    hub = MockHub(seed=3)
    seed_hub(hub, delivery)
    await supply_elsewhere(hub, delivery)
    packs = [ScanPack(raw.removeprefix("]d2")) for raw in delivery.raws]
    done = await stock_in(sqlite_url, packs, hub=hub, robot=RobotSettings(components=(40,)))
    for pack, route, outcome in zip(delivery.packs, done.routes(), done.outcomes, strict=True):
        assert route == pack.expected_route, pack.kind
        allowed = outcome.handling is InputHandling.ALLOWED
        assert allowed == (pack.expected_route == "shelved"), pack.kind
        assert outcome.stored == allowed
        assert not outcome.late
    stored = {p.scan_code for p in done.robot.shelf.select(())}
    expected = {p.raw.removeprefix("]d2") for p in delivery.packs if p.expected_route == "shelved"}
    assert stored == expected
    assert done.store.summary()["lost"] == 0
    assert {p.kind for p in delivery.packs} >= {Kind.GENUINE, *SUSPECT_KINDS}


async def test_an_allowed_pack_is_answered_with_what_its_code_says_and_stored_at_the_robots_id(
    sqlite_url: str,
) -> None:
    pack = ui("SER1")
    done = await stock_in(sqlite_url, [ScanPack(code(pack), read=False)], hub=hub_with(pack))
    [outcome] = done.outcomes
    assert outcome.handling is InputHandling.ALLOWED
    assert outcome.stored
    [(token, route)] = [(t, o[0]) for t, o in done.store.outcomes().items()]
    assert route == "shelved"
    assert done.store.shelved_location(token) == outcome.pack_id > 2**32  # a 64-bit pack id
    [shelved] = done.robot.shelf.select(())
    assert (shelved.batch, shelved.serial, shelved.expiry) == ("B1", "SER1", pack.expiry)


async def test_a_robot_reading_that_contradicts_the_code_rejects_the_pack(sqlite_url: str) -> None:
    pack = ui("SER2")
    wrong_batch = ScanPack(code(pack), batch="OTHER")
    wrong_expiry = ScanPack(code(pack), expiry=date(2030, 12, 30))
    done = await stock_in(sqlite_url, [wrong_batch, wrong_expiry], hub=hub_with(pack))
    assert [o.handling for o in done.outcomes] == [InputHandling.REJECTED] * 2
    assert not any(o.stored for o in done.outcomes)
    assert done.routes() == ["rejected", "rejected"]
    whys = {row[1] for row in done.store.outcomes().values()}
    assert whys == {Why.ROBOT_DISAGREES.value}
    shown = {answer.articles[0].packs[0].handling.text for answer in done.robot.answers}
    assert shown == {"FMD: robot-disagrees"}  # the pipeline's plain words without a catalogue


def test_the_daemon_words_a_rejection_for_the_robots_display_in_the_sites_language() -> None:
    disagrees = Decision(Action.REJECT, Why.ROBOT_DISAGREES, "batch X is not Y")
    english = robot_words(catalogue("en"))(disagrees)
    german = robot_words(catalogue("de"))(disagrees)
    assert english == "FMD: robot data differs from the scanned code, not for stock"
    assert german == "FMD: Daten weichen vom gescannten Code ab, nicht einlagern"


async def test_a_scan_that_is_not_a_pack_identifier_is_rejected(sqlite_url: str) -> None:
    done = await stock_in(sqlite_url, [ScanPack("4630372")], hub=MockHub(seed=1))
    assert done.outcomes[0].handling is InputHandling.REJECTED
    assert done.routes() == ["rejected"]


async def test_a_pack_already_on_the_shelf_is_rejected(sqlite_url: str) -> None:
    pack = ui("SER3")
    twice = [ScanPack(code(pack)), ScanPack(code(pack))]
    done = await stock_in(sqlite_url, twice, hub=hub_with(pack))
    assert [o.handling for o in done.outcomes] == [InputHandling.ALLOWED, InputHandling.REJECTED]
    assert done.routes() == ["shelved", "quarantined"]
    assert len(done.robot.shelf) == 1


async def test_lower_case_escapes_from_a_live_robot_are_read(sqlite_url: str) -> None:
    pack = ui("SER4")
    done = await stock_in(
        sqlite_url, [ScanPack(code(pack))], hub=hub_with(pack),
        faults=Faults(lower_case_escapes=True),
    )  # fmt: skip
    assert done.outcomes[0].stored
    [(_, raw)] = done.store.raw_scans()
    assert GS in raw


async def test_a_hub_slower_than_the_robots_deadline_is_no_answer_and_the_offline_policy_answers(
    sqlite_url: str,
) -> None:
    pack = ui("SER5")
    hub = hub_with(pack)
    hub.set_faults(latency_s=5.0)
    timing = StockInTiming(answer_within_s=1.0, margin_s=0.25)
    done = await stock_in(
        sqlite_url, [ScanPack(code(pack))], hub=hub, timing=timing,
        robot=RobotSettings(answer_deadline_s=1.0),
    )  # fmt: skip
    [outcome] = done.outcomes
    assert not outcome.late
    assert outcome.handling is InputHandling.REJECTED
    assert done.routes() == ["quarantined"]  # the hospital's offline policy
    [row] = done.store.outcomes().values()
    assert row[1] == Why.HUB_UNAVAILABLE.value


async def test_a_hospital_decommissions_before_it_allows_and_a_pack_the_robot_then_drops_is_flagged(
    sqlite_url: str,
) -> None:
    first, second = ui("SER6"), ui("SER7")
    done = await stock_in(
        sqlite_url, [ScanPack(code(first)), ScanPack(code(second))],
        hub=hub_with(first, second), robot=RobotSettings(capacity=1, components=(40,)),
    )  # fmt: skip
    assert [o.handling for o in done.outcomes] == [InputHandling.ALLOWED] * 2
    assert [o.stored for o in done.outcomes] == [True, False]  # the shelf was full
    assert sorted(done.routes()) == ["rejected", "shelved"]
    [(_route, flagged, message)] = done.rows(
        "SELECT route, flagged, message FROM outcomes WHERE route = 'rejected'"
    )
    assert flagged
    assert "undone" in str(message)
    assert done.hub.pack_state(second.product_code, second.serial)[0].value != "ACTIVE"


async def test_an_unreadable_request_rejects_its_pack_and_the_link_stays_up(
    sqlite_url: str,
) -> None:
    pack = ui("SER8")
    hub = hub_with(pack)
    async with loading(sqlite_url, hub=hub, faults=Faults(raw_control_characters=True)) as (
        sim, pipeline, _stop,
    ):  # fmt: skip
        broken = await sim.feed(ScanPack(code(pack)))
        sim.faults.raw_control_characters = False
        fine = await sim.feed(ScanPack(code(pack)))
        store = pipeline.store
    routes = [route for _token, route in sorted(store.outcomes().items())]
    assert broken.handling is InputHandling.REJECTED
    assert not broken.stored
    assert fine.stored
    assert routes[0] == ("rejected", Why.BAD_REQUEST.value)  # its InputMessage unreadable too
    assert routes[1] == ("shelved", Why.DECOMMISSIONED.value)


async def test_a_dropped_link_is_reconnected_and_the_next_pack_is_answered(
    sqlite_url: str,
) -> None:
    first, second = ui("SERA"), ui("SERB")
    async with loading(sqlite_url, hub=hub_with(first, second), link={"reconnect_min_s": 0.05}) as (
        sim,
        pipeline,
        _stop,
    ):
        await sim.feed(ScanPack(code(first)))
        sim.drop_connections()
        await sim.until(lambda: any(link.greeted for link in sim.links if not link.closed))
        again = await sim.feed(ScanPack(code(second)))
        store = pipeline.store
    routes = sorted(route for route, _why in store.outcomes().values())
    assert again.stored
    assert routes == ["shelved", "shelved"]


async def test_the_robots_report_after_a_dropped_link_came_back_is_taken(
    sqlite_url: str,
) -> None:
    pack = ui("SERC")
    async with loading(
        sqlite_url, hub=hub_with(pack), robot=RobotSettings(move_time_s=0.5),
        link={"reconnect_min_s": 0.05},
    ) as (sim, pipeline, _stop):  # fmt: skip
        moving = sim.feed(ScanPack(code(pack)))
        await sim.until(lambda: any(wire.lead == "InputResponse" for wire in sim.record))
        sim.drop_connections()  # while the robot shelves the allowed pack
        await sim.until(lambda: any(link.greeted for link in sim.links))
        assert (await moving).stored
        store = pipeline.store
    assert list(store.outcomes().values()) == [("shelved", Why.DECOMMISSIONED.value)]


async def test_a_report_that_never_comes_leaves_the_pack_flagged_with_its_undo(
    sqlite_url: str,
) -> None:
    pack = ui("SERD")
    timing = StockInTiming(answer_within_s=2.0, stored_within_s=0.3)
    async with loading(
        sqlite_url, hub=hub_with(pack), robot=RobotSettings(move_time_s=5.0), timing=timing
    ) as (sim, pipeline, _stop):
        sim.feed(ScanPack(code(pack)))
        await sim.until(lambda: any(wire.lead == "InputResponse" for wire in sim.record))
        store = pipeline.store
    [(route, flagged, message)] = StockedIn(sim, store, [], MockHub()).rows(
        "SELECT route, flagged, message FROM outcomes"
    )
    assert (route, flagged) == ("rejected", True)
    assert "undone" in str(message)  # it was decommissioned: its undo is named


async def test_reconciliation_gives_back_a_pack_whose_report_was_lost_with_no_hub_change(
    sqlite_url: str,
) -> None:
    pack = ui("SERE")
    hub = hub_with(pack)
    timing = StockInTiming(answer_within_s=2.0, stored_within_s=0.3)
    routed = asyncio.Event()
    async with loading(
        sqlite_url, hub=hub, robot=RobotSettings(move_time_s=1.0), timing=timing
    ) as (sim, pipeline, _stop):
        pipeline.steps.on_routed = lambda _pack: routed.set()
        stored = sim.feed(ScanPack(code(pack)))
        await routed.wait()  # flagged: no report within 0.3 s
        assert (await stored).stored  # the robot shelved it all the same
        changes = hub.state_changes
        check = await check_stock(pipeline.steps, pipeline.robot)  # type: ignore[arg-type]
        store = pipeline.store
    [settled] = check.settled
    assert (settled.route, settled.why, settled.flagged) == ("shelved", Why.DECOMMISSIONED, False)
    assert hub.state_changes == changes  # its decommission here stands: nothing sent
    assert len(sim.shelf) == 1  # left on the shelf, not output to quarantine
    assert store.shelved_location(settled.token) == settled.pack.id
    rows = StockedIn(sim, store, [], hub).rows("SELECT token, message FROM outcomes ORDER BY token")
    assert "stored after all, no undo needed" in str(rows[0][1])  # its undo advice is void


class RawRobot:
    """A robot written by hand on the codec, for what the simulator does not do by itself:
    it greets, answers Status, KeepAlive and StockInfo (empty), and sends what the test tells
    it to; anything else it is sent waits in `inbox`."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[object] = asyncio.Queue()
        self.writer: asyncio.StreamWriter | None = None
        self.greeted = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer, framer = writer, Framer()
        while data := await reader.read(65536):
            for frame in framer.feed(data):
                message = decode(frame.data)  # type: ignore[union-attr]
                if isinstance(message, m.HelloRequest):
                    me = m.Subscriber(999, m.SubscriberType.ROBOT, "Test", "Raw", "1")
                    self.send(m.HelloResponse(message.id, me))
                    self.greeted.set()
                elif isinstance(message, m.StatusRequest):
                    self.send(m.StatusResponse(message.id, 999, message.source, m.State.READY))
                elif isinstance(message, m.KeepAliveRequest):
                    self.send(m.KeepAliveResponse(message.id, 999, message.source))
                elif isinstance(message, m.StockInfoRequest):  # an empty robot
                    self.send(m.StockInfoResponse(message.id, 999, message.source))
                else:
                    self.inbox.put_nowait(message)

    def send(self, message: m.Message) -> None:
        assert self.writer is not None
        self.writer.write(encode(message, timestamp=datetime.now(UTC)))


def input_request(id: str, raw: str) -> m.InputRequest:
    pack = m.InputRequestPack(0, scan_code=raw)
    return m.InputRequest(
        id, 40, 100, articles=(m.InputRequestArticle(packs=(pack,)),), is_new_delivery=True
    )


async def test_a_request_asked_again_under_its_id_is_the_same_pack_asked_again(
    sqlite_url: str,
) -> None:
    expired = ui("SERF", expiry="200131")  # rejected by the local check, no hub change
    peer = RawRobot()
    server = await asyncio.start_server(peer.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    driver = Wwks2Robot(Wwks2Settings(LinkSettings("127.0.0.1", port)))
    await driver.connect()
    store = Store.open(sqlite_url, location=LOCATION)
    hub = ResilientHub(hub_with().client(LOCATION))
    pipeline = Pipeline(store=store, hub=hub, robot=driver, site=HOSPITAL, stock_in=TIMING)
    stop = asyncio.Event()
    running = asyncio.create_task(pipeline.run([], stop=stop))
    try:
        await peer.greeted.wait()
        peer.send(input_request("7", code(expired)))
        first = await peer.inbox.get()
        peer.send(input_request("7", code(expired)))  # the robot asks again, same Id
        second = await peer.inbox.get()
        aborted = m.InputMessagePack(0, m.InputMessageHandling(m.InputResult.ABORTED), index=0)
        peer.send(m.InputMessage("7", 40, 100, articles=(m.InputMessageArticle(packs=(aborted,)),)))
    finally:
        stop.set()
        await running
        await pipeline.aclose()
        await driver.aclose()
        server.close()
    for answer in (first, second):
        assert isinstance(answer, m.InputResponse)
        assert answer.articles[0].packs[0].handling.input is InputHandling.REJECTED
    rows = StockedIn(None, store, [], MockHub()).rows(  # type: ignore[arg-type]
        "SELECT token, route, flagged FROM outcomes ORDER BY token"
    )
    assert rows == [(1, "rejected", 0), (2, "rejected", 0)]  # both given back, none lost
    assert store.summary()["lost"] == 0


async def test_a_pack_a_stop_left_unanswered_is_given_back_not_decommissioned(
    sqlite_url: str,
) -> None:
    pack = ui("SERG")
    hub = hub_with(pack)
    now = datetime.now(UTC)
    earlier = Store.open(sqlite_url, location=LOCATION)
    token = earlier.record_scan(Scan(code(pack), None, "wwks2:40", now), at=now)
    parsed = parse_scan(code(pack))
    decided = decide(parsed, await hub.client(LOCATION).verify(pack), HOSPITAL, today=now.date())
    assert decided.decommission_to is not None  # a hospital decommissions before the answer
    earlier.record_decision(token, Stage.VERIFY, parsed, decided, at=now)
    earlier.close()  # the daemon stopped here, before its decommission and the robot's answer

    async with loading(sqlite_url, hub=hub) as (_sim, pipeline, _stop):
        store = pipeline.store
    assert store.outcomes() == {token: ("returned", Why.VERIFIED.value)}
    assert hub.state_changes == 0  # nothing sent for a pack the robot no longer holds
