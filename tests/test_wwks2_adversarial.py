"""The WWKS2 link against a robot that sends what no robot should: a raw TCP peer writes
hand-crafted bytes, and the link must answer with one line, keep serving, and never mistake one
component's report for another's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

from fmd.hub.resilient import ResilientHub
from fmd.policy import SitePolicy
from robot_controller.pipeline import Pipeline
from robot_controller.pipeline.stock_in import StockInTiming
from robot_controller.robot.wwks2 import LinkSettings, Wwks2Link, Wwks2Robot, Wwks2Settings
from robot_controller.robot.wwks2.link import BrokenInputRequest
from robot_controller.store import Store
from tests.test_wwks2_stock_in import LOCATION, code, hub_with, ui
from wwks2.codec import decode
from wwks2.escaping import escape
from wwks2.framing import Document, Framer
from wwks2.messages import (
    HelloRequest,
    InputHandling,
    InputMessage,
    InputResponse,
    KeepAliveResponse,
    Message,
    StatusRequest,
    StockInfoRequest,
    UnprocessedMessage,
)

M = TypeVar("M", bound=Message)
STAMP = 'TimeStamp="2026-03-01T08:00:00Z"'


def document(body: str) -> bytes:
    return f'<WWKS Version="2.0" {STAMP}>{body}</WWKS>'.encode()


HELLO = (
    '<HelloResponse Id="{id}"><Subscriber Id="999" Type="Robot" Manufacturer="x" '
    'ProductInfo="raw" VersionInfo="1"><Capability Name="Input"/></Subscriber></HelloResponse>'
)

READY = '<StatusResponse Id="{id}" Source="999" Destination="100" State="Ready"/>'
EMPTY = '<StockInfoResponse Id="{id}" Source="999" Destination="100"/>'


class RawRobot:
    """A TCP peer that says Hello and then writes whatever it is told; it keeps what it reads."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[Message] = asyncio.Queue()
        self.writer: asyncio.StreamWriter | None = None
        self.greeted = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        framer = Framer()
        while data := await reader.read(65536):
            for frame in framer.feed(data):
                if not isinstance(frame, Document):
                    continue
                message = decode(frame.data)
                if isinstance(message, HelloRequest):
                    writer.write(document(HELLO.format(id=message.id)))
                    self.writer = writer
                    self.greeted.set()
                    continue
                if isinstance(message, StatusRequest):
                    writer.write(document(READY.format(id=message.id)))
                elif isinstance(message, StockInfoRequest):
                    writer.write(document(EMPTY.format(id=message.id)))
                await self.received.put(message)

    async def send(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)
        await self.writer.drain()

    async def next(self, kind: type[M]) -> M:
        """The next message of `kind` the link sent (status polls and the like skipped)."""
        async with asyncio.timeout(5):
            while True:
                message = await self.received.get()
                if isinstance(message, kind):
                    return message


@asynccontextmanager
async def linked() -> AsyncIterator[tuple[RawRobot, Wwks2Link, list[object]]]:
    robot = RawRobot()
    server = await asyncio.start_server(robot.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    arrived: list[object] = []

    async def on_message(message: object) -> None:
        arrived.append(message)

    link = Wwks2Link(
        LinkSettings("127.0.0.1", port, status_every_s=3600, keepalive_every_s=3600),
        on_message=on_message,
    )
    try:
        await link.start()
        await robot.greeted.wait()
        yield robot, link, arrived
    finally:
        await link.aclose()
        server.close()
        await server.wait_closed()


async def still_serving(robot: RawRobot) -> None:
    await robot.send(document('<KeepAliveRequest Id="77" Source="999" Destination="100"/>'))
    answer = await robot.next(KeepAliveResponse)
    assert answer.id == "77"


async def test_a_number_longer_than_python_reads_is_one_line_and_the_link_keeps_serving() -> None:
    async with linked() as (robot, link, _arrived):
        source = "9" * 5000  # int() refuses more than 4300 digits with a ValueError
        await robot.send(
            document(
                f'<InputRequest Id="10" Source="{source}" Destination="100"><Article>'
                '<Pack Index="0" ScanCode="X"/></Article></InputRequest>'
            )
        )
        refused = await robot.next(UnprocessedMessage)
        assert "is over 9223372036854775807" in (refused.text or "")
        assert len(refused.text or "") <= 200
        await still_serving(robot)
        assert link.connected


async def test_unicode_digits_in_an_unreadable_input_request_do_not_end_the_link() -> None:
    async with linked() as (robot, _link, arrived):
        await robot.send(
            document(
                '<InputRequest Id="9" Source="²" Destination="100"><Article>'
                '<Pack Index="²" ScanCode="X" ExpiryDate="bad"/></Article></InputRequest>'
            )
        )
        await robot.next(UnprocessedMessage)  # "²".isdigit() is True, int("²") a ValueError
        await robot.send(
            document(
                '<InputRequest Id="11" Source="40" Destination="100"><Article>'
                '<Pack Index="²" ScanCode="X" ExpiryDate="bad"/></Article></InputRequest>'
            )
        )
        await still_serving(robot)
    broken = [message for message in arrived if isinstance(message, BrokenInputRequest)]
    assert [(b.id, b.source, b.indexes) for b in broken] == [("11", 40, (None,))]


def stored(id: str, source: int, pack_id: int) -> bytes:
    return document(
        f'<InputMessage Id="{id}" Source="{source}" Destination="100"><Article>'
        f'<Pack Index="0" Id="{pack_id}"><Handling Input="Completed"/></Pack>'
        "</Article></InputMessage>"
    )


async def test_two_input_components_using_the_same_id_each_get_their_own_report() -> None:
    async with linked() as (robot, link, _arrived):
        belt_40 = link.expect(InputMessage, "5", source=40)
        belt_41 = link.expect(InputMessage, "5", source=41)
        await robot.send(stored("5", 41, 4100000000000001))
        async with asyncio.timeout(5):
            report = await belt_41
        assert report is not None
        assert report.articles[0].packs[0].id == 4100000000000001
        assert not belt_40.done()  # not superseded, not given the other belt's pack
        await robot.send(stored("5", 40, 4000000000000001))
        async with asyncio.timeout(5):
            report = await belt_40
        assert report is not None
        assert report.articles[0].packs[0].id == 4000000000000001


async def test_a_report_from_another_source_is_taken_only_when_it_is_the_one_awaited() -> None:
    async with linked() as (robot, link, arrived):
        only = link.expect(InputMessage, "6", source=40)
        await robot.send(stored("6", 999, 4000000000000002))  # a robot naming itself
        async with asyncio.timeout(5):
            assert await only is not None
        first = link.expect(InputMessage, "7", source=40)
        second = link.expect(InputMessage, "7", source=41)
        await robot.send(stored("7", 999, 4000000000000003))  # whose? neither is told
        await still_serving(robot)
        assert not first.done()
        assert not second.done()
    assert [type(message) for message in arrived] == [InputMessage]


async def test_two_packs_with_the_same_index_are_not_both_taken_as_stored(
    sqlite_url: str,
) -> None:
    """A robot that gives two packs of one request the same Index, then reports one stored and
    one aborted under that Index: which is which is unclear, so neither is shelved."""
    first, second = ui("DUP1"), ui("DUP2")
    robot = RawRobot()
    server = await asyncio.start_server(robot.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    driver = Wwks2Robot(Wwks2Settings(LinkSettings("127.0.0.1", port, status_every_s=3600)))
    await driver.connect()
    store = Store.open(sqlite_url, location=LOCATION)
    pipeline = Pipeline(
        store=store,
        hub=ResilientHub(hub_with(first, second).client(LOCATION), timeout_s=10.0),
        robot=driver,
        site=SitePolicy(),
        location=LOCATION,
        stock_in=StockInTiming(answer_within_s=2.0, stored_within_s=5.0),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(pipeline.run([], stop=stop))
    try:
        await robot.greeted.wait()
        packs = "".join(
            f'<Pack Index="0" ScanCode="{escape(code(pack))}"/>' for pack in (first, second)
        )
        await robot.send(
            document(
                '<InputRequest Id="30" Source="40" Destination="100" IsNewDelivery="True">'
                f"<Article>{packs}</Article></InputRequest>"
            )
        )
        answer = await robot.next(InputResponse)
        assert [p.handling.input for p in answer.articles[0].packs] == [InputHandling.ALLOWED] * 2
        await robot.send(
            document(
                '<InputMessage Id="30" Source="40" Destination="100"><Article>'
                '<Pack Index="0" Id="0"><Handling Input="Aborted"/></Pack>'
                '<Pack Index="0" Id="4000000000000030"><Handling Input="Completed"/></Pack>'
                "</Article></InputMessage>"
            )
        )
        await still_serving(robot)  # the report was read: the stop below waits for its recording
    finally:
        stop.set()
        await running
        await pipeline.aclose()
        await driver.aclose()
        server.close()
        await server.wait_closed()
    routes = [route for route, _why in store.outcomes().values()]
    assert len(routes) == 2
    assert "shelved" not in routes
    assert store.summary()["lost"] == 0
