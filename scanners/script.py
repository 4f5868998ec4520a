"""A scanner that replays a script of raw scans: for demos, tests and benchmarks.

The script is a list, or a text file of scans one a line (`ScriptFile`), read as it comes: the
first scan is out before the rest of a large file is read, and a FIFO or a pipe streams.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from fmd.codes.escapes import unescape_controls
from scanners.base import Scan, ScannerError

CHUNK = 1 << 16
"""Bytes read at a time."""
MAX_LINE = 1 << 16
"""A longer line is no scan: the file is not a file of scans."""


def _now() -> datetime:
    return datetime.now(UTC)


class ScriptFile:
    """The scans of a text file, one a line (GS, RS and EOT inside a line are data, escapes such
    as `<GS>` are read as for `parse`; blank lines are skipped), read as they arrive.

    Opened at once, so a file that cannot be read is a `ScannerError` before any scan; a line
    that is not UTF-8 text, or too long for a scan, is one when reading reaches it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file = path.open("rb", buffering=0)
        except OSError as error:
            raise ScannerError(f"cannot read the scans in {path}: {error.strerror}") from None
        self._pipe = not stat.S_ISREG(os.fstat(self._file.fileno()).st_mode)
        self._reading = False

    async def lines(self) -> AsyncIterator[str]:
        """Each scan as its line arrives; the file is closed at its end."""
        self._reading = True
        rest, number = b"", 0
        try:
            async for chunk in self._pipe_chunks() if self._pipe else self._file_chunks():
                *complete, rest = (rest + chunk).split(b"\n")
                for line in complete:
                    number += 1
                    if (text := self._text(line, number)) is not None:
                        yield text
                if len(rest) > MAX_LINE:
                    raise ScannerError(f"{self.path}: line {number + 1} is too long for a scan")
            if (text := self._text(rest, number + 1)) is not None:
                yield text
        finally:
            self._file.close()

    def close(self) -> None:
        """Close the file unless it is being read (its reading closes it as it ends)."""
        if not self._reading:
            self._file.close()

    def _text(self, line: bytes, number: int) -> str | None:
        try:
            text = line.decode("utf-8").removesuffix("\r")
        except UnicodeDecodeError:
            raise ScannerError(f"{self.path}: line {number} is not UTF-8 text") from None
        return unescape_controls(text) if text.strip() else None

    async def _file_chunks(self) -> AsyncIterator[bytes]:
        while chunk := await asyncio.to_thread(self._file.read, CHUNK):
            yield chunk

    async def _pipe_chunks(self) -> AsyncIterator[bytes]:
        """A FIFO, a pipe or a terminal: read as the event loop sees data (a thread blocked on
        a quiet pipe would outlive a Ctrl-C)."""
        reader = asyncio.StreamReader(limit=CHUNK)
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), self._file
        )
        try:
            while chunk := await reader.read(CHUNK):
                yield chunk
        finally:
            transport.close()


class ScriptedScanner:
    """Yields each raw scan in turn, optionally `interval_s` apart, then ends."""

    def __init__(
        self,
        raws: Iterable[str] | ScriptFile,
        *,
        source: str = "script",
        interval_s: float = 0.0,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._script = raws if isinstance(raws, ScriptFile) else iter(raws)
        self.source = source
        self.interval_s = interval_s
        self._clock = clock
        self._closed = False

    async def scans(self) -> AsyncIterator[Scan]:
        script = self._script
        async for raw in script.lines() if isinstance(script, ScriptFile) else _each(script):
            if self._closed:
                return
            if self.interval_s:
                await asyncio.sleep(self.interval_s)
            yield Scan(raw=raw, symbology_id=None, source=self.source, at=self._clock())

    async def aclose(self) -> None:
        self._closed = True
        if isinstance(self._script, ScriptFile):
            self._script.close()


async def _each(raws: Iterator[str]) -> AsyncIterator[str]:
    for raw in raws:
        yield raw
