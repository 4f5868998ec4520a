"""The problem codes: a closed set whose values are stable, each with one catalogue entry."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from fmd.codes import ProblemCode
from fmd.codes.problems import CATALOGUE, ProblemKind, _catalogue, problem

# The values are shown by `parse --json` and `scan --json` and kept in the store: never rename.
STABLE_VALUES = {
    "empty", "too-long", "unknown-format", "unknown-ai", "truncated", "trailing-data",
    "conflicting-values", "internal-error", "missing-product-code", "missing-serial",
    "missing-batch", "missing-expiry", "not-serialised", "missing-separator", "caps-lock",
    "keyboard-layout", "ean-appended", "gtin-format", "gtin-check-digit", "ppn-format",
    "ppn-check-digits", "pzn-check-digit", "invalid-date", "invalid-length",
    "invalid-characters", "day-00", "invalid-production-date", "ignored-ai", "digital-link",
    "lowercase-data", "conflicting-product-codes", "nhrn-only", "second-identifier",
    "surrounding-whitespace",
}  # fmt: skip


def test_the_code_values_are_the_stable_strings() -> None:
    assert {code.value for code in ProblemCode} == STABLE_VALUES


def test_the_catalogue_has_an_entry_for_every_code_under_its_own_key() -> None:
    assert set(CATALOGUE) == set(ProblemCode)
    assert all(kind.code is code for code, kind in CATALOGUE.items())


def test_a_catalogue_listing_a_code_twice_or_missing_one_is_refused() -> None:
    kinds = list(CATALOGUE.values())
    again = replace(kinds[1], code=kinds[0].code)
    with pytest.raises(RuntimeError, match=r"listed twice: empty; missing: -$"):
        _catalogue([*kinds, again])
    with pytest.raises(RuntimeError, match=r"listed twice: -; missing: surrounding-whitespace$"):
        _catalogue(kinds[:-1])


def test_the_catalogue_is_read_only() -> None:
    with pytest.raises(TypeError):
        CATALOGUE[ProblemCode.EMPTY] = ProblemKind(ProblemCode.EMPTY, "warning", False, "")  # type: ignore[index]


def test_a_problem_carries_the_member_and_serialises_as_its_value() -> None:
    found = problem(ProblemCode.CAPS_LOCK, detail="aBC")
    assert found.code is ProblemCode.CAPS_LOCK
    assert json.dumps({"code": found.code}) == '{"code": "caps-lock"}'
    assert f"{found.code}" == "caps-lock"


def test_a_catalogue_kind_that_stops_a_scan_yet_says_when_it_is_sent_is_refused() -> None:
    kinds = [replace(k, when_sent="Sent.") if k.code == "empty" else k for k in CATALOGUE.values()]
    with pytest.raises(RuntimeError, match=r"stops the scan, yet says when it is sent: empty$"):
        _catalogue(kinds)
