"""A scan source the test feeds one scan at a time, as an operator at the bench would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from scanners.base import Scan


class FedScanner:
    """Yields each raw scan `put()` into it, until `end()`."""

    source = "bench"

    def __init__(self) -> None:
        self._raws: asyncio.Queue[str | None] = asyncio.Queue()

    @classmethod
    def of(cls, raws: list[str]) -> FedScanner:
        """A scanner fed `raws` and ended."""
        scanner = cls()
        scanner.put(*raws)
        scanner.end()
        return scanner

    def put(self, *raws: str) -> None:
        for raw in raws:
            self._raws.put_nowait(raw)

    def end(self) -> None:
        self._raws.put_nowait(None)

    async def scans(self) -> AsyncIterator[Scan]:
        while (raw := await self._raws.get()) is not None:
            yield Scan(raw=raw, symbology_id=None, source=self.source, at=datetime.now(UTC))

    async def aclose(self) -> None:
        self.end()
