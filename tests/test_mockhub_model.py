"""MockHub agrees with a small, independent model of the NMVS rules over random sessions."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from fmd.codes.model import PackIdentifier
from fmd.hub import HubResult, MockHub, PackState, Reason
from fmd.hub.clock import ManualClock
from fmd.hub.markets import MARKETS

START = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
GTIN = "04006381333931"
EXPIRY = {"LONG": date(2026, 6, 30), "SHORT": date(2025, 3, 20), "RECALLABLE": date(2026, 6, 30)}
PACKS = {"P0": "LONG", "P1": "SHORT", "P2": "RECALLABLE"}
LOCATIONS = ("PH-A", "PH-B")
PACK_REASONS = (
    Reason.SUPPLIED,
    Reason.DESTROYED,
    Reason.LOCKED,
    Reason.EXPORTED,
    Reason.SAMPLE,
    Reason.FREE_SAMPLE,
    Reason.STOLEN,
    Reason.CHECKED_OUT,
)


@dataclass
class ModelPack:
    """The model's view of one pack: its own reason, who set it and when."""

    batch: str
    reason: Reason | None = None
    location: str = ""
    at: datetime | None = None
    resupplies: int = 0


Expected = tuple[str, str]  # (return code, outcome)

RESUPPLY_ALERT_AT = {"strict": 1, "fi": 3}
"""The attempt of the same location's re-supply that alerts first, per market."""


class Model:
    """The rules as the brief states them, written without looking at the implementation."""

    def __init__(self) -> None:
        self.now = START
        self.recalled = False
        self.packs = {serial: ModelPack(batch) for serial, batch in PACKS.items()}
        self.changes = 0
        self.resupply_alert_at = RESUPPLY_ALERT_AT["strict"]

    def reasons(self, pack: ModelPack) -> tuple[Reason, ...]:
        own = (pack.reason,) if pack.reason else ()
        recalled = (Reason.RECALLED,) if self.recalled and pack.batch == "RECALLABLE" else ()
        expired = (Reason.EXPIRED,) if EXPIRY[pack.batch] < self.now.date() else ()
        return own + recalled + expired

    def blocking_code(self, pack: ModelPack) -> str | None:
        if self.recalled and pack.batch == "RECALLABLE":
            return "NMVS_FE_LOT_01"
        if EXPIRY[pack.batch] < self.now.date():
            return "NMVS_NC_PCK_02"
        return None

    def verify(self, pack: ModelPack) -> Expected:
        blocked = self.blocking_code(pack)
        return (blocked, "refused") if blocked else ("NMVS_SUCCESS", "ok")

    def decommission(self, pack: ModelPack, location: str, reason: Reason) -> Expected:
        blocked = self.blocking_code(pack)
        if pack.reason is not None:
            if blocked:
                return "NMVS_NC_PCK_22", "refused"
            if pack.reason is reason is Reason.SUPPLIED and pack.location == location:
                pack.resupplies += 1
                alerts = pack.resupplies >= self.resupply_alert_at
                return "NMVS_NC_PCK_22", "alert" if alerts else "refused"
            return "NMVS_NC_PCK_22", "alert"
        if blocked:
            return blocked, "refused"
        pack.reason, pack.location, pack.at, pack.resupplies = reason, location, self.now, 0
        self.changes += 1
        return "NMVS_SUCCESS", "ok"

    def undo(self, pack: ModelPack, location: str, reason: Reason) -> Expected:
        blocked = self.blocking_code(pack)
        if blocked:
            return blocked, "refused"
        if pack.reason is not reason:
            return "NMVS_NC_PCK_06", "alert"
        if reason in (Reason.STOLEN, Reason.DESTROYED):
            return "NMVS_NC_PCK_27", "refused"
        if pack.location != location:
            return "NMVS_NC_PCK_21", "alert"
        assert pack.at is not None
        if reason is not Reason.LOCKED and self.now - pack.at > timedelta(days=10):
            return "NMVS_NC_PCK_20", "alert"
        pack.reason, pack.location, pack.at, pack.resupplies = None, "", None, 0
        self.changes += 1
        return "NMVS_SUCCESS", "ok"


def identifier(serial: str) -> PackIdentifier:
    expiry = EXPIRY[PACKS[serial]]
    return PackIdentifier("GTIN", GTIN, serial, PACKS[serial], expiry, expiry.strftime("%y%m%d"))


serials = st.sampled_from(sorted(PACKS))
locations = st.sampled_from(LOCATIONS)
reasons = st.one_of(st.just(Reason.SUPPLIED), st.sampled_from(PACK_REASONS))


class MockHubMatchesModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = ManualClock(START)
        self.hub = MockHub(self.clock)
        self.hub.add_product(GTIN)
        for batch, expiry in EXPIRY.items():
            self.hub.add_batch(GTIN, batch, expiry)
        for serial in PACKS:
            self.hub.add_pack(identifier(serial))
        self.clients = {location: self.hub.client(location) for location in LOCATIONS}
        self.model = Model()

    @initialize(market=st.sampled_from(sorted(RESUPPLY_ALERT_AT)))
    def choose_market(self, market: str) -> None:
        self.hub.market = MARKETS[market]
        self.model.resupply_alert_at = RESUPPLY_ALERT_AT[market]

    def teardown(self) -> None:
        self.loop.close()

    def check(self, serial: str, result: HubResult, expected: Expected) -> None:
        pack = self.model.packs[serial]
        reasons = self.model.reasons(pack)
        state = PackState.INACTIVE if reasons else PackState.ACTIVE
        assert (result.return_code, result.outcome) == expected, result.message
        assert (result.state, result.reasons) == (state, reasons)
        assert (result.alert_id is not None) == (expected[1] == "alert")
        assert self.hub.pack_state(GTIN, serial) == (state, reasons)

    @rule(serial=serials, location=locations)
    def verify(self, serial: str, location: str) -> None:
        result = self.loop.run_until_complete(self.clients[location].verify(identifier(serial)))
        self.check(serial, result, self.model.verify(self.model.packs[serial]))

    @rule(serial=serials, location=locations, reason=reasons)
    def decommission(self, serial: str, location: str, reason: Reason) -> None:
        client = self.clients[location]
        result = self.loop.run_until_complete(client.decommission(identifier(serial), reason))
        expected = self.model.decommission(self.model.packs[serial], location, reason)
        self.check(serial, result, expected)

    @rule(serial=serials, location=locations, reason=reasons)
    def undo(self, serial: str, location: str, reason: Reason) -> None:
        result = self.loop.run_until_complete(
            self.clients[location].undo(identifier(serial), reason)
        )
        self.check(serial, result, self.model.undo(self.model.packs[serial], location, reason))

    @rule(days=st.integers(0, 6), hours=st.integers(0, 23))
    def advance_clock(self, days: int, hours: int) -> None:
        self.clock.advance(days=days, hours=hours)
        self.model.now = self.clock()

    @precondition(lambda self: any(p.at for p in self.model.packs.values()))
    @rule(data=st.data(), offset_s=st.sampled_from([-1, 0, 1, 3600]))
    def advance_to_undo_deadline(self, data: st.DataObject, offset_s: int) -> None:
        """Move to just before, at or after a pack's 240 h undo deadline."""
        decommissioned = sorted(s for s, p in self.model.packs.items() if p.at is not None)
        at = self.model.packs[data.draw(st.sampled_from(decommissioned))].at
        assert at is not None
        target = at + timedelta(hours=240, seconds=offset_s)
        if target > self.clock():
            self.clock.advance(seconds=(target - self.clock()).total_seconds())
            self.model.now = self.clock()

    @precondition(lambda self: not self.model.recalled)
    @rule()
    def recall(self) -> None:
        self.hub.recall_batch(GTIN, "RECALLABLE")
        self.model.recalled = True

    @invariant()
    def state_changes_agree(self) -> None:
        assert self.hub.state_changes == self.model.changes


MockHubMatchesModel.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None
)
test_mockhub_matches_the_reference_model = MockHubMatchesModel.TestCase
