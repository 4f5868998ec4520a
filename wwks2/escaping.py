"""The WWKS2 `\\xHH` escaping of control characters in string values (M6 §5.1). Pure.

Writing follows the Rowa SDK (`Xml/TextConverter.cs`): every character below U+0020 other than
TAB, LF and CR becomes `\\x` and two uppercase hex digits (GS is `\\x1D`). Reading decodes `\\x`
and two hex digits in either case (live robots send `\\x1d`). The spec has no escape for a
backslash; so that every string survives the round trip, a backslash that would otherwise read as
an escape (one followed by `x` and two hex digits) is written `\\x5C`, which every reader of the
spec decodes back to a backslash. Anything else that is not an escape is kept as it is.
"""

from __future__ import annotations

import re

_NEEDS_ESCAPE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]|\\(?=x[0-9A-Fa-f]{2})")
_ESCAPE = re.compile(r"\\x([0-9A-Fa-f]{2})")


def escape(text: str) -> str:
    """`text` with its control characters (and escape-like backslashes) written as `\\xHH`."""
    return _NEEDS_ESCAPE.sub(lambda match: f"\\x{ord(match.group()):02X}", text)


def unescape(text: str) -> str:
    """`text` with every `\\xHH` (hex digits in either case) replaced by the character it names."""
    return _ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), text)
