"""Damage from scanners and their set-up: reported as errors, never repaired, never submitted."""

from __future__ import annotations

from datetime import date

import pytest

from fmd.codes import PackIdentifier, ParsedScan, ProblemCode, parse_scan
from fmd.codes.encode import encode_gs1
from fmd.codes.problems import CATALOGUE

GS, RS, EOT = "\x1d", "\x1e", "\x04"
TODAY = date(2026, 3, 1)
GTIN = "09506000134352"
UI = PackIdentifier("GTIN", GTIN, "SN123", "LOT42", date(2027, 5, 31), "270531")
GS1 = f"01{GTIN}21SN123{GS}1727053110LOT42"
DAMAGE = ("missing-separator", "caps-lock", "keyboard-layout", "ean-appended")


def parse(raw: str, **options: str) -> ParsedScan:
    return parse_scan(raw, today=TODAY, **options)


def assert_damaged(parsed: ParsedScan, code: str) -> None:
    assert parsed.has(ProblemCode(code)), [p.code for p in parsed.problems]
    assert parsed.ui is None
    assert not parsed.submit


@pytest.mark.parametrize("code", DAMAGE)
def test_damage_kinds_are_errors_that_block_submission(code: str) -> None:
    assert CATALOGUE[ProblemCode(code)].severity == "error"
    assert CATALOGUE[ProblemCode(code)].blocks_submit


# --- missing separator -------------------------------------------------------------------------


def test_batch_swallowing_the_serial_is_a_missing_separator() -> None:
    raw = encode_gs1(UI, order=("01", "17", "10", "21"), separator="", symbology=None)
    parsed = parse(raw)
    assert_damaged(parsed, "missing-separator")
    assert parsed.batch == "LOT4221SN123"  # reported as read, not repaired
    assert parsed.serial is None
    assert "FNC1 as GS" in parsed.errors[0].message


def test_serial_swallowing_expiry_and_batch_is_a_missing_separator() -> None:
    assert_damaged(parse(f"]d201{GTIN}21SN1231727053110LOT42"), "missing-separator")


def test_missing_separator_is_reported_before_the_missing_fields() -> None:
    parsed = parse(f"01{GTIN}17270531" + "10LOT4221SN123")
    assert [p.code for p in parsed.problems] == ["missing-separator", "missing-serial"]


def test_complete_ui_whose_serial_merely_looks_like_ais_is_not_damaged() -> None:
    parsed = parse(f"01{GTIN}17270531{GS}10LOT42{GS}21AB1727053110X")
    assert parsed.submit
    assert parsed.problems == ()


def test_variable_field_with_nothing_plausible_inside_is_only_missing() -> None:
    parsed = parse(f"01{GTIN}17270531{GS}10LOT42")
    assert [p.code for p in parsed.problems] == ["missing-serial"]


def test_ifa_batch_swallowing_the_expiry_is_a_missing_separator() -> None:
    raw = f"[)>{RS}06{GS}9N110375286414{GS}1TB12D270531{GS}SSER1{RS}{EOT}"
    assert_damaged(parse(raw), "missing-separator")


# --- Caps Lock ---------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["]D2", "]D1", "]q3", "]c1"])
def test_symbology_identifier_with_inverted_case_is_caps_lock(prefix: str) -> None:
    parsed = parse(prefix + GS1)
    assert_damaged(parsed, "caps-lock")
    assert parsed.symbology == prefix
    assert parsed.serial == "SN123"  # the fields are still shown


def test_gs1_data_behind_an_ean_identifier_is_caps_lock() -> None:
    assert_damaged(parse("]E0" + GS1), "caps-lock")


def test_ifa_data_identifiers_in_lower_case_are_caps_lock() -> None:
    raw = f"[)>{RS}06{GS}9n110375286414{GS}1tb-1_2{GS}d270531{GS}sser1{RS}{EOT}"
    parsed = parse(raw)
    assert_damaged(parsed, "caps-lock")
    assert parsed.product_code == "110375286414"


def test_lower_case_data_alone_is_not_caps_lock() -> None:
    parsed = parse("]d2" + GS1.replace("SN123", "sn123").replace("LOT42", "lot42"))
    assert not parsed.has(ProblemCode.CAPS_LOCK)
    assert parsed.has(ProblemCode.LOWERCASE_DATA)
    assert parsed.submit


# --- keyboard layout ---------------------------------------------------------------------------


def test_bracket_typed_as_plus_is_a_keyboard_layout() -> None:
    parsed = parse("+d2" + GS1)
    assert_damaged(parsed, "keyboard-layout")
    assert parsed.symbology == "+d2"


def test_plus_and_inverted_case_are_both_reported() -> None:
    parsed = parse("+D2" + GS1)
    assert parsed.has(ProblemCode.KEYBOARD_LAYOUT)
    assert parsed.has(ProblemCode.CAPS_LOCK)


@pytest.mark.parametrize("sign", ["ß", "ü", "ö", "ä", "´", "§", "Ö"])
def test_layout_characters_in_the_data_are_a_keyboard_layout(sign: str) -> None:
    assert_damaged(parse(GS1.replace("LOT42", f"LOT{sign}42")), "keyboard-layout")


def test_envelope_header_typed_in_a_german_layout_is_a_keyboard_layout() -> None:
    raw = f"ü=:{RS}06{GS}9N110375286414{GS}1TB-1_2{GS}D270531{GS}SSER1{RS}{EOT}"
    parsed = parse(raw)
    assert_damaged(parsed, "keyboard-layout")
    assert parsed.format == "ifa"


# --- EAN appended ------------------------------------------------------------------------------


def test_own_ean_appended_to_the_last_batch_is_detected() -> None:
    parsed = parse(GS1 + GTIN[1:])
    assert_damaged(parsed, "ean-appended")
    assert parsed.batch == "LOT42" + GTIN[1:]


def test_foreign_ean_making_the_last_field_too_long_is_detected() -> None:
    parsed = parse(GS1.replace("LOT42", "LOT42ABCDE") + "4006381333931")
    assert_damaged(parsed, "ean-appended")


def test_ean_after_a_separator_or_its_own_identifier_is_detected() -> None:
    assert_damaged(parse(f"]d2{GS1}{GS}4006381333931"), "ean-appended")
    assert_damaged(parse(f"]d2{GS1}]E04006381333931"), "ean-appended")
    assert_damaged(parse(f"]d201{GTIN}21SN123{GS}10LOT42{GS}172705314006381333931"), "ean-appended")


def test_ean_after_an_ifa_envelope_is_detected() -> None:
    raw = f"[)>{RS}06{GS}9N110375286414{GS}1TB-1_2{GS}D270531{GS}SSER1{RS}{EOT}4006381333931"
    assert_damaged(parse(raw), "ean-appended")


def test_numeric_serial_that_ends_like_an_ean_is_not_flagged() -> None:
    parsed = parse(f"01{GTIN}1727053110LOT42{GS}2112344006381333931")  # 18 digits, not own GTIN
    assert parsed.submit
    assert parsed.problems == ()
