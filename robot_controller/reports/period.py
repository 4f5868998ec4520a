"""The time range a search, a report or an export covers, from what a person types.

A date (`2026-12-01`) means that whole day in UTC: as `--from` its first instant, as `--to` the
first instant of the next day, so `--from 2026-12-01 --to 2026-12-01` is that one day. A date
and time (`2026-12-01T08:30`, `2026-12-01 08:30:00+01:00`) is that instant; one without a zone
is UTC. `since` is included, `until` excluded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta


class BadPeriod(ValueError):
    """A date that cannot be read, or a range that ends before it starts (one line)."""


@dataclass(frozen=True, slots=True)
class Period:
    """From `since` (included) to `until` (excluded), in UTC; None: open at that end."""

    since: datetime | None = None
    until: datetime | None = None


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?")


def moment(text: str, *, end: bool, option: str) -> datetime:
    """The instant `text` names (see the module); `end`: a bare date means the next midnight."""
    spelled = text.strip()
    try:
        if _DAY.fullmatch(spelled) is None and _INSTANT.fullmatch(spelled) is None:
            raise ValueError(spelled)  # a compact or week date: read by Python, not by people
        if _DAY.fullmatch(spelled):
            day = date.fromisoformat(spelled)
            start = datetime.combine(day, time(), tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        at = datetime.fromisoformat(spelled)
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    except ValueError:
        raise BadPeriod(
            f"{option} {text!r} is not a date (YYYY-MM-DD) or a date and time "
            "(YYYY-MM-DDTHH:MM[:SS][+HH:MM])"
        ) from None
    except OverflowError:  # 9999-12-31 as --to, 0001-01-01T00:00+01:00
        raise BadPeriod(f"{option} {text!r} is beyond the dates that can be read") from None


def period_of(
    since: str | None, until: str | None, *, names: tuple[str, str] = ("--from", "--to")
) -> Period:
    """The period between `--from` and `--to` (either may be missing: open at that end);
    `names`: what the person called them (the options, a form's fields)."""
    period = Period(
        None if since is None else moment(since, end=False, option=names[0]),
        None if until is None else moment(until, end=True, option=names[1]),
    )
    if period.since is not None and period.until is not None and period.since >= period.until:
        raise BadPeriod(f"{names[0]} {since} is not before {names[1]} {until}")
    return period
