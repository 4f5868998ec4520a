"""A person at a virtual scanner: scans codes from a thread while the daemon reads them."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from simulators.scanner import VirtualScanner


def typing_thread(scanner: VirtualScanner, raws: Iterable[str]) -> threading.Thread:
    """A thread, not started yet, that scans each of `raws` on `scanner` in turn."""

    def type_each() -> None:
        for raw in raws:
            scanner.type(raw)

    return threading.Thread(target=type_each)
