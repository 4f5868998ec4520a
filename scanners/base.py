"""What every scan source yields, and the protocol scan sources keep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Scan:
    """One read of one code, exactly as the device delivered it (AIM prefix and GS kept)."""

    raw: str
    symbology_id: str | None
    source: str
    at: datetime


class Scanner(Protocol):
    """A source of scans: a serial scanner, a camera, a keyboard wedge or a script."""

    def scans(self) -> AsyncIterator[Scan]: ...

    async def aclose(self) -> None: ...


class ScannerError(Exception):
    """A scan source that cannot be opened or read; the message is one line to act on."""
