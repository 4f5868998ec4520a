"""An admin manages who may sign in: the token shown once, revoking ends sessions at once."""

from __future__ import annotations

import pytest

from robot_controller.store import Store
from robot_controller.users import Role
from tests.support.web import WebWorld, web_world


@pytest.fixture
def world(sqlite_url: str) -> WebWorld:
    return web_world(Store.open(sqlite_url))


async def test_an_admin_adds_a_person_and_gets_their_token_once(world: WebWorld) -> None:
    async with world.api(Role.ADMIN) as admin:
        added = await admin.post("/api/v1/users", json={"name": "Anna Berg", "role": "operator"})
        assert added.status_code == 201
        token = added.json()["token"]
        listed = await admin.get("/api/v1/users")
    assert token.startswith("fmd_op_")
    assert token not in listed.text
    assert [u["name"] for u in listed.json()] == ["operator", "compliance", "admin", "Anna Berg"]
    user = world.store.user_by_token(token)
    assert user is not None
    assert user.role is Role.OPERATOR


async def test_revoking_ends_the_persons_open_sessions_at_once(world: WebWorld) -> None:
    async with world.browser(Role.OPERATOR) as (operator, _), world.api(Role.ADMIN) as admin:
        assert (await operator.get("/login")).status_code == 200
        revoked = await admin.post("/api/v1/users/operator/revoke", json={"reason": "left"})
        assert revoked.status_code == 200
        assert revoked.json()["revoked_at"] is not None
        assert len(world.services.sessions) == 0
        page = await operator.get("/")
    assert page.headers["location"] == "/login"


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/api/v1/users", {"name": "admin", "role": "admin"}, 409, "exists already"),
        ("/api/v1/users", {"name": "x", "role": "root"}, 422, "role"),
        ("/api/v1/users", {"name": "", "role": "admin"}, 422, "name"),
        ("/api/v1/users/nobody/revoke", {"reason": "x"}, 404, "no user"),
        ("/api/v1/users/operator/revoke", {"reason": "   "}, 422, "say why"),
    ],
)
async def test_refusals_say_why_and_change_nothing(
    world: WebWorld, path: str, body: dict[str, str], status: int, words: str
) -> None:
    async with world.api(Role.ADMIN) as admin:
        answer = await admin.post(path, json=body)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["detail"]
    assert len(world.store.users()) == 3
    assert all(user.active for user in world.store.users())


async def test_only_an_admin_manages_people(world: WebWorld) -> None:
    for role in (Role.OPERATOR, Role.COMPLIANCE):
        async with world.api(role) as client:
            assert (await client.get("/api/v1/users")).status_code == 403
            refused = await client.post("/api/v1/users", json={"name": "z", "role": "admin"})
            assert refused.status_code == 403
    assert len(world.store.users()) == 3


async def test_the_people_page_adds_with_its_csrf_token_and_shows_the_token(
    world: WebWorld,
) -> None:
    async with world.browser(Role.ADMIN) as (client, csrf):
        page = await client.get("/people")
        assert "compliance" in page.text
        forged = await client.post("/people", data={"name": "Eve", "role": "admin"})
        assert forged.status_code == 403
        added = await client.post("/people", data={"name": "Ben", "role": "compliance",
                                                   "csrf_token": csrf})  # fmt: skip
    assert added.status_code == 200
    assert "fmd_co_" in added.text
    assert [u.name for u in world.store.users()][-1] == "Ben"
