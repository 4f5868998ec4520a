"""A simulated PLC in a process of its own, as a real one has its own CPU.

`python -m simulators.plc_process WHERE MOVE_S CAPACITY` serves on loopback TCP (WHERE `tcp`)
or on the serial port WHERE, prints its TCP port (0 on a serial port), serves until a line or
the end of its standard input, then prints the moves its mechanics counted (JSON: pack token →
moves) and exits. It imports the PLC and its model only, so it serves within a second of its
start even on a busy machine.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys

from simulators.plc import PlcSimulator
from simulators.robot_model import RobotModel, Timings


async def serve(where: str, move_time_s: float, capacity: int) -> None:
    """Serve until told to stop (a line, or the end of the input), then report the moves."""
    model = RobotModel(capacity=capacity, timings=Timings(move_s=move_time_s))
    tcp = ("127.0.0.1", 0) if where == "tcp" else None
    plc = PlcSimulator(model, tcp=tcp, rtu_port=None if tcp else where)
    await plc.start()
    _say(str(plc.port if tcp else 0))
    try:
        await asyncio.to_thread(sys.stdin.readline)
    finally:
        await plc.stop()
    _say(json.dumps(dict(model.moves)))


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> None:
    where, move_time_s, capacity = argv
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # the host reports what matters
    asyncio.run(serve(where, float(move_time_s), int(capacity)))


if __name__ == "__main__":
    main(sys.argv[1:])
