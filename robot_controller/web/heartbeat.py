"""How long since the robot's heartbeat counter last changed, as the screens see it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HeartbeatAge:
    """The counter's value, the seconds since it last changed (None: not seen changing yet)
    and how long it has been watched."""

    value: int
    age_s: float | None
    watched_s: float


class HeartbeatWatch:
    """Keeps the last heartbeat value seen and when it changed (on `clock`, monotonic)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._value: int | None = None
        self._first_at: float | None = None
        self._changed_at: float | None = None

    def observe(self, value: int) -> HeartbeatAge:
        """Note the value read now; its age is counted from the first change seen."""
        now = self.clock()
        if self._value is None or self._first_at is None:
            self._first_at = now
        elif value != self._value:
            self._changed_at = now
        self._value = value
        age = None if self._changed_at is None else now - self._changed_at
        return HeartbeatAge(value, age, now - self._first_at)
