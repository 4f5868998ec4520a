"""What a DataMatrix decoder returns for one frame, and the protocol decoders keep."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

Frame = npt.NDArray[np.uint8]
"""An OpenCV image: H×W (grey) or H×W×3 (BGR), uint8."""


@dataclass(frozen=True, slots=True)
class Decoded:
    """One code found in a frame: its text exactly as encoded (GS kept) and its AIM identifier."""

    text: str
    symbology_id: str | None
    corners: tuple[tuple[int, int], ...] = ()


class Decoder(Protocol):
    """Finds every DataMatrix code in one frame. Never raises for a frame it cannot read."""

    name: str

    def decode(self, frame: Frame) -> list[Decoded]: ...


def grey(frame: object) -> Frame | None:
    """`frame` as one C-contiguous grey uint8 plane (BGR, BGRA and H×W×1 are converted), or None
    when it is not an 8-bit image with at least one pixel."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.size == 0:
        return None
    if frame.ndim == 3 and frame.shape[2] in (3, 4):
        code = cv2.COLOR_BGR2GRAY if frame.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        return np.asarray(cv2.cvtColor(frame, code), dtype=np.uint8)
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim != 2:
        return None
    return np.ascontiguousarray(frame)
