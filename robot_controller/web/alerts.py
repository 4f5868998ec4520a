"""The alert register on the screens and the API: the cases (filtered by state), one case with
its transitions (who, when, why), and moving a case on (`fmd-robot alerts transition`): the
rules are `alert_cases.transition`, applied and audited by `Store.move_alert` in the actor's
name. A transition needs a reason (422 without one), closing needs a cause, and one the rules
refuse is 409 with their words; nothing changes in either case."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from robot_controller.alert_cases import (
    NEXT,
    AlertCase,
    AlertCause,
    AlertState,
    Transition,
    TransitionRefused,
)
from robot_controller.person_text import line_problem
from robot_controller.web.access import REVIEW, Principal
from robot_controller.web.pages import render
from robot_controller.web.refusals import RowId, refusals
from robot_controller.web.services import WebServices, services_of

router = APIRouter()
Reviewer = Annotated[Principal, Depends(REVIEW)]


class AlertOut(BaseModel):
    id: int = Field(description="The register's number.")
    token: int
    alert_id: str | None = Field(description="The hub's alert id.")
    return_code: str
    message: str
    raised_at: datetime
    state: AlertState
    cause: AlertCause | None
    updated_at: datetime | None
    product_code: str | None
    serial: str | None
    batch: str | None
    location: str | None

    @classmethod
    def of(cls, case: AlertCase) -> AlertOut:
        return cls(
            id=case.id, token=case.token, alert_id=case.alert_id, return_code=case.return_code,
            message=case.message, raised_at=case.raised_at, state=case.state, cause=case.cause,
            updated_at=case.updated_at, product_code=case.product_code, serial=case.serial,
            batch=case.batch, location=case.location,
        )  # fmt: skip


class TransitionOut(BaseModel):
    from_state: AlertState
    to_state: AlertState
    cause: AlertCause | None
    reason: str
    actor: str
    at: datetime

    @classmethod
    def of(cls, step: Transition) -> TransitionOut:
        return cls(from_state=step.from_state, to_state=step.to_state, cause=step.cause,
                   reason=step.reason, actor=step.actor, at=step.at)  # fmt: skip


class AlertDetail(BaseModel):
    case: AlertOut
    transitions: list[TransitionOut]
    next_states: list[AlertState] = Field(description="Where the case may go from here.")


class TransitionIn(BaseModel):
    to: AlertState
    reason: str = Field(max_length=2000, description="Why (required; the audit log keeps it).")
    cause: AlertCause | None = Field(default=None, description="Closing only: why it is closed.")


async def _detail(services: WebServices, alert: int) -> AlertDetail:
    found = await asyncio.to_thread(services.store.alert_case, alert)
    if found is None:
        raise HTTPException(404, f"there is no alert {alert} in the register")
    case, steps = found
    return AlertDetail(case=AlertOut.of(case), transitions=[TransitionOut.of(s) for s in steps],
                       next_states=list(NEXT[case.state]))  # fmt: skip


async def move(
    services: WebServices,
    alert: int,
    to: AlertState,
    *,
    cause: AlertCause | None,
    reason: str,
    actor: str,
) -> AlertDetail:
    """Move case `alert` to `to` in `actor`'s name: 404 unknown case, 422 no reason (or one
    that is not one line), 409 what the rules refuse; nothing changes unless it moved."""
    reason = reason.strip()
    if not reason:
        raise HTTPException(422, "reason: say why the case moves (the audit log keeps it)")
    problem = line_problem(reason)
    if problem is not None:
        raise HTTPException(422, f"reason: {problem}")
    await _detail(services, alert)  # 404 before the rules speak
    try:
        await asyncio.to_thread(
            services.store.move_alert, alert, to.value, cause=None if cause is None else
            cause.value, reason=reason, actor=actor, at=services.now(),
        )  # fmt: skip
    except TransitionRefused as refused:
        raise HTTPException(409, str(refused)) from None
    return await _detail(services, alert)


@router.get("/api/v1/alerts", response_model=list[AlertOut], responses=refusals(422))
async def alerts_api(
    request: Request, who: Reviewer, state: AlertState | None = None
) -> list[AlertOut]:
    """The alert register, oldest first (`state`: only the cases in it)."""
    cases = await asyncio.to_thread(services_of(request).store.alert_cases, state)
    return [AlertOut.of(case) for case in cases]


@router.get("/api/v1/alerts/{alert}", response_model=AlertDetail, responses=refusals(404))
async def alert_api(request: Request, who: Reviewer, alert: RowId) -> AlertDetail:
    """One case with its transitions, oldest first."""
    return await _detail(services_of(request), alert)


@router.post(
    "/api/v1/alerts/{alert}/transitions", response_model=AlertDetail,
    responses=refusals(404, 409, 422),
)  # fmt: skip
async def transition_api(
    request: Request, who: Reviewer, alert: RowId, step: TransitionIn
) -> AlertDetail:
    """Move a case on in the caller's name (`fmd-robot alerts transition`)."""
    return await move(services_of(request), alert, step.to, cause=step.cause, reason=step.reason,
                      actor=who.actor)  # fmt: skip


PAGE = 100
"""Cases per page of the register."""


@router.get("/compliance/alerts", include_in_schema=False)
async def alerts_page(
    request: Request,
    who: Reviewer,
    state: Annotated[str, Query(max_length=20)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    chosen: AlertState | None = None
    if state:
        try:
            chosen = AlertState(state)
        except ValueError:
            raise HTTPException(
                422, f"state: one of {', '.join(AlertState)}, not {state!r}"
            ) from None
    every = await asyncio.to_thread(services_of(request).store.alert_cases, None)
    counts = dict.fromkeys(AlertState, 0)
    for case in every:
        counts[case.state] += 1
    cases = [case for case in every if chosen is None or case.state is chosen]
    pages = max(1, -(-len(cases) // PAGE))
    shown = cases[(page - 1) * PAGE : page * PAGE]
    return render(request, "compliance/alerts.html", cases=shown, state=chosen,
                  states=list(AlertState), counts=counts, page=page, pages=pages,
                  total=len(cases))  # fmt: skip


@router.get("/compliance/alerts/{alert}", include_in_schema=False)
async def alert_page(request: Request, who: Reviewer, alert: RowId) -> HTMLResponse:
    detail = await _detail(services_of(request), alert)
    return _case_page(request, detail)


def _case_page(
    request: Request, detail: AlertDetail, *, status: int = 200, message: str = "",
    form: dict[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    return render(request, "compliance/alerts_case.html", status=status, detail=detail,
                  causes=list(AlertCause), message=message, form=form or {})  # fmt: skip


@router.post("/compliance/alerts/{alert}/transitions", include_in_schema=False)
async def transition_form(
    request: Request,
    who: Reviewer,
    alert: RowId,
    to: Annotated[str, Form(max_length=20)] = "",
    cause: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    services = services_of(request)
    detail = await _detail(services, alert)
    form = {"to": to, "cause": cause, "reason": reason}
    try:
        target = AlertState(to)
    except ValueError:
        message = f"to: one of {', '.join(AlertState)}, not {to!r}"
        return _case_page(request, detail, status=422, message=message, form=form)
    try:
        closing = AlertCause(cause) if cause else None
    except ValueError:
        message = f"cause: one of {', '.join(AlertCause)}, not {cause!r}"
        return _case_page(request, detail, status=422, message=message, form=form)
    try:
        await move(services, alert, target, cause=closing, reason=reason, actor=who.actor)
    except HTTPException as error:
        return _case_page(request, detail, status=error.status_code, message=str(error.detail),
                          form=form)  # fmt: skip
    return RedirectResponse(f"/compliance/alerts/{alert}", status_code=303)
