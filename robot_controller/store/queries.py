"""Read queries: recovery after a crash, stock checks, and the reports of a run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import ClauseElement

from fmd.codes.model import PackIdentifier
from fmd.policy import Decision
from robot_controller.robot.base import Job, JobCode, JobReason
from robot_controller.states import HubOperation, IntentStatus, JobStatus, Route
from robot_controller.store import intents
from robot_controller.store.codec import decision_of, decode_raw, intent_of
from robot_controller.store.records import Intent, ShelvedPack, Unfinished
from robot_controller.store.schema import (
    alerts,
    decisions,
    jobs,
    of_robot,
    outbox,
    outcomes,
    scans,
    verifications,
)
from robot_controller.store.statements import HotPath


def _shelved() -> ClauseElement:
    return (
        sa.select(sa.literal(1))
        .where(
            outcomes.c.product_code == sa.bindparam("product_code"),
            outcomes.c.serial == sa.bindparam("serial"),
            outcomes.c.route == Route.SHELVED.value,
        )
        .limit(1)
    )


def in_stock(sql: HotPath, conn: Connection, ui: PackIdentifier) -> bool:
    """True when a pack with this product code and serial was shelved here before."""
    cursor = sql.execute(conn, _shelved, product_code=ui.product_code, serial=ui.serial)
    return cursor.fetchone() is not None


def shelved_location(conn: Connection, token: int) -> int | None:
    """Where a pack on the shelf is (None when it is not on the shelf)."""
    query = sa.select(outcomes.c.location).where(
        outcomes.c.token == token, outcomes.c.route == Route.SHELVED.value
    )
    location = conn.execute(query).scalar()
    return None if location is None else int(location)


def shelved_packs(conn: Connection, robot: str) -> list[ShelvedPack]:
    """`robot`'s packs the log has on the shelf, in token order."""
    query = (
        sa.select(
            outcomes.c.token, outcomes.c.product_code, outcomes.c.serial, outcomes.c.location,
            outcomes.c.flagged,
        )
        .where(
            outcomes.c.route == Route.SHELVED.value,
            outcomes.c.token.in_(sa.select(scans.c.id).where(of_robot(robot))),
        )
        .order_by(outcomes.c.token)
    )  # fmt: skip
    return [
        ShelvedPack(
            token=row.token,
            product_code=row.product_code or "",
            serial=row.serial or "",
            location=None if row.location is None else int(row.location),
            flagged=bool(row.flagged),
        )
        for row in conn.execute(query)
    ]


def unfinished(conn: Connection, robot: str) -> list[Unfinished]:
    """`robot`'s scans without a final outcome, oldest first, with their newest decision, open
    intent, started job and the product's name: four queries, whatever the number of packs.
    Scans recorded before robots had names count as the default robot's."""
    unsettled = scans.c.id.not_in(sa.select(outcomes.c.token)) & of_robot(robot)
    newest = (
        sa.select(sa.func.max(decisions.c.id))
        .where(decisions.c.token.not_in(sa.select(outcomes.c.token)))
        .group_by(decisions.c.token)
    )
    latest: dict[int, Decision] = {
        row.token: decision_of(row)
        for row in conn.execute(sa.select(decisions).where(decisions.c.id.in_(newest)))
    }
    started = (
        sa.select(sa.func.min(jobs.c.id))
        .where(jobs.c.token == scans.c.id, jobs.c.status == JobStatus.STARTED.value)
        .scalar_subquery()
    )
    open_intents: dict[int, Intent] = {}
    pending = intents.select(
        (
            outbox.c.status == IntentStatus.PENDING.value,
            outbox.c.token.not_in(sa.select(outcomes.c.token)),
        )
    )
    for row in conn.execute(pending):
        open_intents.setdefault(row.token, intent_of(row))  # the oldest one
    named = (
        sa.select(verifications.c.token, verifications.c.product_name)
        .where(
            verifications.c.token.in_(sa.select(scans.c.id).where(unsettled)),
            verifications.c.product_name.is_not(None),
        )
        .order_by(verifications.c.id)
    )
    names: dict[int, str] = {row.token: row.product_name for row in conn.execute(named)}
    rows = conn.execute(
        sa.select(scans, started.label("started_job")).where(unsettled).order_by(scans.c.id)
    )
    return [
        Unfinished(
            token=row.id,
            raw=decode_raw(row.raw),
            symbology=row.symbology,
            source=row.source,
            scanned_at=row.scanned_at,
            decision=latest.get(row.id),
            open_intent=open_intents.get(row.id),
            started_job=row.started_job,
            product_name=names.get(row.id, ""),
        )
        for row in rows
    ]


def job(conn: Connection, job_id: int) -> Job:
    """A robot job as it was started (a retrieve's shelf location is not kept)."""
    row = conn.execute(
        sa.select(jobs.c.code, jobs.c.token, jobs.c.reason).where(jobs.c.id == job_id)
    ).one()
    return Job(JobCode(row.code), row.token, JobReason(row.reason))


def retrievals_due(conn: Connection, robot: str) -> tuple[list[int], list[int]]:
    """`robot`'s shelved packs whose deferred check failed: those never sent to be retrieved,
    and those whose retrieve job started but never ended (only the operator can settle those)."""
    failed_check = sa.exists().where(
        outbox.c.token == outcomes.c.token,
        outbox.c.operation == HubOperation.VERIFY.value,
        outbox.c.status == IntentStatus.FLAGGED.value,
    )
    retrieving = (jobs.c.token == outcomes.c.token) & (
        jobs.c.code == int(JobCode.RETRIEVE_TO_QUARANTINE)
    )
    rows = conn.execute(
        sa.select(outcomes.c.token, sa.func.max(jobs.c.status))
        .select_from(outcomes.outerjoin(jobs, retrieving))
        .where(
            outcomes.c.route == Route.SHELVED.value,
            ~outcomes.c.flagged,
            failed_check,
            outcomes.c.token.in_(sa.select(scans.c.id).where(of_robot(robot))),
        )
        .group_by(outcomes.c.token)
        .order_by(outcomes.c.token)
    ).all()
    due = [cast(int, token) for token, job in rows if job is None]
    stuck = [cast(int, token) for token, job in rows if job == JobStatus.STARTED]
    return due, stuck


def last_decision(conn: Connection, token: int) -> Decision | None:
    """The newest decision recorded for a pack."""
    query = (
        sa.select(decisions)
        .where(decisions.c.token == token)
        .order_by(decisions.c.id.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    return None if row is None else decision_of(row)


def product_name(conn: Connection, token: int) -> str:
    """The hub's newest name of a pack's product ("": its answers named none)."""
    query = (
        sa.select(verifications.c.product_name)
        .where(verifications.c.token == token, verifications.c.product_name.is_not(None))
        .order_by(verifications.c.id.desc())
        .limit(1)
    )
    return conn.execute(query).scalar() or ""


def _count(conn: Connection, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    query = sa.select(sa.func.count()).select_from(table).where(*where)
    return int(conn.execute(query).scalar_one())


def summary(conn: Connection) -> dict[str, int]:
    """Counts for the end of a run: packs, routes, alerts, decommissions, unfinished scans."""
    packs = _count(conn, scans)
    routes: dict[str, int] = {
        str(route): cast(int, count)
        for route, count in conn.execute(
            sa.select(outcomes.c.route, sa.func.count()).group_by(outcomes.c.route)
        )
    }
    decommissioned = _count(
        conn,
        outbox,
        outbox.c.operation == HubOperation.DECOMMISSION.value,
        outbox.c.status == IntentStatus.DONE.value,
    )
    return {
        "packs": packs,
        **{route.value: routes.get(route.value, 0) for route in Route},
        "alerts": _count(conn, alerts),
        "decommissioned": decommissioned,
        "flagged": _count(conn, outcomes, outcomes.c.flagged),
        "lost": packs - sum(routes.values()),
    }


def outcomes_by_token(conn: Connection) -> dict[int, tuple[str, str]]:
    """Every finished pack: token → (route, why)."""
    rows = conn.execute(sa.select(outcomes.c.token, outcomes.c.route, outcomes.c.why))
    return {cast(int, token): (str(route), str(why)) for token, route, why in rows}


def raw_scans(conn: Connection) -> Iterator[tuple[int, str]]:
    """Every scan: (token, raw) in token order."""
    for token, raw in conn.execute(sa.select(scans.c.id, scans.c.raw).order_by(scans.c.id)):
        yield cast(int, token), decode_raw(cast(bytes, raw))
