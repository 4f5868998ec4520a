"""The simulated robot: in process (the daemon's own `sim` driver), or a simulated PLC or
serial-line robot reached over a real transport (Modbus TCP on loopback, Modbus RTU or the line
protocol over ptys). The PLC runs in its own process, as a real one has its own CPU."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from simulators.plc import PlcSimulator, rtu_pty_pair
from simulators.robot_model import RobotModel, Timings
from simulators.serial_robot import SerialRobotSimulator
from simulators.world.spec import (
    ROBOT_CAPACITY,
    RobotEndpoint,
    RobotKind,
    SerialRobotEndpoint,
    SimRobotEndpoint,
    TcpRobotEndpoint,
    WorldError,
)

START_TIMEOUT_S = 20.0


@asynccontextmanager
async def simulated_robot(
    kind: RobotKind, *, move_time_s: float, moves: Counter[int]
) -> AsyncIterator[RobotEndpoint | None]:
    """The endpoint of a robot of `kind` (None for "none"); `moves` gets the physical moves per
    pack token its mechanics counted (live for the serial robot, at the end for a PLC; the
    in-process `sim` robot is the daemon's own and counts its moves itself)."""
    if kind == "none":
        yield None
        return
    if kind == "sim":
        yield SimRobotEndpoint(move_time_s)
        return
    async with AsyncExitStack() as stack:
        if kind == "serial":
            model = RobotModel(capacity=ROBOT_CAPACITY, timings=Timings(move_s=move_time_s))
            simulator = stack.enter_context(SerialRobotSimulator(model))
            stack.callback(lambda: moves.update(model.moves))
            yield SerialRobotEndpoint("serial", str(simulator.port))
        elif kind == "modbus-tcp":
            port = await stack.enter_async_context(_plc_process("tcp", move_time_s, moves))
            yield TcpRobotEndpoint("127.0.0.1", port)
        else:
            server_port, client_port = stack.enter_context(rtu_pty_pair())
            await stack.enter_async_context(_plc_process(server_port, move_time_s, moves))
            yield SerialRobotEndpoint("modbus-rtu", client_port)


@asynccontextmanager
async def _plc_process(where: str, move_time_s: float, moves: Counter[int]) -> AsyncIterator[int]:
    """A simulated PLC in its own process: yields its TCP port (0 on RTU); `moves` gets the
    moves its mechanics counted when it stops."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(
        target=serve_plc_process, args=(theirs, where, move_time_s), daemon=True
    )
    process.start()
    theirs.close()
    try:
        if not await asyncio.to_thread(_answered, ours, process):
            raise WorldError(f"the simulated PLC did not start (exit code {process.exitcode})")
        yield int(ours.recv())
        ours.send("stop")
        if not await asyncio.to_thread(_answered, ours, process):
            raise WorldError("the simulated PLC did not report its moves")
        moves.update(ours.recv())
    finally:
        with contextlib.suppress(OSError):
            ours.send("stop")  # harmless when it has stopped already
        await asyncio.to_thread(process.join, 2.0)
        if process.is_alive():
            process.kill()
            await asyncio.to_thread(process.join, 2.0)
        ours.close()


def _answered(pipe: Connection, process: BaseProcess) -> bool:
    """Wait for the child's first message; False when it died or took too long."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if pipe.poll(0.05):
            return True
        if not process.is_alive():
            return False
    return False


def serve_plc_process(pipe: Connection, where: str, move_time_s: float) -> None:
    """In the child: serve a PLC on loopback TCP (`where` "tcp") or a serial port, send its
    port, then serve until told to stop and send back the moves per pack token."""

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops it, also on Ctrl-C

    async def serve() -> None:
        model = RobotModel(capacity=ROBOT_CAPACITY, timings=Timings(move_s=move_time_s))
        tcp = ("127.0.0.1", 0) if where == "tcp" else None
        plc = PlcSimulator(model, tcp=tcp, rtu_port=None if tcp else where)
        await plc.start()
        pipe.send(plc.port if tcp else 0)
        await asyncio.to_thread(pipe.recv)
        await plc.stop()
        pipe.send(dict(model.moves))

    asyncio.run(serve())
