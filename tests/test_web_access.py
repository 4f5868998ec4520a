"""Signing in and out, sessions, CSRF, rate-limited logins, tokens revoked: who gets in, and
what everyone else is told."""

from __future__ import annotations

import pytest

from robot_controller.pipeline import utc_now
from robot_controller.store import Store
from robot_controller.users import Role
from tests.support.web import WebWorld, web_world


@pytest.fixture
def world(sqlite_url: str) -> WebWorld:
    return web_world(Store.open(sqlite_url))


async def test_a_person_signs_in_with_their_token_and_gets_a_strict_session_cookie(
    world: WebWorld,
) -> None:
    async with world.api() as client:
        answer = await client.post("/login", data={"token": world.tokens[Role.OPERATOR]})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/bench"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain HTTP here; TLS makes it Secure


async def test_a_wrong_token_is_refused_and_the_sixth_try_in_a_minute_waits(
    world: WebWorld,
) -> None:
    async with world.api() as client:
        for _ in range(5):
            refused = await client.post("/login", data={"token": "fmd_op_guess"})
            assert refused.status_code == 401
            assert "not known here" in refused.text
        throttled = await client.post("/login", data={"token": world.tokens[Role.ADMIN]})
        assert throttled.status_code == 429
        assert int(throttled.headers["retry-after"]) == 60
        await world.clock.advance(60)
        allowed = await client.post("/login", data={"token": world.tokens[Role.ADMIN]})
    assert allowed.status_code == 303


async def test_a_form_without_its_csrf_token_changes_nothing(world: WebWorld) -> None:
    async with world.browser(Role.OPERATOR) as (client, csrf):
        forged = await client.post("/logout")
        assert forged.status_code == 403
        assert "security token" in forged.text
        wrong = await client.post("/logout", data={"csrf_token": csrf + "x"})
        assert wrong.status_code == 403
        assert len(world.services.sessions) == 1  # still signed in
        signed_out = await client.post("/logout", data={"csrf_token": csrf})
    assert signed_out.status_code == 303
    assert len(world.services.sessions) == 0


async def test_an_idle_session_ends_and_the_browser_is_sent_to_sign_in(world: WebWorld) -> None:
    async with world.browser(Role.COMPLIANCE) as (client, _):
        await world.clock.advance(61 * 60)
        page = await client.get("/")
        assert page.status_code == 303
        assert page.headers["location"] == "/login"  # the start page: no one is signed in


async def test_a_revoked_token_ends_its_sessions_and_its_api_access(world: WebWorld) -> None:
    async with world.browser(Role.OPERATOR) as (client, _), world.api(Role.OPERATOR) as api:
        world.store.revoke_user("operator", actor="test", why="left", at=utc_now())
        assert (await api.get("/openapi.json")).status_code == 200  # public
        page = await client.get("/")
        assert page.status_code == 303  # its session ended with the token
        assert page.headers["location"] == "/login"


async def test_a_malformed_authorization_header_is_told_what_is_expected(world: WebWorld) -> None:
    async with world.api() as client:
        answer = await client.post("/logout", headers={"Authorization": "Basic abc"})
    assert answer.status_code == 401
    assert "Bearer" in answer.text


async def test_sign_in_goes_back_only_to_a_page_of_this_server(world: WebWorld) -> None:
    async with world.api() as client:
        away = await client.post(
            "/login", data={"token": world.tokens[Role.ADMIN], "next": "//evil.example/"}
        )
    assert away.headers["location"] == "/bench"


async def test_unknown_pages_are_404_in_words(world: WebWorld) -> None:
    async with world.api(Role.ADMIN) as client:
        api = await client.get("/api/v1/nothing-here")
        page = await client.get("/nothing-here")
    assert api.status_code == 404
    assert api.json() == {"detail": "no such page or resource"}
    assert page.status_code == 404
    assert "no such page" in page.text


async def test_every_answer_carries_the_strict_content_security_policy(world: WebWorld) -> None:
    async with world.api() as client:
        page = await client.get("/login")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY"
