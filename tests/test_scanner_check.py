"""The scanner check: from a few test scans, what is wrong with the set-up and what to change."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scanners.base import Scan
from scanners.check import CheckReport, Finding, check_scans

GOOD = "]d201086358855027491727103110S7K6F6BL62\x1d2140YGPFZYJC83TT4QOMJA"
OTHER = "]d20108635885502749172804301085L4L7\x1d21JRDXBA9KVQLC688EHW9T"


def scans(*raws: str, symbology: str | None = None) -> list[Scan]:
    at = datetime(2026, 11, 26, tzinfo=UTC)
    return [Scan(raw=r, symbology_id=symbology, source="test", at=at) for r in raws]


def finding(report: CheckReport, topic: str) -> Finding:
    return next(f for f in report.findings if f.topic == topic)


def test_a_well_set_up_scanner_passes_every_check() -> None:
    report = check_scans(scans(GOOD, OTHER))
    assert report.ok
    assert "]d2" in finding(report, "aim-identifier").message
    assert finding(report, "separator").ok


def test_an_identifier_reported_by_a_decoder_counts_as_arriving() -> None:
    report = check_scans(scans(GOOD[3:], symbology="]d2"))
    assert finding(report, "aim-identifier").ok


def test_a_missing_aim_identifier_says_to_switch_the_prefix_on() -> None:
    report = check_scans(scans(GOOD[3:], OTHER))
    aim = finding(report, "aim-identifier")
    assert not aim.ok
    assert "1 of 2" in aim.message
    assert "AIM" in (aim.advice or "")
    assert not report.ok


def test_a_lost_gs_says_to_transmit_fnc1_as_gs() -> None:
    report = check_scans(scans(GOOD.replace("\x1d", ""), OTHER.replace("\x1d", "")))
    separator = finding(report, "separator")
    assert not separator.ok
    assert "2 of 2" in separator.message
    assert "0x1D" in (separator.advice or "")


@pytest.mark.parametrize("substitute", ["|", "~", "^"])
def test_a_printable_substitute_for_gs_is_named(substitute: str) -> None:
    report = check_scans(scans(GOOD.replace("\x1d", substitute)))
    separator = finding(report, "separator")
    assert not separator.ok
    assert repr(substitute) in separator.message
    assert "gs_substitute" in (separator.advice or "")


def test_a_declared_substitute_is_accepted() -> None:
    report = check_scans(scans(GOOD.replace("\x1d", "|")), separators="\x1d|")
    assert finding(report, "separator").ok
    assert report.ok


def test_caps_lock_is_reported_with_advice() -> None:
    report = check_scans(scans(GOOD.swapcase()))
    case = finding(report, "case")
    assert not case.ok
    assert "Caps Lock" in (case.advice or "")


def test_a_keyboard_layout_change_is_reported() -> None:
    german = GOOD.replace("]", "+").replace("Y", "Z")  # ']' typed on a German layout
    report = check_scans(scans(german))
    assert not finding(report, "layout").ok


def test_scans_that_are_not_pack_codes_are_counted() -> None:
    report = check_scans(scans(GOOD, "hello"))
    content = finding(report, "content")
    assert not content.ok
    assert content.message.startswith("1 of 2 scans")


def test_no_scan_at_all_points_at_the_connection() -> None:
    report = check_scans([])
    assert not report.ok
    assert "baud" in (report.findings[0].advice or "")
