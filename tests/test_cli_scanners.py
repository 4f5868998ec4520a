"""`fmd-robot scan`, `scanner-check` and `demo --scanner`, as an integrator would use them."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fmd.codes import parse_scan
from robot_controller.cli import app
from robot_controller.config import ConfigError
from robot_controller.sources import source_config
from simulators.delivery import generate_delivery
from simulators.scanner import PROFILES, run_virtual_scanner

runner = CliRunner()
GOOD = "]d201086358855027491727103110S7K6F6BL62<GS>2140YGPFZYJC83TT4QOMJA"
OTHER = "]d20108635885502749172804301085L4L7<GS>21JRDXBA9KVQLC688EHW9T"
SCAN_KEYS = {
    "format", "scheme", "product_code", "serial", "batch", "expiry", "expiry_raw", "nhrn",
    "nhrn_ai", "submit", "problems", "source", "symbology", "at",
}  # fmt: skip


def script(tmp_path: Path, *raws: str) -> Path:
    path = tmp_path / "scans.txt"
    path.write_text("\n".join(raws) + "\n", encoding="utf-8")
    return path


def test_scan_json_prints_one_object_per_scan_and_ends_with_the_file(tmp_path: Path) -> None:
    path = script(tmp_path, GOOD, OTHER, "hello")
    result = runner.invoke(app, ["scan", "--source", f"file:{path}", "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [set(line) for line in lines] == [SCAN_KEYS] * 3
    assert [line["serial"] for line in lines[:2]] == [
        "40YGPFZYJC83TT4QOMJA",
        "JRDXBA9KVQLC688EHW9T",
    ]
    assert lines[0]["symbology"] == "]d2"
    assert lines[0]["source"] == f"script:{path}"
    assert lines[2]["submit"] is False


def test_scan_shows_fields_and_problems_for_people(tmp_path: Path) -> None:
    path = script(tmp_path, GOOD, GOOD.replace("<GS>", ""))
    result = runner.invoke(app, ["scan", "--source", f"file:{path}"])
    assert result.exit_code == 0
    assert "40YGPFZYJC83TT4QOMJA" in result.stdout
    assert "missing-separator" in result.stdout
    assert "rescan" in result.stdout


def test_scan_reads_a_live_serial_scanner(tmp_path: Path) -> None:
    ports: list[Path] = []
    plugged = threading.Event()

    def announce(port: Path) -> None:
        ports.append(port)
        plugged.set()

    typist = threading.Thread(
        target=run_virtual_scanner,
        args=([GOOD.replace("<GS>", "\x1d"), OTHER.replace("<GS>", "\x1d")], PROFILES["crlf"]),
        kwargs={
            "interval_s": 0.05,
            "start_delay_s": 0.5,
            "link_dir": tmp_path,
            "announce": announce,
        },
    )
    typist.start()
    assert plugged.wait(5)
    source = f"serial:{ports[0]}"
    result = runner.invoke(
        app, ["scan", "--source", source, "--suffix", "CRLF", "--json", "--count", "2"]
    )
    typist.join()
    assert result.exit_code == 0, result.output
    serials = [json.loads(line)["serial"] for line in result.stdout.splitlines()]
    assert serials == ["40YGPFZYJC83TT4QOMJA", "JRDXBA9KVQLC688EHW9T"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("serial:/dev/ttyNOPE9", "/dev/ttyNOPE9"),
        ("bluetooth:1", "expected serial:PORT"),
        ("file:/no/such/scans.txt", "cannot read"),
        ("file:/no/such/video.mkv", "no such video file"),
    ],
)
def test_a_source_that_cannot_be_used_is_one_clear_line(source: str, message: str) -> None:
    result = runner.invoke(app, ["scan", "--source", source])
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_source_specs_map_to_the_daemons_scanner_configuration() -> None:
    assert source_config("serial:/dev/ttyACM0", baudrate=115200).port == "/dev/ttyACM0"  # type: ignore[union-attr]
    assert source_config("camera:0").source == 0  # type: ignore[union-attr]
    assert source_config("camera:rtsp://cam/stream").source == "rtsp://cam/stream"  # type: ignore[union-attr]
    assert source_config("file:belt.mkv").kind == "camera"
    assert source_config("file:scans.txt").kind == "script"
    assert source_config("stdin", gs_substitute="|").kind == "keyboard"
    with pytest.raises(ConfigError, match="suffix"):
        source_config("serial:/dev/ttyACM0", suffix="TAB")


def test_scanner_check_passes_a_well_set_up_scanner(tmp_path: Path) -> None:
    path = script(tmp_path, GOOD, OTHER)
    result = runner.invoke(app, ["scanner-check", "--source", f"file:{path}", "--packs", "2"])
    assert result.exit_code == 0, result.output
    assert "set up well" in result.stdout


def test_scanner_check_says_what_to_change(tmp_path: Path) -> None:
    path = script(tmp_path, GOOD[3:].replace("<GS>", "|"), OTHER[3:].replace("<GS>", "|"))
    result = runner.invoke(app, ["scanner-check", "--source", f"file:{path}", "--packs", "2"])
    assert result.exit_code == 1
    assert "AIM" in result.stdout
    assert "'|'" in result.stdout


def test_scanner_check_with_fewer_scans_than_asked_checks_what_came(tmp_path: Path) -> None:
    path = script(tmp_path, GOOD)
    result = runner.invoke(app, ["scanner-check", "--source", f"file:{path}", "--packs", "3"])
    assert "1 scans checked" in result.stdout


def test_demo_over_a_virtual_serial_scanner_routes_every_pack(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["demo", "--scanner", "serial", "--packs", "60", "--hub", "mock", "--json",
         "--db", str(tmp_path / "demo.db")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.splitlines()[-1])
    assert (report["packs"], report["misrouted"], report["lost"]) == (60, 0, 0)


def test_sim_camera_writes_a_video_that_scan_reads_back(tmp_path: Path) -> None:
    video = tmp_path / "belt.mkv"
    made = runner.invoke(
        app,
        ["sim", "camera", "--out", str(video), "--packs", "4", "--width", "640", "--height", "480"],
    )
    assert made.exit_code == 0, made.output
    read = runner.invoke(app, ["scan", "--source", f"file:{video}", "--json"])
    assert read.exit_code == 0, read.output
    scans = [json.loads(line) for line in read.stdout.splitlines()]
    expected = [parse_scan(raw) for raw in generate_delivery(4, seed=1).raws]
    assert [(s["product_code"], s["serial"]) for s in scans] == [
        (e.product_code, e.serial) for e in expected
    ]


def test_sim_camera_refuses_a_file_type_it_cannot_write(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sim", "camera", "--out", str(tmp_path / "belt.gif")])
    assert result.exit_code == 2
    assert ".mkv" in result.stderr


def test_sim_scanner_types_a_delivery_on_a_pty() -> None:
    result = runner.invoke(
        app, ["sim", "scanner", "--packs", "2", "--interval", "0", "--start-delay", "0"]
    )
    assert result.exit_code == 0, result.output
    assert "/dev/" in result.stdout or "virtual scanner" in result.stdout
    assert "2 scans typed" in result.stdout


def test_sim_scanner_names_the_profiles_on_a_wrong_one() -> None:
    result = runner.invoke(app, ["sim", "scanner", "--profile", "perfect"])
    assert result.exit_code == 2
    assert "wedge-drops-gs" in result.stderr
