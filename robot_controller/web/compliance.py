"""The compliance officer's screens for reading the log: the overview, the log search (with its
CSV download), one pack's history, the quarantine inventory and `audit verify`. The alert
register, pack actions and reports are screens of their own (`alerts`, `pack_actions`,
`reports`); the JSON API of these screens is `compliance_api`."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import HTMLResponse

from fmd.policy import Why
from robot_controller.states import Route
from robot_controller.web import compliance_api, pack_actions
from robot_controller.web import compliance_reads as reads
from robot_controller.web.access import REVIEW, Principal
from robot_controller.web.compliance_models import MAX_PAGE_SIZE, LogPage, LogQuery
from robot_controller.web.pages import render

router = APIRouter()
router.include_router(compliance_api.router)
Reviewer = Annotated[Principal, Depends(REVIEW)]
Token = Annotated[int, Path(ge=1, le=2**63 - 1)]

TABS = (
    ("/compliance", "Overview"),
    ("/compliance/log", "Log"),
    ("/compliance/quarantine", "Quarantine"),
    ("/compliance/alerts", "Alerts"),
    ("/compliance/reports", "Reports"),
    ("/compliance/audit", "Audit"),
)
"""The compliance screens' tabs (alerts and reports are their own modules' pages)."""


def _page(request: Request, template: str, *, status: int = 200, **context: object) -> HTMLResponse:
    return render(request, template, status=status, tabs=TABS, here=request.url.path, **context)


@router.get("/compliance", include_in_schema=False)
async def overview(request: Request, who: Reviewer) -> HTMLResponse:
    services = compliance_api.services_of(request)
    figures = await reads.overview(services)
    return _page(request, "compliance/overview.html", figures=figures, verified=services.verified,
                 verifying=services.verifying)  # fmt: skip


@router.get("/compliance/log", include_in_schema=False)
async def log_page(request: Request, who: Reviewer) -> HTMLResponse:
    """The search form and a page of results; an htmx request (the form changed) gets the
    results alone."""
    services = compliance_api.services_of(request)
    fragment = request.headers.get("hx-request") == "true"
    template = "compliance/_results.html" if fragment else "compliance/log.html"
    query, found, message, status = LogQuery(), None, "", 200
    try:
        query = reads.log_query(request.query_params)
        found = await reads.log_page(services, query, request.url.path)
    except HTTPException as error:
        message, status = str(error.detail), error.status_code
    return _page(request, template, status=status, query=query, found=found, message=message,
                 routes=list(Route), whys=list(Why), max_page_size=MAX_PAGE_SIZE,
                 csv_href=_csv_href(query, found))  # fmt: skip


def _csv_href(query: LogQuery, found: LogPage | None) -> str | None:
    if found is None or not found.total:
        return None
    filters = query.filters()
    return "/api/v1/log.csv" + (f"?{urlencode(filters)}" if filters else "")


@router.get("/compliance/packs/{token}", include_in_schema=False)
async def pack_page(request: Request, who: Reviewer, token: Token) -> HTMLResponse:
    services = compliance_api.services_of(request)
    history = await reads.history(services, token)
    offered = await pack_actions.choices(services, token)
    return _page(request, "compliance/pack.html", history=history, token=token,
                 pack_actions=offered)  # fmt: skip


@router.get("/compliance/quarantine", include_in_schema=False)
async def quarantine_page(request: Request, who: Reviewer) -> HTMLResponse:
    packs = await reads.quarantine(compliance_api.services_of(request))
    return _page(request, "compliance/quarantine.html", packs=packs)


@router.get("/compliance/audit", include_in_schema=False)
async def audit_page(request: Request, who: Reviewer) -> HTMLResponse:
    services = compliance_api.services_of(request)
    return _page(request, "compliance/audit.html", verified=services.verified,
                 verifying=services.verifying, message="")  # fmt: skip


@router.post("/compliance/audit/verify", include_in_schema=False)
async def audit_verify(request: Request, who: Reviewer) -> HTMLResponse:
    services = compliance_api.services_of(request)
    message, status = "", 200
    try:
        await reads.run_check(services, who.actor)
    except HTTPException as error:
        message, status = str(error.detail), error.status_code
    return _page(request, "compliance/audit.html", status=status, verified=services.verified,
                 verifying=services.verifying, message=message)  # fmt: skip
