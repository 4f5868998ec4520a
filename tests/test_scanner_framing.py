"""Cutting a scanner's byte stream into lines: the suffix ends a line and nothing else of the line
changes; memory stays bounded; a misconfigured suffix is pointed out once."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scanners.aim import aim_identifier
from serial_io.framing import (
    SUFFIXES,
    FrameEvent,
    Line,
    LineFramer,
    Partial,
    StrayTerminator,
    Suffix,
    TooLong,
)

CODE = b"]d201034531200000111730123110ABCD1234\x1d21SN12345"
IFA = b"[)>\x1e06\x1d9N110375286414\x1d1T12345ABCD\x1e\x04"


def lines(events: list[FrameEvent]) -> list[bytes]:
    return [e.data for e in events if isinstance(e, Line)]


def hints(events: list[FrameEvent]) -> list[StrayTerminator]:
    return [e for e in events if isinstance(e, StrayTerminator)]


@pytest.mark.parametrize("suffix", ["CR", "LF", "CRLF"])
def test_the_configured_suffix_ends_a_line_and_every_other_byte_arrives_exactly(
    suffix: Suffix,
) -> None:
    framer = LineFramer(suffix)
    end = SUFFIXES[suffix]
    events = framer.feed(CODE + end + IFA + end)
    assert lines(events) == [CODE, IFA]
    assert hints(events) == []
    assert framer.buffered == 0


def test_a_line_keeps_every_byte_and_its_aim_prefix() -> None:
    (line,) = LineFramer("CR").feed(CODE + b"\r")
    assert line == Line(CODE)
    assert aim_identifier(CODE.decode()) == "]d2"


@pytest.mark.parametrize(
    ("text", "identifier"),
    [("]d2010", "]d2"), ("]Q3010", "]Q3"), ("]D2010", "]D2"), ("]C1", "]C1"),
     ("010345", None), ("]d", None), ("]2d010", None), ("]d 010", None), ("", None)],
)  # fmt: skip
def test_the_aim_identifier_is_a_bracket_a_letter_and_a_letter_or_digit(
    text: str, identifier: str | None
) -> None:
    assert aim_identifier(text) == identifier


def test_a_line_split_anywhere_across_reads_comes_out_whole() -> None:
    framer = LineFramer("CRLF")
    stream = CODE + b"\r\n"
    out: list[FrameEvent] = []
    for i in range(len(stream)):
        out += framer.feed(stream[i : i + 1])
    assert lines(out) == [CODE]
    assert hints(out) == []


def test_crlf_received_with_suffix_cr_drops_the_lf_and_hints_once() -> None:
    framer = LineFramer("CR")
    events = framer.feed(CODE + b"\r\n" + CODE + b"\r")
    events += framer.feed(b"\n" + CODE + b"\r\n")
    assert lines(events) == [CODE, CODE, CODE]
    assert [(h.configured, h.suggested) for h in hints(events)] == [("CR", "CRLF")]
    assert 'set suffix "CRLF"' in hints(events)[0].advice


def test_crlf_received_with_suffix_lf_drops_the_cr_and_hints_once() -> None:
    framer = LineFramer("LF")
    events = framer.feed(CODE + b"\r")
    events += framer.feed(b"\n" + CODE + b"\r\n")
    assert lines(events) == [CODE, CODE]
    assert [(h.configured, h.suggested) for h in hints(events)] == [("LF", "CRLF")]


@pytest.mark.parametrize(
    ("configured", "sent", "suggested"),
    [("CR", "LF", "LF"), ("LF", "CR", "CR"), ("CRLF", "CR", "CR"), ("CRLF", "LF", "LF")],
)
def test_a_scanner_that_never_sends_the_configured_suffix_is_pointed_out_at_once(
    configured: Suffix, sent: Suffix, suggested: Suffix
) -> None:
    framer = LineFramer(configured)
    events = framer.feed(CODE + SUFFIXES[sent] + CODE + SUFFIXES[sent])
    assert lines(events) == []  # the configured suffix ends a line, nothing else
    assert [h.suggested for h in hints(events)] == [suggested]


def test_blank_lines_are_ignored_silently() -> None:
    framer = LineFramer("CR")
    events = framer.feed(b"\r\r \r\x00\x00\r\t \r" + CODE + b"\r\r")
    assert events == [Line(CODE)]


def test_leading_and_trailing_spaces_of_a_line_are_kept() -> None:
    assert lines(LineFramer("LF").feed(b" 0104150037528643 \n")) == [b" 0104150037528643 "]


@pytest.mark.parametrize(
    "data", [b"\xff\xfe\x80\x91", b"0103\x0045", b"01\x1b[A", b"\x7f", b"\xe401034"]
)
def test_binary_bytes_are_framed_as_they_came(data: bytes) -> None:
    assert LineFramer("CR").feed(data + b"\r") == [Line(data)]  # judging them is the reader's


def test_a_megabyte_without_suffix_is_one_too_long_event_in_bounded_memory() -> None:
    framer = LineFramer("CR", max_line=4096)
    events: list[FrameEvent] = []
    chunk = bytes(range(0x30, 0x7A)) * 100  # 7400 bytes, no CR or LF
    for _ in range(1_000_000 // len(chunk) + 1):
        events += framer.feed(chunk)
        assert framer.buffered <= 4096
    events += framer.feed(b"still the same line\r" + CODE + b"\r")
    too_long = [e for e in events if isinstance(e, TooLong)]
    assert len(too_long) == 1
    assert too_long[0].length > 4096
    assert too_long[0].head == chunk[:32]
    assert lines(events) == [CODE]


def test_a_line_of_exactly_max_line_bytes_passes() -> None:
    framer = LineFramer("LF", max_line=10)
    assert lines(framer.feed(b"0123456789\n")) == [b"0123456789"]
    events = framer.feed(b"0123456789A\n")
    assert [type(e) for e in events] == [TooLong]


def test_each_overlong_line_is_reported_once() -> None:
    framer = LineFramer("CR", max_line=8)
    events = framer.feed(b"x" * 20 + b"\r" + b"ok\r" + b"y" * 9 + b"\r")
    assert [type(e) for e in events] == [TooLong, Line, TooLong]


def test_flush_returns_the_unfinished_line_as_partial_and_starts_afresh() -> None:
    framer = LineFramer("CR")
    assert framer.feed(CODE[:20]) == []
    partial = framer.flush()
    assert partial == Partial(CODE[:20])
    assert framer.flush() is None
    assert lines(framer.feed(CODE + b"\r")) == [CODE]


def test_flush_after_a_cr_awaiting_its_lf_includes_the_cr() -> None:
    framer = LineFramer("CRLF")
    framer.feed(CODE + b"\r")
    assert framer.flush() == Partial(CODE + b"\r")


def test_flush_forgets_blank_input_and_an_overlong_line_already_reported() -> None:
    framer = LineFramer("CR", max_line=4)
    framer.feed(b" \x00 ")
    assert framer.flush() is None
    assert [type(e) for e in framer.feed(b"123456")] == [TooLong]
    assert framer.flush() is None


def test_a_hint_rearmed_by_the_reader_is_given_again() -> None:
    framer = LineFramer("CR")
    assert hints(framer.feed(b"\x8f\n\x00\r")) == [StrayTerminator("CR", "LF")]
    assert hints(framer.feed(b"\x01\n\r")) == []  # once per kind
    framer.rearm_hint("LF")  # the reader judged that LF to be noise
    assert hints(framer.feed(CODE + b"\n" + CODE + b"\r")) == [StrayTerminator("CR", "LF")]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="suffix"):
        LineFramer("TAB")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_line"):
        LineFramer("CR", max_line=0)


# Lines as a scanner sends them: any byte except CR and LF, not blank.
_line = st.binary(min_size=1, max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
_lines = st.lists(_line.filter(lambda b: b.strip(b"\x00 \t\x0b\x0c") != b""), max_size=20)


@given(
    lines_sent=_lines,
    suffix=st.sampled_from(list(SUFFIXES)),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=30),
)
def test_any_lines_in_any_chunking_come_out_exactly(
    lines_sent: list[bytes], suffix: Suffix, cuts: list[int]
) -> None:
    stream = b"".join(line + SUFFIXES[suffix] for line in lines_sent)
    bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    framer = LineFramer(suffix)
    events: list[FrameEvent] = []
    for start, end in itertools.pairwise(bounds):
        events += framer.feed(stream[start:end])
    assert events == [Line(line) for line in lines_sent]
    assert framer.flush() is None
