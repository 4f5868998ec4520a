"""What a line-based scan source tells the operator about garbage: one warning per burst, with a
count, the first bytes escaped and what to check; never a line per byte or per fragment."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from scanners.scan_text import Garbage, shown

log = structlog.get_logger(__name__)

QUIET_S = 1.0
"""A burst of garbage ends after this long without more of it."""
LONGEST_S = 60.0
"""Garbage that never stops is reported at least this often, each report a burst of its own."""


@dataclass(frozen=True, slots=True)
class LineAdvice:
    """What the operator should check on one kind of source: when garbage arrives, and when a
    scan was cut off; whether a line end other than the suffix is pointed out."""

    check: str
    partial: str
    report_stray_terminator: bool = True


class GarbageBursts:
    """Collects garbage into bursts and logs one `scanner.garbage` warning per burst: when the
    burst has been quiet for `quiet_s` (`report_if_quiet`), when a scan arrives or the source
    ends (`report`), or once it has lasted `longest_s`."""

    def __init__(
        self,
        source: str,
        check: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        quiet_s: float = QUIET_S,
        longest_s: float = LONGEST_S,
    ) -> None:
        self.source = source
        self.check = check
        self.bursts = 0
        self._clock = clock
        self._quiet_s = quiet_s
        self._longest_s = longest_s
        self._reasons: Counter[Garbage] = Counter()
        self._bytes = 0
        self._first = b""
        self._started = self._last = 0.0

    @property
    def open(self) -> bool:
        """Garbage has arrived that is not reported yet."""
        return bool(self._reasons)

    def add(self, why: Garbage, data: bytes, size: int | None = None) -> None:
        """Count one piece of garbage (`size` bytes, `len(data)` unless given)."""
        now = self._clock()
        if self.open and now - self._started >= self._longest_s:
            self.report()
        if not self.open:
            self._first, self._started = data, now
        self._reasons[why] += 1
        self._bytes += len(data) if size is None else size
        self._last = now

    def quiet_in(self) -> float | None:
        """Seconds until the open burst counts as ended; None when none is open."""
        if not self.open:
            return None
        return max(0.0, self._last + self._quiet_s - self._clock())

    def report_if_quiet(self) -> None:
        """Report the open burst if no garbage has come for `quiet_s`."""
        if self.quiet_in() == 0.0:
            self.report()

    def report(self) -> None:
        """Log the open burst, if any, and start afresh."""
        if not self.open:
            return
        why = ", ".join(f"{reason}: {count}" for reason, count in self._reasons.most_common())
        log.warning(
            "scanner.garbage",
            source=self.source,
            count=self._reasons.total(),
            bytes=self._bytes,
            why=why,
            first_bytes=shown(self._first),
            advice=self.check,
        )
        self.bursts += 1
        self._reasons.clear()
        self._bytes = 0
