"""The robot control terminal (`fmd-robot robot …`) against a simulated PLC, and the demo's
delivery loaded through every robot driver over its real transport."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from robot_controller.cli import app
from simulators.plc import PlcSimulator
from simulators.robot_model import RobotModel

runner = CliRunner()


@pytest.fixture
def plc() -> Iterator[PlcSimulator]:
    with PlcSimulator(RobotModel(), tcp=("127.0.0.1", 0)).run_in_thread() as simulator:
        yield simulator


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
    assert "still active" in result.stdout
    plc.model.faults.chute_full = False  # emptied
    result = runner.invoke(app, ["robot", "ack", "500", "--config", str(config)])
    assert result.exit_code == 0
    assert "cleared" in result.stdout


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
    assert result.exit_code == 1
    assert "simulated" in result.stderr
    assert "Traceback" not in result.output
