"""`GET /api/v1/events`: the live feed as server-sent events, through a real server on a
loopback port (uvicorn, as the daemon serves it) and httpx streaming with a Bearer token."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from fmd.codes.model import PackIdentifier
from fmd.policy import Why
from robot_controller.pipeline import Routed
from robot_controller.states import Route
from robot_controller.store import Store
from robot_controller.texts import catalogue
from robot_controller.users import Role
from robot_controller.web.events import PackEventOut
from robot_controller.web.feed import LiveFeed
from robot_controller.web.server import WebServer
from tests.support.until import until
from tests.support.web import WebWorld, web_world

PATH = "/api/v1/events"


def routed(token: int, message: str = "") -> Routed:
    ui = PackIdentifier("GTIN", "09506000134352", f"SN{token}", "B1", date(2028, 12, 31), "281231")
    return Routed(token, Route.SHELVED, Why.VERIFIED, ui, message)


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    id: str
    data: dict[str, Any]


class Stream:
    """One client's stream: its events, parsed as an EventSource would (comments kept apart)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()
        self.comments: list[str] = []

    async def next(self) -> Event | None:
        """The next event (None: the stream ended)."""
        fields: dict[str, str] = {}
        async for line in self.lines:
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
            elif line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
            elif fields:
                return Event(
                    fields.get("event", "message"), fields["id"], json.loads(fields["data"])
                )
        return None

    async def one(self) -> Event:
        """The next event (the stream must not end before it)."""
        event = await self.next()
        assert event is not None, "the stream ended"
        return event

    async def rest(self) -> list[int]:
        """The seqs of every event until the stream ends."""
        seqs = []
        while (event := await self.next()) is not None:
            seqs.append(int(event.id))
        return seqs


@dataclass
class Served:
    world: WebWorld
    server: WebServer
    feed: LiveFeed

    def client(self, role: Role | None = Role.OPERATOR) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.world.tokens[role]}"} if role else {}
        return httpx.AsyncClient(base_url=self.server.url, headers=headers, timeout=10)

    @asynccontextmanager
    async def stream(self, client: httpx.AsyncClient, **params: Any) -> AsyncIterator[Stream]:
        headers = params.pop("headers", {})
        async with client.stream("GET", PATH, params=params, headers=headers) as response:
            assert response.status_code == 200, await response.aread()
            assert response.headers["content-type"].startswith("text/event-stream")
            yield Stream(response)


@pytest.fixture
async def served(sqlite_url: str) -> AsyncIterator[Served]:
    world = web_world(Store.open(sqlite_url))
    feed = LiveFeed(catalogue("en"), keep=500, backlog=4)
    world.services.feed = feed
    web = world.services.config.web.model_copy(update={"host": "127.0.0.1", "port": 0})
    server = WebServer(world.app, web)
    await server.start()
    try:
        yield Served(world, server, feed)
    finally:
        await server.aclose()
        world.store.close()


async def test_a_pack_routed_after_connecting_arrives_as_a_pack_event(served: Served) -> None:
    served.feed.publish(routed(1))
    async with served.client() as client, served.stream(client, after=0) as stream:
        assert (await stream.one()).id == "1"  # it listens now
        served.feed.publish(routed(42))
        event = await stream.one()
    assert (event.name, event.id) == ("pack", "2")
    assert event.data["token"] == 42
    assert event.data["serial"] == "SN42"
    assert event.data["outcome"]
    assert event.data["instruction"]
    assert datetime.fromisoformat(event.data["at"]).tzinfo == UTC
    assert PackEventOut.model_validate(event.data).model_dump() == event.data  # as documented


async def test_a_client_resumes_after_its_last_event_id(served: Served) -> None:
    for token in range(1, 5):
        served.feed.publish(routed(token))
    async with served.client() as client:
        async with served.stream(client, headers={"Last-Event-ID": "2"}) as stream:
            got = [(await stream.one()).id for _ in range(2)]
            served.feed.publish(routed(5))
            new = await stream.one()
        assert got == ["3", "4"]
        assert new.id == "5"
        async with served.stream(client, after=3) as stream:
            assert (await stream.one()).id == "4"
        # a reconnecting EventSource re-opens its URL and sends the header: the header wins
        async with served.stream(client, after=0, headers={"Last-Event-ID": "4"}) as stream:
            assert (await stream.one()).id == "5"
        bad = await client.get(PATH, headers={"Last-Event-ID": "four"})
        negative = await client.get(PATH, params={"after": -1})
    assert bad.status_code == 422
    assert "Last-Event-ID" in bad.json()["detail"]
    assert negative.status_code == 422


async def test_a_listener_that_stops_reading_is_dropped_and_resumes_without_a_gap(
    served: Served,
) -> None:
    big = "x" * 256 * 1024  # a few events fill the socket buffers of a client that reads none
    served.feed.publish(routed(1))
    async with served.client() as client, served.stream(client, after=0) as stream:
        assert (await stream.one()).id == "1"
        published = 1
        while served.feed.dropped_listeners == 0 and published < 400:
            served.feed.publish(routed(published + 1, big))  # never waits for the listener
            published += 1
            await asyncio.sleep(0.002)  # the server sends meanwhile, as it does while loading
        assert served.feed.dropped_listeners == 1
        assert served.feed.listeners == 0
        given = await stream.rest()  # what reached it before the drop, then the stream ends
    assert given == list(range(2, 2 + len(given)))
    assert 1 + len(given) < published  # it was dropped well behind
    async with served.client() as client:
        after = str(1 + len(given))
        async with served.stream(client, headers={"Last-Event-ID": after}) as stream:
            resumed = [int((await stream.one()).id) for _ in range(published - 1 - len(given))]
    assert resumed == list(range(2 + len(given), published + 1))


async def test_a_quiet_stream_gets_keep_alive_comments(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("robot_controller.web.events.PING_S", 0.05)  # 15 s
    async with served.client() as client, served.stream(client) as stream:
        reading = asyncio.ensure_future(stream.one())
        await until(lambda: "ping" in stream.comments, timeout_s=5)  # quiet: pinged meanwhile
        served.feed.publish(routed(1))  # and a pack after the pings still arrives
        event = await asyncio.wait_for(reading, timeout=5)
    assert event.id == "1"


async def test_stopping_the_server_ends_open_streams_at_once(served: Served) -> None:
    served.feed.publish(routed(1))
    async with (
        served.client() as one,
        served.client(Role.COMPLIANCE) as two,
        served.stream(one, after=0) as first,
        served.stream(two, after=0) as second,
    ):
        assert (await first.one()).id == "1"
        assert (await second.one()).id == "1"
        await asyncio.wait_for(served.server.aclose(), timeout=3)  # its shutdown waits 5 s
        assert await first.rest() == []  # each ends cleanly: no error, no more events
        assert await second.rest() == []


async def test_without_a_token_the_stream_is_refused(served: Served) -> None:
    async with served.client(None) as client:
        anonymous = await client.get(PATH)
        forged = await client.get(PATH, headers={"Authorization": "Bearer fmd_op_forged"})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert "sign in" in anonymous.json()["detail"]
    assert forged.status_code == 401
    assert served.feed.listeners == 0


async def test_the_stream_is_in_the_openapi_schema_as_an_event_stream(served: Served) -> None:
    async with served.client(None) as client:
        schema = (await client.get("/openapi.json")).json()
    answer = schema["paths"][PATH]["get"]["responses"]["200"]
    item = answer["content"]["text/event-stream"]["itemSchema"]
    assert item["properties"]["event"]["const"] == "pack"
    assert "serial" in item["properties"]["data"]["contentSchema"]["properties"]
    params = {p["name"] for p in schema["paths"][PATH]["get"]["parameters"]}
    assert params == {"after", "last-event-id"}
