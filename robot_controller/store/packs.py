"""One pack by its product code and serial, for the pack actions (`fmd-robot pack …`): what the
store knows of it, and the changes of the flagged packs whose undo deadline the daemon watches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fmd.codes.model import PackIdentifier
from robot_controller.states import HubOperation, IntentStatus, Route
from robot_controller.store import intents
from robot_controller.store.codec import intent_of
from robot_controller.store.records import Intent, KnownPack
from robot_controller.store.schema import decisions, of_robot, outbox, outcomes, scans

LANDED_CHANGES = (HubOperation.DECOMMISSION, HubOperation.CONFIRM, HubOperation.UNDO)


def find(conn: Connection, product_code: str, serial: str) -> KnownPack | None:
    """The pack with this product code and serial as the log knows it (None: never seen)."""
    tables = (decisions, outcomes, outbox)
    tokens = sa.union(
        *(
            sa.select(t.c.token).where(t.c.product_code == product_code, t.c.serial == serial)
            for t in tables
        )
    ).subquery()
    token = conn.execute(sa.select(sa.func.max(tokens.c.token))).scalar()
    if token is None:
        return None
    found = [outbox.c.product_code == product_code, outbox.c.serial == serial]
    history = tuple(intent_of(row) for row in conn.execute(intents.select(found)))
    route = conn.execute(sa.select(outcomes.c.route).where(outcomes.c.token == token)).scalar()
    ui = _newest_ui(conn, history, product_code, serial)
    return KnownPack(int(token), None if route is None else Route(route), ui, history)


def _newest_ui(
    conn: Connection, history: tuple[Intent, ...], product_code: str, serial: str
) -> PackIdentifier | None:
    """The full identifier the pack was last seen with: its newest decision's (batch, expiry
    as printed), or its newest intent's when that is as new (it keeps the NHRN too)."""
    decided = conn.execute(
        sa.select(decisions)
        .where(
            decisions.c.product_code == product_code,
            decisions.c.serial == serial,
            decisions.c.scheme.is_not(None),
            decisions.c.batch.is_not(None),
            decisions.c.expiry_raw.is_not(None),
        )
        .order_by(decisions.c.id.desc())
        .limit(1)
    ).first()
    queued = history[-1] if history else None
    if queued is not None and (decided is None or queued.token >= decided.token):
        return queued.ui
    if decided is None:
        return None
    return PackIdentifier(
        decided.scheme, product_code, serial, decided.batch, None, decided.expiry_raw
    )


def of_token(conn: Connection, token: int) -> tuple[str, str] | None:
    """The product code and serial of the pack a token names (None: none recorded)."""
    for table in (outbox, decisions, outcomes):
        row: Any = conn.execute(
            sa.select(table.c.product_code, table.c.serial)
            .where(table.c.token == token, table.c.product_code.is_not(None))
            .limit(1)
        ).first()
        if row is not None and row.serial is not None:
            return str(row.product_code), str(row.serial)
    return None


def flagged_changes(conn: Connection, robot: str, since: datetime) -> list[Intent]:
    """The changes that landed since `since` (decommissions, confirms, undos) of `robot`'s
    packs that are flagged off the shelf, oldest first."""
    flagged = sa.select(outcomes.c.token).where(
        outcomes.c.flagged,
        outcomes.c.route != Route.SHELVED.value,
        outcomes.c.token.in_(sa.select(scans.c.id).where(of_robot(robot))),
    )
    query = intents.select(
        (
            outbox.c.token.in_(flagged),
            outbox.c.status == IntentStatus.DONE.value,
            outbox.c.operation.in_([op.value for op in LANDED_CHANGES]),
            outbox.c.created_at >= since,
        )
    )
    return [intent_of(row) for row in conn.execute(query)]


def on_the_shelf_or_out(
    conn: Connection, product_code: str, serial: str
) -> tuple[int, Route] | None:
    """The newest of the pack's tokens that is on the shelf or was dispensed, with its route
    (None: the log never shelved nor dispensed it)."""
    query = (
        sa.select(outcomes.c.token, outcomes.c.route)
        .where(
            outcomes.c.product_code == product_code,
            outcomes.c.serial == serial,
            outcomes.c.route.in_([Route.SHELVED.value, Route.DISPENSED.value]),
        )
        .order_by(outcomes.c.token.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    return None if row is None else (int(row.token), Route(row.route))
