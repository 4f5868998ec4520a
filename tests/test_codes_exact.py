"""Exact parsing: one product code per scan, whitespace around a scan is framing, each problem
names its real cause, and no message contradicts whether the scan is sent (`submit`)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from fmd.codes import PackIdentifier, ParsedScan, ProblemCode, parse_scan
from fmd.codes.encode import encode_digital_link, encode_ifa
from fmd.codes.problems import CATALOGUE
from robot_controller.cli import app
from tests.test_codes_parse import EOT, GS, GS1, GTIN, RS, TODAY, UI, codes, ifa, parse
from tests.test_codes_properties import gs1_scans, gs1_uis, ifa_uis

PPN = "110375286414"


# --- 1. two product codes in one scan ----------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        ifa(f"9N{PPN}", f"8P{GTIN}", "1TLOT42", "D270531", "SSN123"),
        ifa(f"8P{GTIN}", f"9N{PPN}", "1TLOT42", "D270531", "SSN123"),
        f"[)>{RS}05{GS}01{GTIN}{RS}06{GS}9N{PPN}{GS}SSN123{GS}1TLOT42{GS}D270531{RS}{EOT}",
        f"{GS1}{GS}0104150037528643",
    ],
    ids=["ifa-ppn-then-gtin", "ifa-gtin-then-ppn", "mixed-05-06", "two-ai-01"],
)
def test_a_scan_with_two_product_codes_is_not_sent(raw: str) -> None:
    parsed = parse(raw)
    assert codes(parsed)[0] == "conflicting-product-codes"
    assert (parsed.submit, parsed.ui) == (False, None)
    message = parsed.problems[0].message
    assert "two product codes" in message
    assert "set the pack aside" in message


def test_the_conflict_names_both_codes_by_scheme_and_key() -> None:
    parsed = parse(ifa(f"9N{PPN}", f"8P{GTIN}", "1TLOT42", "D270531", "SSN123"))
    assert f"PPN {PPN} (DI 9N)" in parsed.problems[0].message
    assert f"GTIN {GTIN} (DI 8P)" in parsed.problems[0].message


def test_the_same_gtin_under_01_and_8p_is_one_product_code() -> None:
    raw = f"[)>{RS}05{GS}01{GTIN}{RS}06{GS}8P{GTIN}{GS}SSN123{GS}1TLOT42{GS}D270531{RS}{EOT}"
    assert parse(raw).ui == UI


# --- 2. whitespace around a scan is framing ----------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [("", "\t"), ("  ", ""), ("", "\r\n"), ("\t", "\n"), (" ", "  \t\r\n"), ("\r\n", "")],
)
def test_whitespace_around_a_scan_is_taken_off_and_noted(before: str, after: str) -> None:
    parsed = parse(before + "]d2" + GS1 + after)
    assert parsed.ui == UI
    assert parsed.submit
    assert codes(parsed) == ["surrounding-whitespace"]
    assert CATALOGUE[ProblemCode.SURROUNDING_WHITESPACE].severity == "warning"
    assert parsed.raw == before + "]d2" + GS1 + after  # the scan is kept as it came


def test_a_keyboard_wedge_tab_suffix_does_not_end_up_in_the_batch() -> None:
    parsed = parse(GS1 + "\t")
    assert parsed.batch == "LOT42"
    assert "Tab after" in parsed.problems[0].message


def test_the_framing_note_spells_out_what_was_taken_off() -> None:
    message = parse("  ]d2" + GS1 + "\r\n").problems[0].message
    assert "2 spaces before" in message
    assert "CR, LF after" in message


def test_whitespace_around_an_ifa_envelope_is_framing_not_trailing_data() -> None:
    parsed = parse(" " + ifa(f"9N{PPN}", "1TB-1", "D270531", "SSER1") + "\t")
    assert parsed.submit
    assert codes(parsed) == ["surrounding-whitespace"]


def test_a_separator_character_is_never_taken_for_framing() -> None:
    parsed = parse(f"01{GTIN}21SN123\t1727053110LOT42\t", separators="\t")
    assert parsed.ui == UI
    assert codes(parsed) == []


@pytest.mark.parametrize("raw", [f"01{GTIN}21SN 123{GS}1727053110LOT42", "]d2 " + GS1])
def test_whitespace_inside_the_code_stays_an_error(raw: str) -> None:
    parsed = parse(raw)
    assert parsed.errors
    assert not parsed.has(ProblemCode.SURROUNDING_WHITESPACE)


def test_whitespace_alone_is_an_empty_scan() -> None:
    assert "empty" in codes(parse(" \t\r\n"))


# --- 3. each message names the right cause -----------------------------------------------------


def test_a_bad_check_ean_13_is_a_wrong_check_digit_not_caps_lock() -> None:
    parsed = parse("]E04006381333932")
    assert codes(parsed) == ["gtin-check-digit"]  # a misread: not taken for a non-serialised pack
    assert parsed.product_code == "04006381333932"
    assert (parsed.submit, parsed.ui) == (False, None)


def test_a_bad_check_ean_13_without_identifier_is_no_purchase_order_number() -> None:
    parsed = parse("4006381333932")  # not AI 400 (customer's purchase order) + data
    assert codes(parsed) == ["gtin-check-digit"]


def test_a_lone_ppn_with_wrong_check_digits_is_a_misread_not_a_plain_pack() -> None:
    assert codes(parse(ifa("9N110375286415"))) == ["ppn-check-digits"]


def test_a_21_character_batch_is_too_long_not_an_appended_ean() -> None:
    parsed = parse(GS1.replace("LOT42", "0" * 21))  # its last 13 digits pass the EAN check
    assert codes(parsed) == ["invalid-length"]
    assert parsed.submit


def test_a_foreign_ean_after_a_batch_is_still_seen() -> None:
    parsed = parse(GS1.replace("LOT42", "LOT42-ABCD") + "4006381333931")
    assert parsed.has(ProblemCode.EAN_APPENDED)
    assert not parsed.submit


@pytest.mark.parametrize("raw", ["01095060001343", "0109506000134", "]d1010950600013"])
def test_a_cut_off_gtin_is_truncated_not_an_unknown_format(raw: str) -> None:
    parsed = parse(raw)
    assert codes(parsed)[0] == "truncated"
    assert parsed.format == "gs1"
    assert not parsed.submit


def test_text_that_starts_with_no_pack_ai_is_still_an_unknown_format() -> None:
    assert codes(parse("12345")) == ["unknown-format"]


@pytest.mark.parametrize("raw", ["]d271000001028", "71000001028", "]d2711340093000021X"])
def test_a_code_with_only_a_national_number_says_so(raw: str) -> None:
    parsed = parse(raw)
    assert codes(parsed) == ["nhrn-only"]
    assert not parsed.submit


@pytest.mark.parametrize(
    "raw",
    [
        f"01{GTIN}17270531{GS}10LOT4221SN123",  # completes the UI
        "010703206980498810032915210526",  # gs1.md V7: a checked date, though no UI
    ],
)
def test_a_lost_separator_is_named_when_the_swallowed_data_shows_it(raw: str) -> None:
    assert codes(parse(raw))[0] == "missing-separator"


def test_an_invalid_date_in_a_scan_that_is_not_sent_does_not_promise_the_hub() -> None:
    parsed = parse(f"01{GTIN}17271301")
    assert codes(parsed) == ["missing-serial", "missing-batch", "invalid-date"]
    assert not any("hub" in p.message for p in parsed.problems)


def test_an_invalid_date_in_a_scan_that_is_sent_says_the_hub_will_be_asked() -> None:
    parsed = parse(GS1.replace("270531", "271301"))
    assert parsed.submit
    assert parsed.problems[0].message.endswith("The hub will be asked as scanned.")


def test_a_symbology_identifier_inside_the_scan_is_a_second_code() -> None:
    parsed = parse("]d2" + GS1 + "]d2")
    assert codes(parsed)[0] == "second-identifier"
    assert parsed.batch == "LOT42]d2"  # shown as read, never repaired
    assert not parsed.submit


def test_when_nothing_is_sent_the_first_error_says_what_to_do() -> None:
    parsed = parse("]D2" + GS1.replace("270531", "271301"))
    assert codes(parsed) == ["caps-lock", "invalid-date"]
    assert "rescan" in parsed.errors[0].message


# --- 4. every problem's text agrees with `submit` ----------------------------------------------

HELD = ("rescan", "scan the", "do not send", "set the pack aside", "not sent")
SENT = ("hub will be asked",)

EXAMPLES = {
    ProblemCode.EMPTY: "",
    ProblemCode.TOO_LONG: "]d201" + "9" * 5000,
    ProblemCode.UNKNOWN_FORMAT: "hello world",
    ProblemCode.UNKNOWN_AI: f"]d201{GTIN}21SN123{GS}2X1727053110LOT42",
    ProblemCode.TRUNCATED: "]d2010950600013",
    ProblemCode.TRAILING_DATA: ifa(f"9N{PPN}", "1TB-1", "D270531", "SSER1") + "XYZ",
    ProblemCode.CONFLICTING_VALUES: f"{GS1}{GS}21SN124",
    ProblemCode.CONFLICTING_PRODUCT_CODES: ifa(f"9N{PPN}", f"8P{GTIN}", "1TB", "D270531", "SS"),
    ProblemCode.MISSING_PRODUCT_CODE: f"21SN123{GS}1727053110LOT42",
    ProblemCode.MISSING_SERIAL: f"01{GTIN}17270531{GS}10LOT42",
    ProblemCode.MISSING_BATCH: f"01{GTIN}21SN123{GS}17270531",
    ProblemCode.MISSING_EXPIRY: f"01{GTIN}21SN123{GS}10LOT42",
    ProblemCode.NOT_SERIALISED: "4006381333931",
    ProblemCode.NHRN_ONLY: "]d271000001028",
    ProblemCode.MISSING_SEPARATOR: f"]d201{GTIN}21SN1231727053110LOT42",
    ProblemCode.CAPS_LOCK: "]D2" + GS1,
    ProblemCode.KEYBOARD_LAYOUT: "+d2" + GS1,
    ProblemCode.EAN_APPENDED: GS1 + GTIN[1:],
    ProblemCode.SECOND_IDENTIFIER: "]d2" + GS1 + "]d2",
    ProblemCode.GTIN_FORMAT: GS1.replace(GTIN, "0950600013435X"),
    ProblemCode.GTIN_CHECK_DIGIT: GS1.replace(GTIN, GTIN[:-1] + "3"),
    ProblemCode.PPN_FORMAT: ifa("9N11-0375286414", "1TB-1", "D270531", "SSER1"),
    ProblemCode.PPN_CHECK_DIGITS: ifa("9N110375286415", "1TB-1", "D270531", "SSER1"),
    ProblemCode.PZN_CHECK_DIGIT: f"{GS1}{GS}71003752865",
    ProblemCode.INVALID_DATE: GS1.replace("270531", "271301"),
    ProblemCode.INVALID_LENGTH: GS1.replace("SN123", "S" * 21),
    ProblemCode.INVALID_CHARACTERS: GS1.replace("SN123", "SN 123"),
    ProblemCode.DAY_00: GS1.replace("270531", "270200"),
    ProblemCode.INVALID_PRODUCTION_DATE: f"{GS1}{GS}11261399",
    ProblemCode.IGNORED_AI: f"{GS1}{GS}91X",
    ProblemCode.DIGITAL_LINK: encode_digital_link(UI),
    ProblemCode.LOWERCASE_DATA: GS1.replace("SN123", "sn123").replace("LOT42", "lot42"),
    ProblemCode.SURROUNDING_WHITESPACE: GS1 + "\t",
}
"""A scan that shows each problem (internal-error needs a fault: tests/test_codes_parse.py)."""


def assert_messages_agree(parsed: ParsedScan) -> None:
    """No message on a scan that is sent asks for a rescan; none on one that is not promises
    the hub."""
    contradictions = HELD if parsed.submit else SENT
    for found in parsed.problems:
        said = [words for words in contradictions if words in found.message.lower()]
        assert not said, (parsed.submit, found)


def test_every_problem_code_but_a_fault_has_an_example() -> None:
    assert set(EXAMPLES) == set(ProblemCode) - {ProblemCode.INTERNAL_ERROR}


@pytest.mark.parametrize("code", list(EXAMPLES))
def test_each_problem_reads_right_in_a_scan_that_is_sent_and_in_one_that_is_not(
    code: ProblemCode,
) -> None:
    parsed = parse(EXAMPLES[code])
    assert parsed.has(code), codes(parsed)
    assert parsed.submit is not CATALOGUE[code].blocks_submit
    assert_messages_agree(parsed)
    held = parse(EXAMPLES[code] + "]d2")  # a second code after it: nothing is sent
    assert not held.submit
    assert_messages_agree(held)


@pytest.mark.parametrize("code", list(ProblemCode), ids=str)
def test_the_catalogue_names_the_hub_only_in_what_happens_to_a_scan_that_is_sent(
    code: ProblemCode,
) -> None:
    kind = CATALOGUE[code]
    assert "hub" not in kind.template
    if kind.blocks_submit:
        assert kind.when_sent == ""
    else:
        assert not any(words in kind.template.lower() for words in HELD)


EDITS = st.sampled_from(["drop", "insert", "swapcase", "cut", "repeat"])
PIECES = st.sampled_from(
    [GS, RS, EOT, " ", "\t", "]d2", "]E0", "ß", "|", "21", "10", "17", "9N", "S", "4006381333931"]
)


@st.composite
def damaged_scans(draw: st.DrawFn) -> str:
    """A valid GS1 or IFA scan with one to three edits a scanner or a person might make."""
    if draw(st.booleans()):
        raw = draw(gs1_scans())[1].replace("|", GS).replace("~", GS).replace("^", GS)
    else:
        raw = encode_ifa(draw(ifa_uis()))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(raw)))
        edit = draw(EDITS)
        if edit == "drop":
            raw = raw[:at] + raw[at + draw(st.integers(1, 3)) :]
        elif edit == "insert":
            raw = raw[:at] + draw(PIECES) + raw[at:]
        elif edit == "swapcase":
            raw = raw.swapcase()
        elif edit == "cut":
            raw = raw[:at]
        else:
            raw = raw[:at] + raw[at:][:8] + raw[at:]
    return raw


@settings(max_examples=300, deadline=None)
@given(damaged_scans())
def test_damaged_scans_never_get_contradictory_messages(raw: str) -> None:
    assert_messages_agree(parse(raw))


# --- 5. whatever wraps a valid UI: the exact UI, or nothing is sent ----------------------------

WRAPPERS = st.just("") | st.lists(
    st.sampled_from([" ", "\t", "\r", "\n", "\r\n", "]d2", "]Q3", "]d1", "]C1", "]e0", "]E0"]),
    min_size=1,
    max_size=3,
).map("".join)
"""Nothing, or whitespace and symbology identifiers in any order."""


@st.composite
def valid_scans(draw: st.DrawFn) -> tuple[PackIdentifier, str, str]:
    """A UI and a scan of it (GS1 element string, IFA envelope or Digital Link), its separators."""
    kind = draw(st.sampled_from(["gs1", "ifa", "link"]))
    if kind == "gs1":
        return draw(gs1_scans())
    if kind == "ifa":
        ui = draw(ifa_uis())
        return ui, encode_ifa(ui, symbology=draw(st.sampled_from(["]d1", None]))), GS
    ui = draw(gs1_uis())
    return ui, encode_digital_link(ui), GS


@settings(max_examples=300, deadline=None)
@given(valid_scans(), WRAPPERS, WRAPPERS)
def test_whatever_wraps_a_valid_ui_gives_it_exactly_or_sends_nothing(
    scan: tuple[PackIdentifier, str, str], before: str, after: str
) -> None:
    ui, raw, separators = scan
    parsed = parse_scan(before + raw + after, separators=separators, today=TODAY)
    assert parsed.ui == ui or not parsed.submit, (parsed.ui, parsed.problems)
    assert_messages_agree(parsed)


# --- the command line shows it ---------------------------------------------------------------

runner = CliRunner()


def test_parse_does_not_tell_a_plain_ean_to_rescan() -> None:
    result = runner.invoke(app, ["parse", "4006381333931"])
    assert result.exit_code == 1
    assert "not-serialised" in result.stdout
    assert "rescan" not in result.stdout


def test_parse_tells_what_to_do_with_a_pack_carrying_two_product_codes() -> None:
    raw = f"[)><RS>06<GS>9N{PPN}<GS>8P{GTIN}<GS>1TLOT42<GS>D270531<GS>SSN123<RS><EOT>"
    result = runner.invoke(app, ["parse", raw])
    assert result.exit_code == 1
    assert "conflicting-product-codes" in result.stdout
    assert "set the pack aside" in " ".join(result.stdout.split())


def test_parse_takes_a_tab_suffix_off_and_says_so() -> None:
    result = runner.invoke(app, ["parse", "--json", "]d2" + GS1.replace(GS, "<GS>") + "\\x09"])
    assert result.exit_code == 0
    assert '"batch": "LOT42"' in result.stdout
    assert "surrounding-whitespace" in result.stdout
