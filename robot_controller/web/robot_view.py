"""The robot control terminal's data and actions: what `/robot` and `/api/v1/robot` show, and
a PackML command or a fault acknowledgement, each checked against the robot's state first and
audited with its actor.

A command is checked against `commands_now` (the PackML model of ARCHITECTURE.md) before
anything is sent: one the state does not take is `NotAllowed` (409) and changes nothing. What is
sent is audited (`robot.command`, `robot.fault_acknowledged`) with the state before and after
and the robot's answer, refused or not.
"""

from __future__ import annotations

import asyncio
import re
from typing import Literal

from pydantic import BaseModel, Field

from robot_controller.robot.base import (
    CommandRefused,
    JobCode,
    MachineCommand,
    Robot,
    RobotError,
    RobotStatus,
    fault_name,
)
from robot_controller.robot.readiness import (
    command_refused,
    fault_cause,
    fault_refused,
    latched_fault,
    not_ready,
)
from robot_controller.robot.terminal import (
    NO_FAULTS,
    commands_now,
    last_job,
    state_words,
    status_bits,
    why_not,
    wwks2_takes_packs,
)
from robot_controller.robot.wwks2 import Wwks2Robot
from robot_controller.robot.wwks2.robot import NO_COMMANDS
from robot_controller.web.services import WebServices

NO_ROBOT = (
    "no robot here: these screens run without the daemon, which drives the robot "
    "(`fmd-robot run` or `fmd-robot demo --web` serve them beside it)"
)


class Unavailable(Exception):
    """No robot, or it does not answer (503); `bad_gateway`: it answered with a refusal (502)."""

    def __init__(self, message: str, *, bad_gateway: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.status = 502 if bad_gateway else 503


class NotAllowed(Exception):
    """The robot's state (or kind) does not take this: nothing was sent (409)."""

    def __init__(self, message: str, state: str, allowed: list[str]) -> None:
        super().__init__(message)
        self.message = message
        self.state = state
        self.allowed = allowed


class BitOut(BaseModel):
    name: str
    meaning: str
    on: bool


class FaultOut(BaseModel):
    code: int
    name: str = Field(description='As the operator reads it: "200 CONVEYOR_JAM".')
    cause: str
    remedy: str


class Counters(BaseModel):
    stored: int
    rejected: int
    quarantined: int


class HeartbeatOut(BaseModel):
    value: int
    age_s: float | None = Field(
        description="Seconds since the counter last changed (null: not seen changing yet)."
    )
    watched_s: float = Field(description="How long the screens have watched it.")


class ComponentOut(BaseModel):
    type: str
    description: str
    state: str = Field(description='The component\'s state in its words: "NotReady (door open)".')


class Wwks2Out(BaseModel):
    robot: str
    subscriber: int | None
    state: str
    components: list[ComponentOut]
    takes_packs: bool


class RobotOut(BaseModel):
    """Everything the robot terminal shows."""

    kind: Literal["packml", "wwks2"]
    name: str
    state: str
    ready: bool
    status_word: int
    bits: list[BitOut]
    fault: FaultOut | None
    counters: Counters
    heartbeat: HeartbeatOut
    last_job: str
    takes_a_pack: str = Field(description='"yes", or why not and the next step.')
    loading_paused: str | None = Field(description="Why loading waits for the robot, if it does.")
    allowed_commands: list[str]
    reported: str = Field(description="A robot that reports its state in words: what it says.")
    wwks2: Wwks2Out | None = None


class CommandIn(BaseModel):
    command: str = Field(description="start, stop, hold, unhold, reset, abort, clear, …")
    confirm: bool = Field(description="true: the operator confirmed it.")


class AckIn(BaseModel):
    code: int | None = Field(
        default=None, description="The fault seen (optional): refused if another is active."
    )


class Done(BaseModel):
    """What a command or an acknowledgement did."""

    action: str
    before: str
    after: str
    answer: str


class NotAllowedOut(BaseModel):
    detail: str
    state: str
    allowed: list[str]


def parse_command(name: str) -> MachineCommand:
    """The command named `name` (any case); ValueError (one line) when there is none."""
    try:
        return MachineCommand[name.strip().upper()]
    except KeyError:
        names = ", ".join(c.name.lower() for c in MachineCommand)
        raise ValueError(f"unknown command {name!r}: one of {names}") from None


def _names(commands: frozenset[MachineCommand]) -> list[str]:
    return sorted(c.name.lower() for c in commands)


def robot_of(services: WebServices) -> Robot:
    if services.robot is None:
        raise Unavailable(NO_ROBOT)
    return services.robot


async def read_status(robot: Robot) -> RobotStatus:
    try:
        return await robot.status()
    except RobotError as error:
        raise Unavailable(f"the robot does not answer: {error}") from None


async def robot_view(services: WebServices) -> RobotOut:
    """The robot's state now; `Unavailable` when there is none or it does not answer."""
    robot = robot_of(services)
    status = await read_status(robot)
    beat = services.heartbeat.observe(status.heartbeat)
    wwks2 = await _wwks2(robot) if isinstance(robot, Wwks2Robot) else None
    fault = latched_fault(status) or status.fault
    refusal = not_ready(status, JobCode.PLACE_ON_SHELF)
    allowed = commands_now(status, takes_commands=wwks2 is None)
    return RobotOut(
        kind="packml" if wwks2 is None else "wwks2",
        name=services.robot_name,
        state=status.state.name,
        ready=status.ready,
        status_word=int(status.flags),
        bits=[BitOut(name=b.name, meaning=b.meaning, on=b.on) for b in status_bits(status.flags)],
        fault=None if not fault else _fault(fault),
        counters=Counters(
            stored=status.packs_stored,
            rejected=status.packs_rejected,
            quarantined=status.packs_quarantined,
        ),
        heartbeat=HeartbeatOut(value=beat.value, age_s=beat.age_s, watched_s=beat.watched_s),
        last_job=last_job(status),
        takes_a_pack="yes" if refusal is None else on_screen(refusal.message),
        loading_paused=_on_screen(services.paused()),
        allowed_commands=_names(allowed),
        reported=status.reported,
        wwks2=wwks2,
    )


def _fault(code: int) -> FaultOut:
    cause, remedy = fault_cause(code)
    return FaultOut(code=code, name=fault_name(code), cause=cause, remedy=remedy)


async def _wwks2(robot: Wwks2Robot) -> Wwks2Out:
    try:
        report = await robot.report()
    except RobotError as error:
        raise Unavailable(f"the robot does not answer: {error}") from None
    return Wwks2Out(
        robot=robot.link.robot_name or "unnamed",
        subscriber=robot.link.robot_id,
        state=state_words(report.state.value, report.state_text),
        components=[
            ComponentOut(
                type=c.type.value,
                description=c.description,
                state=state_words(c.state.value, c.state_text),
            )
            for c in report.components
        ],
        takes_packs=wwks2_takes_packs(report),
    )


async def send_command(services: WebServices, command: MachineCommand, actor: str) -> Done:
    """Send `command` if the robot's state takes it, and audit what was sent with `actor`:
    `NotAllowed` (nothing sent), `Unavailable` (no answer, or the robot refused)."""
    robot = robot_of(services)
    async with services.robot_turn:
        before = await read_status(robot)
        if isinstance(robot, Wwks2Robot):
            raise NotAllowed(NO_COMMANDS, before.state.name, [])
        if command not in commands_now(before):
            allowed = _names(commands_now(before))
            raise NotAllowed(why_not(before, command), before.state.name, allowed)
        failure: Unavailable | None = None
        try:
            await robot.command(command)
            answer = "accepted"
        except CommandRefused:
            answer = command_refused(await _status_or(robot, before), command)
            failure = Unavailable(answer, bad_gateway=True)
        except RobotError as error:
            answer = f"no answer: {error}"
            failure = Unavailable(f"the robot does not answer: {error}")
        after = await _status_or(robot, before)
        await _audit(services, "robot.command", f"{command.name.lower()} from the robot terminal",
                     actor, before, after, command=command.name.lower(), answer=answer)  # fmt: skip
    if failure is not None:
        raise failure
    return Done(action=command.name.lower(), before=before.state.name, after=after.state.name,
                answer=answer)  # fmt: skip


async def acknowledge(services: WebServices, actor: str, seen: int | None = None) -> Done:
    """Acknowledge the robot's active fault (`seen`: the one the operator saw) and audit it;
    `NotAllowed` when there is none (or another), or when its cause remains."""
    robot = robot_of(services)
    async with services.robot_turn:
        before = await read_status(robot)
        state = before.state.name
        allowed = _names(commands_now(before))
        if isinstance(robot, Wwks2Robot):
            raise NotAllowed(NO_FAULTS, state, [])
        code = latched_fault(before) or before.fault
        if not code:
            raise NotAllowed(f"no active fault to acknowledge in state {state}", state, allowed)
        if seen is not None and seen != code:
            raise NotAllowed(fault_refused(before, seen), state, allowed)
        failure: Unavailable | None = None
        try:
            cleared = await robot.ack_fault(code)
        except RobotError as error:
            cleared, failure = False, Unavailable(f"the robot does not answer: {error}")
        after = await _status_or(robot, before)
        if failure is not None:
            answer = f"no answer: {failure.message.removeprefix('the robot does not answer: ')}"
        else:
            answer = "cleared" if cleared else fault_refused(after, code)
        await _audit(services, "robot.fault_acknowledged", f"fault {fault_name(code)}", actor,
                     before, after, fault=code, answer=answer)  # fmt: skip
    if failure is not None:
        raise failure
    if not cleared:
        raise NotAllowed(answer, after.state.name, _names(commands_now(after)))
    return Done(action=f"acknowledge {fault_name(code)}", before=state, after=after.state.name,
                answer=answer)  # fmt: skip


async def _status_or(robot: Robot, fallback: RobotStatus) -> RobotStatus:
    try:
        return await robot.status()
    except RobotError:
        return fallback


def _state(status: RobotStatus) -> dict[str, object]:
    return {"state": status.state.name, "fault": status.fault or 0}


async def _audit(
    services: WebServices,
    action: str,
    why: str,
    actor: str,
    before: RobotStatus,
    after: RobotStatus,
    **detail: object,
) -> None:
    await asyncio.to_thread(
        services.store.record_action, action, f"robot:{services.robot_name}", why,
        actor=actor, at=services.now(), before=_state(before), after=_state(after), **detail,
    )  # fmt: skip


_COMMAND = re.compile(r"`fmd-robot robot command (\w+)`")
_WORD = re.compile(r"`(\w+)`")


def on_screen(advice: str) -> str:
    """The robot's advice for the terminal's screen: its buttons, not the CLI's commands
    ("`fmd-robot robot command unhold` (or `stop`, …)" → "Unhold (or Stop, …)")."""
    advice = _COMMAND.sub(lambda m: m.group(1).capitalize(), advice)
    return _WORD.sub(lambda m: m.group(1).capitalize(), advice)


def _on_screen(advice: str | None) -> str | None:
    return None if advice is None else on_screen(advice)
