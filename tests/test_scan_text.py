"""What a code reader can legitimately send: pack codes in every format, damaged or not, are scan
text; control characters, undecodable bytes and lines no pack code could fill are garbage,
reported once per burst with a count, the first bytes escaped and what to check."""

from __future__ import annotations

import pytest

from fmd.codes import parse_scan
from scanners.line_report import GarbageBursts
from scanners.scan_text import (
    MAX_SCAN_CHARS,
    Garbage,
    code_after_noise,
    is_known_encoding,
    scan_text,
    shown,
)
from tests.support.clock import ManualClock
from tests.support.logs import Logs

GS, RS, EOT = "\x1d", "\x1e", "\x04"
CODE = f"]d201034531200000111730123110ABCD1234{GS}21SN12345"
IFA = f"[)>{RS}06{GS}9N110375286414{GS}1T12345ABCD{GS}D150600{GS}S12345ABCDEF98765{RS}{EOT}"
MIXED = f"[)>{RS}05{GS}0105000456013482{RS}06{GS}S0000000001{GS}1T00001{GS}D201200{RS}{EOT}"
LINK = "https://id.example.com/01/09506000134352/10/ABC123/21/SN1234?17=261231"
# Every FMD field at its longest, two NHRNs, and an EAN-13 a multi-code scanner appended.
LONGEST = (
    f"]d20104150037528643172612311124010110{'A' * 20}{GS}21{'B' * 20}{GS}"
    f"710{'C' * 20}{GS}711{'D' * 20}]E04150037528643"
)


@pytest.mark.parametrize(
    "raw",
    [CODE, CODE[3:], IFA, "]d1" + IFA, MIXED, LINK, "]d1" + LINK, "4150037528643",
     "]E04150037528643", "96385074", LONGEST, CODE + GS, CODE.replace(GS, "|")],
)  # fmt: skip
def test_every_format_a_pack_carries_is_scan_text_exactly_as_sent(raw: str) -> None:
    assert scan_text(raw.encode(), "ascii") == raw


@pytest.mark.parametrize(
    ("raw", "encoding", "problem"),
    [
        (CODE.replace(GS, ""), "ascii", "missing-separator"),  # a wedge lost the GS
        (CODE.swapcase(), "ascii", "caps-lock"),
        (CODE.replace("ABCD", "ABßCD"), "utf-8", "keyboard-layout"),  # a German layout
        ("Ü=:" + IFA[3:], "utf-8", "keyboard-layout"),
        (CODE + "3453120000011", "ascii", "ean-appended"),
    ],
)
def test_damage_the_parser_explains_to_the_operator_is_still_scan_text(
    raw: str, encoding: str, problem: str
) -> None:
    text = scan_text(raw.encode(encoding), encoding)
    assert text == raw
    assert problem in [p.code for p in parse_scan(text).problems]


@pytest.mark.parametrize(
    ("data", "encoding", "why"),
    [
        (CODE.encode().replace(b"ABCD", b"AB\x00CD"), "ascii", Garbage.CONTROL),  # NUL
        (CODE.encode() + b"\x7f", "ascii", Garbage.CONTROL),  # DEL
        (b"0104150037528643\x1b[A", "ascii", Garbage.CONTROL),  # ESC
        (CODE.encode().replace(b"\x1d", b"\x1c"), "ascii", Garbage.CONTROL),  # FS, not GS
        (CODE.encode() + b"\t", "ascii", Garbage.CONTROL),
        (b"01041500\n37528643", "ascii", Garbage.CONTROL),  # a line end inside the line
        (b"0104150037528643\x85", "latin-1", Garbage.CONTROL),  # C1 control
        (b"0104150037528643\xe4", "ascii", Garbage.UNDECODABLE),  # parity or baud rate
        (b"0104150037528643\xff\xfe", "utf-8", Garbage.UNDECODABLE),
        (b"9" * (MAX_SCAN_CHARS + 1), "ascii", Garbage.TOO_LONG),
        (b"0415003", "ascii", Garbage.TOO_SHORT),
    ],
)
def test_anything_else_is_garbage_and_says_why(data: bytes, encoding: str, why: Garbage) -> None:
    assert scan_text(data, encoding) is why


def test_the_bound_holds_the_longest_plausible_fmd_code_with_room_to_spare() -> None:
    assert len(LONGEST) == 144
    assert 144 < MAX_SCAN_CHARS < 2335  # a DataMatrix could hold 2335; no pack code needs it
    assert scan_text(b"9" * MAX_SCAN_CHARS, "ascii") == "9" * MAX_SCAN_CHARS


def test_a_wedges_gs_substitute_becomes_gs_even_a_control_character() -> None:
    sent = CODE.replace(GS, "\x1c").encode()
    assert scan_text(sent, "utf-8") is Garbage.CONTROL
    assert scan_text(sent, "utf-8", gs_substitute="\x1c") == CODE
    assert scan_text(CODE.replace(GS, "|").encode(), "utf-8", gs_substitute="|") == CODE


@pytest.mark.parametrize(
    "code", [CODE, CODE[3:], IFA, LINK, "HTTPS://ID.EXAMPLE.COM/01/09506000134352", "]d1" + IFA]
)
def test_a_scan_right_after_noise_on_the_same_line_is_found_where_a_code_starts(
    code: str,
) -> None:
    noise = b"\xf0\x00]x\x8f]d01\xb0" + b"01" + b"4" * 14  # no valid GTIN-14 in the noise
    assert code_after_noise(noise + code.encode(), "ascii") == (noise, code)


def test_no_scan_is_found_in_noise_without_a_whole_code_at_its_end() -> None:
    assert code_after_noise(CODE.encode(), "ascii") is None  # the line itself is the code
    assert code_after_noise(b"\xf0\x00" + CODE[5:].encode(), "ascii") is None  # no start
    assert code_after_noise(b"\xf0" + CODE.encode() + b"\x00", "ascii") is None  # noise after
    assert code_after_noise(b"\xf0\x00]d2abc", "ascii") is None  # too short for a code


def test_encodings_are_checked_by_name() -> None:
    assert is_known_encoding("ascii")
    assert is_known_encoding("utf-8")
    assert not is_known_encoding("klingon")


def test_bytes_are_shown_escaped_and_cut_short() -> None:
    assert shown(b"]d2\x1d\x1e\x04\r\n\x00\xff\\") == "]d2<GS><RS><EOT><CR><LF>\\x00\\xff\\\\"
    assert shown(b"x" * 100) == "x" * 24 + " …"


def garbage_warnings(logs: Logs) -> list[dict[str, object]]:
    return [dict(e) for e in logs if e["event"] == "scanner.garbage"]


def test_one_warning_per_burst_with_its_count_and_first_bytes(logs: Logs) -> None:
    clock = ManualClock()
    bursts = GarbageBursts("serial:test", "check the baud rate", clock=clock, quiet_s=1.0)
    for _ in range(50):
        bursts.add(Garbage.CONTROL, b"\xf0\x00abc")
        clock.now += 0.01
    bursts.add(Garbage.TOO_LONG, b"0123", size=5000)
    assert bursts.quiet_in() == pytest.approx(1.0)
    bursts.report_if_quiet()
    assert garbage_warnings(logs) == []  # the burst goes on
    clock.now += 1.0
    bursts.report_if_quiet()
    (warning,) = garbage_warnings(logs)
    assert warning == {
        "event": "scanner.garbage",
        "log_level": "warning",
        "source": "serial:test",
        "count": 51,
        "bytes": 50 * 5 + 5000,
        "why": "control characters: 50, longer than any pack code: 1",
        "first_bytes": "\\xf0\\x00abc",
        "advice": "check the baud rate",
    }
    assert bursts.quiet_in() is None
    assert bursts.bursts == 1


def test_garbage_that_never_stops_is_reported_once_a_minute(logs: Logs) -> None:
    clock = ManualClock()
    bursts = GarbageBursts("serial:test", "check", clock=clock, longest_s=60.0)
    for _ in range(1_200):  # ten minutes, a piece every half second
        bursts.add(Garbage.CONTROL, b"\x00")
        clock.now += 0.5
    bursts.report()
    counts = [w["count"] for w in garbage_warnings(logs)]
    assert counts == [120] * 10


def test_nothing_to_report_logs_nothing(logs: Logs) -> None:
    bursts = GarbageBursts("serial:test", "check")
    bursts.report()
    bursts.report_if_quiet()
    assert logs == []
