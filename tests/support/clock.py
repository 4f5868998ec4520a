"""A manual clock: time moves only when a test moves it, so events are ordered without sleeps."""

from __future__ import annotations

import asyncio
import heapq
import itertools

_SETTLE_ROUNDS = 10


class ManualClock:
    """`clock()` reads the time (`now`, which a test may also set); `await clock.sleep(s)`
    returns once `advance` has moved the time `s` on; `await clock.settle()` lets every ready
    task run until it waits again."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), wake))
        await wake

    async def advance(self, seconds: float) -> None:
        """Move the time on by `seconds`, stopping at each sleeper due meanwhile (earliest
        first) to wake it and settle: a periodic task runs once per period."""
        end = self.now + seconds
        while self._sleepers and self._sleepers[0][0] <= end:
            due, _, wake = heapq.heappop(self._sleepers)
            self.now = max(self.now, due)
            if not wake.done():
                wake.set_result(None)
                await self.settle()
        self.now = end
        await self.settle()

    async def settle(self) -> None:
        """Give the event loop a few rounds, so what is ready runs up to its next wait."""
        for _ in range(_SETTLE_ROUNDS):
            await asyncio.sleep(0)
