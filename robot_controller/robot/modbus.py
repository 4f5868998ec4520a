"""The Modbus driver (TCP or RTU) for a PLC-controlled robot with ARCHITECTURE.md's register map.

Holding registers, named in `registers` and coded in `modbus_codec`: one FC3 read of the status
block 0–19, FC16 writes to the command block. A job is one FC16 of 101–107 (code, reason, token,
seq, location): the seq sits in the same write as the parameters, and the location of a retrieve
rides along. After a lost reply the driver re-reads the status and re-sends the same seq only if
the robot has not acknowledged it; the robot ignores a seq it already acknowledged, so a retry
never moves a pack twice. Anything unclear raises `RobotError`, so the pipeline flags the pack.

One master per robot: the status is read before each job, and the robot echoes the token of the
job it acknowledged (16–17) and of the job it finished (18–19). The driver accepts an ack or a
result only for its own seq and token; a job seq it did not write (another master) raises
`RobotConflict`, at once or at the next job when the heartbeat saw it first. It never adopts a
foreign seq. The host heartbeat counts 1…65535 (0 skipped), from a random start written before
any other request, so even a host reconnecting at once is a change for the robot; `aclose`
writes 0, which tells the robot this host has left (its watchdog stands down).

One module on purpose (about 510 lines): the job handshake, its retries, PackML commands and the
heartbeat share one connection, one sequence counter and one view of the robot's liveness.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.client.base import ModbusBaseClient
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from robot_controller.robot.base import (
    CommandRefused,
    Job,
    JobOutcome,
    JobResult,
    MachineCommand,
    RobotConflict,
    RobotError,
    RobotStatus,
    next_seq,
    reported_outcome,
)
from robot_controller.robot.modbus_codec import (
    U16,
    block,
    decode_status,
    encode_job,
    settling,
)
from robot_controller.robot.readiness import not_ready
from robot_controller.robot.registers import (
    INTERFACE_VERSION,
    JOB_START,
    STATUS_COUNT,
    STATUS_START,
    Register,
)

log = structlog.get_logger("fmd.robot.modbus")

_TRANSIENT_EXCEPTIONS = frozenset({ExcCodes.ACKNOWLEDGE, ExcCodes.DEVICE_BUSY})
_EXCEPTIONS: dict[int, str] = {
    ExcCodes.ILLEGAL_FUNCTION: "function code not supported",
    ExcCodes.ILLEGAL_ADDRESS: "register not in the robot's map (interface version?)",
    ExcCodes.ILLEGAL_VALUE: "request refused as malformed",
    ExcCodes.DEVICE_FAILURE: "robot controller failure (wrong device id?)",
    ExcCodes.ACKNOWLEDGE: "accepted, still processing",
    ExcCodes.DEVICE_BUSY: "robot controller busy",
    ExcCodes.NEGATIVE_ACKNOWLEDGE: "request cannot be performed",
    ExcCodes.MEMORY_PARITY_ERROR: "memory parity error",
    ExcCodes.GATEWAY_PATH_UNAVIABLE: "gateway path unavailable",
    ExcCodes.GATEWAY_NO_RESPONSE: "the gateway got no answer from the robot",
}


class _NoAnswer(RobotError):
    """No usable answer this time (timeout, garbled frame, link down, busy): worth asking again."""


FIRST_POLL_S = 0.0005
HOST_LEAVES = 0
"""The host heartbeat a host writes as it leaves: the robot's watchdog stands down."""


@dataclass(frozen=True, slots=True)
class ModbusTimeouts:
    """Handshake timing. `retries` is how often a write whose reply was lost is re-sent."""

    ack_timeout_s: float = 1.0
    done_timeout_s: float = 30.0
    poll_s: float = 0.01
    heartbeat_s: float = 0.5
    stale_after_s: float = 2.0
    request_timeout_s: float = 0.5
    retries: int = 2
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 5.0


def _exception_error(where: str, what: str, code: int) -> RobotError:
    meaning = _EXCEPTIONS.get(code)
    text = f"robot at {where}: {what}: Modbus exception {code}"
    if meaning is not None:
        text += f" ({ExcCodes(code).name}): {meaning}"
    return _NoAnswer(text) if code in _TRANSIENT_EXCEPTIONS else RobotError(text)


# -- the driver -----------------------------------------------------------------------------


class ModbusRobot:
    """A robot behind a PLC speaking Modbus. Build it with `tcp()` or `rtu()`.

    The pymodbus client is made by `client_factory` on `connect()` (pymodbus clients need a
    running event loop), so a driver can be built anywhere.

    A background task writes the host heartbeat every `heartbeat_s` and reads the status; the
    robot is declared lost once its heartbeat has not changed for `stale_after_s`, and every
    call then raises `RobotError` at once. pymodbus reconnects a dropped link with backoff.
    """

    def __init__(
        self,
        client_factory: Callable[[], ModbusBaseClient],
        *,
        where: str,
        device_id: int = 1,
        timeouts: ModbusTimeouts | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.where = f"{where} device {device_id}"
        self.device_id = device_id
        self.timeouts = timeouts or ModbusTimeouts()
        self._client_factory = client_factory
        self._client: ModbusBaseClient | None = None
        self._clock = clock
        # the (job seq, token) pairs this driver can explain; None: any token (found at connect)
        self._known: tuple[tuple[int, int | None], ...] = ()
        self._conflict: str | None = None  # another master was seen: every job raises
        self._job_turns = 0  # moves as a job starts and as it ends
        self._host_heartbeat = 0
        self._heartbeat_seen: int | None = None
        self._heartbeat_changed_at = 0.0
        self._lost: str | None = None
        self._quarantined = 0
        self._jobs = asyncio.Lock()
        self._commands = asyncio.Lock()
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._heartbeat_stop = asyncio.Event()

    @classmethod
    def tcp(
        cls,
        host: str,
        port: int = 502,
        *,
        device_id: int = 1,
        timeouts: ModbusTimeouts | None = None,
    ) -> ModbusRobot:
        t = timeouts or ModbusTimeouts()

        def client() -> ModbusBaseClient:
            return AsyncModbusTcpClient(
                host,
                port=port,
                timeout=t.request_timeout_s,
                retries=0,
                reconnect_delay=t.reconnect_min_s,
                reconnect_delay_max=t.reconnect_max_s,
            )

        return cls(client, where=f"tcp {host}:{port}", device_id=device_id, timeouts=t)

    @classmethod
    def rtu(
        cls,
        port: str,
        *,
        baudrate: int = 19200,
        parity: str = "N",
        stopbits: int = 1,
        bytesize: int = 8,
        device_id: int = 1,
        timeouts: ModbusTimeouts | None = None,
    ) -> ModbusRobot:
        t = timeouts or ModbusTimeouts()

        def client() -> ModbusBaseClient:
            return AsyncModbusSerialClient(
                port,
                framer=FramerType.RTU,
                baudrate=baudrate,
                parity=parity,
                stopbits=stopbits,
                bytesize=bytesize,
                timeout=t.request_timeout_s,
                retries=0,
                reconnect_delay=t.reconnect_min_s,
                reconnect_delay_max=t.reconnect_max_s,
            )

        where = f"rtu {port} {baudrate} {bytesize}{parity}{stopbits}"
        return cls(client, where=where, device_id=device_id, timeouts=t)

    # -- the Robot protocol ------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the link, beat (first of all), check the robot speaks this register map and
        answers with a sane status, take its job seq as the starting point, start the heartbeat."""
        if self._heartbeat_task is not None:
            return
        self._client = self._client_factory()
        try:
            if not await self._client.connect():
                raise RobotError(f"cannot connect to the robot at {self.where}")
            self._heartbeat_changed_at = self._clock()
            self._host_heartbeat = secrets.randbelow(U16) + 1  # 1…65535
            await self._write(Register.HOST_HEARTBEAT, [self._host_heartbeat], "host heartbeat")
            await self._check_version()
            status = await self._read_status()
        except (OSError, ModbusException, RobotError) as error:
            self._close_client()  # the next call starts afresh
            if isinstance(error, RobotError):
                raise
            raise RobotError(f"cannot connect to the robot at {self.where}: {error}") from error
        self._known = ((status.job_ack_seq, None),)
        self._conflict = None
        self._heartbeat_stop = asyncio.Event()
        self._heartbeat_task = asyncio.create_task(self._heartbeat(self._heartbeat_stop))
        log.info("robot.connected", where=self.where, state=status.state.name)

    async def status(self) -> RobotStatus:
        await self.connect()
        status = await self._read_status()
        self._check_alive()
        return status

    async def execute(self, job: Job) -> JobOutcome:
        """Run one job through the handshake; a refusal is an outcome, anything unclear raises."""
        await self.connect()
        encode_job(job, 1)  # a job that cannot be encoded fails before anything is sent
        async with self._jobs:
            self._job_turns += 1
            try:
                return await self._run(job)
            finally:
                self._job_turns += 1

    async def _run(self, job: Job) -> JobOutcome:
        """The handshake of one job: read the status, write the job, wait for its ack (its seq
        and token) and its result (its seq and token); RobotConflict on a foreign seq."""
        if self._conflict is not None:
            raise RobotConflict(self._conflict)

        def idle(s: RobotStatus) -> bool:
            self._check_seq(s)
            return not settling(s)

        status = await self._poll(idle, self.timeouts.ack_timeout_s, "the robot to become idle")
        before = (status.job_ack_seq, status.acked_token or 0)
        self._known = (before,)
        if not status.ready:
            why = not_ready(status, job.code) or "its READY bit is off"
            message = f"robot not ready ({status.state.name}): {why}"
            return JobOutcome(JobResult.REFUSED_NOT_READY, fault=status.fault, message=message)
        seq = next_seq(status.job_ack_seq)
        ours = (seq, job.token)
        self._known = (before, ours)  # until the robot shows which, both are explained

        def acked(s: RobotStatus) -> bool:
            self._check_seq(s)
            return s.job_ack_seq == seq

        def done(s: RobotStatus) -> bool:
            self._check_seq(s)
            if s.job_done_seq == seq and (s.done_token or 0) != job.token:
                self._conflict_seen(f"job {seq}'s result names token {s.done_token}")
            return s.job_done_seq == seq

        what = f"job {seq} ({job.code.name}, token {job.token})"
        status = await self._request(what, JOB_START, encode_job(job, seq), acked)
        self._known = (ours,)
        if not done(status):
            status = await self._poll(done, self.timeouts.done_timeout_s, f"{what} to finish")
        return self._outcome(job, seq, status)

    def _explains(self, status: RobotStatus) -> bool:
        """The robot's job seq (and its token) is one this driver wrote or found at connect, or
        none at all (a robot restarted: no job taken since power-up)."""
        if status.job_ack_seq == 0 and status.acked_token is None:
            return True
        return any(
            status.job_ack_seq == seq and token in (None, status.acked_token or 0)
            for seq, token in self._known
        )

    def _check_seq(self, status: RobotStatus) -> None:
        """RobotConflict when another master has written a job (now, or seen before)."""
        if self._conflict is None and not self._explains(status):
            token = status.acked_token or "none"
            self._conflict_seen(f"job seq {status.job_ack_seq} (token {token}) is not this host's")
        if self._conflict is not None:
            raise RobotConflict(self._conflict)

    def _conflict_seen(self, what: str) -> None:
        self._conflict = (
            f"robot at {self.where} has another master: {what}; stop the other host, then "
            "restart this one"
        )
        log.error("robot.conflict", where=self.where, error=self._conflict)
        raise RobotConflict(self._conflict)

    async def command(self, command: MachineCommand) -> None:
        """A PackML command; RobotError when the robot refuses it in its current state."""
        await self.connect()
        async with self._commands:
            status = await self._read_status()
            self._check_alive()
            seq = next_seq(status.command_ack_seq)
            status = await self._request(
                f"command {command.name}",
                Register.CNTRL_CMD,
                block(
                    Register.CNTRL_CMD,
                    2,
                    {Register.CNTRL_CMD: [int(command)], Register.CMD_SEQ: [seq]},
                ),
                lambda s: s.command_ack_seq == seq,
            )
        if status.command_rejected:
            raise CommandRefused(f"robot refused {command.name} in state {status.state.name}")

    async def ack_fault(self, code: int) -> bool:
        """Acknowledge a fault; True when the robot cleared it (its cause is gone)."""
        await self.connect()
        status = await self._request(
            f"fault ack {code}", Register.FAULT_ACK, [code & U16], lambda s: True
        )
        return status.fault != code

    async def aclose(self) -> None:
        if self._heartbeat_task is not None:
            # The cancellation alone can be lost: pymodbus awaits each reply with
            # asyncio.wait_for, which on Python 3.11 returns the reply and swallows a
            # cancellation that meets its arrival (CPython gh-86296); the heartbeat would run
            # on and this would wait forever. The stop flag ends it after that beat.
            self._heartbeat_stop.set()
            self._heartbeat_task.cancel()
            await asyncio.gather(self._heartbeat_task, return_exceptions=True)
            self._heartbeat_task = None
            with contextlib.suppress(RobotError):  # best effort: a robot gone cannot hear it
                await self._write(Register.HOST_HEARTBEAT, [HOST_LEAVES], "host leaving")
        self._close_client()

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- the handshake -----------------------------------------------------------------------

    async def _request(
        self,
        what: str,
        address: int,
        values: list[int],
        acked: Callable[[RobotStatus], bool],
    ) -> RobotStatus:
        """Write a request and wait for its acknowledgement. After a lost reply, re-read the
        status: re-send the same values only if the robot has not acknowledged them."""
        deadline = self._clock() + self.timeouts.ack_timeout_s
        for attempt in range(self.timeouts.retries + 1):
            try:
                await self._write(address, values, what)
            except _NoAnswer as error:
                log.warning("robot.reply_lost", what=what, attempt=attempt, error=str(error))
                status = await self._poll_until(lambda s: True, deadline, f"status after {what}")
                if acked(status):
                    return status
                continue
            return await self._poll_until(acked, deadline, f"the robot to acknowledge {what}")
        tries = self.timeouts.retries + 1
        raise RobotError(f"robot at {self.where}: no reply to {what} after {tries} tries")

    async def _poll(
        self, done: Callable[[RobotStatus], bool], timeout_s: float, what: str
    ) -> RobotStatus:
        return await self._poll_until(done, self._clock() + timeout_s, what)

    async def _poll_until(
        self, done: Callable[[RobotStatus], bool], deadline: float, what: str
    ) -> RobotStatus:
        """Read the status until `done` holds; a robot that stops answering or whose heartbeat
        stops is given up on at once, whatever the deadline. The first reads follow each other
        closely (a quick job is seen at once), later ones every `poll_s`."""
        pause = FIRST_POLL_S
        while True:
            try:
                status = await self._read_status()
                self._check_alive()
                if done(status):
                    return status
            except _NoAnswer as error:
                self._check_alive()
                if self._clock() >= deadline:
                    raise RobotError(f"timed out waiting for {what}: {error}") from error
            if self._clock() >= deadline:
                raise RobotError(f"timed out waiting for {what} (robot at {self.where})")
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.timeouts.poll_s)

    def _outcome(self, job: Job, seq: int, status: RobotStatus) -> JobOutcome:
        outcome = reported_outcome(job, status, f"robot at {self.where}: job {seq}")
        if outcome.message:
            log.warning(
                "robot.unexpected_outcome", token=job.token, seq=seq, problem=outcome.message
            )
        if outcome.result in (JobResult.QUARANTINED, JobResult.RETRIEVED):
            self._quarantined += 1
        return outcome

    # -- liveness ----------------------------------------------------------------------------

    def _observe(self, heartbeat: int) -> None:
        if heartbeat != self._heartbeat_seen:
            self._heartbeat_seen = heartbeat
            self._heartbeat_changed_at = self._clock()

    def _check_alive(self) -> None:
        quiet = self._clock() - self._heartbeat_changed_at
        if quiet > self.timeouts.stale_after_s:
            raise RobotError(
                f"robot at {self.where} lost: its heartbeat has not changed for {quiet:.1f} s"
            )

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        """Write the host heartbeat and watch the robot's; log when the link goes and comes.
        Ends when cancelled or, should a library swallow the cancellation, once `stop` is set."""
        while True:
            self._host_heartbeat = next_seq(self._host_heartbeat)
            try:
                await self._write(Register.HOST_HEARTBEAT, [self._host_heartbeat], "host heartbeat")
                turns = self._job_turns
                status = await self._read_status()
                self._check_alive()
                if turns == self._job_turns and not self._jobs.locked():
                    with contextlib.suppress(RobotConflict):  # the next job raises it
                        self._check_seq(status)  # a job written while none of ours ran
            except RobotError as error:
                if self._lost is None:
                    log.error("robot.link_lost", where=self.where, error=str(error))
                self._lost = str(error)
            else:
                if self._lost is not None:
                    log.info("robot.link_back", where=self.where)
                self._lost = None
            if stop.is_set():
                return
            await asyncio.sleep(self.timeouts.heartbeat_s)

    # -- Modbus requests ---------------------------------------------------------------------

    async def _check_version(self) -> None:
        """RobotError (one line) when the robot speaks another major version of the map (read
        alone: another version's status block may be another length)."""
        response = await self._call(
            "interface version read",
            lambda client: client.read_holding_registers(
                Register.IF_VERSION, count=1, device_id=self.device_id
            ),
        )
        version = response.registers[0]
        if version >> 8 != INTERFACE_VERSION >> 8:
            raise RobotError(
                f"robot at {self.where} speaks register map version {version:#06x}, this driver "
                f"{INTERFACE_VERSION:#06x}: update the robot's PLC program or fmd-robot"
            )

    async def _read_status(self) -> RobotStatus:
        response = await self._call(
            "status read",
            lambda client: client.read_holding_registers(
                STATUS_START, count=STATUS_COUNT, device_id=self.device_id
            ),
        )
        status = decode_status(response.registers, packs_quarantined=self._quarantined)
        self._observe(status.heartbeat)
        return status

    async def _write(self, address: int, values: list[int], what: str) -> None:
        await self._call(
            what,
            lambda client: client.write_registers(address, values, device_id=self.device_id),
        )

    async def _call(
        self, what: str, request: Callable[[ModbusBaseClient], Awaitable[ModbusPDU]]
    ) -> ModbusPDU:
        if self._client is None:
            raise _NoAnswer(f"robot at {self.where}: {what}: not connected")
        try:
            response = await request(self._client)
        except ModbusException as error:  # timeout, garbled frame, link down
            raise _NoAnswer(f"robot at {self.where}: {what}: {error}") from error
        if response.isError():
            raise _exception_error(self.where, what, response.exception_code)
        return response
