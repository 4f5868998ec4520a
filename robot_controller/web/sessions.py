"""Browser sessions (kept in memory: a restart signs everyone out) and the login rate limit."""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]
"""Seconds on a monotonic clock (injected: tests move it)."""


@dataclass(slots=True)
class Session:
    """One signed-in browser: whose, its CSRF token, and when it began and was last used."""

    id: str
    user_id: int
    csrf: str
    started: float
    last_used: float


@dataclass
class Sessions:
    """The live sessions; one ends when unused for `idle_s`, and every one after `max_s`."""

    idle_s: float
    max_s: float
    clock: Clock
    secure: bool = False  # the cookie is Secure (served over TLS)
    cookie: str = "fmd_session"
    _live: dict[str, Session] = field(default_factory=dict)

    def start(self, user_id: int) -> Session:
        now = self.clock()
        self._expire(now)
        session = Session(secrets.token_urlsafe(32), user_id, secrets.token_urlsafe(32), now, now)
        self._live[session.id] = session
        return session

    def get(self, session_id: str) -> Session | None:
        """The live session of that id, now used (None: unknown or ended)."""
        now = self.clock()
        session = self._live.get(session_id)
        if session is None:
            return None
        if now - session.last_used > self.idle_s or now - session.started > self.max_s:
            del self._live[session_id]
            return None
        session.last_used = now
        return session

    def end(self, session_id: str) -> None:
        self._live.pop(session_id, None)

    def end_all_of(self, user_id: int) -> None:
        for session in [s for s in self._live.values() if s.user_id == user_id]:
            del self._live[session.id]

    def __len__(self) -> int:
        return len(self._live)

    def _expire(self, now: float) -> None:
        for session in list(self._live.values()):
            if now - session.last_used > self.idle_s or now - session.started > self.max_s:
                del self._live[session.id]


@dataclass
class LoginLimit:
    """At most `failures` failed logins per address in any `window_s`; then it waits until
    the oldest of them is that old."""

    failures: int
    clock: Clock
    window_s: float = 60.0
    _failed: dict[str, deque[float]] = field(default_factory=dict)

    def wait_s(self, address: str) -> float:
        """How long `address` must wait before it may try again (0: it may now)."""
        now = self.clock()
        failed = self._recent(address, now)
        if len(failed) < self.failures:
            return 0.0
        return max(0.0, failed[0] + self.window_s - now)

    def failed(self, address: str) -> None:
        self._failed.setdefault(address, deque()).append(self.clock())

    def succeeded(self, address: str) -> None:
        self._failed.pop(address, None)

    def _recent(self, address: str, now: float) -> deque[float]:
        failed = self._failed.get(address)
        if failed is None:
            return deque()
        while failed and now - failed[0] >= self.window_s:
            failed.popleft()
        if not failed:
            del self._failed[address]
        return failed
