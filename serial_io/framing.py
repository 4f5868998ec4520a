"""Bytes from a serial device cut into lines at the configured suffix. Pure: no I/O.

The framer never strips or alters a byte of a line other than its suffix: GS, RS, EOT and any
prefix arrive exactly as sent. Memory is bounded: at most `max_line` bytes are ever buffered.
What a line may hold is the reader's business (a scanner's rule is `scanners.scan_text`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Suffix = Literal["CR", "LF", "CRLF"]

SUFFIXES: dict[Suffix, bytes] = {"CR": b"\r", "LF": b"\n", "CRLF": b"\r\n"}

_CR = 0x0D
_LINE_ENDS = re.compile(rb"[\r\n]")
_BLANK = b"\x00 \t\r\n\x0b\x0c"
_HEAD_BYTES = 32


@dataclass(frozen=True, slots=True)
class Line:
    """A complete line, without its suffix."""

    data: bytes


@dataclass(frozen=True, slots=True)
class TooLong:
    """A line that grew past `max_line` before its suffix; it is discarded up to the next suffix.

    `length` is how many bytes had arrived when the limit was crossed (the event is reported
    then, not at the suffix, which may never come); `head` is its first bytes."""

    length: int
    head: bytes


@dataclass(frozen=True, slots=True)
class Partial:
    """What was buffered when the link dropped: a line without its suffix. Never a scan: a
    truncated code can look valid."""

    data: bytes


@dataclass(frozen=True, slots=True)
class StrayTerminator:
    """The device's line ends do not match the configured suffix (reported once per kind)."""

    configured: Suffix
    suggested: Suffix

    @property
    def advice(self) -> str:
        return (
            f"the device seems to end lines with {self.suggested}, not {self.configured}: "
            f'set suffix "{self.suggested}"'
        )


FrameEvent = Line | TooLong | Partial | StrayTerminator


class LineFramer:
    """Cuts a byte stream into lines at `suffix`; lines longer than `max_line` are refused.

    With suffix CR, an LF right after a line's CR is dropped (the device sends CR LF); with
    suffix LF, a CR right before the LF is dropped. Any other CR or LF is kept in the line.
    Either case is reported as a `StrayTerminator`, once per suggested suffix (until the
    reader calls `rearm_hint`). Blank lines (only NUL or whitespace)
    are ignored.
    """

    def __init__(self, suffix: Suffix, max_line: int = 4096) -> None:
        if suffix not in SUFFIXES:
            raise ValueError(f"suffix must be one of {', '.join(SUFFIXES)}, not {suffix!r}")
        if max_line < 1:
            raise ValueError(f"max_line must be at least 1, not {max_line}")
        self.suffix: Suffix = suffix
        self.max_line = max_line
        self._buf = bytearray()
        self._overflow: int | None = None  # bytes seen of a line being discarded
        self._after_cr = False  # the last byte seen was a CR (CR mode: the end of a line)
        self._hinted: set[Suffix] = set()
        self._events: list[FrameEvent] = []

    @property
    def buffered(self) -> int:
        """How many bytes of an unfinished line are held."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[FrameEvent]:
        """Take the next bytes; return what they complete, in order."""
        pos = 0
        for match in _LINE_ENDS.finditer(data):
            self._content(data[pos : match.start()])
            self._line_end_byte(data[match.start()])
            pos = match.end()
        self._content(data[pos:])
        events, self._events = self._events, []
        return events

    def flush(self) -> Partial | None:
        """Forget the unfinished line (the link dropped) and return it, unless it was blank or
        already reported as too long."""
        pending_cr = self._after_cr and self.suffix != "CR"
        data = bytes(self._buf) + (b"\r" if pending_cr else b"")
        discarded = self._overflow is not None
        self._buf.clear()
        self._overflow = None
        self._after_cr = False
        if discarded or not data.strip(_BLANK):
            return None
        return Partial(data)

    def rearm_hint(self, suggested: Suffix) -> None:
        """Let a `StrayTerminator` suggesting `suggested` be reported again (the reader judged
        the last one to be noise)."""
        self._hinted.discard(suggested)

    # -- the state machine ---------------------------------------------------------------------

    def _content(self, chunk: bytes) -> None:
        if chunk:
            self._bare_cr()
            self._take(chunk)

    def _line_end_byte(self, byte: int) -> None:
        if self.suffix == "CR":
            self._in_cr_mode(byte)
        else:
            self._in_lf_modes(byte)

    def _in_cr_mode(self, byte: int) -> None:
        if byte == _CR:
            self._end_line()
            self._after_cr = True
            return
        if self._after_cr:  # the LF of a CR LF suffix: dropped
            self._hint("CRLF")
        else:
            self._hint("LF")
            self._take(b"\n")
        self._after_cr = False

    def _in_lf_modes(self, byte: int) -> None:
        if byte == _CR:  # held back until the next byte shows whether it precedes an LF
            self._bare_cr()
            self._after_cr = True
            return
        if self._after_cr:
            if self.suffix == "LF":  # the CR of a CR LF suffix: dropped
                self._hint("CRLF")
            self._end_line()
        elif self.suffix == "LF":
            self._end_line()
        else:
            self._hint("LF")
            self._take(b"\n")
        self._after_cr = False

    def _bare_cr(self) -> None:
        """A CR held back in LF or CRLF mode that no LF followed: it is part of the line."""
        if self._after_cr and self.suffix != "CR":
            self._hint("CR")
            self._take(b"\r")
        self._after_cr = False

    def _take(self, chunk: bytes) -> None:
        if self._overflow is not None:
            self._overflow += len(chunk)
            return
        if len(self._buf) + len(chunk) <= self.max_line:
            self._buf += chunk
            return
        head = (bytes(self._buf[:_HEAD_BYTES]) + chunk[:_HEAD_BYTES])[:_HEAD_BYTES]
        self._overflow = len(self._buf) + len(chunk)
        self._events.append(TooLong(self._overflow, head))
        self._buf.clear()

    def _end_line(self) -> None:
        if self._overflow is not None:
            self._overflow = None
            return
        data = bytes(self._buf)
        self._buf.clear()
        if data.strip(_BLANK):
            self._events.append(Line(data))

    def _hint(self, suggested: Suffix) -> None:
        if suggested not in self._hinted:
            self._hinted.add(suggested)
            self._events.append(StrayTerminator(self.suffix, suggested))
