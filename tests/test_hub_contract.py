"""One contract, every backend: the same scenarios give the same answers from MockHub in-process
and from each wire dialect against the simulator.

Backends compare on what the daemon acts on: outcome, pack state, reasons and whether an alert
was raised (REST carries numeric operation codes, so the NMVS code itself is compared only where
the dialect carries it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from fmd.codes.encode import gtin_check_digit
from fmd.codes.model import PackIdentifier
from fmd.hub import BulkItem, HubClient, HubResult, MockHub, PackState, Reason
from fmd.hub.clock import ManualClock
from fmd.hub.rest import RestHubClient
from fmd.hub.soap import SoapHubClient
from simulators.hub import Accounts, HubSimulator, RestEquipment, SoapLogin
from tests.support.packs import GTIN, hub_pack

START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
HERE, THERE = "hospital-pharmacy-1", "other-pharmacy"
OTHER_GTIN = "0400638133393" + gtin_check_digit("0400638133393")
WITHDRAWN_GTIN = "0871234567890" + gtin_check_digit("0871234567890")


@dataclass
class Backend:
    """A hub to arrange (master data, clock) and clients that reach it the backend's way."""

    name: str
    hub: MockHub
    clock: ManualClock
    client: Callable[[str], HubClient]
    carries_nmvs_codes: bool


def arrange(hub: MockHub) -> None:
    hub.add_product(GTIN)
    hub.add_product(OTHER_GTIN)
    hub.add_product(WITHDRAWN_GTIN)
    hub.add_batch(GTIN, "B1", date(2028, 12, 31))
    hub.add_batch(GTIN, "B2", date(2029, 6, 30))
    hub.add_batch(GTIN, "OLD", date(2026, 1, 31))
    hub.add_batch(OTHER_GTIN, "R1", date(2028, 12, 31))
    hub.add_batch(WITHDRAWN_GTIN, "W1", date(2028, 12, 31))
    for serial in ("A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8", "BULK1", "BULK2"):
        hub.add_pack(hub_pack(serial))
    hub.add_pack(hub_pack("OLD1", batch="OLD", expiry_raw="260131"))
    hub.add_pack(hub_pack("R1", batch="R1", product=OTHER_GTIN))
    hub.add_pack(hub_pack("W1", batch="W1", product=WITHDRAWN_GTIN))
    hub.recall_batch(OTHER_GTIN, "R1")
    hub.withdraw_product(WITHDRAWN_GTIN)


ACCOUNTS = Accounts(
    soap=tuple(SoapLogin(f"LOGIN{i}", f"user{i}", f"password-{i}", place)
               for i, place in enumerate((HERE, THERE))),
    rest=tuple(RestEquipment(f"equipment-{i}", f"secret-{i}", place)
               for i, place in enumerate((HERE, THERE))),
)  # fmt: skip


@pytest.fixture(params=["mock", "soap", "rest"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    clock = ManualClock(START)
    hub = MockHub(clock, seed=5)
    arrange(hub)
    if request.param == "mock":
        yield Backend("mock", hub, clock, hub.client, carries_nmvs_codes=True)
        return
    with HubSimulator(hub, dialects=(request.param,), accounts=ACCOUNTS) as sim:
        clients: dict[str, SoapHubClient | RestHubClient] = {}

        def client(location: str) -> HubClient:
            if location not in clients:
                clients[location] = sim.client(account=(HERE, THERE).index(location))
            return clients[location]

        yield Backend(request.param, hub, clock, client, carries_nmvs_codes=request.param == "soap")
        for opened in clients.values():
            await opened.aclose()


@dataclass(frozen=True)
class Seen:
    outcome: str
    state: PackState
    reasons: tuple[Reason, ...]
    alert: bool


def seen(result: HubResult) -> Seen:
    return Seen(result.outcome, result.state, result.reasons, result.alert_id is not None)


OK_ACTIVE = Seen("ok", PackState.ACTIVE, (), False)
SUPPLIED = Seen("ok", PackState.INACTIVE, (Reason.SUPPLIED,), False)


def code(backend: Backend, result: HubResult, expected: str) -> None:
    if backend.carries_nmvs_codes:
        assert result.return_code == expected


async def test_an_active_pack_verifies(backend: Backend) -> None:
    result = await backend.client(HERE).verify(hub_pack("A1"))
    assert seen(result) == OK_ACTIVE
    code(backend, result, "NMVS_SUCCESS")


@pytest.mark.parametrize(
    ("ui", "expected", "nmvs"),
    [
        (hub_pack("ZZ9", product="0" + "1234567890128"),
         Seen("refused", PackState.UNKNOWN, (), False), "NMVS_NC_PC_01"),
        (hub_pack("NOPE"), Seen("alert", PackState.UNKNOWN, (), True), "NMVS_NC_PC_02"),
        (hub_pack("A1", batch="B9"), Seen("alert", PackState.UNKNOWN, (), True), "NMVS_FE_LOT_03"),
        (hub_pack("A1", batch="B2", expiry_raw="290630"), None, "NMVS_FE_LOT_13"),
        (hub_pack("A1", expiry_raw="281130"), None, "NMVS_FE_LOT_12"),
    ],
)  # fmt: skip
async def test_a_pack_the_system_does_not_know_as_scanned_is_refused_or_alerts(
    backend: Backend, ui: PackIdentifier, expected: Seen | None, nmvs: str
) -> None:
    result = await backend.client(HERE).verify(ui)
    if expected is not None:
        assert seen(result) == expected
    assert result.alert_id is not None or nmvs == "NMVS_NC_PC_01"
    code(backend, result, nmvs)


@pytest.mark.parametrize(
    ("ui", "reason", "nmvs"),
    [
        (hub_pack("R1", batch="R1", product=OTHER_GTIN), Reason.RECALLED, "NMVS_FE_LOT_01"),
        (hub_pack("W1", batch="W1", product=WITHDRAWN_GTIN), Reason.WITHDRAWN, "NMVS_FE_LOT_08"),
        (hub_pack("OLD1", batch="OLD", expiry_raw="260131"), Reason.EXPIRED, "NMVS_NC_PCK_02"),
    ],
)
async def test_recalled_withdrawn_and_expired_packs_are_refused_without_alert(
    backend: Backend, ui: PackIdentifier, reason: Reason, nmvs: str
) -> None:
    for call in (
        backend.client(HERE).verify(ui),
        backend.client(HERE).decommission(ui, Reason.SUPPLIED),
    ):
        result = await call
        assert result.outcome == "refused"
        assert result.state is PackState.INACTIVE
        assert reason in result.reasons
        assert result.alert_id is None
        code(backend, result, nmvs)


async def test_supply_then_a_second_supply_elsewhere_raises_an_alert(backend: Backend) -> None:
    first = await backend.client(HERE).decommission(hub_pack("A2"), Reason.SUPPLIED)
    assert seen(first) == SUPPLIED
    again = await backend.client(THERE).decommission(hub_pack("A2"), Reason.SUPPLIED)
    assert (again.outcome, again.alert_id is not None) == ("alert", True)
    code(backend, again, "NMVS_NC_PCK_22")
    assert backend.hub.state_changes_by_pack[(GTIN, "A2")] == 1


async def test_the_same_transaction_id_twice_applies_once(backend: Backend) -> None:
    client = backend.client(HERE)
    first = await client.decommission(hub_pack("A3"), Reason.SUPPLIED, trx="retry-1")
    second = await client.decommission(hub_pack("A3"), Reason.SUPPLIED, trx="retry-1")
    assert seen(first) == seen(second) == SUPPLIED
    assert backend.hub.state_changes_by_pack[(GTIN, "A3")] == 1


async def test_undo_at_the_same_place_within_ten_days_reactivates(backend: Backend) -> None:
    client = backend.client(HERE)
    await client.decommission(hub_pack("A4"), Reason.SUPPLIED)
    backend.clock.advance(days=9, hours=23)
    result = await client.undo(hub_pack("A4"), Reason.SUPPLIED)
    assert seen(result) == OK_ACTIVE


@pytest.mark.parametrize(
    ("where", "days", "nmvs"),
    [(THERE, 1, "NMVS_NC_PCK_21"), (HERE, 10.5, "NMVS_NC_PCK_20")],
    ids=["another-location", "after-ten-days"],
)
async def test_undo_outside_article_13_raises_an_alert(
    backend: Backend, where: str, days: float, nmvs: str
) -> None:
    await backend.client(HERE).decommission(hub_pack("A5"), Reason.SUPPLIED)
    backend.clock.advance(days=days)
    result = await backend.client(where).undo(hub_pack("A5"), Reason.SUPPLIED)
    assert (result.outcome, result.alert_id is not None) == ("alert", True)
    assert result.state is PackState.INACTIVE
    code(backend, result, nmvs)


async def test_undo_of_a_state_the_pack_is_not_in_raises_an_alert(backend: Backend) -> None:
    result = await backend.client(HERE).undo(hub_pack("A6"), Reason.SUPPLIED)
    assert (result.outcome, result.alert_id is not None) == ("alert", True)
    code(backend, result, "NMVS_NC_PCK_06")


async def test_a_lock_can_be_undone_without_a_time_limit(backend: Backend) -> None:
    client = backend.client(HERE)
    locked = await client.decommission(hub_pack("A7"), Reason.LOCKED)
    assert locked.reasons == (Reason.LOCKED,)
    backend.clock.advance(days=60)
    assert seen(await client.undo(hub_pack("A7"), Reason.LOCKED)) == OK_ACTIVE


async def test_stolen_is_never_undone(backend: Backend) -> None:
    client = backend.client(HERE)
    await client.decommission(hub_pack("A8"), Reason.STOLEN)
    result = await client.undo(hub_pack("A8"), Reason.STOLEN)
    assert result.outcome == "refused"
    assert result.reasons == (Reason.STOLEN,)


async def test_bulk_answers_each_pack_in_order(backend: Backend) -> None:
    items = [
        BulkItem(hub_pack("BULK1"), "decommission", Reason.SUPPLIED),
        BulkItem(hub_pack("NOPE2")),
        BulkItem(hub_pack("BULK2")),
    ]
    answer = await backend.client(HERE).bulk(items)
    assert [r.outcome for r in answer.results] == ["ok", "alert", "ok"]
    assert answer.results[0].reasons == (Reason.SUPPLIED,)
    assert answer.hub_trx_id


async def test_the_hub_answers_a_ping(backend: Backend) -> None:
    await backend.client(HERE).ping()
