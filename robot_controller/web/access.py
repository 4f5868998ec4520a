"""Who may use each route: a `Guard` on every route (the app refuses a route without one).

The rules (ASVS 8.1.1, written down once):

| guard | roles | what |
|---|---|---|
| `PUBLIC` | anyone | the login page, static files, `/healthz`, `/readyz` |
| `SIGNED_IN` | operator, compliance, admin | the bench's and the robot's views, `/metrics` |
| `OPERATE` | operator, admin | robot commands, fault acknowledgement, hand-out |
| `REVIEW` | compliance, admin | the log, alerts, pack actions, reports, audit verify |
| `ADMINISTER` | admin | the people (users) |

A browser is signed in by its session cookie; every state-changing request it makes carries
the session's CSRF token (a form field or the `X-CSRF-Token` header). An API client sends
`Authorization: Bearer <token>` on every request (no cookie, so no CSRF token).
"""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.routing import APIRoute, APIRouter

from robot_controller.users import Role, User

if TYPE_CHECKING:
    from fastapi import FastAPI

    from robot_controller.web.services import WebServices
    from robot_controller.web.sessions import Session

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


class Via(StrEnum):
    BEARER = "bearer"
    SESSION = "session"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who makes a request: the user, and how they proved it (their session, for a browser)."""

    user: User
    via: Via
    session: Session | None = None

    @property
    def actor(self) -> str:
        """The name the audit log records for what this request changes."""
        return self.user.name


class AccessError(Exception):
    """A request refused for who makes it; `status` is its HTTP status."""

    status = 403

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotSignedIn(AccessError):
    status = 401


class Forbidden(AccessError):
    status = 403


class CsrfRefused(AccessError):
    status = 403


class Guard:
    """A route's rule: which roles may use it (none named: anyone, signed in or not).

    As a FastAPI dependency it returns the request's `Principal` (None on a public route for
    an anonymous caller), or raises an `AccessError`.
    """

    def __init__(self, name: str, *roles: Role) -> None:
        self.name = name
        self.roles = frozenset(roles)

    @property
    def public(self) -> bool:
        return not self.roles

    def allows(self, role: Role | None) -> bool:
        return self.public or role in self.roles

    async def __call__(self, request: Request) -> Principal | None:
        services: WebServices = request.app.state.services
        if self.public:  # an ended session or a bad token is simply no one here
            try:
                return await _principal(request, services)
            except NotSignedIn:
                return None
        principal = await _principal(request, services)
        if principal is None:
            raise NotSignedIn("sign in first (a token from `fmd-robot users add`)")
        if principal.user.role not in self.roles:
            raise Forbidden(
                f"{principal.user.name} is {principal.user.role.value}: this needs "
                + " or ".join(sorted(r.value for r in self.roles))
            )
        if principal.via is Via.SESSION and request.method not in SAFE_METHODS:
            await _check_csrf(request, principal)
        return principal

    def __repr__(self) -> str:
        return f"Guard({self.name})"


PUBLIC = Guard("public")
SIGNED_IN = Guard("signed-in", Role.OPERATOR, Role.COMPLIANCE, Role.ADMIN)
OPERATE = Guard("operate", Role.OPERATOR, Role.ADMIN)
REVIEW = Guard("review", Role.COMPLIANCE, Role.ADMIN)
ADMINISTER = Guard("administer", Role.ADMIN)
GUARDS = (PUBLIC, SIGNED_IN, OPERATE, REVIEW, ADMINISTER)


async def _principal(request: Request, services: WebServices) -> Principal | None:
    """The request's principal from its Bearer token, else its session cookie (None: neither;
    a token or session that is unknown, revoked or ended is `NotSignedIn`)."""
    cached = getattr(request.state, "principal", False)
    if cached is not False:
        return cached if isinstance(cached, Principal) else None
    principal: Principal | None = None
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotSignedIn("Authorization must be 'Bearer <token>'")
        user = await asyncio.to_thread(services.store.user_by_token, token.strip())
        if user is None or not user.active:
            raise NotSignedIn("this token is unknown or revoked")
        await services.seen(user)
        principal = Principal(user, Via.BEARER)
    else:
        session_id = request.cookies.get(services.sessions.cookie)
        if session_id:
            session = services.sessions.get(session_id)
            if session is None:
                raise NotSignedIn("your session has ended: sign in again")
            user = await asyncio.to_thread(services.store.user, session.user_id)
            if user is None or not user.active:
                services.sessions.end(session_id)
                raise NotSignedIn("your token was revoked: ask an admin for a new one")
            principal = Principal(user, Via.SESSION, session)
    request.state.principal = principal
    return principal


async def _check_csrf(request: Request, principal: Principal) -> None:
    assert principal.session is not None  # noqa: S101 - a session principal has its session
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not sent or not hmac.compare_digest(sent, principal.session.csrf):
        raise CsrfRefused("the form's security token is missing or wrong: reload the page")


def guard_of(route: APIRoute) -> Guard | None:
    """The guard a route declares (None: it declares none, which `check_guarded` refuses)."""
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop(0)
        if isinstance(dependency.call, Guard):
            return dependency.call
        stack.extend(dependency.dependencies)
    return None


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every API route of `app`, those of its included routers too (FastAPI 0.16x keeps an
    included router as one entry of `app.routes`, its routes inside it)."""
    found: list[APIRoute] = []
    pending: list[object] = list(app.routes)
    while pending:
        route = pending.pop(0)
        if isinstance(route, APIRoute):
            found.append(route)
        elif isinstance(inner := getattr(route, "original_router", None), APIRouter):
            pending[:0] = inner.routes
    return found


def check_guarded(app: FastAPI) -> None:
    """Refuse an app with a route that names no guard (fail closed: ASVS 8.2.1)."""
    unguarded = [
        f"{sorted(route.methods or ())} {route.path}"
        for route in api_routes(app)
        if guard_of(route) is None
    ]
    if unguarded:
        raise RuntimeError("routes without an access rule: " + ", ".join(unguarded))
