"""The demo's robot: the in-process model, or a simulated PLC or serial-line robot reached over
a real transport (Modbus TCP on loopback, Modbus RTU or the line protocol over ptys)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Literal, get_args

from robot_controller.robot.base import Robot
from robot_controller.robot.modbus import ModbusRobot
from robot_controller.robot.serial import SerialRobot
from robot_controller.robot.sim import SimRobot
from simulators.plc import PlcSimulator, rtu_pty_pair
from simulators.robot_model import RobotModel, Timings
from simulators.serial_robot import SerialRobotSimulator

RobotKind = Literal["modbus-tcp", "modbus-rtu", "serial", "sim"]
ROBOT_KINDS: tuple[RobotKind, ...] = get_args(RobotKind)
CAPACITY = 1_000_000


@asynccontextmanager
async def delivery_robot(
    kind: RobotKind, *, move_time_s: float = 0.0
) -> AsyncIterator[tuple[Robot, Counter[int]]]:
    """A connected robot, and the physical moves per pack token its mechanics counted."""
    if kind == "sim":
        robot = SimRobot(capacity=CAPACITY, move_time_s=move_time_s)
        yield robot, robot.moves
        return
    model = RobotModel(capacity=CAPACITY, timings=Timings(move_s=move_time_s))
    async with AsyncExitStack() as stack:
        driver: ModbusRobot | SerialRobot
        if kind == "serial":
            simulator = stack.enter_context(SerialRobotSimulator(model))
            driver = SerialRobot(str(simulator.port))
        else:
            if kind == "modbus-tcp":
                plc = PlcSimulator(model, tcp=("127.0.0.1", 0))
            else:
                server_port, client_port = stack.enter_context(rtu_pty_pair())
                plc = PlcSimulator(model, rtu_port=server_port)
            await plc.start()
            stack.push_async_callback(plc.stop)
            driver = (
                ModbusRobot.tcp("127.0.0.1", plc.port)
                if kind == "modbus-tcp"
                else ModbusRobot.rtu(client_port, baudrate=115_200)
            )
        stack.push_async_callback(driver.aclose)
        await driver.connect()
        yield driver, model.moves
