"""The compliance API (`/api/v1/…`, the compliance officer's and the admin's): the log search
and its CSV, one pack's history, the quarantine inventory, and `audit verify`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse

from robot_controller.web import compliance_reads as reads
from robot_controller.web.access import REVIEW, Principal
from robot_controller.web.compliance_models import (
    AuditOut,
    HistoryOut,
    LogFilters,
    LogPage,
    LogQuery,
    QuarantinedOut,
    VerifiedOut,
)
from robot_controller.web.refusals import refusals
from robot_controller.web.services import WebServices

router = APIRouter(prefix="/api/v1", tags=["compliance"])
Reviewer = Annotated[Principal, Depends(REVIEW)]
Token = Annotated[int, Path(ge=1, le=2**63 - 1, description="The pack scan's token.")]


def services_of(request: Request) -> WebServices:
    services: WebServices = request.app.state.services
    return services


@router.get("/log", response_model=LogPage, responses=refusals(422))
async def log_search(
    request: Request, who: Reviewer, query: Annotated[LogQuery, Query()]
) -> LogPage:
    """Packs in the log, newest first, a page at a time (at most 200 a page)."""
    return await reads.log_page(services_of(request), query, request.url.path)


@router.get(
    "/log.csv",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "The search as CSV."},
        **refusals(422),
    },
)
async def log_csv(
    request: Request, who: Reviewer, query: Annotated[LogFilters, Query()]
) -> StreamingResponse:
    """Every pack the search finds (all pages), as CSV, streamed: a title block with the audit
    chain's head and last signed checkpoint, the filters, then one row per pack."""
    services = services_of(request)
    reads.pack_filter(query)  # a bad date is a 422 before the download starts
    stamp = services.now().strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        reads.csv_chunks(services, query),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="fmd-log-{stamp}.csv"'},
    )


@router.get("/packs/{token}", response_model=HistoryOut, responses=refusals(404, 422))
async def pack_history(request: Request, who: Reviewer, token: Token) -> HistoryOut:
    """Everything that happened to the pack (every scan of it), in time order."""
    return await reads.history(services_of(request), token)


@router.get("/quarantine", response_model=list[QuarantinedOut], responses=refusals())
async def quarantine(request: Request, who: Reviewer) -> list[QuarantinedOut]:
    """The packs in the quarantine chute, the longest there first, with their alert case."""
    return await reads.quarantine(services_of(request))


@router.get("/audit", response_model=AuditOut, responses=refusals())
async def audit(request: Request, who: Reviewer) -> AuditOut:
    """The last `audit verify` run from the screens or the API."""
    services = services_of(request)
    last = services.verified
    return AuditOut(last=reads.verified_out(last) if last else None, running=services.verifying)


@router.post("/audit/verify", response_model=VerifiedOut, responses=refusals(409))
async def audit_verify(request: Request, who: Reviewer) -> VerifiedOut:
    """Run `audit verify` now (the chain and every checkpoint's signature), as the caller;
    recorded as an `audit.verified` event."""
    return reads.verified_out(await reads.run_check(services_of(request), who.actor))
