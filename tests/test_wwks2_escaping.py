"""The WWKS2 `\\xHH` escaping of control characters in strings (wwks2.md §3)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from wwks2.escaping import escape, unescape

GS = "\x1d"


def test_a_group_separator_is_written_as_uppercase_hex() -> None:
    assert escape(f"0104150000000015{GS}21K3F9Q2") == "0104150000000015\\x1D21K3F9Q2"


def test_tab_line_feed_and_carriage_return_are_written_as_they_are() -> None:
    assert escape("a\tb\nc\rd") == "a\tb\nc\rd"


def test_every_other_c0_character_is_escaped() -> None:
    controls = "".join(chr(code) for code in range(0x20) if code not in (0x09, 0x0A, 0x0D))
    assert escape(controls) == "".join(f"\\x{ord(char):02X}" for char in controls)


def test_the_live_robots_lower_case_escape_is_decoded() -> None:
    assert unescape("010541506230323821128302034892\\x1d1729033110B32542") == (
        f"010541506230323821128302034892{GS}1729033110B32542"
    )


def test_both_cases_of_hex_digits_decode_to_the_same_character() -> None:
    assert unescape("\\x1e\\x1E\\x04") == "\x1e\x1e\x04"


def test_a_backslash_that_is_not_an_escape_is_kept() -> None:
    assert unescape("C:\\x4 \\y \\X1D \\x") == "C:\\x4 \\y \\X1D \\x"


def test_a_backslash_that_would_read_as_an_escape_is_written_as_one() -> None:
    assert escape("\\x41") == "\\x5Cx41"
    assert unescape("\\x5Cx41") == "\\x41"


@given(st.text())
def test_any_string_survives_escaping(text: str) -> None:
    assert unescape(escape(text)) == text


@given(st.text())
def test_an_escaped_string_holds_no_control_character_but_tab_lf_cr(text: str) -> None:
    assert re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", escape(text)) is None
