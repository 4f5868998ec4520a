"""The alert register's rows: a case opened for each hub alert, its transitions (each with its
audit event, in the same transaction), and the quarantine inventory.

The rules of a transition are `robot_controller.alert_cases`; this module applies them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fmd.codes.model import PackIdentifier
from fmd.hub.contract import HubResult, ManualEntry, Reason
from robot_controller.alert_cases import (
    AlertCase,
    AlertCause,
    AlertState,
    Transition,
    TransitionRefused,
    transition,
)
from robot_controller.states import HubOperation, IntentStatus, Route
from robot_controller.store.audit import actor_event, pack_event
from robot_controller.store.schema import alert_transitions, alerts, decisions, outbox, outcomes
from robot_controller.store.statements import HotPath
from robot_controller.store.transactions import Written


@dataclass(frozen=True, slots=True)
class QuarantinedPack:
    """A pack in the quarantine chute: what it is, why and since when it is there, and the
    newest alert case of the pack (None: the hub raised no alert for it)."""

    token: int
    product_code: str | None
    serial: str | None
    batch: str | None
    expiry_raw: str | None
    why: str
    message: str
    since: datetime
    flagged: bool
    alert: AlertCase | None


def case_row(
    token: int, ui: PackIdentifier | ManualEntry, result: HubResult, location: str | None,
    at: datetime,
) -> dict[str, Any]:  # fmt: skip
    """The row of the case a hub alert opens."""
    return case_row_of(token, ui, result.return_code, result.message, location, at,
                       alert_id=result.alert_id)  # fmt: skip


def case_row_of(
    token: int, ui: PackIdentifier | ManualEntry, return_code: str, message: str,
    location: str | None, at: datetime, *, alert_id: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The row of a case: a hub alert's, or a refused hand-out decommission's (no alert id)."""
    return {
        "token": token,
        "alert_id": alert_id,
        "return_code": return_code,
        "message": message,
        "status": AlertState.OPEN.value,
        "raised_at": at,
        "product_code": ui.product_code,
        "serial": ui.serial,
        "batch": ui.batch,
        "location": location,
    }


def case_of(row: Any) -> AlertCase:
    """An `alerts` row as a case."""
    return AlertCase(
        id=row.id,
        token=row.token,
        alert_id=row.alert_id,
        return_code=row.return_code,
        message=row.message,
        raised_at=row.raised_at,
        state=AlertState(row.status),
        cause=AlertCause(row.cause) if row.cause else None,
        updated_at=row.updated_at,
        product_code=row.product_code,
        serial=row.serial,
        batch=row.batch,
        location=row.location,
    )


def _transition_of(row: Any) -> Transition:
    return Transition(
        from_state=AlertState(row.from_state),
        to_state=AlertState(row.to_state),
        cause=AlertCause(row.cause) if row.cause else None,
        reason=row.reason,
        actor=row.actor,
        at=row.at,
    )


def _found(conn: Connection, alert: int, *, lock: bool = False) -> AlertCase:
    query = sa.select(alerts).where(alerts.c.id == alert)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise TransitionRefused(f"there is no alert {alert} in the register")
    return case_of(row)


def move(
    conn: Connection,
    alert: int,
    to: str,
    *,
    cause: str | None,
    reason: str,
    actor: str,
    at: datetime,
) -> Written[AlertCase]:
    """Move case `alert` to state `to` (closing with `cause`): the case, its transition row and
    an audit event with the state and cause before and after; `TransitionRefused` (nothing
    written) when the rules do not allow it. On PostgreSQL the case's row is locked first, so
    two people cannot move one case from the same state at once."""
    current = _found(conn, alert, lock=True)
    step = transition(current, to, cause=cause, reason=reason, actor=actor, at=at)
    cause_value = step.cause.value if step.cause else None
    conn.execute(
        alerts.update()
        .where(alerts.c.id == alert)
        .values(status=step.to_state.value, cause=cause_value, updated_at=at)
    )
    conn.execute(
        alert_transitions.insert().values(
            alert=alert, from_state=step.from_state.value, to_state=step.to_state.value,
            cause=cause_value, reason=step.reason, actor=step.actor, at=at,
        )
    )  # fmt: skip
    event = actor_event(
        at, step.actor, f"alert.{step.to_state}", f"alert:{alert}", step.reason,
        before={"state": current.state.value,
                "cause": current.cause.value if current.cause else None},
        after={"state": step.to_state.value, "cause": cause_value},
        token=current.token, alert_id=current.alert_id, return_code=current.return_code,
    )  # fmt: skip
    moved = replace(current, state=step.to_state, cause=step.cause, updated_at=at)
    return Written(moved, (event,))


def cases(conn: Connection, state: AlertState | None) -> list[AlertCase]:
    """Every case (in `state`, if given), in the order they were opened."""
    query = sa.select(alerts).order_by(alerts.c.id)
    if state is not None:
        query = query.where(alerts.c.status == state.value)
    return [case_of(row) for row in conn.execute(query)]


def cases_of(conn: Connection, token: int, since: datetime) -> list[AlertCase]:
    """The cases of one pack raised at or after `since`, oldest first."""
    query = (
        sa.select(alerts)
        .where(alerts.c.token == token, alerts.c.raised_at >= since)
        .order_by(alerts.c.id)
    )
    return [case_of(row) for row in conn.execute(query)]


def open_refused(
    sql: HotPath, conn: Connection, token: int, ui: PackIdentifier, return_code: str,
    message: str, location: str | None, at: datetime, since: datetime,
) -> Written[AlertCase]:  # fmt: skip
    """The case of a state change the hub refused: the newest one the pack's alerts opened at
    or after `since`, else one opened now, with its `alert.raised` event."""
    opened = cases_of(conn, token, since)
    if opened:
        return Written(opened[-1], ())
    row = case_row_of(token, ui, return_code, message, location, at)
    case_id = int(sql.insert(conn, alerts, row, returning="id").fetchone()[0])
    raised = pack_event(at, "alert.raised", token, return_code, alert=case_id, location=location)
    return Written(_found(conn, case_id), (raised,))


def case(conn: Connection, alert: int) -> tuple[AlertCase, list[Transition]] | None:
    """One case and its transitions, oldest first (None: no such case)."""
    row = conn.execute(sa.select(alerts).where(alerts.c.id == alert)).first()
    if row is None:
        return None
    steps = conn.execute(
        sa.select(alert_transitions)
        .where(alert_transitions.c.alert == alert)
        .order_by(alert_transitions.c.id)
    )
    return case_of(row), [_transition_of(step) for step in steps]


LEAVE_THE_CHUTE = frozenset(
    {Reason.DESTROYED, Reason.EXPORTED, Reason.SAMPLE, Reason.FREE_SAMPLE, Reason.STOLEN}
)
"""The pack actions after which a pack is no longer in the chute (it was destroyed, sent away,
taken as a sample, or is gone); a LOCKED pack stays there."""


def _in_quarantine() -> sa.ColumnElement[bool]:
    """The packs in the quarantine chute: their route is `quarantined` (sent there, or retrieved
    there from the shelf), and they have not left it since: no pack action that takes it out
    (`LEAVE_THE_CHUTE`) landed for it, and its alert case was not closed as returned to the
    supplier."""
    taken_out = sa.select(outbox.c.token).where(
        outbox.c.status == IntentStatus.DONE.value,
        outbox.c.operation == HubOperation.DECOMMISSION.value,
        outbox.c.reason.in_([reason.value for reason in LEAVE_THE_CHUTE]),
    )
    returned = sa.select(alerts.c.token).where(
        alerts.c.status == AlertState.CLOSED.value,
        alerts.c.cause == AlertCause.RETURNED_TO_SUPPLIER.value,
    )
    return (
        (outcomes.c.route == Route.QUARANTINED.value)
        & outcomes.c.token.not_in(taken_out)
        & outcomes.c.token.not_in(returned)
    )


def quarantine(conn: Connection) -> list[QuarantinedPack]:
    """The quarantine inventory, the longest there first: three queries, whatever its size."""
    held = sa.select(outcomes.c.token).where(_in_quarantine())
    newest_decision = (
        sa.select(sa.func.max(decisions.c.id))
        .where(decisions.c.token.in_(held))
        .group_by(decisions.c.token)
    )
    parsed = {
        row.token: row
        for row in conn.execute(
            sa.select(
                decisions.c.token, decisions.c.product_code, decisions.c.serial,
                decisions.c.batch, decisions.c.expiry_raw,
            ).where(decisions.c.id.in_(newest_decision))
        )
    }  # fmt: skip
    newest_case: dict[int, AlertCase] = {}
    for row in conn.execute(
        sa.select(alerts).where(alerts.c.token.in_(held)).order_by(alerts.c.id)
    ):
        newest_case[row.token] = case_of(row)
    rows = conn.execute(
        sa.select(outcomes).where(_in_quarantine()).order_by(outcomes.c.at, outcomes.c.token)
    )
    inventory = []
    for row in rows:
        decision = parsed.get(row.token)
        inventory.append(
            QuarantinedPack(
                token=row.token,
                product_code=row.product_code or (decision.product_code if decision else None),
                serial=row.serial or (decision.serial if decision else None),
                batch=decision.batch if decision else None,
                expiry_raw=decision.expiry_raw if decision else None,
                why=row.why,
                message=row.message,
                since=row.at,
                flagged=row.flagged,
                alert=newest_case.get(row.token),
            )
        )
    return inventory
