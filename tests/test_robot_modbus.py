"""The Modbus driver against the PLC simulator: loopback TCP, and RTU over a pty pair."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.client.base import ModbusBaseClient
from pymodbus.constants import ExcCodes

from robot_controller.robot.base import (
    Job,
    JobCode,
    JobOutcome,
    JobReason,
    JobResult,
    MachineCommand,
    PackMLState,
    Robot,
    RobotConflict,
    RobotError,
    StatusFlags,
    next_seq,
    unexpected,
)
from robot_controller.robot.modbus import ModbusRobot, ModbusTimeouts
from robot_controller.robot.modbus_codec import decode_status, encode_job
from robot_controller.routing import route_of
from simulators.plc import STATUS_COUNT, PlcSimulator, Reg, rtu_pty_pair, split_u32
from simulators.robot_model import FaultCode, RobotModel, Timings
from tests.support.clock import ManualClock
from tests.support.logs import Logs
from tests.support.until import until

FAST = ModbusTimeouts(
    ack_timeout_s=1.0,
    done_timeout_s=3.0,
    poll_s=0.005,
    heartbeat_s=0.05,
    stale_after_s=0.6,
    request_timeout_s=0.2,
    retries=2,
)
ONE_BEAT = ModbusTimeouts(heartbeat_s=60, request_timeout_s=0.2, done_timeout_s=3)
PLACE = JobCode.PLACE_ON_SHELF
REJECT = JobCode.DIVERT_TO_REJECT
QUARANTINE = JobCode.DIVERT_TO_QUARANTINE
RETRIEVE = JobCode.RETRIEVE_TO_QUARANTINE


@dataclass
class Rig:
    model: RobotModel
    plc: PlcSimulator
    robot: ModbusRobot


async def start_rig(model: RobotModel, timeouts: ModbusTimeouts = FAST) -> Rig:
    plc = PlcSimulator(model, tcp=("127.0.0.1", 0))
    await plc.start()
    robot = ModbusRobot.tcp("127.0.0.1", plc.port, timeouts=timeouts)
    await robot.connect()
    return Rig(model, plc, robot)


async def stop_rig(rig: Rig) -> None:
    await rig.robot.aclose()
    await rig.plc.stop()


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    started = await start_rig(RobotModel())
    yield started
    await stop_rig(started)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Elapsed:
    def __enter__(self) -> Elapsed:
        self.start = time.monotonic()
        return self

    def __exit__(self, *_: object) -> None:
        self.s = time.monotonic() - self.start


# -- pure rules -----------------------------------------------------------------------------

STATUS_AT_REST = [0x0200, 7, 6, 1, 0b11_0000_0001, 3, 3, 1, 0, 9, 0, 2, 0, 0, 5, 1, 0, 8, 1, 3]


def test_decode_status() -> None:
    status = decode_status(STATUS_AT_REST, packs_quarantined=4)
    assert status.state is PackMLState.EXECUTE
    assert status.ready
    assert status.flags == StatusFlags.READY | StatusFlags.SAFETY_OK | StatusFlags.REMOTE
    assert (status.job_ack_seq, status.job_done_seq, status.job_result) == (3, 3, JobResult.STORED)
    assert (status.location, status.fault, status.heartbeat) == (9, None, 7)
    assert (status.packs_stored, status.packs_rejected, status.packs_quarantined) == (5, 1, 4)
    assert status.command_ack_seq == 2
    assert (status.acked_token, status.done_token) == (8, 0x1_0003)  # u32s, high word first


@pytest.mark.parametrize(
    ("register", "value", "problem"),
    [
        (Reg.STATE, 0, "unknown PackML state 0"),
        (Reg.STATE, 99, "unknown PackML state 99"),
        (Reg.JOB_RESULT, 5, "unknown job result 5"),
        (Reg.STATUS_WORD, 1 << 12, "undefined status bits"),
        (Reg.STATUS_WORD, 0b11, "ready and busy"),
        (Reg.JOB_DONE_SEQ, 4, "done seq 4 ahead of ack seq 3"),
        (Reg.CMD_REJECTED, 2, "command rejected flag 2"),
    ],
)
def test_impossible_status(register: int, value: int, problem: str) -> None:
    registers = list(STATUS_AT_REST)
    registers[register] = value
    with pytest.raises(RobotError, match=f"impossible status.*{problem}"):
        decode_status(registers)


def test_a_short_status_block_is_impossible() -> None:
    with pytest.raises(RobotError, match="impossible status: 19 registers"):
        decode_status(STATUS_AT_REST[:19])


def test_no_token_echoed_yet_is_none() -> None:
    registers = list(STATUS_AT_REST)
    registers[Reg.ACKED_TOKEN : Reg.DONE_TOKEN + 2] = [0, 0, 0, 0]
    status = decode_status(registers)
    assert (status.acked_token, status.done_token) == (None, None)


def test_done_behind_ack_is_normal_even_across_the_wrap() -> None:
    for ack, done in [(2, 1), (1, 65535), (7, 0), (9, 4)]:
        registers = list(STATUS_AT_REST)
        registers[Reg.JOB_ACK_SEQ], registers[Reg.JOB_DONE_SEQ] = ack, done
        registers[Reg.STATUS_WORD] = StatusFlags.BUSY
        assert decode_status(registers).job_done_seq == done


def test_encode_job_and_sequence_numbers() -> None:
    job = Job(RETRIEVE, 0x0001_0002, JobReason.OPERATOR, location=70_000)
    assert encode_job(job, 5) == [4, 6, 1, 2, 5, *split_u32(70_000)]
    with pytest.raises(RobotError, match="does not fit"):
        encode_job(Job(PLACE, 1 << 32), 1)
    with pytest.raises(RobotError, match="does not fit"):
        encode_job(Job(PLACE, -1), 1)
    assert [next_seq(0), next_seq(1), next_seq(65535)] == [1, 2, 1]


def test_unexpected_outcomes() -> None:
    divert = Job(REJECT, 1, JobReason.FMD_ALERT)
    assert "stored a pack" in unexpected(divert, JobOutcome(JobResult.STORED, 4))
    assert "shelf location 4" in unexpected(divert, JobOutcome(JobResult.REJECTED, 4))
    assert "retrieve" in unexpected(divert, JobOutcome(JobResult.RETRIEVED, 4))
    assert unexpected(Job(PLACE, 1), JobOutcome(JobResult.STORED, 4)) == ""


def test_a_driver_is_built_outside_the_event_loop() -> None:
    robot: Robot = ModbusRobot.rtu("/dev/ttyUSB0", baudrate=9600, parity="E", device_id=4)
    assert isinstance(robot, ModbusRobot)
    assert robot.where == "rtu /dev/ttyUSB0 9600 8E1 device 4"


# -- the handshake over TCP -----------------------------------------------------------------


async def test_place_reject_quarantine_retrieve(rig: Rig) -> None:
    stored = await rig.robot.execute(Job(PLACE, 11))
    rejected = await rig.robot.execute(Job(REJECT, 12, JobReason.FMD_ALERT))
    quarantined = await rig.robot.execute(Job(QUARANTINE, 13, JobReason.EXPIRED))
    retrieved = await rig.robot.execute(Job(RETRIEVE, 0, JobReason.OPERATOR, stored.location))
    assert stored == JobOutcome(JobResult.STORED, 1)
    assert rejected == JobOutcome(JobResult.REJECTED)
    assert quarantined == JobOutcome(JobResult.QUARANTINED)
    assert retrieved == JobOutcome(JobResult.RETRIEVED, 1)
    assert rig.model.moves == {11: 2, 12: 1, 13: 1}
    status = await rig.robot.status()
    assert (status.packs_stored, status.packs_rejected, status.packs_quarantined) == (1, 1, 2)
    assert status.job_ack_seq == status.job_done_seq == 4


async def test_a_lost_reply_moves_the_pack_once(rig: Rig) -> None:
    rig.model.faults.lose_next_reply = True
    outcome = await rig.robot.execute(Job(PLACE, 77))
    assert outcome.result is JobResult.STORED
    assert rig.model.moves[77] == 1
    assert rig.model.job_ack_seq == 1


async def test_a_lost_request_is_sent_again_with_the_same_seq(rig: Rig) -> None:
    rig.plc.drop_next_write = Reg.JOB_SEQ
    outcome = await rig.robot.execute(Job(PLACE, 78))
    assert outcome.result is JobResult.STORED
    assert rig.model.moves[78] == 1
    assert rig.model.job_ack_seq == 1  # the same seq, not a new one


async def test_mechanical_time_passes_while_the_host_polls() -> None:
    rig = await start_rig(RobotModel(timings=Timings(move_s=0.2)))
    try:
        with Elapsed() as elapsed:
            outcome = await rig.robot.execute(Job(PLACE, 5))
        assert outcome.result is JobResult.STORED
        assert elapsed.s >= 0.2
    finally:
        await stop_rig(rig)


async def test_jam(rig: Rig) -> None:
    rig.model.faults.jam = True
    job = Job(PLACE, 21)
    outcome = await rig.robot.execute(job)
    assert (outcome.result, outcome.fault) == (JobResult.FAILED, FaultCode.CONVEYOR_JAM)
    assert route_of(job, outcome) == ("rejected", True)
    assert rig.model.moves[21] == 1
    assert not rig.model.shelf
    refused = await rig.robot.execute(Job(PLACE, 22))
    assert refused.result is JobResult.REFUSED_NOT_READY
    assert "HELD" in refused.message
    assert await rig.robot.ack_fault(FaultCode.CONVEYOR_JAM)
    await rig.robot.command(MachineCommand.UNHOLD)
    assert (await rig.robot.execute(Job(PLACE, 22))).result is JobResult.STORED


async def test_chute_full(rig: Rig) -> None:
    rig.model.faults.chute_full = True
    assert StatusFlags.REJECT_CHUTE_FULL in (await rig.robot.status()).flags
    outcome = await rig.robot.execute(Job(REJECT, 31, JobReason.FMD_ALERT))
    assert (outcome.result, outcome.fault) == (JobResult.FAILED, FaultCode.REJECT_CHUTE_FULL)
    assert not await rig.robot.ack_fault(FaultCode.REJECT_CHUTE_FULL)  # still full
    rig.model.faults.chute_full = False
    assert await rig.robot.ack_fault(FaultCode.REJECT_CHUTE_FULL)


async def test_no_shelf_space(rig: Rig) -> None:
    rig.model.faults.no_shelf_space = True
    job = Job(PLACE, 41)
    outcome = await rig.robot.execute(job)
    assert (outcome.result, outcome.fault) == (JobResult.REJECTED, FaultCode.NO_SHELF_SPACE)
    assert route_of(job, outcome) == ("rejected", True)


async def test_estop_mid_job_and_recovery(rig: Rig) -> None:
    rig.model.faults.estop_during_job = True
    outcome = await rig.robot.execute(Job(PLACE, 51))
    assert (outcome.result, outcome.fault) == (JobResult.FAILED, FaultCode.ESTOP)
    status = await rig.robot.status()
    assert status.state is PackMLState.ABORTED
    assert StatusFlags.SAFETY_OK not in status.flags
    with pytest.raises(RobotError, match="refused START in state ABORTED"):
        await rig.robot.command(MachineCommand.START)
    assert await rig.robot.ack_fault(FaultCode.ESTOP)
    for command in (MachineCommand.CLEAR, MachineCommand.RESET, MachineCommand.START):
        await rig.robot.command(command)
    assert (await rig.robot.execute(Job(PLACE, 52))).result is JobResult.STORED


async def test_host_heartbeat_stops_so_the_plc_trips_and_rejects_the_pack() -> None:
    model = RobotModel(timings=Timings(move_s=2.0))
    model.faults.watchdog_s = 0.3
    rig = await start_rig(model, ONE_BEAT)
    try:
        outcome = await rig.robot.execute(Job(PLACE, 61))
        assert (outcome.result, outcome.fault) == (JobResult.FAILED, FaultCode.HOST_WATCHDOG)
        assert rig.model.moves[61] == 1
        assert rig.model.packs_rejected == 1
        assert not rig.model.shelf
        status = await rig.robot.status()
        assert StatusFlags.HOST_WATCHDOG in status.flags
        assert status.state is PackMLState.HELD
    finally:
        await stop_rig(rig)


async def test_a_frozen_plc_heartbeat_is_noticed_even_mid_job() -> None:
    rig = await start_rig(RobotModel(timings=Timings(move_s=10)))
    try:
        rig.model.faults.heartbeat_frozen = True
        with Elapsed() as elapsed, pytest.raises(RobotError, match="lost: its heartbeat"):
            await rig.robot.execute(Job(PLACE, 71))
        assert elapsed.s < FAST.stale_after_s + 0.5
        with pytest.raises(RobotError, match="lost"):
            await rig.robot.status()
        rig.model.faults.heartbeat_frozen = False

        async def alive() -> bool:
            try:
                return (await rig.robot.status()).state is PackMLState.EXECUTE
            except RobotError:
                return False

        await until(alive, timeout_s=3.0)  # alive again
    finally:
        await stop_rig(rig)


async def test_a_silent_link_raises_within_the_timeouts(rig: Rig) -> None:
    rig.model.faults.silent = True
    with Elapsed() as elapsed, pytest.raises(RobotError):
        await rig.robot.execute(Job(PLACE, 81))
    assert elapsed.s < FAST.ack_timeout_s + FAST.request_timeout_s + 0.5
    assert not rig.model.moves
    with pytest.raises(RobotError, match="No response"):
        await rig.robot.status()


async def test_silence_after_the_job_was_accepted(rig: Rig) -> None:
    rig.model.timings.move_s = 5
    task = asyncio.ensure_future(rig.robot.execute(Job(PLACE, 82)))
    await until(lambda: rig.model.busy)  # the job was accepted
    rig.model.faults.silent = True
    with Elapsed() as elapsed, pytest.raises(RobotError, match=r"lost|timed out"):
        await task
    assert elapsed.s < FAST.stale_after_s + 0.5


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (ExcCodes.ILLEGAL_ADDRESS, "exception 2 \\(ILLEGAL_ADDRESS\\): register not in"),
        (ExcCodes.DEVICE_FAILURE, "exception 4 \\(DEVICE_FAILURE\\)"),
        (ExcCodes.DEVICE_BUSY, "exception 6 \\(DEVICE_BUSY\\)"),
    ],
)
async def test_modbus_exceptions(rig: Rig, code: ExcCodes, text: str) -> None:
    rig.plc.exception_code = code
    with pytest.raises(RobotError, match=text):
        await rig.robot.status()
    with pytest.raises(RobotError):
        await rig.robot.execute(Job(PLACE, 91))
    assert not rig.model.moves


@pytest.mark.parametrize(
    ("register", "value"),
    [(Reg.STATE, 99), (Reg.JOB_RESULT, 77), (Reg.JOB_DONE_SEQ, 5)],
)
async def test_an_impossible_status_block(rig: Rig, register: int, value: int) -> None:
    rig.plc.overrides[register] = value
    with pytest.raises(RobotError, match="impossible status"):
        await rig.robot.status()
    with pytest.raises(RobotError, match="impossible status"):
        await rig.robot.execute(Job(PLACE, 92))


async def test_impossible_result_after_a_job(rig: Rig) -> None:
    await rig.robot.execute(Job(PLACE, 93))
    rig.plc.overrides[Reg.JOB_RESULT] = 0  # done, but no result
    with pytest.raises(RobotError, match="without a result"):
        await rig.robot.execute(Job(PLACE, 94))


async def test_a_robot_storing_a_diverted_pack_is_reported_as_such(rig: Rig) -> None:
    rig.plc.overrides.update({Reg.JOB_RESULT: JobResult.STORED, Reg.LOCATION + 1: 8})
    job = Job(REJECT, 95, JobReason.FMD_ALERT)
    outcome = await rig.robot.execute(job)
    assert (outcome.result, outcome.location) == (JobResult.STORED, 8)
    assert "stored a pack it was told to DIVERT_TO_REJECT" in outcome.message
    assert route_of(job, outcome) == ("shelved", True)


async def test_packml_commands(rig: Rig) -> None:
    await rig.robot.command(MachineCommand.HOLD)
    assert (await rig.robot.status()).state is PackMLState.HELD
    with pytest.raises(RobotError, match="refused SUSPEND in state HELD"):
        await rig.robot.command(MachineCommand.SUSPEND)
    await rig.robot.command(MachineCommand.UNHOLD)
    assert (await rig.robot.status()).state is PackMLState.EXECUTE


async def test_a_lost_command_is_sent_again_with_the_same_seq(rig: Rig) -> None:
    rig.plc.drop_next_write = Reg.CMD_SEQ
    await rig.robot.command(MachineCommand.HOLD)
    assert rig.model.state == PackMLState.HELD
    assert rig.model.command_ack_seq == 1


def drop_last_register(packet: bytes) -> bytes:
    """A Modbus TCP FC3 reply with one register fewer than asked for, framed consistently."""
    if packet[7] != 3:
        return packet
    data = packet[9:-2]
    body = bytes([packet[6], 3, len(data)]) + data
    return packet[:4] + len(body).to_bytes(2, "big") + body


async def test_a_wrong_length_reply(rig: Rig) -> None:
    rig.plc.mangle_replies = drop_last_register
    with pytest.raises(RobotError, match="impossible status: 19 registers"):
        await rig.robot.status()
    with pytest.raises(RobotError, match="impossible status"):
        await rig.robot.execute(Job(PLACE, 97))
    rig.plc.mangle_replies = None
    assert (await rig.robot.execute(Job(PLACE, 97))).result is JobResult.STORED


async def test_cannot_connect_names_the_robot() -> None:
    port = free_port()
    robot = ModbusRobot.tcp("127.0.0.1", port, device_id=3, timeouts=FAST)
    with pytest.raises(RobotError, match=f"cannot connect to the robot at tcp 127.0.0.1:{port}"):
        await robot.connect()
    with pytest.raises(RobotError, match="device 3"):
        await robot.execute(Job(PLACE, 1))
    await robot.aclose()


async def test_a_wrong_device_id_gets_no_answer() -> None:
    plc = PlcSimulator(RobotModel(), tcp=("127.0.0.1", 0))
    await plc.start()
    robot = ModbusRobot.tcp("127.0.0.1", plc.port, device_id=9, timeouts=FAST)
    try:
        with pytest.raises(RobotError, match="device 9"):
            await robot.connect()
    finally:
        await robot.aclose()
        await plc.stop()


async def test_closing_as_a_heartbeat_reply_arrives_stops_the_heartbeat() -> None:
    """`aclose` cancels the heartbeat just as the reply it waits for arrives (the reply is
    handed to pymodbus after the close is scheduled, so the close runs first): on Python 3.11
    pymodbus' `asyncio.wait_for` then returns the reply and swallows the cancellation, and the
    heartbeat must still stop, or `aclose` (and `fmd-robot demo --packs 0`) waits forever."""
    plc = PlcSimulator(RobotModel(), tcp=("127.0.0.1", 0))
    await plc.start()
    armed = False
    closing: list[asyncio.Task[None]] = []
    scheduled = asyncio.Event()

    def client() -> ModbusBaseClient:
        tcp = AsyncModbusTcpClient("127.0.0.1", port=plc.port, timeout=FAST.request_timeout_s)
        deliver = tcp.ctx.callback_data

        def arriving(data: bytes, addr: tuple[str, int] | None = None) -> int:
            if armed and not closing:  # the close's first step is queued before the reply
                closing.append(asyncio.create_task(robot.aclose()))
                scheduled.set()
            return deliver(data, addr=addr)

        tcp.ctx.callback_data = arriving  # type: ignore[method-assign]
        return tcp

    robot = ModbusRobot(client, where="tcp loopback", timeouts=FAST)
    try:
        await robot.connect()
        armed = True  # connect's own reads are done: the next reply is the heartbeat's
        async with asyncio.timeout(5):
            await scheduled.wait()
        async with asyncio.timeout(5):
            await closing[0]
    finally:
        await robot.aclose()  # after a failure above: close the client too
        await plc.stop()


async def test_reconnects_after_the_plc_restarts(rig: Rig) -> None:
    port = rig.plc.port
    await rig.plc.stop()
    with pytest.raises(RobotError):
        await rig.robot.status()
    rig.plc = PlcSimulator(rig.model, tcp=("127.0.0.1", port))
    await rig.plc.start()
    for _ in range(40):
        try:
            await rig.robot.status()
            break
        except RobotError:
            await asyncio.sleep(0.05)
    assert (await rig.robot.execute(Job(PLACE, 96))).result is JobResult.STORED


# -- one master per robot ------------------------------------------------------------------

FOREIGN_TOKEN = 0xF0_0000


async def other_master_writes_a_job(other: AsyncModbusTcpClient) -> None:
    """What a second master does: read the robot's job seq and write a place job after it."""
    status = await other.read_holding_registers(0, count=STATUS_COUNT, device_id=1)
    seq = next_seq(status.registers[Reg.JOB_ACK_SEQ])
    job = [PLACE, 0, *split_u32(FOREIGN_TOKEN), seq, 0, 0]
    await other.write_registers(Reg.JOB_CODE, job, device_id=1)


@pytest.fixture
async def other(rig: Rig) -> AsyncIterator[AsyncModbusTcpClient]:
    client = AsyncModbusTcpClient("127.0.0.1", port=rig.plc.port, timeout=0.5, retries=0)
    assert await client.connect()
    yield client
    client.close()


async def test_a_second_master_is_never_adopted(rig: Rig, other: AsyncModbusTcpClient) -> None:
    outcomes: list[tuple[int, JobOutcome]] = []

    async def intruder() -> None:
        while True:
            await other_master_writes_a_job(other)

    async def load() -> None:
        for token in range(1, 500):
            outcomes.append((token, await rig.robot.execute(Job(PLACE, token))))

    intruding = asyncio.ensure_future(intruder())
    try:
        with pytest.raises(RobotConflict, match="another master"):
            await load()
    finally:
        intruding.cancel()
        await asyncio.gather(intruding, return_exceptions=True)
    for token, outcome in outcomes:  # every outcome returned is the driver's own job's
        assert outcome.result is JobResult.STORED
        assert outcome.location is not None
        assert rig.model.shelf[outcome.location] == token
    with pytest.raises(RobotConflict):  # and loading stays stopped
        await rig.robot.execute(Job(PLACE, 1000))
    assert rig.model.moves[1000] == 0


async def test_a_foreign_job_while_idle_is_seen_by_the_heartbeat(
    rig: Rig, other: AsyncModbusTcpClient, logs: Logs
) -> None:
    assert (await rig.robot.execute(Job(PLACE, 1))).result is JobResult.STORED
    await other_master_writes_a_job(other)
    await until(lambda: any(e["event"] == "robot.conflict" for e in logs))
    acked = rig.model.job_ack_seq
    with pytest.raises(RobotConflict, match="job seq 2 \\(token 15728640\\) is not this host's"):
        await rig.robot.execute(Job(PLACE, 2))
    assert rig.model.job_ack_seq == acked  # nothing written
    assert rig.model.moves[2] == 0


async def test_the_driver_starts_from_the_robots_seq_and_checks_the_echo(rig: Rig) -> None:
    rig.model.job_ack_seq = rig.model.job_done_seq = 41  # jobs of an earlier run of this host
    await rig.robot.aclose()
    await rig.robot.connect()
    assert (await rig.robot.execute(Job(PLACE, 7))).result is JobResult.STORED
    status = await rig.robot.status()
    assert (status.job_ack_seq, status.acked_token, status.done_token) == (42, 7, 7)


async def test_a_robot_restarted_between_jobs_is_no_other_master(rig: Rig) -> None:
    assert (await rig.robot.execute(Job(PLACE, 1))).result is JobResult.STORED
    model = rig.model  # power-cycled: no job taken since
    model.job_ack_seq = model.job_done_seq = model.acked_token = 0
    model.last_job = None
    assert (await rig.robot.execute(Job(PLACE, 2))).result is JobResult.STORED
    assert model.job_ack_seq == 1


async def test_a_result_naming_another_token_is_a_conflict(rig: Rig) -> None:
    rig.plc.overrides[Reg.DONE_TOKEN + 1] = 99  # the robot says it finished token 99's job
    with pytest.raises(RobotConflict, match="result names token 99"):
        await rig.robot.execute(Job(PLACE, 5))


async def test_another_major_interface_version_is_refused_in_one_line() -> None:
    plc = PlcSimulator(RobotModel(), tcp=("127.0.0.1", 0), overrides={Reg.IF_VERSION: 0x0100})
    await plc.start()
    robot = ModbusRobot.tcp("127.0.0.1", plc.port, timeouts=FAST)
    try:
        with pytest.raises(RobotError, match="speaks register map version 0x0100") as raised:
            await robot.connect()
        assert "\n" not in str(raised.value)
    finally:
        await robot.aclose()
        await plc.stop()


async def test_a_host_leaving_cleanly_stands_the_watchdog_down_a_vanished_one_trips_it() -> None:
    clock = ManualClock()  # the robot's time: its watchdog is judged by it
    model = RobotModel(clock=clock)
    plc = PlcSimulator(model, tcp=("127.0.0.1", 0))
    await plc.start()
    try:
        leaving = ModbusRobot.tcp("127.0.0.1", plc.port, timeouts=FAST)
        await leaving.connect()
        await leaving.aclose()  # its last heartbeat is 0: this host has left
        clock.now += 10 * model.faults.watchdog_s
        model.check_watchdog()
        assert (model.watchdog_tripped, model.fault_code) == (False, 0)
        vanishing = ModbusRobot.tcp("127.0.0.1", plc.port, timeouts=ONE_BEAT)
        await vanishing.connect()  # beats once, then is silent (as a host that crashed)
        clock.now += 10 * model.faults.watchdog_s
        model.check_watchdog()
        assert (model.watchdog_tripped, model.fault_code) == (True, FaultCode.HOST_WATCHDOG)
        await vanishing.aclose()
    finally:
        await plc.stop()


# -- RTU over a pty pair --------------------------------------------------------------------


async def test_rtu_happy_path_jam_and_line_noise() -> None:
    model = RobotModel()
    with rtu_pty_pair() as pair:
        plc = PlcSimulator(model, rtu_port=pair.server_port)
        await plc.start()
        robot = ModbusRobot.rtu(pair.client_port, baudrate=115_200, timeouts=FAST)
        try:
            await robot.connect()
            assert (await robot.execute(Job(PLACE, 1))).result is JobResult.STORED
            model.faults.lose_next_reply = True
            assert (await robot.execute(Job(REJECT, 2, JobReason.EXPIRED))).result is (
                JobResult.REJECTED
            )
            assert model.moves[2] == 1
            model.faults.jam = True
            jammed = await robot.execute(Job(PLACE, 3))
            assert (jammed.result, jammed.fault) == (JobResult.FAILED, FaultCode.CONVEYOR_JAM)
            plc.mangle_replies = lambda frame: frame[:-1] + bytes([frame[-1] ^ 0xFF])  # bad CRC
            with pytest.raises(RobotError, match=f"robot at rtu {pair.client_port}"):
                await robot.status()
            plc.mangle_replies = None
            pair.inject(bytes(range(256)))  # line noise between two requests
            assert (await robot.status()).state is PackMLState.HELD
        finally:
            await robot.aclose()
            await plc.stop()


async def test_rtu_framing_over_a_socket_url() -> None:
    url = f"socket://127.0.0.1:{free_port()}"
    plc = PlcSimulator(RobotModel(), rtu_port=url)
    await plc.start()
    robot = ModbusRobot.rtu(url, timeouts=FAST)
    try:
        assert (await robot.execute(Job(QUARANTINE, 5, JobReason.EXPIRED))).result is (
            JobResult.QUARANTINED
        )
    finally:
        await robot.aclose()
        await plc.stop()
