"""Warnings where someone must act: one line when a condition begins, one when it clears.

Each episode is told once, at warning level, with what to do; the line that says it is over is
a warning too, so whoever watches warnings sees both ends. Loading paused by the robot is told
by `pipeline.robot_turn` (`loading.paused` / `loading.resumed`), a lost scanner by its source
(`scanner.disconnected` / `scanner.reconnected`). A flagged pack whose undo window ends within
24 h is told by `UndoDeadlineWatch`, fed by `pipeline.background`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Final

import structlog

from fmd.hub.resilient import HubHealth
from robot_controller.pack_rules import time_left

log = structlog.get_logger("fmd.attention")

HUB_ADVICE: Final = {
    HubHealth.UNANSWERED: (
        "the national system does not answer: packs go where the offline policy sends them "
        "(quarantine by default, as hub-unavailable) and their checks wait in the outbox; "
        "check the network and the national system's status"
    ),
    HubHealth.BREAKER_OPEN: (
        "the national system failed too often: calls are paused for {cooldown:g} s, then one "
        "trial call; meanwhile packs go where the offline policy sends them and their checks "
        "wait in the outbox"
    ),
    HubHealth.THROTTLED: (
        "the national system asks us to slow down (rate limited): calls are paced and what "
        "could not be sent waits in the outbox"
    ),
}
ANSWERING_AGAIN: Final = (
    "the national system answers again: what waits in the outbox is sent in the background"
)
OUTBOX_GROWING: Final = (
    "checks and state changes are waiting for the national system and their number grows: "
    "they are sent in the background once it answers (`fmd-robot outbox status` shows them)"
)


def hub_health_warnings(cooldown_s: float) -> Callable[[HubHealth, str], None]:
    """What to tell when the hub's health changes (for `ResilientHub.on_health`)."""

    def told(health: HubHealth, cause: str) -> None:
        if health is HubHealth.ANSWERING:
            log.warning("hub.answering", detail=ANSWERING_AGAIN)
        else:
            advice = HUB_ADVICE[health].format(cooldown=cooldown_s)
            log.warning(f"hub.{health.value.replace('-', '_')}", cause=cause, detail=advice)

    return told


UNDO_SOON: Final = (
    "decommissioned at the hub but not shelved, and the 240 h in which this site may undo it "
    "(Art. 13) end in {left}, at {deadline:%Y-%m-%d %H:%M} UTC: find the pack and undo it "
    "(`fmd-robot outbox undo {token} --reason TEXT --actor NAME`), or it never returns to stock"
)


class UndoDeadlineWatch:
    """Warns once per pack whose undo deadline comes near (`pack_rules.undo_deadlines_due`);
    says so when the pack is no longer due: undone (or settled), or its window passed."""

    def __init__(self) -> None:
        self.told: dict[int, datetime] = {}

    def saw(self, due: Mapping[int, datetime], now: datetime) -> None:
        """These packs' undo deadlines (token → deadline) come near, as of `now`."""
        for token, deadline in due.items():
            if token not in self.told:
                left = time_left(deadline, now)
                detail = UNDO_SOON.format(left=left, deadline=deadline, token=token)
                log.warning("pack.undo_deadline", token=token, deadline=deadline.isoformat(),
                            detail=detail)  # fmt: skip
        for token, deadline in list(self.told.items()):
            if token in due:
                continue
            if now >= deadline:
                log.warning("pack.undo_window_passed", token=token,
                            detail="its decommission can no longer be undone (Art. 13): the "
                            "pack must not return to saleable stock")  # fmt: skip
            else:
                log.warning("pack.undo_deadline_cleared", token=token,
                            detail="its decommission was undone, or needs no undo now")  # fmt: skip
        self.told = dict(due)


class OutboxWatch:
    """Warns once when the outbox holds at least `warn_at` intents and is growing; says so
    again when it has drained."""

    def __init__(self, warn_at: int) -> None:
        self.warn_at = warn_at
        self.warned = False
        self._last = 0

    def saw(self, pending: int) -> None:
        """The outbox now holds `pending` intents."""
        if not self.warned and pending >= self.warn_at and pending > self._last:
            log.warning("outbox.growing", intents=pending, detail=OUTBOX_GROWING)
            self.warned = True
        elif self.warned and pending == 0:
            log.warning("outbox.drained", detail="every check and change reached the hub")
            self.warned = False
        self._last = pending
