"""Finding packs in the log, and everything that happened to one of them.

One search result is one pack as the log knows it: one token (one scan), with the pack
identifier of its newest decision (or, keyed in by hand, of its outcome), its route and why, the
return code of its last hub call, and whether it is flagged (`PackRow`). A pack scanned twice is
two rows. A pack's history (`pack_history`) gathers every token scanned with that product code
and serial and lists, in time order, each row every table holds for them (`Happening`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fmd.codes.escapes import show_controls
from robot_controller.robot.base import JobCode, fault_name
from robot_controller.store.codec import decode_raw
from robot_controller.store.schema import (
    alert_transitions,
    alerts,
    audit_events,
    decisions,
    jobs,
    outbox,
    outcomes,
    scans,
    verifications,
)

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000  # more than this is a report (`fmd-robot report --format csv`), not a search
PACK_SUBJECT = "pack:"  # the audit subject of a pack's events: `pack:{token}`
ALERT_SUBJECT = "alert:"  # of an alert case's: `alert:{alert row id}`


@dataclass(frozen=True, slots=True)
class PackFilter:
    """What a search asks for; every field given must match (None: any). `since` and `until`
    bound when the scan was recorded (`since` included, `until` excluded); `return_code`
    matches any hub call of the pack; `actor` a pack with an audit event by that actor (about
    the pack, or about one of its alert cases: its pack actions, its alerts' transitions);
    `why` the reason of its route; `token` that one scan."""

    token: int | None = None
    product_code: str | None = None
    serial: str | None = None
    batch: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    route: str | None = None
    why: str | None = None
    return_code: str | None = None
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class PackRow:
    """One pack (one token) as a search finds it; None where the log has nothing."""

    token: int
    recorded_at: datetime
    source: str
    product_code: str | None
    serial: str | None
    batch: str | None
    expiry: str | None  # as printed on the pack (YYMMDD)
    route: str | None  # None: not finished (in flight, or lost)
    why: str | None
    flagged: bool
    return_code: str | None  # of its last hub call

    def as_json(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "recorded_at": self.recorded_at.isoformat(),
            "source": self.source,
            "product_code": self.product_code,
            "serial": self.serial,
            "batch": self.batch,
            "expiry": self.expiry,
            "route": self.route,
            "why": self.why,
            "flagged": self.flagged,
            "return_code": self.return_code,
        }


def _pack_columns() -> sa.Select[Any]:
    """The select of `PackRow`s, one per scan, before any filter."""
    of_pack = decisions.alias("of_pack")
    newest = (
        sa.select(sa.func.max(of_pack.c.id)).where(of_pack.c.token == scans.c.id).scalar_subquery()
    )
    last_code = (
        sa.select(verifications.c.return_code)
        .where(verifications.c.token == scans.c.id)
        .order_by(verifications.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return sa.select(
        scans.c.id.label("token"),
        scans.c.recorded_at,
        scans.c.source,
        sa.func.coalesce(decisions.c.product_code, outcomes.c.product_code).label("product_code"),
        sa.func.coalesce(decisions.c.serial, outcomes.c.serial).label("serial"),
        decisions.c.batch,
        decisions.c.expiry_raw.label("expiry"),
        outcomes.c.route,
        outcomes.c.why,
        sa.func.coalesce(outcomes.c.flagged, sa.false()).label("flagged"),
        last_code.label("return_code"),
    ).select_from(
        scans.outerjoin(decisions, decisions.c.id == newest).outerjoin(
            outcomes, outcomes.c.token == scans.c.id
        )
    )


def _tokens_of_ui(**match: str) -> sa.Select[Any] | sa.CompoundSelect[Any]:
    """Tokens whose decisions or outcome name these identifier fields (indexed lookups)."""
    in_decisions = sa.select(decisions.c.token).where(
        *(decisions.c[name] == value for name, value in match.items())
    )
    if "batch" in match:  # outcomes keep no batch
        return in_decisions
    in_outcomes = sa.select(outcomes.c.token).where(
        *(outcomes.c[name] == value for name, value in match.items())
    )
    return sa.union(in_decisions, in_outcomes)


def _by_actor(actor: str) -> sa.ColumnElement[bool]:
    """Packs with an audit event by `actor` about them (`pack:{token}`) or about one of their
    alert cases (`alert:{id}`): every pack action and every transition is audited by its actor.
    The actor's events are found by `ix_audit_events_actor`, then mapped to tokens."""
    theirs = audit_events.c.actor == actor
    packs = sa.select(_subject_id(PACK_SUBJECT)).where(
        theirs, audit_events.c.subject.startswith(PACK_SUBJECT)
    )
    cases = sa.select(_subject_id(ALERT_SUBJECT)).where(
        theirs, audit_events.c.subject.startswith(ALERT_SUBJECT)
    )
    of_cases = sa.select(alerts.c.token).where(alerts.c.id.in_(cases))
    return scans.c.id.in_(sa.union(packs, of_cases))


def _subject_id(prefix: str) -> sa.ColumnElement[int]:
    """The number after `prefix` in an audit event's subject."""
    return sa.cast(sa.func.substr(audit_events.c.subject, len(prefix) + 1), sa.Integer)


def _where(wanted: PackFilter) -> list[sa.ColumnElement[bool]]:
    clauses: list[sa.ColumnElement[bool]] = []
    if wanted.token is not None:
        clauses.append(scans.c.id == wanted.token)
    ui = {
        name: value
        for name, value in (
            ("product_code", wanted.product_code),
            ("serial", wanted.serial),
            ("batch", wanted.batch),
        )
        if value is not None
    }
    if ui:
        clauses.append(scans.c.id.in_(_tokens_of_ui(**ui)))
    if wanted.since is not None:
        clauses.append(scans.c.recorded_at >= wanted.since)
    if wanted.until is not None:
        clauses.append(scans.c.recorded_at < wanted.until)
    if wanted.route is not None:
        clauses.append(outcomes.c.route == wanted.route)
    if wanted.why is not None:
        clauses.append(outcomes.c.why == wanted.why)
    if wanted.return_code is not None:
        clauses.append(
            sa.exists().where(
                verifications.c.token == scans.c.id,
                verifications.c.return_code == wanted.return_code,
            )
        )
    if wanted.actor is not None:
        clauses.append(_by_actor(wanted.actor))
    return clauses


def _pack_row(row: Any) -> PackRow:
    return PackRow(
        token=row.token,
        recorded_at=row.recorded_at,
        source=row.source,
        product_code=row.product_code,
        serial=row.serial,
        batch=row.batch,
        expiry=row.expiry,
        route=row.route,
        why=row.why,
        flagged=bool(row.flagged),
        return_code=row.return_code,
    )


def search(
    conn: Connection, wanted: PackFilter, *, limit: int = DEFAULT_LIMIT, offset: int = 0
) -> list[PackRow]:
    """The newest `limit` packs (at most `MAX_LIMIT`) that match after the first `offset`,
    newest first."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"a search returns 1 to {MAX_LIMIT} packs, not {limit}")
    if offset < 0:
        raise ValueError(f"a search starts at a pack, not at {offset}")
    page = _matching(wanted).order_by(scans.c.id.desc()).limit(limit).offset(offset)
    tokens: list[int] = list(conn.execute(page).scalars())  # the page's tokens first: cheap to skip
    if not tokens:
        return []
    query = _pack_columns().where(scans.c.id.in_(tokens)).order_by(scans.c.id.desc())
    return [_pack_row(row) for row in conn.execute(query)]


def count(conn: Connection, wanted: PackFilter) -> int:
    """How many packs match."""
    matching = _matching(wanted).subquery()
    return int(conn.execute(sa.select(sa.func.count()).select_from(matching)).scalar() or 0)


def _matching(wanted: PackFilter) -> sa.Select[Any]:
    """The tokens of the packs that match (the filters need the outcome, never the newest
    decision: the pack's row is joined only for the tokens shown)."""
    joined = scans.outerjoin(outcomes, outcomes.c.token == scans.c.id)
    return sa.select(scans.c.id).select_from(joined).where(*_where(wanted))


def stream_packs(conn: Connection, wanted: PackFilter, *, batch: int = 1000) -> Iterator[PackRow]:
    """Every pack that matches, oldest first, read `batch` rows at a time (a server-side
    cursor on PostgreSQL): memory does not grow with the number of packs."""
    query = _pack_columns().where(*_where(wanted)).order_by(scans.c.id)
    for row in conn.execution_options(yield_per=batch).execute(query):
        yield _pack_row(row)


class Kind(StrEnum):
    """What one entry of a pack's history is."""

    SCAN = "scan"
    PROBLEM = "problem"  # a parse problem of the scan
    DECISION = "decision"
    HUB = "hub"  # a call to the national system
    INTENT = "intent"  # a state change committed to the outbox (a pack action among them)
    JOB = "job"  # a robot job
    OUTCOME = "outcome"  # the pack's route
    ALERT = "alert"
    ALERT_TRANSITION = "alert-transition"
    AUDIT = "audit"  # an event of the audit chain


_KIND_ORDER = {kind: n for n, kind in enumerate(Kind)}


@dataclass(frozen=True, slots=True)
class Happening:
    """One thing that happened to a pack: when, to which token, what, and its fields."""

    at: datetime
    token: int
    kind: Kind
    what: str
    detail: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "token": self.token,
            "kind": self.kind.value,
            "what": self.what,
            **self.detail,
        }


def tokens_of(conn: Connection, product_code: str, serial: str) -> list[int]:
    """Every token scanned with this product code and serial, oldest first."""
    query = _tokens_of_ui(product_code=product_code, serial=serial)
    tokens: list[int] = list(conn.execute(query).scalars())
    return sorted(set(tokens))


def pack_history(conn: Connection, product_code: str, serial: str) -> list[Happening]:
    """Everything the log holds about one pack (every token it was scanned as), in time order
    (entries at the same instant in the order of `Kind`); empty when it was never scanned."""
    return _history(conn, tokens_of(conn, product_code, serial))


def token_history(conn: Connection, token: int) -> list[Happening]:
    """The history of the pack scan `token` names (every token of its product code and
    serial; the scan alone when it names no pack, as an unreadable one); empty when there
    is no such scan."""
    ui = _ui_of(conn, token)
    if ui is not None:
        return _history(conn, tokens_of(conn, *ui))
    if conn.execute(sa.select(scans.c.id).where(scans.c.id == token)).first() is None:
        return []
    return _history(conn, [token])


def _ui_of(conn: Connection, token: int) -> tuple[str, str] | None:
    for table in (decisions, outcomes):
        row = conn.execute(
            sa.select(table.c.product_code, table.c.serial)
            .where(table.c.token == token, table.c.product_code.is_not(None),
                   table.c.serial.is_not(None))
            .limit(1)
        ).first()  # fmt: skip
        if row is not None:
            return str(row.product_code), str(row.serial)
    return None


def shown(happening: Happening) -> dict[str, Any]:
    """A history entry for display: the scan's raw text spelled as `fmd-robot parse` reads it."""
    entry = happening.as_json()
    if happening.kind is Kind.SCAN:
        entry["raw"] = show_controls(entry["raw"])
    return entry


def _history(conn: Connection, tokens: Sequence[int]) -> list[Happening]:
    if not tokens:
        return []
    alerted, raised = _alerts(conn, tokens)
    happened = [
        *_scans(conn, tokens),
        *_decisions(conn, tokens),
        *_hub_calls(conn, tokens),
        *_intents(conn, tokens),
        *_jobs(conn, tokens),
        *_outcomes(conn, tokens),
        *alerted,
        *_audit(conn, tokens, raised),
    ]
    return sorted(happened, key=lambda h: (h.at, _KIND_ORDER[h.kind]))


def _scans(conn: Connection, tokens: Sequence[int]) -> Iterator[Happening]:
    for row in conn.execute(sa.select(scans).where(scans.c.id.in_(tokens))):
        raw = decode_raw(row.raw)
        yield Happening(row.recorded_at, row.id, Kind.SCAN, f"scanned from {row.source}",
                        {"raw": raw, "symbology": row.symbology, "source": row.source,
                         "scanned_at": row.scanned_at.isoformat(), "robot": row.robot})  # fmt: skip


def _decisions(conn: Connection, tokens: Sequence[int]) -> Iterator[Happening]:
    query = sa.select(decisions).where(decisions.c.token.in_(tokens)).order_by(decisions.c.id)
    for row in conn.execute(query):
        for problem in json.loads(row.problems) if row.stage == "verify" else ():
            yield Happening(row.decided_at, row.token, Kind.PROBLEM,
                            f"{problem['severity']} {problem['code']}: {problem['message']}",
                            dict(problem))  # fmt: skip
        yield Happening(row.decided_at, row.token, Kind.DECISION,
                        f"{row.stage}: {row.action} ({row.why}) {row.message}".rstrip(),
                        {"stage": row.stage, "action": row.action, "why": row.why,
                         "message": row.message, "decommission_to": row.decommission_to,
                         "product_code": row.product_code, "serial": row.serial,
                         "batch": row.batch, "expiry": row.expiry_raw})  # fmt: skip


def _hub_calls(conn: Connection, tokens: Sequence[int]) -> Iterator[Happening]:
    query = sa.select(verifications).where(verifications.c.token.in_(tokens))
    for row in conn.execute(query.order_by(verifications.c.id)):
        answer = row.return_code or f"no answer: {row.error}"
        what = f"{row.operation}: {answer}, {row.latency_s * 1000:.0f} ms"
        if row.state:
            what += f", {row.state}"
        if row.product_name:
            what += f", {row.product_name}"
        yield Happening(row.at, row.token, Kind.HUB, what,
                        {"operation": row.operation, "return_code": row.return_code,
                         "outcome": row.outcome, "state": row.state, "error": row.error,
                         "latency_ms": round(row.latency_s * 1000, 3), "trx": row.client_trx_id,
                         "hub_trx": row.hub_trx_id, "alert_id": row.alert_id,
                         "message": row.message, "product_name": row.product_name})  # fmt: skip


def _intents(conn: Connection, tokens: Sequence[int]) -> Iterator[Happening]:
    query = sa.select(outbox).where(outbox.c.token.in_(tokens)).order_by(outbox.c.id)
    for row in conn.execute(query):
        by = f" by {row.actor}" if row.actor else ""
        what = f"{row.operation}{f' ({row.reason})' if row.reason else ''}{by}: {row.status}"
        if row.note:
            what += f" — {row.note}"
        yield Happening(row.created_at, row.token, Kind.INTENT, what,
                        {"operation": row.operation, "reason": row.reason, "status": row.status,
                         "attempts": row.attempts, "last_code": row.last_code,
                         "actor": row.actor, "note": row.note, "location": row.location,
                         "trx": row.client_trx_id,
                         "updated_at": row.updated_at.isoformat()})  # fmt: skip


def _jobs(conn: Connection, tokens: Sequence[int]) -> Iterator[Happening]:
    query = sa.select(jobs).where(jobs.c.token.in_(tokens)).order_by(jobs.c.id)
    for row in conn.execute(query):
        what = f"{_job_name(row.code)}: {row.status}"
        if row.fault:
            what += f", fault {fault_name(row.fault)}"
        yield Happening(row.started_at, row.token, Kind.JOB, what,
                        {"job": row.id, "code": row.code, "reason": row.reason,
                         "status": row.status, "result": row.result, "location": row.location,
                         "fault": row.fault, "message": row.message, "robot": row.robot,
                         "done_at": row.done_at.isoformat() if row.done_at else None})  # fmt: skip


def _job_name(code: int) -> str:
    try:
        return JobCode(code).name
    except ValueError:
        return f"job {code}"


def _outcomes(conn: Connection, tokens: Sequence[int]) -> Iterator[Happening]:
    for row in conn.execute(sa.select(outcomes).where(outcomes.c.token.in_(tokens))):
        what = f"{row.route} ({row.why}){', flagged' if row.flagged else ''} {row.message}"
        yield Happening(row.at, row.token, Kind.OUTCOME, what.rstrip(),
                        {"route": row.route, "why": row.why, "flagged": row.flagged,
                         "location": row.location, "message": row.message})  # fmt: skip


def _alerts(conn: Connection, tokens: Sequence[int]) -> tuple[list[Happening], dict[int, int]]:
    """The pack's alerts and their transitions, and which token each alert (by row id) is of."""
    raised: dict[int, int] = {}  # alert row id → token
    happened: list[Happening] = []
    for row in conn.execute(sa.select(alerts).where(alerts.c.token.in_(tokens))):
        raised[row.id] = row.token
        happened.append(Happening(row.raised_at, row.token, Kind.ALERT,
                        f"{row.alert_id or 'alert'} {row.return_code}: {row.status}",
                        {"alert": row.id, "alert_id": row.alert_id,
                         "return_code": row.return_code, "status": row.status,
                         "cause": row.cause, "message": row.message}))  # fmt: skip
    if not raised:
        return happened, raised
    query = sa.select(alert_transitions).where(alert_transitions.c.alert.in_(raised))
    for row in conn.execute(query.order_by(alert_transitions.c.id)):
        what = f"{row.from_state} → {row.to_state} by {row.actor}: {row.reason}"
        happened.append(Happening(row.at, raised[row.alert], Kind.ALERT_TRANSITION, what,
                        {"alert": row.alert, "from": row.from_state, "to": row.to_state,
                         "cause": row.cause, "reason": row.reason,
                         "actor": row.actor}))  # fmt: skip
    return happened, raised


def _audit(conn: Connection, tokens: Sequence[int], raised: dict[int, int]) -> Iterator[Happening]:
    """The audit events about the pack (`pack:{token}`) and about its alerts (`alert:{id}`)."""
    subjects = {f"{PACK_SUBJECT}{token}": token for token in tokens}
    subjects |= {f"{ALERT_SUBJECT}{alert}": token for alert, token in raised.items()}
    query = sa.select(audit_events).where(audit_events.c.subject.in_(subjects))
    for row in conn.execute(query.order_by(audit_events.c.id)):
        yield Happening(row.at, subjects[row.subject], Kind.AUDIT,
                        f"{row.action} by {row.actor}: {row.why}",
                        {"seq": row.id, "action": row.action, "actor": row.actor,
                         "subject": row.subject, "why": row.why,
                         "detail": json.loads(row.detail), "before": _json(row.before),
                         "after": _json(row.after)})  # fmt: skip


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)
