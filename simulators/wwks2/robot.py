"""The simulated WWKS2 storage robot: an asyncio TCP server that behaves like a BD Rowa robot
(`../shared/reference/wwks2.md`), speaking only through the `wwks2` codec.

Clients must say Hello within `hello_within_s`; requests are answered on the connection that
sent them, robot-initiated messages (InputRequest, InputMessage, StockInfoMessage, a manual
OutputMessage) go to every connection that said Hello, each addressed to its subscriber. Each
input component takes one pack at a time and waits `answer_deadline_s` for the InputResponse;
outputs run one at a time. `clock` and `sleep` are injected so tests order events by time."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar

from simulators.wwks2.link import Link, lower_case_escapes, raw_control_characters
from simulators.wwks2.outputs import (
    Output,
    cancel,
    output_message,
    output_response,
    refused,
    task_info_response,
)
from simulators.wwks2.replies import (
    input_message,
    input_request,
    robot_subscriber,
    status_response,
)
from simulators.wwks2.scans import Reading, reading_of
from simulators.wwks2.settings import (
    Faults,
    InputOutcome,
    Malformed,
    RobotSettings,
    ScanPack,
    ShelfPack,
    Wire,
)
from simulators.wwks2.shelf import Shelf, ShelfFull, stock_articles
from wwks2 import messages as m
from wwks2.codec import decode as decode_message
from wwks2.codec import encode, lead_element
from wwks2.errors import MessageTooLarge, UnknownMessage, Wwks2Error
from wwks2.framing import DEFAULT_MAX_SIZE, Framer, Skipped

T = TypeVar("T")
_MISSING = {
    m.InputHandling.REJECTED_NO_BATCH_NUMBER: "batch",
    m.InputHandling.REJECTED_NO_EXPIRY_DATE: "expiry",
    m.InputHandling.REJECTED_NO_SERIAL_NUMBER: "serial",
}
_ALLOWED = (m.InputHandling.ALLOWED, m.InputHandling.ALLOWED_FOR_FRIDGE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Wwks2RobotSim:
    """`async with Wwks2RobotSim(settings) as sim:` serves on `sim.port` until the block ends.

    `scans`: the script; packs marked `stocked` are on the shelf from the start, the others
    are fed through the input components in order. `feed` adds a pack at any time."""

    def __init__(
        self,
        settings: RobotSettings | None = None,
        *,
        faults: Faults | None = None,
        scans: tuple[ScanPack, ...] | list[ScanPack] = (),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.settings = settings or RobotSettings()
        self.faults = faults or Faults()
        self.state = m.State.READY
        self.shelf = Shelf(self.settings.capacity)
        self.outputs: dict[str, Output] = {}
        self.outcomes: list[InputOutcome] = []
        self.record: list[Wire] = []
        self.links: list[Link] = []
        self.late_answers: list[str] = []
        self.answers: list[m.InputResponse] = []  # every InputResponse taken, as it came
        self._scans = tuple(scans)
        self._clock, self._sleep, self._now = clock, sleep, now
        self._ids = itertools.count(1)
        self._link_numbers = itertools.count(1)
        self._pending: dict[str, asyncio.Future[m.InputResponse]] = {}
        self._timed_out: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._fed: set[asyncio.Future[InputOutcome]] = set()
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Event()
        self._queues: dict[
            int, asyncio.Queue[tuple[ScanPack, bool, asyncio.Future[InputOutcome]]]
        ] = {}
        self._outputs_queue: asyncio.Queue[Output] = asyncio.Queue()
        self._round_robin = itertools.cycle(self.settings.components)
        self.port = 0

    # -- life --------------------------------------------------------------------------------

    async def start(self) -> None:
        self._changed = asyncio.Event()
        self._server = await asyncio.start_server(
            self._serve, self.settings.host, self.settings.port
        )
        self.port = self._server.sockets[0].getsockname()[1]
        for component in self.settings.components:
            self._queues[component] = asyncio.Queue()
            self._spawn(self._input_component(component))
        self._spawn(self._output_worker())
        for pack in self._scans:
            if pack.stocked:
                self.preload(pack)
            else:
                self.feed(pack)

    async def aclose(self) -> None:
        """Stop serving: every connection closed, every task ended, packs still waiting to be
        fed (or half-way) cancelled."""
        if self._server is not None:
            self._server.close()
        self.drop_connections()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for future in self._fed:
            future.cancel()
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> Wwks2RobotSim:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _spawn(self, work: Awaitable[T]) -> asyncio.Task[T]:
        task: asyncio.Task[T] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def until(self, predicate: Callable[[], bool]) -> None:
        """Return once `predicate()` is true; it is checked whenever the robot's state changes."""
        while not predicate():
            await self._changed.wait()

    # -- the test and CLI API ----------------------------------------------------------------

    def feed(
        self, pack: ScanPack, *, component: int | None = None, new_delivery: bool | None = None
    ) -> asyncio.Future[InputOutcome]:
        """Put `pack` on an input component (its own, the one given, else the next in turn);
        the future ends with its outcome once the robot has sent its InputMessage."""
        chosen = component or pack.component or next(self._round_robin)
        if chosen not in self._queues:
            raise ValueError(
                f"no input component {chosen} (the robot has {self.settings.components})"
            )
        future: asyncio.Future[InputOutcome] = asyncio.get_running_loop().create_future()
        delivery = not pack.is_return if new_delivery is None else new_delivery
        self._fed.add(future)
        future.add_done_callback(self._fed.discard)
        self._queues[chosen].put_nowait((pack, delivery, future))
        return future

    def preload(self, pack: ScanPack) -> ShelfPack:
        """Put `pack` on the shelf without asking anyone (autonomous stock-in)."""
        reading = reading_of(pack)
        stored = self._shelf_pack(
            self.settings.components[0], pack, reading.article, reading.batch, reading.serial,
            reading.expiry,
        )  # fmt: skip
        self.shelf.store(stored)
        return stored

    def drop_connections(self) -> None:
        """Close every connection now."""
        for link in self.links:
            link.close()
        self._notify()

    async def send_malformed(self, kind: Malformed, link: Link | None = None) -> None:
        """Send one message a client cannot use to `link` (else every greeted connection)."""
        stamp = self._now().strftime("%Y-%m-%dT%H:%M:%SZ")
        head = f'<WWKS Version="2.0" TimeStamp="{stamp}">'
        at = f'Id="{self._next_id()}" Source="{self.settings.subscriber}" Destination="100"'
        body = {
            Malformed.BROKEN_XML: f"<StatusResponse {at}",
            Malformed.UNKNOWN_ELEMENT: f"<FrobnicateRequest {at}/>",
            Malformed.OVERSIZED: f"<KeepAliveRequest {at}/>" + " " * DEFAULT_MAX_SIZE,
        }[kind]
        data = f"{head}{body}</WWKS>".encode()
        for each in [link] if link is not None else self._greeted():
            self._note("out", f"({kind.value})", None, each, note="malformed")
            await each.send(data)

    async def manual_output(
        self, criteria: m.OutputCriteria, destination: int = 1
    ) -> m.OutputMessage:
        """An output started at the robot's own screen: OutputMessage Id "1" to everyone."""
        request = m.OutputRequest(
            id="1", source=self.settings.subscriber, destination=self.settings.subscriber,
            details=m.OutputDetails(output_destination=destination), criteria=(criteria,),
        )  # fmt: skip
        output = Output(request, None)
        self._outputs_queue.put_nowait(output)
        return await output.message

    def summary(self) -> str:
        stored = sum(outcome.stored for outcome in self.outcomes)
        return (
            f"wwks2 robot: {len(self.links)} connections, {len(self.outcomes)} packs fed "
            f"({stored} stored, {len(self.outcomes) - stored} aborted, "
            f"{len(self.late_answers)} late answers), {len(self.outputs)} outputs, "
            f"shelf {len(self.shelf)}/{self.shelf.capacity}"
        )

    # -- connections -------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = Link(next(self._link_numbers), reader, writer)
        self.links.append(link)
        self._notify()
        timer = self._spawn(self._hello_timer(link))
        framer = Framer()
        try:
            while not link.closed:
                data = await reader.read(65536)
                if not data:
                    break
                try:
                    frames = framer.feed(data)
                except MessageTooLarge as error:
                    self._note("in", "(too large)", None, link, note="unprocessed")
                    await self._unprocessed(link, "", error)
                    continue
                for frame in frames:
                    if isinstance(frame, Skipped):
                        self._note("in", "(skipped)", None, link, note="skipped")
                    else:
                        await self._receive(link, frame.data)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            timer.cancel()
            link.close()
            self._notify()

    async def _hello_timer(self, link: Link) -> None:
        await self._sleep(self.settings.hello_within_s)
        if link.subscriber is None and not link.closed:
            self._note("out", "(closed)", None, link, note="no hello")
            link.close()
            self._notify()

    async def _keepalive(self, link: Link) -> None:
        every = self.settings.keepalive_every_s
        if every is None:
            return
        while not link.closed:
            await self._sleep(every)
            if link.closed or link.subscriber is None:
                return
            request = m.KeepAliveRequest(
                id=self._next_id(), source=self.settings.subscriber, destination=link.subscriber
            )
            link.unanswered_keepalives.add(request.id)
            await self._send(link, request)

    def _greeted(self) -> list[Link]:
        return [link for link in self.links if link.greeted]

    # -- in and out --------------------------------------------------------------------------

    def _next_id(self) -> str:
        return str(next(self._ids))

    def _note(
        self, direction: str, lead: str, id: str | None, link: Link, note: str | None = None
    ) -> None:
        self.record.append(Wire(direction, lead, id, self._clock(), link.number, note))
        self._notify()

    async def _send(self, link: Link, message: m.Message) -> None:
        data = encode(message, timestamp=self._now())
        if self.faults.lower_case_escapes:
            data = lower_case_escapes(data)
        if self.faults.raw_control_characters:
            data = raw_control_characters(data)
        self._note("out", message.TAG, message.id, link)
        await link.send(data)

    async def _reply(self, link: Link, message: m.Message) -> None:
        await self._pause(self.faults.reply_delay_s)
        await self._send(link, message)

    async def _pause(self, seconds: float) -> None:
        if seconds > 0:
            await self._sleep(seconds)

    async def _broadcast(self, message: Any) -> None:
        """`message` to every greeted connection, addressed to each one's subscriber."""
        for link in self._greeted():
            await self._send(link, dataclasses.replace(message, destination=link.subscriber))

    async def _unprocessed(self, link: Link, text: str, error: Wwks2Error) -> None:
        reason = (
            m.UnprocessedReason.NOT_SUPPORTED
            if isinstance(error, UnknownMessage)
            else m.UnprocessedReason.SYNTAX_ERROR
        )
        embedded = _CONTROL.sub(lambda c: f"\\x{ord(c.group()):02X}", text)
        await self._reply(
            link,
            m.UnprocessedMessage(
                id=self._next_id(), source=self.settings.subscriber,
                destination=link.subscriber, reason=reason, text=str(error),
                message=m.EmbeddedMessage(text=embedded),
            ),
        )  # fmt: skip

    async def _receive(self, link: Link, data: bytes) -> None:
        self._count_for_drop()
        try:
            message = decode_message(data)
        except Wwks2Error as error:
            text = data.decode("utf-8", "replace")
            self._note("in", lead_element(text) or "(undecodable)", None, link, note="unprocessed")
            await self._unprocessed(link, text, error)
            return
        note = None
        if link.subscriber is None and not isinstance(message, m.HelloRequest):
            note = "before hello"
        elif message.TAG in self.faults.ignore:
            note = "ignored"
        elif isinstance(message, m.InputResponse) and message.id not in self._pending:
            note = "late" if message.id in self._timed_out else "unexpected"
        self._note("in", message.TAG, message.id, link, note)
        if note is not None:
            if note == "late":
                self.late_answers.append(message.id)
            return
        await self._dispatch(link, message, data)

    def _count_for_drop(self) -> None:
        if self.faults.drop_after is None:
            return
        self.faults.drop_after -= 1
        if self.faults.drop_after <= 0:
            self.faults.drop_after = None
            self.drop_connections()

    async def _dispatch(self, link: Link, message: m.Message, data: bytes) -> None:
        me = self.settings.subscriber
        match message:
            case m.HelloRequest():
                link.subscriber = message.subscriber.id
                await self._reply(
                    link, m.HelloResponse(id=message.id, subscriber=robot_subscriber(self.settings))
                )
                self._spawn(self._keepalive(link))
                if self.faults.malformed_after_hello is not None:
                    await self.send_malformed(self.faults.malformed_after_hello, link)
                self._notify()
            case m.KeepAliveRequest():
                await self._reply(
                    link, m.KeepAliveResponse(message.id, message.destination, message.source)
                )
            case m.KeepAliveResponse():
                link.unanswered_keepalives.discard(message.id)
            case m.StatusRequest():
                await self._reply(link, status_response(message, self.settings, self.state))
            case m.InputResponse():
                self.answers.append(message)
                future = self._pending.pop(message.id)
                if not future.done():
                    future.set_result(message)
            case m.OutputRequest():
                await self._output_request(link, message)
            case m.StockInfoRequest():
                packs = self.shelf.select(message.criteria)
                articles = stock_articles(packs, include_packs=message.include_packs is not False)
                await self._reply(
                    link, m.StockInfoResponse(message.id, me, message.source, articles)
                )
            case m.TaskInfoRequest():
                await self._reply(
                    link, task_info_response(message, me, self.outputs.get(message.task.id))
                )
            case m.TaskCancelRequest():
                await self._reply(link, cancel(message, me, self.outputs))
            case m.UnprocessedMessage():
                pass
            case _:
                await self._unprocessed(
                    link, data.decode(),
                    UnknownMessage(f"the robot does not take {message.TAG}"),
                )  # fmt: skip

    # -- stock-in ----------------------------------------------------------------------------

    async def _input_component(self, component: int) -> None:
        queue = self._queues[component]
        while True:
            pack, new_delivery, future = await queue.get()
            outcome = await self._stock_in(pack, component, new_delivery)
            self.outcomes.append(outcome)
            if not future.done():
                future.set_result(outcome)
            self._notify()

    async def _stock_in(self, pack: ScanPack, component: int, new_delivery: bool) -> InputOutcome:
        await self.until(lambda: bool(self._greeted()))
        request_id = self._next_id()
        reading = reading_of(pack)
        given = {"batch", "serial", "expiry"} if pack.read else set()
        asked: set[str] = set()
        while True:
            future: asyncio.Future[m.InputResponse] = asyncio.get_running_loop().create_future()
            self._pending[request_id] = future
            request = input_request(request_id, component, pack, reading, given, new_delivery)
            await self._broadcast(request)
            answer = await self._within(future, self.settings.answer_deadline_s)
            if answer is None:
                self._pending.pop(request_id, None)
                self._timed_out.add(request_id)
                return await self._finish_input(
                    request_id, component, pack, reading, new_delivery, None, None, late=True
                )
            answered = answer.articles[0].packs[0]
            missing = _MISSING.get(answered.handling.input)
            if (
                missing is not None
                and self.settings.retry_missing
                and missing not in asked
                and getattr(reading, missing) is not None
            ):
                asked.add(missing)
                given.add(missing)
                continue
            return await self._finish_input(
                request_id, component, pack, reading, new_delivery, answer, answered, late=False
            )

    async def _within(self, future: asyncio.Future[T], seconds: float) -> T | None:
        timer: asyncio.Future[None] = asyncio.ensure_future(self._sleep(seconds))
        waiting: set[asyncio.Future[Any]] = {future, timer}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        timer.cancel()
        if future.done():
            return future.result()
        future.cancel()
        return None

    async def _finish_input(
        self, request_id: str, component: int, pack: ScanPack, reading: Reading,
        new_delivery: bool, answer: m.InputResponse | None, answered: m.InputResponsePack | None,
        *, late: bool,
    ) -> InputOutcome:  # fmt: skip
        handling = answered.handling.input if answered is not None else None
        article = (answer.articles[0].id if answer else None) or reading.article or pack.code
        stored: ShelfPack | None = None
        text = "no answer before the deadline" if late else None
        if answered is not None and handling in _ALLOWED:
            await self._pause(self.settings.move_time_s)
            stored = self._shelf_pack(
                component, pack, article,
                answered.batch_number or reading.batch,
                answered.serial_number or answered.external_id or reading.serial,
                answered.expiry_date or reading.expiry,
            )  # fmt: skip
            try:
                self.shelf.store(stored)
            except ShelfFull as error:
                stored, text = None, str(error)
        message = input_message(request_id, component, pack, new_delivery, article, stored, text)
        await self._broadcast(message)
        if stored is not None:
            await self._stock_changed({stored.article_id})
        return InputOutcome(
            pack, request_id, component, handling, late, stored.id if stored else 0, message
        )

    def _shelf_pack(
        self, component: int, pack: ScanPack, article: str | None, batch: str | None,
        serial: str | None, expiry: Any,
    ) -> ShelfPack:  # fmt: skip
        now = self._now()
        return ShelfPack(
            id=self.shelf.new_id(component, now), article_id=article or pack.code,
            scan_code=pack.code, batch=batch, serial=serial, expiry=expiry, stocked_at=now,
            delivery_number=pack.delivery_number,
        )  # fmt: skip

    async def _stock_changed(self, articles: set[str]) -> None:
        me = self.settings.subscriber
        await self._broadcast(m.StockInfoMessage("1", me, 0, self.shelf.quantities(articles)))

    # -- output ------------------------------------------------------------------------------

    async def _output_request(self, link: Link, request: m.OutputRequest) -> None:
        rejected = refused(request, self.outputs, self.settings.valid_destinations)
        status = m.OutputAccepted.REJECTED if rejected else m.OutputAccepted.QUEUED
        await self._reply(link, output_response(request, self.settings.subscriber, status))
        if status is m.OutputAccepted.QUEUED:
            output = Output(request, link)
            self.outputs[request.id] = output
            self._outputs_queue.put_nowait(output)
            self._notify()

    async def _output_worker(self) -> None:
        while True:
            output = await self._outputs_queue.get()
            await self._run_output(output)

    async def _run_output(self, output: Output) -> None:
        short = False
        if not output.cancelled:
            output.status = m.TaskStatus.IN_PROCESS
            self._notify()
        for criteria in output.request.criteria:
            for _ in range(1 if criteria.pack_id is not None else criteria.quantity):
                if output.cancelled:
                    break
                await self._pause(self.settings.move_time_s)
                pack = self.shelf.take(criteria)
                if pack is None:
                    short = True
                    break
                output.packs.append(pack)
        output.status = (
            m.TaskStatus.ABORTED
            if output.cancelled
            else m.TaskStatus.INCOMPLETE
            if short
            else m.TaskStatus.COMPLETED
        )
        message = output_message(output, self.settings.subscriber)
        asker = output.link
        if asker is not None and asker.subscriber is not None and not asker.closed:
            await self._send(asker, dataclasses.replace(message, destination=asker.subscriber))
        else:
            await self._broadcast(message)
        output.message.set_result(message)
        if output.packs:
            await self._stock_changed({p.article_id for p in output.packs})
        self._notify()
