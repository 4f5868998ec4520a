"""The bytes of a line-based scan source (a serial port, a keyboard wedge) turned into the text
of each scan: lines framed at the suffix, judged by `scanners.scan_text`, garbage reported in
bursts by `scanners.line_report`. Garbage never becomes a scan."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from scanners.line_report import QUIET_S, GarbageBursts, LineAdvice
from scanners.scan_text import Garbage, code_after_noise, is_text, scan_text, shown
from serial_io.framing import FrameEvent, Line, LineFramer, Partial, StrayTerminator, TooLong

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class LineStats:
    """Counters for a diagnostic command: scans delivered (`lines`), pieces of garbage dropped
    (of which `too_long` lines past the framer's bound), lines cut off (`partial`)."""

    lines: int = 0
    garbage: int = 0
    too_long: int = 0
    partial: int = 0


class ScanLines:
    """Cuts a source's bytes into lines and keeps those a code reader could have sent."""

    def __init__(
        self,
        framer: LineFramer,
        *,
        source: str,
        encoding: str,
        advice: LineAdvice,
        stats: LineStats,
        gs_substitute: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        quiet_s: float = QUIET_S,
    ) -> None:
        self.source = source
        self.stats = stats
        self._framer = framer
        self._encoding = encoding
        self._advice = advice
        self._gs_substitute = gs_substitute
        self._garbage = GarbageBursts(source, advice.check, clock=clock, quiet_s=quiet_s)
        self._hints: list[StrayTerminator] = []  # held until a line shows they are not noise

    @property
    def bursts(self) -> int:
        """How many garbage warnings have been logged."""
        return self._garbage.bursts

    def feed(self, data: bytes) -> list[str]:
        """Take the next bytes; the text of each scan they complete, in order."""
        return [text for event in self._framer.feed(data) if (text := self._on(event)) is not None]

    def flush(self) -> None:
        """The source dropped or ended: report what was cut off and any open burst."""
        partial = self._framer.flush()
        if partial is not None:
            self._on(partial)
        self._drop_hints()
        self._garbage.report()

    def quiet_in(self) -> float | None:
        """Seconds until an open burst of garbage is due to be reported; None when none is."""
        return self._garbage.quiet_in()

    def report_if_quiet(self) -> None:
        """Report a burst of garbage that has been quiet long enough."""
        self._garbage.report_if_quiet()

    # -- one framing event -----------------------------------------------------------------------

    def _on(self, event: FrameEvent) -> str | None:
        if isinstance(event, Line):
            return self._line(event.data)
        if isinstance(event, TooLong):
            self.stats.too_long += 1
            self._add(Garbage.TOO_LONG, event.head, event.length)
            self._settle_hints(self._text_like(event.head.translate(None, b"\r\n")))
        elif isinstance(event, Partial):
            self._cut_off(event.data)
        elif self._advice.report_stray_terminator:
            self._hints.append(event)
        return None

    def _line(self, data: bytes) -> str | None:
        text = scan_text(data, self._encoding, gs_substitute=self._gs_substitute)
        if not isinstance(text, Garbage):
            return self._scan(text)
        salvaged = code_after_noise(data, self._encoding, gs_substitute=self._gs_substitute)
        if salvaged is None:
            self._add(text, data)
            self._settle_hints(False)
            return None
        noise, code = salvaged
        self._add(text, noise)
        return self._scan(code)

    def _scan(self, text: str) -> str:
        self._settle_hints(True)
        self._garbage.report()
        self.stats.lines += 1
        return text

    def _cut_off(self, data: bytes) -> None:
        self.stats.partial += 1
        if not self._text_like(data):
            self._add(Garbage.CUT_OFF, data)
            return
        log.warning(
            "scanner.partial_line",
            source=self.source,
            first_bytes=shown(data),
            advice=self._advice.partial,
        )

    def _text_like(self, data: bytes) -> bool:
        return is_text(data, self._encoding, gs_substitute=self._gs_substitute)

    def _settle_hints(self, genuine: bool) -> None:
        """Log the held line-end hints when the line they came with is a scan; otherwise they
        were noise: count them as garbage and let the framer hint again."""
        if not genuine:
            self._drop_hints(count=True)
            return
        for hint in self._hints:
            log.warning("scanner.framing_hint", source=self.source, advice=hint.advice)
        self._hints.clear()

    def _drop_hints(self, *, count: bool = False) -> None:
        for hint in self._hints:
            self._framer.rearm_hint(hint.suggested)
            if count:
                self._add(Garbage.STRAY_LINE_END, b"", 0)
        self._hints.clear()

    def _add(self, why: Garbage, data: bytes, size: int | None = None) -> None:
        self.stats.garbage += 1
        self._garbage.add(why, data, size)
