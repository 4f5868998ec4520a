"""The simulated robot: in process (the daemon's own `sim` driver), or a simulated PLC or
serial-line robot reached over a real transport (Modbus TCP on loopback, Modbus RTU or the line
protocol over ptys). The PLC runs in its own process, as a real one has its own CPU."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from simulators.plc import rtu_pty_pair
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
STOP_TIMEOUT_S = 2.0


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
    if kind == "wwks2":
        raise WorldError("a WWKS2 robot scans its delivery: start it with simulated_wwks2_robot")
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
    """A simulated PLC in its own process (`simulators.plc_process`): yields its TCP port (0 on
    RTU); `moves` gets the moves its mechanics counted when it stops. The child is a plain
    interpreter on that module alone: a multiprocessing child would first import whatever
    started the parent (the whole command line, the HTTP stack), tens of seconds on a busy
    machine before the PLC answered. It has a session of its own, so a Ctrl-C reaches the
    parent only, which stops it."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-P", "-m", "simulators.plc_process",
        where, repr(move_time_s), str(ROBOT_CAPACITY),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        env=_child_environment(), start_new_session=True,
    )  # fmt: skip
    try:
        yield int(await _line_from(child, "did not start"))
        if child.stdin is not None:
            child.stdin.write(b"stop\n")
        report = await _line_from(child, "did not report its moves")
        moves.update({int(token): count for token, count in json.loads(report).items()})
    finally:
        if child.stdin is not None:
            child.stdin.close()  # the end of its input stops it too
        try:
            await asyncio.wait_for(child.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            child.kill()
            await child.wait()


async def _line_from(child: asyncio.subprocess.Process, what: str) -> str:
    """The child's next line of output; `WorldError` when it ends or stays silent instead."""
    if child.stdout is None:
        raise WorldError("the simulated PLC has no output")
    try:
        line = await asyncio.wait_for(child.stdout.readline(), START_TIMEOUT_S)
    except TimeoutError:
        raise WorldError(f"the simulated PLC {what} within {START_TIMEOUT_S:g} s") from None
    if not line.strip():
        code = await child.wait()
        raise WorldError(f"the simulated PLC {what} (exit code {code})")
    return line.decode()


def _child_environment() -> dict[str, str]:
    """The environment, with the folder this package was imported from first on the path (the
    child runs the same code, installed or not)."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([root, path] if path else [root])}
