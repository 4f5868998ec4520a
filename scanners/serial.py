"""A scanner on a serial port: RS232, USB-CDC (`/dev/ttyACM0`), or a pyserial URL
(`socket://host:port`, `loop://`).

A reader thread owns the port (`serial_io.link`): it reads with a short timeout (so `aclose` is
prompt and never blocks the event loop), and when the device goes away it reconnects with
exponential backoff until `aclose`. Framing, judging, logging and counting happen on the event
loop (`scanners.lines`): only a line a code reader could have sent becomes a scan; noise is
reported once per burst.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import serial
import structlog

from scanners.aim import aim_identifier
from scanners.base import Scan, ScannerError
from scanners.line_report import QUIET_S, LineAdvice
from scanners.lines import LineStats, ScanLines
from scanners.scan_text import is_known_encoding
from serial_io.framing import SUFFIXES, LineFramer, Suffix
from serial_io.link import LinkDown, LinkItem, LinkUp, SerialLink, StillDown

log = structlog.get_logger(__name__)

Parity = Literal["N", "E", "O", "M", "S"]

_PARITIES = ("N", "E", "O", "M", "S")
_STOPBITS = (1, 1.5, 2)
_BYTESIZES = (5, 6, 7, 8)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """How to reach a serial scanner, how it frames its lines, and how it encodes them (a pack
    code is ASCII: a byte above 0x7F on a serial line is a wrong baud rate or parity)."""

    url: str
    baudrate: int = 9600
    bytesize: int = 8
    parity: Parity = "N"
    stopbits: float = 1
    suffix: Suffix = "CR"
    max_line: int = 4096
    encoding: str = "ascii"
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
                (is_known_encoding(self.encoding), f"encoding {self.encoding!r} is not known"),
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
    """Counters for a diagnostic command: scans, garbage, too long, partial, reconnects."""

    reconnects: int = 0


class SerialScanner:
    """Scans from a serial port, one per line; the AIM prefix and GS, RS and EOT kept. A line
    no code reader sends (`scanners.scan_text`) is reported, never a scan. `quiet_s`: how long
    without garbage ends a burst of it (one warning per burst)."""

    def __init__(
        self,
        settings: SerialSettings,
        *,
        source: str | None = None,
        clock: Callable[[], datetime] = _now,
        quiet_s: float = QUIET_S,
    ) -> None:
        self.settings = settings
        self.source = source or f"serial:{settings.url}"
        self.stats = SerialStats()
        self._clock = clock
        advice = LineAdvice(
            check=f"check the baud rate ({settings.baudrate}) and parity ({settings.parity}), "
            f"the scanner's suffix setting ({settings.suffix}) and for a loose cable",
            partial="the link dropped mid-line: scan the pack again",
        )
        self._lines = ScanLines(
            LineFramer(settings.suffix, settings.max_line),
            source=self.source,
            encoding=settings.encoding,
            advice=advice,
            stats=self.stats,
            quiet_s=quiet_s,
        )
        self._link = SerialLink(
            settings.url,
            name=f"scanner {self.source}",
            failure=lambda error: ScannerError(open_error(settings.url, error)),
            baudrate=settings.baudrate,
            bytesize=settings.bytesize,
            parity=settings.parity,
            stopbits=settings.stopbits,
            reconnect_initial_s=settings.reconnect_initial_s,
            reconnect_max_s=settings.reconnect_max_s,
        )

    @property
    def port(self) -> serial.Serial | None:
        """The open port, if any (it changes on a reconnect)."""
        return self._link.port

    def open(self) -> None:
        """Open the port now (idempotent); raise `ScannerError` with one line saying what to do."""
        self._link.open()

    async def scans(self) -> AsyncIterator[Scan]:
        """Yield a scan per complete line until `aclose`; reconnect when the device goes away.
        Raises `ScannerError` when the port cannot be opened at the start."""
        if self._link.stopped:
            return
        if self._link.reading:
            raise ScannerError(f"serial port {self.settings.url}: already being read")
        self.open()
        queue: asyncio.Queue[LinkItem] = asyncio.Queue()
        self._link.start(asyncio.get_running_loop(), queue.put_nowait)
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), self._lines.quiet_in())
                except TimeoutError:
                    self._lines.report_if_quiet()
                    continue
                if item is None:
                    break
                for scan in self._on_item(item):
                    yield scan
        finally:
            self._link.stop()
            self._lines.flush()

    async def aclose(self) -> None:
        """End `scans()` (within about READ_TIMEOUT_S) and close the port."""
        await self._link.aclose()

    # -- the event loop side -------------------------------------------------------------------

    def _on_item(self, item: LinkItem) -> list[Scan]:
        texts: list[str] = []
        if isinstance(item, bytes):
            texts = self._lines.feed(item)
        elif isinstance(item, LinkDown):
            log.warning("scanner.disconnected", source=self.source, cause=item.cause)
            self._lines.flush()
        elif isinstance(item, StillDown):
            log.warning("scanner.reconnect_failed", source=self.source, error=item.error)
        elif isinstance(item, LinkUp):
            self.stats.reconnects += 1
            log.warning("scanner.reconnected", source=self.source, reconnects=self.stats.reconnects)
        elif isinstance(item, Exception):
            raise ScannerError(
                f"serial port {self.settings.url}: reader failed: {item!r}"
            ) from item
        return [Scan(text, aim_identifier(text), self.source, self._clock()) for text in texts]


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
