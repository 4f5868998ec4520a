"""A byte stream cut into WWKS documents (`<WWKS …>` to `</WWKS>`). Pure: no I/O, incremental.

WWKS2 has no length prefix and no delimiter (M6 §5.2). The framer ends a document at the first
`</WWKS>` outside `<![CDATA[ … ]]>` (an UnprocessedMessage or an output label embeds XML in CDATA,
M622 §6.4.1; ThomasReth/WWKS2 tokenises the same way). Bytes between documents are skipped:
whitespace and XML declarations silently, anything else reported as `Skipped`. A document that
grows past `max_size` is discarded (bytes after its end are kept) and `MessageTooLarge` raised;
when documents completed before it in the same `feed`, they are returned and the next `feed`
raises (keeping the bytes it was given for the one after). The framer then looks for the next
`<WWKS`. A document cut mid-way stays buffered until more bytes come.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from wwks2.errors import MessageTooLarge

DEFAULT_MAX_SIZE = 4 * 1024 * 1024
"""The Rowa SDK reads with a 4 MiB buffer; a stock list of a large robot fits in it."""

_START = re.compile(rb"<WWKS[\s>]")
_END = re.compile(rb"</WWKS\s*>|<!\[CDATA\[")
_CDATA_END = b"]]>"
_QUIET = re.compile(rb"(\s|<\?xml[^>]*\?>)*")
_TAIL = 16  # bytes kept back when a token may be cut at the end of the buffer
_HEAD_BYTES = 32
_MAX_BETWEEN = 4096  # bytes held between documents while waiting for `<WWKS`


@dataclass(frozen=True, slots=True)
class Document:
    """One complete WWKS document, from `<WWKS` to `</WWKS>` inclusive."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Skipped:
    """Bytes between documents that are neither whitespace nor an XML declaration."""

    length: int
    head: bytes


Frame = Document | Skipped


@dataclass(slots=True)
class Framer:
    """Feed it bytes as they arrive; it returns the documents (and skipped bytes) completed."""

    max_size: int = DEFAULT_MAX_SIZE
    _buffer: bytearray = field(default_factory=bytearray)
    _inside: bool = False  # the buffer starts with `<WWKS`
    _scan: int = 0  # where the search for the end resumes
    _in_cdata: bool = False
    _too_large: MessageTooLarge | None = None  # raised by the next feed

    def feed(self, data: bytes) -> list[Frame]:
        """The frames that `data` completes, in stream order (MessageTooLarge past the limit)."""
        self._buffer += data
        if self._too_large is not None:
            error, self._too_large = self._too_large, None
            raise error
        frames: list[Frame] = []
        while True:
            if not self._inside and not self._find_start(frames):
                return frames
            end = self._find_end()
            size = len(self._buffer) if end is None else end
            if size > self.max_size:  # discarded up to its end (bytes after it are the next's)
                del self._buffer[:size]
                self._inside = False
                error = MessageTooLarge(
                    f"a WWKS message is over the limit of {self.max_size} bytes"
                )
                if not frames:
                    raise error
                self._too_large = error
                return frames
            if end is None:
                return frames
            frames.append(Document(bytes(self._buffer[:end])))
            del self._buffer[:end]
            self._inside = False

    def _find_start(self, frames: list[Frame]) -> bool:
        match = _START.search(self._buffer)
        if match is None:
            if len(self._buffer) > _MAX_BETWEEN:
                self._skip(len(self._buffer) - _TAIL, frames)
            return False
        self._skip(match.start(), frames)
        self._inside, self._scan, self._in_cdata = True, len(b"<WWKS"), False
        return True

    def _skip(self, count: int, frames: list[Frame]) -> None:
        between = bytes(self._buffer[:count])
        del self._buffer[:count]
        if _QUIET.fullmatch(between) is None:
            frames.append(Skipped(len(between), between[:_HEAD_BYTES]))

    def _find_end(self) -> int | None:
        """The length of the document at the start of the buffer, or None if it is not complete."""
        while True:
            if self._in_cdata:
                close = self._buffer.find(_CDATA_END, self._scan)
                if close < 0:
                    self._scan = max(self._scan, len(self._buffer) - len(_CDATA_END) + 1)
                    return None
                self._scan, self._in_cdata = close + len(_CDATA_END), False
                continue
            match = _END.search(self._buffer, self._scan)
            if match is None:
                self._scan = max(self._scan, len(self._buffer) - _TAIL)
                return None
            if match.group().startswith(b"<!"):
                self._scan, self._in_cdata = match.end(), True
                continue
            return match.end()
