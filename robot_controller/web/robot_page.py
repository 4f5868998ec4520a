"""The robot control terminal: `/robot` (its status refreshed every second from
`/robot/status`, commands and the fault acknowledgement each confirmed first) and its API.

Anyone signed in sees it; operators and admins drive it (a compliance officer sees it
read-only). What is sent to the robot is audited with its actor (`robot_view`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from robot_controller.robot.terminal import BUTTONS
from robot_controller.users import Role
from robot_controller.web.access import OPERATE, SIGNED_IN, Principal
from robot_controller.web.pages import render
from robot_controller.web.robot_view import (
    AckIn,
    CommandIn,
    Done,
    NotAllowed,
    NotAllowedOut,
    RobotOut,
    Unavailable,
    acknowledge,
    parse_command,
    robot_view,
    send_command,
)
from robot_controller.web.services import WebServices, services_of

router = APIRouter()
Viewer = Annotated[Principal, Depends(SIGNED_IN)]
Operator = Annotated[Principal, Depends(OPERATE)]
_DRIVERS = frozenset({Role.OPERATOR, Role.ADMIN})
_Action = Callable[[WebServices], Awaitable[Done]]
_REFUSALS: dict[int | str, dict[str, object]] = {
    409: {"model": NotAllowedOut, "description": "The robot's state does not allow it."},
    502: {"description": "The robot refused it."},
    503: {"description": "No robot, or it does not answer."},
}


def _not_allowed(refusal: NotAllowed) -> JSONResponse:
    body = NotAllowedOut(detail=refusal.message, state=refusal.state, allowed=refusal.allowed)
    return JSONResponse(body.model_dump(), 409)


# -- the API ----------------------------------------------------------------------------------


@router.get("/api/v1/robot", response_model=RobotOut, responses={503: _REFUSALS[503]})
async def robot_api(request: Request, who: Viewer) -> RobotOut:
    """The robot's state, status word, fault, counters, heartbeat age and allowed commands."""
    try:
        return await robot_view(services_of(request))
    except Unavailable as error:
        raise HTTPException(error.status, error.message) from None


@router.post("/api/v1/robot/commands", response_model=Done, responses=_REFUSALS)
async def command_api(request: Request, who: Operator, order: CommandIn) -> Done | Response:
    """Send a PackML command the robot's state allows (`confirm` must be true)."""
    try:
        command = parse_command(order.command)
    except ValueError as error:
        raise HTTPException(422, str(error)) from None
    if not order.confirm:
        raise HTTPException(422, f"confirm: set it true to send {command.name.lower()}")
    try:
        return await send_command(services_of(request), command, who.actor)
    except NotAllowed as refusal:
        return _not_allowed(refusal)
    except Unavailable as error:
        raise HTTPException(error.status, error.message) from None


@router.post("/api/v1/robot/fault/ack", response_model=Done, responses=_REFUSALS)
async def ack_api(request: Request, who: Operator, ack: AckIn | None = None) -> Done | Response:
    """Acknowledge the robot's active fault (409 when there is none, or its cause remains)."""
    try:
        return await acknowledge(services_of(request), who.actor, ack.code if ack else None)
    except NotAllowed as refusal:
        return _not_allowed(refusal)
    except Unavailable as error:
        raise HTTPException(error.status, error.message) from None


# -- the page ---------------------------------------------------------------------------------


async def _context(request: Request, who: Principal) -> dict[str, Any]:
    """What the page and its status fragment show (the robot's view, or why there is none)."""
    services = services_of(request)
    view, problem = None, ""
    try:
        view = await robot_view(services)
    except Unavailable as error:
        problem = error.message
    return {
        "view": view,
        "problem": problem,
        "no_robot": services.robot is None,
        "buttons": [c.name.lower() for c in BUTTONS],
        "drives": who.user.role in _DRIVERS,
    }


@router.get("/robot", include_in_schema=False)
async def robot_page(request: Request, who: Viewer) -> HTMLResponse:
    return render(request, "robot/page.html", **await _context(request, who), dialog=None)


@router.get("/robot/status", include_in_schema=False)
async def robot_status_fragment(request: Request, who: Viewer) -> HTMLResponse:
    return render(request, "robot/status.html", **await _context(request, who))


async def _answer(
    request: Request, who: Principal, dialog: dict[str, object], status: int = 200
) -> HTMLResponse:
    """The dialog alone for htmx (the status refreshes itself), else the whole page with it."""
    if request.headers.get("hx-request"):
        return render(request, "robot/dialog.html", status=status, dialog=dialog)
    context = await _context(request, who)
    return render(request, "robot/page.html", status=status, dialog=dialog, **context)


@router.post("/robot/command", include_in_schema=False)
async def command_form(
    request: Request,
    who: Operator,
    command: Annotated[str, Form(max_length=20)] = "",
    confirm: Annotated[str, Form(max_length=5)] = "",
) -> HTMLResponse:
    """First the confirmation (the command, the state it is sent in); with `confirm=yes`, the
    command itself."""
    try:
        chosen = parse_command(command)
    except ValueError as error:
        return await _answer(request, who, {"message": str(error), "bad": True}, 422)
    if confirm != "yes":
        view = await _context(request, who)
        state = view["view"].state if isinstance(view["view"], RobotOut) else "unknown"
        return await _answer(request, who, {"confirm": chosen.name.lower(), "state": state})
    return await _run(request, who, lambda s: send_command(s, chosen, who.actor))


@router.post("/robot/ack", include_in_schema=False)
async def ack_form(
    request: Request,
    who: Operator,
    code: Annotated[int | None, Form()] = None,
    confirm: Annotated[str, Form(max_length=5)] = "",
) -> HTMLResponse:
    if confirm != "yes":
        return await _answer(request, who, {"confirm": "ack", "code": code})
    return await _run(request, who, lambda s: acknowledge(s, who.actor, code))


async def _run(request: Request, who: Principal, action: _Action) -> HTMLResponse:
    try:
        done = await action(services_of(request))
    except NotAllowed as refusal:
        return await _answer(request, who, {"message": refusal.message, "bad": True}, 409)
    except Unavailable as error:
        return await _answer(request, who, {"message": error.message, "bad": True}, error.status)
    message = f"{done.action}: {done.answer}; the robot was {done.before}, is now {done.after}"
    return await _answer(request, who, {"message": message, "bad": False})
