"""Reading a serial scanner in a task, so a test can wait for its scans."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from scanners.base import Scan
from scanners.serial import SerialScanner, SerialSettings

FAST = {"reconnect_initial_s": 0.02, "reconnect_max_s": 0.1}
"""Reconnect delays short enough for a test."""


class Reader:
    """Consumes a scanner's scans in a task, so a test can wait for them."""

    def __init__(self, scanner: SerialScanner) -> None:
        self.scanner = scanner
        self.scans: list[Scan] = []
        self._arrived = asyncio.Condition()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for scan in self.scanner.scans():
            async with self._arrived:
                self.scans.append(scan)
                self._arrived.notify_all()

    async def wait_for(self, count: int, timeout_s: float = 3.0) -> list[Scan]:
        async with asyncio.timeout(timeout_s), self._arrived:
            await self._arrived.wait_for(lambda: len(self.scans) >= count)
        return self.scans

    async def close(self) -> float:
        """aclose the scanner; the seconds until scans() ended."""
        started = time.monotonic()
        await self.scanner.aclose()
        await asyncio.wait_for(self.task, 1.0)
        return time.monotonic() - started


@contextlib.asynccontextmanager
async def reading(port: str, *, quiet_s: float = 1.0, **settings: object) -> AsyncIterator[Reader]:
    """A scanner on `port` (opened at once: pyserial discards what arrived before it opened),
    read until the block ends."""
    scanner = SerialScanner(SerialSettings(port, **FAST | settings), quiet_s=quiet_s)  # type: ignore[arg-type]
    scanner.open()
    reader = Reader(scanner)
    try:
        yield reader
    finally:
        await reader.close()
