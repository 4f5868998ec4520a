"""Clocks for the hub: real UTC time, or a manual clock for tests and simulations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
"""A callable returning the current time as an aware UTC datetime."""


def utc_now() -> datetime:
    """The real time, in UTC."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self._now

    def advance(self, *, days: float = 0, hours: float = 0, seconds: float = 0) -> datetime:
        """Move forward and return the new time."""
        step = timedelta(days=days, hours=hours, seconds=seconds)
        if step < timedelta(0):
            raise ValueError("a clock does not go backwards")
        self._now += step
        return self._now
