"""`fmd-robot run`: the daemon until a signal, with the operator console on a terminal.

At start it says what it runs (`operator_console.describe`); while it runs, a live view shows
each pack's outcome and what to do with it, the counts and the devices (`--console`, the
default on a terminal), and the JSON log goes to a file, never into the view; when it stops it
says what it does and what is left. With a simulated world (the default configuration), the
daemon keeps running once the simulated delivery is loaded, until a signal.
"""

from __future__ import annotations

import asyncio
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import structlog
from rich.live import Live
from rich.text import Text

from fmd.hub.resilient import HubHealth
from robot_controller.config import Config
from robot_controller.console import out
from robot_controller.metrics import Metrics
from robot_controller.operator_console import Devices, OperatorConsole, describe
from robot_controller.pipeline import Routed
from robot_controller.simulated import simulated
from robot_controller.states import IntentStatus
from robot_controller.texts import catalogue
from robot_controller.web.beside import feed_for, web_beside
from robot_controller.wiring import Daemon, build_daemon

REFRESH_S = 0.25
DEFAULT_LOG = Path("fmd-robot.log")
"""Where the JSON log goes while the console shows the view, unless `[log] file` says."""


async def run_daemon(settings: Config, *, console: bool, drain_s: float | None = None) -> None:
    """Run the configured daemon (inside its simulated world, if it has one) until a signal."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stopping() -> None:
        if not stop.is_set():
            out.print("stopping: finishing the packs already taken …", highlight=False)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping)
    if settings.simulation is None:
        await _serve(settings, stop, console=console, drain_s=drain_s)
        return
    simulation = settings.simulation
    structlog.get_logger("fmd.simulation").warning(
        "simulation.started",
        hub=simulation.hub,
        robot=simulation.robot,
        scanner=simulation.scanner,
        detail="a simulated world, not a real site: remove [simulation] from the config",
    )
    out.print(
        f"simulated world: a delivery of {simulation.packs} packs; simulated hub "
        f"{simulation.hub}, robot {simulation.robot}, scanner {simulation.scanner}",
        highlight=False,
    )
    with tempfile.TemporaryDirectory(prefix="fmd-robot-world-") as folder:
        async with simulated(settings, Path(folder)) as (reached, world):
            await _serve(
                reached, stop, console=console, drain_s=drain_s, begin=world.begin, endless=True
            )


async def _serve(
    settings: Config,
    stop: asyncio.Event,
    *,
    console: bool,
    drain_s: float | None,
    begin: Callable[[Callable[[], int]], None] | None = None,
    endless: bool = False,
) -> None:
    view = OperatorConsole(texts=catalogue(settings.site.language))
    feed = feed_for(settings)
    routed = 0

    def on_routed(pack: Routed) -> None:
        nonlocal routed
        routed += 1
        view.routed(pack)
        feed.publish(pack)

    for line in describe(settings):
        out.print(Text(line))
    metrics = Metrics()
    daemon = await build_daemon(settings, on_routed=on_routed, observer=metrics)
    try:
        async with web_beside(settings, daemon, feed, metrics) as web:
            if web is not None:
                out.print(Text(f"web        {web[0].url} (/bench, /robot, /compliance, /api/v1)"))
            if begin is not None:
                begin(lambda: routed)
            with _live(view, daemon, settings, enabled=console):
                await daemon.run(stop=stop, drain_s=drain_s)
                if endless and drain_s is None and not stop.is_set():
                    out.print(
                        "the simulated delivery is loaded; the daemon keeps running until Ctrl-C",
                        highlight=False,
                    )
                    await stop.wait()
        left = await asyncio.to_thread(_pending, daemon)
    finally:
        await daemon.aclose()
    waiting = (
        f"; {left} checks and changes wait for the national system (sent at the next start, "
        "or now with `fmd-robot outbox replay`)"
        if left
        else "; nothing waits for the national system"
    )
    out.print(Text(f"stopped: {view.summary()}{waiting}"))


@contextmanager
def _live(
    view: OperatorConsole, daemon: Daemon, settings: Config, *, enabled: bool
) -> Iterator[None]:
    """The live view while the daemon runs (nothing when not `enabled`)."""
    if not enabled:
        yield
        return
    scanners = tuple(line.removeprefix("scanner    ") for line in describe(settings)[3:-1])

    def devices() -> Devices:
        hub = getattr(daemon.pipeline.hub, "health", HubHealth.ANSWERING)
        return Devices(hub, daemon.pipeline.steps.turn.paused, scanners)

    with Live(view.view(devices()), console=out, refresh_per_second=1 / REFRESH_S) as live:
        task = asyncio.get_running_loop().create_task(_refresh(live, view, devices))
        try:
            yield
        finally:
            task.cancel()
            live.update(view.view(devices()))


async def _refresh(live: Live, view: OperatorConsole, devices: Callable[[], Devices]) -> None:
    while True:
        await asyncio.sleep(REFRESH_S)
        live.update(view.view(devices()))


def _pending(daemon: Daemon) -> int:
    counts = daemon.store.outbox_counts(robot=daemon.pipeline.robot_name)
    return sum(n for (_, status), n in counts.items() if status == IntentStatus.PENDING)


def log_stream(settings: Config, *, console: bool) -> TextIO | None:
    """Where the JSON log goes: `[log] file`, else `fmd-robot.log` while the console shows its
    view, else None (standard error)."""
    path = settings.log.file or (DEFAULT_LOG if console else None)
    if path is None:
        return None
    return path.open("a", encoding="utf-8")
