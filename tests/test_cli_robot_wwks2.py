"""The robot control terminal on a WWKS2 robot: its own state in its own words, and a plain
refusal of what it does not take (PackML commands, fault acknowledgements)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from robot_controller.cli import app

runner = CliRunner()


@pytest.fixture
def wwks2_config(tmp_path: Path) -> Iterator[Path]:
    """A site configuration whose robot is a simulated WWKS2 robot in its own process."""
    robot = subprocess.Popen(
        [sys.executable, "-m", "robot_controller", "sim", "wwks2-robot", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert robot.stdout is not None
        line = robot.stdout.readline()
        port = int(line.split(":")[1].split()[0])
        config = tmp_path / "site.toml"
        config.write_text(
            f'[store]\nurl = "sqlite:///{tmp_path / "fmd.db"}"\n\n'
            f'[robot]\nkind = "wwks2"\nhost = "127.0.0.1"\nport = {port}\n'
        )
        yield config
    finally:
        robot.terminate()
        robot.communicate(timeout=20)


def test_status_shows_the_wwks2_robots_own_state_and_components(wwks2_config: Path) -> None:
    result = runner.invoke(app, ["robot", "status", "--config", str(wwks2_config)])
    assert result.exit_code == 0, result.stderr
    shown = " ".join(result.stdout.split())
    assert "WWKS2 subscriber 999" in shown
    assert "component Vmax 1 (StorageSystem): Ready" in shown
    assert "takes packs yes: it scans each pack and asks" in shown
    assert "EXECUTE" not in shown  # not PackML words for a robot that has none


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["command", "start"],
            "a WWKS2 robot takes no PackML commands: use the robot's own terminal",
        ),
        (["ack", "900"], "a WWKS2 robot reports no faults to acknowledge here"),
    ],
)
def test_what_a_wwks2_robot_does_not_take_is_one_plain_refusal(
    wwks2_config: Path, args: list[str], says: str
) -> None:
    result = runner.invoke(app, ["robot", *args, "--config", str(wwks2_config)])
    assert result.exit_code == 1
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
