"""Small things a user hit (issue 12, item 6), each as the user met it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from robot_controller.demo import DemoOptions, run_demo
from simulators.delivery import generate_delivery
from simulators.plc import PlcSimulator
from simulators.robot_model import RobotModel
from simulators.scanner import PROFILES, VirtualScanner
from simulators.world import RobotKind
from tests.support.processes import ROOT

DEMO_RUNS = 20
RUN_TIMEOUT_S = 15.0  # a run takes about a second (it took up to 14 s when the PLC was slow)


@pytest.mark.slow
@pytest.mark.parametrize("robot", ["modbus-tcp", "modbus-rtu", "serial", "sim"])
async def test_an_empty_demo_ends_every_time_with_every_robot(
    tmp_path: Path, robot: RobotKind
) -> None:
    for run in range(DEMO_RUNS):
        options = DemoOptions(packs=0, robot=robot, db=tmp_path / f"demo-{run}.db")
        try:
            report = await asyncio.wait_for(run_demo(options), RUN_TIMEOUT_S)
        except TimeoutError:
            pytest.fail(f"run {run + 1} of `demo --packs 0 --robot {robot}` hung")
        assert (report.packs, report.misrouted, report.lost) == (0, 0, 0)


def fmd_robot(*args: str) -> subprocess.Popen[str]:
    """`fmd-robot ARGS` in a process of its own, its output read as it comes."""
    return subprocess.Popen(
        [sys.executable, "-m", "robot_controller", *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.parametrize("seed", [2, 4, 5])  # deliveries that scan some packs without ]d2
def test_the_good_virtual_scanner_passes_scanner_check(tmp_path: Path, seed: int) -> None:
    with VirtualScanner(PROFILES["good"], link_dir=tmp_path) as virtual:
        check = fmd_robot("scanner-check", "--source", f"serial:{virtual.port}", "--timeout", "30")
        assert check.stderr is not None
        assert "Scan 3 different genuine packs now" in check.stderr.readline()  # port open
        for raw in generate_delivery(3, seed=seed).raws:
            virtual.type(raw)
        out, err = check.communicate(timeout=60)
    assert check.returncode == 0, out + err
    assert "set up well" in out


def robot_config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "robot.toml"
    path.write_text(
        f'[site]\nlocation = "ward"\n[robot]\nkind = "modbus-tcp"\nhost = "127.0.0.1"\n'
        f"port = {port}\nack_timeout_s = 0.3\n"
    )
    return path


def test_robot_status_prints_the_status_alone(tmp_path: Path) -> None:
    with PlcSimulator(RobotModel(), tcp=("127.0.0.1", 0)).run_in_thread() as plc:
        terminal = fmd_robot("robot", "status", "--config", str(robot_config(tmp_path, plc.port)))
        out, err = terminal.communicate(timeout=60)
    assert terminal.returncode == 0, out + err
    labels = [line.split("  ")[0].strip() for line in out.splitlines()]
    assert labels == [
        "state", "ready", "status word", "fault", "stored / rejected", "last job", "takes a pack",
    ]  # fmt: skip
    assert err == ""


def test_an_unreachable_robot_is_one_line_without_library_noise(tmp_path: Path) -> None:
    with PlcSimulator(RobotModel(), tcp=("127.0.0.1", 0)).run_in_thread() as plc:
        port = plc.port  # free again once the simulator has stopped
    terminal = fmd_robot("robot", "status", "--config", str(robot_config(tmp_path, port)))
    out, err = terminal.communicate(timeout=60)
    assert terminal.returncode == 1
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith("error: robot: cannot connect to the robot at tcp 127.0.0.1:")
