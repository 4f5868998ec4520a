"""Warnings where someone must act: once when a condition begins, once when it clears."""

from __future__ import annotations

import contextlib
from datetime import date

from fmd.codes.model import PackIdentifier
from fmd.hub import HubUnavailable, MockHub, PackState
from fmd.hub.resilient import CircuitBreaker, HubHealth, ResilientHub, RetryPolicy
from robot_controller.attention import OutboxWatch, hub_health_warnings
from tests.support.logs import Logs

GTIN = "09506000134352"
PACK = PackIdentifier("GTIN", GTIN, "ATT1", "B1", date(2028, 12, 31), "281231")


class Ticks:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def stocked() -> MockHub:
    hub = MockHub(seed=4)
    hub.add_product(GTIN)
    hub.add_batch(GTIN, "B1", date(2028, 12, 31))
    hub.add_pack(PACK)
    return hub


async def no_wait(_: float) -> None:
    return None


def warnings(logs: Logs) -> list[str]:
    return [str(e["event"]) for e in logs if e["log_level"] == "warning"]


async def test_a_hub_going_away_is_told_once_and_its_return_once_more(logs: Logs) -> None:
    hub, ticks = stocked(), Ticks()
    resilient = ResilientHub(
        hub.client("PH"),
        retry=RetryPolicy(attempts=1),
        breaker=CircuitBreaker(failures=3, cooldown_s=30, clock=ticks),
        sleep=no_wait,
    )
    resilient.on_health = hub_health_warnings(30)
    hub.set_faults(timeout_rate=1.0)
    for _ in range(10):  # three failures open the breaker; the other calls are refused at once
        with contextlib.suppress(HubUnavailable):
            await resilient.verify(PACK)
    assert resilient.health is HubHealth.BREAKER_OPEN
    hub.set_faults(timeout_rate=0.0)
    ticks.now += 31  # the cooldown is over: one trial call goes, and it is answered
    assert (await resilient.verify(PACK)).state is PackState.ACTIVE
    await resilient.verify(PACK)

    assert warnings(logs) == ["hub.unanswered", "hub.breaker_open", "hub.answering"]
    opened = next(e for e in logs if e["event"] == "hub.breaker_open")
    assert "paused for 30 s" in str(opened["detail"])


async def test_a_hub_that_asks_us_to_slow_down_is_told_once(logs: Logs) -> None:
    ticks = Ticks()
    hub = MockHub(seed=4, rate_limit_per_s=1, monotonic=ticks)
    hub.add_product(GTIN)
    hub.add_batch(GTIN, "B1", date(2028, 12, 31))
    hub.add_pack(PACK)
    resilient = ResilientHub(hub.client("PH"), retry=RetryPolicy(attempts=1), sleep=no_wait)
    resilient.on_health = hub_health_warnings(30)
    for _ in range(4):
        await resilient.verify(PACK)  # the first answered, the next three throttled
    ticks.now += 2
    await resilient.verify(PACK)
    assert warnings(logs) == ["hub.throttled", "hub.answering"]


def test_a_growing_outbox_is_told_once_and_its_draining_once(logs: Logs) -> None:
    watch = OutboxWatch(50)
    for pending in (10, 60, 80, 70, 120, 0, 0, 55):
        watch.saw(pending)
    assert warnings(logs) == ["outbox.growing", "outbox.drained", "outbox.growing"]
    first = next(e for e in logs if e["event"] == "outbox.growing")
    assert first["intents"] == 60
