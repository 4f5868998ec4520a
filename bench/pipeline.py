"""Benchmark of the loading pipeline (the demo's): throughput, latency tolerance and memory.

Each scenario runs in its own process so its peak RSS is its own. The demo process also holds
the simulated national system and the delivery's ground truth, which grow with every pack by
nature; so the daemon's own retained heap (traced with tracemalloc, allocations made by the
pipeline, store, scanners and policy only) is measured too, at the small and the large size.
Prints one JSON line.
Usage: python bench/pipeline.py [--packs 5000] [--large 50000] [--latency-packs 600]
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

DAEMON_CODE = (  # the pipeline.py module and scanners' framing of older trees too, to compare
    "*/robot_controller/pipeline.py",
    "*/robot_controller/pipeline/*",
    "*/robot_controller/routing.py",
    "*/robot_controller/states.py",
    "*/robot_controller/wiring.py",
    "*/robot_controller/store/*",
    "*/scanners/*",
    "*/serial_io/*",
    "*/fmd/policy.py",
    "*/sqlalchemy/*",
    "*/structlog/*",
    "*/asyncio/*",
)


def scenario(packs: int, latency_ms: float, traced: bool) -> dict[str, Any]:
    """One demo run in this process: its figures and this process's peak RSS."""
    from robot_controller.demo import DemoOptions, run_demo
    from robot_controller.logs import configure_logging

    configure_logging(stream=io.StringIO(), level="warning")
    heap: list[int] = []
    routed = 0

    def on_routed(*_: object) -> None:
        nonlocal routed
        routed += 1
        if traced and routed == packs:
            heap.append(_daemon_heap(tracemalloc.take_snapshot()))

    with tempfile.TemporaryDirectory() as folder:
        options = DemoOptions(
            packs=packs,
            seed=1,
            hub_latency_s=latency_ms / 1000,
            db=Path(folder) / "fmd.db",
            hub="mock",
        )
        report = asyncio.run(
            run_demo(options, on_routed=on_routed, on_loading=tracemalloc.start if traced else None)
        )
    return {
        "packs": report.packs,
        "packs_per_s": round(report.packs_per_s, 1),
        "misrouted": report.misrouted,
        "lost": report.lost,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "daemon_heap_mb": round(heap[0] / 2**20, 2) if heap else None,
    }


def _daemon_heap(snapshot: tracemalloc.Snapshot) -> int:
    """Bytes still held that were allocated by the daemon's own code (innermost frame)."""
    total = 0
    for stat in snapshot.statistics("filename"):
        name = stat.traceback[0].filename
        if any(fnmatch.fnmatch(name, pattern) for pattern in DAEMON_CODE):
            total += stat.size
    return total


def in_child(packs: int, latency_ms: float, *, traced: bool = False) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", str(packs), str(latency_ms), str(int(traced))]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packs", type=int, default=5000)
    parser.add_argument("--large", type=int, default=50_000)
    parser.add_argument("--latency-packs", type=int, default=600)
    parser.add_argument("--child", nargs=3, metavar=("PACKS", "LATENCY_MS", "TRACED"))
    args = parser.parse_args()
    if args.child:
        packs, latency, traced = args.child
        print(json.dumps(scenario(int(packs), float(latency), traced == "1")))
        return
    fast = in_child(args.packs, 0)
    slow = in_child(args.latency_packs, 300)
    large = in_child(args.large, 0)
    heap_small = in_child(args.packs, 0, traced=True)["daemon_heap_mb"]
    heap_large = in_child(args.large, 0, traced=True)["daemon_heap_mb"]
    runs = (fast, slow, large)
    print(
        json.dumps(
            {
                "cores": os.cpu_count(),
                "packs_per_s": fast["packs_per_s"],
                "packs_per_s_300ms_hub": slow["packs_per_s"],
                "peak_rss_mb": fast["peak_rss_mb"],
                "large_packs": large["packs"],
                "large_packs_per_s": large["packs_per_s"],
                "large_peak_rss_mb": large["peak_rss_mb"],
                "rss_growth_with_simulators": round(
                    large["peak_rss_mb"] / fast["peak_rss_mb"] - 1, 3
                ),
                "daemon_heap_mb": heap_small,
                "large_daemon_heap_mb": heap_large,
                "daemon_heap_growth_mb": round(heap_large - heap_small, 2),
                "misrouted": sum(r["misrouted"] for r in runs),
                "lost": sum(r["lost"] for r in runs),
                "targets": {"packs_per_s": 300, "packs_per_s_300ms_hub": 20, "peak_rss_mb": 250},
            }
        )
    )


if __name__ == "__main__":
    main()
