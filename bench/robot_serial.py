"""Benchmark of the serial-line driver against the serial robot simulator, with zero mechanical
time: jobs per second and the handshake latency per job (request sent → DONE read; p50, p95).

The simulator runs in its own process (as the robot's controller would), on a pty: a pty has no
baud-rate timing, so the figures are the protocol's cost, not the line's.
Prints one JSON line. Usage: python bench/robot_serial.py [--jobs 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from robot_controller.logs import configure_logging
from robot_controller.robot.base import Job, JobCode, JobResult
from robot_controller.robot.serial import SerialRobot
from simulators.serial_robot import serve_serial_robot


@contextmanager
def serial_robot_process() -> Iterator[str]:
    """A serial robot simulator in a child process; yields its port."""
    with tempfile.TemporaryDirectory(prefix="fmd-bench-") as link_dir:
        args = [sys.executable, __file__, "--serve", link_dir]
        with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as child:
            try:
                assert child.stdout is not None
                yield child.stdout.readline().strip()
            finally:
                child.terminate()


async def measure_serial(jobs: int = 2000) -> dict[str, float]:
    """Place `jobs` packs one after the other: throughput, latency percentiles, resends."""
    latencies: list[float] = []
    with serial_robot_process() as port:
        robot = SerialRobot(port)
        try:
            await robot.connect()
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
        "resends": robot.stats.resends,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--serve", metavar="LINK_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_serial_robot(Path(args.serve), announce=lambda port: print(port, flush=True))
        return
    configure_logging(stream=io.StringIO(), level="warning")
    print(json.dumps(asyncio.run(measure_serial(args.jobs))))


if __name__ == "__main__":
    main()
