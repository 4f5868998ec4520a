"""Benchmark of the robot drivers against their simulators, with zero mechanical time.

The simulator runs in its own process (as a PLC would): jobs per second, and the handshake
latency per job (p50, p95), over Modbus TCP on loopback and Modbus RTU over a pty pair (a pty
has no baud-rate timing, so RTU figures are the protocol's cost, not the line's).
Prints one JSON line.
Usage: python bench/robot.py [--jobs 2000] [--rtu-jobs 500]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from robot_controller.logs import configure_logging
from robot_controller.robot.base import Job, JobCode, JobResult
from robot_controller.robot.modbus import ModbusRobot
from simulators.plc import rtu_pty_pair, serve_plc


def plc_child(where: str) -> None:
    """In the child: serve the PLC until killed; the first line printed says where."""
    tcp = ("127.0.0.1", 0) if where == "tcp" else None
    rtu = None if where == "tcp" else where
    asyncio.run(serve_plc(tcp=tcp, rtu=rtu, announce=lambda line: print(line, flush=True)))


@contextmanager
def plc_process(where: str) -> Iterator[str]:
    """A PLC simulator process; yields its announcement ('… on tcp HOST:PORT' / '… on rtu PATH')."""
    args = [sys.executable, __file__, "--plc", where]
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            yield child.stdout.readline().strip()
        finally:
            child.terminate()


async def drive(robot: ModbusRobot, jobs: int) -> dict[str, Any]:
    """`jobs` place jobs one after the other: throughput and per-job handshake latency."""
    await robot.connect()
    latencies = []
    started = time.perf_counter()
    for token in range(1, jobs + 1):
        before = time.perf_counter()
        outcome = await robot.execute(Job(JobCode.PLACE_ON_SHELF, token))
        latencies.append((time.perf_counter() - before) * 1000)
        if outcome.result is not JobResult.STORED:
            raise RuntimeError(f"job {token}: {outcome}")
    elapsed = time.perf_counter() - started
    await robot.aclose()
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "jobs": jobs,
        "jobs_per_s": round(jobs / elapsed, 1),
        "p50_ms": round(cuts[49], 2),
        "p95_ms": round(cuts[94], 2),
    }


def modbus_tcp(jobs: int) -> dict[str, Any]:
    with plc_process("tcp") as announced:
        port = int(announced.rsplit(":", 1)[1])
        return asyncio.run(drive(ModbusRobot.tcp("127.0.0.1", port), jobs))


def modbus_rtu(jobs: int) -> dict[str, Any]:
    with rtu_pty_pair() as pair, plc_process(pair.server_port):
        robot = ModbusRobot.rtu(pair.client_port, baudrate=115_200)
        return {**asyncio.run(drive(robot, jobs)), "baudrate": 115_200}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rtu-jobs", type=int, default=500)
    parser.add_argument("--plc", metavar="tcp|PTY", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plc:
        plc_child(args.plc)
        return
    configure_logging(stream=io.StringIO(), level="warning")
    print(
        json.dumps(
            {
                "cores": os.cpu_count(),
                "modbus_tcp": modbus_tcp(args.jobs),
                "modbus_rtu_pty": modbus_rtu(args.rtu_jobs),
                # -- serial line protocol: figures from the serial-line driver go here ------
                "serial_line_pty": None,
                "targets": {"modbus_tcp_p95_ms": 20},
            }
        )
    )


if __name__ == "__main__":
    main()
