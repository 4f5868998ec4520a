"""The robot control terminal (`/robot`, `/api/v1/robot…`) over real robots: the in-process
`SimRobot`, the Modbus driver against the PLC simulator, and the WWKS2 driver against its
simulator. Commands the state does not take change nothing; what is sent is audited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from robot_controller.robot.base import (
    FaultCode,
    Job,
    JobCode,
    JobResult,
    PackMLState,
)
from robot_controller.robot.modbus import ModbusRobot, ModbusTimeouts
from robot_controller.robot.sim import SimRobot
from robot_controller.robot.wwks2 import Wwks2Robot
from robot_controller.robot.wwks2.link import LinkSettings
from robot_controller.robot.wwks2.robot import Wwks2Settings
from robot_controller.store import Store
from robot_controller.store.schema import audit_events
from robot_controller.users import Role
from robot_controller.web.robot_view import on_screen
from simulators.plc import PlcSimulator
from simulators.robot_model import RobotModel, Timings
from simulators.wwks2 import RobotSettings, Wwks2RobotSim
from tests.support.until import until
from tests.support.web import WebWorld, web_world

FAST = ModbusTimeouts(ack_timeout_s=1.0, done_timeout_s=3.0, poll_s=0.005, heartbeat_s=0.05,
                      stale_after_s=0.6, request_timeout_s=0.2, retries=2)  # fmt: skip


def _robot_events(store: Store) -> list[tuple[Any, ...]]:
    e = audit_events.c
    wanted = sa.select(e.actor, e.action, e.subject, e.why, e.detail, e.before, e.after).where(
        e.action.startswith("robot.")
    )
    with store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(wanted.order_by(e.id))]


@pytest.fixture
def sim() -> SimRobot:
    return SimRobot()


@pytest.fixture
def world(sqlite_url: str, sim: SimRobot) -> WebWorld:
    return web_world(Store.open(sqlite_url), robot=sim)


@pytest.fixture
def any_store_world(store_url: str, sim: SimRobot) -> WebWorld:
    """On SQLite and on PostgreSQL (the audit chain's lock differs)."""
    return web_world(Store.open(store_url), robot=sim)


async def _command(world: WebWorld, command: str, role: Role = Role.OPERATOR) -> Any:
    async with world.api(role) as client:
        return await client.post(
            "/api/v1/robot/commands", json={"command": command, "confirm": True}
        )


async def test_an_operator_holds_the_robot_from_execute_and_unholds_it(
    any_store_world: WebWorld, sim: SimRobot
) -> None:
    world = any_store_world
    async with world.api(Role.OPERATOR) as client:
        shown = (await client.get("/api/v1/robot")).json()
        assert (shown["kind"], shown["state"]) == ("packml", "EXECUTE")
        assert shown["allowed_commands"] == ["abort", "hold", "stop", "suspend"]
        held = await client.post(
            "/api/v1/robot/commands", json={"command": "hold", "confirm": True}
        )
        assert held.status_code == 200, held.text
        assert held.json() == {"action": "hold", "before": "EXECUTE", "after": "HELD",
                               "answer": "accepted"}  # fmt: skip
        assert (await client.get("/api/v1/robot")).json()["allowed_commands"] == [
            "abort", "stop", "unhold"]  # fmt: skip
        unheld = await client.post(
            "/api/v1/robot/commands", json={"command": "UNHOLD", "confirm": True}
        )
    assert unheld.json()["after"] == "EXECUTE"
    assert sim.state is PackMLState.EXECUTE
    events = _robot_events(world.store)
    assert [(e[0], e[1], e[2]) for e in events] == [
        ("operator", "robot.command", "robot:robot"),
        ("operator", "robot.command", "robot:robot"),
    ]
    assert events[0][3] == "hold from the robot terminal"
    assert events[0][4] == '{"answer":"accepted","command":"hold"}'
    assert (events[0][5], events[0][6]) == ('{"fault":0,"state":"EXECUTE"}',
                                            '{"fault":0,"state":"HELD"}')  # fmt: skip
    assert world.store.check_audit_chain().ok


async def test_a_command_the_state_does_not_allow_is_409_and_nothing_is_sent(
    world: WebWorld, sim: SimRobot
) -> None:
    refused = await _command(world, "unhold")
    assert refused.status_code == 409
    assert refused.json() == {
        "detail": "unhold is not allowed in state EXECUTE (allowed: abort, hold, stop, suspend)",
        "state": "EXECUTE",
        "allowed": ["abort", "hold", "stop", "suspend"],
    }
    sim.state = PackMLState.ABORTED
    assert (await _command(world, "start")).json()["allowed"] == ["clear"]
    assert sim.state is PackMLState.ABORTED  # SimRobot takes any command: nothing was sent
    assert _robot_events(world.store) == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"command": "jump", "confirm": True}, "unknown command 'jump': one of reset, start"),
        ({"command": "hold", "confirm": False}, "confirm: set it true to send hold"),
        ({"command": "hold"}, "confirm: Field required"),
    ],
)
async def test_an_unknown_or_unconfirmed_command_is_422(
    world: WebWorld, sim: SimRobot, body: dict[str, object], says: str
) -> None:
    async with world.api(Role.OPERATOR) as client:
        answer = await client.post("/api/v1/robot/commands", json=body)
    assert answer.status_code == 422
    assert says in answer.json()["detail"]
    assert sim.state is PackMLState.EXECUTE


async def test_compliance_sees_the_robot_read_only_and_anonymous_sees_nothing(
    world: WebWorld, sim: SimRobot
) -> None:
    forbidden = await _command(world, "hold", Role.COMPLIANCE)
    assert forbidden.status_code == 403
    assert "compliance: this needs admin or operator" in forbidden.json()["detail"]
    async with world.api(Role.COMPLIANCE) as client:
        assert (await client.post("/api/v1/robot/fault/ack")).status_code == 403
        assert (await client.get("/api/v1/robot")).json()["state"] == "EXECUTE"
    async with world.browser(Role.COMPLIANCE) as (client, _):
        page = await client.get("/robot")
    assert "You see the robot read-only" in page.text
    assert page.text.count(" disabled") == 7  # every button
    assert sim.state is PackMLState.EXECUTE
    async with world.api() as anonymous:
        assert (await anonymous.get("/api/v1/robot")).status_code == 401
        assert (await anonymous.post("/api/v1/robot/commands", json={})).status_code == 401
        assert (await anonymous.get("/robot")).status_code == 303
    assert (await _command(world, "hold", Role.ADMIN)).status_code == 200


async def test_the_page_shows_the_robot_and_each_button_only_where_the_state_allows(
    world: WebWorld, sim: SimRobot
) -> None:
    sim.state = PackMLState.HELD
    async with world.browser(Role.OPERATOR) as (client, _):
        page = await client.get("/robot")
        fragment = await client.get("/robot/status", headers={"HX-Request": "true"})
    assert page.status_code == 200
    assert 'hx-get="/robot/status" hx-trigger="every 1s"' in page.text
    assert '<link rel="stylesheet" href="/static/robot.css">' in page.text
    shows = (
        "HELD",
        "SAFETY_OK",
        "the safety circuit is closed",
        "Quarantined",
        "this robot reports no heartbeat",
        "Allowed in HELD: abort, stop, unhold.",
    )
    for text in shows:
        assert text in fragment.text, text
    assert "<html" not in fragment.text
    enabled = [c for c in ("start", "stop", "hold", "unhold", "reset", "abort", "clear")
               if f'value="{c}">\n      <button type="submit" title' in fragment.text]  # fmt: skip
    assert enabled == ["stop", "unhold", "abort"]


async def test_a_button_asks_for_confirmation_first_then_sends_with_its_actor(
    world: WebWorld, sim: SimRobot
) -> None:
    async with world.browser(Role.OPERATOR) as (client, csrf):
        asked = await client.post(
            "/robot/command", data={"csrf_token": csrf, "command": "hold"},
            headers={"HX-Request": "true"},
        )  # fmt: skip
        assert asked.status_code == 200
        assert "Send HOLD to the robot?" in asked.text
        assert 'name="confirm" value="yes"' in asked.text
        assert sim.state is PackMLState.EXECUTE  # only asked
        forged = await client.post("/robot/command", data={"command": "hold", "confirm": "yes"})
        assert forged.status_code == 403
        sent = await client.post(
            "/robot/command", data={"csrf_token": csrf, "command": "hold", "confirm": "yes"}
        )
        assert sent.status_code == 200
        assert "hold: accepted; the robot was EXECUTE, is now HELD" in sent.text
        again = await client.post(
            "/robot/command", data={"csrf_token": csrf, "command": "hold", "confirm": "yes"}
        )
    assert again.status_code == 409
    assert "hold is not allowed in state HELD" in again.text
    assert (await sim.status()).state is PackMLState.HELD
    assert [e[:2] for e in _robot_events(world.store)] == [("operator", "robot.command")]


async def test_without_a_daemon_the_page_says_so_and_the_api_is_503(sqlite_url: str) -> None:
    world = web_world(Store.open(sqlite_url))
    async with world.browser(Role.OPERATOR) as (client, _):
        page = await client.get("/robot")
    assert "No robot" in page.text
    assert "these screens run without the daemon" in page.text
    async with world.api(Role.OPERATOR) as client:
        shown = await client.get("/api/v1/robot")
        command = await client.post(
            "/api/v1/robot/commands", json={"command": "hold", "confirm": True}
        )
    assert shown.status_code == command.status_code == 503
    assert shown.json()["detail"].startswith("no robot here")


# -- the Modbus driver and the PLC simulator --------------------------------------------------


@pytest.fixture
async def plc() -> AsyncIterator[tuple[RobotModel, ModbusRobot]]:
    model = RobotModel(timings=Timings(move_s=0.3))
    simulator = PlcSimulator(model, tcp=("127.0.0.1", 0))
    await simulator.start()
    robot = ModbusRobot.tcp("127.0.0.1", simulator.port, timeouts=FAST)
    await robot.connect()
    try:
        yield model, robot
    finally:
        await robot.aclose()
        await simulator.stop()


async def test_a_fault_is_shown_with_its_cause_and_acknowledged_once_its_cause_is_gone(
    sqlite_url: str, plc: tuple[RobotModel, ModbusRobot]
) -> None:
    model, robot = plc
    world = web_world(Store.open(sqlite_url), robot=robot)
    model.faults.chute_full = True
    failed = await robot.execute(Job(JobCode.DIVERT_TO_REJECT, 31))
    assert failed.fault == FaultCode.REJECT_CHUTE_FULL
    async with world.api(Role.OPERATOR) as client:
        shown = (await client.get("/api/v1/robot")).json()
        assert shown["state"] == "HELD"
        assert shown["fault"] == {"code": 500, "name": "500 REJECT_CHUTE_FULL",
                                  "cause": "the reject chute is full",
                                  "remedy": "empty the reject chute"}  # fmt: skip
        assert shown["allowed_commands"] == ["abort", "stop"]  # no unhold while latched
        assert "REJECT_CHUTE_FULL" in [b["name"] for b in shown["bits"] if b["on"]]
        assert shown["heartbeat"]["value"] > 0
        unhold = await client.post(
            "/api/v1/robot/commands", json={"command": "unhold", "confirm": True}
        )
        assert "acknowledge it first" in unhold.json()["detail"]
        still = await client.post("/api/v1/robot/fault/ack")
        assert still.status_code == 409
        assert "is still active in state HELD: its cause remains" in still.json()["detail"]
        model.faults.chute_full = False
        other = await client.post("/api/v1/robot/fault/ack", json={"code": 200})
        assert other.status_code == 409
        cleared = await client.post("/api/v1/robot/fault/ack", json={"code": 500})
        assert cleared.status_code == 200, cleared.text
        assert cleared.json()["answer"] == "cleared"
        none = await client.post("/api/v1/robot/fault/ack")
        assert none.status_code == 409
        assert none.json()["detail"] == "no active fault to acknowledge in state HELD"
        unheld = await client.post(
            "/api/v1/robot/commands", json={"command": "unhold", "confirm": True}
        )
        assert unheld.json()["after"] == "EXECUTE"
    events = _robot_events(world.store)
    assert [(e[0], e[1], e[3]) for e in events] == [
        ("operator", "robot.fault_acknowledged", "fault 500 REJECT_CHUTE_FULL"),
        ("operator", "robot.fault_acknowledged", "fault 500 REJECT_CHUTE_FULL"),
        ("operator", "robot.command", "unhold from the robot terminal"),
    ]
    assert '"answer":"cleared"' in events[1][4]
    assert "its cause remains" in events[0][4]


async def test_the_pages_acknowledge_button_asks_first_then_clears_the_fault(
    sqlite_url: str, plc: tuple[RobotModel, ModbusRobot]
) -> None:
    model, robot = plc
    world = web_world(Store.open(sqlite_url), robot=robot)
    model.faults.jam = True
    assert (await robot.execute(Job(JobCode.PLACE_ON_SHELF, 21))).fault == FaultCode.CONVEYOR_JAM
    async with world.browser(Role.OPERATOR) as (client, csrf):
        page = await client.get("/robot")
        assert "200 CONVEYOR_JAM" in page.text
        assert "Cause: the conveyor jammed. Next: clear the conveyor" in page.text
        asked = await client.post("/robot/ack", data={"csrf_token": csrf, "code": "200"},
                                  headers={"HX-Request": "true"})  # fmt: skip
        assert "Acknowledge fault 200?" in asked.text
        assert model.fault_active  # only asked
        done = await client.post(
            "/robot/ack", data={"csrf_token": csrf, "code": "200", "confirm": "yes"}
        )
    assert done.status_code == 200
    assert "acknowledge 200 CONVEYOR_JAM: cleared; the robot was HELD, is now HELD" in done.text
    assert not model.fault_active
    assert [e[:2] for e in _robot_events(world.store)] == [("operator", "robot.fault_acknowledged")]


async def test_a_hold_sent_while_a_job_runs_lets_the_job_finish_and_then_holds(
    sqlite_url: str, plc: tuple[RobotModel, ModbusRobot]
) -> None:
    model, robot = plc
    world = web_world(Store.open(sqlite_url), robot=robot)
    job = asyncio.create_task(robot.execute(Job(JobCode.PLACE_ON_SHELF, 77)))
    await until(lambda: model.busy)
    held = await _command(world, "hold")
    assert held.status_code == 200, held.text
    outcome = await job
    assert outcome.result is JobResult.STORED  # the move in progress finished
    assert model.moves[77] == 1
    status = await robot.status()
    assert status.state is PackMLState.HELD
    refused = await robot.execute(Job(JobCode.PLACE_ON_SHELF, 78))
    assert refused.result is JobResult.REFUSED_NOT_READY
    assert model.moves[78] == 0


# -- a WWKS2 robot ----------------------------------------------------------------------------


async def test_a_wwks2_robot_shows_its_own_words_and_refuses_commands_plainly(
    sqlite_url: str,
) -> None:
    async with Wwks2RobotSim(RobotSettings(port=0, keepalive_every_s=None)) as sim:
        link = LinkSettings("127.0.0.1", sim.port, keepalive_every_s=60, status_every_s=60)
        robot = Wwks2Robot(Wwks2Settings(link))
        await robot.connect()
        try:
            world = web_world(Store.open(sqlite_url), robot=robot)
            async with world.api(Role.OPERATOR) as client:
                shown = (await client.get("/api/v1/robot")).json()
                command = await client.post(
                    "/api/v1/robot/commands", json={"command": "hold", "confirm": True}
                )
                ack = await client.post("/api/v1/robot/fault/ack")
            async with world.browser(Role.OPERATOR) as (browser, _):
                page = await browser.get("/robot")
        finally:
            await robot.aclose()
    assert shown["kind"] == "wwks2"
    assert shown["allowed_commands"] == []
    assert shown["wwks2"]["subscriber"] == 999
    assert shown["wwks2"]["takes_packs"] is True
    assert {"type": "StorageSystem", "description": "Vmax 1", "state": "Ready"} in shown[
        "wwks2"]["components"]  # fmt: skip
    assert command.status_code == 409
    assert command.json()["detail"] == (
        "a WWKS2 robot takes no PackML commands: use the robot's own terminal"
    )
    assert ack.status_code == 409
    assert "reports no faults to acknowledge here" in ack.json()["detail"]
    assert "A WWKS2 robot takes no PackML commands" in page.text
    assert "Vmax 1" in page.text
    assert "/robot/command" not in page.text  # no buttons
    assert _robot_events(world.store) == []


async def test_a_robot_that_does_not_answer_is_503_in_one_line(
    sqlite_url: str, plc: tuple[RobotModel, ModbusRobot]
) -> None:
    model, robot = plc
    world = web_world(Store.open(sqlite_url), robot=robot)
    model.faults.silent = True
    async with world.api(Role.OPERATOR) as client:
        shown = await client.get("/api/v1/robot")
        sent = await client.post(
            "/api/v1/robot/commands", json={"command": "hold", "confirm": True}
        )
    assert shown.status_code == sent.status_code == 503
    assert shown.json()["detail"].startswith("the robot does not answer: ")
    assert "\n" not in shown.json()["detail"]
    assert model.state == PackMLState.EXECUTE  # the state read failed first: nothing written
    assert model.command_ack_seq == 0
    assert _robot_events(world.store) == []


def test_the_robots_advice_names_the_screens_buttons_not_the_command_line() -> None:
    held = "robot is HELD: `fmd-robot robot command unhold` (or `stop`, then `reset`)"
    assert on_screen(held) == "robot is HELD: Unhold (or Stop, then Reset)"
    assert on_screen("yes") == "yes"
