"""Property tests: encoded UIs parse back exactly; no input makes parse_scan raise."""

from __future__ import annotations

import calendar
import string
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from fmd.codes import PackIdentifier, ParsedScan, ProblemCode, Scheme, parse_scan
from fmd.codes.ai import needs_separator
from fmd.codes.checks import gtin_check_digit, ppn_check_digits, pzn_check_digit
from fmd.codes.encode import encode_gs1, encode_ifa, gs1_values
from fmd.codes.problems import blocks_submit

GS = "\x1d"
TODAY = date(2026, 3, 1)
CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
NHRN_AIS = ("711", "712", "713", "714", "715", "716", "717")


def digits(size: int) -> st.SearchStrategy[str]:
    return st.text(string.digits, min_size=size, max_size=size)


gtins = digits(13).map(lambda body: body + gtin_check_digit(body))
texts = st.text(CSET82, min_size=1, max_size=20)
pzns = (
    digits(7)
    .filter(lambda b: pzn_check_digit(b) is not None)
    .map(lambda b: b + str(pzn_check_digit(b)))
)
nhrns = st.none() | st.tuples(st.just("710"), pzns) | st.tuples(st.sampled_from(NHRN_AIS), texts)


@st.composite
def expiries(draw: st.DrawFn) -> tuple[date, str]:
    """A date inside the GS1 century window around TODAY, sometimes printed with DD=00."""
    day = draw(st.dates(min_value=date(1977, 1, 1), max_value=date(2076, 12, 31)))
    if draw(st.booleans()):
        last = calendar.monthrange(day.year, day.month)[1]
        return day.replace(day=last), day.strftime("%y%m00")
    return day, day.strftime("%y%m%d")


@st.composite
def gs1_uis(draw: st.DrawFn) -> PackIdentifier:
    expiry, raw = draw(expiries())
    nhrn = draw(nhrns)
    return PackIdentifier(
        "GTIN",
        draw(gtins),
        draw(texts),
        draw(texts),
        expiry,
        raw,
        nhrn[1] if nhrn else None,
        nhrn[0] if nhrn else None,
    )


@st.composite
def gs1_scans(draw: st.DrawFn) -> tuple[PackIdentifier, str, str]:
    """A UI as a GS1 element string: random AI order, GS (or a substitute) where required and
    anywhere else at random, with or without symbology identifier and leading FNC1."""
    ui = draw(gs1_uis())
    separators = draw(st.sampled_from([GS, "|", "|~^"]))
    values = gs1_values(ui)
    order = draw(st.permutations(list(values)))
    parts = [draw(st.sampled_from(["]d2", "", GS]))]
    for i, ai in enumerate(order):
        parts += (ai, values[ai])
        last = i == len(order) - 1
        if (needs_separator(ai) and not last) or draw(st.integers(0, 4)) == 0:
            parts.append(draw(st.sampled_from(separators)) * draw(st.integers(1, 2)))
    return ui, "".join(parts), separators


def assert_exact(parsed: ParsedScan, ui: PackIdentifier) -> None:
    assert parsed.ui == ui, parsed.problems
    assert parsed.submit
    assert not blocks_submit(parsed.problems)


@settings(max_examples=400, deadline=None)
@given(gs1_scans())
def test_gs1_scans_parse_back_to_the_same_ui(scan: tuple[PackIdentifier, str, str]) -> None:
    ui, raw, separators = scan
    assert_exact(parse_scan(raw, separators=separators, today=TODAY), ui)


@settings(max_examples=100, deadline=None)
@given(gs1_uis(), st.permutations(["01", "21", "17", "10"]), st.sampled_from(["]d2", None]))
def test_encode_gs1_output_parses_back(
    ui: PackIdentifier, order: list[str], symbology: str | None
) -> None:
    raw = encode_gs1(ui, order=order, symbology=symbology)
    assert_exact(parse_scan(raw, today=TODAY), ui)


PPN_CHARS = string.digits + string.ascii_uppercase
ppns = st.text(PPN_CHARS, min_size=2, max_size=20).map(lambda body: body + ppn_check_digits(body))


@st.composite
def ifa_uis(draw: st.DrawFn) -> PackIdentifier:
    expiry, raw = draw(expiries())
    scheme: Scheme = draw(st.sampled_from(["PPN", "GTIN"]))
    code = draw(ppns if scheme == "PPN" else gtins)
    serial = draw(st.text(PPN_CHARS, min_size=1, max_size=20))
    batch = draw(st.text(PPN_CHARS + "-_", min_size=1, max_size=20))
    return PackIdentifier(scheme, code, serial, batch, expiry, raw)


@settings(max_examples=300, deadline=None)
@given(ifa_uis(), st.permutations(["9N", "1T", "D", "S"]), st.sampled_from(["]d1", None]))
def test_ifa_scans_parse_back_to_the_same_ui(
    ui: PackIdentifier, order: list[str], symbology: str | None
) -> None:
    parsed = parse_scan(encode_ifa(ui, order=order, symbology=symbology), today=TODAY)
    assert_exact(parsed, ui)
    assert parsed.format == "ifa"


def assert_sound(parsed: ParsedScan) -> None:
    assert not parsed.has(ProblemCode.INTERNAL_ERROR), parsed.problems
    assert parsed.submit == (parsed.ui is not None)
    if parsed.submit:
        assert not blocks_submit(parsed.problems)


@settings(max_examples=400, deadline=None)
@given(st.text(st.characters(exclude_categories=())), st.sampled_from([None, "]d2", "]E0"]))
def test_any_text_is_parsed_without_raising(raw: str, symbology: str | None) -> None:
    assert_sound(parse_scan(raw, symbology=symbology, separators=GS + "|"))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_read_as_latin_1_are_parsed_without_raising(data: bytes) -> None:
    assert_sound(parse_scan(data.decode("latin-1")))


FRAGMENTS = [
    "]d2",
    "]d1",
    "]D2",
    "+d2",
    "]E0",
    "[)>\x1e",
    "05\x1d",
    "06\x1d",
    "\x1e",
    "\x04",
    GS,
    "|",
    "https://x/",
    "01",
    "/01/",
    "10",
    "17",
    "21",
    "710",
    "7003",
    "9N",
    "1T",
    "D",
    "S",
    "8P",
    "09506000134352",
    "261231",
    "260200",
    "4006381333931",
    "ß",
    "ü=:",
    "?17=",
    "%",
    "\ud800",
]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=4), max_size=16).map("".join))
def test_code_like_fragments_are_parsed_without_raising(raw: str) -> None:
    assert_sound(parse_scan(raw, separators="|", today=TODAY))
