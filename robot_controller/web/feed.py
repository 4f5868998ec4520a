"""The live feed: each routed pack as an event, kept for late joiners, pushed to every listener.

`publish` is called by the pipeline (`on_routed`, on the daemon's event loop) and never waits:
each listener has a bounded queue, and a listener that falls that far behind is dropped (its
stream ends after the last event it was given, with no gap; the browser's EventSource
reconnects with `Last-Event-ID` and is sent what it missed, from the last `keep` events). So a
slow browser never slows the loading. `close` ends every stream (the server stops).
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime

from robot_controller.operator_console import ROUTE_WORDS, instruction
from robot_controller.pipeline import Routed
from robot_controller.texts import Catalogue


@dataclass(frozen=True, slots=True)
class PackEvent:
    """One pack's outcome as the bench shows it (`seq`: the feed's own order, from 1)."""

    seq: int
    at: datetime
    token: int
    route: str
    outcome: str  # the route in words ("shelved", "reject tray", …)
    icon: str
    why: str
    reason: str  # the reason in the bench's words
    instruction: str  # what the person at the bench does with the pack
    flagged: bool
    message: str
    product_name: str  # the hub's name of the product, else the site's ("": neither)
    product_code: str | None
    serial: str | None
    batch: str | None
    expiry: str | None  # ISO date, or the six digits as printed when not a date

    def as_json(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "token": self.token,
            "route": self.route,
            "outcome": self.outcome,
            "icon": self.icon,
            "why": self.why,
            "reason": self.reason,
            "instruction": self.instruction,
            "flagged": self.flagged,
            "message": self.message,
            "product_name": self.product_name,
            "product_code": self.product_code,
            "serial": self.serial,
            "batch": self.batch,
            "expiry": self.expiry,
        }


def pack_event(seq: int, at: datetime, pack: Routed, texts: Catalogue) -> PackEvent:
    icon, outcome, _ = ROUTE_WORDS[pack.route]
    ui = pack.ui
    expiry = None if ui is None else (ui.expiry.isoformat() if ui.expiry else ui.expiry_raw)
    return PackEvent(
        seq=seq,
        at=at,
        token=pack.token,
        route=pack.route.value,
        outcome=outcome,
        icon=icon,
        why=pack.why.value,
        reason=texts.why(pack.why),
        instruction=instruction(pack, texts),
        flagged=pack.flagged,
        message=pack.message,
        product_name=pack.product_name,
        product_code=None if ui is None else ui.product_code,
        serial=None if ui is None else ui.serial,
        batch=None if ui is None else ui.batch,
        expiry=expiry,
    )


class LiveFeed:
    """Routed packs as `PackEvent`s: the last `keep`, the counts by route, and the listeners."""

    def __init__(
        self,
        texts: Catalogue,
        *,
        keep: int = 500,
        backlog: int = 1000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._texts = texts
        self._recent: deque[PackEvent] = deque(maxlen=keep)
        self._backlog = backlog
        self._clock = clock
        self._listeners: set[asyncio.Queue[PackEvent | None]] = set()
        self.counts: Counter[str] = Counter()
        self.flagged = 0
        self.dropped_listeners = 0
        self._closed = False

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def last_seq(self) -> int:
        return self._recent[-1].seq if self._recent else 0

    def publish(self, pack: Routed) -> PackEvent:
        """Record a routed pack and hand it to every listener (never waits)."""
        event = pack_event(self.last_seq + 1, self._clock(), pack, self._texts)
        self._recent.append(event)
        self.counts[event.route] += 1
        self.flagged += event.flagged
        for queue in list(self._listeners):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # too far behind: its stream ends, it reconnects
                self._listeners.discard(queue)
                self.dropped_listeners += 1
                _end(queue)
        return event

    def close(self) -> None:
        """End every listener's stream after what it was given (the server stops); a later
        `follow` is given only the kept events."""
        self._closed = True
        for queue in self._listeners:
            _end(queue)
        self._listeners.clear()

    def recent(self, *, after: int = 0, limit: int | None = None) -> list[PackEvent]:
        """The kept events after seq `after`, oldest first (the last `limit` of them)."""
        events = [e for e in self._recent if e.seq > after]
        return events if limit is None else events[-limit:]

    async def follow(self, *, after: int | None = None) -> AsyncGenerator[PackEvent, None]:
        """Every event from now on (first the kept ones after seq `after`, if given), until the
        listener falls too far behind or the feed is closed."""
        async with aclosing(self.follow_or_quiet(after=after, quiet_s=None)) as events:
            async for event in events:
                if event is not None:
                    yield event

    async def follow_or_quiet(
        self, *, after: int | None = None, quiet_s: float | None
    ) -> AsyncGenerator[PackEvent | None, None]:
        """As `follow`, and None each time `quiet_s` passes without an event (a stream's cue
        for a keep-alive)."""
        queue: asyncio.Queue[PackEvent | None] = asyncio.Queue(self._backlog)
        if self._closed:
            queue.put_nowait(None)
        else:
            self._listeners.add(queue)
        try:
            sent = 0
            if after is not None:
                for event in self.recent(after=after):
                    sent = event.seq
                    yield event
            while True:
                try:
                    async with asyncio.timeout(quiet_s):
                        item = await queue.get()
                except TimeoutError:
                    yield None
                    continue
                if item is None:
                    return
                if item.seq > sent:
                    yield item
        finally:
            self._listeners.discard(queue)


def _end(queue: asyncio.Queue[PackEvent | None]) -> None:
    """End a listener's stream after the events it was given: the ones still queued are
    dropped with it (so it has no gap: it resumes after the last it got)."""
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(None)
