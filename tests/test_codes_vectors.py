"""The test vectors of reference/gs1.md §6, each as its own test."""

from __future__ import annotations

from datetime import date

from fmd.codes import PackIdentifier, ParsedScan, ProblemCode, parse_scan

GS, RS, EOT = "\x1d", "\x1e", "\x04"
TODAY = date(2026, 3, 1)


def parse(raw: str, **options: str) -> ParsedScan:
    return parse_scan(raw, today=TODAY, **options)


def values(parsed: ParsedScan) -> dict[str, str]:
    return {e.key: e.value for e in parsed.elements}


def test_v1_gs1_datamatrix_guideline_example_without_serial() -> None:
    parsed = parse("]d201034531200000111719112510ABCD1234")
    assert values(parsed) == {"01": "03453120000011", "17": "191125", "10": "ABCD1234"}
    assert parsed.expiry == date(2019, 11, 25)
    assert parsed.symbology == "]d2"
    assert parsed.has(ProblemCode.MISSING_SERIAL)
    assert not parsed.submit


def test_v2_guideline_example_with_serial_is_a_complete_ui() -> None:
    parsed = parse(f"]d201095011010209171719050810ABCD1234{GS}2110")
    assert parsed.ui == PackIdentifier(
        "GTIN", "09501101020917", "10", "ABCD1234", date(2019, 5, 8), "190508"
    )
    assert parsed.submit
    assert parsed.problems == ()


def test_v3_any_other_ai_is_kept_and_ignored() -> None:
    parsed = parse(f"]d2011231231231233310ABC123{GS}99TESTING")
    assert values(parsed) == {"01": "12312312312333", "10": "ABC123", "99": "TESTING"}
    assert parsed.has(ProblemCode.IGNORED_AI)


def test_v5_gs1_qr_code_reads_like_datamatrix() -> None:
    parsed = parse(f"]Q3011231231231233310ABC123{GS}99TESTING")
    assert parsed.symbology == "]Q3"
    assert values(parsed) == {"01": "12312312312333", "10": "ABC123", "99": "TESTING"}


def test_v6_best_before_date_between_gtin_and_batch() -> None:
    parsed = parse("010703206980498815210526100329")
    assert values(parsed) == {"01": "07032069804988", "15": "210526", "10": "0329"}
    assert not parsed.has(ProblemCode.MISSING_SEPARATOR)


def test_v7_batch_swallowing_a_date_is_reported_as_a_missing_separator() -> None:
    parsed = parse("010703206980498810032915210526")
    assert values(parsed) == {"01": "07032069804988", "10": "032915210526"}
    assert parsed.has(ProblemCode.MISSING_SEPARATOR)
    assert parsed.ui is None
    assert not parsed.submit


def test_v8_separator_after_the_batch() -> None:
    parsed = parse(f"0107032069804988100329{GS}15210526")
    assert values(parsed) == {"01": "07032069804988", "10": "0329", "15": "210526"}


def test_v9_substitute_separator_character() -> None:
    parsed = parse("0107032069804988100329|15210526", separators="|")
    assert values(parsed) == {"01": "07032069804988", "10": "0329", "15": "210526"}


def test_v10_expiry_with_day_00_is_the_last_day_of_the_month() -> None:
    parsed = parse("01070320698049881721120010X")
    assert parsed.expiry == date(2021, 12, 31)
    assert parsed.expiry_raw == "211200"
    assert parsed.batch == "X"
    assert parsed.has(ProblemCode.DAY_00)


def test_v12_batch_first_then_expiry_and_gtin() -> None:
    parsed = parse(f"1021072911{GS}172405310100693570007182")
    assert values(parsed) == {"10": "21072911", "17": "240531", "01": "00693570007182"}
    assert parsed.expiry == date(2024, 5, 31)
    assert not parsed.has(ProblemCode.GTIN_CHECK_DIGIT)


def test_v14_german_ntin_with_serial_first() -> None:
    parsed = parse(f"0104150011164140211GTFG32DLF{GS}1723033110158993A")
    assert parsed.ui == PackIdentifier(
        "GTIN", "04150011164140", "1GTFG32DLF", "158993A", date(2023, 3, 31), "230331"
    )
    assert parsed.problems == ()


def test_v15_serial_last() -> None:
    parsed = parse(f"01041500111641401726013110V10025{GS}21JGFMG4P38R")
    assert parsed.ui == PackIdentifier(
        "GTIN", "04150011164140", "JGFMG4P38R", "V10025", date(2026, 1, 31), "260131"
    )


def test_v18_production_date_and_expiry_without_batch() -> None:
    parsed = parse("]d20108430215011539112212221724022021S3736")
    assert values(parsed) == {
        "01": "08430215011539",
        "11": "221222",
        "17": "240220",
        "21": "S3736",
    }
    assert parsed.expiry == date(2024, 2, 20)
    assert parsed.has(ProblemCode.MISSING_BATCH)
    assert not parsed.has(ProblemCode.IGNORED_AI)  # AI 11 is known


def test_v20_serial_with_a_hyphen() -> None:
    parsed = parse(f"0134567890123457103456789{GS}213456789-012")
    assert (parsed.batch, parsed.serial) == ("3456789", "3456789-012")
    assert parsed.has(ProblemCode.MISSING_EXPIRY)
    assert not parsed.has(ProblemCode.MISSING_SEPARATOR)


def test_v21_ntin_only_is_not_serialised() -> None:
    parsed = parse("]d20104150037528643")
    assert (parsed.scheme, parsed.product_code) == ("GTIN", "04150037528643")
    assert parsed.has(ProblemCode.NOT_SERIALISED)
    assert not parsed.submit


def test_v25_german_nhrn_710() -> None:
    parsed = parse(f"]d201041500375286431726123110ABC123{GS}71003752864{GS}21SN12345")
    assert parsed.ui == PackIdentifier(
        "GTIN",
        "04150037528643",
        "SN12345",
        "ABC123",
        date(2026, 12, 31),
        "261231",
        nhrn="03752864",
        nhrn_ai="710",
    )
    assert parsed.problems == ()


def test_v26_ifa_format_06_with_ppn() -> None:
    raw = f"[)>{RS}06{GS}9N110375286414{GS}1T12345ABCD{GS}D150600{GS}S12345ABCDEF98765{RS}{EOT}"
    parsed = parse(raw)
    assert parsed.format == "ifa"
    assert parsed.ui == PackIdentifier(
        "PPN", "110375286414", "12345ABCDEF98765", "12345ABCD", date(2015, 6, 30), "150600"
    )
    assert parsed.nhrn is None
    assert [p.code for p in parsed.problems] == ["day-00"]


def test_v27_ifa_with_ntin_only_is_not_serialised() -> None:
    parsed = parse(f"[)>{RS}06{GS}8P04150047759334{RS}{EOT}")
    assert (parsed.format, parsed.scheme, parsed.product_code) == ("ifa", "GTIN", "04150047759334")
    assert parsed.has(ProblemCode.NOT_SERIALISED)
