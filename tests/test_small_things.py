"""Small things a user hit (issue 12, item 6), each as the user met it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fmd.policy import Why
from robot_controller.cli import app
from robot_controller.demo import DemoOptions, Judgement, judge, run_demo
from simulators.delivery import Kind, generate_delivery
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


@pytest.mark.parametrize(
    ("expected", "route", "why", "judgement"),
    [
        ("shelved", "shelved", Why.DECOMMISSIONED, Judgement.AS_EXPECTED),
        ("quarantined", "quarantined", Why.ALERT, Judgement.AS_EXPECTED),
        ("quarantined", "shelved", Why.DECOMMISSIONED, Judgement.UNSAFE),
        ("rejected", "shelved", Why.SHELVED_UNVERIFIED, Judgement.UNSAFE),
        ("shelved", "quarantined", Why.HUB_UNAVAILABLE, Judgement.HELD_BACK),
        ("shelved", "quarantined", Why.HUB_LOGIN_FAILED, Judgement.HELD_BACK),
        ("shelved", "returned", Why.ROBOT_NOT_READY, Judgement.HELD_BACK),
        ("shelved", "rejected", Why.INTERNAL_ERROR, Judgement.MISROUTED),
        ("shelved", "quarantined", Why.ALERT, Judgement.MISROUTED),
        ("rejected", "quarantined", Why.UNKNOWN_PRODUCT, Judgement.MISROUTED),
        ("quarantined", "lost", "", Judgement.LOST),
    ],
)
def test_each_pack_is_judged_against_its_ground_truth(
    expected: str, route: str, why: str, judgement: Judgement
) -> None:
    assert judge(expected, route, why) is judgement


def test_genuine_packs_quarantined_while_the_hub_fails_are_held_back_not_unsafe(
    tmp_path: Path,
) -> None:
    demo = ["demo", "--packs", "30", "--seed", "3", "--hub", "mock", "--robot", "sim"]
    result = CliRunner().invoke(
        app, [*demo, "--hub-error-rate", "1", "--json", "--db", str(tmp_path / "demo.db")]
    )
    assert result.exit_code == 0, result.output  # held back is safe: the demo passes
    figures = json.loads(result.stdout.splitlines()[-1])
    genuine = sum(p.kind is Kind.GENUINE for p in generate_delivery(30, seed=3).packs)
    assert figures["shelved"] == 0  # nothing verified, nothing shelved
    assert (figures["held_back"], figures["misrouted"], figures["unsafe"]) == (genuine, 0, 0)
