"""A sliding-window rate limiter, measured on a monotonic clock."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable


class SlidingWindowLimiter:
    """Allows at most `limit` requests per key in any window of `window_s` seconds.

    Refused requests do not count, so a client that backs off gets through again.
    """

    def __init__(self, monotonic: Callable[[], float], window_s: float = 1.0) -> None:
        self._monotonic = monotonic
        self._window_s = window_s
        self._stamps: dict[str, deque[float]] = {}

    def allow(self, key: str, limit: int | None) -> bool:
        """Count one request for `key`; False when it is over the limit (None = no limit)."""
        if limit is None:
            return True
        now = self._monotonic()
        stamps = self._stamps.setdefault(key, deque())
        while stamps and stamps[0] <= now - self._window_s:
            stamps.popleft()
        if len(stamps) >= limit:
            return False
        stamps.append(now)
        return True
