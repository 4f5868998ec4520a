"""What a code reader can legitimately send as one scan; anything else on the line is garbage.
Pure rules over the bytes of one line (the suffix already taken off).

A pack code is text: a GS1 element string (CSET 82, digits, GS for FNC1), an ISO/IEC 15434
envelope (`[)>` RS `06` GS … RS EOT) or a GS1 Digital Link, optionally after an AIM symbology
identifier such as `]d2`. So a scan holds printable characters of its encoding and no control
character except the separators GS, RS and EOT (a wedge's FNC1 stand-in, such as `|`, is
printable, or turned into GS before the check). A line holding NUL, DEL, any other C0 or C1
control, or a byte its encoding cannot decode, is not a code a reader produced: it is noise
(a wrong baud rate or parity, a loose cable). Damage the parser diagnoses for the operator
(a lost GS, Caps Lock, a keyboard layout, an appended EAN) keeps a scan text: it passes here.
"""

from __future__ import annotations

import codecs
import re
from enum import StrEnum

from fmd.codes.checks import is_valid_gtin

SEPARATORS = frozenset("\x1d\x1e\x04")
"""The only control characters a pack code carries: GS (FNC1), RS and EOT (ISO/IEC 15434)."""

MIN_SCAN_CHARS = 8
"""The shortest code a pack carries is a GTIN-8 (EAN-8): eight digits."""

MAX_SCAN_CHARS = 256
"""The longest plausible FMD code, with room to spare. A GS1 element string with every field at
its longest (gs1.md §1.1): `]d2` 3 + 01 GTIN 16 + 17 expiry 8 + 11 production date 8 + 10 batch
20 + AI + GS 23 + 21 serial 23 + two NHRNs 71x of 20, 24 each = 129; an appended EAN-13 with its
`]E0` (damage the parser diagnoses) makes 145. The longest IFA format 06 envelope (`]d1`, header
7, 9N PPN 22, 1T 20, D, S 20, 8P, 16D, RS EOT) is 119. 256 leaves room for repeated separators
and a GS1 Digital Link on a domain of ordinary length (`https://` + domain + `/01/…/10/…/21/…`
with batch and serial percent-encoded is 164 + the domain). A DataMatrix can hold 2335
characters, but nothing on a pack comes close."""

_CODE_START = re.compile(rb"\][A-Za-z][0-9A-Za-z]|\[\)>\x1e|(?i:https?://)|01(\d{14})")
_ESCAPES = {0x1D: "<GS>", 0x1E: "<RS>", 0x04: "<EOT>", 0x0D: "<CR>", 0x0A: "<LF>", 0x5C: "\\\\"}
_SHOWN_BYTES = 24


class Garbage(StrEnum):
    """Why a line (or a piece of the byte stream) is not a scan."""

    CONTROL = "control characters"
    UNDECODABLE = "bytes not valid in the encoding"
    TOO_LONG = "longer than any pack code"
    TOO_SHORT = "shorter than any pack code"
    CUT_OFF = "cut off"
    STRAY_LINE_END = "a line end other than the suffix"


def is_known_encoding(encoding: str) -> bool:
    """Python can decode `encoding`."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        return False
    return True


def scan_text(data: bytes, encoding: str, *, gs_substitute: str | None = None) -> str | Garbage:
    """The text of `data` when a code reader could have sent it, else why not. A one-character
    `gs_substitute` (a keyboard wedge's FNC1 stand-in) is turned into GS first."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        return Garbage.UNDECODABLE
    if gs_substitute is not None:
        text = text.replace(gs_substitute, "\x1d")
    if not all(c.isprintable() or c in SEPARATORS for c in text):
        return Garbage.CONTROL
    if len(text) > MAX_SCAN_CHARS:
        return Garbage.TOO_LONG
    if len(text) < MIN_SCAN_CHARS:
        return Garbage.TOO_SHORT
    return text


def is_text(data: bytes, encoding: str, *, gs_substitute: str | None = None) -> bool:
    """`data` is text a code reader sends (no control character, valid in the encoding),
    whatever its length."""
    verdict = scan_text(data, encoding, gs_substitute=gs_substitute)
    return verdict not in (Garbage.CONTROL, Garbage.UNDECODABLE)


def code_after_noise(
    data: bytes, encoding: str, *, gs_substitute: str | None = None
) -> tuple[bytes, str] | None:
    """A garbage line that ends with a whole code: noise, then a scan whose suffix ended the
    line. Returns (the noise, the scan's text), or None. A code is found where one starts: an
    AIM identifier (`]` is in no pack code: CSET 82, data identifiers and URIs exclude it), an
    ISO/IEC 15434 header, a Digital Link's scheme, or AI 01 with a valid GTIN-14; the earliest
    such start after bytes that are not text, and whose rest of the line is scan text, wins."""
    for match in _CODE_START.finditer(data):
        start = match.start()
        gtin = match[1]
        if gtin is not None and not is_valid_gtin(gtin.decode()):
            continue
        if is_text(data[:start], encoding, gs_substitute=gs_substitute):
            continue
        text = scan_text(data[start:], encoding, gs_substitute=gs_substitute)
        if not isinstance(text, Garbage):
            return data[:start], text
    return None


def shown(data: bytes) -> str:
    """The first bytes of `data` escaped for a log line: printable ASCII as is, GS, RS, EOT,
    CR and LF by name, any other byte as \\xNN."""
    text = "".join(
        _ESCAPES.get(b, chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}") for b in data[:_SHOWN_BYTES]
    )
    return text + " …" if len(data) > _SHOWN_BYTES else text
