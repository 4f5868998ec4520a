"""The loading pipeline end to end: every kind of pack takes its route, and what was recorded."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from fmd.codes import parse_scan
from fmd.codes.encode import encode_gs1
from fmd.codes.model import PackIdentifier
from fmd.hub import HubClient, HubResult, HubUnavailable, MockHub, Reason
from fmd.hub.resilient import ResilientHub
from fmd.policy import SitePolicy
from robot_controller.pipeline import Pipeline, Routed
from robot_controller.robot.base import Job, JobCode, JobOutcome, JobReason
from robot_controller.robot.sim import SimRobot
from robot_controller.store import Store
from robot_controller.store.history import Kind as Happened
from robot_controller.store.history import token_history
from scanners.script import ScriptedScanner
from simulators.delivery import (
    SUSPECT_KINDS,
    Delivery,
    Kind,
    generate_delivery,
    master_data,
    seed_hub,
    supply_elsewhere,
)
from tests.support.logs import Logs
from tests.support.relay import RelayClient

TODAY = datetime.now(UTC).date()
LOCATION = "ward-pharmacy"


class Loaded:
    """One delivery loaded through a pipeline, with everything needed to inspect it."""

    def __init__(self, delivery: Delivery, hub: MockHub, store: Store, robot: SimRobot) -> None:
        self.delivery = delivery
        self.hub = hub
        self.store = store
        self.robot = robot
        self.outcomes = store.outcomes()
        self.tokens = [token for token, _raw in store.raw_scans()]

    def routes(self, kind: Kind) -> list[str]:
        return [
            self.outcomes[token][0]
            for token, pack in zip(self.tokens, self.delivery.packs, strict=True)
            if pack.kind is kind
        ]

    def rows(self, table: str, **where: object) -> list[sa.Row[tuple[object, ...]]]:
        clause = " AND ".join(f"{key} = :{key}" for key in where) or "1 = 1"
        with self.store.engine.connect() as conn:
            query = sa.text(f"SELECT * FROM {table} WHERE {clause}")  # noqa: S608 - test's own names
            return list(conn.execute(query, where))


async def load(
    url: str,
    delivery: Delivery,
    *,
    site: SitePolicy,
    hub: MockHub | None = None,
    client: HubClient | None = None,
) -> Loaded:
    hub = hub or MockHub(seed=3)
    seed_hub(hub, delivery)
    await supply_elsewhere(hub, delivery)
    store = Store.open(url, location=LOCATION)
    robot = SimRobot()
    pipeline = Pipeline(
        store=store,
        hub=ResilientHub(client or hub.client(LOCATION)),
        robot=robot,
        site=site,
        window=8,
    )
    await pipeline.run([ScriptedScanner(delivery.raws)])
    await pipeline.aclose()
    return Loaded(delivery, hub, store, robot)


def every_kind(seed: int = 5) -> Delivery:
    delivery = generate_delivery(4 * len(SUSPECT_KINDS), seed=seed, suspect_rate=1.0, today=TODAY)
    assert {p.kind for p in delivery.packs} >= set(SUSPECT_KINDS)
    return delivery


@pytest.fixture(params=["hospital", "community"])
def site(request: pytest.FixtureRequest) -> SitePolicy:
    return SitePolicy(mode=request.param)


@pytest.mark.parametrize("kind", list(Kind))
async def test_each_kind_of_pack_takes_its_expected_route(
    sqlite_url: str, site: SitePolicy, kind: Kind
) -> None:
    loaded = await load(sqlite_url, every_kind(), site=site)
    expected = next(p.expected_route for p in loaded.delivery.packs if p.kind is kind)
    routes = loaded.routes(kind)
    assert routes
    assert set(routes) == {expected}
    assert loaded.store.summary()["lost"] == 0


async def test_hospital_mode_decommissions_every_shelved_pack_and_nothing_else(
    store_url: str,
) -> None:
    loaded = await load(store_url, every_kind(), site=SitePolicy(mode="hospital"))
    shelved = [
        p
        for p, t in zip(loaded.delivery.packs, loaded.tokens, strict=True)
        if loaded.outcomes[t][0] == "shelved"
    ]
    assert shelved
    for pack in shelved:
        state, reasons = loaded.hub.pack_state(pack.ui.product_code, pack.ui.serial)
        assert (state.value, reasons) == ("INACTIVE", (Reason.SUPPLIED,))
        ours = [
            t
            for t in loaded.hub.history(pack.ui.product_code, pack.ui.serial)
            if t.location == LOCATION and t.operation == "decommission"
        ]
        assert len(ours) == 1
    assert loaded.store.summary()["decommissioned"] == len(shelved)
    assert sum(loaded.hub.state_changes_by_pack.values()) == len(shelved) + len(
        loaded.delivery.supplied_elsewhere
    )


async def test_community_mode_only_verifies(sqlite_url: str) -> None:
    loaded = await load(sqlite_url, every_kind(), site=SitePolicy(mode="community"))
    assert loaded.rows("verifications", operation="decommission") == []
    assert loaded.store.summary()["decommissioned"] == 0


async def test_alerts_enter_the_register_with_the_hubs_alert_id(store_url: str) -> None:
    loaded = await load(store_url, every_kind(), site=SitePolicy())
    register = {row.alert_id for row in loaded.rows("alerts")}
    assert register == {alert.alert_id for alert in loaded.hub.alerts}
    assert len(register) == sum(
        len(loaded.routes(k))
        for k in (Kind.UNKNOWN_SERIAL, Kind.BATCH_MISMATCH, Kind.EXPIRY_MISMATCH)
    )


async def test_each_alert_opens_a_case_naming_its_pack_and_premises_and_the_pack_is_quarantined(
    store_url: str,
) -> None:
    loaded = await load(store_url, every_kind(), site=SitePolicy())
    scanned = {token: parse_scan(raw).ui for token, raw in loaded.store.raw_scans()}
    sent = {token: ui for token, ui in scanned.items() if ui is not None}
    cases = loaded.store.alert_cases()
    assert cases
    for case in cases:
        ui = sent[case.token]  # the alert is about the identifier as scanned and sent
        assert (case.product_code, case.serial, case.batch) == (ui.product_code, ui.serial,
                                                                 ui.batch)  # fmt: skip
        assert (case.location, case.state, case.cause) == (LOCATION, "open", None)
    in_chute = {pack.token: pack for pack in loaded.store.quarantine()}
    quarantined = {t for t, (route, _) in loaded.outcomes.items() if route == "quarantined"}
    assert set(in_chute) == quarantined
    for case in cases:
        pack = in_chute[case.token]
        assert (pack.why, pack.alert) == ("alert", case)
        assert pack.expiry_raw == sent[case.token].expiry_raw


async def test_damaged_and_expired_scans_never_reach_the_hub(sqlite_url: str) -> None:
    loaded = await load(sqlite_url, every_kind(), site=SitePolicy())
    for pack in loaded.delivery.packs:
        if pack.kind in (Kind.DAMAGED, Kind.EXPIRED):
            assert loaded.hub.history(pack.ui.product_code, pack.ui.serial) == []


async def test_a_duplicated_serial_is_shelved_once_and_quarantined_without_a_hub_alert(
    sqlite_url: str, site: SitePolicy
) -> None:
    loaded = await load(sqlite_url, every_kind(), site=site)
    for pack in loaded.delivery.packs:
        if pack.kind is Kind.DUPLICATE:
            same = [
                t
                for t, p in zip(loaded.tokens, loaded.delivery.packs, strict=True)
                if p.ui == pack.ui
            ]
            routes = [loaded.outcomes[t][0] for t in same]
            assert routes[0] == "shelved"
            assert set(routes[1:]) == {"quarantined"}
    assert not any(a.return_code == "NMVS_NC_PCK_22" for a in loaded.hub.alerts)


async def test_the_robot_receives_packs_in_scan_order(sqlite_url: str) -> None:
    loaded = await load(sqlite_url, generate_delivery(60, seed=2, today=TODAY), site=SitePolicy())
    assert list(loaded.robot.moves) == loaded.tokens
    assert set(loaded.robot.moves.values()) == {1}


async def test_every_step_is_in_the_audit_chain(store_url: str) -> None:
    loaded = await load(store_url, every_kind(), site=SitePolicy())
    check = loaded.store.check_audit_chain()
    assert check.ok
    assert check.events > 5 * len(loaded.delivery.packs)


async def test_a_hub_that_never_answers_quarantines_every_pack_and_loses_none(
    store_url: str,
) -> None:
    hub = MockHub(seed=1, timeout_rate=1.0)
    delivery = generate_delivery(20, seed=4, suspect_rate=0.0, today=TODAY)
    loaded = await load(store_url, delivery, site=SitePolicy(), hub=hub)
    assert set(loaded.routes(Kind.GENUINE)) == {"quarantined"}
    assert loaded.store.summary()["lost"] == 0
    assert all(row.why == "hub-unavailable" for row in loaded.rows("outcomes"))
    queued = loaded.store.pending_intents()
    assert len(queued) == 20
    assert {intent.operation for intent in queued} == {"verify"}


class LoseReplies(RelayClient):
    """Loses the reply to the first decommission of each pack.

    `landed` says whether the hub had applied the change before the reply was lost.
    """

    def __init__(self, inner: HubClient, *, landed: bool) -> None:
        super().__init__(inner)
        self.landed = landed
        self.lost: set[str] = set()

    async def decommission(
        self, ui: PackIdentifier, to: Reason, *, trx: str | None = None
    ) -> HubResult:
        if ui.serial not in self.lost:
            self.lost.add(ui.serial)
            if self.landed:
                await self.inner.decommission(ui, to, trx=trx)
            raise HubUnavailable("read timeout")
        return await self.inner.decommission(ui, to, trx=trx)


@pytest.mark.parametrize("landed", [True, False], ids=["change-landed", "change-lost"])
async def test_a_lost_decommission_reply_is_checked_before_any_resend(
    store_url: str, landed: bool
) -> None:
    hub = MockHub(seed=1)
    delivery = generate_delivery(10, seed=8, suspect_rate=0.0, today=TODAY)
    client = LoseReplies(hub.client(LOCATION), landed=landed)
    loaded = await load(store_url, delivery, site=SitePolicy(), hub=hub, client=client)
    assert set(loaded.routes(Kind.GENUINE)) == {"shelved"}
    assert set(hub.state_changes_by_pack.values()) == {1}
    assert hub.alerts == []
    sent = loaded.rows("verifications", operation="decommission")
    assert len(sent) == (10 if landed else 20)  # a resend only when the first did not land


async def test_verification_of_the_next_packs_overlaps_the_robots_move(sqlite_url: str) -> None:
    hub = MockHub(seed=1, latency_s=0.02)
    delivery = generate_delivery(24, seed=9, suspect_rate=0.0, today=TODAY)
    seed_hub(hub, delivery)
    in_flight = 0
    most = 0
    inner = hub.client(LOCATION)

    class Counting(RelayClient):
        async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult:
            nonlocal in_flight, most
            in_flight += 1
            most = max(most, in_flight)
            try:
                return await inner.verify(ui, trx=trx)
            finally:
                in_flight -= 1

    store = Store.open(sqlite_url)
    pipeline = Pipeline(
        store=store,
        hub=ResilientHub(Counting(inner)),
        robot=SimRobot(move_time_s=0.01),
        site=SitePolicy(mode="community"),
        window=8,
    )
    await pipeline.run([ScriptedScanner(delivery.raws)])
    await pipeline.aclose()
    assert most > 1
    assert store.summary()["shelved"] == 24


async def test_stopping_finishes_every_pack_already_taken(store_url: str) -> None:
    delivery = generate_delivery(50, seed=6, suspect_rate=0.0, today=TODAY)
    hub = MockHub(seed=1)
    seed_hub(hub, delivery)
    store = Store.open(store_url)
    stop = asyncio.Event()
    routed = 0

    def on_routed(*_: object) -> None:
        nonlocal routed
        routed += 1
        if routed == 5:
            stop.set()

    pipeline = Pipeline(
        store=store,
        hub=ResilientHub(hub.client(LOCATION)),
        robot=SimRobot(),
        site=SitePolicy(),
        window=4,
        on_routed=on_routed,
    )
    await pipeline.run([ScriptedScanner(delivery.raws, interval_s=0.001)], stop=stop)
    await pipeline.aclose()
    summary = store.summary()
    assert 5 <= summary["packs"] < 50
    assert summary["lost"] == 0


def test_a_ui_with_an_invalid_expiry_is_still_recorded(store_url: str) -> None:
    ui = PackIdentifier("GTIN", "09506000134352", "SN1", "B1", date(2028, 1, 31), "281340")
    raw = encode_gs1(ui)

    async def go() -> Store:
        store = Store.open(store_url)
        pipeline = Pipeline(
            store=store,
            hub=ResilientHub(MockHub().client(LOCATION)),
            robot=SimRobot(),
            site=SitePolicy(),
        )
        await pipeline.run([ScriptedScanner([raw])])
        await pipeline.aclose()
        return store

    store = asyncio.run(go())
    assert store.outcomes() == {1: ("quarantined", "expiry-invalid")}


async def test_the_same_ui_from_two_scanners_at_once_is_shelved_only_once(
    store_url: str, site: SitePolicy
) -> None:
    delivery = generate_delivery(1, seed=12, suspect_rate=0.0, today=TODAY)
    hub = MockHub(seed=1)
    seed_hub(hub, delivery)
    store = Store.open(store_url)
    pipeline = Pipeline(
        store=store, hub=ResilientHub(hub.client(LOCATION)), robot=SimRobot(), site=site
    )
    twins = [ScriptedScanner(delivery.raws, source=name) for name in ("bench-a", "bench-b")]
    await pipeline.run(twins)
    await pipeline.aclose()
    assert sorted(route for route, _why in store.outcomes().values()) == [
        "quarantined",
        "shelved",
    ]
    assert hub.alerts == []
    assert set(hub.state_changes_by_pack.values()) <= {1}


class Jammed(SimRobot):
    """A robot whose driver fails in its own way on one pack."""

    async def execute(self, job: Job) -> JobOutcome:
        if job.token == 2:
            raise TimeoutError("no reply from the robot")
        return await super().execute(job)


async def test_a_robot_failure_flags_that_pack_and_loading_goes_on(
    store_url: str, logs: Logs
) -> None:
    delivery = generate_delivery(6, seed=13, suspect_rate=0.0, today=TODAY)
    hub = MockHub(seed=1)
    seed_hub(hub, delivery)
    store = Store.open(store_url)
    pipeline = Pipeline(store=store, hub=ResilientHub(hub.client(LOCATION)), robot=Jammed(),
                        site=SitePolicy())  # fmt: skip
    await pipeline.run([ScriptedScanner(delivery.raws)])
    await pipeline.aclose()
    outcomes = store.outcomes()
    assert outcomes[2] == ("rejected", "decommissioned")
    assert [outcomes[t][0] for t in (1, 3, 4, 5, 6)] == ["shelved"] * 5
    assert store.summary()["flagged"] == 1
    flagged = [e for e in logs if e["event"] == "pack.flagged"]
    assert [e["log_level"] for e in flagged] == ["warning"]
    assert "fmd-robot outbox undo 2" in str(flagged[0]["detail"])


class Buggy(RelayClient):
    """A hub client that fails its own way (not a transport failure) on the second pack."""

    def __init__(self, inner: HubClient, serial: str) -> None:
        super().__init__(inner)
        self.serial = serial

    async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult:
        if ui.serial == self.serial:
            raise RuntimeError("bug in the client")
        return await self.inner.verify(ui, trx=trx)


async def test_an_internal_error_rejects_the_pack_as_an_internal_error(sqlite_url: str) -> None:
    delivery = generate_delivery(3, seed=13, suspect_rate=0.0, today=TODAY)
    hub = MockHub(seed=1)
    client = Buggy(hub.client(LOCATION), delivery.packs[1].ui.serial)
    loaded = await load(sqlite_url, delivery, site=SitePolicy(), hub=hub, client=client)
    assert loaded.outcomes[2] == ("rejected", "internal-error")
    assert [loaded.outcomes[t][0] for t in (1, 3)] == ["shelved"] * 2
    [job] = loaded.rows("robot_jobs", token=2)
    assert (job.code, job.reason) == (JobCode.DIVERT_TO_REJECT, JobReason.OPERATOR)
    [event] = loaded.rows("audit_events", subject="pack:2", action="pack.rejected")
    assert event.why == "internal-error"


async def test_each_pack_is_told_with_the_product_name_the_hub_gave(store_url: str) -> None:
    delivery = generate_delivery(6, seed=8, suspect_rate=0.0, today=TODAY)
    hub = MockHub(seed=1)
    seed_hub(hub, delivery)
    names = {p.product_code: p.name for p in master_data(delivery).products}
    store = Store.open(store_url)
    routed: list[Routed] = []
    pipeline = Pipeline(store=store, hub=ResilientHub(hub.client(LOCATION)), robot=SimRobot(),
                        site=SitePolicy(), on_routed=routed.append)  # fmt: skip
    await pipeline.run([ScriptedScanner([*delivery.raws, "not a pack"])])
    await pipeline.aclose()

    told = {r.token: r for r in routed}
    assert len(told) == 7
    for token, pack in zip(store_tokens(store), [*delivery.packs, None], strict=True):
        expected = names[pack.ui.product_code] if pack is not None else ""
        assert told[token].product_name == expected
    assert all(told[t].product_name for t in store_tokens(store)[:6])  # every one is named
    with store.reading() as conn:
        first = token_history(conn, store_tokens(store)[0])
    hub_call = next(h for h in first if h.kind is Happened.HUB)
    assert hub_call.detail["product_name"] == told[store_tokens(store)[0]].product_name
    assert told[store_tokens(store)[0]].product_name in hub_call.what


def store_tokens(store: Store) -> list[int]:
    return [token for token, _raw in store.raw_scans()]
