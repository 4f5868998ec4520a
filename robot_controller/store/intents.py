"""The outbox: state changes for the hub, committed before they are sent, kept until settled.

Daemons sharing one PostgreSQL store claim the intents they replay (`claim`): a claim names the
robot whose daemon sends the intent (`claimed_by`, one live daemon per robot name by the robot
lock) and when it last held it (`claimed_at`); it is renewed before each request that carries
the intent (`keep`) and released when the intent settles or the replay ends (`release`). A claim
older than the lease belongs to a daemon that died or stays away, and another may take it over.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import ClauseElement

from fmd.codes.model import PackIdentifier
from fmd.hub.contract import ManualEntry, Reason
from robot_controller.states import HubOperation, IntentStatus
from robot_controller.store.audit import actor_event, canonical_json, pack_event
from robot_controller.store.codec import full_ui_columns, intent_of
from robot_controller.store.records import DEFAULT_ROBOT, Intent
from robot_controller.store.schema import of_robot, outbox, outcomes, scans
from robot_controller.store.statements import HotPath
from robot_controller.store.transactions import Written

CLAIM_LEASE = timedelta(minutes=10)
"""How long a claim holds without being renewed: longer than any one request to the hub (a
mixed bulk waits up to a minute for its answer), so a live daemon's claim never lapses while
its request is out; a daemon killed mid-replay leaves its claims to the others after this."""
UNCLAIMED = {"claimed_by": sa.null(), "claimed_at": sa.null()}


def _settle(*, counted: bool = False) -> ClauseElement:
    """The statement that settles an intent; one more attempt unless it was `counted` when
    it was sent (`note_sending`)."""
    attempts = outbox.c.attempts if counted else outbox.c.attempts + 1
    statement: ClauseElement = (
        outbox.update()
        .where(outbox.c.id == sa.bindparam("intent"))
        .values(
            status=sa.bindparam("to"),
            last_code=sa.bindparam("code"),
            attempts=attempts,
            updated_at=sa.bindparam("at"),
            **UNCLAIMED,  # settled (or asked again later): no daemon holds it any more
        )
        .returning(outbox.c.token, outbox.c.attempts)
    )
    return statement


def _as_it_was() -> ClauseElement:
    """What settling an intent replaces (the audit event's `before`), its row locked."""
    statement: ClauseElement = (
        sa.select(outbox.c.status, outbox.c.last_code, outbox.c.attempts)
        .where(outbox.c.id == sa.bindparam("intent"))
        .with_for_update()
    )
    return statement


def _settle_counted() -> ClauseElement:
    return _settle(counted=True)


def add(
    sql: HotPath,
    conn: Connection,
    token: int,
    ui: PackIdentifier,
    operation: HubOperation,
    reason: Reason | None,
    trx: str,
    at: datetime,
    *,
    location: str | None = None,
    actor: str | None = None,
    note: str | None = None,
    claimed_by: str | None = None,
) -> Written[Intent]:
    """Queue an intent (`location`: the premises queueing it); one a person asked for
    (`actor`, with their reason `note`) is audited in their name; `claimed_by`: the process
    that sends it itself, at once (no replay takes it within the lease)."""
    status = IntentStatus.PENDING
    row = {
        "token": token,
        "operation": operation.value,
        "reason": reason.value if reason else None,
        "client_trx_id": trx,
        **full_ui_columns(ui),
        "status": status.value,
        "attempts": 0,
        "created_at": at,
        "updated_at": at,
        "actor": actor,
        "note": note,
        "location": location,
    }
    if claimed_by is not None:
        row |= {"claimed_by": claimed_by, "claimed_at": at}
    intent_id = int(sql.insert(conn, outbox, row, returning="id").fetchone()[0])
    where: dict[str, Any] = {} if location is None else {"location": location}
    if actor is None:
        event = pack_event(at, "outbox.queued", token, operation.value, trx=trx, reason=reason,
                           **where)  # fmt: skip
    else:
        event = actor_event(at, actor, "outbox.queued", f"pack:{token}", note or "",
                            operation=operation.value, trx=trx, reason=reason, **where)  # fmt: skip
    intent = Intent(intent_id, token, operation, reason, trx, ui, status, 0, at,
                    actor=actor, note=note, location=location)  # fmt: skip
    return Written(intent, (event,))


def settle(
    sql: HotPath,
    conn: Connection,
    intent_id: int,
    status: IntentStatus,
    code: str | None,
    at: datetime,
    *,
    counted: bool = False,
) -> Written[None]:
    """An intent's new status after an attempt (one more attempt counted, unless `counted`
    before it was sent)."""
    was = sql.execute(conn, _as_it_was, intent=intent_id).fetchone()
    if was is None:
        raise LookupError(f"no outbox intent {intent_id}")
    statement = _settle_counted if counted else _settle
    cursor = sql.execute(conn, statement, intent=intent_id, to=status.value, code=code, at=at)
    token, attempts = cursor.fetchone()
    was_status, last_code, tried = was
    event = replace(
        pack_event(at, f"outbox.{status}", int(token), code or "", intent=intent_id),
        before=canonical_json({"status": was_status, "last_code": last_code, "attempts": tried}),
        after=canonical_json({"status": status.value, "last_code": code, "attempts": attempts}),
    )
    return Written(None, (event,))


def note_sending(
    conn: Connection, ids: Sequence[int], at: datetime, *, sent: bool = True
) -> Written[None]:
    """Count an attempt for each pending intent in `ids` before it is sent: from then on it
    may have reached the hub, whatever happens to this process, so it is asked about before
    it is sent again (a hub need not recognise a trx id sent twice). `sent` False takes the
    count back for one the hub answered without applying it (throttled)."""
    step = 1 if sent else -1
    rows = conn.execute(
        outbox.update()
        .where(outbox.c.id.in_(ids), outbox.c.status == IntentStatus.PENDING.value)
        .values(attempts=outbox.c.attempts + step, updated_at=at)
        .returning(outbox.c.id, outbox.c.token, outbox.c.operation)
    ).all()
    action = "outbox.sending" if sent else "outbox.not_applied"
    events = tuple(
        pack_event(at, action, row.token, str(row.operation), intent=row.id) for row in rows
    )
    return Written(None, events)


def cancel_unsent(conn: Connection, token: int, at: datetime, keep_verify: bool) -> Written[None]:
    """For a pack that missed the shelf: cancel its pending intents never sent, and its pending
    verify unless `keep_verify`; a decommission already sent may have landed, so it becomes a
    confirm, which replay only asks about and never sends again."""
    pending = (outbox.c.token == token) & (outbox.c.status == IntentStatus.PENDING.value)
    unsent = outbox.c.attempts == 0
    if not keep_verify:
        unsent = unsent | (outbox.c.operation == HubOperation.VERIFY.value)
    cancelled = conn.execute(
        outbox.update()
        .where(pending, unsent)
        .values(status=IntentStatus.CANCELLED.value, updated_at=at, **UNCLAIMED)
        .returning(outbox.c.id, outbox.c.operation)
    ).all()
    confirmed = conn.execute(
        outbox.update()
        .where(pending, outbox.c.operation == HubOperation.DECOMMISSION.value)
        .values(operation=HubOperation.CONFIRM.value, updated_at=at)
        .returning(outbox.c.id, outbox.c.operation)
    ).all()
    events = tuple(
        pack_event(at, action, token, str(operation), intent=intent_id)
        for action, rows in (("outbox.cancelled", cancelled), ("outbox.confirm_only", confirmed))
        for intent_id, operation in rows
    )
    return Written(None, events)


def select(where: Iterable[Any]) -> sa.Select[Any]:
    """Intents matching `where`, oldest first."""
    return sa.select(outbox).where(*where).order_by(outbox.c.id)


def of_pack(conn: Connection, token: int) -> list[Intent]:
    """Every intent of one pack, whatever its status, oldest first."""
    return [intent_of(row) for row in conn.execute(select([outbox.c.token == token]))]


def pending(
    conn: Connection, *, finished_packs_only: bool, tokens: Collection[int] | None = None
) -> list[Intent]:
    """Intents still waiting for the hub, oldest first (optionally of finished packs only, or
    of the packs `tokens` only)."""
    return [intent_of(row) for row in conn.execute(select(_waiting(finished_packs_only, tokens)))]


def unheld(
    conn: Connection,
    by: str,
    at: datetime,
    lease: timedelta,
    *,
    finished_packs_only: bool,
    tokens: Collection[int] | None = None,
) -> list[Intent]:
    """The pending intents `by` may send on a store one daemon holds (SQLite): all of them but
    those another process claimed within `lease` to send itself (a pack keyed in by hand)."""
    held = (
        outbox.c.claimed_by.is_not(None)
        & (outbox.c.claimed_by != by)
        & (outbox.c.claimed_at >= at - lease)
    )
    where = [*_waiting(finished_packs_only, tokens), ~held]
    return [intent_of(row) for row in conn.execute(select(where))]


def _waiting(finished_packs_only: bool, tokens: Collection[int] | None) -> list[Any]:
    """The conditions on intents still waiting for the hub (of finished packs only, of the
    packs `tokens` only)."""
    where: list[Any] = [outbox.c.status == IntentStatus.PENDING.value]
    if finished_packs_only:
        where.append(outbox.c.token.in_(sa.select(outcomes.c.token)))
    if tokens is not None:
        where.append(outbox.c.token.in_(tokens))
    return where


def claim(
    conn: Connection,
    by: str,
    at: datetime,
    lease: timedelta,
    *,
    finished_packs_only: bool,
    tokens: Collection[int] | None = None,
) -> Written[list[Intent]]:
    """Claim for robot `by`'s daemon the pending intents it is to send now, oldest first
    (optionally of finished packs only, or of the packs `tokens` only), on a store daemons
    share.

    It takes the intents of its own robot's packs (or of the packs `tokens`, whoever's: a pack
    action sends its own) that no daemon holds; those it holds itself
    (its robot's name is one live daemon's: a claim in its name is a dead predecessor's, whose
    requests ended with it); and any other whose claim, or when unclaimed its last change, is
    older than `lease`: another robot's daemon that died, or has not replayed for that long.
    An intent another daemon holds within its lease is never taken: it may be in flight. Rows
    another daemon is claiming at this moment are skipped (`FOR UPDATE SKIP LOCKED`), not
    waited for. Taking over another robot's intent is audited.
    """
    stale = sa.func.coalesce(outbox.c.claimed_at, outbox.c.updated_at) < at - lease
    ours: sa.ColumnElement[bool] = outbox.c.claimed_by.is_(None)
    if tokens is None:  # named packs are asked for whoever's they are; else its own robot's
        ours = ours & outbox.c.token.in_(sa.select(scans.c.id).where(of_robot(by)))
    where = [*_waiting(finished_packs_only, tokens), (outbox.c.claimed_by == by) | ours | stale]
    owner = sa.select(sa.func.coalesce(scans.c.robot, DEFAULT_ROBOT)).where(
        scans.c.id == outbox.c.token
    )
    picked = (
        sa.select(outbox.c.id, outbox.c.claimed_by.label("held_by"),
                  owner.scalar_subquery().label("owner"))
        .where(*where)
        .with_for_update(of=outbox, skip_locked=True)
        .cte("picked")
    )  # fmt: skip
    claimed = conn.execute(
        outbox.update()
        .where(outbox.c.id == picked.c.id)
        .values(claimed_by=by, claimed_at=at)
        .returning(*outbox.c, picked.c.held_by, picked.c.owner)
    )
    rows = sorted(claimed, key=lambda row: int(row.id))
    events = tuple(
        pack_event(at, "outbox.taken_over", row.token, f"from {row.held_by or row.owner}",
                   intent=row.id, by=by)
        for row in rows
        if (row.held_by or row.owner) != by
    )  # fmt: skip
    return Written([intent_of(row) for row in rows], events)


def keep(conn: Connection, ids: Sequence[int], by: str, at: datetime) -> Written[set[int]]:
    """Renew robot `by`'s claims on the pending intents in `ids`, just before a request carries
    them; the ids it still holds (another daemon took over the rest after the lease: they are
    that one's to send now)."""
    held = conn.execute(
        outbox.update()
        .where(
            outbox.c.id.in_(ids),
            outbox.c.claimed_by == by,
            outbox.c.status == IntentStatus.PENDING.value,
        )
        .values(claimed_at=at)
        .returning(outbox.c.id)
    )
    return Written({int(row.id) for row in held}, ())


def release(conn: Connection, by: str) -> Written[None]:
    """Give up robot `by`'s claims on the intents it leaves pending (its replay ended)."""
    conn.execute(
        outbox.update()
        .where(outbox.c.status == IntentStatus.PENDING.value, outbox.c.claimed_by == by)
        .values(**UNCLAIMED)
    )
    return Written(None, ())


def change_pending(conn: Connection, ui: PackIdentifier | ManualEntry) -> bool:
    """True when a state change (not a deferred check) for this pack waits in the outbox."""
    query = (
        sa.select(sa.literal(1))
        .where(
            outbox.c.product_code == ui.product_code,
            outbox.c.serial == ui.serial,
            outbox.c.status == IntentStatus.PENDING,
            outbox.c.operation != HubOperation.VERIFY,
        )
        .limit(1)
    )
    return conn.execute(query).first() is not None


def counts(conn: Connection, robot: str | None = None) -> dict[tuple[str, str], int]:
    """How many intents there are per (operation, status) (of `robot`'s packs alone, if given)."""
    query = sa.select(outbox.c.operation, outbox.c.status, sa.func.count()).group_by(
        outbox.c.operation, outbox.c.status
    )
    if robot is not None:
        query = query.where(outbox.c.token.in_(sa.select(scans.c.id).where(of_robot(robot))))
    return {(str(op), str(status)): cast(int, n) for op, status, n in conn.execute(query)}
