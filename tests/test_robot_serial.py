"""The serial robot driver against the serial robot simulator over a real pty: every job kind;
lost, garbled and refused frames never move a pack twice; robot faults become outcomes; a dead
link, a silent robot or a stale host is noticed within the timeouts and never hangs a call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import serial

from robot_controller.robot.base import (
    Job,
    JobCode,
    JobReason,
    JobResult,
    MachineCommand,
    PackMLState,
    RobotError,
    StatusFlags,
)
from robot_controller.robot.line_protocol import (
    Ack,
    Done,
    Nak,
    NakCode,
    Place,
    checksum,
    decode_robot,
    encode,
)
from robot_controller.robot.serial import SerialRobot
from simulators.robot_model import FaultCode, RobotModel
from simulators.serial_robot import SerialRobotSimulator
from tests.support.clock import ManualClock
from tests.support.until import until

STALE_S = 0.5
PLACE = Job(JobCode.PLACE_ON_SHELF, 1001)
REJECT = Job(JobCode.DIVERT_TO_REJECT, 1002, JobReason.FMD_ALERT)
QUARANTINE = Job(JobCode.DIVERT_TO_QUARANTINE, 1003, JobReason.HUB_UNAVAILABLE)


def driver(port: Path | str, *, heartbeat_s: float = 0.05) -> SerialRobot:
    """A driver with short timeouts: ack 0.3 s, 3 tries, stale after 0.5 s."""
    return SerialRobot(
        str(port),
        ack_timeout_s=0.3,
        done_timeout_s=3.0,
        heartbeat_s=heartbeat_s,
        stale_after_s=STALE_S,
        retries=2,
        reconnect_initial_s=0.02,
        reconnect_max_s=0.1,
    )


@pytest.fixture
def model() -> RobotModel:
    return RobotModel(capacity=100)


@pytest.fixture
def sim(model: RobotModel, tmp_path: Path) -> Iterator[SerialRobotSimulator]:
    with SerialRobotSimulator(model, link_dir=tmp_path / "by-id", heartbeat_s=0.05) as robot:
        yield robot


@pytest.fixture
async def robot(sim: SerialRobotSimulator) -> AsyncIterator[SerialRobot]:
    host = driver(sim.port)
    await host.connect()
    yield host
    await host.aclose()


async def test_each_job_kind_is_done_once(robot: SerialRobot, model: RobotModel) -> None:
    placed = await robot.execute(PLACE)
    assert (placed.result, placed.location) == (JobResult.STORED, 1)
    assert (await robot.execute(REJECT)).result is JobResult.REJECTED
    assert (await robot.execute(QUARANTINE)).result is JobResult.QUARANTINED
    retrieve = Job(JobCode.RETRIEVE_TO_QUARANTINE, PLACE.token, JobReason.OPERATOR, location=1)
    retrieved = await robot.execute(retrieve)
    assert (retrieved.result, retrieved.location) == (JobResult.RETRIEVED, 1)
    assert model.moves == {PLACE.token: 2, REJECT.token: 1, QUARANTINE.token: 1}
    assert model.shelf == {}
    status = await robot.status()
    assert (status.state, status.ready, status.fault) == (PackMLState.EXECUTE, True, None)
    assert (status.packs_stored, status.packs_rejected, status.packs_quarantined) == (1, 1, 2)
    assert robot.stats.resends == robot.stats.bad_frames == 0


async def test_a_lost_done_is_asked_for_again_and_the_pack_moves_once(
    robot: SerialRobot, model: RobotModel
) -> None:
    model.faults.lose_next_reply = True
    outcome = await robot.execute(PLACE)
    assert outcome.result is JobResult.STORED
    assert model.moves[PLACE.token] == 1
    assert robot.stats.resends == 1


async def test_garbled_replies_are_dropped_and_asked_for_again(
    robot: SerialRobot, sim: SerialRobotSimulator, model: RobotModel
) -> None:
    sim.corrupt_replies = 2  # the ACK and the DONE
    outcome = await robot.execute(PLACE)
    assert outcome.result is JobResult.STORED
    assert model.moves[PLACE.token] == 1
    assert robot.stats.bad_frames == 2
    assert robot.stats.resends == 1


async def test_a_garbled_request_is_naked_and_sent_again(
    robot: SerialRobot, sim: SerialRobotSimulator, model: RobotModel
) -> None:
    sim.corrupt_requests = 1
    assert (await robot.execute(PLACE)).result is JobResult.STORED
    assert model.moves[PLACE.token] == 1
    assert robot.stats.resends == 1


async def test_a_robot_that_never_reads_a_request_is_given_up_on(
    robot: SerialRobot, sim: SerialRobotSimulator, model: RobotModel
) -> None:
    sim.corrupt_requests = 100
    with pytest.raises(RobotError, match="no answer to PLACE_ON_SHELF token 1001 after 3 tries"):
        await robot.execute(PLACE)
    assert model.moves[PLACE.token] == 0


async def test_garbage_on_the_line_is_counted_and_ignored(
    robot: SerialRobot, sim: SerialRobotSimulator
) -> None:
    sim.send_raw(b"\x00\xff noise\r\n" + b"7" * 300 + b"\r\n")
    assert (await robot.execute(PLACE)).result is JobResult.STORED
    assert robot.stats.bad_frames == 2


async def test_a_restarted_host_goes_on_after_the_robots_last_seq(
    robot: SerialRobot, sim: SerialRobotSimulator, model: RobotModel
) -> None:
    await robot.execute(PLACE)
    await robot.aclose()
    again = driver(sim.port)
    try:
        assert (await again.execute(REJECT)).result is JobResult.REJECTED
    finally:
        await again.aclose()
    assert model.moves == {PLACE.token: 1, REJECT.token: 1}


# -- robot faults ------------------------------------------------------------------------------


async def test_a_jam_fails_the_job_and_holds_the_robot_until_acknowledged(
    robot: SerialRobot, model: RobotModel
) -> None:
    model.faults.jam = True
    outcome = await robot.execute(PLACE)
    assert (outcome.result, outcome.fault) == (JobResult.FAILED, 200)
    assert model.moves[PLACE.token] == 1  # into the reject chute
    refused = await robot.execute(REJECT)
    assert refused.result is JobResult.REFUSED_NOT_READY
    assert refused.message == "robot not ready: HELD, fault 200 CONVEYOR_JAM"
    assert await robot.ack_fault(200)
    await robot.command(MachineCommand.UNHOLD)
    assert (await robot.execute(REJECT)).result is JobResult.REJECTED


async def test_a_full_reject_chute_fails_a_divert(robot: SerialRobot, model: RobotModel) -> None:
    model.faults.chute_full = True
    outcome = await robot.execute(REJECT)
    assert (outcome.result, outcome.fault) == (JobResult.FAILED, 500)
    assert model.moves[REJECT.token] == 0
    assert not await robot.ack_fault(500)  # still full: the robot keeps the fault


async def test_no_shelf_space_diverts_the_pack_and_says_why(
    robot: SerialRobot, model: RobotModel
) -> None:
    model.faults.no_shelf_space = True
    outcome = await robot.execute(PLACE)
    assert (outcome.result, outcome.fault) == (JobResult.REJECTED, 400)
    assert outcome.message == "robot reported REJECTED: EXECUTE, fault 400 NO_SHELF_SPACE"
    assert model.moves[PLACE.token] == 1
    assert model.shelf == {}


async def test_an_estop_mid_job_aborts_and_a_refused_command_names_itself(
    robot: SerialRobot, model: RobotModel
) -> None:
    model.faults.estop_during_job = True
    outcome = await robot.execute(PLACE)
    assert (outcome.result, outcome.fault) == (JobResult.FAILED, 1)
    assert model.moves[PLACE.token] == 0
    await until(lambda: robot.state == PackMLState.ABORTED)
    with pytest.raises(RobotError, match="robot refused RESET in state ABORTED"):
        await robot.command(MachineCommand.RESET)
    assert await robot.ack_fault(1)
    for command in (MachineCommand.CLEAR, MachineCommand.RESET, MachineCommand.START):
        await robot.command(command)
    assert (await robot.status()).state is PackMLState.EXECUTE
    assert (await robot.execute(PLACE)).result is JobResult.STORED


# -- watchdogs and links -----------------------------------------------------------------------


async def test_a_silent_robot_is_declared_lost_and_found_again(
    robot: SerialRobot, model: RobotModel
) -> None:
    model.timings.move_s = 0.8
    job = asyncio.create_task(robot.execute(PLACE))
    await until(lambda: model.busy)
    started = time.monotonic()
    model.faults.silent = True
    with pytest.raises(RobotError, match=r"lost: its heartbeat has not changed|no answer"):
        await job
    await until(lambda: not robot.alive)
    assert time.monotonic() - started < STALE_S + 0.5
    with pytest.raises(RobotError, match="lost: its heartbeat has not changed"):
        await robot.status()  # fails fast while lost
    model.faults.silent = False
    await until(lambda: robot.alive and not model.busy)
    model.timings.move_s = 0.0
    assert (await robot.execute(REJECT)).result is JobResult.REJECTED


async def test_a_robot_silent_from_the_start_fails_connect(
    sim: SerialRobotSimulator, model: RobotModel
) -> None:
    model.faults.silent = True
    host = driver(sim.port)
    started = time.monotonic()
    with pytest.raises(RobotError, match=r"heartbeat has not changed|no answer to STATUS"):
        await host.connect()
    assert time.monotonic() - started < 1.5
    await host.aclose()


async def test_a_stale_host_trips_the_robots_watchdog(
    sim: SerialRobotSimulator, model: RobotModel
) -> None:
    model.faults.watchdog_s = 0.3
    model.timings.move_s = 2.0
    host = driver(sim.port, heartbeat_s=30.0)  # one heartbeat at connect, then none
    try:
        outcome = await host.execute(PLACE)
    finally:
        await host.aclose()
    assert (outcome.result, outcome.fault) == (JobResult.FAILED, 900)
    assert model.moves[PLACE.token] == 1  # into the reject chute
    assert model.shelf == {}
    assert model.state == PackMLState.HELD


async def test_an_unplugged_robot_fails_fast_and_is_reopened(
    robot: SerialRobot, sim: SerialRobotSimulator, model: RobotModel
) -> None:
    model.timings.move_s = 0.5
    job = asyncio.create_task(robot.execute(PLACE))
    await until(lambda: model.busy)
    started = time.monotonic()
    sim.unplug()
    with pytest.raises(RobotError, match="serial link down"):
        await job
    assert time.monotonic() - started < 1.0
    with pytest.raises(RobotError, match="lost"):
        await robot.execute(REJECT)
    sim.replug()
    await until(lambda: robot.alive)
    assert robot.stats.reconnects == 1
    await until(lambda: not model.busy)  # the robot finished the job while unplugged
    model.timings.move_s = 0.0
    assert (await robot.execute(REJECT)).result is JobResult.REJECTED


async def test_a_port_that_does_not_exist_is_one_clear_error(tmp_path: Path) -> None:
    port = tmp_path / "ttyNOPE"
    host = driver(port)
    with pytest.raises(RobotError) as caught:
        await host.execute(PLACE)
    assert str(caught.value) == f"cannot open the robot's serial port {port}: " + (
        "No such file or directory"
    )
    await host.aclose()


async def test_aclose_is_prompt_and_final(robot: SerialRobot) -> None:
    started = time.monotonic()
    await robot.aclose()
    assert time.monotonic() - started < 0.5
    assert not robot.alive
    with pytest.raises(RobotError, match="closed"):
        await robot.execute(PLACE)


async def test_a_retrieve_without_a_location_is_refused_before_sending(
    robot: SerialRobot, model: RobotModel
) -> None:
    outcome = await robot.execute(Job(JobCode.RETRIEVE_TO_QUARANTINE, 5))
    assert outcome.result is JobResult.REFUSED_BAD_COMMAND
    assert model.job_ack_seq == 0


# -- the simulator's side of the protocol ------------------------------------------------------


def test_the_simulator_answers_a_repeated_seq_from_memory(
    sim: SerialRobotSimulator, model: RobotModel
) -> None:
    with serial.serial_for_url(str(sim.port), timeout=0.3) as port:

        def ask(line: bytes, replies: int) -> list[object]:
            port.write(line)
            frames = (decode_robot(port.readline()) for _ in range(50))
            answers = (frame for frame in frames if isinstance(frame, Ack | Nak | Done))
            return [next(answers) for _ in range(replies)]

        assert ask(encode(Place(7, 42)), 2) == [Ack(7), Done(7, 1, 1)]
        assert ask(encode(Place(7, 42)), 2) == [Ack(7), Done(7, 1, 1)]
        assert ask(encode(Place(7, 43)), 1) == [Nak(7, NakCode.SEQ_REUSED)]
        assert ask(b"8 PLACE 44*00\r\n", 1) == [Nak(8, NakCode.BAD_CHECKSUM)]
        assert ask(b"9 MOVE 1*%02X\r\n" % checksum(b"9 MOVE 1"), 1) == [Nak(9, NakCode.BAD_FRAME)]
    assert model.moves == {42: 1}


async def test_status_tells_a_restarted_host_about_the_last_job(
    sim: SerialRobotSimulator, model: RobotModel
) -> None:
    first = driver(sim.port)
    placed = await first.execute(PLACE)
    await first.aclose()
    model.timings.move_s = 30
    dying = driver(sim.port)
    running = asyncio.ensure_future(dying.execute(REJECT))
    await until(lambda: model.busy)
    running.cancel()  # the host dies mid-job
    await asyncio.gather(running, return_exceptions=True)
    await dying.aclose()
    restarted = driver(sim.port)
    try:
        status = await restarted.status()
    finally:
        await restarted.aclose()
    assert status.acked_token == REJECT.token  # taken, still running: done seq behind
    assert status.job_done_seq < status.job_ack_seq
    assert (status.done_token, status.job_result) == (PLACE.token, JobResult.STORED)
    assert status.location == placed.location


async def test_a_pack_at_the_transfer_point_reaches_the_driver(tmp_path: Path) -> None:
    model = RobotModel(feed="manual")
    with SerialRobotSimulator(model, link_dir=tmp_path, heartbeat_s=0.05) as sim:
        host = driver(sim.port)
        try:
            assert StatusFlags.PACK_AT_TRANSFER not in (await host.status()).flags
            missing = await host.execute(PLACE)
            assert (missing.result, missing.fault) == (JobResult.FAILED, FaultCode.NO_PACK)
            assert not model.moves
            model.present_pack()
            assert StatusFlags.PACK_AT_TRANSFER in (await host.status()).flags
            assert (await host.execute(PLACE)).result is JobResult.STORED
        finally:
            await host.aclose()


async def test_a_host_leaving_cleanly_does_not_trip_the_watchdog(tmp_path: Path) -> None:
    clock = ManualClock()  # the robot's time: its watchdog is judged by it
    model = RobotModel(clock=clock)
    with SerialRobotSimulator(model, link_dir=tmp_path, heartbeat_s=0.05) as sim:
        host = driver(sim.port)
        await host.connect()
        assert model.watchdog_armed  # by the host's first beat
        await host.aclose()  # `* HB 0`: this host leaves
        await until(lambda: not model.watchdog_armed)
        clock.now += 10 * model.faults.watchdog_s
        model.check_watchdog()
        assert (model.watchdog_tripped, model.fault_code) == (False, 0)
