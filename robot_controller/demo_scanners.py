"""Where the demo's packs come from: a script, a virtual serial scanner on a real pty, or a
generated video read through `VideoCapture`. Each ends once the whole delivery is in."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Literal, get_args

from scanners.base import Scanner
from scanners.camera import CameraScanner
from scanners.decoders import make_decoder
from scanners.script import ScriptedScanner
from scanners.serial import SerialScanner, SerialSettings
from simulators.camera import CONVEYOR, write_delivery_video
from simulators.delivery import Delivery
from simulators.scanner import PROFILES, VirtualScanner

ScannerKind = Literal["script", "serial", "camera"]
SCANNER_KINDS: tuple[ScannerKind, ...] = get_args(ScannerKind)

DEMO_BELT = replace(CONVEYOR, width=640, height=480, noise_sigma=(1.0, 3.0))
"""The demo's conveyor: a smaller frame than the benchmark's, so the video is quick to make."""
IDLE_LIMIT_S = 10.0
"""A live source that has sent everything and routed nothing new for this long is done."""


@asynccontextmanager
async def delivery_scanner(
    kind: ScannerKind, delivery: Delivery, folder: Path, *, routed: Callable[[], int]
) -> AsyncIterator[tuple[Scanner, asyncio.Event]]:
    """The scanner carrying `delivery`, and the event that stops loading once it is all in
    (`routed` counts the packs the pipeline has finished)."""
    stop = asyncio.Event()
    if kind == "serial":
        async with _serial_feed(delivery, folder, stop, routed) as scanner:
            yield scanner, stop
    elif kind == "camera":
        with _camera_feed(delivery, folder) as camera:
            yield camera, stop
    else:
        yield ScriptedScanner(delivery.raws, source="delivery"), stop


@asynccontextmanager
async def _serial_feed(
    delivery: Delivery, folder: Path, stop: asyncio.Event, routed: Callable[[], int]
) -> AsyncIterator[Scanner]:
    with VirtualScanner(PROFILES["good"], link_dir=folder) as virtual:
        scanner = SerialScanner(SerialSettings(url=str(virtual.port)), source="serial:delivery")
        scanner.open()
        typed = threading.Event()

        def type_delivery() -> None:
            with contextlib.suppress(RuntimeError):  # unplugged: the demo was stopped
                for raw in delivery.raws:
                    virtual.type(raw)
                virtual.drain()
            typed.set()

        typist = threading.Thread(target=type_delivery, name="virtual scanner", daemon=True)
        typist.start()
        watcher = asyncio.create_task(_stop_when_in(len(delivery.packs), typed, routed, stop))
        try:
            yield scanner
        finally:
            watcher.cancel()
            await scanner.aclose()
            await asyncio.to_thread(typist.join, 5.0)


async def _stop_when_in(
    expected: int, typed: threading.Event, routed: Callable[[], int], stop: asyncio.Event
) -> None:
    last, idle = -1, 0.0
    while routed() < expected and idle < IDLE_LIMIT_S:
        await asyncio.sleep(0.05)
        now = routed()
        idle = idle + 0.05 if typed.is_set() and now == last else 0.0
        last = now
    stop.set()


@contextmanager
def _camera_feed(delivery: Delivery, folder: Path) -> Iterator[Scanner]:
    """The delivery on a conveyor, filmed: each pack crosses the frame in two frames with a
    frame of empty belt between packs; read back frame by frame (nothing dropped) through
    `VideoCapture`. The video is large (lossless), so it is removed afterwards."""
    video = folder / "delivery.mkv"
    try:
        write_delivery_video(
            video, delivery.raws, settings=DEMO_BELT, frames_per_pack=2, gap_frames=1, fps=10
        )
        camera = CameraScanner(
            str(video), decoder=make_decoder("zxing"), dedupe_window_s=0.15, name="camera:delivery"
        )
        camera.open()
        yield camera
    finally:
        video.unlink(missing_ok=True)
