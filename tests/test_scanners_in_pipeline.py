"""The daemon takes its scanners from configuration: a serial scanner, a camera and a keyboard
wedge feed one pipeline at once, and every pack is routed as its ground truth says; line noise
on a serial scanner is never recorded and never moves the robot."""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from robot_controller.config import Config, ConfigError
from robot_controller.demo import content
from robot_controller.robot.sim import SimRobot
from robot_controller.wiring import build_daemon
from simulators.camera import CONVEYOR, write_delivery_video
from simulators.delivery import Delivery, generate_delivery, master_data
from simulators.scanner import PROFILES, VirtualScanner
from simulators.world import write_master_data
from tests.support.keys import keystrokes
from tests.support.loading import load_while_typing
from tests.support.typist import typing_thread

PACKS, SEED = 24, 5


def delivery_of_the_day() -> Delivery:
    return generate_delivery(PACKS, seed=SEED, suspect_rate=0.25, today=datetime.now(UTC).date())


def settings(tmp_path: Path, scanners: list[dict[str, object]]) -> Config:
    """A daemon with the delivery's master data in the mock national system."""
    data = write_master_data(master_data(delivery_of_the_day()), tmp_path / "master-data.json")
    return Config(
        site={"location": "test-pharmacy"},
        store={"url": f"sqlite:///{tmp_path / 'fmd.db'}"},
        hub={"kind": "mock", "master_data": str(data)},
        robot={"kind": "sim"},
        pipeline={"replay_every_s": None},
        scanners=scanners,
    )


async def test_a_serial_scanner_a_camera_and_a_keyboard_feed_one_pipeline(tmp_path: Path) -> None:
    delivery = delivery_of_the_day()
    by_serial, by_camera, by_keyboard = (delivery.packs[i::3] for i in range(3))
    video = tmp_path / "belt.mkv"
    small_belt = replace(CONVEYOR, width=640, height=480)
    write_delivery_video(video, [p.raw for p in by_camera], settings=small_belt)
    keys = tmp_path / "wedge-events"
    keys.write_bytes(b"".join(keystrokes(p.raw + "\n") for p in by_keyboard))

    with VirtualScanner(PROFILES["good"], link_dir=tmp_path) as virtual:
        config = settings(
            tmp_path,
            [
                {"kind": "serial", "port": str(virtual.port)},
                {"kind": "camera", "source": str(video), "dedupe_window_s": 0.25},
                {"kind": "keyboard", "device": str(keys), "grab": False},
            ],
        )
        daemon = await build_daemon(config)  # opens the serial port before anything is typed
        typist = typing_thread(virtual, [p.raw for p in by_serial])
        loaded = await load_while_typing(daemon, typist, PACKS)
        scans, outcomes = loaded.scans, loaded.outcomes

    # A duplicated serial shares its content with a genuine pack: whichever of the two came
    # first is shelved and the other quarantined, so compare what happened as multisets.
    routed = Counter((content(scans[token]), route) for token, (route, _) in outcomes.items())
    expected = Counter((content(p.raw), p.expected_route) for p in delivery.packs)
    assert routed == expected


async def test_a_scanner_that_cannot_be_opened_stops_start_up_with_one_line(
    tmp_path: Path,
) -> None:
    config = settings(tmp_path, [{"kind": "serial", "port": str(tmp_path / "ttyACM9")}])
    with pytest.raises(ConfigError, match=r"^scanners\.0: .*ttyACM9.*plugged in"):
        await build_daemon(config)
    assert not (tmp_path / "fmd.db").exists()


async def test_noise_on_a_serial_scanner_is_never_recorded_and_never_moves_the_robot(
    tmp_path: Path,
) -> None:
    delivery = delivery_of_the_day()
    genuine = [p.raw for p in delivery.packs[:8]]
    seeded = random.Random(4)

    def noisy_scanner(virtual: VirtualScanner) -> threading.Thread:
        def scan_among_noise() -> None:
            virtual.write_bytes(seeded.randbytes(20_000))
            for raw in genuine:
                virtual.type(raw)
                virtual.write_bytes(seeded.randbytes(2_000))

        return threading.Thread(target=scan_among_noise)

    with VirtualScanner(PROFILES["good"], link_dir=tmp_path) as virtual:
        config = settings(tmp_path, [{"kind": "serial", "port": str(virtual.port)}])
        daemon = await build_daemon(config)
        robot = daemon.robot
        assert isinstance(robot, SimRobot)
        loaded = await load_while_typing(daemon, noisy_scanner(virtual), len(genuine))

    # exactly the N genuine scans (each with the ]d2 the scanner adds where a raw has none)
    assert sorted(map(content, loaded.scans.values())) == sorted(map(content, genuine))
    assert sorted(robot.moves) == sorted(loaded.scans)  # a move only for a recorded scan
    assert sum(robot.moves.values()) == len(genuine)
