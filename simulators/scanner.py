"""A virtual serial scanner on a pseudo-terminal: what a USB-CDC scanner looks like to the host.

The port is a stable symlink to the current `/dev/pts/N` (`pty_link`), so a reader can reopen it
after `unplug()` / `replug()`. The simulator keeps its own slave descriptor open while the pty
lives: writes to the master then never fail because no reader is attached, and what is written
before the reader opens the port stays buffered (pyserial flushes the input when it opens a port,
though: start the reader first).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from serial_io.framing import SUFFIXES, Suffix
from simulators.pty_link import PtyDevice, PtyLink

GS = "\x1d"
GS1_AIM = "]d2"
ENVELOPE_AIM = "]d1"
_SETTLE_S = 0.02
_AIM_PREFIX = re.compile(r"^\][A-Za-z][0-9A-Za-z]")


@dataclass(frozen=True, slots=True)
class ScannerProfile:
    """How a scanner is configured: AIM prefix on or off, what it sends for GS (GS itself, a
    substitute such as `|`, or nothing, as a keyboard wedge may), its suffix, and Caps Lock (a
    wedge then swaps the case of every letter)."""

    aim_prefix: bool = True
    separator: str = GS
    suffix: Suffix = "CR"
    caps_lock: bool = False

    def __post_init__(self) -> None:
        if self.suffix not in SUFFIXES:
            raise ValueError(f"suffix must be CR, LF or CRLF, not {self.suffix!r}")

    def render(self, raw: str) -> bytes:
        """The bytes the scanner sends for `raw` (which may start with an AIM prefix and hold
        GS). With the prefix on, every scan carries one, as a real scanner sends it: `raw`'s
        own, else the DataMatrix's (`]d2` for a GS1 element string, `]d1` for an ISO/IEC 15434
        envelope); a delivery's raws may lack it, as a camera reports the symbology apart."""
        data = _AIM_PREFIX.sub("", raw, count=1)
        prefix = raw[: len(raw) - len(data)] or (
            ENVELOPE_AIM if data.startswith("[)>") else GS1_AIM
        )
        text = (prefix if self.aim_prefix else "") + data.replace(GS, self.separator)
        if self.caps_lock:
            text = text.swapcase()
        return text.encode("latin-1") + SUFFIXES[self.suffix]


PROFILES: dict[str, ScannerProfile] = {
    "good": ScannerProfile(),
    "no-aim": ScannerProfile(aim_prefix=False),
    "substitute": ScannerProfile(separator="|"),
    "wedge-drops-gs": ScannerProfile(aim_prefix=False, separator=""),
    "caps-lock": ScannerProfile(caps_lock=True),
    "crlf": ScannerProfile(suffix="CRLF"),
    "lf": ScannerProfile(suffix="LF"),
    "datalogic-default": ScannerProfile(aim_prefix=False, suffix="CRLF"),
}
"""Named scanner configurations, good and bad, for tests and `fmd-robot sim scanner`."""


class VirtualScanner(PtyDevice):
    """A scanner plugged into a pty; `port` is the path a reader opens."""

    def __init__(
        self,
        profile: ScannerProfile = PROFILES["good"],
        *,
        link_dir: Path | None = None,
        name: str = "fmd-virtual-scanner",
    ) -> None:
        self.profile = profile
        self._pty = PtyLink(
            "virtual scanner", link_dir=link_dir, name=name, temp_prefix="fmd-scanner-"
        )
        self._lock = threading.Lock()

    def start(self) -> None:
        """Create the link directory if needed and plug the scanner in."""
        self._pty.start()
        self.replug()

    def stop(self) -> None:
        """Unplug the scanner and remove what `start` created."""
        with self._lock:
            self._pty.stop()

    def unplug(self) -> None:
        """Pull the cable: the pty goes away (a reader gets an error or end of input) and so
        does the link."""
        with self._lock:
            self._pty.unplug()

    def replug(self) -> None:
        """Plug in again: a new pty, and the link re-pointed to it."""
        with self._lock:
            self._pty.replug()

    def type(self, raw: str) -> None:
        """Scan a code: send `raw` as the profile renders it."""
        self.write_bytes(self.profile.render(raw))

    def pending(self) -> int:
        """How many bytes sent have not been read by the reader yet (0 while unplugged). The
        kernel moves a write to the reader's side a moment later: see `drain`."""
        with self._lock:
            if (fds := self._pty.fds) is None:
                return 0
            waiting = fcntl.ioctl(fds[1], termios.FIONREAD, b"\0\0\0\0")
            return int.from_bytes(waiting, sys.byteorder)

    def drain(self, timeout_s: float = 2.0) -> bool:
        """Wait until the reader has taken everything sent; False on timeout."""
        deadline = time.monotonic() + timeout_s
        time.sleep(_SETTLE_S)  # let the last write reach the reader's side of the pty
        while self.pending():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def write_bytes(self, data: bytes) -> None:
        """Send bytes as they are (garbage, half lines…). Waits while the pty is full (nobody
        reads); raises `RuntimeError` when unplugged, also while waiting."""
        with self._lock:
            fds = self._pty.fds
        view = memoryview(data)
        while view:
            with self._lock:
                if fds is None or self._pty.fds is not fds:
                    raise RuntimeError("the virtual scanner is unplugged")
                written = _write_some(fds[0], view)
            view = view[written:]
            if view and not written:
                with contextlib.suppress(OSError, ValueError):  # unplugged meanwhile
                    select.select([], [fds[0]], [], 0.05)


def _write_some(fd: int, data: memoryview) -> int:
    try:
        return os.write(fd, data)
    except BlockingIOError:  # the pty buffer is full
        return 0


def run_virtual_scanner(
    raws: Iterable[str],
    profile: ScannerProfile = PROFILES["good"],
    *,
    interval_s: float = 1.0,
    start_delay_s: float = 0.0,
    link_dir: Path | None = None,
    announce: Callable[[Path], None] = print,
    stop: threading.Event | None = None,
) -> int:
    """Plug a virtual scanner in, `announce` its port, wait `start_delay_s` (time to start the
    reader: pyserial discards what arrived before it opened the port), then scan each raw
    `interval_s` apart. Returns how many scans were sent; `stop` ends it early."""
    stop = stop or threading.Event()
    sent = 0
    with VirtualScanner(profile, link_dir=link_dir) as scanner:
        announce(scanner.port)
        if stop.wait(start_delay_s):
            return sent
        for raw in raws:
            scanner.type(raw)
            sent += 1
            if stop.wait(interval_s):
                break
        scanner.drain()  # let the reader take the last scan before the pty goes away
    return sent
