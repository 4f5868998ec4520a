"""A camera over the conveyor: OpenCV `VideoCapture` → DataMatrix decoder → scans.

A live source (device index, RTSP/HTTP URL) is read by its own thread into a one-frame slot, so
the newest frame always wins: when decoding falls behind, frames are dropped, never queued. A
video file is decoded frame by frame (nothing dropped) unless `realtime` paces it like a camera.
The same code seen again within the dedupe window is one scan.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from scanners.base import Scan, ScannerError
from scanners.decoders import Decoded, Decoder, Frame

log = structlog.get_logger(__name__)

_LIVE_PREFIXES = ("rtsp://", "rtsps://", "http://", "https://", "udp://", "tcp://")

# FFmpeg inside OpenCV writes its own complaints about a damaged file straight to stderr; the
# camera says what matters in one line (a video that ends early). OpenCV reads this once, at its
# first video in the process (a video written counts), so it is set as this module loads.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Region:
    """A region of interest in pixels: only this part of each frame is decoded."""

    x: int
    y: int
    width: int
    height: int

    def __post_init__(self) -> None:
        if min(self.x, self.y) < 0 or min(self.width, self.height) <= 0:
            raise ValueError("a region needs x, y ≥ 0 and a positive width and height")


class CodeReader:
    """The per-frame work of the camera: crop to the region, decode (the decoder takes grey or
    colour frames), order the codes as read."""

    def __init__(self, decoder: Decoder, *, roi: Region | None = None) -> None:
        self.decoder = decoder
        self.roi = roi

    def read(self, frame: Frame) -> list[Decoded]:
        """Every code in the frame, top to bottom then left to right."""
        if self.roi is not None:
            r = self.roi
            frame = frame[r.y : r.y + r.height, r.x : r.x + r.width]
        if frame.size == 0:
            return []
        found = self.decoder.decode(frame)
        return sorted(found, key=_reading_order) if len(found) > 1 else found


def _reading_order(code: Decoded) -> tuple[int, int]:
    if not code.corners:
        return (0, 0)
    return (min(y for _, y in code.corners), min(x for x, _ in code.corners))


class Dedupe:
    """Remembers codes seen recently: a code is new unless seen within `window_s` of its last
    sighting, so a pack resting under the camera stays one scan however long it lies there."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._last_seen: dict[str, float] = {}

    def is_new(self, text: str, at_s: float) -> bool:
        last = self._last_seen.get(text)
        self._last_seen[text] = at_s
        if len(self._last_seen) > 4096:
            self._forget_before(at_s - self.window_s)
        return last is None or at_s - last > self.window_s

    def _forget_before(self, cutoff: float) -> None:
        self._last_seen = {t: s for t, s in self._last_seen.items() if s >= cutoff}


@dataclass(slots=True)
class CameraStats:
    """What the camera has done so far (for diagnostics and the benchmark)."""

    frames: int = 0
    decoded_frames: int = 0
    dropped: int = 0
    codes: int = 0
    duplicates: int = 0
    reconnects: int = 0


@dataclass(slots=True)
class _Slot:
    """The hand-over point between the grabbing thread and the decoder."""

    frame: Frame | None = None
    at_s: float = 0.0
    ended: bool = False
    lock: threading.Condition = field(default_factory=threading.Condition)


class CameraScanner:
    """Scans from a camera (`source` a device index or URL) or a video file (a path)."""

    def __init__(
        self,
        source: int | str,
        *,
        decoder: Decoder,
        roi: Region | None = None,
        dedupe_window_s: float = 2.0,
        realtime: bool | None = None,
        name: str | None = None,
        reconnect_max_s: float = 10.0,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.capture_source = source
        self.live = _is_live(source)
        self.realtime = self.live if realtime is None else realtime
        self.source = name or f"camera:{source}"
        self.reader = CodeReader(decoder, roi=roi)
        self.dedupe = Dedupe(dedupe_window_s)
        self.stats = CameraStats()
        self.reconnect_max_s = reconnect_max_s
        self._clock = clock
        self._capture: Any = None
        self._slot = _Slot()
        self._closing = threading.Event()
        self._grabber: threading.Thread | None = None
        self._damaged: str | None = None  # a video file that ended before its last frame

    def open(self) -> None:
        """Open the source and read its first frame; `ScannerError` when it cannot be used."""
        if self._capture is not None:
            return
        capture = _open_capture(self.capture_source)
        ok, first = capture.read()
        if not ok or first is None or first.size == 0:
            capture.release()
            raise ScannerError(
                f"{self.source}: no frame could be read"
                + ("" if self.live else " (not a video file, or corrupt)")
            )
        self._capture = capture
        self._put(first, self._frame_time(capture))

    async def scans(self) -> AsyncIterator[Scan]:
        """The scans of the source; a video file that ends before its last frame raises
        `ScannerError` after the scans it gave."""
        await asyncio.to_thread(self.open)  # a network camera can take seconds to answer
        if self._closing.is_set():
            return
        self._grabber = threading.Thread(target=self._grab, name=self.source, daemon=True)
        self._grabber.start()
        try:
            while (taken := await asyncio.to_thread(self._take)) is not None:
                frame, at_s = taken
                found = await asyncio.to_thread(self._read, frame)
                for code in found:
                    if not self.dedupe.is_new(code.text, at_s):
                        self.stats.duplicates += 1
                        continue
                    self.stats.codes += 1
                    yield Scan(
                        raw=code.text,
                        symbology_id=code.symbology_id,
                        source=self.source,
                        at=self._clock(),
                    )
        finally:
            await self.aclose()
        if self._damaged is not None:
            raise ScannerError(self._damaged)

    async def aclose(self) -> None:
        """Stop reading. The grabbing thread releases the capture itself once its current
        read returns (a stalled network stream may hold it a while); never while it reads."""
        self._closing.set()
        with self._slot.lock:
            self._slot.lock.notify_all()
        grabber = self._grabber
        if grabber is not None:
            await asyncio.to_thread(grabber.join, 2.0)
        elif self._capture is not None:  # opened, never read
            self._capture.release()
            self._capture = None

    def _read(self, frame: Frame) -> list[Decoded]:
        try:
            found = self.reader.read(frame)
        except Exception as error:  # noqa: BLE001 - a decoder fault costs one frame, never the camera
            log.error("camera.decode_failed", source=self.source, error=repr(error))
            return []
        self.stats.frames += 1
        self.stats.decoded_frames += bool(found)
        return found

    # -- the grabbing thread ------------------------------------------------------------------

    def _grab(self) -> None:
        """The grabbing thread: owns the capture from here on, and releases it at the end."""
        try:
            pace = _Pacer(self._capture) if self.realtime and not self.live else None
            while not self._closing.is_set():
                ok, frame = self._capture.read()
                if ok and frame is not None:
                    if pace is not None:
                        pace.wait()
                    self._put(frame, self._frame_time(self._capture))
                elif not self.live:
                    self._damaged = self._ended_early(self._capture)
                    break
                elif not self._reconnect():
                    break
        except Exception as error:  # noqa: BLE001 - an OpenCV fault ends this source, never the daemon
            log.error("camera.failed", source=self.source, error=repr(error))
        finally:
            if self._capture is not None:
                self._capture.release()
                self._capture = None
            with self._slot.lock:
                self._slot.ended = True
                self._slot.lock.notify_all()

    def _ended_early(self, capture: Any) -> str | None:
        """Why a video file that stopped giving frames is damaged, or None at its end."""
        cv2 = _cv2()
        at, frames = (
            int(capture.get(p)) for p in (cv2.CAP_PROP_POS_FRAMES, cv2.CAP_PROP_FRAME_COUNT)
        )
        if at + 1 >= frames:  # the end (a count estimated from the duration may be one over)
            return None
        return (
            f"{self.source}: the video is damaged: it ends at frame {at} of {frames} (cut short, "
            "or unreadable from there on)"
        )

    def _put(self, frame: Frame, at_s: float) -> None:
        slot = self._slot
        with slot.lock:
            if not self.realtime:
                slot.lock.wait_for(lambda: slot.frame is None or self._closing.is_set())
            elif slot.frame is not None:
                self.stats.dropped += 1
            slot.frame, slot.at_s = frame, at_s
            slot.lock.notify_all()

    def _take(self) -> tuple[Frame, float] | None:
        slot = self._slot
        with slot.lock:
            slot.lock.wait_for(
                lambda: slot.frame is not None or slot.ended or self._closing.is_set()
            )
            if slot.frame is None or self._closing.is_set():
                return None
            taken, slot.frame = (slot.frame, slot.at_s), None
            slot.lock.notify_all()
            return taken

    def _frame_time(self, capture: Any) -> float:
        """Video time for a file read as fast as it decodes; wall time for a live source."""
        if self.realtime:
            return time.monotonic()
        return float(capture.get(_cv2().CAP_PROP_POS_MSEC)) / 1000

    def _reconnect(self) -> bool:
        """Reopen a live source that stopped delivering; False when closing meanwhile."""
        log.warning("camera.disconnected", source=self.source)
        self._capture.release()
        self._capture = None
        delay = 0.5
        while not self._closing.wait(delay * random.uniform(0.8, 1.2)):  # noqa: S311 - jitter
            try:
                self._capture = _open_capture(self.capture_source)
            except ScannerError as error:
                log.info("camera.reconnect_failed", source=self.source, error=str(error))
                delay = min(delay * 2, self.reconnect_max_s)
                continue
            self.stats.reconnects += 1
            log.warning("camera.reconnected", source=self.source)
            return True
        return False


class _Pacer:
    """Holds a video file to its frame rate, as a camera would deliver it."""

    def __init__(self, capture: Any) -> None:
        fps = float(capture.get(_cv2().CAP_PROP_FPS)) or 25.0
        self.period = 1.0 / fps
        self.next = time.monotonic()

    def wait(self) -> None:
        self.next += self.period
        time.sleep(max(0.0, self.next - time.monotonic()))


def _is_live(source: int | str) -> bool:
    return isinstance(source, int) or source.lower().startswith(_LIVE_PREFIXES)


def _cv2() -> Any:
    import cv2

    return cv2


def _open_capture(source: int | str) -> Any:
    cv2 = _cv2()
    if isinstance(source, str) and not _is_live(source) and not Path(source).is_file():
        raise ScannerError(f"camera:{source}: no such video file")
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        capture.release()
        what = "camera device" if isinstance(source, int) else "video source"
        raise ScannerError(f"camera:{source}: the {what} cannot be opened")
    return capture
