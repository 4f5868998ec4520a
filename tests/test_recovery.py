"""Start-up recovery: each half-done state a crash can leave is finished or resolved safely."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fmd.codes import parse_scan
from fmd.codes.model import PackIdentifier
from fmd.hub import HubClient, HubResult, MockHub, Reason
from fmd.hub.resilient import ResilientHub
from fmd.policy import Action, Decision, SitePolicy, Why
from robot_controller.pipeline import Pipeline, Routed
from robot_controller.robot.base import Job, JobCode
from robot_controller.robot.sim import SimRobot
from robot_controller.states import HubOperation, Stage
from robot_controller.store import Store
from scanners.base import Scan
from simulators.delivery import generate_delivery, seed_hub
from tests.support.relay import RelayClient

LOCATION = "ward-pharmacy"
NOW = datetime.now(UTC)
SHELVE = Decision(Action.SHELVE, Why.VERIFIED, "active", decommission_to=Reason.SUPPLIED)


async def test_every_half_done_pack_is_finished_without_a_second_decommission(
    store_url: str,
) -> None:
    delivery = generate_delivery(5, seed=21, suspect_rate=0.0, today=NOW.date())
    hub = MockHub(seed=1)
    seed_hub(hub, delivery)
    client = hub.client(LOCATION)
    store = Store.open(store_url)
    raw = delivery.raws
    tokens = [store.record_scan(Scan(r, None, "bench", NOW), at=NOW) for r in raw]
    parsed = [parse_scan(r) for r in raw]
    # 1: only recorded. 2: intent stored, sent, landed, reply lost. 3: intent stored, never sent.
    for n, trx in ((1, "a1"), (2, "a2")):
        store.record_decision(tokens[n], Stage.VERIFY, parsed[n], SHELVE, at=NOW)
        ui = delivery.packs[n].ui
        store.queue_intent(
            tokens[n], ui, HubOperation.DECOMMISSION, Reason.SUPPLIED, trx=trx, at=NOW
        )
    await client.decommission(delivery.packs[1].ui, Reason.SUPPLIED, trx="a1")
    # 4: the robot was moving it. 5: decided to quarantine, not yet handed to the robot.
    verified = Decision(Action.SHELVE, Why.VERIFIED)
    store.record_decision(tokens[3], Stage.VERIFY, parsed[3], verified, at=NOW)
    store.start_job(Job(JobCode.PLACE_ON_SHELF, tokens[3]), at=NOW)
    alert = Decision(Action.QUARANTINE, Why.ALERT)
    store.record_decision(tokens[4], Stage.VERIFY, parsed[4], alert, at=NOW)

    pipeline = Pipeline(store=store, hub=ResilientHub(client), robot=SimRobot(), site=SitePolicy())
    await pipeline.run([])
    await pipeline.aclose()

    outcomes = store.outcomes()
    assert [outcomes[t][0] for t in tokens] == [
        "shelved",
        "shelved",
        "shelved",
        "rejected",
        "quarantined",
    ]
    assert store.summary()["flagged"] == 1  # the pack that was on the move: the operator checks
    assert store.summary()["lost"] == 0
    assert set(hub.state_changes_by_pack.values()) == {1}
    assert hub.alerts == []
    assert store.pending_intents() == []


async def test_a_pack_decided_yesterday_that_expired_overnight_is_not_shelved(
    store_url: str,
) -> None:
    delivery = generate_delivery(1, seed=22, suspect_rate=0.0, today=NOW.date())
    expiry = delivery.packs[0].ui.expiry
    assert expiry is not None
    store = Store.open(store_url)
    raw = delivery.raws[0]
    token = store.record_scan(Scan(raw, None, "bench", NOW), at=NOW)
    shelve = Decision(Action.SHELVE, Why.VERIFIED)
    store.record_decision(token, Stage.VERIFY, parse_scan(raw), shelve, at=NOW)

    def after_expiry() -> datetime:
        return datetime.combine(expiry + timedelta(days=1), NOW.timetz())

    pipeline = Pipeline(store=store, hub=ResilientHub(MockHub().client(LOCATION)), robot=SimRobot(),
                        site=SitePolicy(mode="community"), clock=after_expiry)  # fmt: skip
    await pipeline.run([])
    await pipeline.aclose()
    assert store.outcomes() == {token: ("rejected", "expired")}


async def test_a_twin_of_a_recovered_pack_is_caught_before_its_decommission(
    store_url: str,
) -> None:
    delivery = generate_delivery(1, seed=23, suspect_rate=0.0, today=NOW.date())
    hub = MockHub(seed=1)
    seed_hub(hub, delivery)
    store = Store.open(store_url)
    raw = delivery.raws[0]
    first, twin = (store.record_scan(Scan(raw, None, "bench", NOW), at=NOW) for _ in range(2))
    store.record_decision(first, Stage.VERIFY, parse_scan(raw), SHELVE, at=NOW)  # then a crash

    pipeline = Pipeline(store=store, hub=ResilientHub(hub.client(LOCATION)), robot=SimRobot(),
                        site=SitePolicy(mode="hospital"))  # fmt: skip
    await pipeline.run([])
    await pipeline.aclose()

    outcomes = store.outcomes()
    assert (outcomes[first][0], outcomes[twin]) == (
        "shelved",
        ("quarantined", "duplicate-in-stock"),
    )
    assert set(hub.state_changes_by_pack.values()) == {1}
    assert hub.alerts == []


class ForgetsTrxIds(RelayClient):
    """A hub that does not recognise a trx id sent twice (the REST dialect carries none)."""

    def __init__(self, inner: HubClient) -> None:
        super().__init__(inner)
        self.decommissions = 0

    async def decommission(
        self, ui: PackIdentifier, to: Reason, *, trx: str | None = None
    ) -> HubResult:
        self.decommissions += 1
        return await self.inner.decommission(ui, to)


async def test_a_decommission_in_flight_at_a_crash_is_asked_about_before_it_is_sent_again(
    store_url: str,
) -> None:
    delivery = generate_delivery(1, seed=22, suspect_rate=0.0, today=NOW.date())
    hub = MockHub(seed=1)
    seed_hub(hub, delivery)
    store = Store.open(store_url)
    token = store.record_scan(Scan(delivery.raws[0], None, "bench", NOW), at=NOW)
    store.record_decision(token, Stage.VERIFY, parse_scan(delivery.raws[0]), SHELVE, at=NOW)
    ui = delivery.packs[0].ui
    store.queue_intent(token, ui, HubOperation.DECOMMISSION, Reason.SUPPLIED, trx="c1", at=NOW)
    # the process stopped after the request left and before its answer was recorded
    await hub.client(LOCATION).decommission(ui, Reason.SUPPLIED, trx="c1")
    forgetful = ForgetsTrxIds(hub.client(LOCATION))

    pipeline = Pipeline(
        store=store, hub=ResilientHub(forgetful), robot=SimRobot(), site=SitePolicy()
    )
    await pipeline.run([])
    await pipeline.aclose()

    assert store.outcomes()[token][0] == "shelved"
    assert forgetful.decommissions == 0, "it had landed: asked about, never sent again"
    assert hub.state_changes == 1
    assert hub.alerts == []


async def test_a_recovered_pack_keeps_the_product_name_the_hub_gave_before_the_crash(
    store_url: str,
) -> None:
    delivery = generate_delivery(1, seed=24, suspect_rate=0.0, today=NOW.date())
    hub = MockHub(seed=1)
    seed_hub(hub, delivery)
    store = Store.open(store_url)
    raw, ui = delivery.raws[0], delivery.packs[0].ui
    token = store.record_scan(Scan(raw, None, "bench", NOW), at=NOW)
    answer = await hub.client(LOCATION).verify(ui)
    assert answer.product_name  # the mock names every product of a generated delivery
    store.record_verification(token, "verify", ui, "v1", answer, error=None, latency_s=0.01,
                              at=NOW)  # fmt: skip
    store.record_decision(token, Stage.VERIFY, parse_scan(raw), SHELVE, at=NOW)  # then a crash
    routed: list[Routed] = []

    pipeline = Pipeline(store=store, hub=ResilientHub(hub.client(LOCATION)), robot=SimRobot(),
                        site=SitePolicy(mode="hospital"), on_routed=routed.append)  # fmt: skip
    await pipeline.run([])
    await pipeline.aclose()

    assert [(r.token, r.route.value, r.product_name) for r in routed] == [
        (token, "shelved", answer.product_name)
    ]
