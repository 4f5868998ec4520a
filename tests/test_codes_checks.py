"""Check digits, character sets and printed dates (fmd.codes.checks, fmd.codes.dates)."""

from __future__ import annotations

from datetime import date

import pytest

from fmd.codes.checks import (
    gtin_check_digit,
    is_cset82,
    is_digits,
    is_ppn_format,
    is_valid_gtin,
    is_valid_ppn,
    is_valid_pzn,
    non_cset82,
    ppn_check_digits,
    pzn_check_digit,
    pzn_in_product_code,
)
from fmd.codes.dates import full_year, parse_yymmdd, parse_yyyymmdd


@pytest.mark.parametrize(
    ("body", "check"),
    [
        ("0950110102091", "7"),
        ("0345312000001", "1"),
        ("0415003752864", "3"),
        ("9119725340342", "8"),
    ],
)
def test_gtin_check_digit_matches_the_worked_values_of_gs1_md(body: str, check: str) -> None:
    assert gtin_check_digit(body) == check


def test_gtin_check_digit_works_for_every_gtin_length() -> None:
    assert is_valid_gtin("96385074")  # GTIN-8
    assert is_valid_gtin("036000291452")  # UPC-A
    assert is_valid_gtin("4006381333931")  # EAN-13
    assert is_valid_gtin("04150037528643")  # GTIN-14 (German NTIN)


def test_gtin_with_a_wrong_check_digit_or_non_digits_is_not_valid() -> None:
    assert not is_valid_gtin("04150037528642")
    assert not is_valid_gtin("0415003752864X")
    assert not is_valid_gtin("041500375286")  # 12 digits, wrong check
    assert not is_valid_gtin("123")


def test_gtin_check_digit_refuses_non_digits() -> None:
    with pytest.raises(ValueError, match="not digits"):
        gtin_check_digit("12a")


@pytest.mark.parametrize(
    ("body", "check"), [("1103752864", "14"), ("1112345684", "08"), ("1103752870", "77")]
)
def test_ppn_check_digits_match_the_ifa_vectors(body: str, check: str) -> None:
    assert ppn_check_digits(body) == check
    assert is_valid_ppn(body + check)


def test_ppn_with_wrong_check_digits_or_shape_is_not_valid() -> None:
    assert not is_valid_ppn("110375286415")
    assert is_ppn_format("110375286415")
    assert not is_ppn_format("1x0375286414")  # lower case
    assert not is_ppn_format("AB1")  # too short
    assert not is_ppn_format("11037528641A")  # check digits must be digits


@pytest.mark.parametrize(
    ("pzn", "valid"), [("03752864", True), ("12345684", True), ("03752870", True)]
)
def test_pzn8_check_digit_weights_one_to_seven_mod_eleven(pzn: str, valid: bool) -> None:
    assert is_valid_pzn(pzn) is valid
    assert pzn_check_digit(pzn[:7]) == pzn[7]


def test_pzn_with_remainder_ten_is_never_issued() -> None:
    body = "0000200"  # 2 * 5 = 10: remainder 10
    assert pzn_check_digit(body) is None
    assert not any(is_valid_pzn(body + d) for d in "0123456789")


def test_pzn_is_found_inside_german_ppn_and_ntin_only() -> None:
    assert pzn_in_product_code("110375286414") == "03752864"
    assert pzn_in_product_code("04150037528643") == "03752864"
    assert pzn_in_product_code("09506000134352") is None
    assert pzn_in_product_code("120375286414") is None


def test_cset82_accepts_its_82_characters_and_nothing_else() -> None:
    cset82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
    assert len(cset82) == 82
    assert is_cset82(cset82)
    for char in " #$@[\\]^`{|}~\x1dßé\ud800":
        assert not is_cset82(char), repr(char)
    assert non_cset82("AB C#D ") == " #"


def test_is_digits_refuses_unicode_digits() -> None:
    assert is_digits("0123")
    assert not is_digits("²3")
    assert not is_digits("١٢")
    assert not is_digits("")


@pytest.mark.parametrize(
    ("yy", "this_year", "year"),
    [
        (99, 2026, 1999),
        (76, 2026, 2076),
        (77, 2026, 1977),
        (26, 2026, 2026),
        (0, 2080, 2100),
        (30, 2080, 2130),
        (31, 2080, 2031),
    ],
)
def test_full_year_follows_the_gs1_century_rule(yy: int, this_year: int, year: int) -> None:
    assert full_year(yy, this_year) == year


def test_yymmdd_reads_a_valid_date() -> None:
    printed = parse_yymmdd("261231", 2026)
    assert printed.value == date(2026, 12, 31)
    assert not printed.day_unspecified


def test_yymmdd_day_00_is_the_last_day_of_the_month() -> None:
    assert parse_yymmdd("211200", 2026).value == date(2021, 12, 31)
    assert parse_yymmdd("200200", 2026).value == date(2020, 2, 29)
    assert parse_yymmdd("210200", 2026).value == date(2021, 2, 28)
    assert parse_yymmdd("200200", 2026).day_unspecified


@pytest.mark.parametrize(
    "raw", ["261301", "260230", "000000", "260000", "26123", "2612311", "26x231", "２６１２３１"]
)
def test_yymmdd_invalid_dates_have_no_value(raw: str) -> None:
    assert parse_yymmdd(raw, 2026).value is None


def test_yyyymmdd_reads_ifa_production_dates() -> None:
    assert parse_yyyymmdd("20150601") == date(2015, 6, 1)
    assert parse_yyyymmdd("20150631") is None
    assert parse_yyyymmdd("150601") is None
