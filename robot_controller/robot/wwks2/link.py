"""The WWKS2 session: one TCP link to the robot, kept up, with the protocol's housekeeping.

The robot is the server and we the client (wwks2.md §1). After each connect the HelloRequest goes
out at once (the robot closes a link that sends none within 5 s) and the HelloResponse, with the
same Id, names the robot's subscriber id. The robot's KeepAliveRequests are answered at once, ours
go out every `keepalive_every_s` (no answer within `request_timeout_s`: the link is dead), and its
status is polled every `status_every_s`. A dropped link is reconnected at once, then with a
backoff doubling to `reconnect_max_s`; requests waiting on it fail with `RobotError`.

Requests are matched to their responses by lead element and Id (our Ids are decimal, as the Rowa
SDK parses them). A process's follow-up (an InputMessage, an OutputMessage) is matched by its Id
(an InputMessage by its Source too: input components may share Ids) to whoever `expect`s it;
anything else the robot starts is handed to `on_message`. A document that cannot be read (or is
past the size limit) is one error line and an UnprocessedMessage back, and the link stays up; an
InputRequest among them is salvaged (`BrokenInputRequest`) so that its packs can be rejected.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog

from robot_controller.robot.base import RobotError
from wwks2.codec import decode, encode
from wwks2.errors import MessageTooLarge, UnknownMessage, Wwks2Error
from wwks2.framing import DEFAULT_MAX_SIZE, Document, Framer
from wwks2.messages import (
    Capability,
    EmbeddedMessage,
    HelloRequest,
    HelloResponse,
    InputMessage,
    KeepAliveRequest,
    KeepAliveResponse,
    Message,
    OutputMessage,
    OutputResponse,
    State,
    StatusRequest,
    StatusResponse,
    StockInfoResponse,
    Subscriber,
    SubscriberType,
    TaskCancelResponse,
    TaskInfoResponse,
    UnprocessedMessage,
    UnprocessedReason,
)

log = structlog.get_logger("fmd.robot.wwks2")

M = TypeVar("M")

CAPABILITIES = ("KeepAlive", "Status", "Input", "Output", "StockInfo", "TaskInfo", "TaskCancel")
_RESPONSES: tuple[type, ...] = (
    HelloResponse,
    KeepAliveResponse,
    StatusResponse,
    OutputResponse,
    StockInfoResponse,
    TaskInfoResponse,
    TaskCancelResponse,
)
_FOLLOW_UPS: tuple[type, ...] = (InputMessage, OutputMessage)
WAITING = (
    "starting anyway: it is tried again in the background, and packs are taken once it answers"
)
_MAX_ID = 9_999_999  # the Rowa SDK's ids wrap here
_READ_BYTES = 65536


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """Where the robot is and how the link to it is kept."""

    host: str
    port: int = 6050
    subscriber: int = 100  # our Subscriber Id (100: the pharmacy system, wwks2.md §4)
    hello_within_s: float = 5.0
    request_timeout_s: float = 5.0
    keepalive_every_s: float = 10.0
    status_every_s: float = 30.0
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    max_message_bytes: int = DEFAULT_MAX_SIZE
    version: str = "0"


@dataclass(frozen=True, slots=True)
class BrokenInputRequest:
    """An InputRequest that could not be read: what could be salvaged to reject its packs."""

    id: str
    source: int
    indexes: tuple[int | None, ...]
    scan_codes: tuple[str, ...]
    problem: str


OnMessage = Callable[[Message | BrokenInputRequest], Awaitable[None]]
OnConnected = Callable[[], Awaitable[None]]


class Wwks2Link:
    """One WWKS2 link to the robot, reconnected whenever it drops, until `aclose`."""

    def __init__(
        self,
        settings: LinkSettings,
        *,
        on_message: OnMessage,
        on_connected: OnConnected | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.on_message = on_message
        self.on_connected = on_connected
        self.clock = clock
        self.robot_id: int | None = None  # the robot's subscriber id, from its HelloResponse
        self.robot_name = ""
        self.status: StatusResponse | None = None
        self.status_at: float | None = None  # on `clock`
        self.connects = 0
        self._ids = itertools.count(1)
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[tuple[type, str], asyncio.Future[Any]] = {}
        self._expected: dict[tuple[type, str, int | None], asyncio.Future[Any]] = {}
        self._up = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def connected(self) -> bool:
        return self._up.is_set()

    def next_id(self) -> str:
        """A fresh message Id: decimal, 1…9,999,999, then around again."""
        return str((next(self._ids) - 1) % _MAX_ID + 1)

    @property
    def destination(self) -> int:
        """Where our requests go: the robot's subscriber id (0, broadcast, before a Hello)."""
        return self.robot_id or 0

    async def start(self, *, wait: bool = False) -> None:
        """Connect and say Hello; `RobotError` (one line) when the robot cannot be reached or
        does not answer, unless `wait`: then one warning, and the link is tried again in the
        background as after a drop. The link is then kept up in the background."""
        try:
            session: _Session | None = await self._open()
        except RobotError as error:
            if not wait:
                raise
            log.warning("wwks2.unreachable_at_start", error=str(error), detail=WAITING)
            session = None
        self._supervisor = asyncio.create_task(self._keep_up(session))
        if session is not None:
            await self._connected()

    async def wait_connected(self, timeout_s: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._up.wait()
        return self._up.is_set()

    async def send(self, message: Message) -> None:
        """Write one message; `RobotError` when the link is down."""
        writer = self._writer
        if writer is None or not self.connected:
            raise RobotError(f"{self._where()}: not connected")
        try:
            writer.write(encode(message, timestamp=datetime.now(UTC)))
            await writer.drain()
        except (OSError, RuntimeError) as error:
            self._drop(writer, f"write failed: {error}")
            raise RobotError(f"{self._where()}: the link dropped ({error})") from None
        log.debug("wwks2.sent", message=type(message).TAG, id=getattr(message, "id", None))

    async def request(
        self, message: Message, answer: type[M], *, timeout_s: float | None = None
    ) -> M:
        """Send a request and await its response (same Id); `RobotError` on no answer, a
        dropped link, or an UnprocessedMessage naming it."""
        key = (answer, str(getattr(message, "id", "")))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            await self.send(message)
            wait = self.settings.request_timeout_s if timeout_s is None else timeout_s
            try:
                async with asyncio.timeout(wait):
                    response = await future
            except TimeoutError:
                raise RobotError(
                    f"{self._where()}: no {answer.__name__} within {wait:g} s"
                ) from None
        finally:
            self._pending.pop(key, None)
        if not isinstance(response, answer):  # keyed by its type: cannot be another
            raise RobotError(f"{self._where()}: answered {type(response).__name__}")
        return response

    def expect(
        self, kind: type[M], id: str, *, source: int | None = None
    ) -> asyncio.Future[M | None]:
        """A future for the follow-up `kind` with Id `id` (an InputMessage, an OutputMessage),
        from `source` when given: two input components may use the same Ids, so an InputMessage
        is matched by its Source too (one with another Source is taken only when it is the one
        follow-up with that Id awaited). A second expectation of the same one supersedes the
        first (its future gets `None`)."""
        key = (kind, id, source)
        future: asyncio.Future[M | None] = asyncio.get_running_loop().create_future()
        previous = self._expected.get(key)
        if previous is not None and not previous.done():
            previous.set_result(None)
        self._expected[key] = future
        future.add_done_callback(lambda done: self._forget(key, done))
        return future

    def _forget(self, key: tuple[type, str, int | None], future: asyncio.Future[Any]) -> None:
        if self._expected.get(key) is future:
            del self._expected[key]

    def _awaiting(self, kind: type, id: str, source: int | None) -> asyncio.Future[Any] | None:
        """Who awaits the follow-up `kind` `id` from `source` (None: nobody, or it is unclear
        whom of several it is for)."""
        waiting = {
            key: future
            for key, future in self._expected.items()
            if key[:2] == (kind, id) and not future.done()
        }
        exact = waiting.get((kind, id, source))
        if exact is not None:
            return exact
        return next(iter(waiting.values())) if len(waiting) == 1 else None

    async def aclose(self) -> None:
        """Close the link and stop reconnecting; waiting requests fail."""
        self._closing = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        if self._writer is not None:
            self._drop(self._writer, "closed")
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    # -- the session -------------------------------------------------------------------------

    async def _open(self) -> _Session:
        host, port = self.settings.host, self.settings.port
        try:
            async with asyncio.timeout(self.settings.hello_within_s):
                reader, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError) as error:
            raise RobotError(f"{self._where()}: cannot connect: {_refusal(error, port)}") from None
        session = _Session(reader, writer, Framer(max_size=self.settings.max_message_bytes))
        self._writer = writer
        try:
            await self._hello(session)
        except BaseException:
            writer.close()
            raise
        return session

    async def _hello(self, session: _Session) -> None:
        """Send the HelloRequest at once and read until its HelloResponse."""
        hello = HelloRequest(
            self.next_id(),
            Subscriber(
                self.settings.subscriber,
                SubscriberType.IMS,
                "fmd-robot",
                "fmd-robot",
                self.settings.version,
                capabilities=tuple(Capability(name) for name in CAPABILITIES),
            ),
        )
        session.writer.write(encode(hello, timestamp=datetime.now(UTC)))
        try:
            async with asyncio.timeout(self.settings.hello_within_s):
                await session.writer.drain()
                while True:
                    messages = await session.read(on_problem=self._unreadable)
                    for position, message in enumerate(messages):
                        if isinstance(message, HelloResponse) and message.id == hello.id:
                            self.robot_id = message.subscriber.id
                            self.robot_name = message.subscriber.product_info
                            session.backlog = messages[position + 1 :]  # read with it
                            return
        except TimeoutError:
            wait = self.settings.hello_within_s
            raise RobotError(f"{self._where()}: no HelloResponse within {wait:g} s") from None
        except (OSError, EOFError, Wwks2Error) as error:
            raise RobotError(f"{self._where()}: Hello failed: {error}") from None

    async def _keep_up(self, session: _Session | None) -> None:
        """Serve the session; when it drops, reconnect at once, then with a backoff."""
        delay, failures, said = 0.0, 0, ""
        while not self._closing:
            if session is None:
                await asyncio.sleep(delay)
                try:
                    session = await self._open()
                except RobotError as error:
                    delay = min(
                        max(delay * 2, self.settings.reconnect_min_s), self.settings.reconnect_max_s
                    )
                    failures += 1
                    # a robot away for the night is one warning (and one per new cause)
                    report = log.warning if str(error) != said else log.debug
                    report("wwks2.reconnect_failed", error=str(error), tries=failures,
                           retry_in_s=delay)  # fmt: skip
                    said = str(error)
                    continue
                if failures:
                    log.info("wwks2.reconnected", robot=self._where(), tries=failures + 1)
                delay, failures, said = 0.0, 0, ""
                await self._connected()
            try:
                why = await self._serve(session)
            except Exception as error:  # noqa: BLE001 - a fault of ours must not end the link for good
                why = f"failed reading the robot: {error!r}"
            session = None
            if not self._closing:
                log.warning("wwks2.link_dropped", robot=self._where(), why=why)

    async def _connected(self) -> None:
        self.connects += 1
        self._up.set()
        log.info(
            "wwks2.connected", robot=self._where(), robot_id=self.robot_id, name=self.robot_name
        )
        if self.on_connected is not None:
            self._spawn(self.on_connected())

    async def _serve(self, session: _Session) -> str:
        """Read and dispatch until the link drops; keep-alive and status polling beside it."""
        housekeeping = [
            asyncio.create_task(self._every(self.settings.keepalive_every_s, self._keep_alive)),
            asyncio.create_task(
                self._every(self.settings.status_every_s, self._poll_status, first=0)
            ),
        ]
        try:
            for message in session.backlog:
                await self._dispatch(message)
            while True:
                try:
                    messages = await session.read(on_problem=self._unreadable)
                except EOFError:
                    return "the robot closed the connection"
                except OSError as error:
                    return f"read failed: {error}"
                except MessageTooLarge as error:  # its bytes are gone: nothing to embed
                    log.error("wwks2.too_large", error=str(error))
                    self._unprocessed("", error)
                    continue
                for message in messages:
                    await self._dispatch(message)
        finally:
            for task in housekeeping:
                task.cancel()
            await asyncio.gather(*housekeeping, return_exceptions=True)
            self._drop(session.writer, "dropped")

    def _drop(self, writer: asyncio.StreamWriter, why: str) -> None:
        if writer is self._writer:
            self._writer = None
            self._up.clear()
            failure = RobotError(f"{self._where()}: the link dropped ({why})")
            # a process's report may still come once the link is back: only requests fail
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(failure)
        writer.close()

    async def _every(
        self, period_s: float, action: Callable[[], Awaitable[None]], *, first: float | None = None
    ) -> None:
        await asyncio.sleep(period_s if first is None else first)
        while True:
            try:
                await action()
            except RobotError as error:
                log.warning("wwks2.housekeeping_failed", error=str(error))
                if self._writer is not None:
                    self._drop(self._writer, str(error))
                return
            await asyncio.sleep(period_s)

    async def _keep_alive(self) -> None:
        await self.request(
            KeepAliveRequest(self.next_id(), self.settings.subscriber, self.destination),
            KeepAliveResponse,
        )

    async def _poll_status(self) -> None:
        await self.refresh_status()

    async def refresh_status(self) -> StatusResponse:
        """Ask the robot its status now (kept as `status`)."""
        request = StatusRequest(
            self.next_id(), self.settings.subscriber, self.destination, include_details=True
        )
        status = await self.request(request, StatusResponse)
        self.status, self.status_at = status, self.clock()
        return status

    # -- what arrives ------------------------------------------------------------------------

    async def _dispatch(self, message: Message | BrokenInputRequest) -> None:
        if isinstance(message, KeepAliveRequest):
            await self._answer(
                KeepAliveResponse(message.id, self.settings.subscriber, message.source)
            )
            return
        if isinstance(message, StatusRequest):  # the robot asks after us: we are ready
            await self._answer(
                StatusResponse(message.id, self.settings.subscriber, message.source, State.READY)
            )
            return
        if isinstance(message, UnprocessedMessage):
            self._refused(message)
            return
        key = (type(message), str(getattr(message, "id", "")))
        if isinstance(message, _RESPONSES):
            future = self._pending.get(key)
            if future is None or future.done():
                log.warning("wwks2.unexpected_response", message=key[0].__name__, id=key[1])
            else:
                future.set_result(message)
            return
        if isinstance(message, _FOLLOW_UPS):
            expected = self._awaiting(key[0], key[1], getattr(message, "source", None))
            if expected is not None:
                expected.set_result(message)
                return
        self._spawn(self.on_message(message))

    def _refused(self, message: UnprocessedMessage) -> None:
        """The robot could not process one of ours: fail the request it names, if waiting."""
        log.error(
            "wwks2.robot_unprocessed",
            reason=message.reason,
            text=message.text,
            id=message.message.id,
        )
        for (_, id), future in self._pending.items():
            if id == message.message.id and not future.done():
                why = message.text or (message.reason or "no reason given")
                future.set_exception(RobotError(f"the robot could not process it: {why}"))

    async def _answer(self, message: Message) -> None:
        with contextlib.suppress(RobotError):  # the link dropped: the drop is logged
            await self.send(message)

    def _unreadable(self, data: bytes, error: Wwks2Error) -> Message | BrokenInputRequest | None:
        """A document that cannot be read: one error line, and an UnprocessedMessage to the
        robot; an InputRequest is salvaged so that its packs are rejected, not left waiting."""
        text = data.decode("utf-8", errors="replace")
        log.error("wwks2.unreadable", error=str(error), head=text[:120])
        broken = salvage_input_request(text, str(error))
        if broken is not None:
            return broken
        self._unreadable_follow_up(text, error)
        self._unprocessed(text, error)
        return None

    def _unprocessed(self, text: str, error: Wwks2Error) -> None:
        """Tell the robot that a message of its (`text`, as far as it is kept) was not
        processed, and why."""
        reason = (
            UnprocessedReason.NOT_SUPPORTED
            if isinstance(error, UnknownMessage)
            else UnprocessedReason.SYNTAX_ERROR
        )
        source = _attribute(text, "Source")
        embedded_id = _attribute(text, "Id")
        reply = UnprocessedMessage(
            self.next_id(),
            self.settings.subscriber,
            EmbeddedMessage(_printable(text), id=embedded_id),
            destination=_whole(source) or self.robot_id,
            reason=reason,
            text=str(error)[:200],
        )
        self._spawn(self._answer(reply))

    def _unreadable_follow_up(self, text: str, error: Wwks2Error) -> None:
        """An InputMessage or OutputMessage we wait for that cannot be read: whoever waits
        learns now that the robot's report is unusable (rather than at the timeout)."""
        for kind in _FOLLOW_UPS:
            head = re.search(rf"<{kind.__name__}\b([^>]*)>", text)
            id = _attribute(head.group(1), "Id") if head else None
            source = _whole(_attribute(head.group(1), "Source")) if head else None
            future = self._awaiting(kind, id, source) if id is not None else None
            if future is not None:
                future.set_exception(
                    RobotError(f"the robot's {kind.__name__} {id} cannot be read: {error}")
                )

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._handlers.add(task)
        task.add_done_callback(self._handled)

    def _handled(self, task: asyncio.Task[None]) -> None:
        self._handlers.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("wwks2.handler_failed", error=repr(task.exception()))

    def _where(self) -> str:
        return f"WWKS2 robot {self.settings.host}:{self.settings.port}"


class _Session:
    """One connection's reader and writer, and its framer."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, framer: Framer
    ) -> None:
        self.reader, self.writer, self.framer = reader, writer, framer
        self.backlog: list[Message | BrokenInputRequest] = []  # read with the HelloResponse

    async def read(
        self,
        on_problem: Callable[[bytes, Wwks2Error], Message | BrokenInputRequest | None]
        | None = None,
    ) -> list[Message | BrokenInputRequest]:
        """The messages the next read completes (EOFError when the robot closed)."""
        data = await self.reader.read(_READ_BYTES)
        if not data:
            raise EOFError
        messages: list[Message | BrokenInputRequest] = []
        for frame in self.framer.feed(data):
            if not isinstance(frame, Document):
                log.warning("wwks2.skipped", bytes=frame.length, head=frame.head[:32])
                continue
            try:
                messages.append(decode(frame.data))
            except Wwks2Error as error:
                if on_problem is not None and (salvaged := on_problem(frame.data, error)):
                    messages.append(salvaged)
        return messages


_WHOLE = re.compile(r"[0-9]{1,18}")
_ATTRIBUTE = r'\b{name}\s*=\s*"([^"]*)"'
_INPUT_REQUEST = re.compile(r"<InputRequest\b([^>]*)>", re.S)
_PACK = re.compile(r"<Pack\b([^>]*?)/?>", re.S)


def _refusal(error: OSError | TimeoutError, port: int) -> str:
    """Why a connection failed, in words that say what to check."""
    if isinstance(error, ConnectionRefusedError):
        return f"connection refused (is the robot on, and is {port} its WWKS2 port?)"
    if isinstance(error, TimeoutError):
        return "no answer (is the address right, and the robot on this network?)"
    return error.strerror or str(error) or type(error).__name__


def _attribute(text: str, name: str) -> str | None:
    found = re.search(_ATTRIBUTE.format(name=name), text)
    return found.group(1) if found else None


def salvage_input_request(text: str, problem: str) -> BrokenInputRequest | None:
    """What an unreadable document tells of the InputRequest it is (None: it is not one, or
    names no Id and Source to answer)."""
    head = _INPUT_REQUEST.search(text)
    if head is None:
        return None
    id, source = _attribute(head.group(1), "Id"), _attribute(head.group(1), "Source")
    if not id or _whole(source) is None:
        return None
    packs = [pack.group(1) for pack in _PACK.finditer(text)] or [""]
    indexes = tuple(_index(_attribute(pack, "Index")) for pack in packs)
    scans = tuple(_attribute(pack, "ScanCode") or "" for pack in packs)
    return BrokenInputRequest(id, _whole(source) or 0, indexes, scans, problem)


def _index(text: str | None) -> int | None:
    return _whole(text)


def _whole(text: str | None) -> int | None:
    """`text` as a whole number the wire can carry (None: it is not one: `isdigit` would take
    "²", and `int` refuses more than 4300 digits)."""
    if text is None or _WHOLE.fullmatch(text) is None:
        return None
    return int(text)


def _printable(text: str) -> str:
    """The text as an XML 1.0 document can carry it (characters it cannot, as `\\xHH`)."""
    return "".join(
        ch
        if ch in "\t\n\r" or 0x20 <= ord(ch) < 0xD800 or 0xE000 <= ord(ch) < 0xFFFE
        else f"\\x{ord(ch):02X}"
        for ch in text
    )
