"""The authorisation matrix: every route of the app × every role × anonymous, each outcome
read from the route's own guard; a route without a guard fails here (and the app refuses it)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from robot_controller.store import Store
from robot_controller.users import Role
from robot_controller.web.access import Guard, api_routes, check_guarded, guard_of
from robot_controller.web.app import create_app
from tests.support.asgi import Head, head_of
from tests.support.web import WebWorld, web_world

STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
_PARAMETER = re.compile(r"\{[^}]+\}")


@pytest.fixture
def world(sqlite_url: str) -> WebWorld:
    return web_world(Store.open(sqlite_url))


def _calls(app: FastAPI) -> list[tuple[str, str, Guard]]:
    """(method, path with its parameters filled, guard) for every method of every route."""
    calls = []
    for route in api_routes(app):
        guard = guard_of(route)
        assert guard is not None, f"{route.path} has no guard"
        path = _PARAMETER.sub("1", route.path)
        calls += [
            (method, path, guard) for method in sorted(route.methods or ()) if method != "HEAD"
        ]
    return calls


def _body(method: str, path: str, world: WebWorld) -> tuple[dict[str, str], bytes]:
    """Headers and a body good enough to reach the handler (a sign-in gets a real token, so
    the login limit never steps in)."""
    if method == "GET":
        return {}, b""
    if path == "/login":
        form = f"token={world.tokens[Role.ADMIN]}".encode()
        return {"content-type": "application/x-www-form-urlencoded"}, form
    if path.startswith("/api/"):
        return {"content-type": "application/json"}, b"{}"
    return {"content-type": "application/x-www-form-urlencoded"}, b""


def test_every_route_of_the_app_is_in_the_matrix(world: WebWorld) -> None:
    calls = _calls(world.app)
    paths = {path for _, path, _ in calls}
    assert {"/login", "/logout", "/api/v1/users", "/compliance/alerts"} <= paths
    assert len(calls) == sum(len(set(r.methods or ()) - {"HEAD"}) for r in api_routes(world.app))


@pytest.mark.parametrize("role", [*Role, None], ids=[*(r.value for r in Role), "anonymous"])
async def test_each_caller_gets_what_each_routes_guard_allows(
    world: WebWorld, role: Role | None
) -> None:
    wrong: list[str] = []
    auth = {"authorization": f"Bearer {world.tokens[role]}"} if role else {}
    for method, path, guard in _calls(world.app):
        headers, body = _body(method, path, world)
        answer = await head_of(world.app, method, path, headers=auth | headers, body=body)
        expected = _expected(guard, role, path)
        if not expected(answer):
            wrong.append(f"{method} {path} ({guard.name}): {answer.status} {expected.__doc__}")
    assert not wrong, f"as {role or 'anonymous'}:\n" + "\n".join(wrong)


def _expected(guard: Guard, role: Role | None, path: str) -> Callable[[Head], bool]:
    def allowed(answer: Head) -> bool:
        """expected: not 401/403"""
        return answer.status not in (401, 403)

    def forbidden(answer: Head) -> bool:
        """expected: 403"""
        return answer.status == 403

    def to_sign_in(answer: Head) -> bool:
        """expected: 303 to /login"""
        return answer.status == 303 and answer.headers["location"].startswith("/login?next=")

    def unauthorised(answer: Head) -> bool:
        """expected: 401 with WWW-Authenticate: Bearer"""
        return answer.status == 401 and answer.headers.get("www-authenticate") == "Bearer"

    if guard.allows(role):
        return allowed
    if role is not None:
        return forbidden
    return unauthorised if path.startswith(("/api/", "/metrics")) else to_sign_in


@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
async def test_a_browser_session_changes_nothing_without_its_csrf_token(
    world: WebWorld, role: Role
) -> None:
    async with world.browser(role) as (client, _csrf):
        cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    wrong: list[str] = []
    for method, path, guard in _calls(world.app):
        if method not in STATE_CHANGING or guard.public:
            continue
        headers, body = _body(method, path, world)
        answer = await head_of(
            world.app, method, path, headers=headers | {"cookie": cookie}, body=body
        )
        if answer.status != 403:
            wrong.append(f"{method} {path} ({guard.name}): {answer.status}, expected 403")
    assert not wrong, f"a {role.value} session without CSRF:\n" + "\n".join(wrong)


def test_an_app_with_an_unguarded_route_is_refused(world: WebWorld) -> None:
    app = create_app(world.services)
    app.get("/api/v1/open")(lambda: {"open": True})
    with pytest.raises(RuntimeError, match=r"\['GET'\] /api/v1/open"):
        check_guarded(app)


def test_an_unguarded_route_in_an_included_router_is_refused_too(world: WebWorld) -> None:
    router = APIRouter()
    router.post("/api/v1/sneaky")(lambda: {"open": True})
    app = create_app(world.services)
    app.include_router(router)
    assert any(isinstance(r, APIRoute) and r.path == "/api/v1/sneaky" for r in api_routes(app))
    with pytest.raises(RuntimeError, match=r"\['POST'\] /api/v1/sneaky"):
        check_guarded(app)
