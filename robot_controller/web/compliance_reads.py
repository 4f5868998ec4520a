"""What the compliance screens and API read, once for both: a page of the log search, its CSV,
one pack's history, the quarantine inventory, the last `audit verify` and the overview's counts.
Store reads run in a thread (the web shares the daemon's event loop)."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import HTTPException
from pydantic import ValidationError

from robot_controller.alert_cases import AlertState
from robot_controller.reports.csv_report import Heading, search_rows
from robot_controller.reports.period import BadPeriod, period_of
from robot_controller.store.alert_register import QuarantinedPack
from robot_controller.store.checkpoints import head, last_checkpoint
from robot_controller.store.history import (
    Happening,
    PackFilter,
    PackRow,
    count,
    search,
    shown,
    stream_packs,
    token_history,
)
from robot_controller.web.audit_check import Verified, check_log
from robot_controller.web.compliance_models import (
    CaseOut,
    FindingOut,
    HappeningOut,
    HistoryOut,
    LogFilters,
    LogPage,
    LogQuery,
    PackOut,
    QuarantinedOut,
    VerifiedOut,
)
from robot_controller.web.services import WebServices

_OPEN_START = datetime(1970, 1, 1, tzinfo=UTC)
_ROWS_A_CHUNK = 500  # CSV rows sent at a time


def problems_of(error: ValidationError) -> str:
    """A validation error in one line: each parameter and what is wrong with it."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'query'}: {problem['msg']}"
        for problem in error.errors()
    )


def log_query(params: Mapping[str, str]) -> LogQuery:
    """The search a page's query string asks for (a form's blank field: no filter, or the
    default); 422 in one line when it cannot be read."""
    try:
        return LogQuery.model_validate({k: v for k, v in params.items() if v.strip()})
    except ValidationError as error:
        raise HTTPException(422, problems_of(error)) from None


def pack_filter(query: LogFilters) -> PackFilter:
    """The store's filter for a search; 422 naming the date that cannot be read."""
    try:
        span = period_of(query.since, query.until, names=("from", "to"))
    except BadPeriod as error:
        raise HTTPException(422, str(error)) from None
    return PackFilter(
        token=query.token,
        product_code=query.product_code,
        serial=query.serial,
        batch=query.batch,
        since=span.since,
        until=span.until,
        route=query.route.value if query.route else None,
        why=query.why.value if query.why else None,
        return_code=query.return_code,
        actor=query.actor,
    )


def pack_out(row: PackRow) -> PackOut:
    return PackOut.model_validate(row.as_json())


async def log_page(services: WebServices, query: LogQuery, path: str) -> LogPage:
    """One page of the search, newest first, with how many match and the next page's URL."""
    wanted = pack_filter(query)
    offset = (query.page - 1) * query.page_size

    def read() -> tuple[list[PackRow], int]:
        with services.store.reading() as conn:
            return search(conn, wanted, limit=query.page_size, offset=offset), count(conn, wanted)

    rows, total = await asyncio.to_thread(read)
    more = offset + len(rows) < total
    following = {**query.filters(), "page": str(query.page + 1),
                 "page_size": str(query.page_size)}  # fmt: skip
    return LogPage(
        items=[pack_out(row) for row in rows],
        total=total,
        page=query.page,
        page_size=query.page_size,
        next=f"{path}?{urlencode(following)}" if more else None,
    )


def csv_chunks(services: WebServices, query: LogFilters) -> Iterator[str]:
    """The search as a CSV file, every matching pack (not one page), oldest first, after the
    title block (the chain's head and last signed checkpoint, as every report has) and the
    filters. A blocking generator: the response runs it in a thread, chunk by chunk."""
    wanted = pack_filter(query)
    now = services.now()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    with services.store.reading() as conn:
        heading = Heading("log search", wanted.since or _OPEN_START, wanted.until or now, now,
                          head(conn), last_checkpoint(conn))  # fmt: skip
        rows = search_rows(heading, query.filters(), stream_packs(conn, wanted))
        for n, row in enumerate(rows, 1):
            writer.writerow(row)
            if n % _ROWS_A_CHUNK == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()


def happening_out(happening: Happening) -> HappeningOut:
    entry = shown(happening)
    detail = {k: v for k, v in entry.items() if k not in ("at", "token", "kind", "what")}
    return HappeningOut(at=happening.at, token=happening.token, kind=happening.kind.value,
                        what=happening.what, detail=detail)  # fmt: skip


async def history(services: WebServices, token: int) -> HistoryOut:
    """Everything that happened to the pack scan `token` names; 404 when there is none."""

    def read() -> list[Happening]:
        with services.store.reading() as conn:
            return token_history(conn, token)

    happenings = await asyncio.to_thread(read)
    if not happenings:
        raise HTTPException(404, f"the log holds no pack scan with token {token}")
    decided = [h.detail for h in happenings if h.token == token and h.detail.get("serial")]
    named = decided[-1] if decided else {}
    return HistoryOut(
        token=token,
        product_code=named.get("product_code"),
        serial=named.get("serial"),
        tokens=sorted({h.token for h in happenings}),
        events=[happening_out(h) for h in happenings],
    )


def quarantined_out(pack: QuarantinedPack) -> QuarantinedOut:
    case = pack.alert
    return QuarantinedOut(
        token=pack.token,
        product_code=pack.product_code,
        serial=pack.serial,
        batch=pack.batch,
        expiry=pack.expiry_raw,
        why=pack.why,
        message=pack.message,
        since=pack.since,
        flagged=pack.flagged,
        alert=None if case is None else CaseOut(
            id=case.id, alert_id=case.alert_id, return_code=case.return_code,
            state=case.state.value, raised_at=case.raised_at,
        ),
    )  # fmt: skip


async def quarantine(services: WebServices) -> list[QuarantinedOut]:
    """The packs in the quarantine chute, the longest there first."""
    packs = await asyncio.to_thread(services.store.quarantine)
    return [quarantined_out(pack) for pack in packs]


def verified_out(verified: Verified) -> VerifiedOut:
    report = verified.report
    return VerifiedOut(
        ok=verified.ok,
        at=verified.at,
        actor=verified.actor,
        summary=verified.summary,
        events=report.events if report else 0,
        first_seq=report.first_seq if report else 0,
        last_seq=report.last_seq if report else 0,
        checkpoints=report.checkpoints if report else 0,
        files=report.files if report else 0,
        unsigned=report.unsigned if report else 0,
        findings=[FindingOut(kind=f.kind, seq=f.seq, message=f.message) for f in verified.findings],
        more_findings=report.more if report else 0,
        error=verified.error,
    )


async def run_check(services: WebServices, actor: str) -> Verified:
    """Run `audit verify` in a thread as `actor` and keep its result; 409 while another
    runs."""
    if services.verifying:
        raise HTTPException(409, "the log is being verified already: wait for its result")
    services.verifying = True
    try:
        verified = await asyncio.to_thread(
            check_log, services.config, services.store, actor=actor, at=services.now()
        )
    finally:
        services.verifying = False
    services.verified = verified
    return verified


@dataclass(frozen=True, slots=True)
class Overview:
    """The compliance start page's figures."""

    open_alerts: int  # open or under investigation
    quarantined: int


async def overview(services: WebServices) -> Overview:
    def read() -> Overview:
        store = services.store
        cases = store.alert_cases()
        unresolved = sum(1 for case in cases if case.state is not AlertState.CLOSED)
        return Overview(unresolved, len(store.quarantine()))

    return await asyncio.to_thread(read)
