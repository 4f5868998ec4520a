"""Synthetic camera frames of DataMatrix codes with their ground truth, and videos of them.

Codes are drawn with zxing-cpp's writer (zint), square symbols only (libdmtx cannot read DMRE).
GS1 content goes to zint in its bracketed AI syntax, `[01]…[21]…`, which carries any CSET 82
data including `(` and `)` (the parenthesised HRI syntax cannot); zint places FNC1 itself, so
only canonical element strings can be drawn: no GS after a predefined-length field, none doubled
or trailing. `make_symbol` refuses (ValueError) any text a reader would not get back exactly.
Plain (`]d1`) codes carry ISO 8859-1 text, control characters included (IFA format 06).

A scene puts 0..N codes on a textured conveyor at any angle and module size, with perspective,
lighting gradient, glare, blur and noise; everything comes from one seeded numpy Generator.
Ground truth is each code's scan as a reader reports it: AIM identifier + text (GS kept).
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp

from fmd.codes.checks import gtin_check_digit, ppn_check_digits
from fmd.codes.encode import encode_gs1, encode_ifa
from fmd.codes.gs1 import split_element_string
from fmd.codes.model import PackIdentifier

Image = npt.NDArray[np.uint8]
Floats = npt.NDArray[np.float32]
GS1_ID, PLAIN_ID = "]d2", "]d1"
VIDEO_SUFFIXES = (".mkv", ".avi")
CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class Symbol:
    """A drawn code: its scan (AIM identifier + text) and its modules, 1 px each, 0 = dark."""

    scan: str
    modules: Image


def make_symbol(text: str, gs1: bool | None = None) -> Symbol:
    """The square DataMatrix a reader reports as `text`.

    A leading `]d2` (GS1) or `]d1` (plain) decides the kind; otherwise `gs1` does, and when that
    is None too the code is GS1 if the text can be drawn as GS1, else plain."""
    if text[:3] in (GS1_ID, PLAIN_ID):
        return _symbol(text[3:], text[:3] == GS1_ID)
    if gs1 is not None:
        return _symbol(text, gs1)
    try:
        return _symbol(text, True)
    except ValueError:
        return _symbol(text, False)


@lru_cache(maxsize=1024)
def _symbol(data: str, gs1: bool) -> Symbol:
    kind = "GS1 DataMatrix" if gs1 else "DataMatrix"
    try:
        expected = data.encode("latin-1")
        content = _bracketed(data) if gs1 else data
        code = zxingcpp.create_barcode(
            content, zxingcpp.BarcodeFormat.DataMatrix, gs1=gs1, forceSquare=True
        )
    except ValueError as error:  # zint refused it, or it is not ISO 8859-1
        raise ValueError(f"{data!r} cannot be drawn as a {kind}: {error}") from None
    if not data or code.bytes != expected:
        raise ValueError(f"{data!r} cannot be drawn as a {kind} that reads back exactly")
    modules = np.array(code.to_image(scale=1, add_quiet_zones=False), dtype=np.uint8)
    modules.flags.writeable = False
    return Symbol((GS1_ID if gs1 else PLAIN_ID) + data, modules)


def _bracketed(data: str) -> str:
    """GS1 element strings in zint's `[AI]data` syntax."""
    split = split_element_string(data)
    if split.error is not None:
        raise ValueError(split.error.message)
    if any(c in element.value for element in split.elements for c in "[]"):
        raise ValueError("'[' or ']' in GS1 data")
    return "".join(f"[{element.key}]{element.value}" for element in split.elements)


def render_code(
    text: str, *, gs1: bool | None = None, module_px: int = 4, quiet_modules: int = 2
) -> Image:
    """`make_symbol(text, gs1)` upright and pixel-exact: `module_px` pixels a module, dark 0 on
    light 255, with `quiet_modules` of light margin."""
    modules = np.pad(make_symbol(text, gs1).modules, quiet_modules, constant_values=255)
    return np.kron(modules, np.ones((module_px, module_px), dtype=np.uint8))


# -- scenes -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SceneSettings:
    """How synthetic frames look. Ranges are (low, high), drawn uniformly per frame or per code;
    shares are probabilities per frame (`glare`) or per code (`inverted`)."""

    width: int = 1280
    height: int = 720
    colour: bool = False
    module_px: tuple[float, float] = (3.0, 9.0)
    max_rotation_deg: float = 180.0
    perspective: float = 0.06  # each corner moves up to this share of the symbol's side
    quiet_modules: tuple[int, int] = (2, 4)
    blur_sigma: tuple[float, float] = (0.0, 1.8)
    noise_sigma: tuple[float, float] = (2.0, 14.0)
    lighting: tuple[float, float] = (0.7, 1.1)  # brightness across the frame, one edge to the other
    glare: float = 0.2
    inverted: float = 0.05
    distractors: int = 3  # up to this many code-less boxes on the belt


CONVEYOR = SceneSettings(
    module_px=(5.0, 8.0), max_rotation_deg=30.0, perspective=0.03, noise_sigma=(2.0, 6.0)
)
"""Milder settings for a demo video: most frames of a pack are readable."""


@dataclass(frozen=True, slots=True)
class SyntheticFrame:
    """One frame and its ground truth: the scans of the codes in it, each with its module size."""

    image: Image
    codes: tuple[str, ...]
    module_px: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class _Placement:
    """Where one code goes: its tile (symbol + quiet zone) and the frame points of its corners."""

    symbol: Symbol
    tile: Image
    corners: Floats  # 4×2: the tile's top-left, top-right, bottom-right, bottom-left
    module_px: float


def synthetic_frames(
    contents: Iterable[Sequence[str]], settings: SceneSettings = SceneSettings(), seed: int = 0
) -> Iterator[SyntheticFrame]:
    """One frame per item of `contents`, holding those codes (none: an empty frame), each placed
    at random, fully inside the frame and clear of the others. Texts as for `make_symbol`;
    ValueError when the codes of one item do not fit into the frame even at the smallest module."""
    rng = np.random.default_rng(seed)
    for texts in contents:
        placements = _place_all([make_symbol(text) for text in texts], settings, rng)
        yield _frame(placements, settings, rng)


def _place_all(
    symbols: Sequence[Symbol], settings: SceneSettings, rng: np.random.Generator
) -> list[_Placement]:
    placed: list[_Placement] = []
    for symbol in symbols:
        low, high = settings.module_px
        module = float(rng.uniform(low, high))
        while True:
            spot = _place(symbol, module, settings, rng, placed)
            if spot is not None:
                placed.append(spot)
                break
            if module <= low:
                raise ValueError(f"{len(symbols)} codes do not fit into one frame")
            module = max(low, module * 0.8)
    return placed


def _place(
    symbol: Symbol,
    module_px: float,
    settings: SceneSettings,
    rng: np.random.Generator,
    others: Sequence[_Placement],
    tries: int = 60,
) -> _Placement | None:
    quiet = int(rng.integers(settings.quiet_modules[0], settings.quiet_modules[1] + 1))
    tile = np.pad(symbol.modules, quiet, constant_values=255)
    if rng.random() < settings.inverted:
        tile = 255 - tile
    angle = math.radians(rng.uniform(-settings.max_rotation_deg, settings.max_rotation_deg))
    half = tile.shape[0] * module_px / 2
    square = np.array([(-half, -half), (half, -half), (half, half), (-half, half)])
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    jitter = rng.uniform(-1, 1, size=(4, 2)) * settings.perspective * 2 * half
    shape = square @ rotation.T + jitter
    reach = float(np.hypot(shape[:, 0], shape[:, 1]).max())
    if min(settings.width, settings.height) <= 2 * reach + 2:
        return None
    for _ in range(tries):
        centre = rng.uniform((reach, reach), (settings.width - reach, settings.height - reach))
        if all(
            np.hypot(*(centre - _centre(other))) > reach + _reach(other) + 4 for other in others
        ):
            corners = (shape + centre).astype(np.float32)
            return _Placement(symbol, tile, corners, module_px)
    return None


def _centre(placement: _Placement) -> Floats:
    return np.asarray(placement.corners.mean(axis=0), dtype=np.float32)


def _reach(placement: _Placement) -> float:
    offsets = placement.corners - _centre(placement)
    return float(np.hypot(offsets[:, 0], offsets[:, 1]).max())


def _frame(
    placements: Sequence[_Placement], settings: SceneSettings, rng: np.random.Generator
) -> SyntheticFrame:
    canvas = _background(settings, rng)
    for placement in placements:
        _draw(canvas, placement)
    canvas *= _lighting(settings, rng)
    if rng.random() < settings.glare:
        canvas += _glare(settings, rng)
    sigma = rng.uniform(*settings.blur_sigma)
    if sigma > 0.3:
        canvas = np.asarray(cv2.GaussianBlur(canvas, (0, 0), sigma), dtype=np.float32)
    if settings.colour:
        tint = rng.uniform(0.85, 1.1, size=3).astype(np.float32)
        canvas = canvas[:, :, None] * tint
    canvas += rng.normal(0, rng.uniform(*settings.noise_sigma), canvas.shape).astype(np.float32)
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    return SyntheticFrame(
        image,
        tuple(p.symbol.scan for p in placements),
        tuple(round(p.module_px, 2) for p in placements),
    )


def _background(settings: SceneSettings, rng: np.random.Generator) -> Floats:
    """A conveyor: a textured grey belt with a few code-less boxes on it."""
    width, height = settings.width, settings.height
    coarse = rng.uniform(-25, 25, size=(height // 40 + 2, width // 40 + 2)).astype(np.float32)
    belt = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    canvas = np.asarray(belt, dtype=np.float32) + np.float32(rng.uniform(70, 170))
    for _ in range(int(rng.integers(0, settings.distractors + 1))):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = (int(v) for v in rng.integers(40, 400, size=2))
        canvas[y : y + h, x : x + w] = float(rng.uniform(30, 240))
    return canvas


def _draw(canvas: Floats, placement: _Placement) -> None:
    """Warp the tile onto the canvas, edges blended as a lens would."""
    scale = max(1, round(placement.module_px))
    source = cv2.resize(placement.tile, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    side = float(source.shape[0])
    height, width = canvas.shape
    left, top = (max(0, int(v)) for v in np.floor(placement.corners.min(axis=0)))
    right, bottom = (int(v) + 1 for v in np.ceil(placement.corners.max(axis=0)))
    right, bottom = min(right, width), min(bottom, height)
    square = np.array([(0, 0), (side, 0), (side, side), (0, side)], dtype=np.float32)
    offset = np.array([left, top], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(square, placement.corners - offset)
    size = (right - left, bottom - top)
    ink = cv2.warpPerspective(source.astype(np.float32), matrix, size, flags=cv2.INTER_LINEAR)
    alpha = cv2.warpPerspective(np.ones(source.shape, dtype=np.float32), matrix, size)
    region = canvas[top:bottom, left:right]
    region += alpha * (ink - region)


def _lighting(settings: SceneSettings, rng: np.random.Generator) -> Floats:
    low, high = rng.uniform(*settings.lighting, size=2)
    direction = rng.uniform(0, 2 * math.pi)
    xs = np.linspace(-0.5, 0.5, settings.width, dtype=np.float32)
    ys = np.linspace(-0.5, 0.5, settings.height, dtype=np.float32)
    ramp = math.cos(direction) * xs[None, :] + math.sin(direction) * ys[:, None]
    return np.asarray(low + (high - low) * (ramp + 0.5), dtype=np.float32)


def _glare(settings: SceneSettings, rng: np.random.Generator) -> Floats:
    """A bright reflection: a Gaussian blob somewhere in the frame."""
    cx, cy = rng.uniform((0, 0), (settings.width, settings.height))
    sigma, peak = rng.uniform(20, 120), rng.uniform(60, 180)
    xs = np.arange(settings.width, dtype=np.float32) - cx
    ys = np.arange(settings.height, dtype=np.float32) - cy
    blob = np.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * sigma**2))
    return np.asarray(peak * blob, dtype=np.float32)


# -- the benchmark corpus -----------------------------------------------------------------------


def corpus(
    n: int,
    seed: int,
    settings: SceneSettings = SceneSettings(),
    *,
    empty_share: float = 0.25,
    max_codes: int = 3,
) -> Iterator[SyntheticFrame]:
    """`n` frames of random pack codes (GS1 mostly, a sixth IFA format 06): exactly
    round(n × `empty_share`) of them empty, the others with 1 code (70 %) or 2..`max_codes`."""
    rng = np.random.default_rng(seed)
    empty = set(rng.choice(n, size=round(n * empty_share), replace=False).tolist())
    several = [int(rng.integers(2, max_codes + 1)) if max_codes > 1 else 1 for _ in range(n)]
    counts = [0 if i in empty else 1 if rng.random() < 0.7 else several[i] for i in range(n)]
    contents = [[random_pack_scan(rng) for _ in range(count)] for count in counts]
    return synthetic_frames(contents, settings, seed)


def random_pack_scan(rng: np.random.Generator) -> str:
    """A valid pack UI as a reader reports it: `]d2` GS1 (AIs in one of two orders, an NHRN on a
    fifth) or `]d1` IFA format 06 with a PPN; serial and batch from CSET 82 (so with `(`/`)`)."""
    digits, alnum = string.digits, string.ascii_uppercase + string.digits
    serial = _pick(rng, CSET82, int(rng.integers(1, 21)))
    batch = _pick(rng, CSET82, int(rng.integers(1, 21)))
    expiry = f"{rng.integers(25, 40):02d}{rng.integers(1, 13):02d}{rng.integers(0, 29):02d}"
    if rng.random() < 1 / 6:
        body = "11" + _pick(rng, digits, 8)
        ppn = body + ppn_check_digits(body)
        ui = PackIdentifier("PPN", ppn, _pick(rng, alnum, 12), _pick(rng, alnum, 8), None, expiry)
        return PLAIN_ID + encode_ifa(ui)
    body = "0" + _pick(rng, digits, 12)
    nhrn = _pick(rng, digits, 8) if rng.random() < 0.2 else None
    ui = PackIdentifier("GTIN", body + gtin_check_digit(body), serial, batch, None, expiry, nhrn)
    order = ("01", "21", "17", "10") if rng.random() < 0.5 else ("01", "17", "10", "21")
    return encode_gs1(ui, order=order, symbology=GS1_ID)


def _pick(rng: np.random.Generator, alphabet: str, k: int) -> str:
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), size=k))


# -- videos ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VideoPack:
    """A pack in a delivery video: its scan and the frames (first..last, inclusive) it is in."""

    scan: str
    first_frame: int
    last_frame: int


def write_video(path: Path, frames: Iterable[Image], fps: float = 10.0) -> int:
    """Write `frames` (all one size, grey or BGR) losslessly (FFV1 in .mkv or .avi, so small
    modules survive); the number of frames written."""
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"a video file must end in {' or '.join(VIDEO_SUFFIXES)}: {path}")
    written = 0
    writer: cv2.VideoWriter | None = None
    try:
        for image in frames:
            if writer is None:
                height, width = image.shape[:2]
                fourcc = cv2.VideoWriter.fourcc(*"FFV1")
                writer = cv2.VideoWriter(str(path), fourcc, fps, (width, height), image.ndim == 3)
                if not writer.isOpened():
                    raise OSError(f"cannot write a video to {path}")
            writer.write(image)
            written += 1
    finally:
        if writer is not None:
            writer.release()
    return written


def write_delivery_video(
    path: Path,
    raws: Sequence[str],
    *,
    seed: int = 1,
    settings: SceneSettings = CONVEYOR,
    frames_per_pack: int = 5,
    gap_frames: int = 3,
    fps: float = 10.0,
) -> list[VideoPack]:
    """A conveyor video: each raw scan's code rides across the frame for `frames_per_pack`
    frames, with `gap_frames` empty frames before each pack. Raws as for `make_symbol` (a raw
    that cannot be drawn as GS1 becomes a plain code, as a label printed without FNC1)."""
    rng = np.random.default_rng(seed)
    truth: list[VideoPack] = []

    def frames() -> Iterator[Image]:
        index = 0
        for raw in raws:
            for _ in range(gap_frames):
                yield _frame([], settings, rng).image
            index += gap_frames
            (placement,) = _place_all([make_symbol(raw)], settings, rng)
            for step in _conveyor_steps(placement, settings.width, frames_per_pack):
                yield _frame([replace(placement, corners=step)], settings, rng).image
            truth.append(VideoPack(placement.symbol.scan, index, index + frames_per_pack - 1))
            index += frames_per_pack

    write_video(path, frames(), fps)
    return truth


def _conveyor_steps(placement: _Placement, width: int, count: int) -> Iterator[Floats]:
    """The code's corners in each of `count` frames, moving left to right, inside the frame."""
    xs = placement.corners[:, 0]
    start, end = -float(xs.min()) + 2, width - 3 - float(xs.max())
    for shift in np.linspace(start, end, count) if count > 1 else [0.0]:
        yield placement.corners + np.array([shift, 0], dtype=np.float32)
