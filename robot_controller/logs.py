"""structlog set-up: JSON events (one per pack step), configured once by the CLI."""

from __future__ import annotations

import logging
from typing import TextIO

import structlog
import structlog.contextvars

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def configure_logging(*, level: str = "info", fmt: str = "json", stream: TextIO) -> None:
    """Send structlog events at or above `level` to `stream`, as JSON lines or for a console."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,  # the pack token, bound once per pack
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    # pymodbus logs every timeout at ERROR on stderr; the robot driver reports what matters.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
