"""Retention and `log prune`: nothing goes before its time; after it, a prefix of the chain up
to a checkpoint goes with the packs wholly in it, the chain still verifies from the cut, and
the prune is itself in the log (SQLite and PostgreSQL; the clock injected)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from fmd.codes.model import PackIdentifier, ParsedScan
from fmd.hub.contract import Reason
from fmd.policy import Action, Decision, Why
from robot_controller.proof.retention import PruneOutcome, PruneRefused, Retention, prune_log
from robot_controller.states import HubOperation, Stage
from robot_controller.store import Store
from robot_controller.store.audit import actor_event, chain_hash
from robot_controller.store.schema import (
    audit_checkpoints,
    audit_events,
    audit_prunes,
    decisions,
    scans,
)
from tests.support.audit import AT, Attacker, Signed, signed_store

UI = PackIdentifier("GTIN", "09506000134352", "SN1", "B1", date(2035, 1, 31), "350131")
PARSED = ParsedScan(
    raw="x", format="gs1", symbology="]d2", ui=UI, submit=True, scheme="GTIN",
    product_code=UI.product_code, serial=UI.serial, batch=UI.batch, expiry_raw=UI.expiry_raw,
)  # fmt: skip
SHELVE = Decision(Action.SHELVE, Why.VERIFIED, "active")
RETENTION = Retention(keep_years=5, keep_after_expiry_years=1)


@pytest.fixture
def signed(store: Store, tmp_path: Path) -> Signed:
    """Packs 1–10 (seq 1–10, signed at 10), then pack 11 expiring in January 2035 (seq 11–12),
    then packs 12–19 (seq 13–20, signed at 20)."""
    chain = signed_store(store, tmp_path)
    chain.record(10)
    assert chain.checkpoints.now() is not None
    (late,) = chain.record(1)
    store.record_decision(late, Stage.VERIFY, PARSED, SHELVE, at=chain.clock())
    chain.record(8)
    assert chain.checkpoints.now() is not None
    return chain


def prune(signed: Signed, years: float, **options: object) -> PruneOutcome:
    """`log prune` at AT + `years`: the prune, then the new head signed."""
    outcome = prune_log(
        signed.store, RETENTION, [signed.key.public], signed.folder,
        actor="c.officer", why="retention period passed",
        now=AT + timedelta(days=365.25 * years), **options,  # type: ignore[arg-type]
    )  # fmt: skip
    if outcome.pruned is not None and not outcome.dry_run:
        assert signed.checkpoints.now() is not None
    return outcome


def counts(store: Store) -> tuple[int, int]:
    with store.engine.connect() as conn:
        events: int = conn.execute(sa.text("SELECT count(*) FROM audit_events")).scalar_one()
        scans: int = conn.execute(sa.text("SELECT count(*) FROM scans")).scalar_one()
    return events, scans


def test_nothing_is_pruned_before_its_retention(signed: Signed) -> None:
    outcome = prune(signed, 4.9)
    assert outcome.pruned is None
    assert outcome.kept is not None
    assert outcome.kept.seq == 1
    assert outcome.kept.until == datetime(2031, 1, 5, 8, 0, 1, tzinfo=UTC)  # 5 years on
    assert counts(signed.store) == (20, 19)


def test_after_its_retention_a_prefix_goes_up_to_a_checkpoint_and_the_chain_verifies(
    signed: Signed,
) -> None:
    outcome = prune(signed, 6)
    assert outcome.pruned is not None
    assert (outcome.pruned.through.seq, outcome.pruned.events, outcome.pruned.packs) == (10, 10, 10)
    # pack 11 expires in 2035: kept until a year after, so the cut stops before its scan
    assert outcome.kept is not None
    assert outcome.kept.seq == 11
    assert outcome.kept.until == datetime(2036, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert counts(signed.store) == (11, 9)  # 10 left and the prune's own event; 9 packs
    report = signed.verify()
    assert report.ok, report.findings
    assert (report.first_seq, report.last_seq) == (11, 21)


def test_a_prune_is_recorded_with_who_why_and_how_many(signed: Signed) -> None:
    prune(signed, 6)
    with signed.store.engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT actor, why, detail, \"before\", \"after\" FROM audit_events "
                    "WHERE action = 'log.pruned'")
        ).one()  # fmt: skip
        (through,) = conn.execute(sa.text("SELECT through_seq FROM audit_prunes")).one()
    assert (row.actor, row.why) == ("c.officer", "retention period passed")
    assert json.loads(row.detail) == {"checkpoint": 1, "events": 10, "packs": 10, "through_seq": 10}
    assert (json.loads(row.before), json.loads(row.after)) == ({"first_seq": 1}, {"first_seq": 11})
    assert through == 10


def test_tampering_after_a_prune_is_still_caught(signed: Signed) -> None:
    prune(signed, 6)
    Attacker(signed.store).run("UPDATE audit_events SET why = 'forged' WHERE id = 15")
    assert signed.found() == {("edited", 15)}


def test_a_prune_whose_record_was_removed_is_caught(signed: Signed) -> None:
    prune(signed, 6)
    Attacker(signed.store).run("DELETE FROM audit_events WHERE action = 'log.pruned'")
    found = signed.found()
    assert ("prune", 10) in found


def test_a_prune_never_signed_is_caught(signed: Signed) -> None:
    """With the triggers in place and no key, a prune row lets the events up to a checkpoint
    be deleted, and a `log.pruned` event can be hashed onto the chain: only a signature is out
    of reach."""
    with signed.store.engine.begin() as conn:
        cut, head = conn.execute(
            sa.select(audit_checkpoints.c.id, audit_checkpoints.c.head_hash).where(
                audit_checkpoints.c.seq == 10
            )
        ).one()
        conn.execute(audit_prunes.insert().values(
            through_seq=10, head_hash=head, checkpoint=cut, events=10, actor="x", why="x", at=AT
        ))  # fmt: skip
        conn.execute(audit_events.delete().where(audit_events.c.id <= 10))
        last: int = conn.execute(sa.select(sa.func.max(audit_events.c.id))).scalar_one()
        prev: str = conn.execute(
            sa.select(audit_events.c.hash).where(audit_events.c.id == last)
        ).scalar_one()
        event = actor_event(
            signed.clock(), "x", "log.pruned", "log", "retention period passed",
            before={"first_seq": 1}, after={"first_seq": 11},
            through_seq=10, checkpoint=cut, events=10, packs=0,
        )  # fmt: skip
        conn.execute(audit_events.insert().values(
            id=last + 1, at=event.at, actor=event.actor, action=event.action,
            subject=event.subject, why=event.why, detail=event.detail, before=event.before,
            after=event.after, prev_hash=prev, hash=chain_hash(last + 1, prev, event),
        ))  # fmt: skip
    assert signed.found() == {("prune", 10)}


def test_a_pack_with_events_after_the_cut_keeps_its_rows(signed: Signed) -> None:
    signed.store.flag(3, "check it", at=signed.clock())  # seq 21, after the last checkpoint
    outcome = prune(signed, 6)
    assert outcome.pruned is not None
    assert outcome.pruned.packs == 9
    with signed.store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM scans WHERE id = 3")).scalar_one() == 1
    assert signed.verify().ok


def test_a_pack_with_work_still_open_is_kept_whatever_its_age(signed: Signed) -> None:
    ui = replace(UI, serial="SN2")
    signed.store.queue_intent(2, ui, HubOperation.UNDO, Reason.SUPPLIED, trx="t-1", at=AT)
    outcome = prune(signed, 50)
    assert outcome.pruned is None
    assert outcome.kept is not None
    assert (outcome.kept.seq, outcome.kept.until) == (2, None)


def test_a_dry_run_deletes_nothing(signed: Signed) -> None:
    outcome = prune(signed, 6, dry_run=True)
    assert outcome.pruned is not None
    assert outcome.pruned.events == 10
    assert counts(signed.store) == (20, 19)


def test_a_log_that_does_not_verify_is_not_pruned(signed: Signed) -> None:
    Attacker(signed.store).run("DELETE FROM audit_events WHERE id = 4")
    with pytest.raises(PruneRefused, match="does not verify"):
        prune(signed, 6)
    assert counts(signed.store) == (19, 19)


def test_a_prune_after_a_prune_cuts_further_and_still_verifies(signed: Signed) -> None:
    prune(signed, 6)
    outcome = prune(signed, 11)  # now pack 11 is past a year after its expiry
    assert outcome.pruned is not None
    assert outcome.pruned.through.seq == 20
    report = signed.verify()
    assert report.ok, report.findings
    assert report.first_seq == 21
    with signed.store.engine.connect() as conn:  # every pack went, its decision with it
        left = [conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for table in (scans, decisions, audit_prunes)]  # fmt: skip
    assert left == [0, 0, 2]
