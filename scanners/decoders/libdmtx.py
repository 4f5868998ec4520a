"""The optional decoder: libdmtx through pylibdmtx's ctypes wrapper, with FNC1 switched on.

`pylibdmtx.decode()` never sets `DmtxPropFnc1`, so libdmtx drops every FNC1 and a GS1 code loses
the GS between a variable-length field and the next AI (batch and serial run together). This
module runs libdmtx's decode loop itself with FNC1 output as GS, and reports FNC1 in the first
position as the identifier `]d2` (taken off the text) as a reader does; any other code is `]d1`.
"""

from __future__ import annotations

import importlib
import warnings
from ctypes import byref, string_at
from functools import partial
from types import ModuleType
from typing import Any

import numpy as np

from scanners.base import ScannerError
from scanners.decoders.base import Decoded, Frame, grey
from scanners.decoders.regions import read_located

GS = 0x1D
FNC1_CODEWORD = 232
MIN_SIDE = 10  # pixels (after shrinking): the smallest symbol has 10×10 modules
INSTALL_HINT = (
    "pip install 'fmd-robot[libdmtx]' and the system library libdmtx "
    "(Debian/Ubuntu: apt-get install libdmtx0b; Fedora: dnf install libdmtx; "
    "macOS: brew install libdmtx)"
)
# Symbol corners in libdmtx's fit space (origin at the finder's corner, y up), in the order
# top-left, top-right, bottom-right, bottom-left of the upright symbol.
_FIT_CORNERS = ((0.0, 1.0), (1.0, 1.0), (1.0, 0.0), (0.0, 0.0))


def load_wrapper() -> ModuleType:
    """pylibdmtx's ctypes wrapper with the system libdmtx loaded, else `ScannerError`."""
    try:
        with warnings.catch_warnings():  # pylibdmtx 0.1.10 still compares versions with distutils
            warnings.simplefilter("ignore", DeprecationWarning)
            return importlib.import_module("pylibdmtx.wrapper")
    except (ImportError, OSError) as error:
        raise ScannerError(
            f"the libdmtx decoder is unavailable ({error}): {INSTALL_HINT}"
        ) from None


class LibdmtxDecoder:
    """DataMatrix codes in a frame with libdmtx, GS1 separators kept.

    `timeout_ms` bounds the search of one frame (libdmtx otherwise scans a frame without a code
    for a long time); `max_count` stops after that many codes; `shrink` decodes a frame shrunk
    by that factor (faster, loses small modules); `locate` reads only the crops where
    `regions.candidates` sees codes, each until as many codes as it saw are found (libdmtx would
    otherwise search on until the timeout).
    The other options are libdmtx's (`DmtxPropScanGap`, `…EdgeThresh`, `…EdgeMin`, `…EdgeMax`,
    `…SquareDevn`, maximum corrections)."""

    name = "libdmtx"

    def __init__(
        self,
        *,
        timeout_ms: int = 200,
        max_count: int | None = None,
        shrink: int = 1,
        gap_size: int | None = None,
        threshold: int | None = None,
        min_edge: int | None = None,
        max_edge: int | None = None,
        deviation: int | None = None,
        corrections: int | None = None,
        locate: bool = True,
    ) -> None:
        if not 1 <= timeout_ms <= 60_000:
            raise ValueError("timeout_ms must be within 1…60000")
        if max_count is not None and max_count < 1:
            raise ValueError("max_count must be ≥ 1")
        if shrink < 1:
            raise ValueError("shrink must be ≥ 1")
        self._dmtx = load_wrapper()
        self.timeout_ms = timeout_ms
        self.max_count = max_count
        self.shrink = shrink
        self.corrections = -1 if corrections is None else corrections
        self.locate = locate
        prop = self._dmtx.DmtxProperty
        wanted = {
            prop.DmtxPropFnc1: GS,
            prop.DmtxPropScanGap: gap_size,
            prop.DmtxPropEdgeThresh: threshold,
            prop.DmtxPropEdgeMin: min_edge,
            prop.DmtxPropEdgeMax: max_edge,
            prop.DmtxPropSquareDevn: deviation,
        }
        self._props = [(int(key), value) for key, value in wanted.items() if value is not None]

    def decode(self, frame: Frame) -> list[Decoded]:
        """Every code libdmtx finds before the timeout; [] for a frame that is not an image."""
        plane = grey(frame)
        if plane is None:
            return []
        dm = self._dmtx
        read = partial(self._read, deadline=dm.dmtxTimeAdd(dm.dmtxTimeNow(), self.timeout_ms))
        codes = read_located(plane, read) if self.locate else read(plane, None)
        return codes[: self.max_count]

    def _read(self, plane: Frame, expected: int | None, deadline: Any) -> list[Decoded]:
        """The codes in one plane (a frame or a crop), searched until `deadline` or, in a crop,
        until the `expected` number of codes is found."""
        if min(plane.shape) < MIN_SIDE * self.shrink:
            return []  # no symbol fits, and libdmtx aborts the process on a tiny image
        limit = self.max_count if expected is None else expected
        dm = self._dmtx
        plane = np.ascontiguousarray(plane)  # libdmtx takes rows back to back; a crop is not
        height, width = plane.shape
        pixels = plane.ctypes.data_as(dm.c_ubyte_p)
        image = dm.dmtxImageCreate(pixels, width, height, dm.DmtxPackOrder.DmtxPack8bppK)
        if not image:
            return []
        try:
            decoder = dm.dmtxDecodeCreate(image, self.shrink)
            if not decoder:
                return []
            try:
                for prop, value in self._props:
                    dm.dmtxDecodeSetProp(decoder, prop, value)
                return self._codes(decoder, deadline, limit, height)
            finally:
                dm.dmtxDecodeDestroy(byref(decoder))
        finally:
            dm.dmtxImageDestroy(byref(image))

    def _codes(self, decoder: Any, deadline: Any, limit: int | None, height: int) -> list[Decoded]:
        dm = self._dmtx
        found: list[Decoded] = []
        while limit is None or len(found) < limit:
            region = dm.dmtxRegionFindNext(decoder, byref(deadline))
            if not region:
                break
            try:
                code = self._message(decoder, region, height)
            finally:
                dm.dmtxRegionDestroy(byref(region))
            if code is not None:
                found.append(code)
        return found

    def _message(self, decoder: Any, region: Any, height: int) -> Decoded | None:
        dm = self._dmtx
        message = dm.dmtxDecodeMatrixRegion(decoder, region, self.corrections)
        if not message:
            return None
        try:
            data = string_at(message.contents.output, message.contents.outputIdx)
            fnc1_first = message.contents.code[0] == FNC1_CODEWORD
        finally:
            dm.dmtxMessageDestroy(byref(message))
        if fnc1_first and data[:1] == bytes([GS]):
            data = data[1:]
        corners = tuple(self._corner(region, x, y, height) for x, y in _FIT_CORNERS)
        return Decoded(data.decode("latin-1"), "]d2" if fnc1_first else "]d1", corners)

    def _corner(self, region: Any, x: float, y: float, height: int) -> tuple[int, int]:
        """A point of the symbol in frame pixels (libdmtx counts rows from the bottom)."""
        point = self._dmtx.DmtxVector2(x, y)
        self._dmtx.dmtxMatrix3VMultiplyBy(point, region.contents.fit2raw)
        return round(point.X * self.shrink), round(height - 1 - point.Y * self.shrink)
