"""The robot control terminal (`fmd-robot robot …`) against a simulated PLC, and the demo's
delivery loaded through every robot driver over its real transport."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from robot_controller.cli import app
from simulators.plc import PlcSimulator
from simulators.robot_model import FaultCode, PackMLState, RobotModel
from tests.support.clock import ManualClock

runner = CliRunner()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()  # the robot's time: its watchdog is judged by it, never slept for


@pytest.fixture
def plc(clock: ManualClock) -> Iterator[PlcSimulator]:
    model = RobotModel(clock=clock)
    with PlcSimulator(model, tcp=("127.0.0.1", 0)).run_in_thread() as simulator:
        yield simulator


def robot(config: Path, *args: str) -> Result:
    return runner.invoke(app, ["robot", *args, "--config", str(config)])


def host_vanishes(plc: PlcSimulator, clock: ManualClock) -> None:
    """A host (the daemon) beat, then crashed: the robot trips its watchdog (fault 900, Held)."""
    plc.model.host_heartbeat(1)  # as the driver of old started counting
    clock.now += 10 * plc.model.faults.watchdog_s
    plc.model.check_watchdog()
    assert (plc.model.fault_code, plc.model.state) == (FaultCode.HOST_WATCHDOG, PackMLState.HELD)


@pytest.fixture
def config(tmp_path: Path, plc: PlcSimulator) -> Path:
    path = tmp_path / "robot.toml"
    path.write_text(
        '[site]\nlocation = "ward"\n'
        f'[robot]\nkind = "modbus-tcp"\nhost = "127.0.0.1"\nport = {plc.port}\n'
    )
    return path


def test_status_shows_the_machine_state(config: Path) -> None:
    result = runner.invoke(app, ["robot", "status", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "EXECUTE" in result.stdout
    assert "READY" in result.stdout


def test_a_command_the_state_allows_is_carried_out(config: Path, plc: PlcSimulator) -> None:
    result = runner.invoke(app, ["robot", "command", "stop", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "stop accepted" in result.stdout
    assert plc.model.state != 6  # no longer executing


def test_a_command_the_state_refuses_is_one_clear_line(config: Path) -> None:
    result = runner.invoke(app, ["robot", "command", "clear", "--config", str(config)])
    assert result.exit_code == 1
    assert "refused CLEAR" in result.stderr


def test_an_unknown_command_names_the_known_ones(config: Path) -> None:
    result = runner.invoke(app, ["robot", "command", "dance", "--config", str(config)])
    assert result.exit_code == 2
    assert "unsuspend" in result.stderr


def test_a_fault_whose_cause_remains_is_not_cleared(config: Path, plc: PlcSimulator) -> None:
    plc.model.faults.chute_full = True
    plc.model.fault_code, plc.model.fault_active = 500, True  # a divert found the chute full
    result = runner.invoke(app, ["robot", "ack", "500", "--config", str(config)])
    assert result.exit_code == 1
    assert "still active" in result.stderr
    plc.model.faults.chute_full = False  # emptied
    result = runner.invoke(app, ["robot", "ack", "500", "--config", str(config)])
    assert result.exit_code == 0
    assert "cleared" in result.stdout


def test_the_terminal_leaving_does_not_trip_the_watchdog(
    config: Path, plc: PlcSimulator, clock: ManualClock
) -> None:
    result = robot(config, "command", "stop")
    assert result.exit_code == 0, result.output
    clock.now += 10 * plc.model.faults.watchdog_s  # the watchdog's time passes
    plc.model.check_watchdog()
    assert (plc.model.watchdog_tripped, plc.model.fault_code) == (False, 0)
    assert "fault" in robot(config, "status").stdout
    assert "900" not in robot(config, "status").stdout


def test_after_a_host_vanished_the_terminal_acks_900_and_resets_from_stopped(
    config: Path, plc: PlcSimulator, clock: ManualClock
) -> None:
    host_vanishes(plc, clock)
    status = robot(config, "status")
    assert "900 HOST_WATCHDOG" in status.stdout  # faults are shown with their names
    acked = robot(config, "ack", "900")
    assert acked.exit_code == 0, acked.output
    assert "900 HOST_WATCHDOG cleared" in acked.stdout
    for command in ("stop", "reset", "start"):
        result = robot(config, "command", command)
        assert result.exit_code == 0, result.output
    assert plc.model.ready


def test_a_reset_from_stopped_acknowledges_a_watchdog_fault_whose_cause_is_gone(
    config: Path, plc: PlcSimulator, clock: ManualClock
) -> None:
    host_vanishes(plc, clock)
    assert robot(config, "command", "stop").exit_code == 0
    result = robot(config, "command", "reset")  # the terminal is a host again: the cause is gone
    assert result.exit_code == 0, result.output
    assert (plc.model.state, plc.model.fault_code) == (PackMLState.IDLE, 0)


def test_a_refusal_names_the_state_the_cause_and_the_next_step(
    config: Path, plc: PlcSimulator
) -> None:
    plc.model.faults.chute_full = True
    plc.model.fault_code, plc.model.fault_active = 500, True
    plc.model.state = PackMLState.HELD
    result = robot(config, "command", "unhold")
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert "refused UNHOLD in state HELD" in line
    assert "cause: fault 500 REJECT_CHUTE_FULL latched (the reject chute is full)" in line
    assert "next: empty the reject chute, then `fmd-robot robot ack 500`" in line
    result = robot(config, "ack", "500")
    (line,) = result.stderr.strip().splitlines()
    assert "500 REJECT_CHUTE_FULL is still active in state HELD" in line
    assert "next: empty the reject chute" in line


def test_acknowledging_a_fault_that_is_not_active_says_so(config: Path) -> None:
    result = runner.invoke(app, ["robot", "ack", "200", "--config", str(config)])
    assert result.exit_code == 1
    assert "not active" in result.stderr


def test_an_unreachable_robot_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "robot.toml"
    path.write_text('[site]\nlocation = "ward"\n[robot]\nkind = "modbus-tcp"\nhost = "127.0.0.1"\n'
                    "port = 1\nack_timeout_s = 0.2\n")  # fmt: skip
    result = runner.invoke(app, ["robot", "status", "--config", str(path)])
    assert result.exit_code == 1
    assert "127.0.0.1" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("robot", ["modbus-tcp", "modbus-rtu", "serial", "sim"])
def test_a_delivery_loads_through_every_robot_driver(tmp_path: Path, robot: str) -> None:
    result = runner.invoke(
        app,
        ["demo", "--robot", robot, "--packs", "80", "--hub", "mock", "--json",
         "--db", str(tmp_path / "demo.db")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.splitlines()[-1])
    assert (report["packs"], report["misrouted"], report["lost"]) == (80, 0, 0)
    assert report["moved_twice"] == 0


def test_the_simulated_default_robot_is_named_as_simulated() -> None:
    result = runner.invoke(app, ["robot", "status"])
    assert result.exit_code == 2  # a configuration without a robot to reach
    assert "simulated" in result.stderr
    assert "Traceback" not in result.output
