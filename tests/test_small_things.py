"""Small things a user hit (issue 12, item 6), each as the user met it."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fmd.policy import Why
from robot_controller.cli import app
from robot_controller.console import json_line, line, out
from robot_controller.demo import DemoOptions, Judgement, judge, run_demo
from simulators.camera import CONVEYOR, write_delivery_video
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


def next_line_within(stream: object, timeout_s: float) -> str | None:
    """The next line of a child's output, or None when none comes within `timeout_s`."""
    readable, _, _ = select.select([stream], [], [], timeout_s)
    return getattr(stream, "readline")() if readable else None  # noqa: B009 - a pipe


def test_scan_streams_a_file_the_first_scan_before_the_file_ends(tmp_path: Path) -> None:
    delivery = generate_delivery(10, seed=1)
    raws = delivery.raws
    fifo = tmp_path / "scans.txt"  # a file whose writer has not finished: it never ends
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR)  # a FIFO opened both ways never waits for its reader
    try:
        os.write(writer, "".join(raw + "\n" for raw in raws[:10]).encode())
        scan = fmd_robot("scan", "--source", f"file:{fifo}", "--json", "--count", "1")
        first = next_line_within(scan.stdout, 60)
        scan.kill()
        scan.communicate()
    finally:
        os.close(writer)
    assert first is not None, "no scan before the end of the file: it was read whole first"
    assert json.loads(first)["serial"] == delivery.packs[0].ui.serial


def test_a_line_that_is_not_text_ends_scan_with_one_line_naming_it(tmp_path: Path) -> None:
    raws = generate_delivery(3, seed=1).raws
    path = tmp_path / "scans.txt"
    path.write_bytes(f"{raws[0]}\n{raws[1]}\n".encode() + b"\xff\xfe garbage\n" + raws[2].encode())
    scan = fmd_robot("scan", "--source", f"file:{path}", "--json")
    out, err = scan.communicate(timeout=60)
    assert scan.returncode == 1
    assert len(out.splitlines()) == 2  # the scans before it
    (line,) = err.splitlines()
    assert f"{path}: line 3 is not UTF-8 text" in line


def test_a_video_cut_off_mid_file_is_one_line_and_exit_1(tmp_path: Path) -> None:
    video = tmp_path / "belt.mkv"
    belt = replace(CONVEYOR, width=640, height=480)
    write_delivery_video(video, generate_delivery(4, seed=1).raws, settings=belt)
    whole = video.read_bytes()
    video.write_bytes(whole[: len(whole) // 2])  # a copy interrupted half way
    scan = fmd_robot("scan", "--source", f"file:{video}", "--json")
    out, err = scan.communicate(timeout=120)
    assert scan.returncode == 1, out + err
    (line,) = err.splitlines()  # FFmpeg's own complaints included: none
    assert "the video is damaged: it ends at frame" in line
    assert "of 32" in line
    assert len(out.splitlines()) == 2  # the packs before the cut


def sim_hub(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """`fmd-robot sim hub` with its temporary files in `tmp_path / "tmp"` (they are watched)."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-m", "robot_controller", "sim", "hub", "--packs", "5", *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def endpoints_line(stream: object) -> str:
    """Read the simulator's lines until the one that says where it serves."""
    for _ in range(20):
        line = next_line_within(stream, 60)
        assert line, "the simulator never said where it serves"
        if line.startswith(("SOAP", "REST")):
            return line
    raise AssertionError("no endpoints line")


def leftovers(tmp_path: Path) -> list[str]:
    return sorted(path.name for path in (tmp_path / "tmp").iterdir())


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_sim_hub_removes_its_keys_when_stopped(tmp_path: Path, stop: signal.Signals) -> None:
    hub = sim_hub(tmp_path)
    endpoints_line(hub.stdout)
    (folder,) = (tmp_path / "tmp").iterdir()
    assert (folder / "client.key").exists()  # private keys, while it serves
    hub.send_signal(stop)
    assert hub.wait(timeout=30) == 0
    assert leftovers(tmp_path) == []


def test_sim_hub_that_cannot_start_says_why_and_leaves_no_keys(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        hub = sim_hub(tmp_path, "--port", str(port), "--dialects", "rest")
        _, err = hub.communicate(timeout=60)
    assert hub.returncode == 2
    (line,) = err.splitlines()
    assert "cannot start the simulator" in line
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(("dialects", "kind"), [("soap,rest", "soap"), ("rest", "rest")])
def test_sim_hub_keeps_its_state_and_prints_the_config_that_reaches_it(
    tmp_path: Path, dialects: str, kind: str
) -> None:
    state = tmp_path / "hub-state"
    args = ("--state-dir", str(state), "--dialects", dialects, "--print-config")
    first = sim_hub(tmp_path, *args)
    endpoints_line(first.stderr)  # with --print-config, stdout is the section alone
    first.send_signal(signal.SIGTERM)
    section, _ = first.communicate(timeout=30)
    assert first.returncode == 0
    ca = (state / "ca.pem").read_bytes()

    again = sim_hub(tmp_path, *args)
    endpoints_line(again.stderr)
    config = tmp_path / "hub.toml"
    config.write_text('[site]\nlocation = "hospital-pharmacy-1"\n' + section)
    raw = generate_delivery(5, seed=1).raws[0]
    verified = CliRunner().invoke(app, ["verify", "--config", str(config), "--json", raw])
    again.send_signal(signal.SIGTERM)
    section_again, _ = again.communicate(timeout=30)

    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)["state"] == "ACTIVE"
    assert f'kind = "{kind}"' in section
    assert section_again == section  # the same ports, CA, keys and secrets
    assert (state / "ca.pem").read_bytes() == ca
    assert (state / "client.key").exists()
    assert leftovers(tmp_path) == []


def test_a_json_line_stays_one_line_however_its_reader_splits_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = "a\u2028b\u2029c\u0085d\ne é"
    json_line({"reason": text})
    written = capsys.readouterr().out
    assert len(written.splitlines()) == 1
    assert json.loads(written) == {"reason": text}
    assert "é" in written  # UTF-8 as it is, not escaped


def test_text_from_outside_cannot_steer_the_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    hub_message = "pack unknown\x1b[2J\x1b]0;owned\x07\x9b31m"  # clear screen, retitle, CSI
    out.print(line(("alert:", "bold red"), " ", hub_message), highlight=False)
    written = capsys.readouterr().out
    assert "\x1b[2J" not in written
    assert "\x9b" not in written
    assert "pack unknown\\x1b[2J\\x1b]0;owned" in written


def test_no_benchmark_hides_a_package_of_the_project() -> None:
    """`python bench/X.py` puts bench/ first on the path: a bench/wwks2.py made every later
    `import wwks2` in that process find the benchmark, not the codec."""
    root = Path(__file__).resolve().parent.parent
    packages = {p.parent.name for p in root.glob("*/__init__.py")}
    assert {"fmd", "wwks2", "robot_controller"} <= packages
    assert not {p.stem for p in (root / "bench").glob("*.py")} & packages
