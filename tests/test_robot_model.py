"""The simulated robot's mechanics: idempotent jobs, faults, PackML rules, retrieve, capacity."""

from __future__ import annotations

import asyncio

import pytest

from simulators.robot_model import (
    FaultCode,
    JobCode,
    JobReason,
    JobResult,
    PackMLCommand,
    PackMLState,
    RobotFaults,
    RobotModel,
    StatusBit,
    Timings,
)
from tests.support.clock import ManualClock

PLACE, REJECT, QUARANTINE, RETRIEVE = (
    JobCode.PLACE_ON_SHELF,
    JobCode.DIVERT_TO_REJECT,
    JobCode.DIVERT_TO_QUARANTINE,
    JobCode.RETRIEVE_TO_QUARANTINE,
)


def bits(model: RobotModel) -> StatusBit:
    return StatusBit(model.status_word())


async def test_place_reject_quarantine() -> None:
    model = RobotModel()
    stored = await model.run_job(1, PLACE, 0, 11)
    rejected = await model.run_job(2, REJECT, JobReason.FMD_ALERT, 12)
    quarantined = await model.run_job(3, QUARANTINE, JobReason.EXPIRED, 13)
    assert (stored.result, stored.location) == (JobResult.STORED, 1)
    assert (rejected.result, rejected.location) == (JobResult.REJECTED, 0)
    assert quarantined.result == JobResult.QUARANTINED
    assert model.shelf == {1: 11}
    assert (model.packs_stored, model.packs_rejected, model.packs_quarantined) == (1, 1, 1)
    assert model.moves == {11: 1, 12: 1, 13: 1}
    assert (model.job_ack_seq, model.job_done_seq) == (3, 3)
    assert StatusBit.READY | StatusBit.DONE in bits(model)


async def test_a_repeated_seq_moves_nothing() -> None:
    model = RobotModel()
    first = await model.run_job(7, PLACE, 0, 42)
    again = await model.run_job(7, PLACE, 0, 42)
    assert again == first
    assert model.moves[42] == 1
    assert model.shelf == {1: 42}


async def test_a_retry_while_the_job_runs_waits_for_it() -> None:
    clock = ManualClock()
    model = RobotModel(timings=Timings(move_s=0.05), clock=clock, sleep=clock.sleep)
    running = asyncio.ensure_future(model.run_job(1, PLACE, 0, 5))
    await clock.settle()
    assert model.busy
    assert StatusBit.BUSY in bits(model)
    assert StatusBit.READY not in bits(model)
    assert (model.job_ack_seq, model.job_done_seq) == (1, 0)
    retrying = asyncio.ensure_future(model.run_job(1, PLACE, 0, 5))
    await clock.advance(0.05)
    retry = await retrying
    assert retry == await running
    assert model.moves[5] == 1


async def test_a_new_seq_while_busy_is_ignored() -> None:
    clock = ManualClock()
    model = RobotModel(timings=Timings(move_s=0.05), clock=clock, sleep=clock.sleep)
    running = asyncio.ensure_future(model.run_job(1, PLACE, 0, 5))
    await clock.settle()
    ignored = await model.run_job(2, PLACE, 0, 6)
    await clock.advance(0.05)
    await running
    assert ignored.result == JobResult.REFUSED_NOT_READY
    assert model.job_ack_seq == 1
    assert model.moves[6] == 0


@pytest.mark.parametrize(
    ("seq", "code", "reason", "token", "location"),
    [
        (0, PLACE, 0, 1, 0),  # seq 0 is never valid
        (1, 0, 0, 1, 0),  # NOP
        (1, 9, 0, 1, 0),  # unknown code
        (1, REJECT, 99, 1, 0),  # unknown reason
        (1, RETRIEVE, 0, 0, 0),  # retrieve without a location
        (1, PLACE, 0, 1 << 32, 0),  # token beyond u32
    ],
)
async def test_bad_jobs_are_refused(
    seq: int, code: int, reason: int, token: int, location: int
) -> None:
    model = RobotModel()
    record = await model.run_job(seq, code, reason, token, location)
    assert record.result == JobResult.REFUSED_BAD_COMMAND
    assert not model.moves
    assert StatusBit.ERROR in bits(model)


@pytest.mark.parametrize("state", [PackMLState.HELD, PackMLState.STOPPED, PackMLState.IDLE])
async def test_jobs_are_refused_unless_executing(state: PackMLState) -> None:
    model = RobotModel(state=state)
    record = await model.run_job(1, PLACE, 0, 1)
    assert record.result == JobResult.REFUSED_NOT_READY
    assert (model.job_ack_seq, model.job_done_seq) == (1, 1)
    assert not model.moves


async def test_retrieve_takes_a_pack_off_the_shelf() -> None:
    model = RobotModel()
    await model.run_job(1, PLACE, 0, 21)
    await model.run_job(2, PLACE, 0, 22)
    record = await model.run_job(3, RETRIEVE, JobReason.OPERATOR, 0, 1)
    assert (record.result, record.location) == (JobResult.RETRIEVED, 1)
    assert model.shelf == {2: 22}
    assert model.moves == {21: 2, 22: 1}
    empty = await model.run_job(4, RETRIEVE, JobReason.OPERATOR, 0, 1)
    assert (empty.result, empty.fault) == (JobResult.FAILED, FaultCode.NO_PACK)
    assert model.ready  # not a machine fault
    again = await model.run_job(5, PLACE, 0, 23)
    assert again.location == 1  # the freed location is used again


async def test_capacity_and_no_shelf_space() -> None:
    model = RobotModel(capacity=1)
    await model.run_job(1, PLACE, 0, 1)
    assert StatusBit.NO_SHELF_SPACE in bits(model)
    full = await model.run_job(2, PLACE, 0, 2)
    assert (full.result, full.fault) == (JobResult.REJECTED, FaultCode.NO_SHELF_SPACE)
    assert model.packs_rejected == 1
    assert model.moves[2] == 1
    assert model.ready  # divert jobs can go on
    assert not model.ack_fault(FaultCode.NO_SHELF_SPACE)  # still full
    model.capacity = 2
    assert model.ack_fault(FaultCode.NO_SHELF_SPACE)
    assert model.fault_code == 0


async def test_no_shelf_space_fault_flag() -> None:
    model = RobotModel(faults=RobotFaults(no_shelf_space=True))
    record = await model.run_job(1, PLACE, 0, 3)
    assert record.result == JobResult.REJECTED
    assert record.fault == FaultCode.NO_SHELF_SPACE
    assert model.shelf == {}


async def test_jam_holds_the_machine_and_rejects_the_pack() -> None:
    model = RobotModel(faults=RobotFaults(jam=True))
    record = await model.run_job(1, PLACE, 0, 8)
    assert (record.result, record.fault) == (JobResult.FAILED, FaultCode.CONVEYOR_JAM)
    assert model.state == PackMLState.HELD
    assert model.packs_rejected == 1
    assert model.moves[8] == 1
    assert not model.shelf
    assert StatusBit.FAULT | StatusBit.ERROR in bits(model)
    assert (await model.run_job(2, PLACE, 0, 9)).result == JobResult.REFUSED_NOT_READY
    assert not model.command(1, PackMLCommand.UNHOLD)  # the fault is not acknowledged yet
    assert model.ack_fault(FaultCode.CONVEYOR_JAM)
    assert model.state == PackMLState.HELD  # until the operator's Unhold
    assert model.command(2, PackMLCommand.UNHOLD)
    assert (await model.run_job(3, PLACE, 0, 9)).result == JobResult.STORED


async def test_chute_full_fails_a_divert() -> None:
    model = RobotModel(faults=RobotFaults(chute_full=True))
    assert StatusBit.REJECT_CHUTE_FULL in bits(model)
    quarantined = await model.run_job(1, QUARANTINE, JobReason.EXPIRED, 4)
    assert quarantined.result == JobResult.QUARANTINED  # the quarantine chute is separate
    record = await model.run_job(2, REJECT, JobReason.FMD_ALERT, 5)
    assert (record.result, record.fault) == (JobResult.FAILED, FaultCode.REJECT_CHUTE_FULL)
    assert model.state == PackMLState.HELD
    assert model.pack_at_transfer
    assert model.moves[5] == 0
    assert not model.ack_fault(FaultCode.REJECT_CHUTE_FULL)  # cause still there
    model.faults.chute_full = False
    assert model.ack_fault(FaultCode.REJECT_CHUTE_FULL)


async def test_estop_mid_job_aborts() -> None:
    model = RobotModel(faults=RobotFaults(estop_during_job=True))
    record = await model.run_job(1, PLACE, 0, 6)
    assert (record.result, record.fault) == (JobResult.FAILED, FaultCode.ESTOP)
    assert model.state == PackMLState.ABORTED
    assert StatusBit.SAFETY_OK not in bits(model)
    assert model.moves[6] == 0
    assert model.pack_at_transfer
    assert not model.faults.estop_during_job  # one-shot
    assert model.ack_fault(FaultCode.ESTOP)
    for seq, command in enumerate(
        [PackMLCommand.CLEAR, PackMLCommand.RESET, PackMLCommand.START], start=1
    ):
        assert model.command(seq, command)
    assert model.state == PackMLState.EXECUTE


def test_packml_refusals() -> None:
    model = RobotModel(state=PackMLState.ABORTED)
    assert not model.command(1, PackMLCommand.START)
    assert model.command_rejected
    assert model.command_ack_seq == 1
    assert not model.command(1, PackMLCommand.CLEAR)  # a repeated seq answers as before
    assert model.state == PackMLState.ABORTED
    assert model.command(2, PackMLCommand.CLEAR)
    assert not model.command_rejected
    assert model.state == PackMLState.STOPPED
    assert not model.command(3, PackMLCommand.UNHOLD)
    assert not model.command(4, 42)  # not a command
    assert model.command(5, PackMLCommand.RESET)
    assert model.state == PackMLState.IDLE
    assert not model.command(6, PackMLCommand.HOLD)  # only from Execute
    assert model.command(7, PackMLCommand.START)
    assert model.state == PackMLState.EXECUTE
    assert model.command(8, PackMLCommand.SUSPEND)
    assert model.state == PackMLState.SUSPENDED
    assert model.command(9, PackMLCommand.UNSUSPEND)
    assert model.state == PackMLState.EXECUTE
    assert model.command(10, PackMLCommand.STOP)
    assert model.state == PackMLState.STOPPED
    assert not model.command(11, PackMLCommand.STOP)
    assert model.command(12, PackMLCommand.ABORT)
    assert model.state == PackMLState.ABORTED


def test_acting_states_last_transition_time() -> None:
    clock = ManualClock()
    model = RobotModel(timings=Timings(transition_s=0.5), clock=clock)
    assert model.command(1, PackMLCommand.HOLD)
    assert model.state == PackMLState.HOLDING
    assert not model.ready
    clock.now += 0.6
    assert model.state == PackMLState.HELD


async def test_host_watchdog() -> None:
    clock = ManualClock()
    model = RobotModel(clock=clock)
    clock.now += 10
    assert not model.check_watchdog()  # not armed before the first host heartbeat
    model.host_heartbeat(1)
    clock.now += 1.5
    model.host_heartbeat(2)
    clock.now += 1.5
    assert not model.check_watchdog()
    clock.now += 1.0
    assert model.check_watchdog()
    assert not model.check_watchdog()  # trips once
    assert model.fault_code == FaultCode.HOST_WATCHDOG
    assert model.state == PackMLState.HELD
    assert StatusBit.HOST_WATCHDOG in bits(model)
    assert not model.ack_fault(FaultCode.HOST_WATCHDOG)  # the host is still silent
    model.host_heartbeat(3)
    assert model.ack_fault(FaultCode.HOST_WATCHDOG)
    assert StatusBit.HOST_WATCHDOG not in bits(model)


async def test_watchdog_trip_sends_the_pack_in_the_gripper_to_the_reject_chute() -> None:
    clock = ManualClock()
    model = RobotModel(timings=Timings(move_s=5), clock=clock, sleep=clock.sleep)
    model.host_heartbeat(1)
    running = asyncio.ensure_future(model.run_job(1, PLACE, 0, 77))
    await clock.settle()
    clock.now += 3
    assert model.check_watchdog()
    record = await asyncio.wait_for(running, 1)
    assert (record.result, record.fault) == (JobResult.FAILED, FaultCode.HOST_WATCHDOG)
    assert model.packs_rejected == 1
    assert model.moves[77] == 1
    assert not model.shelf


def test_heartbeat_wraps_and_can_freeze() -> None:
    model = RobotModel()
    model.heartbeat = 65535
    assert model.tick_heartbeat() == 0
    model.faults.heartbeat_frozen = True
    assert model.tick_heartbeat() == 0


def test_a_lost_reply_is_consumed_once() -> None:
    model = RobotModel(faults=RobotFaults(lose_next_reply=True))
    assert model.consume_lost_reply()
    assert not model.consume_lost_reply()


async def test_a_conveyor_feeds_the_transfer_point_while_the_robot_idles_in_execute() -> None:
    model = RobotModel()  # feed "auto"
    assert StatusBit.PACK_AT_TRANSFER in bits(model)
    assert model.command(1, PackMLCommand.STOP)
    assert StatusBit.PACK_AT_TRANSFER not in bits(model)  # the conveyor stops with it


async def test_by_hand_a_pack_waits_only_once_presented_and_a_job_consumes_it() -> None:
    model = RobotModel(feed="manual")
    assert StatusBit.PACK_AT_TRANSFER not in bits(model)
    for seq, code in enumerate((PLACE, REJECT, QUARANTINE), 1):
        record = await model.run_job(seq, code, JobReason.FMD_ALERT, 30 + seq)
        assert (record.result, record.fault) == (JobResult.FAILED, FaultCode.NO_PACK)
    assert not model.moves
    assert (model.packs_stored, model.packs_rejected, model.fault_active) == (0, 0, False)
    model.present_pack()
    assert StatusBit.PACK_AT_TRANSFER in bits(model)
    stored = await model.run_job(4, PLACE, 0, 34)
    assert stored.result == JobResult.STORED
    assert model.fault_code == 0  # the unlatched 300 of an earlier job is history
    assert StatusBit.PACK_AT_TRANSFER not in bits(model)  # consumed
    retrieved = await model.run_job(5, RETRIEVE, JobReason.OPERATOR, 34, location=1)
    assert retrieved.result == JobResult.RETRIEVED  # a retrieve needs no pack at the transfer


def test_a_host_heartbeat_of_0_stands_the_watchdog_down_until_a_host_beats_again() -> None:
    clock = ManualClock()
    model = RobotModel(clock=clock)
    model.host_heartbeat(4711)
    model.host_heartbeat(0)  # that host leaves
    clock.now += 60
    assert not model.check_watchdog()
    model.host_heartbeat(12)  # another host
    clock.now += 2.5
    assert model.check_watchdog()


def test_reset_from_stopped_acknowledges_a_fault_whose_cause_is_gone() -> None:
    clock = ManualClock()
    model = RobotModel(clock=clock)
    model.host_heartbeat(1)
    clock.now += 3
    assert model.check_watchdog()  # the host vanished: fault 900, Held
    assert model.command(1, PackMLCommand.STOP)
    assert model.state == PackMLState.STOPPED
    assert not model.command(2, PackMLCommand.RESET)  # no host beats: the cause remains
    model.host_heartbeat(2)  # a host is back
    assert model.command(3, PackMLCommand.RESET)
    assert (model.state, model.fault_code, model.watchdog_tripped) == (PackMLState.IDLE, 0, False)
    assert model.command(4, PackMLCommand.START)
    assert model.ready
