"""Benchmark of stock-in over WWKS2: the daemon's pipeline answering a simulated storage robot.

The robot (`simulators.wwks2.Wwks2RobotSim`, zero mechanical time, four input belts asking side by
side) runs in a child process, as a robot's controller would, and times each InputRequest →
InputResponse at the robot; the daemon's side is the pipeline with the WWKS2 driver, a SQLite
store in a temporary folder and the in-process mock national system behind the resilience
wrapper, in hospital mode (each allowed pack verified and decommissioned before the answer).
The hub's time per pack is measured around the mock; the daemon's own share of a pack's
latency is its latency less that. Three runs: a hub answering at once, one taking 300 ms a call,
and one slower than the robot's deadline (every answer must still come before it, from the
offline policy). Prints one JSON line.
Usage: python bench/stock_in_wwks2.py [--packs 1000] [--slow-packs 200] [--deadline-s 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fmd.codes import PackIdentifier, parse_scan
from fmd.hub import HubResult, MockHub, Reason
from fmd.hub.resilient import CircuitBreaker, ResilientHub
from fmd.policy import SitePolicy
from robot_controller.logs import configure_logging
from robot_controller.pipeline import Pipeline
from robot_controller.pipeline.stock_in import StockInTiming
from robot_controller.robot.wwks2 import LinkSettings, Wwks2Robot, Wwks2Settings
from robot_controller.store import Store
from simulators.delivery import generate_delivery, seed_hub
from simulators.wwks2 import RobotSettings, ScanPack, Wwks2RobotSim

LOCATION = "bench-pharmacy"
COMPONENTS = (40,)


# -- the robot's process ---------------------------------------------------------------------------


async def robot(codes: list[str], deadline_s: float) -> None:
    """In the child: serve, stock in `codes` once the daemon is connected, then print each
    request's latency at the robot (ms), whether it was late, and the wall time of the run."""
    settings = RobotSettings(
        components=COMPONENTS, capacity=len(codes) + 1, answer_deadline_s=deadline_s
    )
    async with Wwks2RobotSim(settings) as sim:
        print(sim.port, flush=True)
        await sim.until(lambda: any(link.greeted for link in sim.links))
        started = time.monotonic()
        outcomes = await asyncio.gather(*(sim.feed(ScanPack(code)) for code in codes))
        elapsed = time.monotonic() - started
        asked = {
            w.id: w.at for w in sim.record if w.direction == "out" and w.lead == "InputRequest"
        }
        answered = {
            w.id: w.at for w in sim.record if w.direction == "in" and w.lead == "InputResponse"
        }
        report = {
            "elapsed_s": elapsed,
            "packs": [
                {
                    "code": o.pack.code,
                    "latency_ms": (answered[o.request_id] - asked[o.request_id]) * 1000
                    if o.request_id in answered and o.request_id in asked
                    else None,
                    "late": o.late or o.handling is None,
                    "stored": o.stored,
                }
                for o in outcomes
            ],
        }
        print(json.dumps(report), flush=True)


# -- the daemon's side -----------------------------------------------------------------------------


class TimedHub:
    """The mock's client, with the time each pack spent in it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.spent: dict[tuple[str, str], float] = defaultdict(float)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult:
        started = time.monotonic()
        try:
            result: HubResult = await self.inner.verify(ui, trx=trx)
            return result
        finally:
            self.spent[(ui.product_code, ui.serial)] += time.monotonic() - started

    async def decommission(
        self, ui: PackIdentifier, to: Reason, *, trx: str | None = None
    ) -> HubResult:
        started = time.monotonic()
        try:
            result: HubResult = await self.inner.decommission(ui, to, trx=trx)
            return result
        finally:
            self.spent[(ui.product_code, ui.serial)] += time.monotonic() - started


@dataclass(frozen=True, slots=True)
class Run:
    packs: int
    hub_latency_ms: float
    deadline_s: float


async def daemon(run: Run, folder: Path) -> dict[str, Any]:
    """Stock in a genuine delivery of `run.packs` through a robot in a child process."""
    delivery = generate_delivery(run.packs, seed=7, suspect_rate=0.0)
    codes = [raw.removeprefix("]d2") for raw in delivery.raws]
    hub = MockHub(seed=7)
    seed_hub(hub, delivery)
    hub.set_faults(latency_s=run.hub_latency_ms / 1000)
    timed = TimedHub(hub.client(LOCATION))
    breaker = CircuitBreaker(failures=5, cooldown_s=30.0)
    resilient = ResilientHub(timed, timeout_s=10.0, breaker=breaker)
    child = subprocess.Popen(  # noqa: ASYNC220 - started once, read in a thread
        [sys.executable, __file__, "--robot", json.dumps(codes), str(run.deadline_s)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        assert child.stdout is not None
        port = int(await asyncio.to_thread(child.stdout.readline))
        driver = Wwks2Robot(Wwks2Settings(LinkSettings("127.0.0.1", port)))
        await driver.connect()
        store = Store.open(f"sqlite:///{folder / 'bench.db'}", location=LOCATION)
        pipeline = Pipeline(
            store=store, hub=resilient, robot=driver, site=SitePolicy(), location=LOCATION,
            stock_in=StockInTiming(answer_within_s=run.deadline_s), replay_every_s=None,
        )  # fmt: skip
        stop = asyncio.Event()
        loading = asyncio.create_task(pipeline.run([], stop=stop))
        report = json.loads(await asyncio.to_thread(child.stdout.readline))
        stop.set()
        await loading
        await pipeline.aclose()
        await driver.aclose()
        store.close()
    finally:
        child.terminate()
        child.wait()
    return summarise(run, report, timed.spent)


def summarise(
    run: Run, report: dict[str, Any], spent: dict[tuple[str, str], float]
) -> dict[str, Any]:
    latencies, own = [], []
    for pack in report["packs"]:
        if pack["latency_ms"] is None:
            continue
        latencies.append(pack["latency_ms"])
        ui = parse_scan(pack["code"]).ui
        hub_ms = spent.get((ui.product_code, ui.serial), 0.0) * 1000 if ui else 0.0
        own.append(max(pack["latency_ms"] - hub_ms, 0.0))
    late = sum(pack["late"] for pack in report["packs"])
    return {
        "packs": run.packs,
        "hub_latency_ms": run.hub_latency_ms,
        "deadline_s": run.deadline_s,
        "packs_per_s": round(run.packs / report["elapsed_s"], 1),
        "latency_ms_p50": round(percentile(latencies, 50), 2),
        "latency_ms_p99": round(percentile(latencies, 99), 2),
        "own_ms_p50": round(percentile(own, 50), 2),
        "own_ms_p99": round(percentile(own, 99), 2),
        "stored": sum(pack["stored"] for pack in report["packs"]),
        "answered_before_deadline": round(1 - late / run.packs, 4),
    }


def percentile(values: Sequence[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packs", type=int, default=1000)
    parser.add_argument("--slow-packs", type=int, default=200)
    parser.add_argument("--deadline-s", type=float, default=2.0)
    parser.add_argument("--robot", nargs=2, metavar=("CODES", "DEADLINE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.robot:
        asyncio.run(robot(json.loads(args.robot[0]), float(args.robot[1])))
        return
    configure_logging(level="error", stream=sys.stderr)
    runs = [
        Run(args.packs, 0.0, args.deadline_s),
        Run(args.slow_packs, 300.0, args.deadline_s),
        Run(max(args.slow_packs // 4, 20), args.deadline_s * 2000, args.deadline_s),
    ]
    results = {}
    for run, name in zip(runs, ("hub_0ms", "hub_300ms", "hub_slower_than_deadline"), strict=True):
        with tempfile.TemporaryDirectory(prefix="fmd-bench-wwks2-") as folder:
            results[name] = asyncio.run(daemon(run, Path(folder)))
    print(json.dumps({"bench": "wwks2", "cores": os.cpu_count(), **results}))


if __name__ == "__main__":
    main()
