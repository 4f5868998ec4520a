"""The verification log: durable steps, outbox, audit hash chain, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from fmd.codes.model import PackIdentifier, ParsedScan
from fmd.hub.contract import HubResult, PackState, Reason
from fmd.policy import Action, Decision, Why
from robot_controller.robot.base import Job, JobCode, JobOutcome, JobResult
from robot_controller.states import HubOperation, IntentStatus, Route, Stage
from robot_controller.store import Store
from robot_controller.store.append_only import drop_statements
from robot_controller.store.audit import ChainCheck
from robot_controller.store.db import alembic_config
from scanners.base import Scan

AT = datetime(2026, 11, 26, 9, 30, 0, 123456, tzinfo=UTC)
UI = PackIdentifier("GTIN", "09506000134352", "SN123", "B1", date(2028, 1, 31), "280131")
PARSED = ParsedScan(
    raw="x",
    format="gs1",
    symbology="]d2",
    ui=UI,
    submit=True,
    scheme="GTIN",
    product_code=UI.product_code,
    serial=UI.serial,
    batch=UI.batch,
    expiry_raw=UI.expiry_raw,
)
SHELVE = Decision(Action.SHELVE, Why.VERIFIED, "active", decommission_to=Reason.SUPPLIED)


def scan(raw: str = "]d20109506000134352") -> Scan:
    return Scan(raw=raw, symbology_id=None, source="test", at=AT)


def test_a_new_store_is_migrated_to_the_newest_schema(store: Store) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with store.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head


def test_opening_an_existing_store_again_keeps_its_data(store_url: str) -> None:
    first = Store.open(store_url)
    token = first.record_scan(scan(), at=AT)
    first.close()
    again = Store.open(store_url)
    try:
        assert list(again.raw_scans()) == [(token, scan().raw)]
    finally:
        again.close()


@pytest.mark.parametrize("raw", ["", "\x00\x1d\x1e\x04", "\ud800 unpaired", "é€😀", "A" * 100_000])
def test_any_scan_text_is_kept_exactly(store: Store, raw: str) -> None:
    token = store.record_scan(scan(raw), at=AT)
    assert dict(store.raw_scans())[token] == raw


def test_a_decommission_intent_is_committed_before_it_is_sent(store: Store) -> None:
    token = store.record_scan(scan(), at=AT)
    store.record_decision(token, Stage.VERIFY, PARSED, SHELVE, at=AT)
    intent = store.queue_intent(
        token, UI, HubOperation.DECOMMISSION, Reason.SUPPLIED, trx="t-1", at=AT
    )
    assert (intent.operation, intent.reason, intent.status) == (
        "decommission",
        Reason.SUPPLIED,
        "pending",
    )
    assert [i.client_trx_id for i in store.pending_intents()] == ["t-1"]
    store.settle_intent(intent.id, IntentStatus.DONE, "NMVS_SUCCESS", at=AT)
    assert store.pending_intents() == []
    assert store.summary()["decommissioned"] == 1


def test_a_decision_queues_nothing_by_itself(store: Store) -> None:
    token = store.record_scan(scan(), at=AT)
    store.record_decision(token, Stage.VERIFY, PARSED, SHELVE, at=AT)
    assert store.last_decision(token) == SHELVE
    assert store.pending_intents() == []


def test_a_pack_that_missed_the_shelf_cancels_only_what_was_never_sent(store: Store) -> None:
    token = store.record_scan(scan(), at=AT)
    verify = store.queue_intent(token, UI, HubOperation.VERIFY, None, trx="t-v", at=AT)
    store.settle_intent(verify.id, IntentStatus.PENDING, None, at=AT)  # sent, no answer
    sent = store.queue_intent(
        token, UI, HubOperation.DECOMMISSION, Reason.SUPPLIED, trx="t-s", at=AT
    )
    store.settle_intent(sent.id, IntentStatus.PENDING, None, at=AT)
    unsent = store.queue_intent(
        token, UI, HubOperation.DECOMMISSION, Reason.SUPPLIED, trx="t-u", at=AT
    )
    store.cancel_unsent(token, at=AT, keep_verify=True)
    assert [i.client_trx_id for i in store.pending_intents()] == ["t-v", "t-s"]
    store.cancel_unsent(token, at=AT)
    assert [i.client_trx_id for i in store.pending_intents()] == ["t-s"]
    assert unsent.id not in {i.id for i in store.pending_intents()}
    assert store.check_audit_chain().ok


def test_an_alert_enters_the_alert_register(store: Store) -> None:
    token = store.record_scan(scan(), at=AT)
    alert = HubResult("alert", "NMVS_NC_PC_02", PackState.UNKNOWN, alert_id="ALR-1")
    store.record_verification(token, "verify", UI, "t-2", alert, error=None, latency_s=0.01, at=AT)
    store.record_verification(token, "verify", UI, "t-3", None, error="timeout", latency_s=5, at=AT)
    assert store.summary()["alerts"] == 1


def test_unfinished_scans_show_what_a_crash_left_half_done(store: Store) -> None:
    fresh = store.record_scan(scan(), at=AT)
    queued = store.record_scan(scan(), at=AT)
    store.record_decision(queued, Stage.VERIFY, PARSED, SHELVE, at=AT)
    store.queue_intent(queued, UI, HubOperation.DECOMMISSION, Reason.SUPPLIED, trx="t-4", at=AT)
    moving = store.record_scan(scan(), at=AT)
    store.start_job(Job(JobCode.PLACE_ON_SHELF, moving), at=AT)
    done = store.record_scan(scan(), at=AT)
    store.finish(done, route=Route.REJECTED, why=Why.UNREADABLE, message="", ui=None, at=AT)

    unfinished = {u.token: u for u in store.unfinished()}
    assert set(unfinished) == {fresh, queued, moving}
    assert not unfinished[fresh].decided
    assert unfinished[queued].open_intent is not None
    assert unfinished[moving].started_job is not None
    assert store.summary()["lost"] == 3


def test_a_shelved_ui_is_in_stock(store: Store) -> None:
    token = store.record_scan(scan(), at=AT)
    job = store.start_job(Job(JobCode.PLACE_ON_SHELF, token), at=AT)
    assert not store.in_stock(UI)
    store.finish(
        token,
        route=Route.SHELVED,
        why=Why.VERIFIED,
        message="",
        ui=UI,
        at=AT,
        job_id=job,
        outcome=JobOutcome(JobResult.STORED, location=17),
    )
    assert store.in_stock(UI)
    assert store.outcomes() == {token: ("shelved", "verified")}


def test_the_audit_chain_verifies_and_shows_where_it_was_tampered_with(store: Store) -> None:
    for minute in range(3):
        store.record_scan(scan(), at=AT + timedelta(minutes=minute))
    check = store.check_audit_chain()
    assert check.ok
    assert check.events == 3
    with store.engine.begin() as conn:
        for statement in drop_statements(store.engine.dialect.name):  # as an attacker would
            conn.execute(sa.text(statement))
        conn.execute(sa.text("UPDATE audit_events SET why = 'forged' WHERE id = 2"))
    check = store.check_audit_chain()
    assert not check.ok
    assert check.broken_at == 2


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_events SET why = 'forged'", "DELETE FROM audit_events WHERE id = 1"],
)
def test_the_database_refuses_to_change_or_delete_audit_events(
    store: Store, statement: str
) -> None:
    store.record_scan(scan(), at=AT)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.engine.begin() as conn:
        conn.execute(sa.text(statement))
    assert store.check_audit_chain() == ChainCheck(ok=True, events=1)


def test_a_naive_timestamp_is_refused(store: Store) -> None:
    with pytest.raises((ValueError, sa.exc.StatementError), match="naive datetime"):
        store.record_scan(scan(), at=datetime(2026, 1, 1))  # noqa: DTZ001 - naive on purpose


def test_the_migrations_build_exactly_the_schema_the_models_describe(store: Store) -> None:
    from alembic.autogenerate import compare_metadata

    from robot_controller.store.schema import TABLES

    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), TABLES) == []


def test_recovery_shows_the_oldest_open_intent_and_the_started_job(store: Store) -> None:
    token = store.record_scan(scan(), at=AT)
    first = store.queue_intent(
        token, UI, HubOperation.DECOMMISSION, Reason.SUPPLIED, trx="t-5", at=AT
    )
    store.settle_intent(first.id, IntentStatus.FAILED, "NMVS_NC_PCK_19", at=AT)
    second = store.queue_intent(token, UI, HubOperation.UNDO, Reason.SUPPLIED, trx="t-6", at=AT)
    store.queue_intent(token, UI, HubOperation.DECOMMISSION, Reason.SUPPLIED, trx="t-7", at=AT)
    job = store.start_job(Job(JobCode.PLACE_ON_SHELF, token), at=AT)
    other = store.record_scan(scan(), at=AT)

    first_pack, second_pack = store.unfinished()
    assert (first_pack.token, second_pack.token) == (token, other)
    assert first_pack.open_intent is not None
    assert (first_pack.open_intent.id, first_pack.open_intent.operation) == (second.id, "undo")
    assert first_pack.started_job == job
    assert not first_pack.decided
    assert (second_pack.open_intent, second_pack.started_job) == (None, None)


def test_a_failed_write_leaves_no_audit_event_behind(store: Store) -> None:
    with pytest.raises((ValueError, sa.exc.StatementError)):
        store.record_scan(scan(), at=datetime(2026, 1, 1))  # noqa: DTZ001 - naive on purpose
    with pytest.raises(ZeroDivisionError):
        rolled_back_batch(store)
    store.record_scan(scan(), at=AT)
    check = store.check_audit_chain()
    assert (check.ok, check.events) == (True, 1)


def rolled_back_batch(store: Store) -> None:
    with store.batch():
        store.record_scan(scan(), at=AT)
        raise ZeroDivisionError


def test_a_change_of_state_is_audited_with_the_values_it_replaced_and_set(store: Store) -> None:
    token = store.record_scan(scan(), at=AT)
    intent = store.queue_intent(
        token, UI, HubOperation.DECOMMISSION, Reason.SUPPLIED, trx="t-9", at=AT
    )
    store.settle_intent(intent.id, IntentStatus.DONE, "NMVS_SUCCESS", at=AT)
    store.finish(token, route=Route.SHELVED, why=Why.VERIFIED, message="", ui=UI, at=AT)
    store.flag(token, "check the pack", at=AT)
    with store.engine.connect() as conn:
        changes = {
            row.action: (json.loads(row.before), json.loads(row.after))
            for row in conn.execute(sa.text("SELECT * FROM audit_events WHERE before IS NOT NULL"))
        }
    assert changes == {
        "outbox.done": (
            {"status": "pending", "last_code": None, "attempts": 0},
            {"status": "done", "last_code": "NMVS_SUCCESS", "attempts": 1},
        ),
        "pack.flagged": (
            {"flagged": False, "message": ""},
            {"flagged": True, "message": "check the pack"},
        ),
    }
