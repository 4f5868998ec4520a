"""The camera's DataMatrix decoders: exact text (GS kept), AIM identifier, many codes, no raise."""

from __future__ import annotations

import ctypes.util
import sys
from collections.abc import Callable
from datetime import date

import cv2
import numpy as np
import pytest

from fmd.codes import PackIdentifier
from fmd.codes.encode import encode_gs1, encode_ifa
from scanners.base import ScannerError
from scanners.decoders import Decoded, Decoder, make_decoder
from scanners.decoders.regions import Candidate, candidates
from simulators.camera import render_code
from tests.support.services import require

GS = "\x1d"
UI = PackIdentifier("GTIN", "09506000134352", "SN(1)A", "B(2)", date(2026, 12, 31), "261231")
GS1 = encode_gs1(UI, order=("01", "17", "10", "21"), symbology=None)  # batch, GS, serial
PPN = PackIdentifier("PPN", "110375286414", "12345ABCDEF98765", "12345ABCD", None, "150600")
IFA = encode_ifa(PPN)
LARGE, SMALL = (720, 1280), (240, 320)


def libdmtx_decoder(**options: object) -> Decoder:
    try:
        return make_decoder("libdmtx", **options)
    except ScannerError:
        require("libdmtx (pip install pylibdmtx; apt-get install libdmtx0b)")
        raise


@pytest.fixture(
    params=["zxing", "zxing-whole-frame", "libdmtx", "libdmtx-whole-frame"], scope="module"
)
def decoder(request: pytest.FixtureRequest) -> Decoder:
    name, _, whole = str(request.param).partition("-")
    if name == "libdmtx":  # a generous timeout: these tests are about results, not speed
        return libdmtx_decoder(locate=not whole, timeout_ms=1000)
    return make_decoder("zxing", locate=not whole)


def scene(shape: tuple[int, int], *codes: tuple[str, int, int], seed: int = 0) -> np.ndarray:
    """A grey belt with mild noise and each (text, left, top) code pasted upright, 5 px modules."""
    rng = np.random.default_rng(seed)
    frame = rng.normal(120, 4, size=shape).clip(0, 255).astype(np.uint8)
    for text, left, top in codes:
        tile = render_code(text, module_px=5)
        frame[top : top + tile.shape[0], left : left + tile.shape[1]] = tile
    return frame


def printed(frame: np.ndarray) -> np.ndarray:
    """`frame` covered in lines of dark text, as by a pack's artwork."""
    rng = np.random.default_rng(7)
    for y in range(24, frame.shape[0], 28):
        line = "".join(rng.choice(list("ABCDEFGH ijklmnop 0123456789"), 60))
        cv2.putText(frame, line, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 20, 2)
    return frame


def found(decoder: Decoder, frame: object) -> list[tuple[str | None, str]]:
    return sorted((code.symbology_id, code.text) for code in decoder.decode(frame))  # type: ignore[arg-type]


def test_a_gs1_code_reads_exactly_with_the_gs_between_batch_and_serial(decoder: Decoder) -> None:
    assert found(decoder, scene(LARGE, ("]d2" + GS1, 300, 200))) == [("]d2", GS1)]
    assert "10B(2)" + GS + "21SN(1)A" in GS1


def test_an_ifa_code_reads_exactly_as_plain_data_matrix(decoder: Decoder) -> None:
    assert found(decoder, scene(SMALL, (IFA, 40, 30))) == [("]d1", IFA)]


def test_a_bgr_frame_reads_like_a_grey_one(decoder: Decoder) -> None:
    frame = cv2.cvtColor(scene(LARGE, ("]d2" + GS1, 900, 400)), cv2.COLOR_GRAY2BGR)
    assert found(decoder, frame) == [("]d2", GS1)]


def test_several_codes_in_one_frame_are_each_read(decoder: Decoder) -> None:
    other = encode_gs1(PackIdentifier("GTIN", "04150037528643", "X1", "L7", None, "270100"))
    frame = scene(LARGE, ("]d2" + GS1, 100, 100), (IFA, 700, 80), (other, 500, 450))
    assert found(decoder, frame) == sorted([("]d2", GS1), ("]d1", IFA), ("]d2", other[3:])])


def test_a_code_on_printed_artwork_is_read(decoder: Decoder) -> None:
    frame = printed(scene(LARGE))
    tile = render_code("]d2" + GS1, module_px=5)
    frame[200 : 200 + tile.shape[0], 500 : 500 + tile.shape[1]] = tile
    assert found(decoder, frame) == [("]d2", GS1)]


def test_corners_are_where_the_code_is(decoder: Decoder) -> None:
    tile = render_code("]d2" + GS1, module_px=5)  # 2-module quiet zone: the symbol starts 10 px in
    (code,) = decoder.decode(scene(LARGE, ("]d2" + GS1, 600, 300)))
    side = tile.shape[0] - 20
    expected = [(610, 310), (610 + side, 310), (610 + side, 310 + side), (610, 310 + side)]
    np.testing.assert_allclose(sorted(code.corners), sorted(expected), atol=4)


def test_an_empty_frame_gives_nothing(decoder: Decoder) -> None:
    assert decoder.decode(scene(LARGE)) == []
    assert decoder.decode(scene(SMALL)) == []


GARBAGE: dict[str, Callable[[np.random.Generator], object]] = {
    "noise": lambda rng: rng.integers(0, 256, size=LARGE, dtype=np.uint8),
    "noise-bgra": lambda rng: rng.integers(0, 256, size=(*SMALL, 4), dtype=np.uint8),
    "noise-one-channel": lambda rng: rng.integers(0, 256, size=(*SMALL, 1), dtype=np.uint8),
    "two-channels": lambda rng: np.zeros((*SMALL, 2), np.uint8),
    "float": lambda rng: rng.random(SMALL, dtype=np.float32),
    "int16": lambda rng: np.zeros(SMALL, np.int16),
    "zero-by-zero": lambda rng: np.zeros((0, 0), np.uint8),
    "zero-rows": lambda rng: np.zeros((0, 10, 3), np.uint8),
    "one-pixel": lambda rng: np.zeros((1, 1), np.uint8),
    "one-dimensional": lambda rng: np.zeros(100, np.uint8),
    "four-dimensional": lambda rng: np.zeros((2, 2, 2, 2), np.uint8),
    "strided": lambda rng: scene(LARGE, ("]d2" + GS1, 300, 200))[::-1, ::2],
    "not-an-array": lambda rng: b"\x00" * 64,
}


@pytest.mark.parametrize("kind", GARBAGE)
def test_a_garbage_frame_never_raises(decoder: Decoder, kind: str) -> None:
    result = decoder.decode(GARBAGE[kind](np.random.default_rng(3)))  # type: ignore[arg-type]
    assert isinstance(result, list)
    assert all(isinstance(code, Decoded) for code in result)


def test_libdmtx_keeps_the_gs_that_plain_pylibdmtx_loses() -> None:
    decoder = libdmtx_decoder()
    from pylibdmtx.pylibdmtx import decode

    frame = scene(SMALL, ("]d2" + GS1, 40, 30))
    (ours,) = decoder.decode(frame)
    batch, serial = ours.text.split(GS)
    assert (ours.symbology_id, batch, serial) == (
        "]d2",
        "01095060001343521726123110B(2)",
        "21SN(1)A",
    )
    (plain,) = decode(frame)  # what a user of pylibdmtx gets: no FNC1, so no GS and no ]d2
    assert plain.data == GS1.replace(GS, "").encode()


def test_locating_finds_the_code_and_nothing_on_a_plain_belt() -> None:
    (crop,) = candidates(scene(LARGE, ("]d2" + GS1, 600, 300))) or []
    side = render_code("]d2" + GS1, module_px=5).shape[0]
    assert crop.left <= 600 < 600 + side <= crop.right
    assert crop.top <= 300 < 300 + side <= crop.bottom
    assert candidates(scene(LARGE)) == []
    assert candidates(scene(SMALL)) == [Candidate(0, 0, SMALL[1], SMALL[0], None)]  # one crop
    assert candidates(printed(scene(LARGE))) is None  # texture all over: read whole


def test_an_unknown_decoder_is_a_scanner_error() -> None:
    with pytest.raises(ScannerError, match="unknown decoder 'zbar'"):
        make_decoder("zbar")  # type: ignore[arg-type]


def _forget_pylibdmtx(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in sys.modules if name.split(".")[0] == "pylibdmtx"]:
        monkeypatch.delitem(sys.modules, name)


@pytest.mark.parametrize("missing", ["pylibdmtx", "system-library"])
def test_a_missing_libdmtx_is_one_line_saying_what_to_install(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    _forget_pylibdmtx(monkeypatch)
    if missing == "pylibdmtx":
        monkeypatch.setitem(sys.modules, "pylibdmtx", None)
    else:
        monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    with pytest.raises(ScannerError) as raised:
        make_decoder("libdmtx")
    message = str(raised.value)
    assert "\n" not in message
    assert "pip install 'fmd-robot[libdmtx]'" in message
    assert "apt-get install libdmtx0b" in message
