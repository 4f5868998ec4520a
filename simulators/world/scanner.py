"""Where the simulated delivery's scans come from: a file of scans, a virtual serial scanner on
a real pty typing them, or a generated video of them on a conveyor."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from simulators.camera import CONVEYOR, write_delivery_video
from simulators.scanner import PROFILES, VirtualScanner
from simulators.world.spec import ScannerEndpoint, ScannerKind

DEMO_BELT = replace(CONVEYOR, width=640, height=480, noise_sigma=(1.0, 3.0))
"""The simulated conveyor: a smaller frame than the benchmark's, so the video is quick to make."""
IDLE_LIMIT_S = 10.0
"""A live source that has sent everything and routed nothing new for this long is done."""


def write_scans(raws: list[str], path: Path) -> Path:
    """One scan per line, control characters (GS) kept as they are: a script scanner's file."""
    path.write_text("".join(raw + "\n" for raw in raws), encoding="utf-8")
    return path


@dataclass
class Feed:
    """A source's delivery: `begin` starts it once the daemon listens; `all_in` is set when
    a live source has delivered everything (a file source simply ends)."""

    endpoint: ScannerEndpoint
    all_in: asyncio.Event = field(default_factory=asyncio.Event)
    starter: Callable[[Callable[[], int]], None] | None = None

    def begin(self, routed: Callable[[], int]) -> None:
        """Start feeding (`routed` counts the packs the daemon has finished)."""
        if self.starter is not None:
            self.starter(routed)


@asynccontextmanager
async def simulated_scanner(
    kind: ScannerKind, raws: list[str], folder: Path
) -> AsyncIterator[Feed | None]:
    """The feed carrying `raws` (None for "none")."""
    if kind == "none":
        yield None
    elif kind == "serial":
        async with _serial_feed(raws, folder) as feed:
            yield feed
    elif kind == "camera":
        video = folder / "delivery.mkv"
        try:
            await asyncio.to_thread(
                write_delivery_video,
                video,
                raws,
                settings=DEMO_BELT,
                frames_per_pack=2,
                gap_frames=1,
                fps=10,
            )
            yield Feed(ScannerEndpoint("camera", str(video)))
        finally:
            video.unlink(missing_ok=True)  # large (lossless)
    else:
        scans = await asyncio.to_thread(write_scans, raws, folder / "scans.txt")
        yield Feed(ScannerEndpoint("script", str(scans)))


@asynccontextmanager
async def _serial_feed(raws: list[str], folder: Path) -> AsyncIterator[Feed]:
    async with AsyncExitStack() as stack:
        virtual = stack.enter_context(VirtualScanner(PROFILES["good"], link_dir=folder))
        typed = threading.Event()
        stopping = threading.Event()

        def type_delivery() -> None:
            with contextlib.suppress(RuntimeError):  # unplugged: the world was stopped
                for raw in raws:
                    if stopping.is_set():
                        break
                    virtual.type(raw)
                virtual.drain()
            typed.set()

        all_in = asyncio.Event()
        typist = threading.Thread(target=type_delivery, name="virtual scanner", daemon=True)
        watchers: list[asyncio.Task[None]] = []

        def begin(routed: Callable[[], int]) -> None:
            typist.start()
            watchers.append(asyncio.create_task(_set_when_in(len(raws), typed, routed, all_in)))

        try:
            yield Feed(ScannerEndpoint("serial", str(virtual.port)), all_in, begin)
        finally:
            stopping.set()
            for watcher in watchers:
                watcher.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            if typist.is_alive():
                await asyncio.to_thread(typist.join, 5.0)


async def _set_when_in(
    expected: int, typed: threading.Event, routed: Callable[[], int], all_in: asyncio.Event
) -> None:
    last, idle = -1, 0.0
    while routed() < expected and idle < IDLE_LIMIT_S:
        await asyncio.sleep(0.05)
        now = routed()
        idle = idle + 0.05 if typed.is_set() and now == last else 0.0
        last = now
    all_in.set()
