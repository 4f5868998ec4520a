"""The period's reports on the screens and the API (`fmd-robot report`): a period chooser (from
and to, as the command reads them: `reports.period`), the summary's figures and its charts
(inline SVG, `charts.py`), its JSON, and the CSV and PDF files the command writes
(`reports.make.make_report`), as downloads."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from robot_controller.reports.figures import figures
from robot_controller.reports.files import NothingToReport
from robot_controller.reports.make import Format, ReportKind, make_report
from robot_controller.reports.period import BadPeriod, period_of
from robot_controller.store import reports as queries
from robot_controller.store.checkpoints import head
from robot_controller.web import charts
from robot_controller.web.access import REVIEW, Principal
from robot_controller.web.pages import render
from robot_controller.web.refusals import refusals
from robot_controller.web.services import WebServices, services_of

router = APIRouter()
Reviewer = Annotated[Principal, Depends(REVIEW)]
From = Annotated[
    str, Query(alias="from", max_length=40, description="YYYY-MM-DD or date and time (UTC).")
]
To = Annotated[
    str,
    Query(alias="to", max_length=40, description="YYYY-MM-DD (whole day) or date and time."),
]
MEDIA = {Format.CSV: "text/csv; charset=utf-8", Format.PDF: "application/pdf"}


class HubOut(BaseModel):
    calls: int
    answered: int
    availability: float | None
    latency_ms: dict[int, float | None] = Field(description="Percentile → ms (nearest rank).")


class DayOut(BaseModel):
    day: date
    routes: dict[str, int]
    alerts: int


class FigureOut(BaseModel):
    section: str
    name: str
    value: str


class ReportOut(BaseModel):
    since: datetime
    until: datetime = Field(description="Excluded.")
    empty: bool
    scanned: int
    verified: int
    decommissioned: dict[str, int]
    routes: dict[str, dict[str, int]] = Field(description="Route → why → packs.")
    alerts_by_code: dict[str, int]
    alerts_by_cause: dict[str, int]
    hub: HubOut
    robot_faults: dict[str, int]
    open_undos: int
    days: list[DayOut]
    figures: list[FigureOut] = Field(description="The figures as the CSV and PDF word them.")
    chain_head: str = Field(description="The audit chain's head when the figures were read.")


@dataclass(frozen=True, slots=True)
class Chosen:
    """The period a request names: as typed (for the form) and as instants."""

    since_text: str
    until_text: str
    since: datetime
    until: datetime


def chosen(since: str, until: str) -> Chosen:
    """The period `from`..`to` (both required, as for `fmd-robot report`); 422 otherwise."""
    try:
        span = period_of(since.strip() or None, until.strip() or None, names=("from", "to"))
    except BadPeriod as error:
        raise HTTPException(422, str(error)) from None
    if span.since is None or span.until is None:
        raise HTTPException(422, "give both from and to (YYYY-MM-DD)")
    return Chosen(since.strip(), until.strip(), span.since, span.until)


def _read(services: WebServices, span: Chosen) -> ReportOut:
    now = services.now()
    with services.store.reading() as conn:
        summary = queries.summary(conn, since=span.since, until=span.until, now=now)
        seq, digest = head(conn)
    hub = summary.hub
    return ReportOut(
        since=summary.since, until=summary.until, empty=summary.empty, scanned=summary.scanned,
        verified=summary.verified, decommissioned=summary.decommissioned, routes=summary.routes,
        alerts_by_code=summary.alerts_by_code, alerts_by_cause=summary.alerts_by_cause,
        hub=HubOut(calls=hub.calls, answered=hub.answered, availability=hub.availability,
                   latency_ms=hub.latency_ms),
        robot_faults=summary.robot_faults, open_undos=summary.open_undos,
        days=[DayOut(day=d.day, routes=d.routes, alerts=d.alerts) for d in summary.days],
        figures=[FigureOut(section=s, name=n, value=v) for s, n, v in figures(summary)],
        chain_head=f"seq {seq}, hash {digest}",
    )  # fmt: skip


@router.get("/api/v1/reports", response_model=ReportOut, responses=refusals(422))
async def report_api(request: Request, who: Reviewer, since: From, until: To) -> ReportOut:
    """The period's summary figures (`fmd-robot report --kind summary`), as JSON."""
    return await asyncio.to_thread(_read, services_of(request), chosen(since, until))


async def _download(
    request: Request, fmt: Format, since: str, until: str, kind: ReportKind
) -> FileResponse:
    span = chosen(since, until)
    services = services_of(request)
    folder = Path(tempfile.mkdtemp(prefix="fmd-report-"))
    last = span.until - timedelta(microseconds=1)  # the last instant the report covers
    name = f"fmd-{kind}-{span.since:%Y%m%d}-{last:%Y%m%d}.{fmt}"
    path = folder / name
    try:
        await asyncio.to_thread(make_report, services.store, kind, fmt, path, since=span.since,
                                until=span.until, now=services.now())  # fmt: skip
    except NothingToReport as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise HTTPException(404, str(error)) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(path, media_type=MEDIA[fmt], filename=name,
                        background=BackgroundTask(shutil.rmtree, folder, True))  # fmt: skip


def _file(media: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {media: {}}, "description": "The report file."},
            **refusals(404, 422)}  # fmt: skip


KindQuery = Annotated[ReportKind, Query(description="summary or alerts (the register).")]


@router.get("/api/v1/reports.csv", response_class=FileResponse, responses=_file("text/csv"))
async def report_csv(
    request: Request, who: Reviewer, since: From, until: To,
    kind: KindQuery = ReportKind.SUMMARY,
) -> FileResponse:  # fmt: skip
    """The period's report as the CSV `fmd-robot report` writes (404: the period is empty)."""
    return await _download(request, Format.CSV, since, until, kind)


@router.get("/api/v1/reports.pdf", response_class=FileResponse, responses=_file("application/pdf"))
async def report_pdf(
    request: Request, who: Reviewer, since: From, until: To,
    kind: KindQuery = ReportKind.SUMMARY,
) -> FileResponse:  # fmt: skip
    """The period's report as the PDF `fmd-robot report` writes (404: the period is empty)."""
    return await _download(request, Format.PDF, since, until, kind)


def presets(today: date) -> list[tuple[str, str, str]]:
    """The period chooser's shortcuts: (name, from, to) as the form takes them."""

    def day(d: date) -> str:
        return d.isoformat()

    return [
        ("today", day(today), day(today)),
        ("last 7 days", day(today - timedelta(days=6)), day(today)),
        ("last 30 days", day(today - timedelta(days=29)), day(today)),
        ("this month", day(today.replace(day=1)), day(today)),
    ]


@router.get("/compliance/reports", include_in_schema=False)
async def reports_page(
    request: Request,
    who: Reviewer,
    since: Annotated[str, Query(alias="from", max_length=40)] = "",
    until: Annotated[str, Query(alias="to", max_length=40)] = "",
) -> HTMLResponse:
    services = services_of(request)
    today = services.now().astimezone(UTC).date()
    if not since and not until:
        since, until = (today - timedelta(days=6)).isoformat(), today.isoformat()
    try:
        span = chosen(since, until)
    except HTTPException as error:  # the chooser again, with what is wrong
        return render(request, "compliance/reports.html", status=422, report=None,
                      typed=(since, until), message=str(error.detail), presets=presets(today),
                      kinds=[])  # fmt: skip
    report = await asyncio.to_thread(_read, services, span)
    days = [queries.Day(d.day, d.routes, d.alerts) for d in report.days]
    drawn = {
        "days": charts.day_columns(days),
        "routes": charts.route_bars(report.routes),
        "reasons": charts.reason_bars(report.routes),
        "alerts": charts.count_bars("Alerts by return code", report.alerts_by_code, "alert"),
        "causes": charts.count_bars("Alerts by closing cause (or state)",
                                    report.alerts_by_cause, "alert"),
    }  # fmt: skip
    return render(request, "compliance/reports.html", report=report, charts=drawn,
                  typed=(span.since_text, span.until_text),
                  presets=presets(today), kinds=list(ReportKind), message="")  # fmt: skip
