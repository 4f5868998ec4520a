"""MockHub behaves as an Arvato NMVS: return codes, Art. 13 undo, markets, trx ids, faults."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest

from fmd.codes.model import PackIdentifier, Scheme
from fmd.hub import (
    BulkItem,
    HubClient,
    HubResult,
    HubUnavailable,
    ManualEntry,
    MockHub,
    PackState,
    Reason,
)
from fmd.hub.clock import ManualClock
from fmd.hub.markets import MARKETS, MarketProfile
from fmd.hub.mock import MockHubClient
from tests.support.packs import hub_pack

START = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
GTIN_A = "04006381333931"
GTIN_B = "05012345678900"
GTIN_UNKNOWN = "08712345678906"
PPN = "110375286414"
BATCHES = {"B1": date(2026, 12, 31), "B2": date(2027, 6, 30), "SHORT": date(2025, 3, 10)}
PACK_LEVEL = [
    Reason.SUPPLIED,
    Reason.DESTROYED,
    Reason.LOCKED,
    Reason.EXPORTED,
    Reason.SAMPLE,
    Reason.FREE_SAMPLE,
    Reason.STOLEN,
    Reason.CHECKED_OUT,
]


def raw(d: date) -> str:
    return d.strftime("%y%m%d")


def ui(
    serial: str,
    batch: str = "B1",
    expiry_raw: str | None = None,
    *,
    product: str = GTIN_A,
    scheme: Scheme = "GTIN",
    nhrn: str | None = None,
) -> PackIdentifier:
    printed = expiry_raw or raw(BATCHES.get(batch, date(2026, 12, 31)))
    return hub_pack(serial, batch, printed, product=product, scheme=scheme, nhrn=nhrn)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def hub(clock: ManualClock) -> MockHub:
    hub = MockHub(clock, seed=7)
    hub.add_product(GTIN_A, name="Paracetamol 500 mg 20 tabs")
    hub.add_product(GTIN_B)
    for batch, expiry in BATCHES.items():
        hub.add_batch(GTIN_A, batch, expiry)
    for serial in ("S1", "S2", "S3"):
        hub.add_pack(ui(serial))
    hub.add_pack(ui("S4", "B2"))
    hub.add_pack(ui("X1", "SHORT"))
    return hub


@pytest.fixture
def a(hub: MockHub) -> HubClient:
    return hub.client("PH-A", "alice")


@pytest.fixture
def b(hub: MockHub) -> HubClient:
    return hub.client("PH-B", "bob")


def assert_no_alert(result: HubResult) -> None:
    assert result.alert_id is None
    assert not result.alert


# -- verify ----------------------------------------------------------------------------------------


async def test_verify_of_active_pack_succeeds_with_state_active(a: HubClient) -> None:
    result = await a.verify(ui("S1"))
    assert (result.return_code, result.outcome) == ("NMVS_SUCCESS", "ok")
    assert result.state is PackState.ACTIVE
    assert result.reasons == ()
    assert_no_alert(result)


async def test_verify_of_supplied_pack_succeeds_with_inactive_and_reason_without_alert(
    a: HubClient, b: HubClient
) -> None:
    await a.decommission(ui("S1"), Reason.SUPPLIED)
    result = await b.verify(ui("S1"))
    assert (result.return_code, result.outcome) == ("NMVS_SUCCESS", "ok")
    assert (result.state, result.reasons) == (PackState.INACTIVE, (Reason.SUPPLIED,))
    assert_no_alert(result)


async def test_unknown_product_is_refused_with_pc_01_without_alert(
    hub: MockHub, a: HubClient
) -> None:
    result = await a.verify(ui("S1", product=GTIN_UNKNOWN))
    assert (result.return_code, result.outcome) == ("NMVS_NC_PC_01", "refused")
    assert result.state is PackState.UNKNOWN
    assert_no_alert(result)
    assert hub.alerts == []


async def test_product_known_under_another_scheme_is_unknown(a: HubClient) -> None:
    result = await a.verify(ui("S1", product=PPN, scheme="PPN"))
    assert result.return_code == "NMVS_NC_PC_01"


async def test_unknown_serial_of_known_product_raises_pc_02_alert(
    hub: MockHub, a: HubClient
) -> None:
    result = await a.verify(ui("NOPE"))
    assert (result.return_code, result.outcome) == ("NMVS_NC_PC_02", "alert")
    assert result.state is PackState.UNKNOWN
    assert result.alert_id is not None
    assert re.fullmatch(r"ALR-[0-9A-F]{16}", result.alert_id)
    assert [alert.alert_id for alert in hub.alerts] == [result.alert_id]
    alert = hub.alerts[0]
    assert (alert.location, alert.user, alert.serial) == ("PH-A", "alice", "NOPE")


async def test_unknown_batch_raises_lot_03_alert(a: HubClient) -> None:
    result = await a.verify(ui("S1", "NOBATCH", "261231"))
    assert (result.return_code, result.outcome) == ("NMVS_FE_LOT_03", "alert")
    assert result.state is PackState.UNKNOWN


async def test_batch_of_another_pack_raises_lot_13_alert(a: HubClient) -> None:
    result = await a.verify(ui("S1", "B2"))
    assert (result.return_code, result.outcome) == ("NMVS_FE_LOT_13", "alert")


async def test_expiry_not_matching_the_batch_raises_lot_12_alert(a: HubClient) -> None:
    result = await a.verify(ui("S1", "B1", "261230"))
    assert (result.return_code, result.outcome) == ("NMVS_FE_LOT_12", "alert")


@pytest.mark.parametrize(
    ("printed", "code"), [("261200", "NMVS_SUCCESS"), ("261100", "NMVS_FE_LOT_12")]
)
async def test_expiry_day_00_means_any_day_of_that_month(
    a: HubClient, printed: str, code: str
) -> None:
    result = await a.verify(ui("S1", "B1", printed))
    assert result.return_code == code


@pytest.mark.parametrize(
    ("pack", "code"),
    [
        (ui("NOPE", "NOBATCH", "991231", product=GTIN_UNKNOWN), "NMVS_NC_PC_01"),
        (ui("NOPE", "NOBATCH", "991231"), "NMVS_NC_PC_02"),
        (ui("S1", "NOBATCH", "991231"), "NMVS_FE_LOT_03"),
        (ui("S1", "B2", "991231"), "NMVS_FE_LOT_13"),
    ],
)
async def test_checks_run_product_then_serial_then_batch_then_expiry(
    a: HubClient, pack: PackIdentifier, code: str
) -> None:
    assert (await a.verify(pack)).return_code == code


@pytest.mark.parametrize("operation", ["verify", "decommission"])
async def test_recalled_batch_is_refused_with_lot_01_without_alert(
    hub: MockHub, a: HubClient, operation: str
) -> None:
    hub.recall_batch(GTIN_A, "B1")
    if operation == "verify":
        result = await a.verify(ui("S1"))
    else:
        result = await a.decommission(ui("S1"), Reason.SUPPLIED)
    assert (result.return_code, result.outcome) == ("NMVS_FE_LOT_01", "refused")
    assert (result.state, result.reasons) == (PackState.INACTIVE, (Reason.RECALLED,))
    assert_no_alert(result)
    assert hub.state_changes == 0


@pytest.mark.parametrize("operation", ["verify", "decommission"])
async def test_withdrawn_product_is_refused_with_lot_08_without_alert(
    hub: MockHub, a: HubClient, operation: str
) -> None:
    hub.withdraw_product(GTIN_A)
    if operation == "verify":
        result = await a.verify(ui("S1"))
    else:
        result = await a.decommission(ui("S1"), Reason.SUPPLIED)
    assert (result.return_code, result.outcome) == ("NMVS_FE_LOT_08", "refused")
    assert (result.state, result.reasons) == (PackState.INACTIVE, (Reason.WITHDRAWN,))
    assert_no_alert(result)


async def test_pack_is_valid_on_its_expiry_day_and_expired_the_day_after(
    hub: MockHub, clock: ManualClock, a: HubClient
) -> None:
    clock.advance(days=9)  # 2025-03-10, the expiry date of batch SHORT
    assert (await a.verify(ui("X1", "SHORT"))).state is PackState.ACTIVE
    clock.advance(days=1)
    verified = await a.verify(ui("X1", "SHORT"))
    decommissioned = await a.decommission(ui("X1", "SHORT"), Reason.SUPPLIED)
    for result in (verified, decommissioned):
        assert (result.return_code, result.outcome) == ("NMVS_NC_PCK_02", "refused")
        assert (result.state, result.reasons) == (PackState.INACTIVE, (Reason.EXPIRED,))
        assert_no_alert(result)
    assert hub.pack_state(GTIN_A, "X1") == (PackState.INACTIVE, (Reason.EXPIRED,))


# -- decommission ----------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", PACK_LEVEL)
async def test_decommission_of_active_pack_sets_it_inactive_with_that_reason(
    hub: MockHub, a: HubClient, reason: Reason
) -> None:
    result = await a.decommission(ui("S1"), reason)
    assert (result.return_code, result.outcome) == ("NMVS_SUCCESS", "ok")
    assert (result.state, result.reasons) == (PackState.INACTIVE, (reason,))
    assert hub.pack_state(GTIN_A, "S1") == (PackState.INACTIVE, (reason,))
    assert hub.state_changes == 1
    assert dict(hub.state_changes_by_pack) == {(GTIN_A, "S1"): 1}
    [entry] = hub.history(GTIN_A, "S1")
    assert (entry.operation, entry.reason, entry.location, entry.user) == (
        "decommission",
        reason,
        "PH-A",
        "alice",
    )


async def test_decommission_of_pack_supplied_elsewhere_raises_pck_22_alert_at_once(
    hub: MockHub, a: HubClient, b: HubClient
) -> None:
    await a.decommission(ui("S1"), Reason.SUPPLIED)
    result = await b.decommission(ui("S1"), Reason.SUPPLIED)
    assert (result.return_code, result.outcome) == ("NMVS_NC_PCK_22", "alert")
    assert (result.state, result.reasons) == (PackState.INACTIVE, (Reason.SUPPLIED,))
    assert hub.state_changes == 1


async def test_other_decommission_of_own_supplied_pack_raises_pck_22_alert(a: HubClient) -> None:
    await a.decommission(ui("S1"), Reason.SUPPLIED)
    result = await a.decommission(ui("S1"), Reason.DESTROYED)
    assert (result.return_code, result.outcome) == ("NMVS_NC_PCK_22", "alert")


async def test_same_location_resupplying_its_pack_alerts_at_once_by_default(
    hub: MockHub, a: HubClient
) -> None:
    await a.decommission(ui("S1"), Reason.SUPPLIED)
    result = await a.decommission(ui("S1"), Reason.SUPPLIED)
    assert (result.return_code, result.outcome) == ("NMVS_NC_PCK_22", "alert")
    assert [alert.serial for alert in hub.alerts] == ["S1"]
    assert hub.market.name == "strict"
    assert hub.state_changes == 1


@pytest.fixture
def fi(clock: ManualClock) -> HubClient:
    hub = MockHub(clock, market="fi")
    hub.add_product(GTIN_A)
    hub.add_batch(GTIN_A, "B1", BATCHES["B1"])
    hub.add_pack(ui("S1"))
    return hub.client("PH-A")


async def test_fi_refuses_the_same_location_resupplying_its_pack_twice_then_alerts(
    fi: HubClient,
) -> None:
    await fi.decommission(ui("S1"), Reason.SUPPLIED)
    results = [await fi.decommission(ui("S1"), Reason.SUPPLIED) for _ in range(4)]
    assert [r.outcome for r in results] == ["refused", "refused", "alert", "alert"]
    assert {r.return_code for r in results} == {"NMVS_NC_PCK_22"}
    assert_no_alert(results[0])


async def test_fi_alerts_at_once_on_another_decommission_of_its_supplied_pack(
    fi: HubClient,
) -> None:
    await fi.decommission(ui("S1"), Reason.SUPPLIED)
    result = await fi.decommission(ui("S1"), Reason.DESTROYED)
    assert (result.return_code, result.outcome) == ("NMVS_NC_PCK_22", "alert")


async def test_fi_resupply_count_starts_again_after_an_undo(fi: HubClient) -> None:
    await fi.decommission(ui("S1"), Reason.SUPPLIED)
    await fi.decommission(ui("S1"), Reason.SUPPLIED)
    await fi.decommission(ui("S1"), Reason.SUPPLIED)
    await fi.undo(ui("S1"), Reason.SUPPLIED)
    await fi.decommission(ui("S1"), Reason.SUPPLIED)
    assert (await fi.decommission(ui("S1"), Reason.SUPPLIED)).outcome == "refused"


@pytest.mark.parametrize(
    ("inactivate", "reason"),
    [
        (lambda hub, clock: hub.recall_batch(GTIN_A, "SHORT"), Reason.RECALLED),
        (lambda hub, clock: hub.withdraw_product(GTIN_A), Reason.WITHDRAWN),
        (lambda hub, clock: clock.advance(days=10), Reason.EXPIRED),
    ],
)
@pytest.mark.parametrize("location", ["PH-A", "PH-B"])
async def test_decommission_of_a_supplied_pack_inactive_by_batch_or_product_never_alerts(
    hub: MockHub,
    clock: ManualClock,
    inactivate: Callable[[MockHub, ManualClock], None],
    reason: Reason,
    location: str,
) -> None:
    await hub.client("PH-A").decommission(ui("X1", "SHORT"), Reason.SUPPLIED)
    inactivate(hub, clock)
    result = await hub.client(location).decommission(ui("X1", "SHORT"), Reason.SUPPLIED)
    assert (result.return_code, result.outcome) == ("NMVS_NC_PCK_22", "refused")
    assert result.reasons == (Reason.SUPPLIED, reason)
    assert_no_alert(result)
    assert hub.alerts == []


@pytest.mark.parametrize("name", ["strict", "fi"])
def test_a_market_is_chosen_by_name(name: str) -> None:
    assert MockHub(market=name).market == MARKETS[name]


# -- undo (Art. 13) --------------------------------------------------------------------------------


async def test_undo_by_same_location_within_ten_days_reactivates_the_pack(
    hub: MockHub, clock: ManualClock, a: HubClient
) -> None:
    await a.decommission(ui("S1"), Reason.SUPPLIED)
    clock.advance(hours=240)
    result = await a.undo(ui("S1"), Reason.SUPPLIED)
    assert (result.return_code, result.outcome) == ("NMVS_SUCCESS", "ok")
    assert (result.state, result.reasons) == (PackState.ACTIVE, ())
    assert hub.pack_state(GTIN_A, "S1") == (PackState.ACTIVE, ())
    assert hub.state_changes_by_pack[GTIN_A, "S1"] == 2


async def test_undo_after_ten_days_raises_pck_20_alert(
    hub: MockHub, clock: ManualClock, a: HubClient
) -> None:
    await a.decommission(ui("S1"), Reason.SUPPLIED)
    clock.advance(hours=240, seconds=1)
    result = await a.undo(ui("S1"), Reason.SUPPLIED)
    assert (result.return_code, result.outcome) == ("NMVS_NC_PCK_20", "alert")
    assert hub.pack_state(GTIN_A, "S1") == (PackState.INACTIVE, (Reason.SUPPLIED,))


async def test_undo_by_another_location_raises_pck_21_alert(
    hub: MockHub, a: HubClient, b: HubClient
) -> None:
    await a.decommission(ui("S1"), Reason.SUPPLIED)
    result = await b.undo(ui("S1"), Reason.SUPPLIED)
    assert (result.return_code, result.outcome) == ("NMVS_NC_PCK_21", "alert")
    assert hub.pack_state(GTIN_A, "S1")[0] is PackState.INACTIVE


async def test_undo_of_active_pack_raises_pck_06_alert(a: HubClient) -> None:
    result = await a.undo(ui("S1"), Reason.SUPPLIED)
    assert (result.return_code, result.outcome) == ("NMVS_NC_PCK_06", "alert")
    assert result.state is PackState.ACTIVE


async def test_undo_from_another_status_raises_pck_06_alert(a: HubClient) -> None:
    await a.decommission(ui("S1"), Reason.SUPPLIED)
    result = await a.undo(ui("S1"), Reason.DESTROYED)
    assert (result.return_code, result.outcome) == ("NMVS_NC_PCK_06", "alert")


@pytest.mark.parametrize("reason", [Reason.STOLEN, Reason.DESTROYED])
async def test_undo_from_stolen_or_destroyed_is_refused_with_pck_27_without_alert(
    hub: MockHub, a: HubClient, reason: Reason
) -> None:
    await a.decommission(ui("S1"), reason)
    result = await a.undo(ui("S1"), reason)
    assert (result.return_code, result.outcome) == ("NMVS_NC_PCK_27", "refused")
    assert_no_alert(result)
    assert hub.pack_state(GTIN_A, "S1") == (PackState.INACTIVE, (reason,))


async def test_undo_of_locked_pack_has_no_time_limit(clock: ManualClock, a: HubClient) -> None:
    await a.decommission(ui("S1"), Reason.LOCKED)
    clock.advance(days=365)
    result = await a.undo(ui("S1"), Reason.LOCKED)
    assert (result.return_code, result.state) == ("NMVS_SUCCESS", PackState.ACTIVE)


async def test_ten_day_window_starts_again_after_each_reactivation(
    clock: ManualClock, a: HubClient
) -> None:
    await a.decommission(ui("S1"), Reason.SUPPLIED)
    clock.advance(days=9)
    assert (await a.undo(ui("S1"), Reason.SUPPLIED)).return_code == "NMVS_SUCCESS"
    await a.decommission(ui("S1"), Reason.SUPPLIED)
    clock.advance(days=9)
    assert (await a.undo(ui("S1"), Reason.SUPPLIED)).return_code == "NMVS_SUCCESS"


@pytest.mark.parametrize(
    ("inactivate", "code", "reason"),
    [
        (lambda hub: hub.recall_batch(GTIN_A, "B1"), "NMVS_FE_LOT_01", Reason.RECALLED),
        (lambda hub: hub.withdraw_product(GTIN_A), "NMVS_FE_LOT_08", Reason.WITHDRAWN),
    ],
)
async def test_undo_is_refused_once_the_batch_or_product_is_inactive(
    hub: MockHub,
    a: HubClient,
    inactivate: Callable[[MockHub], None],
    code: str,
    reason: Reason,
) -> None:
    await a.decommission(ui("S1"), Reason.SUPPLIED)
    inactivate(hub)
    result = await a.undo(ui("S1"), Reason.SUPPLIED)
    assert (result.return_code, result.outcome) == (code, "refused")
    assert result.reasons == (Reason.SUPPLIED, reason)
    assert_no_alert(result)


async def test_undo_is_refused_when_the_pack_expired_since(
    hub: MockHub, clock: ManualClock, a: HubClient
) -> None:
    await a.decommission(ui("X1", "SHORT"), Reason.SUPPLIED)
    clock.advance(days=9, hours=14)  # 2025-03-11 00:00, the day after expiry, < 240 h later
    result = await a.undo(ui("X1", "SHORT"), Reason.SUPPLIED)
    assert (result.return_code, result.outcome) == ("NMVS_NC_PCK_02", "refused")
    assert result.reasons == (Reason.SUPPLIED, Reason.EXPIRED)


@pytest.mark.parametrize("reason", [Reason.RECALLED, Reason.EXPIRED, Reason.WITHDRAWN])
async def test_undo_from_a_batch_or_product_reason_is_an_invalid_request(
    hub: MockHub, a: HubClient, reason: Reason
) -> None:
    hub.recall_batch(GTIN_A, "B1")
    result = await a.undo(ui("S1"), reason)
    assert (result.return_code, result.outcome) == ("NMVS_TE_XM_01", "invalid_request")


async def test_undo_with_the_decommission_trx_as_reference_succeeds(a: HubClient) -> None:
    await a.decommission(ui("S1"), Reason.SUPPLIED, trx="sale-1")
    result = await a.undo(ui("S1"), Reason.SUPPLIED, ref_trx="sale-1")
    assert result.return_code == "NMVS_SUCCESS"


async def test_undo_with_a_wrong_reference_trx_is_refused_with_fe_tx_01(a: HubClient) -> None:
    await a.decommission(ui("S1"), Reason.SUPPLIED, trx="sale-1")
    result = await a.undo(ui("S1"), Reason.SUPPLIED, ref_trx="sale-2")
    assert (result.return_code, result.outcome) == ("NMVS_FE_TX_01", "refused")
    assert result.state is PackState.INACTIVE


# -- transaction ids, history, inspection ----------------------------------------------------------


async def test_every_result_carries_trx_ids_time_and_message(a: HubClient) -> None:
    given = await a.verify(ui("S1"), trx="my-trx-1")
    generated = await a.verify(ui("S1"))
    assert given.client_trx_id == "my-trx-1"
    assert re.fullmatch(r"[0-9a-f]{32}", generated.client_trx_id)
    for result in (given, generated):
        assert re.fullmatch(r"[0-9a-f]{32}", result.hub_trx_id)
        assert result.at == START
        assert result.message
    assert given.hub_trx_id != generated.hub_trx_id


async def test_resending_a_trx_id_returns_the_first_answer_and_applies_nothing_twice(
    hub: MockHub, a: HubClient
) -> None:
    first = await a.decommission(ui("S1"), Reason.SUPPLIED, trx="t-1")
    again = await a.decommission(ui("S1"), Reason.SUPPLIED, trx="t-1")
    assert again == first
    assert first.return_code == "NMVS_SUCCESS"
    assert hub.state_changes == 1
    assert hub.alerts == []
    assert len(hub.history(GTIN_A, "S1")) == 1


async def test_a_used_trx_id_for_another_request_is_te_tx_01(hub: MockHub, a: HubClient) -> None:
    await a.decommission(ui("S1"), Reason.SUPPLIED, trx="t-1")
    result = await a.decommission(ui("S2"), Reason.SUPPLIED, trx="t-1")
    assert (result.return_code, result.outcome) == ("NMVS_TE_TX_01", "invalid_request")
    assert hub.pack_state(GTIN_A, "S2") == (PackState.ACTIVE, ())


async def test_trx_ids_are_scoped_to_the_location(hub: MockHub, a: HubClient, b: HubClient) -> None:
    await a.decommission(ui("S1"), Reason.SUPPLIED, trx="t-1")
    result = await b.decommission(ui("S2"), Reason.SUPPLIED, trx="t-1")
    assert result.return_code == "NMVS_SUCCESS"


async def test_history_records_who_where_when_what_and_the_result(
    hub: MockHub, clock: ManualClock, a: HubClient, b: HubClient
) -> None:
    await a.verify(ui("S1"), trx="v-1")
    clock.advance(hours=1)
    await a.decommission(ui("S1"), Reason.SUPPLIED, trx="d-1")
    clock.advance(hours=1)
    alerted = await b.undo(ui("S1"), Reason.SUPPLIED, trx="u-1")
    history = hub.history(GTIN_A, "S1")
    assert [
        (t.at.hour, t.location, t.user, t.operation, t.reason, t.client_trx_id, t.return_code)
        for t in history
    ] == [
        (10, "PH-A", "alice", "verify", None, "v-1", "NMVS_SUCCESS"),
        (11, "PH-A", "alice", "decommission", Reason.SUPPLIED, "d-1", "NMVS_SUCCESS"),
        (12, "PH-B", "bob", "undo", Reason.SUPPLIED, "u-1", "NMVS_NC_PCK_21"),
    ]
    assert [t.outcome for t in history] == ["ok", "ok", "alert"]
    assert history[2].alert_id == alerted.alert_id == hub.alerts[0].alert_id
    assert history[2].hub_trx_id == alerted.hub_trx_id
    assert hub.transactions == 3


async def test_unknown_pack_state_and_history_are_empty(hub: MockHub) -> None:
    assert hub.pack_state(GTIN_A, "NOPE") == (PackState.UNKNOWN, ())
    assert hub.history(GTIN_A, "NOPE") == []


def test_mock_client_implements_the_hub_client_protocol(hub: MockHub) -> None:
    client = hub.client("PH-A")
    assert isinstance(client, MockHubClient)
    assert isinstance(client, HubClient)


# -- master data -----------------------------------------------------------------------------------


def test_add_pack_needs_its_product_and_batch(hub: MockHub) -> None:
    with pytest.raises(ValueError, match="unknown product"):
        hub.add_pack(ui("S9", product=GTIN_UNKNOWN))
    with pytest.raises(ValueError, match="unknown batch NOBATCH"):
        hub.add_pack(ui("S9", "NOBATCH"))
    with pytest.raises(ValueError, match="already exists"):
        hub.add_pack(ui("S1"))


def test_master_data_is_validated(hub: MockHub) -> None:
    with pytest.raises(ValueError, match="not a valid GTIN"):
        hub.add_product("04006381333932")
    with pytest.raises(ValueError, match="unknown product"):
        hub.add_batch(GTIN_UNKNOWN, "B1", date(2026, 1, 1))
    with pytest.raises(ValueError, match="batch"):
        hub.add_batch(GTIN_A, "BAD BATCH", date(2026, 1, 1))
    with pytest.raises(ValueError, match="unknown batch"):
        hub.recall_batch(GTIN_A, "NOBATCH")
    with pytest.raises(ValueError, match="unknown product"):
        hub.withdraw_product(GTIN_UNKNOWN)


async def test_ppn_products_are_verified_by_their_scheme(clock: ManualClock) -> None:
    hub = MockHub(clock)
    hub.add_product(PPN, scheme="PPN")
    hub.add_batch(PPN, "L1", date(2026, 1, 31))
    pack = ui("P1", "L1", "260131", product=PPN, scheme="PPN")
    hub.add_pack(pack)
    assert (await hub.client("PH-A").verify(pack)).state is PackState.ACTIVE


# -- invalid input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pack", "code"),
    [
        (ui("S1", product="04006381333932"), "NMVS_FE_GR_01"),
        (ui("S1", product="4006381333931"), "NMVS_FE_GR_01"),
        (ui("S1", product="0400638133393A"), "NMVS_FE_GR_01"),
        (ui("S1", scheme="NTIN"), "NMVS_FE_GR_01"),  # type: ignore[arg-type]  # no such scheme
        (ui("S1", product="110375286415", scheme="PPN"), "NMVS_FE_GR_02"),
        (ui("S1", product="11-0375286414", scheme="PPN"), "NMVS_FE_GR_01"),
        (ui("S" * 21), "NMVS_TE_XM_01"),
        (ui(""), "NMVS_TE_XM_01"),
        (ui("S 1"), "NMVS_TE_XM_01"),
        (ui("S\x1d1"), "NMVS_TE_XM_01"),
        (ui("S1", "B" * 21, "261231"), "NMVS_TE_XM_01"),
        (ui("S1", "", "261231"), "NMVS_TE_XM_01"),
        (ui("S1", "B1", "261331"), "NMVS_FE_LOT_07"),
        (ui("S1", "B1", "260230"), "NMVS_FE_LOT_07"),
        (ui("S1", "B1", "26123"), "NMVS_FE_LOT_07"),
        (ui("S1", nhrn="abc"), "NMVS_NC_PC_11"),
    ],
)
async def test_invalid_identifiers_get_an_invalid_request_answer(
    hub: MockHub, a: HubClient, pack: PackIdentifier, code: str
) -> None:
    result = await a.verify(pack)
    assert (result.return_code, result.outcome) == (code, "invalid_request")
    assert result.state is PackState.UNKNOWN
    assert hub.alerts == []


@pytest.mark.parametrize("trx", ["", "x" * 33, "has space", "under_score"])
async def test_invalid_trx_ids_get_an_invalid_request_answer(a: HubClient, trx: str) -> None:
    result = await a.verify(ui("S1"), trx=trx)
    assert (result.return_code, result.outcome) == ("NMVS_TE_XM_01", "invalid_request")
    bad_ref = await a.undo(ui("S1"), Reason.SUPPLIED, ref_trx=trx)
    assert bad_ref.outcome == "invalid_request"


async def test_valid_edge_identifiers_are_accepted(hub: MockHub, a: HubClient) -> None:
    serial = "!\"%&'()*+,-./:;<=>?_"
    hub.add_pack(ui(serial))
    result = await a.verify(ui(serial, nhrn="12345678"), trx="A-" + "9" * 30)
    assert result.return_code == "NMVS_SUCCESS"


# -- bulk ------------------------------------------------------------------------------------------


async def test_bulk_answers_each_item_in_order(hub: MockHub, a: HubClient) -> None:
    result = await a.bulk(
        [
            BulkItem(ui("S1")),
            BulkItem(ui("S2"), "decommission", Reason.SUPPLIED, trx="b-2"),
            BulkItem(ui("NOPE")),
            BulkItem(ui("S3"), "decommission"),
        ]
    )
    assert re.fullmatch(r"[0-9a-f]{32}", result.hub_trx_id)
    assert [r.return_code for r in result.results] == [
        "NMVS_SUCCESS",
        "NMVS_SUCCESS",
        "NMVS_NC_PC_02",
        "NMVS_TE_XM_01",
    ]
    assert result.results[1].client_trx_id != "b-2", "a bulk wire carries no per-pack trx id"
    assert hub.pack_state(GTIN_A, "S2") == (PackState.INACTIVE, (Reason.SUPPLIED,))
    assert hub.state_changes == 1


async def test_a_mixed_bulk_keeps_each_items_trx_id_so_a_replay_changes_nothing(
    hub: MockHub, a: HubClient
) -> None:
    items = [
        BulkItem(ui("S1"), "verify", trx="m-1"),
        BulkItem(ui("S2"), "decommission", Reason.SUPPLIED, trx="m-2"),
    ]
    first = await a.mixed(items)
    assert [r.client_trx_id for r in first.results] == ["m-1", "m-2"]
    undo = BulkItem(ui("S2"), "undo", Reason.SUPPLIED, trx="m-3", ref_trx="m-2")
    again = await a.mixed([*items, undo])
    assert [r.return_code for r in again.results] == ["NMVS_SUCCESS"] * 3
    assert again.results[1] == first.results[1]
    assert hub.pack_state(GTIN_A, "S2") == (PackState.ACTIVE, ())
    assert hub.state_changes == 2


async def test_a_pack_keyed_in_by_hand_is_supplied_from_its_code_and_serial_alone(
    hub: MockHub, a: HubClient
) -> None:
    supplied = await a.manual(ManualEntry("GTIN", GTIN_A, "S1"), Reason.SUPPLIED, trx="k-1")
    assert (supplied.outcome, supplied.return_code) == ("ok", "NMVS_SUCCESS")
    assert hub.pack_state(GTIN_A, "S1") == (PackState.INACTIVE, (Reason.SUPPLIED,))
    unknown = await a.manual(ManualEntry("GTIN", GTIN_A, "NOPE"), Reason.SUPPLIED)
    assert (unknown.outcome, unknown.return_code) == ("alert", "NMVS_NC_PC_02")


async def test_a_verify_keyed_in_by_hand_needs_the_printed_batch_and_expiry(
    hub: MockHub, a: HubClient
) -> None:
    bare = await a.manual(ManualEntry("GTIN", GTIN_A, "S1"))
    assert bare.outcome == "invalid_request"
    assert "batch and the expiry" in bare.message
    keyed = ManualEntry("GTIN", GTIN_A, "S1", "B1", ui("S1").expiry_raw)
    assert (await a.manual(keyed)).state is PackState.ACTIVE
    wrong_batch = ManualEntry("GTIN", GTIN_A, "S1", "B2", ui("S1").expiry_raw)
    assert (await a.manual(wrong_batch)).outcome != "ok"


# -- rate limit ------------------------------------------------------------------------------------


async def test_rate_limit_refuses_requests_over_the_limit_in_a_sliding_second(
    clock: ManualClock,
) -> None:
    monotonic = FakeMonotonic()
    hub = MockHub(clock, rate_limit_per_s=2, monotonic=monotonic)
    hub.add_product(GTIN_A)
    hub.add_batch(GTIN_A, "B1", BATCHES["B1"])
    hub.add_pack(ui("S1"))
    client = hub.client("PH-A")
    assert (await client.verify(ui("S1"))).outcome == "ok"
    monotonic.now += 0.5
    assert (await client.verify(ui("S1"))).outcome == "ok"
    limited = await client.decommission(ui("S1"), Reason.SUPPLIED)
    assert (limited.return_code, limited.outcome) == ("NMVS_FI_SE_CLI_01", "rate_limited")
    assert hub.pack_state(GTIN_A, "S1") == (PackState.ACTIVE, ())
    assert (await hub.client("PH-B").verify(ui("S1"))).outcome == "ok"
    bulk = await client.bulk([BulkItem(ui("S1")), BulkItem(ui("S1"))])
    assert [r.outcome for r in bulk.results] == ["rate_limited", "rate_limited"]
    monotonic.now += 0.6
    assert (await client.decommission(ui("S1"), Reason.SUPPLIED)).outcome == "ok"


# -- faults ----------------------------------------------------------------------------------------


async def run_faulty_session(clock: ManualClock, seed: int) -> list[str]:
    hub = MockHub(clock, seed=seed, timeout_rate=0.2, technical_error_rate=0.2, lost_reply_rate=0.2)
    hub.add_product(GTIN_A)
    hub.add_batch(GTIN_A, "B1", BATCHES["B1"])
    client = hub.client("PH-A")
    seen: list[str] = []
    for n in range(40):
        hub.add_pack(ui(f"S{n}"))
        try:
            result = await client.decommission(ui(f"S{n}"), Reason.SUPPLIED)
            seen.append(f"{result.return_code}/{result.hub_trx_id}")
        except HubUnavailable as error:
            seen.append(str(error))
    return seen


async def test_fault_injection_is_reproducible_for_a_seed(clock: ManualClock) -> None:
    first = await run_faulty_session(clock, seed=42)
    assert first == await run_faulty_session(clock, seed=42)
    assert first != await run_faulty_session(clock, seed=43)
    kinds = {entry.split("/")[0].split(":")[0] for entry in first}
    assert {"NMVS_SUCCESS", "injected timeout", "injected lost reply"} <= kinds
    assert kinds & {"NMVS_TI_TO_01", "NMVS_ERROR"}


async def test_timeout_raises_hub_unavailable_and_applies_nothing(
    hub: MockHub, a: HubClient
) -> None:
    hub.set_faults(timeout_rate=1.0)
    with pytest.raises(HubUnavailable):
        await a.decommission(ui("S1"), Reason.SUPPLIED, trx="t-1")
    hub.set_faults(timeout_rate=0.0)
    assert hub.pack_state(GTIN_A, "S1") == (PackState.ACTIVE, ())
    assert hub.transactions == 0
    assert (await a.decommission(ui("S1"), Reason.SUPPLIED, trx="t-1")).outcome == "ok"


async def test_lost_reply_applies_the_change_and_a_resend_returns_the_first_answer(
    hub: MockHub, a: HubClient
) -> None:
    hub.lost_reply_rate = 1.0
    with pytest.raises(HubUnavailable):
        await a.decommission(ui("S1"), Reason.SUPPLIED, trx="t-1")
    hub.lost_reply_rate = 0.0
    assert hub.pack_state(GTIN_A, "S1") == (PackState.INACTIVE, (Reason.SUPPLIED,))
    check = await a.verify(ui("S1"))
    assert (check.state, check.reasons) == (PackState.INACTIVE, (Reason.SUPPLIED,))
    resent = await a.decommission(ui("S1"), Reason.SUPPLIED, trx="t-1")
    assert (resent.return_code, resent.outcome) == ("NMVS_SUCCESS", "ok")
    assert hub.state_changes == 1
    assert hub.alerts == []


async def test_technical_error_applies_nothing_and_the_retry_is_processed(
    hub: MockHub, a: HubClient
) -> None:
    hub.set_faults(technical_error_rate=1.0)
    failed = await a.decommission(ui("S1"), Reason.SUPPLIED, trx="t-1")
    assert failed.outcome == "technical"
    assert failed.return_code in {"NMVS_TI_TO_01", "NMVS_ERROR"}
    assert failed.state is PackState.UNKNOWN
    assert hub.pack_state(GTIN_A, "S1") == (PackState.ACTIVE, ())
    hub.set_faults(technical_error_rate=0.0)
    assert (await a.decommission(ui("S1"), Reason.SUPPLIED, trx="t-1")).outcome == "ok"


async def test_ping_answers_or_raises_when_a_timeout_is_injected(
    hub: MockHub, a: HubClient
) -> None:
    await a.ping()
    hub.set_faults(timeout_rate=1.0)
    with pytest.raises(HubUnavailable):
        await a.ping()


async def test_latency_is_awaited_and_reported(hub: MockHub, a: HubClient) -> None:
    hub.set_faults(latency_s=0.02)
    started = time.perf_counter()
    result = await a.verify(ui("S1"))
    assert time.perf_counter() - started >= 0.02
    assert result.latency_s == 0.02


def test_fault_settings_are_validated(hub: MockHub) -> None:
    with pytest.raises(ValueError, match="timeout_rate"):
        hub.set_faults(timeout_rate=1.5)
    with pytest.raises(ValueError, match="latency_s"):
        hub.set_faults(latency_s=-1)
    with pytest.raises(ValueError, match=r"unknown market 'se' \(known: strict, fi\)"):
        MockHub(market="se")
    with pytest.raises(ValueError, match="resupply_alert_after must be at least 1"):
        MarketProfile("x", resupply_alert_after=0, source="")
    with pytest.raises(ValueError, match="rate_limit_per_s"):
        MockHub(rate_limit_per_s=0)


async def test_default_clock_is_real_utc_time() -> None:
    hub = MockHub()
    hub.add_product(GTIN_A)
    result = await hub.client("PH-A").verify(ui("S1"))
    assert result.at is not None
    assert result.at.tzinfo is not None
    assert abs((datetime.now(UTC) - result.at).total_seconds()) < 5


async def test_three_hundred_packs_go_through_well_within_a_second(
    hub: MockHub, a: HubClient
) -> None:
    packs = [ui(f"P{n}") for n in range(300)]
    for pack in packs:
        hub.add_pack(pack)
    started = time.perf_counter()
    for pack in packs:
        await a.verify(pack)
        await a.decommission(pack, Reason.SUPPLIED)
    assert time.perf_counter() - started < 0.5
    assert hub.state_changes == 300


async def test_an_answer_names_the_product_as_the_master_data_does(clock: ManualClock) -> None:
    hub = MockHub(clock)
    hub.add_product(GTIN_A, name="Paracetamol 500 mg, 20 tablets")
    hub.add_batch(GTIN_A, "B1", BATCHES["B1"])
    hub.add_pack(ui("N1"))
    result = await hub.client("PH-A").verify(ui("N1"))
    assert result.product_name == "Paracetamol 500 mg, 20 tablets"
