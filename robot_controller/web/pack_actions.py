"""A compliance officer's pack actions from the screens and the API: the same actions and rules as
`fmd-robot pack …` (`pack_rules.plan`), committed to the outbox in the person's name
(`pack_actions.commit`) and sent by the daemon's next background replay.

The pack history page (`/compliance/packs/{token}`, `web/compliance.py`) shows the form with
`{% include "compliance/_pack_actions.html" %}`; it passes `token`, `csrf` (every page has it)
and `pack_actions`, the list `choices(services, token)` returns (see that partial).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from robot_controller.pack_actions import PackRequest, commit
from robot_controller.pack_rules import WHAT, ActionRefused, PackAction, Planned, cautions, plan
from robot_controller.person_text import line_problem
from robot_controller.pipeline.context import new_trx
from robot_controller.states import HubOperation, IntentStatus
from robot_controller.store import DEFAULT_ROBOT, Intent
from robot_controller.store.records import KnownPack
from robot_controller.web.access import REVIEW, Principal
from robot_controller.web.pages import render
from robot_controller.web.refusals import RowId, refusals
from robot_controller.web.services import WebServices, services_of

router = APIRouter()
Reviewer = Annotated[Principal, Depends(REVIEW)]


@dataclass(frozen=True, slots=True)
class ActionChoice:
    """One action as the form offers it: what it does, and why the rules refuse it now (None:
    they allow it)."""

    action: PackAction
    what: str
    refused: str | None

    @property
    def allowed(self) -> bool:
        return self.refused is None


class PackActionIn(BaseModel):
    action: PackAction
    reason: str = Field(max_length=2000, description="Why, in the person's words (audited).")


class PackActionOut(BaseModel):
    action: PackAction
    token: int = Field(description="The token the intent is on (the pack's newest, or the "
                       "decommission's an undo reverts).")  # fmt: skip
    product_code: str
    serial: str
    operation: HubOperation
    reason: str = Field(description="The hub's reason: DESTROYED, LOCKED…")
    intent: IntentStatus
    trx: str
    actor: str
    undo_deadline: datetime | None
    cautions: list[str]
    message: str


def _known(services: WebServices, token: int) -> KnownPack | None:
    pack = services.store.pack_of(token)
    return None if pack is None else services.store.find_pack(*pack)


def choices_of(known: KnownPack, *, location: str, now: datetime) -> list[ActionChoice]:
    """Every pack action on `known`, each allowed or refused by the rules (pure)."""
    offered = []
    for action in PackAction:
        try:
            plan(action, known, scanned=None, location=location, now=now)
            refused = None
        except ActionRefused as error:
            refused = str(error)
        offered.append(ActionChoice(action, WHAT[action], refused))
    return offered


async def choices(services: WebServices, token: int) -> list[ActionChoice]:
    """The actions the pack history page offers for pack `token` (empty: no such pack)."""
    known = await asyncio.to_thread(_known, services, token)
    if known is None:
        return []
    return choices_of(known, location=services.config.site.location, now=services.now())


def _message(action: PackAction, token: int, services: WebServices) -> str:
    every = services.config.pipeline.replay_every_s
    then = (
        f"the daemon sends it at its next replay (every {every:g} s)"
        if every is not None
        else "`fmd-robot outbox replay` sends it (the daemon's background replay is off)"
    )
    return f"{action} of pack {token} committed to the outbox in your name; {then}"


async def act(
    services: WebServices, token: int, action: PackAction, reason: str, actor: str
) -> PackActionOut:
    """Judge and commit `action` on pack `token` in `actor`'s name: 404 for a pack the log
    does not have, 422 for a missing reason, 409 with the rule's words when it refuses."""
    reason = reason.strip()
    if not reason:
        raise HTTPException(422, "reason: say why (the audit log keeps it)")
    problem = line_problem(reason)
    if problem is not None:
        raise HTTPException(422, f"reason: {problem}")
    pack = await asyncio.to_thread(services.store.pack_of, token)
    if pack is None:
        raise HTTPException(404, f"there is no pack {token} in the log")
    config = services.config
    request = PackRequest(action, pack[0], pack[1], actor, reason, config.site.location)
    robot = config.robot.name if config.robot is not None else DEFAULT_ROBOT
    now = services.now()
    try:
        planned, intent = await asyncio.to_thread(
            commit, services.store, request, trx=new_trx(), at=now, robot=robot
        )
    except ActionRefused as refused:
        raise HTTPException(409, f"{action} of pack {token}: {refused}") from None
    return _answer(action, request, planned, intent, now, _message(action, intent.token, services))


def _answer(
    action: PackAction, request: PackRequest, planned: Planned, intent: Intent, now: datetime,
    message: str,
) -> PackActionOut:  # fmt: skip
    return PackActionOut(
        action=action,
        token=intent.token,
        product_code=request.product_code,
        serial=request.serial,
        operation=intent.operation,
        reason=planned.reason.value,
        intent=intent.status,
        trx=intent.client_trx_id,
        actor=request.actor,
        undo_deadline=planned.deadline,
        cautions=list(cautions(planned, intent.token, now, done=False)),
        message=message,
    )


@router.post(
    "/api/v1/packs/{token}/actions", response_model=PackActionOut, status_code=202,
    responses=refusals(404, 409, 422),
)  # fmt: skip
async def pack_action_api(
    request: Request, who: Reviewer, token: RowId, asked: PackActionIn
) -> PackActionOut:
    """Queue a pack action (`fmd-robot pack ACTION`) in the caller's name: 202 when committed to
    the outbox (the daemon's replay sends it), 404 unknown pack, 409 refused by the rules."""
    return await act(services_of(request), token, asked.action, asked.reason, who.actor)


@router.post("/compliance/packs/{token}/actions", include_in_schema=False)
async def pack_action_form(
    request: Request,
    who: Reviewer,
    token: RowId,
    action: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse:
    services = services_of(request)
    done: PackActionOut | None = None
    status, message = 200, ""
    try:
        chosen = PackAction(action)
    except ValueError:
        chosen, status = None, 422
        message = f"action: one of {', '.join(PackAction)}, not {action!r}"
    if chosen is not None:
        try:
            done = await act(services, token, chosen, reason, who.actor)
            message = done.message
        except HTTPException as error:
            status, message = error.status_code, str(error.detail)
    offered = await choices(services, token)
    return render(request, "compliance/_pack_actions_page.html", status=status, token=token,
                  pack_actions=offered, done=done, message=message,
                  reason=reason if done is None else "")  # fmt: skip
