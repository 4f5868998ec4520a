"""Cutting a WWKS2 byte stream into documents (wwks2.md §2, §7.1)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wwks2.errors import MessageTooLarge, Wwks2Error
from wwks2.framing import Document, Frame, Framer, Skipped

KEEP_ALIVE = b'<WWKS Version="2.0" TimeStamp="2026-03-01T08:00:05Z"><KeepAliveRequest Id="7" Source="999" Destination="100"/></WWKS>'  # noqa: E501
LABEL = (
    b'<WWKS Version="2.0" TimeStamp="2026-03-01T09:00:00Z"><OutputRequest Id="700" Source="100" '
    b'Destination="999"><Details OutputDestination="1"/><Label TemplateId="1"><Content>'
    b"<![CDATA[<WWKS><X/></WWKS> ]] ]> ]]></Content></Label></OutputRequest></WWKS>"
)
STREAM = KEEP_ALIVE + b"\r\n" + LABEL + b"  \n" + KEEP_ALIVE


def documents(frames: list[Frame]) -> list[bytes]:
    return [frame.data for frame in frames if isinstance(frame, Document)]


def test_a_stream_of_documents_is_cut_at_each_end_tag() -> None:
    assert documents(Framer().feed(STREAM)) == [KEEP_ALIVE, LABEL, KEEP_ALIVE]


def test_an_end_tag_inside_cdata_does_not_end_the_message() -> None:
    assert Framer().feed(LABEL) == [Document(LABEL)]


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=20))
def test_any_chunking_of_a_stream_yields_the_same_documents(cuts: list[int]) -> None:
    framer = Framer()
    bounds = [0, *sorted(cuts), len(STREAM)]
    frames = [f for a, b in itertools.pairwise(bounds) for f in framer.feed(STREAM[a:b])]
    assert frames == [Document(KEEP_ALIVE), Document(LABEL), Document(KEEP_ALIVE)]


def test_a_message_cut_mid_way_waits_for_the_rest() -> None:
    framer = Framer()
    assert framer.feed(LABEL[:150]) == []
    assert framer.feed(LABEL[150:]) == [Document(LABEL)]


def test_garbage_between_messages_is_skipped_and_reported() -> None:
    frames = Framer().feed(b"noise" + KEEP_ALIVE + b"\x00\xff" + KEEP_ALIVE)
    assert frames == [
        Skipped(5, b"noise"),
        Document(KEEP_ALIVE),
        Skipped(2, b"\x00\xff"),
        Document(KEEP_ALIVE),
    ]


def test_whitespace_and_an_xml_declaration_before_a_message_are_skipped_silently() -> None:
    frames = Framer().feed(b'\n<?xml version="1.0" encoding="utf-8"?>\r\n' + KEEP_ALIVE)
    assert frames == [Document(KEEP_ALIVE)]


def test_a_look_alike_root_does_not_start_a_message() -> None:
    assert Framer().feed(b"<WWKSX/>" + KEEP_ALIVE) == [
        Skipped(8, b"<WWKSX/>"),
        Document(KEEP_ALIVE),
    ]


def test_a_long_run_of_garbage_is_dropped_as_it_comes() -> None:
    framer = Framer()
    frames = framer.feed(b"x" * 10_000)
    assert sum(frame.length for frame in frames if isinstance(frame, Skipped)) > 9_000
    assert documents(framer.feed(KEEP_ALIVE)) == [KEEP_ALIVE]


def test_a_message_over_the_limit_is_one_line_and_the_next_one_still_arrives() -> None:
    framer = Framer(max_size=200)
    with pytest.raises(MessageTooLarge) as raised:
        framer.feed(b'<WWKS Version="2.0">' + b"<A/>" * 60)
    assert isinstance(raised.value, Wwks2Error)
    assert "\n" not in str(raised.value)
    assert "200 bytes" in str(raised.value)
    assert documents(framer.feed(b"<A/></WWKS>" + KEEP_ALIVE)) == [KEEP_ALIVE]


def test_a_message_whose_end_comes_past_the_limit_keeps_the_one_after_it() -> None:
    framer = Framer(max_size=200)
    assert framer.feed(b'<WWKS Version="2.0">' + b"<A/>" * 40) == []
    with pytest.raises(MessageTooLarge):
        framer.feed(b"<A/>" * 20 + b"</WWKS>" + KEEP_ALIVE)  # the end and the next, in one read
    assert documents(framer.feed(b"")) == [KEEP_ALIVE]


def test_messages_before_an_oversized_one_are_returned_before_the_error() -> None:
    framer = Framer(max_size=len(KEEP_ALIVE))
    assert framer.feed(KEEP_ALIVE + LABEL) == [Document(KEEP_ALIVE)]
    with pytest.raises(MessageTooLarge):
        framer.feed(b"")
    assert framer.feed(KEEP_ALIVE) == [Document(KEEP_ALIVE)]
