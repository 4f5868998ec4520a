"""One client connection of the simulated robot: documents in, messages out (with the byte
faults applied), the client's subscriber once it said Hello."""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass, field

_ESCAPE = re.compile(rb"\\x([0-9A-Fa-f]{2})")


def lower_case_escapes(data: bytes) -> bytes:
    """Every `\\xHH` with lower-case hex digits, as the live robot writes ScanCodes."""
    return _ESCAPE.sub(lambda m: b"\\x" + m.group(1).lower(), data)


def raw_control_characters(data: bytes) -> bytes:
    """Every `\\xHH` naming a control character written as that raw byte (not XML 1.0)."""

    def raw(match: re.Match[bytes]) -> bytes:
        code = int(match.group(1), 16)
        return bytes([code]) if code < 0x20 else match.group()

    return _ESCAPE.sub(raw, data)


@dataclass(eq=False)
class Link:
    """A connection: `number` counts from 1 per robot; `subscriber` is the client's Id after
    its HelloRequest (the Destination of robot-initiated messages)."""

    number: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    subscriber: int | None = None
    unanswered_keepalives: set[str] = field(default_factory=set)
    closed: bool = False

    @property
    def greeted(self) -> bool:
        return self.subscriber is not None and not self.closed

    async def send(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, RuntimeError):
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(RuntimeError):
                self.writer.close()
