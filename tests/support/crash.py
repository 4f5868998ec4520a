"""What the crash-recovery test and its child daemon (`tests/crash_child.py`) agree on."""

from __future__ import annotations

from datetime import date

TODAY = date(2026, 11, 26)
