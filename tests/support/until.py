"""Waiting for a condition that other tasks or threads bring about."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


async def until(
    predicate: Callable[[], bool] | Callable[[], Awaitable[bool]],
    *,
    timeout_s: float = 3.0,
    every_s: float = 0.01,
) -> None:
    """Return once `predicate()` (awaited if it is a coroutine function) is true, checking it
    every `every_s`; raise TimeoutError when it is still false after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = predicate()
        if inspect.isawaitable(answer):
            answer = await answer
        if answer:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true within {timeout_s} s: {predicate}")
        await asyncio.sleep(every_s)
