"""The queries of a period's reports: the summary's figures, the open undo deadlines, the alert
register and the audit events, each row streamed (a server-side cursor on PostgreSQL) so that
memory does not grow with the number of rows.

A period is `since` (included) to `until` (excluded), in UTC. What falls in it: a scan by when
it was recorded, a verification and a robot job by when they were made, a decommission by when
its intent was queued, a route by when it was settled, an alert by when it was raised.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fmd.hub.contract import Reason
from fmd.hub.rules import UNDO_WINDOW
from robot_controller.robot.base import fault_name
from robot_controller.states import HubOperation, IntentStatus
from robot_controller.store.schema import (
    alert_transitions,
    alerts,
    audit_events,
    jobs,
    outbox,
    outcomes,
    scans,
    verifications,
)

PERCENTILES = (50, 95, 99)
_BATCH = 1000


@dataclass(frozen=True, slots=True)
class HubFigures:
    """The national system as the period saw it: calls, how many it answered, and the
    latencies of the answered ones (nearest-rank percentiles, ms; None without answers)."""

    calls: int
    answered: int
    latency_ms: dict[int, float | None]

    @property
    def availability(self) -> float | None:
        return self.answered / self.calls if self.calls else None


@dataclass(frozen=True, slots=True)
class Day:
    """One day's packs by route, and its alerts."""

    day: date
    routes: dict[str, int]
    alerts: int


@dataclass(frozen=True, slots=True)
class Summary:
    """A period's figures (see the module for what falls in the period)."""

    since: datetime
    until: datetime
    scanned: int
    verified: int  # packs the hub answered a verify for
    decommissioned: dict[str, int]  # reason → decommissions that landed
    routes: dict[str, dict[str, int]]  # route → why → packs
    alerts_by_code: dict[str, int]
    alerts_by_cause: dict[str, int]  # an open or investigated alert counts under its state
    hub: HubFigures
    robot_faults: dict[str, int]  # "900 HOST_WATCHDOG" → jobs that ended with it
    open_undos: int
    days: list[Day]

    @property
    def empty(self) -> bool:
        return not (self.scanned or self.hub.calls or sum(self.alerts_by_code.values()))


@dataclass(frozen=True, slots=True)
class UndoDeadline:
    """A decommission that can still be undone, and until when."""

    token: int
    product_code: str
    serial: str
    reason: str | None
    decommissioned_at: datetime
    deadline: datetime
    route: str | None
    flagged: bool


def _in(column: sa.ColumnElement[Any], since: datetime, until: datetime) -> sa.ColumnElement[bool]:
    return (column >= since) & (column < until)


def _number(value: Any) -> int:
    return int(value)


def _grouped(conn: Connection, query: sa.Executable) -> dict[str, int]:
    return {str(key): _number(count) for key, count in conn.execute(query)}


def _count(conn: Connection, query: sa.Select[Any]) -> int:
    return int(conn.execute(query).scalar_one())


def _day(conn: Connection, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The UTC day of a timestamp column, as the backend spells it."""
    if conn.dialect.name == "postgresql":
        return sa.func.date(sa.func.timezone("UTC", column))
    return sa.func.date(column)  # SQLite keeps UTC text: its date part


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def summary(conn: Connection, *, since: datetime, until: datetime, now: datetime) -> Summary:
    """The figures of the period; `now` decides which undo deadlines are still open."""
    sent = verifications.c.at
    calls = sa.select(sa.func.count()).where(_in(sent, since, until))
    answered = (verifications.c.outcome.is_not(None)) & _in(sent, since, until)
    verified = sa.select(sa.func.count(sa.distinct(verifications.c.token))).where(
        answered, verifications.c.operation == HubOperation.VERIFY.value
    )
    landed = sa.select(sa.func.coalesce(outbox.c.reason, "none"), sa.func.count()).where(
        outbox.c.operation == HubOperation.DECOMMISSION.value,
        outbox.c.status == IntentStatus.DONE.value,
        _in(outbox.c.created_at, since, until),
    )
    raised = _in(alerts.c.raised_at, since, until)
    faults = sa.select(jobs.c.fault, sa.func.count()).where(
        jobs.c.fault.is_not(None), jobs.c.fault != 0, _in(jobs.c.started_at, since, until)
    )
    closing = sa.func.coalesce(alerts.c.cause, alerts.c.status)
    return Summary(
        since=since,
        until=until,
        scanned=_count(
            conn, sa.select(sa.func.count()).where(_in(scans.c.recorded_at, since, until))
        ),
        verified=_count(conn, verified),
        decommissioned=_grouped(conn, landed.group_by(outbox.c.reason)),
        routes=_routes(conn, since, until),
        alerts_by_code=_grouped(
            conn,
            sa.select(alerts.c.return_code, sa.func.count())
            .where(raised)
            .group_by(alerts.c.return_code),
        ),
        alerts_by_cause=_grouped(
            conn, sa.select(closing, sa.func.count()).where(raised).group_by(closing)
        ),
        hub=HubFigures(
            calls=_count(conn, calls.select_from(verifications)),
            answered=_count(conn, sa.select(sa.func.count()).where(answered)),
            latency_ms=_latencies(conn, answered),
        ),
        robot_faults={
            fault_name(_number(code)): _number(count)
            for code, count in conn.execute(faults.group_by(jobs.c.fault))
        },
        open_undos=sum(1 for _ in open_undos(conn, since=since, until=until, now=now)),
        days=_days(conn, since, until),
    )


def _routes(conn: Connection, since: datetime, until: datetime) -> dict[str, dict[str, int]]:
    query = (
        sa.select(outcomes.c.route, outcomes.c.why, sa.func.count())
        .where(_in(outcomes.c.at, since, until))
        .group_by(outcomes.c.route, outcomes.c.why)
    )
    routes: dict[str, dict[str, int]] = defaultdict(dict)
    for route, why, count in conn.execute(query):
        routes[str(route)][str(why)] = _number(count)
    return dict(routes)


def _latencies(conn: Connection, answered: sa.ColumnElement[bool]) -> dict[int, float | None]:
    """Nearest-rank percentiles of the answered calls' latencies, one indexed-free sort each,
    without holding the latencies in memory."""
    n = _count(conn, sa.select(sa.func.count()).where(answered))
    figures: dict[int, float | None] = {}
    for p in PERCENTILES:
        if n == 0:
            figures[p] = None
            continue
        rank = max(1, math.ceil(p / 100 * n))
        query = (
            sa.select(verifications.c.latency_s)
            .where(answered)
            .order_by(verifications.c.latency_s)
            .offset(rank - 1)
            .limit(1)
        )
        figures[p] = float(conn.execute(query).scalar_one()) * 1000
    return figures


def _days(conn: Connection, since: datetime, until: datetime) -> list[Day]:
    routed_on = _day(conn, outcomes.c.at)
    raised_on = _day(conn, alerts.c.raised_at)
    routes: dict[date, dict[str, int]] = defaultdict(dict)
    query = (
        sa.select(routed_on, outcomes.c.route, sa.func.count())
        .where(_in(outcomes.c.at, since, until))
        .group_by(routed_on, outcomes.c.route)
    )
    for day, route, count in conn.execute(query):
        routes[_as_date(day)][str(route)] = _number(count)
    raised = {
        _as_date(day): _number(count)
        for day, count in conn.execute(
            sa.select(raised_on, sa.func.count())
            .where(_in(alerts.c.raised_at, since, until))
            .group_by(raised_on)
        )
    }
    return [
        Day(day, routes.get(day, {}), raised.get(day, 0))
        for day in sorted(set(routes) | set(raised))
    ]


_decommission = outbox.alias("decommission")
_NO_UNDO = (Reason.STOLEN.value, Reason.DESTROYED.value)  # never undone (Art. 13)


def open_undos(
    conn: Connection, *, since: datetime, until: datetime, now: datetime
) -> Iterator[UndoDeadline]:
    """The period's decommissions that landed, were not undone, can be (not stolen or
    destroyed) and whose 240 h (Art. 13) have not passed at `now`, the nearest deadline
    first."""
    undone = sa.exists().where(
        outbox.c.token == _decommission.c.token,
        outbox.c.operation == HubOperation.UNDO.value,
        outbox.c.status == IntentStatus.DONE.value,
    )
    query = (
        sa.select(_decommission, outcomes.c.route, outcomes.c.flagged)
        .select_from(_decommission.outerjoin(outcomes, outcomes.c.token == _decommission.c.token))
        .where(
            _decommission.c.operation == HubOperation.DECOMMISSION.value,
            _decommission.c.status == IntentStatus.DONE.value,
            sa.func.coalesce(_decommission.c.reason, "").not_in(_NO_UNDO),
            _in(_decommission.c.created_at, max(since, now - UNDO_WINDOW), until),
            ~undone,
        )
        .order_by(_decommission.c.created_at, _decommission.c.id)
    )
    for row in conn.execution_options(yield_per=_BATCH).execute(query):
        yield UndoDeadline(
            token=row.token,
            product_code=row.product_code,
            serial=row.serial,
            reason=row.reason,
            decommissioned_at=row.created_at,
            deadline=row.created_at + UNDO_WINDOW,
            route=row.route,
            flagged=bool(row.flagged),
        )


ALERT_COLUMNS = ("alert", "alert_id", "raised_at", "return_code", "token", "product_code",
                 "serial", "batch", "location", "status", "cause", "message")  # fmt: skip
TRANSITION_COLUMNS = ("transition_at", "from_state", "to_state", "transition_cause", "reason",
                      "actor")  # fmt: skip


def alert_register(conn: Connection, *, since: datetime, until: datetime) -> Iterator[sa.Row[Any]]:
    """The alerts raised in the period, oldest first, each once per transition (once with no
    transition columns when it has none): `ALERT_COLUMNS` then `TRANSITION_COLUMNS` (the pack's
    identifier from its outcome when the alert has none)."""
    query = (
        sa.select(
            alerts.c.id.label("alert"),
            alerts.c.alert_id,
            alerts.c.raised_at,
            alerts.c.return_code,
            alerts.c.token,
            sa.func.coalesce(alerts.c.product_code, outcomes.c.product_code).label("product_code"),
            sa.func.coalesce(alerts.c.serial, outcomes.c.serial).label("serial"),
            alerts.c.batch,
            alerts.c.location,
            alerts.c.status,
            alerts.c.cause,
            alerts.c.message,
            alert_transitions.c.at.label("transition_at"),
            alert_transitions.c.from_state,
            alert_transitions.c.to_state,
            alert_transitions.c.cause.label("transition_cause"),
            alert_transitions.c.reason,
            alert_transitions.c.actor,
        )
        .select_from(
            alerts.outerjoin(outcomes, outcomes.c.token == alerts.c.token).outerjoin(
                alert_transitions, alert_transitions.c.alert == alerts.c.id
            )
        )
        .where(_in(alerts.c.raised_at, since, until))
        .order_by(alerts.c.raised_at, alerts.c.id, alert_transitions.c.id)
    )
    yield from conn.execution_options(yield_per=_BATCH).execute(query)


AUDIT_COLUMNS = ("seq", "at", "actor", "action", "subject", "why", "detail", "before", "after",
                 "prev_hash", "hash")  # fmt: skip


def audit_rows(conn: Connection, *, since: datetime, until: datetime) -> Iterator[sa.Row[Any]]:
    """The audit events of the period in chain order: `AUDIT_COLUMNS`."""
    query = (
        sa.select(audit_events.c.id.label("seq"), *(audit_events.c[c] for c in AUDIT_COLUMNS[1:]))
        .where(_in(audit_events.c.at, since, until))
        .order_by(audit_events.c.id)
    )
    yield from conn.execution_options(yield_per=_BATCH).execute(query)
