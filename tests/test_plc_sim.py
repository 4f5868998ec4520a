"""The PLC simulator on the wire: the register map of ARCHITECTURE.md, read by plain pymodbus."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient, ModbusTcpClient
from pymodbus.client.base import ModbusBaseClient
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusIOException

from simulators.plc import STATUS_COUNT, PlcSimulator, Reg, rtu_pty_pair, serve_plc, split_u32
from simulators.robot_model import (
    IF_VERSION,
    FaultCode,
    JobCode,
    JobReason,
    JobResult,
    PackMLCommand,
    PackMLState,
    RobotModel,
    StatusBit,
)
from tests.support.clock import ManualClock
from tests.support.until import until


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def plc(clock: ManualClock) -> AsyncIterator[PlcSimulator]:
    model = RobotModel(clock=clock, sleep=clock.sleep)
    simulator = PlcSimulator(model, tcp=("127.0.0.1", 0))
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def client(plc: PlcSimulator) -> AsyncIterator[AsyncModbusTcpClient]:
    tcp = AsyncModbusTcpClient("127.0.0.1", port=plc.port, timeout=0.2, retries=0)
    assert await tcp.connect()
    yield tcp
    tcp.close()


async def status(client: ModbusBaseClient) -> list[int]:
    response = await client.read_holding_registers(0, count=STATUS_COUNT, device_id=1)
    assert not response.isError(), response
    return list(response.registers)


def job(code: int, token: int, seq: int, reason: int = 0, location: int = 0) -> list[int]:
    return [code, reason, *split_u32(token), seq, *split_u32(location)]


async def test_status_block_at_rest(client: AsyncModbusTcpClient) -> None:
    regs = await status(client)
    assert regs[Reg.IF_VERSION] == IF_VERSION
    assert regs[Reg.STATE] == PackMLState.EXECUTE
    word = StatusBit(regs[Reg.STATUS_WORD])
    assert word == (
        StatusBit.READY | StatusBit.SAFETY_OK | StatusBit.REMOTE | StatusBit.PACK_AT_TRANSFER
    )  # fed by a conveyor ("auto"): a pack waits while it is idle in Execute
    assert regs[Reg.JOB_ACK_SEQ] == regs[Reg.JOB_DONE_SEQ] == 0


async def test_a_job_in_one_write(plc: PlcSimulator, client: AsyncModbusTcpClient) -> None:
    token = 0x1234_5678
    written = await client.write_registers(
        Reg.JOB_CODE, job(JobCode.PLACE_ON_SHELF, token, 1), device_id=1
    )
    assert not written.isError()
    await until(lambda: plc.model.job_done_seq == 1)
    regs = await status(client)
    assert (regs[Reg.JOB_ACK_SEQ], regs[Reg.JOB_DONE_SEQ]) == (1, 1)
    assert regs[Reg.JOB_RESULT] == JobResult.STORED
    assert regs[Reg.LOCATION : Reg.LOCATION + 2] == [0, 1]
    assert regs[Reg.PACKS_STORED : Reg.PACKS_STORED + 2] == [0, 1]
    assert plc.model.shelf == {1: token}  # u32: high word first


def u32_at(regs: list[int], address: int) -> int:
    return (regs[address] << 16) | regs[address + 1]


async def test_the_job_tokens_are_echoed_with_the_ack_and_the_result(
    plc: PlcSimulator, client: AsyncModbusTcpClient, clock: ManualClock
) -> None:
    plc.model.timings.move_s = 1.0
    await client.write_registers(Reg.JOB_CODE, job(JobCode.PLACE_ON_SHELF, 70_001, 1), device_id=1)
    await until(lambda: plc.model.busy)
    running = await status(client)  # a job still running: its ack is there, its result not
    assert (running[Reg.JOB_ACK_SEQ], running[Reg.JOB_DONE_SEQ]) == (1, 0)
    assert (u32_at(running, Reg.ACKED_TOKEN), u32_at(running, Reg.DONE_TOKEN)) == (70_001, 0)
    await clock.advance(1.0)
    await until(lambda: plc.model.job_done_seq == 1)
    done = await status(client)
    assert (u32_at(done, Reg.ACKED_TOKEN), u32_at(done, Reg.DONE_TOKEN)) == (70_001, 70_001)


async def test_retrieve_reads_the_location(plc: PlcSimulator, client: AsyncModbusTcpClient) -> None:
    plc.model.shelf[70_000] = 5
    await client.write_registers(
        Reg.JOB_CODE,
        job(JobCode.RETRIEVE_TO_QUARANTINE, 0, 1, JobReason.OPERATOR, 70_000),
        device_id=1,
    )
    await until(lambda: plc.model.job_done_seq == 1)
    regs = await status(client)
    assert regs[Reg.JOB_RESULT] == JobResult.RETRIEVED
    assert regs[Reg.LOCATION : Reg.LOCATION + 2] == split_u32(70_000)
    assert plc.model.moves[5] == 1


async def test_a_lost_reply_never_moves_twice(
    plc: PlcSimulator, client: AsyncModbusTcpClient
) -> None:
    plc.model.faults.lose_next_reply = True
    values = job(JobCode.DIVERT_TO_REJECT, 9, 1, JobReason.FMD_ALERT)
    with pytest.raises(ModbusIOException):
        await client.write_registers(Reg.JOB_CODE, values, device_id=1)
    await until(lambda: plc.model.job_done_seq == 1)
    again = await client.write_registers(Reg.JOB_CODE, values, device_id=1)  # the host's retry
    assert not again.isError()
    await asyncio.sleep(0.02)
    assert plc.model.moves[9] == 1
    assert plc.model.packs_rejected == 1


async def test_a_request_lost_on_the_way_is_not_applied(
    plc: PlcSimulator, client: AsyncModbusTcpClient
) -> None:
    plc.drop_next_write = Reg.JOB_SEQ
    with pytest.raises(ModbusIOException):
        await client.write_registers(Reg.JOB_CODE, job(JobCode.PLACE_ON_SHELF, 3, 1), device_id=1)
    assert plc.model.job_ack_seq == 0
    assert not plc.model.moves


async def test_addresses_outside_the_map(client: AsyncModbusTcpClient) -> None:
    status_write = await client.write_registers(Reg.JOB_ACK_SEQ, [4], device_id=1)
    gap_read = await client.read_holding_registers(STATUS_COUNT, count=1, device_id=1)
    beyond = await client.read_holding_registers(Reg.FAULT_ACK, count=2, device_id=1)
    for response in (status_write, gap_read, beyond):
        assert response.isError()
        assert response.exception_code == ExcCodes.ILLEGAL_ADDRESS


async def test_another_device_id_stays_silent(client: AsyncModbusTcpClient) -> None:
    with pytest.raises(ModbusIOException):
        await client.read_holding_registers(0, count=STATUS_COUNT, device_id=2)


async def test_silent_and_exception_faults(plc: PlcSimulator, client: AsyncModbusTcpClient) -> None:
    plc.model.faults.silent = True
    with pytest.raises(ModbusIOException):
        await status(client)
    plc.model.faults.silent = False
    plc.exception_code = ExcCodes.DEVICE_BUSY
    busy = await client.read_holding_registers(0, count=STATUS_COUNT, device_id=1)
    assert busy.isError()
    assert busy.exception_code == ExcCodes.DEVICE_BUSY
    plc.exception_code = None
    plc.overrides[Reg.STATE] = 99
    assert (await status(client))[Reg.STATE] == 99


async def test_plc_heartbeat_runs(
    plc: PlcSimulator, client: AsyncModbusTcpClient, clock: ManualClock
) -> None:
    first = (await status(client))[Reg.HEARTBEAT]
    await clock.advance(0.3)
    assert (await status(client))[Reg.HEARTBEAT] != first
    plc.model.faults.heartbeat_frozen = True
    frozen = (await status(client))[Reg.HEARTBEAT]
    await clock.advance(0.3)
    assert (await status(client))[Reg.HEARTBEAT] == frozen


async def test_host_watchdog_trips(
    plc: PlcSimulator, client: AsyncModbusTcpClient, clock: ManualClock
) -> None:
    plc.model.faults.watchdog_s = 0.2
    await client.write_registers(Reg.HOST_HEARTBEAT, [1], device_id=1)
    await clock.advance(0.3)
    await until(lambda: plc.model.watchdog_tripped)
    regs = await status(client)
    assert StatusBit.HOST_WATCHDOG in StatusBit(regs[Reg.STATUS_WORD])
    assert regs[Reg.FAULT_CODE] == FaultCode.HOST_WATCHDOG
    assert regs[Reg.STATE] == PackMLState.HELD
    await client.write_registers(Reg.HOST_HEARTBEAT, [2], device_id=1)
    await client.write_registers(Reg.FAULT_ACK, [FaultCode.HOST_WATCHDOG], device_id=1)
    await client.write_registers(Reg.CNTRL_CMD, [PackMLCommand.UNHOLD, 1], device_id=1)
    regs = await status(client)
    assert regs[Reg.FAULT_CODE] == 0
    assert regs[Reg.STATE] == PackMLState.EXECUTE


async def test_a_host_heartbeat_of_0_is_a_host_leaving(
    plc: PlcSimulator, client: AsyncModbusTcpClient, clock: ManualClock
) -> None:
    plc.model.faults.watchdog_s = 0.2
    await client.write_registers(Reg.HOST_HEARTBEAT, [7], device_id=1)
    await client.write_registers(Reg.HOST_HEARTBEAT, [0], device_id=1)  # a host leaves cleanly
    await clock.advance(1.0)
    assert not plc.model.check_watchdog()
    assert (await status(client))[Reg.FAULT_CODE] == 0
    await client.write_registers(Reg.HOST_HEARTBEAT, [8], device_id=1)  # a host beats again
    await clock.advance(0.3)
    await until(lambda: plc.model.watchdog_tripped)  # and then vanishes


async def test_packml_commands_and_refusals(client: AsyncModbusTcpClient) -> None:
    await client.write_registers(Reg.CNTRL_CMD, [PackMLCommand.START, 1], device_id=1)
    regs = await status(client)
    assert (regs[Reg.CMD_ACK_SEQ], regs[Reg.CMD_REJECTED]) == (1, 1)
    await client.write_registers(Reg.CNTRL_CMD, [PackMLCommand.HOLD, 2], device_id=1)
    regs = await status(client)
    assert (regs[Reg.CMD_ACK_SEQ], regs[Reg.CMD_REJECTED]) == (2, 0)
    assert regs[Reg.STATE] == PackMLState.HELD


async def test_rtu_over_a_pty_pair() -> None:
    model = RobotModel()
    with rtu_pty_pair() as (server_port, client_port):
        plc = PlcSimulator(model, rtu_port=server_port)
        await plc.start()
        rtu = AsyncModbusSerialClient(
            client_port, framer=FramerType.RTU, baudrate=115_200, timeout=0.3, retries=0
        )
        try:
            assert await rtu.connect()
            await rtu.write_registers(Reg.JOB_CODE, job(JobCode.PLACE_ON_SHELF, 44, 1), device_id=1)
            await until(lambda: model.job_done_seq == 1)
            regs = await status(rtu)
            assert regs[Reg.JOB_RESULT] == JobResult.STORED
            assert model.moves[44] == 1
        finally:
            rtu.close()
            await plc.stop()


def test_run_in_thread_with_a_sync_client() -> None:
    plc = PlcSimulator(RobotModel(), tcp=("127.0.0.1", 0))
    with plc.run_in_thread():
        sync = ModbusTcpClient("127.0.0.1", port=plc.port, timeout=1, retries=0)
        assert sync.connect()  # type: ignore[no-untyped-call]
        try:
            response = sync.read_holding_registers(0, count=STATUS_COUNT, device_id=1)
            assert response.registers[0] == IF_VERSION
        finally:
            sync.close()  # type: ignore[no-untyped-call]


async def test_serve_plc_announces_and_stops_when_cancelled() -> None:
    said: list[str] = []
    task = asyncio.ensure_future(serve_plc(tcp=("127.0.0.1", 0), announce=said.append))
    await until(lambda: bool(said))
    assert said[0].startswith("PLC simulator (Modbus, device 1) on tcp 127.0.0.1:")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def test_one_transport_exactly() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        PlcSimulator(RobotModel())
