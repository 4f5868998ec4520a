"""The loading bench: packs as they are routed (the page, its live stream, the API), the
counters, the banners, and the hand-out from the bench on a WWKS2 robot simulator."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from fmd.hub.resilient import HubHealth
from fmd.policy import Why
from robot_controller.config import Config, Wwks2RobotConfig
from robot_controller.pipeline import Routed, utc_now
from robot_controller.states import HubOperation, Route
from robot_controller.store import Store
from robot_controller.users import Role
from robot_controller.web.app import create_app
from robot_controller.web.beside import scanner_state
from robot_controller.web.server import SHUTDOWN_S, WebServer
from robot_controller.web.services import ScannerState
from scanners.base import Scan
from scanners.script import ScriptedScanner
from scanners.serial import SerialScanner, SerialSettings
from simulators.wwks2 import RobotSettings
from tests.support.packs import GTIN, hub_pack
from tests.support.until import until
from tests.support.web import WebWorld, web_config, web_world
from tests.test_dispense import a_site, events, routes


@pytest.fixture
def world(sqlite_url: str) -> WebWorld:
    return web_world(Store.open(sqlite_url))


def routed(token: int, route: Route, why: Why, *, serial: str = "S1", flagged: bool = False,
           message: str = "") -> Routed:  # fmt: skip
    return Routed(token, route, why, hub_pack(serial, batch="LOT7"), message, flagged)


async def test_the_bench_shows_each_pack_with_its_instruction_newest_first(
    world: WebWorld,
) -> None:
    feed = world.services.feed
    feed.publish(routed(1, Route.SHELVED, Why.VERIFIED, serial="OK1"))
    feed.publish(routed(2, Route.REJECTED, Why.EXPIRED, serial="OLD1"))
    feed.publish(routed(3, Route.QUARANTINED, Why.ALERT, serial="ALR1", flagged=True,
                        message="the hub raised an alert"))  # fmt: skip
    async with world.browser(Role.OPERATOR) as (client, _):
        page = await client.get("/bench")
    assert page.status_code == 200
    text = page.text
    rejected = text[text.index('id="pack-2"') :]
    assert "reject tray" in rejected[:2000]
    assert feed.recent()[1].instruction in rejected[:2000]  # what to do with it
    assert "batch <b>LOT7</b>" in text
    assert GTIN in text
    assert "expires <b>281231</b>" in text
    assert text.index('id="pack-3"') < text.index('id="pack-2"') < text.index('id="pack-1"')
    assert 'class="pack route-quarantined flagged"' in text
    assert "check this pack: the hub raised an alert" in text
    assert 'sse-connect="/bench/stream?after=3"' in text
    assert 'href="/static/bench.css"' in text
    assert "Hand out" not in text  # no WWKS2 robot here


async def test_a_pack_shows_the_product_name_the_hub_gave_above_its_code(
    world: WebWorld,
) -> None:
    feed = world.services.feed
    named = routed(1, Route.SHELVED, Why.VERIFIED, serial="NAMED1")
    feed.publish(replace(named, product_name="Paracetamol <500 mg> tablets, 20"))
    feed.publish(routed(2, Route.SHELVED, Why.VERIFIED, serial="PLAIN1"))  # a SOAP hub: no name
    async with world.browser(Role.OPERATOR) as (client, _):
        page = await client.get("/bench")
    async with world.api(Role.OPERATOR) as api:
        bench = (await api.get("/api/v1/bench")).json()
    first = page.text[page.text.index('id="pack-1"') :][:1500]
    second = page.text[page.text.index('id="pack-2"') :][:1500]
    assert '<span class="product">Paracetamol &lt;500 mg&gt; tablets, 20</span>' in first
    assert f"product code <b>{GTIN}</b>" in first
    assert f'<span class="product" title="product code">{GTIN}</span>' in second
    assert [p["product_name"] for p in bench["packs"]] == ["", "Paracetamol <500 mg> tablets, 20"]


async def test_the_counters_and_the_api(world: WebWorld) -> None:
    feed = world.services.feed
    for token, route in enumerate([Route.SHELVED, Route.SHELVED, Route.REJECTED], start=1):
        feed.publish(routed(token, route, Why.VERIFIED if route is Route.SHELVED else Why.EXPIRED))
    async with world.api(Role.COMPLIANCE) as client:
        answer = await client.get("/api/v1/bench")
        anonymous = await client.get("/api/v1/bench", headers={"Authorization": ""})
    assert answer.status_code == 200
    bench = answer.json()
    assert bench["counts"] == {"shelved": 2, "rejected": 1, "quarantined": 0, "returned": 0,
                               "dispensed": 0}  # fmt: skip
    assert [p["seq"] for p in bench["packs"]] == [3, 2, 1]
    assert bench["packs"][0]["outcome"] == "reject tray"
    assert (bench["hub"], bench["hub_offline"], bench["queued"], bench["paused"]) == (
        "answering", False, 0, None)  # fmt: skip
    assert bench["robot"]["hand_out"] is False
    assert anonymous.status_code == 401
    async with world.browser(Role.OPERATOR) as (browser, _):
        status = await browser.get("/bench/status")
    assert '<span class="n">2</span> <span aria-hidden="true">✔</span> shelved' in status.text
    assert '<span class="n">3</span> packs' in status.text
    assert 'hx-trigger="every 2s"' in status.text


async def test_a_banner_when_the_hub_is_away_and_packs_wait_and_when_loading_is_paused(
    world: WebWorld,
) -> None:
    store = world.store
    for serial in ("Q1", "Q2"):
        token = store.record_scan(Scan(f"raw-{serial}", None, "bench", utc_now()), at=utc_now())
        store.queue_intent(token, hub_pack(serial), HubOperation.VERIFY, None, trx=serial,
                           at=utc_now())  # fmt: skip
    async with world.browser(Role.OPERATOR) as (client, _):
        calm = await client.get("/bench/status")
        world.services.hub_health = lambda: HubHealth.UNANSWERED
        world.services.paused = lambda: "the robot is held"
        away = await client.get("/bench/status")
    assert "not answering" not in calm.text
    assert "paused" not in calm.text
    assert "The national system is not answering (unanswered)" in away.text
    assert "2 hub requests wait in the outbox" in away.text
    assert "Loading is paused: the robot is held" in away.text
    async with world.api(Role.OPERATOR) as api:
        bench = (await api.get("/api/v1/bench")).json()
    assert (bench["hub_offline"], bench["queued"], bench["paused"]) == (
        True, 2, "the robot is held")  # fmt: skip


@pytest.fixture
async def served(world: WebWorld) -> AsyncIterator[WebServer]:
    web = world.services.config.web.model_copy(update={"host": "127.0.0.1", "port": 0})
    server = WebServer(world.app, web)
    await server.start()
    try:
        yield server
    finally:
        await server.aclose()


async def sse_events(lines: AsyncIterator[str], count: int) -> list[dict[str, str]]:
    """The next `count` events of a stream (comments skipped), each as its fields."""
    found: list[dict[str, str]] = []
    event: dict[str, str] = {}
    async for line in lines:
        if not line:
            if event:
                found.append(event)
                event = {}
            if len(found) == count:
                return found
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(": ")
        event[name] = event.get(name, "") + value
    return found


async def test_the_stream_sends_each_new_pack_and_resumes_after_the_last_event_id(
    world: WebWorld, served: WebServer
) -> None:
    feed = world.services.feed
    feed.publish(routed(1, Route.SHELVED, Why.VERIFIED, serial="OLD"))
    headers = {"Authorization": f"Bearer {world.tokens[Role.OPERATOR]}"}
    async with httpx.AsyncClient(base_url=served.url, headers=headers, timeout=5) as client:
        async with client.stream("GET", "/bench/stream") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            await until(lambda: feed.listeners == 1, timeout_s=5, every_s=0.01)
            feed.publish(routed(2, Route.REJECTED, Why.EXPIRED, serial="NEW"))
            [event] = await asyncio.wait_for(sse_events(stream.aiter_lines(), 1), 5)
        assert (event["event"], event["id"]) == ("pack", "2")  # not the one before it
        assert 'id="pack-2"' in event["data"]
        assert "reject tray" in event["data"]
        assert feed.recent()[-1].instruction in event["data"]

        await until(lambda: feed.listeners == 0, timeout_s=5, every_s=0.01)
        feed.publish(routed(3, Route.SHELVED, Why.VERIFIED, serial="MISSED"))
        resumed = {**headers, "Last-Event-ID": "2"}
        async with client.stream("GET", "/bench/stream", headers=resumed) as stream:
            lines = stream.aiter_lines()
            [missed] = await asyncio.wait_for(sse_events(lines, 1), 5)
            await until(lambda: feed.listeners == 1, timeout_s=5, every_s=0.01)
            feed.publish(routed(4, Route.SHELVED, Why.VERIFIED, serial="LIVE"))
            [live] = await asyncio.wait_for(sse_events(lines, 1), 5)
    assert (missed["id"], live["id"]) == ("3", "4")
    assert "MISSED" in missed["data"]
    assert "LIVE" in live["data"]


async def test_the_row_that_falls_off_the_page_is_deleted_by_the_stream(
    world: WebWorld, served: WebServer
) -> None:
    feed = world.services.feed
    for token in range(1, 51):
        feed.publish(routed(token, Route.SHELVED, Why.VERIFIED, serial=f"S{token}"))
    headers = {"Authorization": f"Bearer {world.tokens[Role.OPERATOR]}", "Last-Event-ID": "50"}
    async with (
        httpx.AsyncClient(base_url=served.url, headers=headers, timeout=5) as client,
        client.stream("GET", "/bench/stream") as stream,
    ):
        await until(lambda: feed.listeners == 1, timeout_s=5, every_s=0.01)
        feed.publish(routed(51, Route.SHELVED, Why.VERIFIED, serial="S51"))
        [event] = await asyncio.wait_for(sse_events(stream.aiter_lines(), 1), 5)
    assert '<li id="pack-1" hx-swap-oob="delete"></li>' in event["data"]


async def test_a_stop_ends_the_open_streams_at_once(world: WebWorld) -> None:
    web = world.services.config.web.model_copy(update={"host": "127.0.0.1", "port": 0})
    server = WebServer(create_app(world.services), web)
    await server.start()
    headers = {"Authorization": f"Bearer {world.tokens[Role.OPERATOR]}"}
    async with (
        httpx.AsyncClient(base_url=server.url, headers=headers, timeout=5) as client,
        client.stream("GET", "/bench/stream") as stream,
    ):
        await until(lambda: world.services.feed.listeners == 1, timeout_s=5, every_s=0.01)
        started = time.monotonic()
        await asyncio.wait_for(server.aclose(), SHUTDOWN_S)
        took = time.monotonic() - started
        rest = [line async for line in stream.aiter_lines()]  # the stream has ended
    assert took < SHUTDOWN_S / 2
    assert not [line for line in rest if line.startswith("event:")]


def wwks2(config: Config, port: int) -> Config:
    robot = Wwks2RobotConfig(kind="wwks2", host="127.0.0.1", port=port)
    return config.model_copy(update={"robot": robot})


async def test_an_operator_hands_packs_out_from_the_bench_in_their_own_name(
    sqlite_url: str,
) -> None:
    store = Store.open(sqlite_url)
    async with a_site(store, serials=("DSP1", "DSP2", "DSP3")) as site:
        world = web_world(
            store, robot=site.robot, config=wwks2(web_config(sqlite_url), site.sim.port)
        )
        async with world.browser(Role.OPERATOR) as (client, csrf):
            page = await client.get("/bench")
            assert 'action="/bench/dispense"' in page.text
            assert "Robot robot (wwks2): " in page.text
            assert "the robot reads each pack itself" in page.text
            form = {"csrf_token": csrf, "product": GTIN, "quantity": "2", "destination": "1"}
            posted = await client.post("/bench/dispense", data=form)
            done = await client.get(posted.headers["location"])
            again = await client.get("/bench")  # a reload shows the bench, hands nothing out
            bad = await client.post("/bench/dispense", data={
                "csrf_token": csrf, "product": GTIN, "quantity": "0"})  # fmt: skip
            forged = await client.post("/bench/dispense", data={"product": GTIN})
        assert posted.status_code == 303, posted.text
        assert done.status_code == 200, done.text
        assert "2 of 2 packs handed out" in done.text
        assert "packs handed out" not in again.text
        assert len(site.sim.outputs) == 1  # the one hand-out; the reload sent none
        assert "dispensed from the shelf" in done.text
        assert bad.status_code == 422
        assert "quantity: a whole number from 1 to 50" in bad.text
        assert forged.status_code == 403
        async with world.api(Role.ADMIN) as api:
            one = await api.post("/api/v1/dispense", json={"product": GTIN, "quantity": 1})
            wrong = await api.post("/api/v1/dispense", json={"product": "123", "quantity": 1})
            both = await api.post("/api/v1/dispense",
                                  json={"product": GTIN, "article": "A1"})  # fmt: skip
        async with world.api(Role.COMPLIANCE) as api:
            refused = await api.post("/api/v1/dispense", json={"product": GTIN})
    assert one.status_code == 200, one.text
    answer: dict[str, Any] = one.json()
    assert (answer["asked"], answer["left"], answer["status"], answer["message"]) == (
        1, 1, "Completed", None)  # fmt: skip
    assert answer["packs"][0]["shelved"] is True
    assert answer["packs"][0]["trouble"] is False
    assert wrong.status_code == 422
    assert "not a product code" in wrong.json()["detail"]
    assert both.status_code == 422
    assert "exactly one" in both.json()["detail"]
    assert refused.status_code == 403
    assert set(routes(store).values()) == {"dispensed"}
    actors = [e.actor for e in events(store, "pack.dispensed")]
    assert actors == ["operator", "operator", "admin"]
    feed = world.services.feed  # the bench's live feed and counters heard of each pack
    assert feed.counts["dispensed"] == 3
    newest = feed.recent()[-1]
    assert (newest.route, newest.outcome, newest.why, newest.flagged) == (
        "dispensed", "handed out", "handed-out", False)  # fmt: skip
    assert newest.instruction == "handed out by the robot: take it from the robot's output"
    async with world.browser(Role.OPERATOR) as (browser, _):
        status = await browser.get("/bench/status")
    assert '<span class="n">3</span> <span aria-hidden="true">➜</span> handed out' in status.text
    assert '<span class="n">0</span> packs' in status.text  # none loaded: three left the shelf


async def test_a_hand_out_the_robot_refuses_changes_nothing(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    settings = RobotSettings(keepalive_every_s=None, valid_destinations=frozenset({1}))
    async with a_site(store, serials=("DSP1",), settings=settings) as site:
        world = web_world(
            store, robot=site.robot, config=wwks2(web_config(sqlite_url), site.sim.port)
        )
        async with world.api(Role.OPERATOR) as api:
            refused = await api.post("/api/v1/dispense", json={"product": GTIN, "destination": 7})
    assert refused.status_code == 409
    assert "the robot refused output" in refused.json()["detail"]
    assert "nothing left it" in refused.json()["detail"]
    assert routes(store) == {"DSP1": "shelved"}
    assert events(store, "pack.dispensed") == []


async def test_without_a_wwks2_robot_there_is_no_hand_out(world: WebWorld) -> None:
    async with world.api(Role.OPERATOR) as api:
        refused = await api.post("/api/v1/dispense", json={"product": GTIN})
    async with world.browser(Role.OPERATOR) as (client, csrf):
        form = await client.post("/bench/dispense", data={"csrf_token": csrf, "product": GTIN})
    assert refused.status_code == 409
    assert "only a WWKS2 robot can" in refused.json()["detail"]
    assert form.status_code == 409
    assert 'action="/bench/dispense"' not in form.text


async def test_each_scanner_is_named_and_a_serial_one_says_whether_its_port_is_open() -> None:
    main, side = os.openpty()
    serial = SerialScanner(SerialSettings(os.ttyname(side)), source="bench-scanner")
    try:
        assert scanner_state(serial) == ScannerState("bench-scanner", connected=False)
        serial.open()
        assert scanner_state(serial) == ScannerState("bench-scanner", connected=True)
        assert scanner_state(ScriptedScanner(["x"], source="file")) == ScannerState("file", None)
    finally:
        await serial.aclose()
        os.close(main)
        os.close(side)
