"""What a person types for the audit log (a name, a reason), checked once for every way in: the
command line and the screens (pure)."""

from __future__ import annotations

import unicodedata

_NOT_IN_A_LINE = {0x85, 0x2028, 0x2029}  # next line, line and paragraph separators


def line_problem(text: str) -> str | None:
    """Why `text` cannot be one line of the audit log (None: it can): a control character (a
    line break, a terminal escape) would break a line of the log or steer a terminal that
    shows it. Whether it may be empty is the caller's rule."""
    bad = next((c for c in text if unicodedata.category(c) == "Cc" or ord(c) in _NOT_IN_A_LINE),
               None)  # fmt: skip
    if bad is None:
        return None
    return f"holds a control character (U+{ord(bad):04X}): one line of text"
