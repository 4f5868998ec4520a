"""Processes on one store: writers take turns, one daemon per SQLite store and per robot on
PostgreSQL, migrations one at a time, and a store that cannot be written is one line."""

from __future__ import annotations

import os
import signal
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from fmd.codes.model import PackIdentifier
from fmd.hub import MockHub, Reason
from fmd.hub.resilient import ResilientHub
from fmd.policy import SitePolicy, Why
from robot_controller.pipeline import Pipeline
from robot_controller.robot.base import Job, JobCode, JobOutcome, JobResult
from robot_controller.robot.sim import SimRobot
from robot_controller.states import HubOperation, IntentStatus, Route
from robot_controller.store import Store, StoreBusy, StoreUnwritable
from robot_controller.store.audit import ChainCheck
from robot_controller.store.db import alembic_config, create_engine_for, migrate
from robot_controller.store.locks import hold_store
from robot_controller.store.schema import (
    audit_events,
    decisions,
    jobs,
    outbox,
    outcomes,
    scans,
    verifications,
)
from scanners.base import Scan
from scanners.script import ScriptedScanner
from simulators.delivery import Delivery, generate_delivery, seed_hub
from tests.support.processes import holding, run_together, store_child

AT = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
UI = PackIdentifier("GTIN", "09506000134352", "SN123", "B1", date(2028, 1, 31), "280131")


def scan(raw: str = "]d20109506000134352") -> Scan:
    return Scan(raw=raw, symbology_id=None, source="test", at=AT)


def test_two_writers_on_one_file_extend_one_audit_chain(sqlite_url: str) -> None:
    first, second = Store.open(sqlite_url), Store.open(sqlite_url)
    try:
        for _ in range(3):
            first.record_scan(scan(), at=AT)
            second.record_scan(scan(), at=AT)  # the head moved under `first`
        assert first.check_audit_chain() == ChainCheck(ok=True, events=6)
    finally:
        first.close()
        second.close()


def test_processes_writing_one_store_at_once_extend_one_audit_chain(store_url: str) -> None:
    Store.open(store_url).close()
    results = run_together([store_child("write", store_url, "25") for _ in range(3)])
    assert [code for code, _ in results] == [0, 0, 0], results
    store = Store.open(store_url)
    try:
        assert store.summary()["packs"] == 75
        assert store.check_audit_chain() == ChainCheck(ok=True, events=75)  # seq 1…75, no fork
    finally:
        store.close()


def test_processes_opening_a_fresh_store_at_once_all_find_it_built(store_url: str) -> None:
    results = run_together([store_child("open", store_url) for _ in range(4)])
    assert [code for code, _ in results] == [0, 0, 0, 0], results
    store = Store.open(store_url)
    try:
        with store.engine.connect() as conn:
            revision = MigrationContext.configure(conn).get_current_revision()
        assert revision == ScriptDirectory.from_config(alembic_config()).get_current_head()
    finally:
        store.close()


def test_a_second_daemon_on_a_sqlite_store_is_refused_naming_the_first(sqlite_url: str) -> None:
    with holding(sqlite_url, "robot-a") as first:
        for robot in ("robot-a", "robot-b"):  # the file is one daemon's, whatever its robot
            with pytest.raises(StoreBusy) as refused:
                hold_store(sqlite_url, robot=robot)
            message = str(refused.value)
            assert f"is in use by pid {first.pid} (fmd-robot " in message
            assert " since 20" in message
            assert "\n" not in message
            assert refused.value.pid == first.pid
        reader = Store.open(sqlite_url)  # reading beside it needs no lock
        reader.close()
    hold_store(sqlite_url, robot="robot-a").release()  # free once it has gone


def test_a_killed_daemon_leaves_its_store_free(sqlite_url: str) -> None:
    with holding(sqlite_url) as first:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        hold_store(sqlite_url, robot="robot").release()


@pytest.mark.postgres
def test_on_postgresql_each_robot_has_one_daemon(postgres_url: str) -> None:
    Store.open(postgres_url).close()
    with holding(postgres_url, "robot-a") as first:
        with pytest.raises(StoreBusy) as refused:
            hold_store(postgres_url, robot="robot-a")
        message = str(refused.value)
        assert f"robot 'robot-a' is driven by pid {first.pid} (" in message
        assert "\n" not in message
        hold_store(postgres_url, robot="robot-b").release()
    hold_store(postgres_url, robot="robot-a").release()


@pytest.mark.postgres
async def test_two_robots_on_one_postgresql_store_each_recover_only_their_own_packs(
    postgres_url: str,
) -> None:
    delivery, hub = known_delivery(6, seed=21, suspect_rate=0.0)
    store = Store.open(postgres_url)
    # what robot-a's daemon left when it crashed: a scan not yet decided, a pack mid-move
    fresh = store.record_scan(Scan(delivery.raws[0], None, "a", AT), at=AT, robot="robot-a")
    moving = store.record_scan(Scan(delivery.raws[1], None, "a", AT), at=AT, robot="robot-a")
    store.start_job(Job(JobCode.PLACE_ON_SHELF, moving), at=AT, robot="robot-a")
    robot_b, robot_a = SimRobot(), SimRobot()
    try:
        b = pipeline(store, hub, robot_b, "robot-b")
        await b.run([ScriptedScanner(delivery.raws[2:])])
        await b.aclose()
        assert {u.token for u in store.unfinished(robot="robot-a")} == {fresh, moving}
        assert not {fresh, moving} & set(robot_b.moves)
        assert len(store.outcomes()) == 4

        a = pipeline(store, hub, robot_a, "robot-a")  # robot-a's daemon starts again
        await a.run([])
        await a.aclose()
        assert store.unfinished(robot="robot-a") == []
        assert {fresh, moving} <= set(store.outcomes())
        assert set(robot_a.moves) == {fresh}  # the pack cut off mid-move is flagged, not moved
    finally:
        store.close()


def known_delivery(packs: int, *, seed: int, suspect_rate: float) -> tuple[Delivery, MockHub]:
    """A delivery, and a national system that knows it."""
    delivery = generate_delivery(
        packs, seed=seed, suspect_rate=suspect_rate, today=datetime.now(UTC).date()
    )
    hub = MockHub(seed=1)
    seed_hub(hub, delivery)
    return delivery, hub


def pipeline(store: Store, hub: MockHub, robot: SimRobot, name: str) -> Pipeline:
    return Pipeline(
        store=store,
        hub=ResilientHub(hub.client("ward-pharmacy")),
        robot=robot,
        site=SitePolicy(),
        robot_name=name,
    )


def test_a_store_on_an_old_schema_counts_its_unnamed_scans_as_the_default_robots(
    sqlite_url: str,
) -> None:
    store = Store.open(sqlite_url)
    try:
        old = store.record_scan(scan(), at=AT)
        with store.engine.begin() as conn:
            conn.execute(scans.update().values(robot=None))  # as 0001 recorded it
        named = store.record_scan(scan(), at=AT, robot="robot-b")
        assert [u.token for u in store.unfinished()] == [old]
        assert [u.token for u in store.unfinished(robot="robot-b")] == [named]
    finally:
        store.close()


def test_a_robot_is_due_to_retrieve_only_its_own_shelved_suspects(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    try:
        token = store.record_scan(scan(), at=AT, robot="robot-b")
        job = store.start_job(Job(JobCode.PLACE_ON_SHELF, token), at=AT, robot="robot-b")
        store.finish(token, route=Route.SHELVED, why=Why.VERIFIED, message="", ui=UI, at=AT,
                     job_id=job, outcome=JobOutcome(JobResult.STORED, location=17))  # fmt: skip
        check = store.queue_intent(token, UI, HubOperation.VERIFY, None, trx="t-1", at=AT)
        store.settle_intent(check.id, IntentStatus.FLAGGED, "NMVS_NC_PC_02", at=AT)
        assert store.retrievals_due(robot="robot-a") == ([], [])  # not on robot-a's shelf
        assert store.retrievals_due(robot="robot-b") == ([token], [])
    finally:
        store.close()


@pytest.mark.parametrize(
    ("pragma", "cause"),
    [("max_page_count", "the disk is full"), ("query_only", "it is read-only")],
)
def test_a_store_that_cannot_be_written_is_one_line_naming_it_and_the_cause(
    sqlite_url: str, pragma: str, cause: str
) -> None:
    store = Store.open(sqlite_url)
    try:
        pages = page_count(store.engine)
        value = pages if pragma == "max_page_count" else 1
        sa.event.listen(store.engine, "checkout", lambda dbapi, *_: dbapi.execute(
            f"PRAGMA {pragma} = {value}"))  # fmt: skip
        with pytest.raises(StoreUnwritable) as refused:
            fill(store)
        message = str(refused.value)
        assert message.startswith(f"store: {sqlite_url.removeprefix('sqlite:///')} cannot be ")
        assert cause in message
        assert "\n" not in message
    finally:
        store.close()


@pytest.mark.postgres
def test_a_read_only_postgresql_store_is_one_line(postgres_url: str) -> None:
    Store.open(postgres_url).close()
    name = postgres_url.rsplit("/", 1)[1]
    admin = sa.create_engine(
        "postgresql+psycopg://" + postgres_url.removeprefix("postgresql://").rsplit("/", 1)[0]
        + "/postgres", isolation_level="AUTOCOMMIT",
    )  # fmt: skip
    with admin.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
    admin.dispose()
    store = Store.open(postgres_url)  # at the newest schema already: opening writes nothing
    try:
        with pytest.raises(StoreUnwritable, match=r"^store: postgresql\S+ cannot be written: it "
                           r"is read-only \("):  # fmt: skip
            store.record_scan(scan(), at=AT)
    finally:
        store.close()


def fill(store: Store) -> None:
    for _ in range(50):
        store.record_scan(scan("x" * 4000), at=AT)


def page_count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())


async def test_a_store_that_fills_mid_run_stops_loading_with_every_recorded_pack_whole(
    tmp_path: Path,
) -> None:
    delivery, hub = known_delivery(60, seed=23, suspect_rate=0.3)
    url = f"sqlite:///{tmp_path / 'fmd.db'}"
    engine = create_engine_for(url)
    migrate(engine)
    limit = page_count(engine) + 40  # room for some packs, not for all
    sa.event.listen(engine, "checkout", lambda dbapi, *_: dbapi.execute(
        f"PRAGMA max_page_count = {limit}"))  # fmt: skip
    store = Store(engine)
    loading = pipeline(store, hub, SimRobot(), "robot")
    with pytest.raises(Exception) as stopped:  # noqa: PT011 - what wraps it is the pipeline's
        await loading.run([ScriptedScanner(delivery.raws)])
    await loading.aclose()
    store.close()
    assert caused_by(stopped.value, StoreUnwritable)

    after = Store.open(url)
    try:
        recorded = rows_per_pack(after.engine)
        assert 0 < len(after.outcomes()) < len(delivery.raws)
        assert recorded == events_per_pack(after.engine)
        assert after.check_audit_chain().ok
    finally:
        after.close()


def caused_by(error: BaseException | None, kind: type[BaseException]) -> bool:
    while error is not None:
        if isinstance(error, kind):
            return True
        error = error.__cause__
    return False


KIND_OF_TABLE: dict[str, sa.Table] = {
    "scan": scans,
    "decision": decisions,
    "hub": verifications,
    "robot": jobs,
    "pack": outcomes,
    "outbox.queued": outbox,
}
ROUTE_EVENTS = {f"pack.{route}" for route in Route}


def rows_per_pack(engine: sa.Engine) -> Counter[tuple[int, str]]:
    """How many rows of each step a pack has."""
    counted: Counter[tuple[int, str]] = Counter()
    with engine.connect() as conn:
        for kind, table in KIND_OF_TABLE.items():
            token = table.c.id if table is scans else table.c.token
            counted.update((int(row[0]), kind) for row in conn.execute(sa.select(token)))
    return counted


def events_per_pack(engine: sa.Engine) -> Counter[tuple[int, str]]:
    """How many audit events of each step a pack has (each step's rows have one)."""
    counted: Counter[tuple[int, str]] = Counter()
    with engine.connect() as conn:
        for row in conn.execute(sa.select(audit_events.c.action, audit_events.c.subject)):
            action, subject = str(row.action), str(row.subject)
            kind = action if action == "outbox.queued" else action.split(".")[0]
            if (kind == "pack" and action not in ROUTE_EVENTS) or kind not in KIND_OF_TABLE:
                continue
            counted[(int(subject.removeprefix("pack:")), kind)] += 1
    return counted


def test_what_waits_for_a_robot_counts_its_own_packs_alone(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        for n, robot in enumerate(("robot-a", "robot-b", "robot-b")):
            token = store.record_scan(scan(), at=AT, robot=robot)
            store.queue_intent(token, UI, HubOperation.DECOMMISSION, Reason.SUPPLIED,
                               trx=f"t-{n}", at=AT)  # fmt: skip
        assert store.outbox_counts(robot="robot-a") == {("decommission", "pending"): 1}
        assert store.outbox_counts(robot="robot-b") == {("decommission", "pending"): 2}
        assert store.outbox_counts() == {("decommission", "pending"): 3}  # the whole store
    finally:
        store.close()
