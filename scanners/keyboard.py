"""A keyboard-wedge scanner: lines typed on a text stream (stdin by default), or key events read
from a Linux HID input device (`/dev/input/eventN`, evdev) with a US layout.

A wedge has no key for GS (FNC1). It either types Ctrl+] (read here from an input device as GS),
or, configured so, a substitute character such as `|`: `gs_substitute` is that transport
spelling of FNC1, and each occurrence is turned back into GS (0x1D) in the scan. Pick a character
pack data never holds (outside GS1 CSET 82: `|`, `~`, `^`, `#`, …).

Lines are UTF-8, as a terminal delivers them: a line that is not, or that holds a control
character other than GS, RS and EOT, is reported as garbage and never becomes a scan
(`scanners.scan_text`); characters a wrong keyboard layout types (`ß`, `ü`) reach the parser,
which says what to change.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import stat
import struct
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import structlog

from scanners.aim import aim_identifier
from scanners.base import Scan, ScannerError
from scanners.line_report import QUIET_S, LineAdvice
from scanners.lines import LineStats, ScanLines
from serial_io.framing import LineFramer

log = structlog.get_logger(__name__)

EVIOCGRAB = 0x40044590
"""ioctl: take the device's events for this file alone (the console no longer sees them)."""
INPUT_EVENT = struct.Struct("llHHi")
"""Linux `struct input_event`: time (sec, usec), type, code, value; 24 bytes on x86_64."""
EV_KEY = 1
MAX_LINE = 4096
_ADVICE = LineAdvice(
    check="check that the scanner sends Enter after each code, its keyboard country and "
    "the host's keyboard layout, and for a loose cable",
    partial="the input ended without a line end: the last line is not used",
    report_stray_terminator=False,  # CR LF is a fine line end for a keyboard scanner
)
_CHUNK = 65536

# Linux key codes (input-event-codes.h).
_ENTER, _KP_ENTER, _CAPS_LOCK = 28, 96, 58
_SHIFTS = frozenset({42, 54})  # left, right
_CTRLS = frozenset({29, 97})  # left, right
_SILENT = frozenset({56, 100, 69, 70, 125, 126})  # alt, altgr, num/scroll lock, meta: type nothing


def _us_layout() -> dict[int, str]:
    """Key code → the character it types, unshifted then shifted (US layout)."""
    rows = (
        (2, "1!2@3#4$5%6^7&8*9(0)-_=+"),
        (16, "qQwWeErRtTyYuUiIoOpP[{]}"),
        (30, "aAsSdDfFgGhHjJkKlL;:'\"`~"),
        (43, "\\|zZxXcCvVbBnNmM,<.>/?"),
    )
    keys = {first + i // 2: row[i : i + 2] for first, row in rows for i in range(0, len(row), 2)}
    keypad = {55: "*", 71: "7", 72: "8", 73: "9", 74: "-", 75: "4", 76: "5", 77: "6", 78: "+",
              79: "1", 80: "2", 81: "3", 82: "0", 83: ".", 98: "/"}  # fmt: skip
    keys |= {code: char * 2 for code, char in keypad.items()}
    keys |= {15: "\t\t", 57: "  "}
    return keys


_US = _us_layout()


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class KeyboardStats(LineStats):
    """Counters for a diagnostic command; `unknown_keys`: key presses no character came from."""

    unknown_keys: int = 0


class KeyState:
    """What a stream of key events types, with Shift, Caps Lock and Ctrl (US layout).

    Enter ends a line ("\\n"); Ctrl with a key typing 0x40-0x7F gives the C0 control (Ctrl+] and
    Ctrl+Shift+] give GS, Ctrl+Shift+6 RS, Ctrl+D EOT), as wedge scanners send them.
    """

    def __init__(self, stats: KeyboardStats) -> None:
        self._stats = stats
        self._shift: set[int] = set()
        self._ctrl: set[int] = set()
        self._caps_lock = False

    def key(self, code: int, value: int) -> str:
        """The text one EV_KEY event types: `value` 1 press, 2 repeat, 0 release."""
        for held, keys in ((self._shift, _SHIFTS), (self._ctrl, _CTRLS)):
            if code in keys:
                if value:
                    held.add(code)
                else:
                    held.discard(code)
                return ""
        if value == 0 or code in _SILENT:
            return ""
        if code == _CAPS_LOCK:
            self._caps_lock ^= value == 1
            return ""
        if code in (_ENTER, _KP_ENTER):
            return "\n"
        pair = _US.get(code)
        if pair is None:
            self._stats.unknown_keys += 1
            return ""
        char = pair[bool(self._shift)]
        if self._caps_lock and char.isalpha():
            char = char.swapcase()
        if not self._ctrl:
            return char
        if 0x40 <= ord(char) <= 0x7F:
            return chr(ord(char) & 0x1F)
        self._stats.unknown_keys += 1
        return ""


class KeyboardScanner:
    """Scans typed by a keyboard wedge, one per line (LF or CR LF ends a line)."""

    def __init__(
        self,
        *,
        stream: BinaryIO | None = None,
        device: Path | None = None,
        gs_substitute: str | None = None,
        source: str | None = None,
        grab: bool = True,
        clock: Callable[[], datetime] = _now,
        quiet_s: float = QUIET_S,
    ) -> None:
        if stream is not None and device is not None:
            raise ValueError("a keyboard scanner reads a stream or a device, not both")
        if gs_substitute is not None and len(gs_substitute) != 1:
            raise ValueError(f"gs_substitute must be one character, not {gs_substitute!r}")
        self._device = device
        self._stream = stream
        self._grab = grab
        self._clock = clock
        self.source = source or _default_source(stream, device)
        self.stats = KeyboardStats()
        self._lines = ScanLines(
            LineFramer("LF", MAX_LINE),
            source=self.source,
            encoding="utf-8",
            advice=_ADVICE,
            stats=self.stats,
            gs_substitute=gs_substitute,
            quiet_s=quiet_s,
        )
        self._keys = KeyState(self.stats)
        self._fd: int | None = None
        self._reading = False
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None

    def open(self) -> None:
        """Open the input device (and grab it) now, or check the stream; idempotent.
        Raises `ScannerError` with one line saying what to do."""
        self._opened()

    async def scans(self) -> AsyncIterator[Scan]:
        """Yield a scan per line until the input ends or `aclose`."""
        if self._closed:
            return
        fd = self._opened()
        self._reading = True
        pollable = not stat.S_ISREG(os.fstat(fd).st_mode)
        rest = b""  # the start of an input_event record split across reads
        try:
            while not self._closed:
                if pollable and not await self._readable(fd, self._lines.quiet_in()):
                    self._lines.report_if_quiet()  # nothing to read: a burst may be over
                    continue
                if not pollable:  # a regular file never blocks: give the loop a turn between chunks
                    await asyncio.sleep(0)
                if self._closed:
                    return
                try:
                    data = os.read(fd, _CHUNK)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    msg = f"keyboard {self.source}: read failed: {exc}; was it unplugged?"
                    raise ScannerError(msg) from exc
                if not data:
                    return
                if self._device is not None:
                    rest, data = self._typed(rest + data)
                for text in self._lines.feed(data):
                    yield Scan(text, aim_identifier(text), self.source, self._clock())
        finally:
            self._lines.flush()
            self._reading = False
            if self._closed:
                self._close_device()

    async def aclose(self) -> None:
        """End `scans()` promptly and release the device (a stream is left open)."""
        self._closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        if not self._reading:
            self._close_device()

    def _opened(self) -> int:
        if self._fd is None:
            device = self._device
            self._fd = self._open_stream() if device is None else _open_device(device, self._grab)
        return self._fd

    def _open_stream(self) -> int:
        stream = self._stream or sys.stdin.buffer
        try:
            return stream.fileno()
        except (OSError, ValueError) as exc:
            raise ScannerError(f"keyboard {self.source}: not a readable file: {exc}") from exc

    def _typed(self, data: bytes) -> tuple[bytes, bytes]:
        """Input-event records → (the bytes of an incomplete record, the text typed)."""
        usable = len(data) - len(data) % INPUT_EVENT.size
        text = "".join(
            self._keys.key(code, value)
            for _sec, _usec, kind, code, value in INPUT_EVENT.iter_unpack(data[:usable])
            if kind == EV_KEY
        )
        return data[usable:], text.encode("latin-1")

    async def _readable(self, fd: int, timeout_s: float | None) -> bool:
        """Wait until `fd` can be read without blocking or `aclose` (True), or `timeout_s`
        passes first (False)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        try:
            loop.add_reader(fd, _wake, waiter)
        except PermissionError:  # cannot be polled (such as /dev/null): a read will not block
            return True
        self._waiter = waiter
        try:
            done, _ = await asyncio.wait([waiter], timeout=timeout_s)
            return bool(done)
        finally:
            loop.remove_reader(fd)
            self._waiter = None

    def _close_device(self) -> None:
        if self._device is not None and self._fd is not None:
            os.close(self._fd)  # closing also releases the grab
        self._fd = None


def _open_device(device: Path, grab: bool) -> int:
    """Open an input device without blocking (a FIFO with no writer yet), and grab it."""
    try:
        fd = os.open(device, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ScannerError(_open_error(device, exc)) from exc
    try:
        if grab and stat.S_ISCHR(os.fstat(fd).st_mode):
            fcntl.ioctl(fd, EVIOCGRAB, 1)
    except OSError as exc:
        os.close(fd)
        raise ScannerError(_grab_error(device, exc)) from exc
    return fd


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _default_source(stream: BinaryIO | None, device: Path | None) -> str:
    if device is not None:
        return f"keyboard:{device}"
    name = getattr(stream, "name", None)
    return "keyboard:stdin" if name in (None, "<stdin>", 0) else f"keyboard:{name}"


def _open_error(device: Path, exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (
            f"keyboard device {device}: permission denied: add the user to the input group "
            "(then log in again)"
        )
    if exc.errno in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return (
            f"keyboard device {device}: no such device: is the scanner plugged in? "
            "see ls /dev/input/by-id"
        )
    return f"keyboard device {device}: cannot open: {exc.strerror or exc}"


def _grab_error(device: Path, exc: OSError) -> str:
    if exc.errno == errno.EBUSY:
        return f"keyboard device {device}: grabbed by another program: close it, or set grab off"
    return f"keyboard device {device}: not an input event device (/dev/input/eventN): {exc}"
