"""The GS1 AI table and the element string splitter."""

from __future__ import annotations

import pytest

from fmd.codes.ai import AI_LENGTH_BY_PREFIX, AI_TABLE, needs_separator
from fmd.codes.gs1 import split_element_string

PREDEFINED = {"00": 18, "01": 14, "02": 14, "03": 14, "11": 6, "13": 6, "17": 6, "20": 2}


@pytest.mark.parametrize(("ai", "length"), PREDEFINED.items())
def test_predefined_length_ais_of_genspecs_figure_7_8_5_1(ai: str, length: int) -> None:
    spec = AI_TABLE[ai]
    assert spec.predefined
    assert spec.min_length == spec.max_length == length


def test_trade_measures_and_41n_are_predefined() -> None:
    assert all(AI_TABLE[f"31{n:02d}"].predefined for n in range(6))
    assert AI_TABLE["3695"].predefined
    assert "3106" not in AI_TABLE
    assert all(AI_TABLE[f"41{n}"].predefined for n in range(8))


@pytest.mark.parametrize("ai", ["10", "21", "22", "240", "710", "717", "7003", "8006", "91"])
def test_every_other_ai_needs_a_separator(ai: str) -> None:
    assert needs_separator(ai)


def test_eu_pack_ai_lengths() -> None:
    for ai in ("10", "21", "710", "711", "712", "713", "714", "715", "716", "717"):
        assert (AI_TABLE[ai].min_length, AI_TABLE[ai].max_length) == (1, 20)
    assert (AI_TABLE["7003"].min_length, AI_TABLE["7003"].max_length) == (10, 10)


def test_the_first_two_digits_give_the_length_of_every_ai() -> None:
    assert len(AI_TABLE) == 541  # the GS1 AI list as of biip 5.2 / the Syntax Dictionary
    for ai in AI_TABLE:
        assert AI_LENGTH_BY_PREFIX[ai[:2]] == len(ai)


def test_split_keeps_scan_order_and_skips_separators() -> None:
    text = "\x1d10AB\x1d\x1d17261231" + "0109506000134352" + "0"
    elements, stop, error = split_element_string(text)
    assert [(e.key, e.value) for e in elements] == [
        ("10", "AB"),
        ("17", "261231"),
        ("01", "09506000134352"),
    ]
    assert error is not None  # the trailing "0" is no AI
    assert stop == len(text) - 1
