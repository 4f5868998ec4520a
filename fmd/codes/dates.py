"""YYMMDD dates as printed on packs (GS1 AI 11/17, IFA DI D)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from fmd.codes.checks import is_digits


@dataclass(frozen=True, slots=True)
class PrintedDate:
    """A YYMMDD field read as a date: `value` is None when it is not a valid date;
    `day_unspecified` is True for DD=00 (read as the last day of the month)."""

    value: date | None
    day_unspecified: bool = False


_INVALID = PrintedDate(None)


def full_year(yy: int, this_year: int) -> int:
    """The four-digit year of a two-digit year, by the GS1 century rule (GenSpecs §7.12).

    The year is taken from a window of 49 years back to 50 years ahead of `this_year`.
    """
    century = this_year - this_year % 100
    difference = yy - this_year % 100
    if difference >= 51:
        century -= 100
    elif difference <= -50:
        century += 100
    return century + yy


def parse_yymmdd(raw: str, this_year: int) -> PrintedDate:
    """Read six digits YYMMDD; DD=00 means the last day of the month."""
    if len(raw) != 6 or not is_digits(raw):
        return _INVALID
    return _parse_six_digits(raw, this_year)


@lru_cache(maxsize=8192)
def _parse_six_digits(raw: str, this_year: int) -> PrintedDate:
    month, day = int(raw[2:4]), int(raw[4:6])
    if not 1 <= month <= 12:
        return _INVALID
    year = full_year(int(raw[:2]), this_year)
    last_day = calendar.monthrange(year, month)[1]
    if day == 0:
        return PrintedDate(date(year, month, last_day), day_unspecified=True)
    if day > last_day:
        return _INVALID
    return PrintedDate(date(year, month, day))


def parse_yyyymmdd(raw: str) -> date | None:
    """Read eight digits YYYYMMDD (IFA DI 16D); None when it is not a valid date."""
    if len(raw) != 8 or not is_digits(raw):
        return None
    try:
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        return None
