"""A supply keyed in by hand is sent by the command itself, at once: a replay running beside it
(a daemon's, in its background) must not send the same intent, or the hub sees the pack
decommissioned twice and raises an alert. The command commits its intent claimed, with its
attempt counted, and releases the claim when it is done."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from fmd.codes.model import PackIdentifier
from fmd.hub import ManualEntry, MockHub, Reason
from fmd.hub.contract import HubResult, HubUnavailable
from fmd.hub.resilient import ResilientHub
from robot_controller.keyed_in import send_keyed_in
from robot_controller.outbox import ReplayReport, replay
from robot_controller.states import IntentStatus
from robot_controller.store import Store
from tests.support.packs import GTIN

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
ENTRY = ManualEntry("GTIN", GTIN, "KEYED1", "B1", "281231")


class ReplayMeanwhile:
    """The hub, at which a replay of the same store runs while our supply is on its way, as a
    daemon's background replay may; `lose` drops the supply's answer after it landed."""

    def __init__(self, store: Store, hub: MockHub, *, lose: bool = False) -> None:
        self.inner = hub.client("ward-7")
        self.store = store
        self.lose = lose
        self.meanwhile: list[ReplayReport] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def manual(
        self, entry: ManualEntry, to: Reason | None = None, *, trx: str | None = None
    ) -> HubResult:
        self.meanwhile.append(await replay(self.store, ResilientHub(self.inner), clock=now))
        answer = await self.inner.manual(entry, to, trx=trx)
        if self.lose:
            raise HubUnavailable("the answer was lost")
        return answer


def now() -> datetime:
    return NOW


def national_system() -> MockHub:
    hub = MockHub(seed=3)
    hub.add_product(GTIN)
    hub.add_batch(GTIN, "B1", date(2028, 12, 31))
    hub.add_pack(PackIdentifier("GTIN", GTIN, "KEYED1", "B1", date(2028, 12, 31), "281231"))
    return hub


def alerts(hub: MockHub) -> list[str]:
    return [t.return_code for t in hub.history(GTIN, "KEYED1") if t.outcome == "alert"]


def sent(reports: Sequence[ReplayReport]) -> int:
    return sum(r.done + r.failed + r.flagged for r in reports)


async def test_a_replay_beside_a_keyed_in_supply_leaves_its_intent_to_the_command(
    store: Store,
) -> None:
    hub = national_system()
    beside = ReplayMeanwhile(store, hub)
    done = await send_keyed_in(store, beside, ENTRY, Reason.SUPPLIED, trx="t-keyed", clock=now)
    assert done.intent is IntentStatus.DONE
    assert sent(beside.meanwhile) == 0
    assert hub.state_changes_by_pack[(GTIN, "KEYED1")] == 1
    assert alerts(hub) == []


async def test_a_keyed_in_supply_whose_answer_is_lost_is_asked_about_by_the_next_replay(
    store: Store,
) -> None:
    hub = national_system()
    beside = ReplayMeanwhile(store, hub, lose=True)
    lost = await send_keyed_in(store, beside, ENTRY, Reason.SUPPLIED, trx="t-lost", clock=now)
    assert lost.intent is IntentStatus.PENDING
    assert sent(beside.meanwhile) == 0
    [intent] = store.pending_intents()
    assert intent.attempts == 1  # counted before it left: the replay asks before it sends

    report = await replay(store, ResilientHub(hub.client("ward-7")), clock=now)
    assert report.done == 1  # its claim released: the replay took it, asked, found it landed
    assert hub.state_changes_by_pack[(GTIN, "KEYED1")] == 1
    assert alerts(hub) == []
