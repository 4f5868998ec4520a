"""Benchmark of the daemon loading a delivery: throughput, pack latency and its own memory.

Each party runs in its own process, so the figures describe the daemon alone:
- the delivery (master data and scans) is generated and written to files first;
- the hub simulator (SOAP over mutual TLS, serving that master data) runs in a child process;
- the robot is the daemon's in-process `sim` model (`--robot sim`, the default) or a simulated
  PLC in its own process (`--robot modbus-tcp`);
- the daemon is the real `fmd-robot run --no-console` on a config written here (script scanner
  on the scans file, SQLite store, JSON log at info level), and it ends when the scans do.
A pack's latency is its `pack.routed` log event's time less its `scan.recorded` one's (the
scan committed and taken into the pipeline's window); packs/s counts from the first scan taken
to the last pack routed. Peak RSS is the daemon's own (`wait4`); during the soak its VmRSS is
sampled every second.

The default run prints one JSON line: packs/s without and with 300 ms of hub latency, and the
peak RSS at `--packs` and at `--large` packs with its growth (target at most 20 %).
`--soak [N]` (200,000 without a value) runs only the soak and prints its own JSON line: the
peak RSS and the p99 latency over the first and the last 10,000 packs, and their ratios
(target within 10 %).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal

from fmd.hub.master_data import MasterData
from simulators.delivery import generate_delivery, master_data
from simulators.hub.accounts import SIM_LOCATION
from simulators.world import write_master_data, write_scans
from simulators.world.hub import simulated_hub
from simulators.world.robot import simulated_robot
from simulators.world.spec import HubFaults, SoapHubEndpoint, TcpRobotEndpoint

ROOT = Path(__file__).resolve().parents[1]
SOAK_DEFAULT = 200_000
SOAK_WINDOW = 10_000
START_TIMEOUT_S = 60.0
TARGETS = {
    "rss_growth": 0.20,
    "soak_rss_ratio": 1.10,
    "soak_p99_ratio": 1.10,
    "packs_per_s_300ms_hub": 20,
    "rss_peak_mb": 250,
}
Robot = Literal["sim", "modbus-tcp"]


@dataclass(frozen=True, slots=True)
class Run:
    """One daemon run: each pack's times in scan order, the daemon's own peak RSS and CPU
    time, its memory samples (wall time, VmRSS and VmHWM in MB) and how many packs went where
    they should not."""

    scanned: list[float]
    routed: list[float]
    peak_rss_mb: float
    cpu_s: float
    samples: list[tuple[float, float, float]]
    misrouted: int
    unsafe: int
    lost: int

    @property
    def cpu_ms_per_pack(self) -> float:
        """The daemon's own CPU time (user and system) per pack, start-up included."""
        return round(self.cpu_s * 1000 / len(self.routed), 2)

    @property
    def packs_per_s(self) -> float:
        elapsed = max(self.routed) - min(self.scanned)
        return round(len(self.routed) / elapsed, 1) if elapsed > 0 else 0.0

    def latencies_ms(self, first: int, last: int) -> list[float]:
        """Latency of the packs `first` to `last` (scan order, 0-based, `last` excluded)."""
        pairs = zip(self.scanned[first:last], self.routed[first:last], strict=True)
        return [(routed - scanned) * 1000 for scanned, routed in pairs]

    def rss_peak_between(self, start: float, end: float) -> float:
        """The largest VmRSS sampled from `start` to `end` (wall time)."""
        inside = [rss for at, rss, _ in self.samples if start <= at <= end]
        return max(inside, default=0.0)


def serve_hub(pipe: Connection, master_data_file: Path, folder: Path, latency_s: float) -> None:
    """In the child: the SOAP hub simulator serving a master-data file; sends its endpoint,
    then serves until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops it, also on Ctrl-C

    data = MasterData.from_json(json.loads(master_data_file.read_text(encoding="utf-8")))
    folder.mkdir(exist_ok=True)  # the simulator's copy of the master data, its CA and keys

    async def serve() -> None:
        faults = HubFaults(latency_s=latency_s)
        async with simulated_hub("soap", data, folder, location=SIM_LOCATION, faults=faults) as hub:
            pipe.send(hub)
            await asyncio.to_thread(pipe.recv)

    asyncio.run(serve())


@contextlib.contextmanager
def hub_process(
    master_data_file: Path, folder: Path, latency_s: float
) -> Iterator[SoapHubEndpoint]:
    """The hub simulator in its own process, for as long as the block runs."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(
        target=serve_hub, args=(theirs, master_data_file, folder, latency_s), daemon=True
    )
    process.start()
    theirs.close()
    try:
        endpoint = None
        with contextlib.suppress(EOFError):  # the child died before it said where it is
            endpoint = ours.recv() if ours.poll(START_TIMEOUT_S) else None
        if not isinstance(endpoint, SoapHubEndpoint):
            raise SystemExit(f"the hub simulator did not start (exit code {process.exitcode})")
        yield endpoint
    finally:
        with contextlib.suppress(OSError):
            ours.send("stop")
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join(2)
        ours.close()


def site_config(
    folder: Path, hub: SoapHubEndpoint, robot: TcpRobotEndpoint | None, capacity: int
) -> Path:
    """The daemon's configuration: the simulator's hub, the robot, the scans file."""
    robot_section = (
        f'kind = "sim"\ncapacity = {capacity}'
        if robot is None
        else f'kind = "modbus-tcp"\nhost = "{robot.host}"\nport = {robot.port}'
    )

    def text(value: object) -> str:
        return json.dumps(str(value))  # a JSON string is a TOML basic string

    config = f"""\
[site]
location = {text(SIM_LOCATION)}
mode = "hospital"

[store]
url = {text(f"sqlite:///{folder / 'fmd.db'}")}

[hub]
kind = "soap"
url = {text(hub.url)}
client_login_id = {text(hub.client_login_id)}
user_id = {text(hub.user_id)}
password = {{ file = {text(hub.password_file)} }}
cert = {text(hub.client_cert)}
key = {text(hub.client_key)}
ca = {text(hub.ca)}

[robot]
{robot_section}

[[scanners]]
kind = "script"
path = {text(folder / "scans.txt")}

[log]
level = "info"
file = {text(folder / "daemon.log")}
"""
    path = folder / "site.toml"
    path.write_text(config, encoding="utf-8")
    return path


def run_daemon(
    config: Path, folder: Path
) -> tuple[resource.struct_rusage, list[tuple[float, float, float]]]:
    """`fmd-robot run` on `config` until it ends: its own resource usage (from `wait4`, which
    reports this child alone) and its memory sampled every second."""
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)}
    args = [sys.executable, "-m", "robot_controller", "run", "--no-console", "--config"]
    output = folder / "daemon.out"
    with output.open("w", encoding="utf-8") as out:
        pid = os.posix_spawn(
            sys.executable,
            [*args, str(config)],
            env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, out.fileno(), 1),
                (os.POSIX_SPAWN_DUP2, out.fileno(), 2),
            ],
        )
    samples: list[tuple[float, float, float]] = []
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        memory = memory_mb(pid)
        if memory is not None:
            samples.append((time.time(), *memory))
        time.sleep(1.0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        tail = output.read_text(encoding="utf-8")[-2000:]
        raise SystemExit(f"the daemon exited with {code}:\n{tail}")
    return usage, samples


def memory_mb(pid: int) -> tuple[float, float] | None:
    """A live process's resident set and its high-water mark (MB); None before it runs
    Python or once it has gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss, hwm = (int(fields.get(key, "0 kB").split()[0]) for key in ("VmRSS", "VmHWM"))
    return (rss / 1024, hwm / 1024) if rss else None


def pack_times(log: Path) -> dict[int, dict[str, Any]]:
    """Per pack token, from the daemon's JSON log: when its scan was taken, when it was
    routed, and where."""
    packs: dict[int, dict[str, Any]] = {}
    with log.open(encoding="utf-8") as lines:
        for line in lines:
            if '"scan.recorded"' not in line and '"pack.r' not in line:
                continue  # the other events, unparsed
            event = json.loads(line)
            name = event["event"]
            at = datetime.fromisoformat(event["timestamp"]).timestamp()
            if name == "scan.recorded":
                packs.setdefault(event["token"], {})["scanned"] = at
            elif name in ("pack.routed", "pack.returned"):
                packs.setdefault(event["token"], {}).update(routed=at, route=event["route"])
    return packs


@asynccontextmanager
async def robot_process(robot: Robot) -> AsyncIterator[TcpRobotEndpoint | None]:
    """A simulated PLC in its own process (None: the daemon's in-process model)."""
    if robot == "sim":
        yield None
        return
    async with simulated_robot("modbus-tcp", move_time_s=0.0, moves=Counter()) as plc:
        if not isinstance(plc, TcpRobotEndpoint):
            raise SystemExit(f"the simulated PLC gave {plc!r}")
        yield plc


@contextlib.contextmanager
def run_folder(keep: Path | None, name: str) -> Iterator[Path]:
    """A new folder for one run: `keep`/`name`, left in place, or a temporary one."""
    if keep is not None:
        folder = keep / name
        folder.mkdir(parents=True)
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="fmd-bench-") as temporary:
        yield Path(temporary)


async def measure(packs: int, *, latency_ms: float, robot: Robot, keep: Path | None) -> Run:
    """Write a delivery, start the hub and the robot, run the daemon on it until it ends."""
    with run_folder(keep, f"{label(packs)}-{latency_ms:g}ms-{robot}") as folder:
        delivery = generate_delivery(packs, seed=1)
        write_master_data(master_data(delivery), folder / "master-data.json")
        write_scans(delivery.raws, folder / "scans.txt")
        expected = [pack.expected_route for pack in delivery.packs if pack.raw.strip()]
        del delivery  # the ground truth kept is the expected routes
        with hub_process(folder / "master-data.json", folder / "hub", latency_ms / 1000) as hub:
            async with robot_process(robot) as plc:
                config = site_config(folder, hub, plc, capacity=packs + 1)
                usage, samples = await asyncio.to_thread(run_daemon, config, folder)
        rows = "".join(f"{at:.1f},{rss:.1f},{hwm:.1f}\n" for at, rss, hwm in samples)
        (folder / "rss.csv").write_text(f"time,rss_mb,hwm_mb\n{rows}", encoding="utf-8")
        times = pack_times(folder / "daemon.log")
    done = [times[token] for token in sorted(times) if "routed" in times[token]]
    routes = [pack["route"] for pack in done]
    pairs = list(zip(routes, expected, strict=False))  # scan order: one scanner, tokens in turn
    return Run(
        scanned=[pack["scanned"] for pack in done],
        routed=[pack["routed"] for pack in done],
        peak_rss_mb=round(usage.ru_maxrss / 1024, 1),
        cpu_s=usage.ru_utime + usage.ru_stime,
        samples=samples,
        misrouted=sum(route != want for route, want in pairs),
        unsafe=sum(route == "shelved" != want for route, want in pairs),
        lost=len(expected) - len(done),
    )


def p99(values: list[float]) -> float:
    return round(statistics.quantiles(values, n=100)[98], 1)


def ratio(last: float, first: float) -> float | None:
    return round(last / first, 3) if first else None


def label(packs: int) -> str:
    """5000 → "5k": the key suffix of a figure at that many packs."""
    return f"{packs // 1000}k" if packs % 1000 == 0 else str(packs)


def outcomes(*runs: Run) -> dict[str, int]:
    return {
        "misrouted": sum(run.misrouted for run in runs),
        "unsafe": sum(run.unsafe for run in runs),
        "lost": sum(run.lost for run in runs),
    }


async def sizes(args: argparse.Namespace) -> dict[str, Any]:
    """Packs/s without and with hub latency; the peak RSS at two sizes and its growth."""
    small = await measure(args.packs, latency_ms=0, robot=args.robot, keep=args.keep)
    slow = await measure(args.latency_packs, latency_ms=300, robot=args.robot, keep=args.keep)
    large = await measure(args.large, latency_ms=0, robot=args.robot, keep=args.keep)
    s, b = label(args.packs), label(args.large)
    return {
        "packs_per_s": small.packs_per_s,
        "packs_per_s_300ms_hub": slow.packs_per_s,
        f"packs_per_s_{b}": large.packs_per_s,
        "cpu_ms_per_pack": small.cpu_ms_per_pack,
        f"cpu_ms_per_pack_{b}": large.cpu_ms_per_pack,
        f"p99_ms_{s}": p99(small.latencies_ms(0, len(small.routed))),
        f"rss_peak_mb_{s}": small.peak_rss_mb,
        f"rss_peak_mb_{b}": large.peak_rss_mb,
        "rss_growth": round(large.peak_rss_mb / small.peak_rss_mb - 1, 3),
        **outcomes(small, slow, large),
    }


async def soak(packs: int, robot: Robot, keep: Path | None) -> dict[str, Any]:
    """The first and the last `SOAK_WINDOW` packs of one long run: peak RSS and p99 latency."""
    run = await measure(packs, latency_ms=0, robot=robot, keep=keep)
    n = len(run.routed)
    window = min(SOAK_WINDOW, n // 2)
    first, last = (0, window), (n - window, n)
    rss = [run.rss_peak_between(run.scanned[a], run.routed[b - 1]) for a, b in (first, last)]
    latency = [p99(run.latencies_ms(a, b)) for a, b in (first, last)]
    return {
        "soak_packs": packs,
        "window": window,
        "packs_per_s": run.packs_per_s,
        "cpu_ms_per_pack": run.cpu_ms_per_pack,
        "rss_peak_mb": run.peak_rss_mb,
        "rss_mb_first": round(rss[0], 1),
        "rss_mb_last": round(rss[1], 1),
        "rss_ratio": ratio(rss[1], rss[0]),
        "p99_ms_first": latency[0],
        "p99_ms_last": latency[1],
        "p99_ratio": ratio(latency[1], latency[0]),
        **outcomes(run),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--packs", type=int, default=5000, help="the small delivery")
    parser.add_argument("--large", type=int, default=50_000, help="the large delivery")
    parser.add_argument(
        "--latency-packs", type=int, default=600, help="the delivery at 300 ms hub latency"
    )
    parser.add_argument(
        "--soak",
        type=int,
        nargs="?",
        const=SOAK_DEFAULT,
        metavar="N",
        help=f"run only the soak of N packs (default {SOAK_DEFAULT:,})",
    )
    parser.add_argument(
        "--robot",
        choices=["sim", "modbus-tcp"],
        default="sim",
        help="the daemon's in-process model, or a simulated PLC in its own process",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep each run's files (delivery, config, log, RSS samples) in this folder",
    )
    args = parser.parse_args()
    if min(args.packs, args.large, args.latency_packs, 2 if args.soak is None else args.soak) < 2:
        parser.error("every delivery needs at least 2 packs")
    figures = asyncio.run(
        soak(args.soak, args.robot, args.keep) if args.soak is not None else sizes(args)
    )
    context = {"cores": os.cpu_count(), "hub": "soap", "robot": args.robot}
    print(json.dumps({**context, **figures, "targets": TARGETS}))


if __name__ == "__main__":
    main()
