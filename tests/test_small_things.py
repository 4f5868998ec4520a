"""Small things a user hit (issue 12, item 6), each as the user met it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from robot_controller.demo import DemoOptions, run_demo
from simulators.delivery import generate_delivery
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
