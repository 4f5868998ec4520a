"""Benchmark of the loading pipeline (the demo's): throughput, latency tolerance and memory.

Each scenario runs in its own process so its peak RSS is its own. Prints one JSON line.
Usage: python bench/pipeline.py [--packs 5000] [--large 50000] [--latency-packs 600]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path


def scenario(packs: int, latency_ms: float) -> dict[str, float]:
    """One demo run in this process: its figures and this process's peak RSS."""
    from robot_controller.demo import DemoOptions, run_demo
    from robot_controller.logs import configure_logging

    configure_logging(stream=io.StringIO(), level="warning")
    with tempfile.TemporaryDirectory() as folder:
        options = DemoOptions(
            packs=packs, seed=1, hub_latency_s=latency_ms / 1000, db=Path(folder) / "fmd.db"
        )
        report = asyncio.run(run_demo(options))
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "packs": report.packs,
        "packs_per_s": round(report.packs_per_s, 1),
        "misrouted": report.misrouted,
        "lost": report.lost,
        "peak_rss_mb": round(peak_kb / 1024, 1),
    }


def in_child(packs: int, latency_ms: float) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(packs), str(latency_ms)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packs", type=int, default=5000)
    parser.add_argument("--large", type=int, default=50_000)
    parser.add_argument("--latency-packs", type=int, default=600)
    parser.add_argument("--child", nargs=2, metavar=("PACKS", "LATENCY_MS"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(scenario(int(args.child[0]), float(args.child[1]))))
        return
    fast = in_child(args.packs, 0)
    slow = in_child(args.latency_packs, 300)
    large = in_child(args.large, 0)
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
                "rss_growth": round(large["peak_rss_mb"] / fast["peak_rss_mb"] - 1, 3),
                "misrouted": fast["misrouted"] + slow["misrouted"] + large["misrouted"],
                "lost": fast["lost"] + slow["lost"] + large["lost"],
                "targets": {
                    "packs_per_s": 300,
                    "packs_per_s_300ms_hub": 20,
                    "peak_rss_mb": 250,
                    "rss_growth": 0.2,
                },
            }
        )
    )


if __name__ == "__main__":
    main()
