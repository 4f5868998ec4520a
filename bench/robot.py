"""Benchmark of the robot drivers against their simulators, with zero mechanical time.

Each simulator runs in its own process (as a robot's controller would): jobs per second and the
handshake latency per job (request sent → result read; p50, p95) over Modbus TCP on loopback,
Modbus RTU over a pty pair and the serial line protocol over a pty (a pty has no baud-rate
timing, so those figures are the protocols' cost, not the line's). Then the whole demo over
Modbus TCP against the in-process `sim` robot, with the mock hub (the robot's share of the time
at its largest) and with the default SOAP hub. Prints one JSON line.
Usage: python bench/robot.py [--jobs 2000] [--rtu-jobs 500] [--demo-packs 2000]
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
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fmd.policy import SitePolicy
from robot_controller.demo import DemoOptions, run_demo
from robot_controller.logs import configure_logging
from robot_controller.robot.base import Job, JobCode, JobResult
from robot_controller.robot.modbus import ModbusRobot
from robot_controller.robot.serial import SerialRobot
from simulators.plc import rtu_pty_pair, serve_plc
from simulators.serial_robot import serve_serial_robot
from simulators.world import HubKind, RobotKind


def serve(kind: str, where: str) -> None:
    """In the child: serve a simulator until killed; the first line printed says where."""
    announce = lambda line: print(line, flush=True)  # noqa: E731
    if kind == "serial":
        serve_serial_robot(Path(where), announce=announce)
    elif where == "tcp":
        asyncio.run(serve_plc(tcp=("127.0.0.1", 0), announce=announce))
    else:
        asyncio.run(serve_plc(rtu=where, announce=announce))


@contextmanager
def simulator_process(kind: str, where: str) -> Iterator[str]:
    """A simulator in a child process; yields the line it announced itself with."""
    args = [sys.executable, __file__, "--serve", kind, where]
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            yield child.stdout.readline().strip()
        finally:
            child.terminate()


async def drive(robot: ModbusRobot | SerialRobot, jobs: int) -> dict[str, Any]:
    """`jobs` place jobs one after the other: throughput and per-job handshake latency."""
    await robot.connect()
    latencies = []
    try:
        started = time.perf_counter()
        for token in range(1, jobs + 1):
            before = time.perf_counter()
            outcome = await robot.execute(Job(JobCode.PLACE_ON_SHELF, token))
            latencies.append((time.perf_counter() - before) * 1000)
            if outcome.result is not JobResult.STORED:
                raise RuntimeError(f"job {token}: {outcome}")
        elapsed = time.perf_counter() - started
    finally:
        await robot.aclose()
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "jobs": jobs,
        "jobs_per_s": round(jobs / elapsed, 1),
        "p50_ms": round(cuts[49], 2),
        "p95_ms": round(cuts[94], 2),
    }


def modbus_tcp(jobs: int) -> dict[str, Any]:
    with simulator_process("plc", "tcp") as announced:
        port = int(announced.rsplit(":", 1)[1])
        return asyncio.run(drive(ModbusRobot.tcp("127.0.0.1", port), jobs))


def modbus_rtu(jobs: int) -> dict[str, Any]:
    with rtu_pty_pair() as pair, simulator_process("plc", pair.server_port):
        robot = ModbusRobot.rtu(pair.client_port, baudrate=115_200)
        return asyncio.run(drive(robot, jobs))


def serial_line(jobs: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="fmd-bench-") as link_dir,
        simulator_process("serial", link_dir) as port,
    ):
        robot = SerialRobot(port)
        figures = asyncio.run(drive(robot, jobs))
        return {**figures, "resends": robot.stats.resends}


def demo_rate(robot: RobotKind, packs: int, runs: int, hub: HubKind = "mock") -> float:
    """The best of `runs` demo runs (durable store): packs per second."""
    best = 0.0
    for run in range(runs):
        with tempfile.TemporaryDirectory(prefix="fmd-bench-") as folder:
            options = DemoOptions(
                packs=packs, seed=run + 1, site=SitePolicy(), db=Path(folder) / "fmd.db",
                hub=hub, robot=robot,
            )  # fmt: skip
            report = asyncio.run(run_demo(options))
            if not report.ok:
                raise RuntimeError(f"demo over {robot} went wrong: {report.as_json()}")
            best = max(best, report.packs_per_s)
    return round(best, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rtu-jobs", type=int, default=500)
    parser.add_argument("--demo-packs", type=int, default=2000)
    parser.add_argument("--demo-runs", type=int, default=3)
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "WHERE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return
    configure_logging(stream=io.StringIO(), level="warning")
    over_sim = demo_rate("sim", args.demo_packs, args.demo_runs)
    over_tcp = demo_rate("modbus-tcp", args.demo_packs, args.demo_runs)
    soap_packs = args.demo_packs // 2
    soap_sim = demo_rate("sim", soap_packs, args.demo_runs, hub="soap")
    soap_tcp = demo_rate("modbus-tcp", soap_packs, args.demo_runs, hub="soap")
    print(
        json.dumps(
            {
                "cores": os.cpu_count(),
                "modbus_tcp": modbus_tcp(args.jobs),
                "modbus_rtu_pty": modbus_rtu(args.rtu_jobs),
                "serial_line_pty": serial_line(args.jobs),
                "demo_mock_hub_packs_per_s": {"sim": over_sim, "modbus_tcp": over_tcp},
                "demo_modbus_tcp_vs_sim": round(over_tcp / over_sim, 3),
                "demo_soap_hub_packs_per_s": {"sim": soap_sim, "modbus_tcp": soap_tcp},
                "demo_soap_hub_modbus_tcp_vs_sim": round(soap_tcp / soap_sim, 3),
                "targets": {"modbus_tcp_p95_ms": 20, "demo_modbus_tcp_vs_sim": 0.8},
            }
        )
    )


if __name__ == "__main__":
    main()
