"""`shelve_then_verify`: packs shelved while the hub was away are checked once it is back, and a
pack whose check fails is retrieved from the shelf into quarantine by the robot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import sqlalchemy as sa

from fmd.hub import MockHub
from fmd.hub.resilient import CircuitBreaker, ResilientHub, RetryPolicy
from fmd.policy import SitePolicy
from robot_controller.outbox import replay
from robot_controller.pipeline import Pipeline
from robot_controller.robot.base import Job, JobCode, JobReason
from robot_controller.robot.sim import SimRobot
from robot_controller.store import Store
from robot_controller.store.schema import jobs, outcomes
from scanners.base import Scan
from scanners.script import ScriptedScanner
from simulators.delivery import Kind, generate_delivery, seed_hub, supply_elsewhere
from tests.support.until import until

TODAY = datetime.now(UTC).date()
SUSPECT_ON_THE_SHELF = {Kind.ALREADY_SUPPLIED, Kind.RECALLED, Kind.UNKNOWN_SERIAL}


class OpenScanner:
    """A scanner left switched on: no scans, until it is closed."""

    def __init__(self) -> None:
        self._closed = asyncio.Event()

    async def scans(self) -> AsyncIterator[Scan]:
        await self._closed.wait()
        return
        yield  # an async generator that yields nothing

    async def aclose(self) -> None:
        self._closed.set()


async def test_a_shelved_pack_whose_deferred_check_fails_is_retrieved_to_quarantine(
    store_url: str,
) -> None:
    delivery = generate_delivery(30, seed=8, suspect_rate=0.5, today=TODAY)
    suspects = [p for p in delivery.packs if p.kind in SUSPECT_ON_THE_SHELF]
    assert suspects
    hub = MockHub(seed=2)
    seed_hub(hub, delivery)
    await supply_elsewhere(hub, delivery)
    hub.timeout_rate = 1.0  # the national system is away while the delivery is loaded
    store = Store.open(store_url)
    robot = SimRobot()
    resilient = ResilientHub(
        hub.client("ward"),
        retry=RetryPolicy(attempts=1),
        breaker=CircuitBreaker(failures=1, cooldown_s=0.05),
        timeout_s=1.0,
    )
    pipeline = Pipeline(
        store=store,
        hub=resilient,
        robot=robot,
        site=SitePolicy(mode="community", offline="shelve_then_verify"),
        replay_every_s=0.05,
    )
    still_open = OpenScanner()
    loading = asyncio.create_task(pipeline.run([ScriptedScanner(delivery.raws), still_open]))
    await until(lambda: len(store.outcomes()) == len(delivery.packs), timeout_s=10, every_s=0.05)
    tokens = [token for token, _ in store.raw_scans()]
    shelved_offline = {t for t, (route, _) in store.outcomes().items() if route == "shelved"}
    token_of = dict(zip((p.raw for p in delivery.packs), tokens, strict=True))
    assert {token_of[p.raw] for p in suspects} <= shelved_offline

    genuine = {token_of[p.raw] for p in delivery.packs if p.kind is Kind.GENUINE}
    retrieved = shelved_offline - genuine  # every suspect the hub would have refused
    hub.timeout_rate = 0.0  # back: the background replay checks the shelved packs

    def quarantined() -> bool:
        routes = store.outcomes()
        return all(routes[t][0] == "quarantined" for t in retrieved)

    await until(quarantined, timeout_s=20, every_s=0.05)
    await still_open.aclose()
    await loading
    await pipeline.aclose()

    routes = store.outcomes()
    assert {token_of[p.raw] for p in suspects} <= retrieved
    assert all(routes[t][0] == "quarantined" for t in retrieved)
    assert all(routes[t][0] == "shelved" for t in genuine)
    assert all(robot.moves[t] == 2 for t in retrieved)  # shelved once, retrieved once
    assert not retrieved & set(robot.shelf.values())
    with store.engine.connect() as conn:
        query = sa.select(jobs.c.token).where(jobs.c.code == JobCode.RETRIEVE_TO_QUARANTINE)
        assert sorted(conn.execute(query).scalars()) == sorted(retrieved)
    assert store.check_audit_chain().ok
    store.close()


async def test_suspects_found_by_an_offline_replay_are_retrieved_by_the_next_daemon(
    store_url: str,
) -> None:
    delivery = generate_delivery(20, seed=9, suspect_rate=0.5, today=TODAY)
    hub = MockHub(seed=2)
    seed_hub(hub, delivery)
    await supply_elsewhere(hub, delivery)
    hub.timeout_rate = 1.0
    store = Store.open(store_url)
    site = SitePolicy(mode="community", offline="shelve_then_verify")

    def pipeline(robot: SimRobot, replay_every_s: float | None) -> Pipeline:
        resilient = ResilientHub(
            hub.client("ward"), retry=RetryPolicy(attempts=1),
            breaker=CircuitBreaker(failures=1, cooldown_s=0.05), timeout_s=1.0,
        )  # fmt: skip
        return Pipeline(
            store=store, hub=resilient, robot=robot, site=site, replay_every_s=replay_every_s
        )

    robot = SimRobot()
    loading = pipeline(robot, None)
    await loading.run([ScriptedScanner(delivery.raws)])
    await loading.aclose()
    hub.timeout_rate = 0.0
    report = await replay(store, ResilientHub(hub.client("ward")), clock=lambda: datetime.now(UTC))
    assert report.suspect_tokens  # `fmd-robot outbox replay`: checked, but nobody retrieved them
    due, stuck = store.retrievals_due()
    assert due == report.suspect_tokens
    assert stuck == []

    # one of them: a retrieve that a crash cut off mid-move
    cut_off = due[0]
    location = store.shelved_location(cut_off)
    job = Job(JobCode.RETRIEVE_TO_QUARANTINE, cut_off, JobReason.FMD_ALERT, location)
    store.start_job(job, at=datetime.now(UTC))

    daemon = pipeline(robot, 0.05)
    still_open = OpenScanner()
    running = asyncio.create_task(daemon.run([still_open]))
    await until(lambda: not any(store.retrievals_due()), timeout_s=10, every_s=0.05)
    await still_open.aclose()
    await running
    await daemon.aclose()

    routes = store.outcomes()
    assert all(routes[t][0] == "quarantined" for t in due[1:])
    assert routes[cut_off][0] == "shelved"  # where it is, only the operator can tell …
    with store.engine.connect() as conn:
        flagged = sa.select(outcomes.c.flagged).where(outcomes.c.token == cut_off)
        assert conn.execute(flagged).scalar_one() is True  # … and is asked to
    store.close()
