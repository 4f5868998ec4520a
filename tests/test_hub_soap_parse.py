"""The SOAP XML as pure functions: round trips, and readers that never raise on any input."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from fmd.codes.model import PackIdentifier
from fmd.hub import HubResult, PackState, Reason
from fmd.hub import returncodes as rc
from fmd.hub.soap_codes import outcome_of
from fmd.hub.soap_names import VERIFY
from fmd.hub.soap_requests import Login, Software, parse_request, single_request
from fmd.hub.soap_responses import (
    bulk_result_response,
    check_http,
    read_bulk_result,
    read_bulk_submit,
    read_ping,
    read_single_response,
    single_response,
)
from fmd.hub.soap_xml import SoapError, fault

UI = PackIdentifier("GTIN", "04006381333931", "S/1%", "B-1", None, "261200", "ABCD1234")
LOGIN = Login("PHARMACY01", "robot01", "sim-password-1")
SOFTWARE = Software("fmd-robot", "tests", "1")
TRX = "trx-1"

words = st.from_regex(r"[A-Za-z0-9:_ -]{0,40}", fullmatch=True)
results = st.builds(
    HubResult,
    outcome=st.sampled_from(["ok", "refused", "technical", "rate_limited", "invalid_request"]),
    return_code=st.sampled_from(sorted(rc.DESCRIPTIONS)),
    state=st.sampled_from(list(PackState)),
    reasons=st.lists(st.sampled_from(list(Reason)), max_size=3).map(tuple),
    client_trx_id=st.just(TRX),
    hub_trx_id=st.from_regex(r"[0-9a-f]{32}", fullmatch=True),
    at=st.datetimes(timezones=st.just(UTC)),
    alert_id=st.none() | st.from_regex(r"ALR-[0-9A-F]{1,16}", fullmatch=True),
    message=words,
    intermarket=st.booleans(),
)


@given(results)
def test_single_response_round_trip(result: HubResult) -> None:
    parsed = read_single_response(single_response(VERIFY, UI, result), code=VERIFY, client_trx=TRX)
    expected_outcome = outcome_of(result.return_code, alert=result.alert_id is not None)
    assert parsed.outcome == expected_outcome
    assert parsed == replace(result, outcome=expected_outcome)


def test_request_round_trip() -> None:
    request = parse_request(
        single_request("G121", LOGIN, SOFTWARE, TRX, UI, ref_trx="ref-1"), this_year=2025
    )
    assert (request.code, request.login, request.client_trx, request.ref_trx) == (
        "G121",
        LOGIN,
        TRX,
        "ref-1",
    )
    assert request.ui is not None
    assert request.ui.expiry is not None
    assert request.ui.expiry.day == 31
    assert request.ui == replace(UI, expiry=request.ui.expiry)
    assert "sim-password-1" not in repr(request)


def test_answer_for_another_transaction_is_technical() -> None:
    answer = single_response(
        VERIFY, UI, HubResult("ok", rc.SUCCESS, client_trx_id="other", hub_trx_id="h1")
    )
    result = read_single_response(answer, code=VERIFY, client_trx=TRX)
    assert (result.outcome, result.return_code) == ("technical", rc.SCHEMA_VIOLATION)
    assert "'other', not ours" in result.message
    wrong_code = read_single_response(answer, code="G120", client_trx="other")
    assert "not the answer to G120" in wrong_code.message


def test_unknown_return_code_is_technical_and_kept() -> None:
    answer = single_response(
        VERIFY, UI, HubResult("ok", "NMVS_NEW_99", client_trx_id=TRX, hub_trx_id="h1")
    )
    result = read_single_response(answer, code=VERIFY, client_trx=TRX)
    assert (result.outcome, result.return_code) == ("technical", "NMVS_NEW_99")
    assert "unknown return code" in result.message


def test_fault_is_technical_with_its_code() -> None:
    result = read_single_response(
        fault("NMVS_FE_AU_01", "bad login", sender=True), code=VERIFY, client_trx=TRX
    )
    assert (result.outcome, result.return_code) == ("technical", "NMVS_FE_AU_01")
    assert check_http(401, "application/soap+xml", fault("NMVS_FE_AU_01", "x", sender=True))


def test_bulk_result_states() -> None:
    at = datetime(2025, 3, 1, tzinfo=UTC)
    processing = bulk_result_response(TRX, "n" * 32, at, "b" * 32, None)
    assert read_bulk_result(processing, count=1) is None
    item = HubResult("ok", rc.SUCCESS, PackState.ACTIVE, client_trx_id="i1", hub_trx_id="h", at=at)
    done = bulk_result_response(TRX, "n" * 32, at, "b" * 32, [(UI, item)])
    assert read_bulk_result(done, count=1) == (item,)
    wrong_count = read_bulk_result(done, count=2)
    assert isinstance(wrong_count, HubResult)
    assert wrong_count.outcome == "technical"


@settings(max_examples=300)
@given(st.binary(max_size=2000))
def test_readers_never_raise_on_bytes(data: bytes) -> None:
    _read_everything(data)


@settings(max_examples=300)
@given(results, st.data())
def test_readers_never_raise_on_mutated_answers(result: HubResult, data: st.DataObject) -> None:
    root = etree.fromstring(single_response(VERIFY, UI, result))
    elements = list(root.iter())
    target = data.draw(st.sampled_from(elements))
    action = data.draw(st.sampled_from(["drop", "text", "attribute", "truncate", "rename"]))
    junk = data.draw(st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))))
    if action == "drop" and target.getparent() is not None:
        target.getparent().remove(target)
    elif action == "text":
        target.text = junk
    elif action == "attribute":
        target.set(data.draw(st.sampled_from(["code", "state", "scheme", "sn", "desc"])), junk)
    elif action == "rename":
        target.tag = data.draw(st.sampled_from(["Reason", "Pack", "{urn:x}Body", "ReturnCode"]))
    serialised = etree.tostring(root)
    if action == "truncate":
        serialised = serialised[: data.draw(st.integers(0, len(serialised)))]
    parsed = read_single_response(serialised, code=VERIFY, client_trx=TRX)
    assert isinstance(parsed, HubResult)
    _read_everything(serialised)


@settings(max_examples=200)
@given(st.binary(max_size=500))
def test_request_parser_raises_only_soap_errors(data: bytes) -> None:
    with contextlib.suppress(SoapError):
        parse_request(data, this_year=2025)


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>',
        b'<!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>',
        b"\xef\xbb\xbf<x/>",
        b"",
    ],
)
def test_hostile_xml_is_technical(data: bytes) -> None:
    result = read_single_response(data, code=VERIFY, client_trx=TRX)
    assert (result.outcome, result.return_code) == ("technical", rc.SCHEMA_VIOLATION)


def _read_everything(data: bytes) -> None:
    assert isinstance(read_single_response(data, code=VERIFY, client_trx=TRX), HubResult)
    assert isinstance(read_bulk_submit(data, code="G115"), str | HubResult)
    answer = read_bulk_result(data, count=1)
    assert answer is None or isinstance(answer, tuple | HubResult)
    assert isinstance(read_ping(data, code="SupportPing"), str | None)
    assert check_http(200, "application/soap+xml", data) is None
    assert isinstance(check_http(500, "application/soap+xml", data), HubResult)
