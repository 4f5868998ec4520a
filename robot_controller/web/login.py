"""Signing in and out: a browser trades its person's token for a session cookie."""

from __future__ import annotations

import asyncio
import math
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from robot_controller.web.access import PUBLIC, SIGNED_IN, Principal
from robot_controller.web.pages import HOME, render
from robot_controller.web.services import WebServices

router = APIRouter(include_in_schema=False)
log = structlog.get_logger("fmd.web")
Anyone = Annotated[Principal | None, Depends(PUBLIC)]
SignedIn = Annotated[Principal, Depends(SIGNED_IN)]


def _local(path: str) -> str:
    """Where to go after signing in: a path on this server only (never another site)."""
    return path if path.startswith("/") and not path.startswith(("//", "/\\")) else ""


@router.get("/")
async def start(who: Anyone) -> Response:
    return RedirectResponse(HOME[who.user.role] if who else "/login", status_code=303)


@router.get("/login")
async def login_page(request: Request, who: Anyone, next: str = "") -> Response:
    services: WebServices = request.app.state.services
    no_users = not await asyncio.to_thread(services.store.users)
    return render(request, "login.html", next=_local(next), no_users=no_users, message="")


@router.post("/login")
async def login(
    request: Request,
    who: Anyone,
    token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    services: WebServices = request.app.state.services
    address = request.client.host if request.client else "?"
    wait = services.logins.wait_s(address)
    if wait > 0:
        log.warning("web.login_throttled", address=address)
        seconds = math.ceil(wait)
        message = f"Too many failed sign-ins: try again in {seconds} s."
        response = render(request, "login.html", status=429, next=_local(next), no_users=False,
                          message=message)  # fmt: skip
        response.headers["Retry-After"] = str(seconds)
        return response
    user = await asyncio.to_thread(services.store.user_by_token, token.strip()) if token else None
    if user is None or not user.active:
        services.logins.failed(address)
        log.warning("web.login_failed", address=address, revoked=user is not None)
        message = "That token was revoked." if user else "That token is not known here."
        return render(request, "login.html", status=401, next=_local(next), no_users=False,
                      message=message)  # fmt: skip
    services.logins.succeeded(address)
    session = services.sessions.start(user.id)
    await services.seen(user)
    log.info("web.login", user=user.name, role=user.role.value, address=address)
    home = RedirectResponse(_local(next) or HOME[user.role], status_code=303)
    home.set_cookie(
        services.sessions.cookie,
        session.id,
        httponly=True,
        samesite="strict",
        secure=services.sessions.secure,
        path="/",
    )
    return home


@router.post("/logout")
async def logout(request: Request, who: SignedIn) -> Response:
    services: WebServices = request.app.state.services
    if who.session is not None:
        services.sessions.end(who.session.id)
    log.info("web.logout", user=who.user.name)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(services.sessions.cookie, path="/")
    return response
