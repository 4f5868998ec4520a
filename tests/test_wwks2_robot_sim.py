"""The simulated WWKS2 robot over real loopback TCP, driven by a small client made of the
codec and the framer (`simulators.wwks2`)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from simulators.wwks2 import (
    Faults,
    Malformed,
    RobotSettings,
    ScanPack,
    ScansError,
    Wwks2RobotSim,
    parse_scans,
    read_scans,
)
from simulators.wwks2.shelf import Shelf
from tests.support.clock import ManualClock
from wwks2 import messages as m
from wwks2.codec import decode, encode
from wwks2.errors import MalformedXml, MessageTooLarge, UnknownMessage
from wwks2.framing import Document, Framer

M = TypeVar("M")
GS = "\x1d"
CODE = f"010541506230323821128302034892{GS}1729033110B32542"  # a live robot's scan (TRACE)
GTIN = "05415062303238"
OTHER = f"010541506230323821SECOND{GS}1728013110LOT7"
WAIT_S = 5.0


class Client:
    """The pharmacy system's end of one link: messages out, documents in."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.framer = Framer()
        self.documents: list[bytes] = []
        self.held: list[Any] = []

    @classmethod
    async def connect(cls, port: int) -> Client:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, message: m.Message) -> None:
        await self.send_raw(encode(message, timestamp=datetime.now(UTC)))

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def document(self) -> bytes:
        async def read() -> bytes:
            while not self.documents:
                data = await self.reader.read(65536)
                if not data:
                    raise EOFError("the robot closed the connection")
                self.documents += [
                    f.data for f in self.framer.feed(data) if isinstance(f, Document)
                ]
            return self.documents.pop(0)

        return await asyncio.wait_for(read(), WAIT_S)

    async def expect(self, kind: type[M]) -> M:
        """The next message of `kind`; the others that come first are held in `held`."""
        for index, message in enumerate(self.held):
            if isinstance(message, kind):
                return self.held.pop(index)  # type: ignore[no-any-return]
        while True:
            message = decode(await self.document())
            if isinstance(message, kind):
                return message
            self.held.append(message)

    async def hello(self, subscriber: int = 100) -> m.HelloResponse:
        await self.send(
            m.HelloRequest(
                "1", m.Subscriber(subscriber, m.SubscriberType.IMS, "Test", "client", "1")
            )
        )
        return await self.expect(m.HelloResponse)

    async def closed(self) -> bool:
        data = await asyncio.wait_for(self.reader.read(65536), WAIT_S)
        return data == b""

    async def answer(self, request: m.InputRequest, handling: m.InputHandling, **pack: Any) -> None:
        await self.send(
            m.InputResponse(
                id=request.id, source=request.destination, destination=request.source,
                is_new_delivery=request.is_new_delivery,
                articles=(
                    m.InputResponseArticle(
                        id=request.articles[0].id,
                        packs=(m.InputResponsePack(m.Handling(handling), index=0, **pack),),
                    ),
                ),
            )
        )  # fmt: skip

    def close(self) -> None:
        self.writer.close()


QUIET = RobotSettings(keepalive_every_s=None)


@asynccontextmanager
async def robot(settings: RobotSettings = QUIET, **options: Any) -> AsyncIterator[Wwks2RobotSim]:
    async with Wwks2RobotSim(settings, **options) as sim:
        yield sim


@asynccontextmanager
async def greeted(sim: Wwks2RobotSim, subscriber: int = 100) -> AsyncIterator[Client]:
    client = await Client.connect(sim.port)
    await client.hello(subscriber)
    try:
        yield client
    finally:
        client.close()


def _pack(message: m.InputRequest) -> m.InputRequestPack:
    return message.articles[0].packs[0]


def _result(message: m.InputMessage) -> m.InputMessagePack:
    return message.articles[0].packs[0]


# -- session ---------------------------------------------------------------------------------


async def test_hello_is_answered_with_the_robot_subscriber_and_its_capabilities() -> None:
    async with robot() as sim:
        client = await Client.connect(sim.port)
        response = await client.hello()
        assert response.id == "1"
        assert response.subscriber.id == 999
        assert response.subscriber.type is m.SubscriberType.ROBOT
        names = {c.name for c in response.subscriber.capabilities}
        assert names == {"KeepAlive", "Status", "Input", "Output", "StockInfo", "TaskInfo",
                         "TaskCancel"}  # fmt: skip
        assert sim.links[0].subscriber == 100
        client.close()


async def test_a_client_without_hello_within_the_limit_is_closed() -> None:
    clock = ManualClock()
    async with robot(clock=clock, sleep=clock.sleep) as sim:
        client = await Client.connect(sim.port)
        await sim.until(lambda: len(sim.links) == 1)
        await clock.settle()
        await clock.advance(4.9)
        assert not sim.links[0].closed
        await clock.advance(0.1)
        assert await client.closed()
        assert sim.record[-1].note == "no hello"


async def test_keepalive_both_ways_and_unanswered_ones_counted() -> None:
    clock = ManualClock()
    settings = RobotSettings(keepalive_every_s=10)
    async with robot(settings, clock=clock, sleep=clock.sleep) as sim, greeted(sim) as client:
        await client.send(m.KeepAliveRequest("5", 100, 999))
        answer = await client.expect(m.KeepAliveResponse)
        assert (answer.id, answer.source, answer.destination) == ("5", 999, 100)
        await clock.settle()
        await clock.advance(10)
        first = await client.expect(m.KeepAliveRequest)
        assert (first.source, first.destination) == (999, 100)
        await clock.advance(10)
        second = await client.expect(m.KeepAliveRequest)
        link = sim.links[0]
        assert link.unanswered_keepalives == {first.id, second.id}
        await client.send(m.KeepAliveResponse(first.id, 100, 999))
        await sim.until(lambda: link.unanswered_keepalives == {second.id})


async def test_status_with_and_without_details_and_not_ready() -> None:
    async with robot() as sim, greeted(sim) as client:
        await client.send(m.StatusRequest("8", 100, 999, include_details=True))
        status = await client.expect(m.StatusResponse)
        assert (status.id, status.source, status.destination) == ("8", 999, 100)
        assert status.state is m.State.READY
        assert status.components[0].type is m.ComponentType.STORAGE_SYSTEM
        assert status.components[0].description == "Vmax 1"
        sim.state = m.State.NOT_READY
        await client.send(m.StatusRequest("9", 100, 999))
        status = await client.expect(m.StatusResponse)
        assert status.state is m.State.NOT_READY
        assert status.components == ()


# -- stock-in --------------------------------------------------------------------------------


async def test_an_allowed_pack_is_stored_with_a_pack_id_and_the_answer_mirrored() -> None:
    async with robot() as sim, greeted(sim) as client:
        done = sim.feed(ScanPack(CODE, delivery_number="D-17"), component=40)
        request = await client.expect(m.InputRequest)
        assert (request.source, request.destination, request.is_new_delivery) == (40, 100, True)
        pack = _pack(request)
        assert request.articles[0].id == GTIN
        assert pack.index == 0
        assert pack.scan_code == CODE
        assert pack.delivery_number == "D-17"
        assert (pack.batch_number, pack.serial_number, pack.external_id) == (
            "B32542", "128302034892", "128302034892"
        )  # fmt: skip
        assert pack.expiry_date == date(2029, 3, 31)
        assert pack.expiry_date_source is m.ExpiryDateSource.BARCODE
        await client.answer(
            request, m.InputHandling.ALLOWED, batch_number="B32542",
            serial_number="128302034892", expiry_date=date(2029, 3, 31),
        )  # fmt: skip
        message = await client.expect(m.InputMessage)
        stored = _result(message)
        assert message.id == request.id
        assert message.source == 40
        assert stored.handling.input is m.InputResult.COMPLETED
        assert len(str(stored.id)) == 16
        assert str(stored.id).startswith("40")
        assert (stored.batch_number, stored.serial_number) == ("B32542", "128302034892")
        outcome = await done
        assert outcome.stored
        assert outcome.pack_id == stored.id
        assert sim.shelf.packs[stored.id].scan_code == CODE
        stock = await client.expect(m.StockInfoMessage)
        assert stock.id == "1"
        assert stock.articles == (m.StockArticle(GTIN, quantity=1),)


async def test_a_rejected_pack_is_aborted_with_pack_id_0_and_a_return_says_so() -> None:
    async with robot() as sim, greeted(sim) as client:
        done = sim.feed(ScanPack(CODE, is_return=True))
        request = await client.expect(m.InputRequest)
        assert request.is_new_delivery is False
        await client.answer(request, m.InputHandling.REJECTED)
        message = await client.expect(m.InputMessage)
        assert _result(message).id == 0
        assert _result(message).handling.input is m.InputResult.ABORTED
        outcome = await done
        assert not outcome.stored
        assert outcome.handling is m.InputHandling.REJECTED
        assert len(sim.shelf) == 0


async def test_an_answer_after_the_deadline_is_too_late_and_recorded_as_such() -> None:
    clock = ManualClock()
    async with robot(clock=clock, sleep=clock.sleep) as sim, greeted(sim) as client:
        done = sim.feed(ScanPack(CODE))
        request = await client.expect(m.InputRequest)
        await clock.settle()
        await clock.advance(5)
        message = await client.expect(m.InputMessage)
        assert _result(message).handling.input is m.InputResult.ABORTED
        outcome = await done
        assert outcome.late
        assert outcome.handling is None
        await client.answer(request, m.InputHandling.ALLOWED)
        await sim.until(lambda: sim.late_answers == [request.id])
        assert sim.record[-1].note == "late"
        assert len(sim.shelf) == 0


async def test_rejected_no_batch_number_brings_the_same_id_again_with_the_batch() -> None:
    async with robot() as sim, greeted(sim) as client:
        done = sim.feed(ScanPack(CODE, batch="LOT9", read=False))
        first = await client.expect(m.InputRequest)
        assert _pack(first).batch_number is None
        assert _pack(first).serial_number is None
        await client.answer(first, m.InputHandling.REJECTED_NO_BATCH_NUMBER)
        second = await client.expect(m.InputRequest)
        assert second.id == first.id
        assert _pack(second).batch_number == "LOT9"
        await client.answer(second, m.InputHandling.ALLOWED, batch_number="LOT9")
        assert (await done).stored


async def test_no_retry_when_the_robot_has_nothing_to_add() -> None:
    async with robot() as sim, greeted(sim) as client:
        done = sim.feed(ScanPack("4630372"))
        request = await client.expect(m.InputRequest)
        await client.answer(request, m.InputHandling.REJECTED_NO_EXPIRY_DATE)
        assert not (await done).stored


async def test_two_components_work_in_parallel_each_with_its_own_source() -> None:
    async with robot() as sim, greeted(sim) as client:
        first = sim.feed(ScanPack(CODE), component=40)
        second = sim.feed(ScanPack(OTHER), component=41)
        one = await client.expect(m.InputRequest)
        two = await client.expect(m.InputRequest)  # before either is answered
        assert {one.source, two.source} == {40, 41}
        assert one.id != two.id
        await client.answer(two, m.InputHandling.ALLOWED)
        await client.answer(one, m.InputHandling.ALLOWED)
        ids = {(await first).pack_id, (await second).pack_id}
        assert len(ids) == 2
        assert 0 not in ids


async def test_stock_in_waits_for_a_client_and_a_full_shelf_aborts() -> None:
    async with robot(RobotSettings(capacity=0, keepalive_every_s=None)) as sim:
        done = sim.feed(ScanPack(CODE))
        assert not done.done()
        async with greeted(sim) as client:
            await client.answer(await client.expect(m.InputRequest), m.InputHandling.ALLOWED)
            message = await client.expect(m.InputMessage)
            assert _result(message).handling.input is m.InputResult.ABORTED
            assert "full" in (_result(message).handling.text or "")


async def test_closing_the_robot_cancels_the_packs_not_yet_through() -> None:
    async with robot() as sim:
        waiting = sim.feed(ScanPack(CODE))
    assert waiting.cancelled()


async def test_robot_messages_go_to_every_connection_replies_only_to_the_asker() -> None:
    async with robot() as sim, greeted(sim, 100) as one, greeted(sim, 101) as two:
        sim.feed(ScanPack(CODE))
        asked = [await one.expect(m.InputRequest), await two.expect(m.InputRequest)]
        assert [r.destination for r in asked] == [100, 101]
        await one.answer(asked[0], m.InputHandling.ALLOWED)
        for client in (one, two):
            assert (await client.expect(m.InputMessage)).id == asked[0].id
        await two.send(m.StatusRequest("50", 101, 999))
        await two.expect(m.StatusResponse)
        assert [w.connection for w in sim.record if w.lead == "StatusResponse"] == [2]


# -- output, stock, tasks --------------------------------------------------------------------


STOCKED = [ScanPack(CODE, stocked=True), ScanPack(OTHER, stocked=True)]


def _output(id: str, *criteria: m.OutputCriteria, destination: int = 1) -> m.OutputRequest:
    return m.OutputRequest(id, 100, 999, m.OutputDetails(output_destination=destination),
                           criteria=criteria)  # fmt: skip


async def test_output_completed_then_incomplete_when_short() -> None:
    async with robot(scans=STOCKED) as sim, greeted(sim) as client:
        await client.send(_output("700", m.OutputCriteria(1, article_id=GTIN)))
        response = await client.expect(m.OutputResponse)
        assert response.details.status is m.OutputAccepted.QUEUED
        assert response.criteria == (m.OutputCriteria(1, article_id=GTIN),)
        done = await client.expect(m.OutputMessage)
        assert done.id == "700"
        assert done.details.status is m.OutputStatus.COMPLETED
        left = done.articles[0].packs[0]
        assert (left.scan_code, left.serial_number, left.output_destination) == (
            CODE, "128302034892", 1
        )  # fmt: skip
        assert (await client.expect(m.StockInfoMessage)).articles[0].quantity == 1
        await client.send(_output("701", m.OutputCriteria(3, article_id=GTIN)))
        await client.expect(m.OutputResponse)
        short = await client.expect(m.OutputMessage)
        assert short.details.status is m.OutputStatus.INCOMPLETE
        assert len(short.articles[0].packs) == 1
        assert len(sim.shelf) == 0


async def test_output_by_pack_id_and_by_batch() -> None:
    async with robot(scans=STOCKED) as sim, greeted(sim) as client:
        second = list(sim.shelf.packs)[1]
        await client.send(_output("1", m.OutputCriteria(1, pack_id=second)))
        assert (await client.expect(m.OutputMessage)).articles[0].packs[0].id == second
        await client.send(_output("2", m.OutputCriteria(1, batch_number="B32542")))
        assert (await client.expect(m.OutputMessage)).articles[0].packs[0].batch_number == "B32542"


async def test_output_rejected_for_an_unknown_destination_or_a_bad_request() -> None:
    settings = RobotSettings(keepalive_every_s=None, valid_destinations=frozenset({1}))
    async with robot(settings, scans=STOCKED) as sim, greeted(sim) as client:
        await client.send(_output("9", m.OutputCriteria(1, article_id=GTIN), destination=5))
        assert (await client.expect(m.OutputResponse)).details.status is m.OutputAccepted.REJECTED
        await client.send(_output("10", m.OutputCriteria(1)))
        assert (await client.expect(m.OutputResponse)).details.status is m.OutputAccepted.REJECTED
        assert sim.outputs == {}
        assert len(sim.shelf) == 2


async def test_a_manual_output_is_reported_with_id_1_to_everyone() -> None:
    async with robot(scans=STOCKED) as sim, greeted(sim) as client:
        sent = await sim.manual_output(m.OutputCriteria(1, article_id=GTIN))
        got = await client.expect(m.OutputMessage)
        assert got.id == "1" == sent.id
        assert got.destination == 100


async def test_stock_info_with_and_without_packs_and_criteria_and_or() -> None:
    async with robot(scans=STOCKED) as sim, greeted(sim) as client:
        await client.send(m.StockInfoRequest("3", 100, 999))
        every = await client.expect(m.StockInfoResponse)
        assert every.articles[0].id == GTIN
        assert every.articles[0].quantity == 2
        assert {p.batch_number for p in every.articles[0].packs} == {"B32542", "LOT7"}
        assert every.articles[0].packs[0].scan_code == CODE
        both = m.StockCriteria(article_id=GTIN, batch_number="LOT7")
        await client.send(m.StockInfoRequest("4", 100, 999, criteria=(both,)))
        anded = await client.expect(m.StockInfoResponse)
        assert [p.batch_number for p in anded.articles[0].packs] == ["LOT7"]
        either = (m.StockCriteria(batch_number="LOT7"), m.StockCriteria(batch_number="B32542"))
        await client.send(m.StockInfoRequest("5", 100, 999, include_packs=False, criteria=either))
        ored = await client.expect(m.StockInfoResponse)
        assert ored.articles == (m.StockArticle(GTIN, quantity=2),)
        await client.send(
            m.StockInfoRequest("6", 100, 999, criteria=(m.StockCriteria(article_id="X"),))
        )
        assert (await client.expect(m.StockInfoResponse)).articles == ()


async def test_task_info_and_cancel_of_an_output_in_process() -> None:
    clock = ManualClock()
    settings = RobotSettings(keepalive_every_s=None, move_time_s=1)
    async with (
        robot(settings, scans=STOCKED, clock=clock, sleep=clock.sleep) as sim,
        greeted(sim) as client,
    ):
        await client.send(_output("700", m.OutputCriteria(2, article_id=GTIN)))
        await client.expect(m.OutputResponse)
        await sim.until(lambda: sim.outputs["700"].status is m.TaskStatus.IN_PROCESS)
        info = m.TaskInfoRequest("11", 100, 999, m.InfoTask("700", m.TaskInfoType.OUTPUT))
        await client.send(info)
        assert (await client.expect(m.TaskInfoResponse)).task.status is m.TaskStatus.IN_PROCESS
        cancel = m.TaskCancelRequest(
            "12", 100, 999,
            tasks=(m.CancelTask(m.TaskType.OUTPUT, "700"), m.CancelTask(m.TaskType.OUTPUT, "9")),
        )  # fmt: skip
        await client.send(cancel)
        answer = await client.expect(m.TaskCancelResponse)
        assert [t.status for t in answer.tasks] == [
            m.CancelStatus.CANCELLED,
            m.CancelStatus.UNKNOWN,
        ]
        await clock.settle()
        await clock.advance(1)
        aborted = await client.expect(m.OutputMessage)
        assert aborted.details.status is m.OutputStatus.ABORTED
        assert len(aborted.articles[0].packs) == 1  # the pack on its way when it was cancelled
        await client.send(m.TaskCancelRequest("13", 100, 999, tasks=cancel.tasks[:1]))
        again = await client.expect(m.TaskCancelResponse)
        assert again.tasks[0].status is m.CancelStatus.CANCEL_ERROR
        await client.send(m.TaskInfoRequest("14", 100, 999, info.task, include_task_details=True))
        task = (await client.expect(m.TaskInfoResponse)).task
        assert task.status is m.TaskStatus.ABORTED
        assert task.articles[0].quantity == 1


# -- what cannot be used, and faults --------------------------------------------------------


async def test_an_undecodable_message_is_answered_unprocessed_and_the_link_kept() -> None:
    async with robot() as sim, greeted(sim) as client:
        strange = b'<WWKS Version="2.0" TimeStamp="2026-03-01T08:00:00Z"><Frob Id="3"/></WWKS>'
        await client.send_raw(strange)
        answer = await client.expect(m.UnprocessedMessage)
        assert answer.reason is m.UnprocessedReason.NOT_SUPPORTED
        assert answer.message.text == strange.decode()
        await client.send_raw(b'<WWKS Version="2.0" TimeStamp="x"><StatusRequest</WWKS>')
        broken = await client.expect(m.UnprocessedMessage)
        assert broken.reason is m.UnprocessedReason.SYNTAX_ERROR
        await client.send(m.StatusRequest("8", 100, 999))
        assert (await client.expect(m.StatusResponse)).id == "8"
        assert [w.note for w in sim.record if w.direction == "in"][-3:] == [
            "unprocessed", "unprocessed", None
        ]  # fmt: skip


async def test_a_message_the_robot_does_not_take_is_unprocessed_not_supported() -> None:
    async with robot() as sim, greeted(sim) as client:
        await client.send(m.StockInfoResponse("7", 100, 999))
        answer = await client.expect(m.UnprocessedMessage)
        assert answer.reason is m.UnprocessedReason.NOT_SUPPORTED
        assert "<StockInfoResponse" in answer.message.text


async def test_drop_connections_now_and_after_n_messages() -> None:
    async with robot() as sim:
        async with greeted(sim) as client:
            sim.drop_connections()
            assert await client.closed()
        sim.faults.drop_after = 2
        async with greeted(sim) as client:  # the Hello is the first
            await client.send(m.StatusRequest("2", 100, 999))
            assert await client.closed()
        assert sim.faults.drop_after is None


async def test_slow_answers_wait_the_delay() -> None:
    clock = ManualClock()
    async with robot(clock=clock, sleep=clock.sleep) as sim, greeted(sim) as client:
        sim.faults.reply_delay_s = 2
        await client.send(m.StatusRequest("8", 100, 999))
        await sim.until(lambda: sim.record[-1].lead == "StatusRequest")
        await clock.settle()
        await clock.advance(1.9)
        assert sim.record[-1].lead == "StatusRequest"
        await clock.advance(0.1)
        assert (await client.expect(m.StatusResponse)).id == "8"


async def test_ignored_requests_get_no_answer() -> None:
    async with robot() as sim, greeted(sim) as client:
        sim.faults.ignore = frozenset({"KeepAliveRequest"})
        await client.send(m.KeepAliveRequest("5", 100, 999))
        await client.send(m.StatusRequest("6", 100, 999))
        await client.expect(m.StatusResponse)
        assert client.held == []
        assert [w.note for w in sim.record if w.lead == "KeepAliveRequest"] == ["ignored"]


async def test_an_ignored_input_response_is_a_lost_answer() -> None:
    clock = ManualClock()
    async with robot(clock=clock, sleep=clock.sleep) as sim, greeted(sim) as client:
        sim.faults.ignore = frozenset({"InputResponse"})
        done = sim.feed(ScanPack(CODE))
        await client.answer(await client.expect(m.InputRequest), m.InputHandling.ALLOWED)
        await sim.until(lambda: sim.record[-1].note == "ignored")
        await clock.settle()
        await clock.advance(5)
        assert (await done).late


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        (Malformed.BROKEN_XML, MalformedXml),
        (Malformed.UNKNOWN_ELEMENT, UnknownMessage),
        (Malformed.OVERSIZED, MessageTooLarge),
    ],
)
async def test_malformed_messages_reach_the_client_as_they_are(
    kind: Malformed, error: type[Exception]
) -> None:
    async with robot() as sim, greeted(sim) as client:
        sending = asyncio.create_task(sim.send_malformed(kind))  # 4 MiB: the client must read
        with pytest.raises(error):
            decode(await client.document())
        await sending


async def test_malformed_after_each_hello() -> None:
    faults = Faults(malformed_after_hello=Malformed.UNKNOWN_ELEMENT)
    async with robot(faults=faults) as sim, greeted(sim) as client:
        with pytest.raises(UnknownMessage):
            decode(await client.document())


async def test_lower_case_escapes_and_raw_control_characters() -> None:
    async with robot() as sim, greeted(sim) as client:
        sim.faults.lower_case_escapes = True
        sim.feed(ScanPack(CODE))
        data = await client.document()
        assert b"\\x1d" in data
        assert b"\\x1D" not in data
        request = decode(data)
        assert isinstance(request, m.InputRequest)
        assert _pack(request).scan_code == CODE
        await client.answer(request, m.InputHandling.REJECTED)
        sim.faults.lower_case_escapes, sim.faults.raw_control_characters = False, True
        raw = await client.document()
        assert b"\x1d" in raw
        with pytest.raises(MalformedXml):
            decode(raw)


async def test_the_answer_deadline_can_be_changed_while_running() -> None:
    import dataclasses

    clock = ManualClock()
    async with robot(clock=clock, sleep=clock.sleep) as sim, greeted(sim) as client:
        sim.settings = dataclasses.replace(sim.settings, answer_deadline_s=1)
        done = sim.feed(ScanPack(CODE))
        await client.expect(m.InputRequest)
        await clock.settle()
        await clock.advance(1)
        assert (await done).late


# -- the scans file --------------------------------------------------------------------------


def test_scans_file_lines_escapes_attributes_comments(tmp_path: Path) -> None:
    text = (
        "# a delivery\n\n"
        "010541506230323821128302034892\\x1D1729033110B32542\n"
        '4630372\t{"return": true, "batch": "X", "expiry": "2028-01-31", "serial": "S",'
        ' "component": 41, "read": false}\n'
        '04150000000015\t{"stocked": true, "article": "04150000000015"}\n'
    )
    path = tmp_path / "scans.txt"
    path.write_text(text)
    packs = read_scans(path)
    assert packs[0] == ScanPack(CODE)
    assert packs[1] == ScanPack(
        "4630372", batch="X", serial="S", expiry=date(2028, 1, 31), is_return=True,
        component=41, read=False,
    )  # fmt: skip
    assert packs[2].stocked
    assert packs[2].article == "04150000000015"


def test_a_scans_file_with_raw_separators_is_one_pack_per_line(tmp_path: Path) -> None:
    """`fmd-robot sim delivery --scans` writes each code's GS as it is."""
    packs = parse_scans(f"{CODE}\n]d2{CODE}\r\n")
    assert [pack.code for pack in packs] == [CODE, f"]d2{CODE}"]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('ABC\t{"return": tru}', "not JSON"),
        ('ABC\t["x"]', "JSON object"),
        ('ABC\t{"colour": "red"}', "unknown attribute 'colour'"),
        ('ABC\t{"expiry": "31.01.2028"}', "not YYYY-MM-DD"),
        ('ABC\t{"component": "41"}', "wrong type"),
        ('\t{"return": true}', "no code"),
    ],
)
def test_a_bad_scans_line_is_one_error_naming_its_number(line: str, says: str) -> None:
    with pytest.raises(ScansError) as raised:
        parse_scans(f"# fine\nGOOD\n{line}\n", name="f.txt")
    assert str(raised.value).startswith("f.txt line 3: ")
    assert says in str(raised.value)


async def test_scanned_packs_are_fed_and_stocked_ones_preloaded() -> None:
    scans = [ScanPack(CODE), ScanPack(OTHER, stocked=True)]
    async with robot(scans=scans) as sim, greeted(sim) as client:
        assert len(sim.shelf) == 1
        request = await client.expect(m.InputRequest)
        await client.answer(request, m.InputHandling.ALLOWED)
        await sim.until(lambda: len(sim.shelf) == 2)


# -- the command line ------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "robot_controller", "sim", "wwks2-robot", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


async def test_cli_serves_the_scans_announces_its_port_and_sums_up_at_ctrl_c(
    tmp_path: Path,
) -> None:
    scans = tmp_path / "scans.txt"
    scans.write_text("010541506230323821128302034892\\x1d1729033110B32542\n")
    sim = _cli("--port", "0", "--scans", str(scans), "--move-time-ms", "0",
               "--lower-case-escapes")  # fmt: skip
    assert sim.stdout is not None
    line = await asyncio.to_thread(sim.stdout.readline)
    assert line.startswith("wwks2 robot on 127.0.0.1:")
    assert line.endswith("(Ctrl-C stops)\n")
    port = int(line.split(":")[1].split()[0])
    client = await Client.connect(port)
    await client.hello()
    request = await client.expect(m.InputRequest)
    assert _pack(request).scan_code == CODE
    await client.answer(request, m.InputHandling.ALLOWED)
    assert _result(await client.expect(m.InputMessage)).id > 0
    client.close()
    sim.send_signal(signal.SIGINT)
    rest, err = await asyncio.to_thread(sim.communicate, timeout=20)
    assert sim.returncode == 0, err
    assert rest.strip().splitlines() == [
        "wwks2 robot: 1 connections, 1 packs fed (1 stored, 0 aborted, 0 late answers), "
        "0 outputs, shelf 1/1000"
    ]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--components", "4x"], "'4x' is not a comma-separated list"),
        (["--malformed", "loud"], "--malformed: one of"),
        (["--scans", "/nonexistent/scans.txt"], "cannot be read"),
    ],
)
def test_cli_bad_arguments_are_one_line_and_exit_2(args: list[str], says: str) -> None:
    sim = _cli("--port", "0", *args)
    out, err = sim.communicate(timeout=30)
    assert sim.returncode == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert says in err
    assert "Traceback" not in err


def test_a_fast_robot_issues_unique_pack_ids_past_a_hundred_in_one_second() -> None:
    """It hung (a busy loop) once a belt stored its 101st pack within one second."""
    shelf = Shelf(capacity=1000)
    at = datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC)
    ids = [shelf.new_id(40, at) for _ in range(250)]
    assert len(set(ids)) == 250
    assert all(len(str(pack_id)) == 16 for pack_id in ids)
