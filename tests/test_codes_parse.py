"""parse_scan: routing, separators, envelopes, Digital Link, validation and its limits."""

from __future__ import annotations

from datetime import date

import pytest

from fmd.codes import PackIdentifier, ParsedScan, ProblemCode, parse_scan
from fmd.codes.problems import CATALOGUE

GS, RS, EOT = "\x1d", "\x1e", "\x04"
TODAY = date(2026, 3, 1)
GTIN = "09506000134352"
UI = PackIdentifier("GTIN", GTIN, "SN123", "LOT42", date(2027, 5, 31), "270531")
GS1 = f"01{GTIN}21SN123{GS}1727053110LOT42"


def parse(raw: str, **options: str) -> ParsedScan:
    return parse_scan(raw, today=TODAY, **options)


def codes(parsed: ParsedScan) -> list[str]:
    return [p.code for p in parsed.problems]


# --- routing and symbology identifiers ---------------------------------------------------------


@pytest.mark.parametrize("prefix", ["]d2", "]Q3", "]C1", "]e0", "]d1", "]d7", ""])
def test_gs1_element_string_parses_after_any_symbology_identifier_or_none(prefix: str) -> None:
    parsed = parse(prefix + GS1)
    assert parsed.ui == UI
    assert parsed.format == "gs1"
    assert parsed.symbology == (prefix or None)


def test_symbology_given_by_the_decoder_is_reported() -> None:
    assert parse(GS1, symbology="]d2").symbology == "]d2"


def test_symbology_identifier_in_the_scan_wins_over_the_argument() -> None:
    parsed = parse("]d2" + GS1, symbology="]Q3")
    assert parsed.symbology == "]d2"
    assert parsed.ui == UI


def test_leading_gs_is_fnc1_and_ignored() -> None:
    assert parse(GS + GS1).ui == UI


def test_line_end_left_by_the_scanner_is_ignored() -> None:
    assert parse("]d2" + GS1 + "\r\n").ui == UI


def test_repeated_and_trailing_separators_are_accepted() -> None:
    raw = f"01{GTIN}{GS}{GS}21SN123{GS}{GS}{GS}17270531{GS}10LOT42{GS}"
    parsed = parse(raw)
    assert parsed.ui == UI
    assert parsed.problems == ()


def test_every_character_of_separators_is_a_separator() -> None:
    raw = f"01{GTIN}21SN123|1727053110LOT42"
    assert parse(raw, separators="|").ui == UI
    assert parse(raw.replace("|", "~"), separators="|~").ui == UI
    assert parse(raw.replace("|", GS), separators="|").ui == UI  # GS is always a separator


def test_elements_are_reported_in_scan_order() -> None:
    parsed = parse(GS1)
    assert [e.key for e in parsed.elements] == ["01", "21", "17", "10"]


def test_text_that_is_no_code_is_unknown_and_not_submitted() -> None:
    parsed = parse("hello world")
    assert parsed.format == "unknown"
    assert codes(parsed) == ["unknown-format"]
    assert not parsed.submit


@pytest.mark.parametrize("raw", ["]E04006381333931", "4006381333931", "]E496385074", "96385074"])
def test_plain_ean_is_not_serialised(raw: str) -> None:
    parsed = parse(raw)
    assert parsed.scheme == "GTIN"
    assert parsed.product_code is not None
    assert len(parsed.product_code) == 14
    assert parsed.product_code.lstrip("0") in raw
    assert codes(parsed) == ["not-serialised"]
    assert CATALOGUE[ProblemCode.NOT_SERIALISED].severity == "warning"
    assert parsed.ui is None
    assert not parsed.submit


def test_gtin_only_element_string_is_not_serialised() -> None:
    parsed = parse(f"]d201{GTIN}")
    assert (parsed.product_code, codes(parsed)) == (GTIN, ["not-serialised"])


def test_unknown_ai_is_an_error_and_stops_reading() -> None:
    parsed = parse(f"]d201{GTIN}21SN123{GS}2X1727053110LOT42")
    assert codes(parsed)[0] == "unknown-ai"
    assert [e.key for e in parsed.elements] == ["01", "21"]
    assert not parsed.submit


def test_cut_short_predefined_field_is_truncated() -> None:
    parsed = parse("]d2010950600013")
    assert codes(parsed)[0] == "truncated"
    assert not parsed.has(ProblemCode.NOT_SERIALISED)


def test_ai_7003_needs_a_separator_although_fixed_length() -> None:
    parsed = parse(f"{GS1}{GS}70032705311200{GS}91X")
    assert parsed.ui == UI
    assert [(e.key, e.value) for e in parsed.elements[-2:]] == [("7003", "2705311200"), ("91", "X")]
    assert codes(parsed) == ["ignored-ai"]  # 91 only: 7003 is known


# --- ISO/IEC 15434 envelopes -----------------------------------------------------------------


def ifa(*fields: str, trailer: str = RS + EOT) -> str:
    return f"[)>{RS}06{GS}" + GS.join(fields) + trailer


PPN_UI = PackIdentifier("PPN", "110375286414", "SER1", "B-1_2", date(2027, 5, 31), "270531")


def test_ifa_fields_in_any_order() -> None:
    raw = ifa("SSER1", "D270531", "1TB-1_2", "9N110375286414")
    parsed = parse("]d1" + raw)
    assert parsed.ui == PPN_UI
    assert parsed.format == "ifa"
    assert [e.key for e in parsed.elements] == ["S", "D", "1T", "9N"]


def test_ifa_without_end_of_transmission_is_accepted() -> None:
    assert parse(ifa("9N110375286414", "1TB-1_2", "D270531", "SSER1", trailer="")).ui == PPN_UI


def test_ifa_with_gtin_under_8p() -> None:
    parsed = parse(ifa(f"8P{GTIN}", "1TLOT42", "D270531", "SSN123"))
    assert parsed.ui == UI
    assert parsed.format == "ifa"


def test_ifa_production_date_is_known_and_other_identifiers_are_ignored() -> None:
    parsed = parse(ifa("9N110375286414", "1TB-1_2", "D270531", "SSER1", "16D20250601", "5QX"))
    assert parsed.ui == PPN_UI
    assert codes(parsed) == ["ignored-ai"]


def test_ifa_field_without_data_identifier_is_an_error() -> None:
    parsed = parse(ifa("9N110375286414", "#junk"))
    assert "unknown-ai" in codes(parsed)
    assert not parsed.submit


def test_mixed_envelope_merges_gs1_and_ifa_segments() -> None:
    raw = f"[)>{RS}05{GS}0105000456013482{RS}06{GS}S0000000001{GS}1T00001{GS}D201200{RS}{EOT}"
    parsed = parse(raw)
    assert parsed.format == "gs1"
    assert parsed.ui == PackIdentifier(
        "GTIN", "05000456013482", "0000000001", "00001", date(2020, 12, 31), "201200"
    )


def test_mixed_envelope_with_conflicting_batches_is_not_submitted() -> None:
    raw = f"[)>{RS}05{GS}01{GTIN}10LOT42{RS}06{GS}SSN123{GS}1TLOT43{GS}D270531{RS}{EOT}"
    parsed = parse(raw)
    assert "conflicting-values" in codes(parsed)
    assert parsed.batch == "LOT42"
    assert not parsed.submit


def test_envelope_of_another_format_is_unknown() -> None:
    parsed = parse(f"[)>{RS}01{GS}96123456789{RS}{EOT}")
    assert codes(parsed) == ["unknown-format"]
    assert parsed.format == "unknown"


def test_data_after_the_envelope_is_an_error() -> None:
    parsed = parse(ifa("9N110375286414", "1TB-1_2", "D270531", "SSER1") + "XYZ")
    assert "trailing-data" in codes(parsed)
    assert not parsed.submit


# --- GS1 Digital Link ------------------------------------------------------------------------


def test_digital_link_is_parsed_but_flagged() -> None:
    parsed = parse(f"https://id.example.org/01/{GTIN}/10/LOT42/21/SN123?17=270531")
    assert parsed.format == "gs1-digital-link"
    assert parsed.ui == UI
    assert codes(parsed) == ["digital-link"]
    assert CATALOGUE[ProblemCode.DIGITAL_LINK].severity == "warning"
    assert parsed.submit


@pytest.mark.parametrize("prefix", ["]d1", "]Q1", ""])
def test_digital_link_after_plain_symbology_identifiers(prefix: str) -> None:
    raw = f"{prefix}HTTP://example.com/shop/01/{GTIN}/10/LOT42/21/SN123/?x=1&17=270531"
    assert parse(raw).ui == UI


def test_digital_link_values_are_percent_decoded_and_short_gtins_padded() -> None:
    parsed = parse("https://e.org/01/4006381333931/10/A%2FB/21/S%25N?17=270531&710=03752864")
    assert (parsed.product_code, parsed.batch, parsed.serial) == ("04006381333931", "A/B", "S%N")
    assert (parsed.nhrn, parsed.nhrn_ai) == ("03752864", "710")


def test_web_address_without_gtin_is_unknown() -> None:
    parsed = parse("https://example.org/products/42")
    assert parsed.format == "unknown"
    assert "unknown-format" in codes(parsed)


# --- validation: sent to the hub as scanned ----------------------------------------------------


def test_wrong_gtin_check_digit_is_an_error_but_submitted() -> None:
    parsed = parse(GS1.replace(GTIN, GTIN[:-1] + "3"))
    assert codes(parsed) == ["gtin-check-digit"]
    assert parsed.errors[0].severity == "error"
    assert parsed.submit
    assert parsed.ui is not None


def test_gtin_with_letters_is_a_format_error() -> None:
    parsed = parse(GS1.replace(GTIN, "0950600013435X"))
    assert codes(parsed) == ["gtin-format"]
    assert parsed.submit


def test_wrong_ppn_check_digits_are_an_error_but_submitted() -> None:
    parsed = parse(ifa("9N110375286415", "1TB-1_2", "D270531", "SSER1"))
    assert codes(parsed) == ["ppn-check-digits"]
    assert parsed.submit


def test_malformed_ppn_is_a_format_error() -> None:
    parsed = parse(ifa("9N11-0375286414", "1TB-1_2", "D270531", "SSER1"))
    assert codes(parsed) == ["ppn-format"]


def test_pzn_inside_a_german_ppn_is_checked() -> None:
    parsed = parse(ifa("9N110375286525", "1TB-1_2", "D270531", "SSER1"))  # PPN ok, PZN not
    assert codes(parsed) == ["pzn-check-digit"]
    assert parsed.submit


def test_pzn_inside_a_german_ntin_is_checked() -> None:
    parsed = parse(GS1.replace(GTIN, "04150037528650"))  # GTIN ok, PZN not
    assert codes(parsed) == ["pzn-check-digit"]


def test_pzn_in_ai_710_is_checked() -> None:
    parsed = parse(f"{GS1}{GS}71003752865")
    assert codes(parsed) == ["pzn-check-digit"]
    assert parsed.ui is not None
    assert parsed.ui.nhrn == "03752865"


def test_other_nhrn_ais_are_taken_without_pzn_check() -> None:
    parsed = parse(f"{GS1}{GS}7113400930000120")
    assert parsed.problems == ()
    assert (parsed.nhrn, parsed.nhrn_ai) == ("3400930000120", "711")


def test_second_nhrn_under_another_ai_is_kept_as_element_only() -> None:
    parsed = parse(f"{GS1}{GS}71003752864{GS}712654321")
    assert (parsed.nhrn, parsed.nhrn_ai) == ("03752864", "710")
    assert parsed.elements[-1].key == "712"
    assert parsed.problems == ()


@pytest.mark.parametrize(("field", "value"), [("21", "SN 123"), ("10", "LOT#42"), ("10", "LÉT")])
def test_characters_outside_cset82_are_an_error_but_submitted(field: str, value: str) -> None:
    raw = f"01{GTIN}17270531{field}{value}{GS}" + ("10LOT42" if field == "21" else "21SN123")
    parsed = parse(raw)
    assert "invalid-characters" in codes(parsed)
    assert parsed.submit


def test_serial_longer_than_20_is_an_error_but_submitted() -> None:
    parsed = parse(GS1.replace("SN123", "S" * 21))
    assert codes(parsed) == ["invalid-length"]
    assert parsed.submit


def test_batch_of_20_characters_is_fine() -> None:
    assert parse(GS1.replace("LOT42", "B" * 20)).problems == ()


@pytest.mark.parametrize("raw_date", ["271301", "270230", "000000"])
def test_invalid_expiry_is_an_error_with_no_date_but_submitted(raw_date: str) -> None:
    parsed = parse(GS1.replace("270531", raw_date))
    assert codes(parsed) == ["invalid-date"]
    assert parsed.expiry is None
    assert parsed.ui is not None
    assert (parsed.ui.expiry, parsed.ui.expiry_raw) == (None, raw_date)
    assert parsed.submit


def test_expiry_day_00_is_a_warning() -> None:
    parsed = parse(GS1.replace("270531", "270200"))
    assert parsed.expiry == date(2027, 2, 28)
    assert codes(parsed) == ["day-00"]
    assert parsed.submit


def test_century_follows_the_given_today() -> None:
    raw = GS1.replace("270531", "990101")
    assert parse_scan(raw, today=date(2026, 1, 1)).expiry == date(1999, 1, 1)
    assert parse_scan(raw, today=date(2060, 1, 1)).expiry == date(2099, 1, 1)


def test_invalid_production_date_is_a_warning() -> None:
    parsed = parse(f"{GS1}{GS}11261399")
    assert codes(parsed) == ["invalid-production-date"]
    assert parsed.submit


def test_repeated_ai_with_the_same_value_is_accepted() -> None:
    parsed = parse(f"{GS1}{GS}21SN123")
    assert parsed.ui == UI


def test_repeated_ai_with_another_value_is_a_conflict() -> None:
    parsed = parse(f"{GS1}{GS}21SN124")
    assert codes(parsed) == ["conflicting-values"]
    assert parsed.serial == "SN123"
    assert not parsed.submit


@pytest.mark.parametrize(
    ("raw", "missing"),
    [
        (f"01{GTIN}17270531{GS}10LOT42", "missing-serial"),
        (f"01{GTIN}21SN123{GS}17270531", "missing-batch"),
        (f"01{GTIN}21SN123{GS}10LOT42", "missing-expiry"),
        ("21SN123\x1d1727053110LOT42", "missing-product-code"),
        (f"01{GTIN}17270531{GS}10{GS}21SN123", "missing-batch"),  # empty batch
    ],
)
def test_missing_parts_are_errors_and_not_submitted(raw: str, missing: str) -> None:
    parsed = parse(raw)
    assert codes(parsed) == [missing]
    assert parsed.ui is None
    assert not parsed.submit


def test_lower_case_serial_and_batch_are_only_a_warning() -> None:
    parsed = parse(GS1.replace("SN123", "sn123").replace("LOT42", "lot42"))
    assert codes(parsed) == ["lowercase-data"]
    assert parsed.submit


def test_mixed_case_data_raises_no_warning() -> None:
    assert parse(GS1.replace("SN123", "Sn123")).problems == ()


# --- robustness --------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["", "\r\n", GS, GS * 5, "]d2", "]d2" + GS])
def test_empty_scans_are_reported(raw: str) -> None:
    parsed = parse(raw)
    assert "empty" in codes(parsed)
    assert not parsed.submit


def test_huge_scan_is_refused_unread() -> None:
    parsed = parse("]d201" + "9" * 10_000_000)
    assert codes(parsed) == ["too-long"]
    assert parsed.format == "unknown"
    assert not parsed.submit


@pytest.mark.parametrize(
    "raw",
    ["\ud800", "]d2\udfff", "01\ud800", "[)>\x1e06\x1d\ud800", "http://\ud800/01/x", "]", "]]]"],
)
def test_lone_surrogates_and_odd_brackets_do_not_raise(raw: str) -> None:
    parsed = parse(raw)
    assert not parsed.submit
    assert not parsed.has(ProblemCode.INTERNAL_ERROR)


def test_every_problem_message_is_plain_text_from_the_catalogue() -> None:
    parsed = parse(f"01{GTIN[:-1]}3 21SN 123")
    for found in parsed.problems:
        assert found.severity == CATALOGUE[found.code].severity
        assert found.message
        assert "{" not in found.message


def test_a_fault_inside_the_parser_becomes_a_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr("fmd.codes.parse.read_fields", broken)
    parsed = parse(GS1, symbology="]d2")
    assert codes(parsed) == ["internal-error"]
    assert (parsed.symbology, parsed.submit) == ("]d2", False)
