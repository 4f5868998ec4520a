"""The serial-line driver: ARCHITECTURE.md's line protocol (`line_protocol`) over pyserial.

`url` is anything `serial.serial_for_url` opens: /dev/ttyUSB0, a pty, socket://host:port,
loop://. A reader thread owns reading (`serial_io.link`: a short read timeout keeps
`aclose` prompt) and hands bytes to the event loop; writes run in a worker thread, so the loop
never blocks. When the port goes away the reader reopens it with exponential backoff.

Each request gets a new seq and is re-sent with the same seq while unanswered, which is also how
a running job is polled (the reliability rules are in `line_protocol`). The host heartbeat
counts 1…65535 from a random start, is the first frame sent, and `* HB 0` as the driver closes
tells the robot this host has left (its watchdog stands down). The robot is lost while
the port is gone or its `* HB` counter has not changed for `stale_after_s`: waiting calls then
fail at once and new ones fail fast, until its heartbeat comes back. Anything unclear raises
`RobotError`, so the pipeline flags the pack.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import serial
import structlog

from robot_controller.robot.base import (
    CommandRefused,
    Job,
    JobCode,
    JobOutcome,
    JobResult,
    MachineCommand,
    PackMLState,
    RobotError,
    RobotStatus,
    fault_name,
    next_seq,
    unexpected,
)
from robot_controller.robot.line_jobs import outcome_of, request_for, status_of
from robot_controller.robot.line_protocol import (
    MAX_LINE,
    Ack,
    Command,
    DecodeError,
    Done,
    ErrorKind,
    FaultAck,
    Heartbeat,
    Nak,
    NakCode,
    Reply,
    Request,
    RobotFrame,
    StateChange,
    StatusReply,
    StatusRequest,
    decode_robot,
    encode,
)
from serial_io.framing import Line, LineFramer, StrayTerminator, TooLong
from serial_io.link import LinkDown, LinkItem, LinkUp, SerialLink, StillDown

log = structlog.get_logger("fmd.robot.serial")

HOST_LEAVES = 0
"""The host heartbeat sent as the driver closes: the robot's watchdog stands down."""
_RESEND = frozenset({NakCode.BAD_CHECKSUM, NakCode.BAD_FRAME})
_EXPECTED = {
    JobCode.PLACE_ON_SHELF: JobResult.STORED,
    JobCode.DIVERT_TO_REJECT: JobResult.REJECTED,
    JobCode.DIVERT_TO_QUARANTINE: JobResult.QUARANTINED,
    JobCode.RETRIEVE_TO_QUARANTINE: JobResult.RETRIEVED,
}


def _state_name(state: int | None) -> str:
    if state is None or state not in PackMLState.__members__.values():
        return f"state {state}"
    return PackMLState(state).name


def _open_error(url: str, error: BaseException) -> str:
    """One line naming the port and why it would not open."""
    chain = (error, error.__cause__, error.__context__)
    number = next((n for e in chain if (n := getattr(e, "errno", None))), None)
    reason = os.strerror(number) if number else str(error) or type(error).__name__
    return f"cannot open the robot's serial port {url}: {reason}"


@dataclass(slots=True)
class LinkStats:
    """Counters for diagnostics and benchmarks."""

    frames: int = 0
    bad_frames: int = 0
    resends: int = 0
    reconnects: int = 0


# -- the driver --------------------------------------------------------------------------------


class SerialRobot:
    """A robot on a serial line. `connect()` is optional: the first call connects."""

    def __init__(
        self,
        url: str,
        *,
        baudrate: int = 115200,
        parity: str = "N",
        stopbits: float = 1,
        bytesize: int = 8,
        ack_timeout_s: float = 1.0,
        done_timeout_s: float = 30.0,
        heartbeat_s: float = 0.5,
        stale_after_s: float = 2.0,
        retries: int = 2,
        reconnect_initial_s: float = 0.2,
        reconnect_max_s: float = 5.0,
    ) -> None:
        self.url = url
        self.baudrate = baudrate
        self.parity = parity
        self.stopbits = stopbits
        self.bytesize = bytesize
        self.ack_timeout_s = ack_timeout_s
        self.done_timeout_s = done_timeout_s
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self.retries = retries
        self.reconnect_initial_s = reconnect_initial_s
        self.reconnect_max_s = reconnect_max_s
        self.stats = LinkStats()
        self.state: int | None = None  # PackML, as the robot last reported it
        self.status_word: int | None = None
        self._link = SerialLink(
            url,
            name=f"robot {url}",
            failure=lambda error: RobotError(_open_error(url, error)),
            baudrate=baudrate,
            bytesize=bytesize,
            parity=parity,
            stopbits=stopbits,
            reconnect_initial_s=reconnect_initial_s,
            reconnect_max_s=reconnect_max_s,
            write_timeout=ack_timeout_s,
        )
        self._port_up = False
        self._framer = LineFramer("CRLF", MAX_LINE)
        self._seq = 0
        self._waiting: dict[int, asyncio.Queue[Reply | RobotError]] = {}
        self._down: str | None = "not connected"  # why the robot counts as lost; None: alive
        self._heartbeat: int | None = None
        self._heartbeat_at = 0.0
        self._host_heartbeat = 0
        self._ticker: asyncio.Task[None] | None = None
        self._connecting = asyncio.Lock()
        self._jobs = asyncio.Lock()
        self._writing = asyncio.Lock()
        self._closed = False

    @property
    def alive(self) -> bool:
        """Connected, the port is there and the robot's heartbeat is fresh."""
        return self._link.reading and self._down is None

    # -- the Robot protocol ----------------------------------------------------------------

    async def connect(self) -> None:
        """Open the port, read STATUS (to go on after the robot's last seq), start heartbeats.
        RobotError with one line naming the port when it cannot be opened or nobody answers."""
        async with self._connecting:
            if self._closed:
                raise RobotError(f"the robot driver for {self.url} is closed")
            if self._link.reading:
                return
            await asyncio.to_thread(self._link.open)
            self._port_up = True
            self._down = None
            self._heartbeat_at = time.monotonic()
            self._link.start(asyncio.get_running_loop(), self._on_item)
            self._host_heartbeat = secrets.randbelow(0xFFFF) + 1  # 1…65535: a change for the robot
            await self._write(encode(Heartbeat(self._host_heartbeat)))
            self._ticker = asyncio.create_task(self._tick())
            try:
                status, self._seq = await self._read_status()
            except RobotError:
                await self._shutdown()
                raise
            log.info("robot.connected", url=self.url, state=status.state.name, seq=self._seq)

    async def status(self) -> RobotStatus:
        await self.connect()
        status, _ = await self._read_status()
        return status

    async def execute(self, job: Job) -> JobOutcome:
        """Run one job; a refusal is an outcome, anything unclear raises RobotError."""
        if job.code is JobCode.RETRIEVE_TO_QUARANTINE and not job.location:
            return JobOutcome(JobResult.REFUSED_BAD_COMMAND, message="retrieve without a location")
        try:
            encode(request_for(job, 1))
        except ValueError as error:
            return JobOutcome(JobResult.REFUSED_BAD_COMMAND, message=str(error))
        await self.connect()
        what = f"{job.code.name} token {job.token}"
        async with self._jobs:
            reply = await self._ask(lambda seq: request_for(job, seq), what, job=True)
        outcome = outcome_of(reply)
        if isinstance(reply, Done) and outcome.result is not _EXPECTED[job.code]:
            outcome = await self._explain(outcome)
        problem = unexpected(job, outcome)
        if problem:
            log.warning("robot.unexpected_outcome", token=job.token, problem=problem)
            message = f"{problem}; {outcome.message}" if outcome.message else problem
            outcome = dataclasses.replace(outcome, message=message)
        return outcome

    async def command(self, command: MachineCommand) -> None:
        """A PackML command; RobotError naming it when the robot refuses it."""
        if not await self._ask_yes_no(Command, int(command), f"command {command.name}"):
            state = _state_name(self.state)
            raise CommandRefused(f"robot refused {command.name} in state {state}")

    async def ack_fault(self, code: int) -> bool:
        """Acknowledge a fault; True when the robot cleared it (its cause is gone)."""
        return await self._ask_yes_no(FaultAck, code, f"fault ack {code}")

    async def aclose(self) -> None:
        """Stop heartbeats and the reader (within about READ_TIMEOUT_S); close the port."""
        self._closed = True
        await self._shutdown()

    # -- requests ----------------------------------------------------------------------------

    async def _ask_yes_no(self, make: Callable[[int, int], Request], arg: int, what: str) -> bool:
        await self.connect()
        reply = await self._ask(lambda seq: make(seq, arg), what)
        if isinstance(reply, Nak) and reply.code == NakCode.NOT_ALLOWED:
            return False
        if isinstance(reply, Ack):
            return True
        raise RobotError(f"robot at {self.url}: {what}: unexpected answer {reply}")

    async def _ask(self, make: Callable[[int], Request], what: str, *, job: bool = False) -> Reply:
        """Send a request and return its answer, re-sending the same seq while unanswered. For
        a job the answer is its DONE/ERR (or a NAK): an ACK only shows it is still running."""
        self._check_alive()
        seq = self._seq = next_seq(self._seq)
        line = encode(make(seq))
        replies: asyncio.Queue[Reply | RobotError] = asyncio.Queue()
        self._waiting[seq] = replies
        deadline = time.monotonic() + self.done_timeout_s
        unanswered = 0
        try:
            await self._write(line)
            while True:
                wait = self.ack_timeout_s
                if job and (wait := min(wait, deadline - time.monotonic())) <= 0:
                    raise RobotError(
                        f"robot at {self.url}: {what} not done within {self.done_timeout_s} s"
                    )
                try:
                    reply = await asyncio.wait_for(replies.get(), wait)
                except TimeoutError:
                    reply = None
                if isinstance(reply, RobotError):
                    raise reply
                if reply is None or (isinstance(reply, Nak) and reply.code in _RESEND):
                    unanswered += 1
                    if unanswered > self.retries:
                        raise RobotError(
                            f"robot at {self.url}: no answer to {what} after {unanswered} tries"
                        )
                    self.stats.resends += 1
                    log.info("robot.resend", seq=seq, what=what, after=repr(reply))
                    await self._write(line)
                elif job and isinstance(reply, Ack):
                    unanswered = 0
                else:
                    return reply
        finally:
            del self._waiting[seq]

    async def _read_status(self) -> tuple[RobotStatus, int]:
        """The robot's status, and the seq of its last job or command."""
        reply = await self._ask(StatusRequest, "STATUS")
        if not isinstance(reply, StatusReply):
            raise RobotError(f"robot at {self.url}: STATUS answered with {reply}")
        status = status_of(reply, self._heartbeat or 0)
        self.state, self.status_word = reply.state, reply.status_word
        return status, reply.last_seq

    async def _explain(self, outcome: JobOutcome) -> JobOutcome:
        """Add the robot's state and fault to an outcome other than the job's purpose (a place
        that ended in the reject chute, a refusal): best effort, the outcome stands anyway."""
        try:
            status = await self.status()
        except RobotError as error:
            log.warning("robot.no_explanation", result=outcome.result.name, error=str(error))
            return outcome
        fault = f", fault {fault_name(status.fault)}" if status.fault else ""
        if outcome.result is JobResult.REFUSED_NOT_READY:
            lead = "robot not ready"
        else:
            lead = f"robot reported {outcome.result.name}"
        message = f"{lead}: {status.state.name}{fault}"
        return dataclasses.replace(outcome, fault=status.fault, message=message)

    async def _write(self, line: bytes) -> None:
        """Send a line; a lost one is re-sent by `_ask`, so a failure is only logged."""
        async with self._writing:
            try:
                await asyncio.to_thread(self._link.write, line)
            except (serial.SerialException, OSError) as error:
                log.warning("robot.write_failed", url=self.url, error=str(error))

    # -- liveness ----------------------------------------------------------------------------

    def _check_alive(self) -> None:
        if self._down is not None:
            raise RobotError(f"robot at {self.url} lost: {self._down}")

    def _lose(self, reason: str, *, outage: bool = True) -> None:
        """Declare the robot lost: every waiting call fails now."""
        if self._down is None and outage:
            log.error("robot.link_lost", url=self.url, reason=reason)
        self._down = reason
        for replies in self._waiting.values():
            replies.put_nowait(RobotError(f"robot at {self.url} lost: {reason}"))

    async def _tick(self) -> None:
        """Send `* HB n` every heartbeat_s (after the first, sent by `connect`); declare the robot
        lost when its heartbeat is stale."""
        while True:
            await asyncio.sleep(self.heartbeat_s)
            self._host_heartbeat = next_seq(self._host_heartbeat)
            if self._port_up:
                await self._write(encode(Heartbeat(self._host_heartbeat)))
            quiet = time.monotonic() - self._heartbeat_at
            if self._down is None and quiet > self.stale_after_s:
                self._lose(f"its heartbeat has not changed for {quiet:.1f} s")

    # -- what the reader thread posts --------------------------------------------------------

    def _on_item(self, item: LinkItem) -> None:
        """Handle what the reader posts; its last item, None (it has stopped), needs nothing."""
        if isinstance(item, bytes):
            for event in self._framer.feed(item):
                if isinstance(event, Line):
                    self._on_frame(decode_robot(event.data))
                elif isinstance(event, TooLong):
                    self._on_frame(DecodeError(ErrorKind.TOO_LONG, f"{event.length} bytes"))
                elif isinstance(event, StrayTerminator):
                    log.warning("robot.framing_hint", url=self.url, advice=event.advice)
        elif isinstance(item, LinkDown):
            self._port_up = False
            self._framer.flush()
            self._lose(f"serial link down: {item.cause}")
        elif isinstance(item, LinkUp):
            self._port_up = True
            self.stats.reconnects += 1
            log.info("robot.reconnected", url=self.url, reconnects=self.stats.reconnects)
        elif isinstance(item, StillDown):
            log.warning("robot.reconnect_failed", url=self.url, error=item.error)
        elif isinstance(item, Exception):  # the reader has failed and closed the port
            self._port_up = False
            log.error("robot.reader_failed", url=self.url, error=repr(item))
            self._lose(f"the reader failed: {item!r}")

    def _on_frame(self, frame: RobotFrame | DecodeError) -> None:
        if isinstance(frame, DecodeError):
            self.stats.bad_frames += 1
            log.warning("robot.bad_frame", url=self.url, kind=frame.kind.value, seq=frame.seq)
            return
        self.stats.frames += 1
        if isinstance(frame, Heartbeat):
            if frame.n != self._heartbeat:
                self._heartbeat, self._heartbeat_at = frame.n, time.monotonic()
                if self._down is not None and self._port_up:
                    log.info("robot.link_back", url=self.url)
                    self._down = None
        elif isinstance(frame, StateChange):
            log.info("robot.state", url=self.url, state=_state_name(frame.state))
            self.state, self.status_word = frame.state, frame.status_word
        elif (replies := self._waiting.get(frame.seq)) is not None:
            replies.put_nowait(frame)

    # -- closing -----------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
            self._ticker = None
        if self._port_up and self._link.reading:
            await self._write(encode(Heartbeat(HOST_LEAVES)))  # best effort: `_write` only logs
        await self._link.aclose()
        self._lose("the driver is closed" if self._closed else "not connected", outage=False)
