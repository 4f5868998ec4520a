"""The web app over a real store, reached through httpx's ASGI transport: a person of each role
with their token, as an API client (Bearer) or as a signed-in browser (cookie + CSRF)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI

from robot_controller.config import Config, StoreConfig, load_config
from robot_controller.pipeline import utc_now
from robot_controller.robot.base import Robot
from robot_controller.store import Store
from robot_controller.users import Role
from robot_controller.web.app import create_app
from robot_controller.web.services import WebServices, web_services
from tests.support.clock import ManualClock

BASE = "http://fmd.test"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def web_config(store_url: str) -> Config:
    """The embedded configuration with the store at `store_url` and no simulated world."""
    config = load_config()
    return config.model_copy(update={"store": StoreConfig(url=store_url), "simulation": None})


@dataclass
class WebWorld:
    """An app, its services and a token per role (`tokens[role]`, the user named after it)."""

    app: FastAPI
    services: WebServices
    store: Store
    clock: ManualClock
    tokens: dict[Role, str] = field(default_factory=dict)

    def api(self, role: Role | None = None) -> httpx.AsyncClient:
        """An API client with `role`'s Bearer token (None: anonymous)."""
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=BASE, headers=headers
        )

    @asynccontextmanager
    async def browser(self, role: Role) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
        """A browser signed in as `role`: the client (with its session cookie) and the CSRF
        token its forms carry."""
        async with self.api() as client:
            signed_in = await client.post("/login", data={"token": self.tokens[role]})
            assert signed_in.status_code == 303, signed_in.text
            page = await client.get("/login")  # any page carries the session's CSRF token
            found = _CSRF.search(page.text)
            assert found, "no CSRF token on the page"
            yield client, found.group(1)


def web_world(
    store: Store, *, robot: Robot | None = None, config: Config | None = None
) -> WebWorld:
    """The app over `store` with one user per role."""
    clock = ManualClock()
    config = config or web_config(str(store.engine.url.render_as_string(hide_password=False)))
    services = web_services(config, store, robot=robot, clock=clock)
    world = WebWorld(create_app(services), services, store, clock)
    for role in Role:
        _, token = store.add_user(role.value, role, actor="test", at=utc_now())
        world.tokens[role] = token
    return world
