"""The period a search, report or export covers, from what a person types (`--from`, `--to`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from robot_controller.reports.period import BadPeriod, period_of


def test_a_date_is_that_whole_day_in_utc_and_a_zone_is_converted() -> None:
    assert period_of("2026-12-01", "2026-12-01").until == datetime(2026, 12, 2, tzinfo=UTC)
    since = period_of("2026-12-01T08:30+01:00", None).since
    assert since == datetime(2026, 12, 1, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("since", "until"),
    [
        (None, "9999-12-31"),  # the day after it cannot be written
        ("0001-01-01T00:00+01:00", None),  # before year 1 in UTC
        (None, "9999-12-31T23:59-01:00"),  # after year 9999 in UTC
    ],
)
def test_a_date_beyond_what_can_be_read_is_one_line(since: str | None, until: str | None) -> None:
    with pytest.raises(BadPeriod, match="beyond the dates that can be read"):
        period_of(since, until)


@pytest.mark.parametrize(
    "text", ["20261201", "2026-W48", "2026-W48-1", "2026-12-01T10", "2026-335"]
)
def test_only_the_dates_people_write_are_read(text: str) -> None:
    """A compact or week date would be read by Python as an instant, not as the day meant."""
    with pytest.raises(BadPeriod, match="is not a date"):
        period_of(None, text)
