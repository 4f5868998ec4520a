"""Loading a delivery through a wired daemon while someone scans it, as a site would."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from robot_controller.wiring import Daemon
from tests.support.until import until


@dataclass(frozen=True)
class Loaded:
    """What the daemon's store holds afterwards: raw scans and outcomes by token."""

    scans: dict[int, str]
    outcomes: dict[int, tuple[str, str]]


async def load_while_typing(daemon: Daemon, typist: threading.Thread, packs: int) -> Loaded:
    """Run the daemon while `typist` scans, until `packs` packs are routed (30 s at most);
    then stop it, read its store and close it."""
    stop = asyncio.Event()
    loading = asyncio.create_task(daemon.run(stop))
    typist.start()

    async def all_routed() -> bool:
        return len(await asyncio.to_thread(daemon.store.outcomes)) >= packs

    try:
        await until(all_routed, timeout_s=30, every_s=0.1)
    finally:
        stop.set()
        await loading
        typist.join()
    loaded = Loaded(dict(daemon.store.raw_scans()), daemon.store.outcomes())
    await daemon.aclose()
    return loaded
