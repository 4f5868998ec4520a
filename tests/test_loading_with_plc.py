"""The daemon's loading over Modbus TCP with the PLC simulator: a robot stopped by another client
gets no pack and the hub no change, another master halts loading, and recovery asks the robot
what became of a job a crash cut off."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from fmd.codes import parse_scan
from fmd.hub import MockHub
from fmd.hub.resilient import ResilientHub
from fmd.policy import Action, Decision, SitePolicy, Why
from robot_controller.pipeline import Pipeline
from robot_controller.robot.base import (
    Job,
    JobCode,
    MachineCommand,
    RobotConflict,
    next_seq,
)
from robot_controller.robot.modbus import ModbusRobot, ModbusTimeouts
from robot_controller.states import Stage
from robot_controller.store import Store
from scanners.base import Scan
from simulators.delivery import generate_delivery, seed_hub
from simulators.plc import PlcSimulator, Reg, split_u32
from simulators.robot_model import RobotFaults, RobotModel
from tests.support.feed import FedScanner
from tests.support.until import until

TODAY = datetime.now(UTC).date()
LOCATION = "ward-pharmacy"
HOSPITAL = SitePolicy(mode="hospital")
FAST = ModbusTimeouts(
    ack_timeout_s=2.0,
    done_timeout_s=5.0,
    poll_s=0.005,
    heartbeat_s=0.05,
    stale_after_s=2.0,
    request_timeout_s=1.0,
)  # fmt: skip (generous: a busy CI machine is slow, not lost)
FOREIGN_TOKEN = 0xF00000


@dataclass
class Plant:
    model: RobotModel
    plc: PlcSimulator
    hub: MockHub
    store: Store

    def robot(self) -> ModbusRobot:
        return ModbusRobot.tcp("127.0.0.1", self.plc.port, timeouts=FAST)

    def pipeline(self, robot: ModbusRobot) -> Pipeline:
        return Pipeline(store=self.store, hub=ResilientHub(self.hub.client(LOCATION)),
                        robot=robot, site=HOSPITAL, resume_every_s=0.01)  # fmt: skip

    def routes(self) -> list[str]:
        return [route for route, _ in self.store.outcomes().values()]


@pytest.fixture
async def plant(tmp_path: Path) -> AsyncIterator[Plant]:
    model = RobotModel()
    plc = PlcSimulator(model, tcp=("127.0.0.1", 0))
    await plc.start()
    store = Store.open(f"sqlite:///{tmp_path / 'fmd.db'}")
    yield Plant(model, plc, MockHub(seed=1), store)
    await plc.stop()
    store.close()


async def terminal(plant: Plant, *commands: MachineCommand) -> None:
    """`fmd-robot robot command …` from the control terminal: another client of the PLC."""
    robot = plant.robot()
    try:
        for command in commands:
            await robot.command(command)
    finally:
        await robot.aclose()


async def test_a_stop_from_the_terminal_pauses_loading_without_a_decommission_until_restarted(
    plant: Plant,
) -> None:
    delivery = generate_delivery(6, seed=41, suspect_rate=0.0, today=TODAY)
    seed_hub(plant.hub, delivery)
    robot = plant.robot()
    pipeline = plant.pipeline(robot)
    scanner = FedScanner()
    loading = asyncio.create_task(pipeline.run([scanner]))

    scanner.put(*delivery.raws[:2])
    await until(lambda: plant.routes() == ["shelved"] * 2)
    await terminal(plant, MachineCommand.STOP)
    scanner.put(*delivery.raws[2:4])
    await until(lambda: len(plant.routes()) == 4)
    assert plant.routes()[2:] == ["returned", "returned"]
    assert len(plant.hub.state_changes_by_pack) == 2
    assert pipeline.steps.turn.paused is not None
    assert "STOPPED" in pipeline.steps.turn.paused

    await terminal(plant, MachineCommand.RESET, MachineCommand.START)
    await until(lambda: pipeline.steps.turn.paused is None)
    scanner.put(*delivery.raws[4:])
    scanner.end()
    await loading
    await pipeline.aclose()
    await robot.aclose()

    assert plant.routes() == ["shelved"] * 2 + ["returned"] * 2 + ["shelved"] * 2
    assert len(plant.hub.state_changes_by_pack) == 4
    assert plant.store.summary()["flagged"] == 0
    assert not plant.model.watchdog_tripped  # the terminal came and went without tripping it


async def another_master(plant: Plant, stop: asyncio.Event) -> None:
    """A second Modbus master writing place jobs after the robot's seq, as fast as it can."""
    client = AsyncModbusTcpClient("127.0.0.1", port=plant.plc.port, timeout=2.0, retries=0)
    assert await client.connect()
    try:
        while not stop.is_set():
            try:
                status = await client.read_holding_registers(0, count=20, device_id=1)
                seq = next_seq(status.registers[Reg.JOB_ACK_SEQ])
                job = [JobCode.PLACE_ON_SHELF, 0, *split_u32(FOREIGN_TOKEN), seq, 0, 0]
                await client.write_registers(Reg.JOB_CODE, job, device_id=1)
            except ModbusException:  # a busy machine: that master simply tries again
                continue
            await asyncio.sleep(0.002)  # pacing, not ordering
    finally:
        client.close()


async def test_another_master_halts_loading_and_no_pack_is_recorded_on_a_foreign_job(
    plant: Plant,
) -> None:
    delivery = generate_delivery(60, seed=42, suspect_rate=0.2, today=TODAY)
    seed_hub(plant.hub, delivery)
    robot = plant.robot()
    pipeline = plant.pipeline(robot)
    scanner = FedScanner()
    scanner.put(*delivery.raws[:5])
    loading = asyncio.create_task(pipeline.run([scanner]))
    await until(lambda: len(plant.routes()) == 5)
    stop = asyncio.Event()
    intruding = asyncio.create_task(another_master(plant, stop))
    scanner.put(*delivery.raws[5:])
    try:
        with pytest.raises(RobotConflict, match=r"not this host's|another master"):
            await loading
    finally:
        stop.set()
        await intruding
        await pipeline.aclose()
        await robot.aclose()

    outcomes = plant.store.outcomes()
    shelved = {t for t, (route, _) in outcomes.items() if route == "shelved"}
    for token in shelved:  # every pack recorded on the shelf is where the robot put it
        assert token in plant.model.shelf.values(), token
    with plant.store.engine.connect() as conn:
        flagged: set[int] = set(
            conn.execute(sa.text("SELECT token FROM outcomes WHERE flagged")).scalars()
        )
    decommissioned = len(plant.hub.state_changes_by_pack)
    assert decommissioned <= len(shelved) + len(flagged)
    assert len(outcomes) < len(delivery.raws) or flagged  # loading stopped, or flagged the rest
    assert plant.store.summary()["lost"] == 0


async def test_recovery_asks_the_robot_what_became_of_a_job_a_crash_cut_off(
    plant: Plant,
) -> None:
    delivery = generate_delivery(2, seed=43, suspect_rate=0.0, today=TODAY)
    seed_hub(plant.hub, delivery)
    now = datetime.now(UTC)
    stored, lost = (
        plant.store.record_scan(Scan(raw, None, "bench", now), at=now) for raw in delivery.raws
    )
    verified = Decision(Action.SHELVE, Why.VERIFIED, "active")
    for token, raw in zip((stored, lost), delivery.raws, strict=True):
        plant.store.record_decision(token, Stage.VERIFY, parse_scan(raw), verified, at=now)
    # the crashed daemon had started `lost`'s job, which never reached the robot, and then
    # `stored`'s, which the robot carried out after the daemon died
    plant.store.start_job(Job(JobCode.PLACE_ON_SHELF, lost), at=now)
    plant.store.start_job(Job(JobCode.PLACE_ON_SHELF, stored), at=now)
    before = plant.robot()
    outcome = await before.execute(Job(JobCode.PLACE_ON_SHELF, stored))
    await before.aclose()

    robot = plant.robot()
    pipeline = plant.pipeline(robot)
    await pipeline.run([])
    await pipeline.aclose()
    await robot.aclose()

    outcomes = plant.store.outcomes()
    assert outcomes[stored] == ("shelved", "verified")
    assert plant.store.shelved_location(stored) == outcome.location
    assert outcomes[lost] == ("rejected", "robot-outcome-unknown")
    assert plant.store.summary()["flagged"] == 1


async def test_after_a_daemon_vanished_loading_waits_for_the_watchdog_fault_to_be_cleared(
    tmp_path: Path,
) -> None:
    model = RobotModel(faults=RobotFaults(watchdog_s=0.3))
    plc = PlcSimulator(model, tcp=("127.0.0.1", 0))
    await plc.start()
    plant = Plant(model, plc, MockHub(seed=1), Store.open(f"sqlite:///{tmp_path / 'fmd.db'}"))
    delivery = generate_delivery(4, seed=44, suspect_rate=0.0, today=TODAY)
    seed_hub(plant.hub, delivery)
    vanished = AsyncModbusTcpClient("127.0.0.1", port=plc.port, timeout=0.5, retries=0)
    assert await vanished.connect()
    await vanished.write_register(Reg.HOST_HEARTBEAT, 7, device_id=1)  # then the host dies
    vanished.close()
    await until(lambda: model.watchdog_tripped)

    robot = plant.robot()
    pipeline = plant.pipeline(robot)
    scanner = FedScanner()
    loading = asyncio.create_task(pipeline.run([scanner]))
    scanner.put(*delivery.raws[:2])
    await until(lambda: len(plant.routes()) == 2)
    assert plant.routes() == ["returned", "returned"]
    assert plant.hub.state_changes_by_pack == {}
    paused = pipeline.steps.turn.paused
    assert paused is not None
    assert "900 HOST_WATCHDOG" in paused
    assert "`fmd-robot robot ack 900`" in paused

    operator = plant.robot()  # at the terminal, while the daemon heartbeats
    assert await operator.ack_fault(900)
    await operator.command(MachineCommand.UNHOLD)
    await operator.aclose()
    await until(lambda: pipeline.steps.turn.paused is None)
    scanner.put(*delivery.raws[2:])
    scanner.end()
    await loading
    await pipeline.aclose()
    await robot.aclose()
    await plc.stop()

    assert plant.routes() == ["returned"] * 2 + ["shelved"] * 2
    assert len(plant.hub.state_changes_by_pack) == 2
    plant.store.close()
