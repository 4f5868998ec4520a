"""The audit chain's canonical form, its walk, and a store from before the provable log that
upgrades to it and verifies (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command

from robot_controller.store import Store
from robot_controller.store.audit import (
    GENESIS,
    actor_event,
    canonical_form,
    canonical_json,
    utc_iso,
)
from robot_controller.store.chain_walk import MAX_FINDINGS, walk
from robot_controller.store.db import alembic_config, create_engine_for

AWKWARD = ["", 'quote " and \\', "é€😀", "\x00\x1f\x7f", "\ud800 unpaired", "<GS>\x1d", "—"]


@pytest.mark.parametrize("text", AWKWARD)
def test_the_canonical_form_is_canonical_json_of_the_event(text: str) -> None:
    at = datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=UTC)
    event = actor_event(at, text, f"a{text}", text, text, before={text: 1}, note=text)
    expected = canonical_json({
        "seq": 7, "prev": GENESIS, "at": at.isoformat(), "actor": event.actor,
        "action": event.action, "subject": event.subject, "why": event.why,
        "before": event.before, "after": event.after, "detail": event.detail,
    })  # fmt: skip
    assert canonical_form(7, GENESIS, event) == expected


@pytest.mark.parametrize(
    ("stored", "aware"),
    [
        ("2026-03-01 12:00:00.000000", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("2026-03-01 12:00:00.000120", datetime(2026, 3, 1, 12, 0, 0, 120, tzinfo=UTC)),
        ("2026-03-01T12:00:00", datetime(2026, 3, 1, 12, tzinfo=UTC)),
    ],
)
def test_a_sqlite_timestamp_reads_as_the_time_it_was_written(stored: str, aware: datetime) -> None:
    assert utc_iso(stored) == aware.isoformat()


def test_a_chain_broken_everywhere_keeps_a_bounded_list_of_findings() -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    rows = (
        (seq, at, "a", "b", "c", "d", "{}", None, None, f"{seq:064x}", f"{seq + 1:064x}")
        for seq in range(1, 4 * MAX_FINDINGS, 2)  # every other seq missing, every hash wrong
    )
    walked = walk(rows, (0, GENESIS), frozenset())
    assert len(walked.findings) == MAX_FINDINGS
    assert walked.more > 0
    assert not walked.check().ok


def test_a_store_from_before_the_provable_log_upgrades_and_verifies(store_url: str) -> None:
    engine = create_engine_for(store_url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0002")
            for seq in (1, 2, 5):  # the old ids had gaps; the old hashes another form
                conn.execute(
                    sa.text(
                        "INSERT INTO audit_events (id, at, actor, action, subject, why, detail, "
                        "prev_hash, hash) VALUES (:id, :at, 'daemon', 'scan.recorded', "
                        "'pack:1', 'test', '{}', :prev, :hash)"
                    ),
                    {
                        "id": seq,
                        "at": datetime(2025, 1, seq, tzinfo=UTC),
                        "prev": f"p{seq}",
                        "hash": f"h{seq}",
                    },
                )
    finally:
        engine.dispose()
    upgraded = Store.open(store_url)
    try:
        with upgraded.audit_snapshot() as snapshot:
            walked = snapshot.walk(frozenset())
        assert walked.findings == ()
        assert (walked.events, walked.end[0]) == (3, 3)
    finally:
        upgraded.close()


def test_the_database_refuses_to_change_or_delete_checkpoints(store: Store) -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    store.add_checkpoint(1, GENESIS, at=at, key_id="0" * 16, signature="x")
    for statement in ("UPDATE audit_checkpoints SET seq = 2", "DELETE FROM audit_checkpoints"):
        with (
            pytest.raises(sa.exc.DatabaseError, match="append-only"),
            store.engine.begin() as conn,
        ):
            conn.execute(sa.text(statement))
    assert store.last_checkpoint() is not None
