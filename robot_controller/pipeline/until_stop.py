"""Waiting for the next thing a device gives, or for the stop, whichever comes first."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def unless_stopped(next_one: Awaitable[T], stop: asyncio.Event) -> T | None:
    """What `next_one` gives, or None once `stop` is set first (`next_one` is then cancelled)."""
    following = asyncio.ensure_future(next_one)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({following, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if following.done():
        return following.result()
    following.cancel()
    return None
