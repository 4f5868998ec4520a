"""Small things a user hit (issue 12, item 6), each as the user met it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from robot_controller.demo import DemoOptions, run_demo
from simulators.world import RobotKind

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
