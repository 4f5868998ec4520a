"""The demo's robot: the in-process model, or a simulated PLC or serial-line robot reached over
a real transport (Modbus TCP on loopback, Modbus RTU or the line protocol over ptys)."""

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
from typing import Literal, get_args

from robot_controller.robot.base import Robot, RobotError
from robot_controller.robot.modbus import ModbusRobot
from robot_controller.robot.serial import SerialRobot
from robot_controller.robot.sim import SimRobot
from simulators.plc import PlcSimulator, rtu_pty_pair
from simulators.robot_model import RobotModel, Timings
from simulators.serial_robot import SerialRobotSimulator

RobotKind = Literal["modbus-tcp", "modbus-rtu", "serial", "sim"]
ROBOT_KINDS: tuple[RobotKind, ...] = get_args(RobotKind)
CAPACITY = 1_000_000
START_TIMEOUT_S = 20.0


@asynccontextmanager
async def delivery_robot(
    kind: RobotKind, *, move_time_s: float = 0.0
) -> AsyncIterator[tuple[Robot, Counter[int]]]:
    """A connected robot, and the physical moves per pack token its mechanics counted."""
    if kind == "sim":
        robot = SimRobot(capacity=CAPACITY, move_time_s=move_time_s)
        yield robot, robot.moves
        return
    async with AsyncExitStack() as stack:
        driver: ModbusRobot | SerialRobot
        moves: Counter[int]
        if kind == "serial":
            model = RobotModel(capacity=CAPACITY, timings=Timings(move_s=move_time_s))
            simulator = stack.enter_context(SerialRobotSimulator(model))
            driver, moves = SerialRobot(str(simulator.port)), model.moves
        elif kind == "modbus-tcp":
            port, moves = await stack.enter_async_context(_plc_process("tcp", move_time_s))
            driver = ModbusRobot.tcp("127.0.0.1", port)
        else:
            server_port, client_port = stack.enter_context(rtu_pty_pair())
            _, moves = await stack.enter_async_context(_plc_process(server_port, move_time_s))
            driver = ModbusRobot.rtu(client_port, baudrate=115_200)
        stack.push_async_callback(driver.aclose)
        await driver.connect()
        yield driver, moves


@asynccontextmanager
async def _plc_process(where: str, move_time_s: float) -> AsyncIterator[tuple[int, Counter[int]]]:
    """A simulated PLC in its own process, as a real one has its own CPU: yields its TCP port
    (0 on RTU) and the moves its mechanics counted, filled in when it stops."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(
        target=serve_plc_process, args=(theirs, where, move_time_s), daemon=True
    )
    process.start()
    theirs.close()
    moves: Counter[int] = Counter()
    try:
        if not await asyncio.to_thread(_answered, ours, process):
            raise RobotError(f"the simulated PLC did not start (exit code {process.exitcode})")
        yield int(ours.recv()), moves
        ours.send("stop")
        if not await asyncio.to_thread(_answered, ours, process):
            raise RobotError("the simulated PLC did not report its moves")
        moves.update(ours.recv())
    finally:
        with contextlib.suppress(OSError):
            ours.send("stop")  # harmless when it has stopped already
        await asyncio.to_thread(process.join, 2.0)
        if process.is_alive():
            process.kill()
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
        model = RobotModel(capacity=CAPACITY, timings=Timings(move_s=move_time_s))
        tcp = ("127.0.0.1", 0) if where == "tcp" else None
        plc = PlcSimulator(model, tcp=tcp, rtu_port=None if tcp else where)
        await plc.start()
        pipe.send(plc.port if tcp else 0)
        await asyncio.to_thread(pipe.recv)
        await plc.stop()
        pipe.send(dict(model.moves))

    asyncio.run(serve())
