"""DataMatrix decoders for the camera: `zxing` (default) and `libdmtx` (optional extra)."""

from __future__ import annotations

from typing import Any, Literal

from scanners.base import ScannerError
from scanners.decoders.base import Decoded, Decoder, Frame

__all__ = ["DECODER_NAMES", "Decoded", "Decoder", "DecoderName", "Frame", "make_decoder"]

DecoderName = Literal["zxing", "libdmtx"]
DECODER_NAMES: tuple[DecoderName, ...] = ("zxing", "libdmtx")


def make_decoder(name: DecoderName, **options: Any) -> Decoder:
    """The decoder called `name`, built with its keyword `options`; `ScannerError` for an
    unknown name or a decoder whose library is missing."""
    if name == "zxing":
        from scanners.decoders.zxing import ZxingDecoder

        return ZxingDecoder(**options)
    if name == "libdmtx":
        from scanners.decoders.libdmtx import LibdmtxDecoder

        return LibdmtxDecoder(**options)
    raise ScannerError(f"unknown decoder {name!r}: choose one of {', '.join(DECODER_NAMES)}")
