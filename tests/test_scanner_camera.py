"""The camera scanner: a video through OpenCV's VideoCapture, each frame decoded, the same code
seen again within the dedupe window one scan, the newest frame winning on a live source."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from scanners.base import Scan, ScannerError
from scanners.camera import CameraScanner, Dedupe, Region
from scanners.decoders import Decoded, Decoder, Frame, make_decoder
from simulators.camera import (
    CONVEYOR,
    render_code,
    synthetic_frames,
    write_delivery_video,
    write_video,
)
from tests.support.services import require

BELT = replace(CONVEYOR, width=640, height=480)
GS1 = [
    "]d201095060001343521726123110ABC123\x1d21SERIAL0001",
    "]d201095060001343521726123110ABC123\x1d21SERIAL0002",
    "]d2010950600013435217261231109(B)8\x1d21S/N-7%X",
]


@pytest.fixture(params=["zxing", "libdmtx"])
def decoder(request: pytest.FixtureRequest) -> Decoder:
    try:
        return make_decoder(request.param)
    except ScannerError:
        require("libdmtx (pip install pylibdmtx; apt-get install libdmtx0b)")
        raise


async def all_scans(camera: CameraScanner) -> list[Scan]:
    camera.open()
    return [scan async for scan in camera.scans()]


def as_read(scan: Scan) -> str:
    return (scan.symbology_id or "") + scan.raw


async def test_a_conveyor_video_gives_each_pack_once_exactly(
    tmp_path: Path, decoder: Decoder
) -> None:
    video = tmp_path / "belt.mkv"
    truth = write_delivery_video(video, GS1, settings=BELT)
    camera = CameraScanner(str(video), decoder=decoder, dedupe_window_s=0.25)
    scans = await all_scans(camera)
    assert [as_read(s) for s in scans] == [pack.scan for pack in truth]
    assert all(s.source == f"camera:{video}" for s in scans)
    assert camera.stats.duplicates > 0  # each pack was seen in several frames
    assert camera.stats.dropped == 0  # a file is read frame by frame


async def test_several_codes_in_one_frame_are_several_scans(tmp_path: Path) -> None:
    video = tmp_path / "tray.mkv"
    frames = synthetic_frames([GS1, []], replace(BELT, module_px=(5.0, 6.0)), seed=3)
    write_video(video, (f.image for f in frames))
    scans = await all_scans(CameraScanner(str(video), decoder=make_decoder("zxing")))
    assert sorted(as_read(s) for s in scans) == sorted(GS1)


async def test_a_code_seen_again_after_the_window_is_a_new_scan(tmp_path: Path) -> None:
    video = tmp_path / "twice.mkv"
    # the same pack twice, 0.4 s apart at 10 frames/s: two scans with a 0.25 s window, one with 1 s
    write_delivery_video(video, [GS1[0], GS1[0]], settings=BELT, frames_per_pack=2, gap_frames=3)
    short = await all_scans(CameraScanner(str(video), decoder=make_decoder("zxing"),
                                          dedupe_window_s=0.25))  # fmt: skip
    long = await all_scans(CameraScanner(str(video), decoder=make_decoder("zxing"),
                                         dedupe_window_s=1.0))  # fmt: skip
    assert [as_read(s) for s in short] == [GS1[0], GS1[0]]
    assert [as_read(s) for s in long] == [GS1[0]]


def test_dedupe_extends_while_the_code_stays_in_view() -> None:
    dedupe = Dedupe(window_s=1.0)
    assert dedupe.is_new("A", 0.0)
    assert not any(dedupe.is_new("A", t / 2) for t in range(1, 20))  # 10 s under the camera
    assert dedupe.is_new("B", 9.6)
    assert dedupe.is_new("A", 12.0)


async def test_a_region_of_interest_reads_only_its_part_of_the_frame(tmp_path: Path) -> None:
    frame = np.full((480, 640), 255, dtype=np.uint8)
    left, right = render_code(GS1[0], module_px=5), render_code(GS1[1], module_px=5)
    frame[20 : 20 + left.shape[0], 20 : 20 + left.shape[1]] = left
    frame[20 : 20 + right.shape[0], 400 : 400 + right.shape[1]] = right
    video = tmp_path / "two-lanes.mkv"
    write_video(video, [frame, frame])
    camera = CameraScanner(str(video), decoder=make_decoder("zxing"), roi=Region(320, 0, 320, 480))
    assert [as_read(s) for s in await all_scans(camera)] == [GS1[1]]


class SlowDecoder:
    """A decoder that takes `seconds` a frame and counts the frames it was given."""

    name = "slow"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.frames = 0

    def decode(self, frame: Frame) -> list[Decoded]:
        self.frames += 1
        time.sleep(self.seconds)
        return []


async def test_a_live_source_drops_frames_when_decoding_falls_behind(tmp_path: Path) -> None:
    video = tmp_path / "live.mkv"
    write_video(video, [np.full((120, 160), 200, dtype=np.uint8)] * 40, fps=100)
    slow = SlowDecoder(0.05)  # 20 frames/s against a 100 frames/s camera
    camera = CameraScanner(str(video), decoder=slow, realtime=True)
    started = time.monotonic()
    await all_scans(camera)
    assert camera.stats.dropped > 10
    assert slow.frames + camera.stats.dropped == 40
    assert time.monotonic() - started < 1.5  # nothing queued behind the decoder


class BrokenDecoder:
    name = "broken"

    def __init__(self) -> None:
        self.calls = 0

    def decode(self, frame: Frame) -> list[Decoded]:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("decoder fault")
        return make_decoder("zxing").decode(frame)


async def test_a_decoder_fault_costs_one_frame_not_the_camera(tmp_path: Path) -> None:
    video = tmp_path / "belt.mkv"
    write_delivery_video(video, GS1[:1], settings=BELT)
    scans = await all_scans(CameraScanner(str(video), decoder=BrokenDecoder()))
    assert [as_read(s) for s in scans] == GS1[:1]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("no-such-video.mkv", "no such video file"),
        ("corrupt.mkv", "corrupt"),
    ],
)
def test_a_video_that_cannot_be_read_is_one_clear_error(
    tmp_path: Path, source: str, message: str
) -> None:
    (tmp_path / "corrupt.mkv").write_bytes(b"\x1aE\xdf\xa3 this is not a video" * 50)
    camera = CameraScanner(str(tmp_path / source), decoder=make_decoder("zxing"))
    with pytest.raises(ScannerError, match=message):
        camera.open()


def test_a_camera_that_cannot_be_opened_is_one_clear_error() -> None:
    camera = CameraScanner(97, decoder=make_decoder("zxing"))
    with pytest.raises(ScannerError, match="camera:97"):
        camera.open()


async def test_aclose_ends_a_live_camera_promptly(tmp_path: Path) -> None:
    video = tmp_path / "long.mkv"
    write_video(video, [np.full((120, 160), 200, dtype=np.uint8)] * 200, fps=20)
    camera = CameraScanner(str(video), decoder=SlowDecoder(0.0), realtime=True)
    reading = asyncio.create_task(all_scans(camera))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await camera.aclose()
    assert await asyncio.wait_for(reading, 2) == []
    assert time.monotonic() - started < 1.0
    assert camera.stats.frames < 200


class FailingCapture:
    """A capture whose driver faults after its first frame; counts its releases."""

    def __init__(self) -> None:
        self.reads = 0
        self.released = 0

    def read(self) -> tuple[bool, Frame]:
        self.reads += 1
        if self.reads > 1:
            raise RuntimeError("driver fault")
        return True, np.full((120, 160), 200, dtype=np.uint8)

    def get(self, _prop: int) -> float:
        return 0.0

    def release(self) -> None:
        self.released += 1


async def test_a_capture_that_faults_ends_the_source_and_is_released(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    capture = FailingCapture()
    monkeypatch.setattr("scanners.camera._open_capture", lambda _source: capture)
    camera = CameraScanner("belt.mkv", decoder=make_decoder("zxing"))
    assert await asyncio.wait_for(all_scans(camera), 5) == []
    assert capture.released == 1
