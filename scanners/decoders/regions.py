"""Where a DataMatrix may be in a large frame, so a decoder reads a few crops, not the frame.

A code is a patch dense with strong edges. The frame is halved, its edge strength (Sobel) is
averaged over blocks of 16×16 frame pixels and divided by the median block, which is the
frame's own floor of sensor noise and belt texture. A 2×2 group of blocks at `SEED`× the floor
is a code-like patch; the neighbouring blocks above `GROW`× extend it; the box around them, with
a margin for the quiet zone, is a crop. This costs about 1 ms for 1280×720 on one core.
The ratios were set on synthetic frames (bench/decode.py). A frame textured all over (a floor
above what sensor noise gives, as under a pack's printed artwork) or with crops over half of it
is read whole, which is never worse than not locating at all; a frame smaller than 640×480 is
one crop of itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from scanners.decoders.base import Decoded, Frame

BLOCK = 16
SEED = 3.0
GROW = 1.8
MARGIN = 24
MIN_PIXELS = 640 * 480  # a smaller frame is one crop: cheap to read, and a code may fill it
MAX_SHARE = 0.5  # crops covering more of the frame than this: read the frame whole instead
BUSY = 70.0  # a median block above this is texture all over (sensor noise σ 20 gives 56)
_SQUARE = np.ones((2, 2), np.uint8)
_NEIGHBOURS = np.ones((3, 3), np.uint8)

Read = Callable[[Frame, int | None], list[Decoded]]
"""Decodes a plane; the int is how many codes the locator saw in it (None: not located)."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A crop that may hold codes: left, top, right, bottom (exclusive) in frame pixels, and
    how many code-like patches it holds (at least as many as codes, in practice; None: unknown)."""

    left: int
    top: int
    right: int
    bottom: int
    patches: int | None = 1

    def overlaps(self, other: Candidate) -> bool:
        return (
            self.left < other.right
            and other.left < self.right
            and self.top < other.bottom
            and other.top < self.bottom
        )

    def joined(self, other: Candidate) -> Candidate:
        return Candidate(
            min(self.left, other.left),
            min(self.top, other.top),
            max(self.right, other.right),
            max(self.bottom, other.bottom),
            None if self.patches is None or other.patches is None else self.patches + other.patches,
        )

    @property
    def area(self) -> int:
        return (self.right - self.left) * (self.bottom - self.top)


def candidates(plane: Frame) -> list[Candidate] | None:
    """Crops that may hold a code ([] when none; a small frame is one crop of itself), or None
    when the frame is too busy to locate anything and should be read whole."""
    height, width = plane.shape
    if height * width < MIN_PIXELS:
        return [Candidate(0, 0, width, height, None)]
    half = cv2.resize(plane, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
    dx = cv2.convertScaleAbs(cv2.Sobel(half, cv2.CV_16S, 1, 0))
    dy = cv2.convertScaleAbs(cv2.Sobel(half, cv2.CV_16S, 0, 1))
    grid = (width // BLOCK, height // BLOCK)
    energy = np.asarray(cv2.resize(cv2.add(dx, dy), grid, interpolation=cv2.INTER_AREA), np.float32)
    floor = float(np.median(energy))
    if floor > BUSY:
        return None
    energy /= floor + 1.0
    seeds = (cv2.erode(energy, _SQUARE) >= SEED).astype(np.uint8)
    if not seeds.any():
        return []
    grown = cv2.dilate((energy >= GROW).astype(np.uint8), _NEIGHBOURS)
    _, areas, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    _, patches = cv2.connectedComponents(seeds, connectivity=8)
    inside = seeds.astype(bool)
    pairs = np.unique(np.stack([patches[inside], areas[inside]]), axis=1)
    sx, sy = width / grid[0], height / grid[1]
    found = []
    for area, count in Counter(pairs[1].tolist()).items():
        x, y, w, h = (int(v) for v in stats[area, :4])
        left, top = max(0, int(x * sx) - MARGIN), max(0, int(y * sy) - MARGIN)
        right = min(width, int((x + w) * sx) + MARGIN)
        bottom = min(height, int((y + h) * sy) + MARGIN)
        found.append(Candidate(left, top, right, bottom, count))
    found = _joined(found)
    return None if sum(c.area for c in found) > MAX_SHARE * width * height else found


def _joined(found: list[Candidate]) -> list[Candidate]:
    """Overlapping crops joined into one, so no code is read twice."""
    joined: list[Candidate] = []
    for crop in found:
        while (other := next((c for c in joined if c.overlaps(crop)), None)) is not None:
            joined.remove(other)
            crop = crop.joined(other)
        joined.append(crop)
    return joined


def read_located(plane: Frame, read: Read) -> list[Decoded]:
    """`read` applied crop by crop where `candidates` finds something, or to a busy whole plane.

    A crop that reads nothing is read once more at half size: a blurred or noisy code often reads
    better smaller (zxing-cpp does the same for a whole frame, not for a small crop)."""
    found = candidates(plane)
    if found is None:
        return read(plane, None)
    codes: list[Decoded] = []
    for crop in found:
        pixels = plane[crop.top : crop.bottom, crop.left : crop.right]
        got, scale = read(pixels, crop.patches), 1
        if not got and min(pixels.shape) >= 64:
            size = (pixels.shape[1] // 2, pixels.shape[0] // 2)
            smaller = np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), np.uint8)
            got, scale = read(smaller, crop.patches), 2
        codes += (_moved(code, scale, crop.left, crop.top) for code in got)
    return codes


def _moved(code: Decoded, scale: int, left: int, top: int) -> Decoded:
    corners = tuple((x * scale + left, y * scale + top) for x, y in code.corners)
    return Decoded(code.text, code.symbology_id, corners)
