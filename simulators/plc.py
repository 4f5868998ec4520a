"""A PLC simulator: a pymodbus server with ARCHITECTURE.md's register map over a `RobotModel`.

Holding registers only: the status block 0–19 is read-only (a host write → exception 02), the
command block 100–112 is written by the host; addresses in between are undefined (exception 02).
u32 values are big-endian, high word first. The host writes a job as one FC16 of 101–107
(code, reason, token, seq, location): a JOB_SEQ different from the acknowledged one starts the
job, which runs as a task so that mechanical time passes while the host polls.

Faults: `RobotFaults.silent` → no request is answered; `lose_next_reply` → the next job write is
applied but its response is never sent. Both use pymodbus' "no response" path for a request
raising `NoSuchIdException` on a server with `ignore_missing_devices=True`.
Test hooks: `overrides` (register → value, applied to every status read, e.g. an impossible
state), `exception_code` (every request answers with that Modbus exception), `drop_next_write`
(the next write covering that register is lost on its way: neither applied nor answered) and
`mangle_replies` (rewrites every reply frame on the wire: wrong lengths, bad CRCs).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import threading
import tty
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import KW_ONLY, dataclass, field
from enum import IntEnum

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from simulators.robot_model import (
    IF_VERSION,
    U16,
    UNIT_MODE_PRODUCTION,
    RobotModel,
    Timings,
)

STATUS_COUNT = 20
COMMAND_COUNT = 13
HEARTBEAT_PERIOD_S = 0.1


class Reg(IntEnum):
    """Holding register addresses (0-based PDU addresses)."""

    IF_VERSION = 0
    HEARTBEAT = 1
    STATE = 2
    UNIT_MODE = 3
    STATUS_WORD = 4
    JOB_ACK_SEQ = 5
    JOB_DONE_SEQ = 6
    JOB_RESULT = 7
    LOCATION = 8  # u32, 8–9
    FAULT_CODE = 10
    CMD_ACK_SEQ = 11
    CMD_REJECTED = 12
    PACKS_STORED = 13  # u32, 13–14
    PACKS_REJECTED = 15
    ACKED_TOKEN = 16  # u32, 16–17
    DONE_TOKEN = 18  # u32, 18–19
    HOST_HEARTBEAT = 100
    JOB_CODE = 101
    JOB_REASON = 102
    JOB_TOKEN = 103  # u32, 103–104
    JOB_SEQ = 105
    JOB_LOCATION = 106  # u32, 106–107
    CNTRL_CMD = 110
    CMD_SEQ = 111
    FAULT_ACK = 112


class _NoReply(NoSuchIdException):
    """Raised in the action hook: the server then sends nothing (a lost reply)."""


async def _silent(*_: object) -> ExcCodes | None:
    raise _NoReply("not this device")


def u32(high: int, low: int) -> int:
    return (high << 16) | low


def split_u32(value: int) -> list[int]:
    return [(value >> 16) & U16, value & U16]


def status_registers(model: RobotModel) -> list[int]:
    """The status block 0–19 as the model stands now."""
    job = model.last_job
    return [
        IF_VERSION,
        model.heartbeat,
        model.state,
        UNIT_MODE_PRODUCTION,
        model.status_word(),
        model.job_ack_seq,
        model.job_done_seq,
        job.result if job else 0,
        *split_u32(job.location if job else 0),
        model.fault_code,
        model.command_ack_seq,
        int(model.command_rejected),
        *split_u32(model.packs_stored),
        model.packs_rejected & U16,
        *split_u32(model.acked_token),
        *split_u32(job.token if job else 0),
    ]


@dataclass
class PtyPair:
    """Two ptys joined by a copying thread: the server opens one, the client the other.

    `inject(data)` writes raw bytes to the client's side, as line noise would.
    """

    server_port: str
    client_port: str
    _masters: tuple[int, int]

    def inject(self, data: bytes) -> None:
        os.write(self._masters[1], data)

    def __iter__(self) -> Iterator[str]:
        return iter((self.server_port, self.client_port))


@contextlib.contextmanager
def rtu_pty_pair() -> Iterator[PtyPair]:
    """A virtual null-modem cable made of two ptys (robot.md §4.3)."""
    fds = [os.openpty(), os.openpty()]
    for _, slave in fds:
        tty.setraw(slave)  # no echo, no line discipline until pyserial opens the port
    masters = (fds[0][0], fds[1][0])
    stop_r, stop_w = os.pipe()
    thread = threading.Thread(target=_bridge, args=(masters, stop_r), daemon=True)
    thread.start()
    try:
        yield PtyPair(os.ttyname(fds[0][1]), os.ttyname(fds[1][1]), masters)
    finally:
        os.write(stop_w, b"x")
        thread.join()
        for fd in (stop_r, stop_w, *masters, *(slave for _, slave in fds)):
            os.close(fd)


def _bridge(masters: tuple[int, int], stop: int) -> None:
    peer = {masters[0]: masters[1], masters[1]: masters[0]}
    while True:
        readable, _, _ = select.select([*masters, stop], [], [])
        if stop in readable:
            return
        for fd in readable:
            with contextlib.suppress(OSError):  # the far end is not open (EIO): drop it
                os.write(peer[fd], os.read(fd, 4096))


@dataclass
class PlcSimulator:
    """A Modbus server (TCP, or RTU on a serial port / pty / `socket://host:port`)."""

    model: RobotModel
    _: KW_ONLY
    tcp: tuple[str, int] | None = None
    rtu_port: str | None = None
    device_id: int = 1
    baudrate: int = 115_200
    overrides: dict[int, int] = field(default_factory=dict)
    exception_code: ExcCodes | None = None
    drop_next_write: int | None = None
    mangle_replies: Callable[[bytes], bytes] | None = None
    _server: ModbusTcpServer | ModbusSerialServer | None = field(default=None, init=False)
    _tasks: set[asyncio.Task[object]] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        if (self.tcp is None) == (self.rtu_port is None):
            raise ValueError("give exactly one of tcp=(host, port) or rtu_port=")

    @property
    def port(self) -> int:
        """The TCP port actually bound (useful with port 0)."""
        server = self._server
        if server is None or self.tcp is None:
            raise RuntimeError("not a running TCP simulator")
        listener: asyncio.Server = server.transport  # type: ignore[assignment]
        return int(listener.sockets[0].getsockname()[1])

    async def start(self) -> None:
        robot = SimDevice(
            id=self.device_id,
            simdata=[
                SimData(0, count=STATUS_COUNT, datatype=DataType.REGISTERS, readonly=True),
                SimData(Reg.HOST_HEARTBEAT, count=COMMAND_COUNT, datatype=DataType.REGISTERS),
            ],
            action=self._action,
        )
        # any other device id stays silent, as on a real RS-485 line (pymodbus answers 04)
        whole_map = SimData(0, count=Reg.FAULT_ACK + 1, datatype=DataType.REGISTERS)
        others = SimDevice(id=0, simdata=[whole_map], action=_silent)
        devices = [robot, others]
        server: ModbusTcpServer | ModbusSerialServer
        if self.tcp is not None:
            server = ModbusTcpServer(
                devices, address=self.tcp, ignore_missing_devices=True, trace_packet=self._trace
            )
        else:
            if self.rtu_port is None:
                raise ValueError("give tcp=(host, port) or rtu_port=")
            server = ModbusSerialServer(
                devices,
                framer=FramerType.RTU,
                port=self.rtu_port,
                baudrate=self.baudrate,
                ignore_missing_devices=True,
                trace_packet=self._trace,
            )
        try:
            await server.serve_forever(background=True)
        except RuntimeError:  # pymodbus could not listen, and says no more
            where = f"{self.tcp[0]}:{self.tcp[1]}" if self.tcp is not None else self.rtu_port
            raise OSError(
                f"cannot listen on {where}: in use by another program, or not an address or "
                "port of this machine"
            ) from None
        self._server = server
        self._spawn(self._heartbeat())

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None

    @contextlib.contextmanager
    def run_in_thread(self) -> Iterator[PlcSimulator]:
        """Serve from a background thread with its own event loop (standalone use, sync tests)."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(timeout=10)
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()

    def _spawn(self, coro: Awaitable[object]) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _trace(self, sending: bool, packet: bytes) -> bytes:
        if sending and self.mangle_replies is not None:
            return self.mangle_replies(packet)
        return packet

    async def _heartbeat(self) -> None:
        while True:
            self.model.tick_heartbeat()
            self.model.check_watchdog()
            await self.model.sleep(HEARTBEAT_PERIOD_S)

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """pymodbus calls this before every access; `registers` is the whole block."""
        if self.model.faults.silent:
            raise _NoReply("silent")
        if self.exception_code is not None:
            return self.exception_code
        status = status_registers(self.model)
        for reg, value in self.overrides.items():
            status[reg] = value
        base = Reg.IF_VERSION - start_address
        registers[base : base + STATUS_COUNT] = status
        if set_values is None or address < Reg.HOST_HEARTBEAT:
            return None
        if self.drop_next_write is not None and address <= self.drop_next_write < address + count:
            self.drop_next_write = None
            raise _NoReply("request lost")
        offset = address - start_address
        registers[offset : offset + count] = [int(v) for v in set_values]
        if self._apply(set(range(address, address + count)), registers, start_address):
            raise _NoReply("lost reply")
        return None

    def _apply(self, written: set[int], registers: list[int], start: int) -> bool:
        """Act on a write to the command block; True when its reply is to be lost."""

        def reg(address: int) -> int:
            return registers[address - start]

        model = self.model
        if Reg.HOST_HEARTBEAT in written:
            model.host_heartbeat(reg(Reg.HOST_HEARTBEAT))
        if Reg.FAULT_ACK in written:
            model.ack_fault(reg(Reg.FAULT_ACK))
        if Reg.CMD_SEQ in written and reg(Reg.CMD_SEQ) != model.command_ack_seq:
            model.command(reg(Reg.CMD_SEQ), reg(Reg.CNTRL_CMD))
        if Reg.JOB_SEQ not in written:
            return False
        seq = reg(Reg.JOB_SEQ)
        if seq != model.job_ack_seq:
            job = model.run_job(
                seq,
                reg(Reg.JOB_CODE),
                reg(Reg.JOB_REASON),
                u32(reg(Reg.JOB_TOKEN), reg(Reg.JOB_TOKEN + 1)),
                u32(reg(Reg.JOB_LOCATION), reg(Reg.JOB_LOCATION + 1)),
            )
            self._spawn(job)
            return model.consume_lost_reply()
        return False


async def serve_plc(
    tcp: tuple[str, int] | None = None,
    rtu: str | None = None,
    timings: Timings | None = None,
    announce: Callable[[str], object] = print,
) -> None:
    """Run a standalone PLC simulator until cancelled (`fmd-robot sim plc`)."""
    plc = PlcSimulator(RobotModel(timings=timings), tcp=tcp, rtu_port=rtu)
    await plc.start()
    where = f"tcp {tcp[0]}:{plc.port}" if tcp is not None else f"rtu {rtu}"
    announce(f"PLC simulator (Modbus, device 1) on {where}")
    try:
        await asyncio.Event().wait()
    finally:
        await plc.stop()
