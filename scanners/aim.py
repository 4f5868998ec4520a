"""The AIM symbology identifier a scanner may put before a code."""

from __future__ import annotations


def aim_identifier(text: str) -> str | None:
    """The AIM symbology identifier (`]d2`, `]Q3`, …) at the start of `text`, else None."""
    head = text[:3]
    if len(head) == 3 and head.isascii() and head[0] == "]" and head[1].isalpha():
        return head if head[2].isalnum() else None
    return None
