"""The WWKS2 link against the simulated robot (and, for a wrong Destination, a tiny raw peer):
the protocol's housekeeping, bad messages from the robot, a robot that is silent, slow or drops
the link. Real TCP on loopback; events ordered by `sim.until` and futures, never by sleeps."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from fmd.hub.resilient import ResilientHub
from fmd.policy import SitePolicy, Why
from robot_controller.config import Wwks2RobotConfig
from robot_controller.pipeline import Pipeline
from robot_controller.robot.base import RobotError
from robot_controller.robot.wwks2 import LinkSettings, Wwks2Robot, Wwks2Settings
from robot_controller.store import Store
from robot_controller.wiring import build_robot
from simulators.wwks2 import Faults, Malformed, RobotSettings, ScanPack, Wwks2RobotSim
from tests.support.logs import Logs
from tests.test_wwks2_stock_in import HOSPITAL, LOCATION, TIMING, code, hub_with, loading, ui
from wwks2 import messages as m
from wwks2.codec import decode, encode
from wwks2.framing import Document, Framer

FAST = {"reconnect_min_s": 0.05}


@asynccontextmanager
async def linked(sim: Wwks2RobotSim, **link: Any) -> AsyncIterator[Wwks2Robot]:
    """Our driver connected to `sim` (closed at the end)."""
    driver = Wwks2Robot(Wwks2Settings(LinkSettings("127.0.0.1", sim.port, **link)))
    await driver.connect()
    try:
        yield driver
    finally:
        await driver.aclose()


def wires(sim: Wwks2RobotSim, direction: str, lead: str) -> list[m.Message | Any]:
    return [w for w in sim.record if w.direction == direction and w.lead == lead]


def errors(logs: Logs) -> list[str]:
    return [str(event["event"]) for event in logs if event["log_level"] == "error"]


async def test_hello_learns_the_robots_id_and_keepalives_are_answered_both_ways() -> None:
    robot = RobotSettings(subscriber=777, keepalive_every_s=0.05)
    async with Wwks2RobotSim(robot) as sim, linked(sim, keepalive_every_s=0.05) as driver:
        assert (driver.link.robot_id, driver.link.destination) == (777, 777)
        assert "Vmax" in driver.link.robot_name
        [link] = sim.links
        await sim.until(
            lambda: (
                len(wires(sim, "in", "KeepAliveResponse")) >= 3  # theirs, answered
                and len(wires(sim, "out", "KeepAliveResponse")) >= 3  # ours, answered
                and not link.unanswered_keepalives
            )
        )
        assert link.subscriber == 100
        assert driver.link.connects == 1


async def test_a_not_ready_robot_is_not_ready_in_its_own_words() -> None:
    async with Wwks2RobotSim() as sim:
        sim.state = m.State.NOT_READY
        async with linked(sim) as driver:
            status = await driver.status()
            assert not status.ready
            assert "NotReady" in status.reported
            assert "Vmax 1" in status.reported
            sim.state = m.State.READY
            await driver.link.refresh_status()
            assert (await driver.status()).ready


@pytest.mark.parametrize("mode", ["hospital", "community"])
async def test_a_pack_asked_about_while_the_robot_is_not_ready_is_never_allowed(
    sqlite_url: str, mode: str
) -> None:
    pack = ui("NR1")
    hub = hub_with(pack)
    site = SitePolicy(mode=mode)  # type: ignore[arg-type]
    async with loading(sqlite_url, hub=hub, site=site) as (sim, pipeline, _stop):
        pipeline.steps.turn.resume_every_s = 0.05
        sim.state = m.State.NOT_READY
        await pipeline.robot.link.refresh_status()  # type: ignore[attr-defined]
        outcome = await sim.feed(ScanPack(code(pack)))
        state = hub.pack_state(pack.product_code, pack.serial)[0].value
        assert pipeline.steps.turn.paused is not None  # loading waits for the robot
        sim.state = m.State.READY
        await pipeline.robot.link.refresh_status()  # type: ignore[attr-defined]
        await until(lambda: pipeline.steps.turn.paused is None)
        again = await sim.feed(ScanPack(code(pack)))
        store = pipeline.store
    assert outcome.handling is m.InputHandling.REJECTED
    shown = sim.answers[0].articles[0].packs[0].handling.text
    assert shown == "FMD: robot-not-ready"  # why it is rejected, not why it would be allowed
    assert not outcome.stored
    assert state == "ACTIVE"  # nothing sent to the hub
    assert again.stored  # ready again: the same pack is taken
    first, second = (route for route, _why in store.outcomes().values())
    assert (first, second) == ("returned", "shelved")


@pytest.mark.parametrize("kind", list(Malformed))
async def test_a_message_we_cannot_use_is_one_error_line_and_unprocessed_and_the_link_stays(
    sqlite_url: str, logs: Logs, kind: Malformed
) -> None:
    pack = ui("BAD" + str(list(Malformed).index(kind)))
    faults = Faults(malformed_after_hello=kind)
    async with loading(sqlite_url, hub=hub_with(pack), faults=faults) as (sim, pipeline, _stop):
        await sim.until(lambda: bool(wires(sim, "in", "UnprocessedMessage")))
        assert errors(logs) == [errors(logs)[0]]  # one line for one message
        await sim.send_malformed(kind)  # and again, in the middle of the session
        await sim.until(lambda: len(wires(sim, "in", "UnprocessedMessage")) == 2)
        outcome = await sim.feed(ScanPack(code(pack)))
        robot = pipeline.robot
        store = pipeline.store
    assert len(errors(logs)) == 2, [e for e in logs if e["log_level"] == "error"]
    assert robot.link.connects == 1  # type: ignore[attr-defined]
    assert outcome.stored
    assert [route for route, _why in store.outcomes().values()] == ["shelved"]


async def test_a_robot_that_never_answers_hello_is_one_line() -> None:
    async with Wwks2RobotSim(faults=Faults(ignore=frozenset({"HelloRequest"}))) as sim:
        driver = Wwks2Robot(Wwks2Settings(LinkSettings("127.0.0.1", sim.port, hello_within_s=0.2)))
        with pytest.raises(RobotError) as raised:
            await driver.connect()
        await driver.aclose()
    assert "\n" not in str(raised.value)
    assert "no HelloResponse within 0.2 s" in str(raised.value)


async def test_a_robot_that_cannot_be_reached_is_one_line() -> None:
    async with Wwks2RobotSim() as sim:
        port = sim.port
    driver = Wwks2Robot(Wwks2Settings(LinkSettings("127.0.0.1", port)))
    with pytest.raises(RobotError) as raised:
        await driver.connect()
    assert "\n" not in str(raised.value)
    assert "connection refused" in str(raised.value)


async def test_a_dropped_link_is_said_hello_again_and_a_request_in_flight_fails() -> None:
    sim = Wwks2RobotSim(faults=Faults(drop_after=3))
    async with sim, linked(sim, keepalive_every_s=0.05, **FAST) as driver:
        await sim.until(lambda: len(wires(sim, "in", "HelloRequest")) == 2 and bool(sim._greeted()))
        assert await driver.link.wait_connected(5.0)
        sim.faults.drop_after = 1  # the next message in (our request) drops the link
        async with asyncio.timeout(5):
            with pytest.raises(RobotError) as raised:
                await driver.link.request(
                    m.StatusRequest(driver.link.next_id(), 100, 999),
                    m.StatusResponse,
                    timeout_s=30.0,
                )
        assert "dropped" in str(raised.value)
        await sim.until(lambda: len(wires(sim, "in", "HelloRequest")) == 3)
        assert await driver.link.wait_connected(5.0)
        assert (await driver.link.refresh_status()).state is m.State.READY
        assert driver.link.connects == 3


async def test_a_robot_slower_than_the_request_timeout_fails_the_request_in_one_line() -> None:
    async with Wwks2RobotSim() as sim, linked(sim, request_timeout_s=0.2, **FAST) as driver:
        sim.faults.reply_delay_s = 1.0
        with pytest.raises(RobotError) as raised:
            await driver.link.refresh_status()
        sim.faults.reply_delay_s = 0.0
    assert "\n" not in str(raised.value)
    assert "no StatusResponse within 0.2 s" in str(raised.value)


# -- a wrong Destination, from a raw peer -------------------------------------------------------


class RawRobot:
    """A bare WWKS2 server: answers Hello, KeepAlive, Status and StockInfo (empty), sends what
    the test gives it, and hands every InputResponse to `answers`."""

    def __init__(self) -> None:
        self.answers: asyncio.Queue[m.InputResponse] = asyncio.Queue()
        self.greeted = asyncio.Event()
        self.writer: asyncio.StreamWriter | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        framer = Framer()
        while data := await reader.read(65536):
            for frame in framer.feed(data):
                if isinstance(frame, Document):
                    await self.take(decode(frame.data), writer)

    async def take(self, message: m.Message, writer: asyncio.StreamWriter) -> None:
        robot = m.Subscriber(999, m.SubscriberType.ROBOT, "raw", "raw", "1")
        match message:
            case m.HelloRequest():
                self.send(writer, m.HelloResponse(message.id, robot))
                self.writer = writer
                self.greeted.set()
            case m.KeepAliveRequest():
                self.send(writer, m.KeepAliveResponse(message.id, 999, message.source))
            case m.StatusRequest():
                self.send(writer, m.StatusResponse(message.id, 999, message.source, m.State.READY))
            case m.StockInfoRequest():
                self.send(writer, m.StockInfoResponse(message.id, 999, message.source, ()))
            case m.InputResponse():
                self.answers.put_nowait(message)

    def send(self, writer: asyncio.StreamWriter | None, message: m.Message) -> None:
        assert writer is not None
        writer.write(encode(message, timestamp=datetime.now(UTC)))


async def test_an_input_request_for_another_subscriber_is_rejected_and_its_scans_recorded(
    sqlite_url: str,
) -> None:
    first, second = ui("DST1"), ui("DST2")
    peer = RawRobot()
    server = await asyncio.start_server(peer.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    driver = Wwks2Robot(Wwks2Settings(LinkSettings("127.0.0.1", port)))
    await driver.connect()
    store = Store.open(sqlite_url, location=LOCATION)
    pipeline = Pipeline(
        store=store, hub=ResilientHub(hub_with(first, second).client(LOCATION), timeout_s=10.0),
        robot=driver, site=HOSPITAL, location=LOCATION, stock_in=TIMING,
    )  # fmt: skip
    stop = asyncio.Event()
    running = asyncio.create_task(pipeline.run([], stop=stop))
    try:
        await peer.greeted.wait()
        packs = tuple(
            m.InputRequestPack(index=i, scan_code=code(pack))
            for i, pack in enumerate([first, second])
        )
        peer.send(
            peer.writer,
            m.InputRequest("7", 40, 555, articles=(m.InputRequestArticle(packs=packs),)),
        )
        answer = await asyncio.wait_for(peer.answers.get(), 5)
        assert answer.destination == 40  # addressed to the asking component
        handlings = [p.handling.input for a in answer.articles for p in a.packs]
        assert handlings == [m.InputHandling.REJECTED] * 2
        routed = asyncio.Event()
        recorded: list[object] = []

        def on_routed(pack: object) -> None:
            recorded.append(pack)
            if len(recorded) == 2:
                routed.set()

        pipeline.steps.on_routed = on_routed
        aborted = tuple(
            m.InputMessagePack(0, m.InputMessageHandling(m.InputResult.ABORTED), index=i)
            for i in range(2)
        )
        given_back = m.InputMessage("7", 40, 100, articles=(m.InputMessageArticle(packs=aborted),))
        peer.send(peer.writer, given_back)  # the robot gives both packs back
        await asyncio.wait_for(routed.wait(), 5)
    finally:
        stop.set()
        await running
        await pipeline.aclose()
        await driver.aclose()
        server.close()
        await server.wait_closed()
    assert [raw for _token, raw in store.raw_scans()] == [code(first), code(second)]
    assert list(store.outcomes().values()) == [("rejected", Why.BAD_REQUEST.value)] * 2
    assert store.summary()["lost"] == 0


async def until(predicate: Callable[[], bool]) -> None:
    """Until `predicate()` holds, a state of the daemon's that no event tells (a condition
    awaited, not events ordered by sleeping)."""
    async with asyncio.timeout(10):
        while not predicate():  # noqa: ASYNC110 - RobotTurn's resumption sets no event
            await asyncio.sleep(0.01)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_daemon_waits_for_a_robot_that_is_down_at_its_start(logs: Logs) -> None:
    port = _free_port()
    settings = Wwks2Settings(
        LinkSettings("127.0.0.1", port, reconnect_min_s=0.05, reconnect_max_s=0.2),
        wait_at_start=True,
    )
    robot = Wwks2Robot(settings)
    await robot.connect()  # nobody listens yet: one warning, no error
    try:
        assert not robot.link.connected
        with pytest.raises(RobotError, match="not connected"):
            await robot.status()
        await until(lambda: len(events(logs, "wwks2.reconnect_failed")) >= 3)
        async with Wwks2RobotSim(RobotSettings(port=port)):
            assert await robot.link.wait_connected(30)
            assert (await robot.status()).ready
    finally:
        await robot.aclose()
    assert len(events(logs, "wwks2.unreachable_at_start")) == 1
    failed = events(logs, "wwks2.reconnect_failed")
    assert [e["log_level"] for e in failed].count("warning") == 1  # the same cause, said once
    [back] = events(logs, "wwks2.reconnected")
    assert back["tries"] == len(failed) + 1


def events(logs: Logs, name: str) -> list[Any]:
    return [e for e in logs if e["event"] == name]


def test_only_the_daemon_waits_a_command_fails_at_once() -> None:
    config = Wwks2RobotConfig(kind="wwks2", host="127.0.0.1")
    daemon, command = build_robot(config, daemon=True), build_robot(config)
    assert isinstance(daemon, Wwks2Robot)
    assert isinstance(command, Wwks2Robot)
    assert (daemon.settings.wait_at_start, command.settings.wait_at_start) == (True, False)
