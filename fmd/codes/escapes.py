"""Control characters spelled for people: `<GS>`, `<RS>`, `<EOT>`, `<FNC1>` and `\\x1d`."""

from __future__ import annotations

import re

_NAMED = {"GS": "\x1d", "FNC1": "\x1d", "RS": "\x1e", "EOT": "\x04", "CR": "\r", "LF": "\n"}
_SPELLED = re.compile(r"<(GS|FNC1|RS|EOT|CR|LF)>|\\x([0-9a-fA-F]{2})", re.IGNORECASE)
_SHOWN = {"\x1d": "<GS>", "\x1e": "<RS>", "\x04": "<EOT>", "\r": "<CR>", "\n": "<LF>"}


def unescape_controls(text: str) -> str:
    """Turn spelled control characters into the characters themselves."""

    def one(match: re.Match[str]) -> str:
        if match.group(1):
            return _NAMED[match.group(1).upper()]
        return chr(int(match.group(2), 16))

    return _SPELLED.sub(one, text)


def show_controls(text: str) -> str:
    """Spell control characters so a scan can be printed and read back."""
    return "".join(
        _SHOWN.get(c, f"\\x{ord(c):02x}") if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text
    )
