"""A scanner that replays a script of raw scans: for demos, tests and benchmarks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime

from scanners.base import Scan


def _now() -> datetime:
    return datetime.now(UTC)


class ScriptedScanner:
    """Yields each raw scan in turn, optionally `interval_s` apart, then ends."""

    def __init__(
        self,
        raws: Iterable[str],
        *,
        source: str = "script",
        interval_s: float = 0.0,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._raws = iter(raws)
        self.source = source
        self.interval_s = interval_s
        self._clock = clock
        self._closed = False

    async def scans(self) -> AsyncIterator[Scan]:
        for raw in self._raws:
            if self._closed:
                return
            if self.interval_s:
                await asyncio.sleep(self.interval_s)
            yield Scan(raw=raw, symbology_id=None, source=self.source, at=self._clock())

    async def aclose(self) -> None:
        self._closed = True
