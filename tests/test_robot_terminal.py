"""The robot terminal's rules: which command each PackML state takes (ARCHITECTURE.md's
table, and the PLC simulator agrees), what a latched fault refuses, the status word in words,
and the heartbeat's age."""

from __future__ import annotations

import pytest

from robot_controller.robot.base import (
    FaultCode,
    MachineCommand,
    PackMLState,
    RobotStatus,
    StatusFlags,
)
from robot_controller.robot.terminal import (
    allowed_commands,
    commands_now,
    flag_names,
    status_bits,
    why_not,
)
from robot_controller.web.heartbeat import HeartbeatWatch
from simulators.robot_model import RobotModel
from tests.support.clock import ManualClock

S, C = PackMLState, MachineCommand
ABORT_STOP = {C.ABORT, C.STOP}
# ARCHITECTURE.md "PackML commands": Reset from Stopped/Completed, Start from Idle, Hold and
# Suspend from Execute, Unhold from Held, Unsuspend from Suspended, Clear from Aborted, Stop from
# any running state, Abort from any state but Aborting and Aborted.
TABLE: dict[PackMLState, set[MachineCommand]] = {
    S.STOPPED: {C.RESET, C.ABORT},
    S.IDLE: {C.START} | ABORT_STOP,
    S.STARTING: ABORT_STOP,
    S.EXECUTE: {C.HOLD, C.SUSPEND} | ABORT_STOP,
    S.HOLDING: ABORT_STOP,
    S.HELD: {C.UNHOLD} | ABORT_STOP,
    S.UNHOLDING: ABORT_STOP,
    S.SUSPENDING: ABORT_STOP,
    S.SUSPENDED: {C.UNSUSPEND} | ABORT_STOP,
    S.UNSUSPENDING: ABORT_STOP,
    S.RESETTING: ABORT_STOP,
    S.COMPLETING: ABORT_STOP,
    S.COMPLETED: {C.RESET} | ABORT_STOP,
    S.STOPPING: {C.ABORT},
    S.CLEARING: {C.ABORT},
    S.ABORTING: set(),
    S.ABORTED: {C.CLEAR},
}


def test_the_table_names_every_state() -> None:
    assert set(TABLE) == set(PackMLState)


@pytest.mark.parametrize("state", list(PackMLState), ids=lambda s: s.name)
def test_each_state_allows_the_commands_of_the_table(state: PackMLState) -> None:
    assert allowed_commands(state) == TABLE[state]


@pytest.mark.parametrize("state", list(PackMLState), ids=lambda s: s.name)
def test_the_plc_simulator_takes_exactly_the_commands_allowed(state: PackMLState) -> None:
    for command in MachineCommand:
        model = RobotModel(state=state)
        assert model.command(1, int(command)) is (command in allowed_commands(state)), command


def _status(state: PackMLState, *, fault: int | None = None) -> RobotStatus:
    flags = StatusFlags.SAFETY_OK | (StatusFlags.FAULT if fault else StatusFlags.NONE)
    return RobotStatus(state, False, fault, 0, 0, 0, flags=flags)


def test_a_latched_fault_refuses_what_resumes_production_until_it_is_acknowledged() -> None:
    held = _status(S.HELD, fault=FaultCode.CONVEYOR_JAM)
    assert commands_now(held) == {C.ABORT, C.STOP}
    assert why_not(held, C.UNHOLD) == (
        "unhold is not allowed in state HELD while fault 200 CONVEYOR_JAM is latched: "
        "acknowledge it first (allowed: abort, stop)"
    )
    assert commands_now(_status(S.HELD)) == {C.UNHOLD, C.ABORT, C.STOP}
    assert why_not(_status(S.EXECUTE), C.START) == (
        "start is not allowed in state EXECUTE (allowed: abort, hold, stop, suspend)"
    )


def test_a_robot_that_takes_no_packml_commands_is_offered_none() -> None:
    assert commands_now(_status(S.EXECUTE), takes_commands=False) == frozenset()


def test_the_status_word_is_each_bit_in_words() -> None:
    flags = StatusFlags.READY | StatusFlags.SAFETY_OK | StatusFlags.REMOTE
    bits = status_bits(flags)
    assert [b.name for b in bits][:3] == ["READY", "BUSY", "DONE"]
    assert len(bits) == 11
    assert {b.name for b in bits if b.on} == {"READY", "SAFETY_OK", "REMOTE"}
    assert bits[10].meaning == "the host watchdog has tripped"
    assert flag_names(flags) == ["READY", "SAFETY_OK", "REMOTE"]


def test_the_heartbeat_age_counts_from_its_last_change() -> None:
    clock = ManualClock(10.0)
    watch = HeartbeatWatch(clock)
    first = watch.observe(5)
    assert (first.age_s, first.watched_s) == (None, 0.0)  # not seen changing yet
    clock.now = 12.0
    assert watch.observe(5).age_s is None
    clock.now = 13.0
    assert watch.observe(6).age_s == 0.0
    clock.now = 15.5
    stale = watch.observe(6)
    assert (stale.value, stale.age_s, stale.watched_s) == (6, 2.5, 5.5)
