"""A scanner on a serial port: RS232, USB-CDC (`/dev/ttyACM0`), or a pyserial URL
(`socket://host:port`, `loop://`).

A reader thread owns the port: it reads with a short timeout (so `aclose` is prompt and never
blocks the event loop), and when the device goes away it reconnects with exponential backoff
until `aclose`. Framing, logging and counting happen on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import random
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import serial
import structlog

from scanners.base import Scan, ScannerError
from scanners.framing import (
    SUFFIXES,
    FrameEvent,
    Line,
    LineFramer,
    LineStats,
    Partial,
    StrayTerminator,
    Suffix,
    TooLong,
    aim_identifier,
    preview,
)

log = structlog.get_logger(__name__)

Parity = Literal["N", "E", "O", "M", "S"]

READ_TIMEOUT_S = 0.05
"""How long one read waits for a byte: bounds how long `aclose` waits for the reader thread."""

_PARITIES = ("N", "E", "O", "M", "S")
_STOPBITS = (1, 1.5, 2)
_BYTESIZES = (5, 6, 7, 8)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """How to reach a serial scanner and how it frames its lines."""

    url: str
    baudrate: int = 9600
    bytesize: int = 8
    parity: Parity = "N"
    stopbits: float = 1
    suffix: Suffix = "CR"
    max_line: int = 4096
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 10.0

    def __post_init__(self) -> None:
        wrong = [
            message
            for ok, message in (
                (bool(self.url), "url is empty"),
                (self.baudrate > 0, f"baudrate must be positive, not {self.baudrate!r}"),
                (self.bytesize in _BYTESIZES, f"bytesize must be 5-8, not {self.bytesize!r}"),
                (self.parity in _PARITIES, f"parity must be N, E, O, M or S, not {self.parity!r}"),
                (
                    self.stopbits in _STOPBITS,
                    f"stopbits must be 1, 1.5 or 2, not {self.stopbits!r}",
                ),
                (self.suffix in SUFFIXES, f"suffix must be CR, LF or CRLF, not {self.suffix!r}"),
                (self.max_line > 0, f"max_line must be positive, not {self.max_line!r}"),
                (
                    0 < self.reconnect_initial_s <= self.reconnect_max_s,
                    "reconnect delays must be positive, initial <= max",
                ),
            )
            if not ok
        ]
        if wrong:
            raise ValueError(f"serial scanner {self.url}: {'; '.join(wrong)}")


@dataclass(slots=True)
class SerialStats(LineStats):
    """Counters for a diagnostic command: lines, too long, partial, garbage, reconnects."""

    reconnects: int = 0


@dataclass(frozen=True, slots=True)
class _LinkDown:
    cause: str


@dataclass(frozen=True, slots=True)
class _StillDown:
    error: str


@dataclass(frozen=True, slots=True)
class _LinkUp:
    pass


# What the reader thread posts to the event loop; None: the reader has stopped.
_Item = bytes | _LinkDown | _StillDown | _LinkUp | Exception | None


class SerialScanner:
    """Scans from a serial port, one per line; the AIM prefix and every control character kept."""

    def __init__(
        self,
        settings: SerialSettings,
        *,
        source: str | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.settings = settings
        self.source = source or f"serial:{settings.url}"
        self.stats = SerialStats()
        self._clock = clock
        self._framer = LineFramer(settings.suffix, settings.max_line)
        self._port: serial.Serial | None = None
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def port(self) -> serial.Serial | None:
        """The open port, if any (it changes on a reconnect)."""
        return self._port

    def open(self) -> None:
        """Open the port now (idempotent); raise `ScannerError` with one line saying what to do."""
        if self._port is None:
            self._port = self._connect()

    async def scans(self) -> AsyncIterator[Scan]:
        """Yield a scan per complete line until `aclose`; reconnect when the device goes away.
        Raises `ScannerError` when the port cannot be opened at the start."""
        if self._stop.is_set():
            return
        if self._reader is not None:
            raise ScannerError(f"serial port {self.settings.url}: already being read")
        self.open()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_Item] = asyncio.Queue()

        def post(item: _Item) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody listens
                loop.call_soon_threadsafe(queue.put_nowait, item)

        self._reader = threading.Thread(
            target=self._read_loop, args=(post,), name=f"scanner {self.source}", daemon=True
        )
        self._reader.start()
        try:
            while (item := await queue.get()) is not None:
                for scan in self._on_item(item):
                    yield scan
        finally:
            self._stop.set()

    async def aclose(self) -> None:
        """End `scans()` (within about READ_TIMEOUT_S) and close the port."""
        self._stop.set()
        if self._reader is not None:
            await asyncio.to_thread(self._reader.join)
        elif self._port is not None:
            self._port.close()
            self._port = None

    # -- the event loop side -------------------------------------------------------------------

    def _on_item(self, item: _Item) -> list[Scan]:
        events: list[FrameEvent] = []
        if isinstance(item, bytes):
            events = self._framer.feed(item)
        elif isinstance(item, _LinkDown):
            log.warning("scanner.disconnected", source=self.source, cause=item.cause)
            partial = self._framer.flush()
            events = [partial] if partial is not None else []
        elif isinstance(item, _StillDown):
            log.warning("scanner.reconnect_failed", source=self.source, error=item.error)
        elif isinstance(item, _LinkUp):
            self.stats.reconnects += 1
            log.info("scanner.reconnected", source=self.source, reconnects=self.stats.reconnects)
        elif isinstance(item, Exception):
            raise ScannerError(
                f"serial port {self.settings.url}: reader failed: {item!r}"
            ) from item
        return [scan for event in events if (scan := self._on_event(event)) is not None]

    def _on_event(self, event: FrameEvent) -> Scan | None:
        self.stats.count(event)
        if isinstance(event, Line):
            text = event.text
            if event.garbage:
                log.warning(
                    "scanner.garbage",
                    source=self.source,
                    preview=preview(event.data),
                    advice="binary garbage on the line: check baud rate/parity",
                )
            return Scan(text, aim_identifier(text), self.source, self._clock())
        if isinstance(event, TooLong):
            log.warning(
                "scanner.line_too_long",
                source=self.source,
                length=event.length,
                max_line=self.settings.max_line,
                preview=event.preview,
                advice=f"no {self.settings.suffix} suffix: check the scanner's suffix setting",
            )
        elif isinstance(event, Partial):
            log.warning(
                "scanner.partial_line",
                source=self.source,
                preview=event.preview,
                advice="the link dropped mid-line: scan the pack again",
            )
        elif isinstance(event, StrayTerminator):
            log.warning("scanner.framing_hint", source=self.source, advice=event.advice)
        return None

    # -- the reader thread ---------------------------------------------------------------------

    def _read_loop(self, post: Callable[[_Item], None]) -> None:
        try:
            while not self._stop.is_set() and self._port is not None:
                try:
                    data = _read_some(self._port)
                except (serial.SerialException, OSError) as exc:  # the device went away
                    self._close_port()
                    post(_LinkDown(str(exc) or type(exc).__name__))
                    self._port = self._reconnect(post)
                    if self._port is not None:
                        post(_LinkUp())
                    continue
                if data:
                    post(data)
        except Exception as exc:  # a bug: end scans() loudly rather than hang it
            post(exc)
        finally:
            self._close_port()
            post(None)

    def _reconnect(self, post: Callable[[_Item], None]) -> serial.Serial | None:
        """Open the port again, backing off exponentially with jitter; None once stopped.
        Each new reason for failing is posted once (it may say what to do, such as a
        permission to fix)."""
        delay = self.settings.reconnect_initial_s
        reported = ""
        while not self._stop.wait(delay * random.uniform(0.75, 1.0)):
            try:
                return self._connect()
            except ScannerError as error:
                if str(error) != reported:
                    reported = str(error)
                    post(_StillDown(reported))
                delay = min(delay * 2, self.settings.reconnect_max_s)
        return None

    def _connect(self) -> serial.Serial:
        s = self.settings
        try:
            return serial.serial_for_url(
                s.url,
                baudrate=s.baudrate,
                bytesize=s.bytesize,
                parity=s.parity,
                stopbits=s.stopbits,
                timeout=READ_TIMEOUT_S,
                exclusive=True,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ScannerError(open_error(s.url, exc)) from exc

    def _close_port(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(Exception):  # closing a vanished device may fail; it is gone
                port.close()


def _read_some(port: serial.Serial) -> bytes:
    """Wait up to the port's timeout for a byte, then take whatever else has arrived."""
    data = port.read(1)
    waiting = port.in_waiting if data else 0
    return data + port.read(waiting) if waiting else data


_MISSING = "no such device: is the scanner plugged in? check the port name"
_DENIED = "permission denied: add the user to the dialout group (then log in again)"
_BUSY = "in use by another program: close it (a serial terminal, ModemManager, …)"
_REFUSED = "connection refused: is the serial-to-network bridge running? check host and port"
_NETWORK = "cannot connect: check the host and the network"
_ADVICE = {
    errno.ENOENT: _MISSING,
    errno.ENODEV: _MISSING,
    errno.ENXIO: _MISSING,
    errno.EACCES: _DENIED,
    errno.EPERM: _DENIED,
    errno.EBUSY: _BUSY,
    errno.EAGAIN: _BUSY,  # pyserial's exclusive lock (flock) is taken
    errno.ECONNREFUSED: _REFUSED,
    errno.ETIMEDOUT: _NETWORK,
    errno.EHOSTUNREACH: _NETWORK,
}


def open_error(url: str, exc: BaseException) -> str:
    """One line naming the port, the cause and what to do, for a port that would not open."""
    chain: list[BaseException] = [exc]
    while (cause := chain[-1].__cause__ or chain[-1].__context__) and cause not in chain:
        chain.append(cause)
    for link in chain:
        number = getattr(link, "errno", None)
        if number in _ADVICE:
            return f"serial port {url}: {_ADVICE[number]}"
    if any(isinstance(link, ValueError | TypeError) for link in chain):
        detail = next((f" ({link})" for link in chain if isinstance(link, ValueError)), "")
        return (
            f"serial port {url}: not a valid port or URL{detail}; use a device path such as "
            "/dev/ttyACM0 or a URL such as socket://host:port"
        )
    return f"serial port {url}: cannot open: {exc}"
