"""What a line-based scan source tells the operator about its framing events, in one place for
the serial and the keyboard scanners (each with its own advice)."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from serial_io.framing import FrameEvent, Line, Partial, StrayTerminator, TooLong, preview

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class LineAdvice:
    """What the operator should check, per kind of framing trouble, on one kind of source."""

    garbage: str
    too_long: str
    partial: str
    report_stray_terminator: bool = True


def complete_line(
    event: FrameEvent, *, source: str, max_line: int, advice: LineAdvice
) -> Line | None:
    """The line `event` completes, if any; whatever else it says is logged with advice."""
    if isinstance(event, Line):
        if event.garbage:
            log.warning(
                "scanner.garbage", source=source, preview=preview(event.data), advice=advice.garbage
            )
        return event
    if isinstance(event, TooLong):
        log.warning(
            "scanner.line_too_long",
            source=source,
            length=event.length,
            max_line=max_line,
            preview=event.preview,
            advice=advice.too_long,
        )
    elif isinstance(event, Partial):
        log.warning(
            "scanner.partial_line", source=source, preview=event.preview, advice=advice.partial
        )
    elif isinstance(event, StrayTerminator) and advice.report_stray_terminator:
        log.warning("scanner.framing_hint", source=source, advice=event.advice)
    return None
