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
from fmd.hub.soap_codes import outcome_of, wire_code
from fmd.hub.soap_names import SOAP_MEDIA_TYPE, VERIFY
from fmd.hub.soap_requests import Login, Software, parse_request, single_request
from fmd.hub.soap_responses import (
    Answered,
    bulk_result_response,
    check_http,
    mixed_result_response,
    read_bulk_result,
    read_mixed_result,
    read_ping,
    read_single_response,
    read_submit,
    single_response,
)
from fmd.hub.soap_xml import SoapError, fault

UI = PackIdentifier("GTIN", "04006381333931", "S/1%", "B-1", None, "261200", "ABCD1234")
LOGIN = Login("PHARMACY01", "robot01", "sim-password-1")
SOFTWARE = Software("fmd-robot", "tests", "1")
TRX = "trx-1"
AT = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
MEDIA = frozenset({SOAP_MEDIA_TYPE})


def answered(result: HubResult) -> Answered:
    return Answered(LOGIN, result.client_trx_id, result.hub_trx_id, result.at or AT)


def answer(result: HubResult, code: str = VERIFY) -> bytes:
    return single_response(code, answered(result), UI, result)


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
    parsed = read_single_response(answer(result), code=VERIFY, client_trx=TRX)
    on_wire = wire_code(result)
    expected_outcome = outcome_of(on_wire, alert=result.alert_id is not None)
    assert parsed.outcome == expected_outcome
    assert result.at is not None
    at_ms = result.at.replace(microsecond=result.at.microsecond // 1000 * 1000)
    expected = replace(
        result, outcome=expected_outcome, return_code=on_wire, at=at_ms, nhrn=UI.nhrn
    )
    assert replace(parsed, message="") == replace(expected, message="")


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
    # a request's Product is the code and the batch (RequestProduct_Type): no NHRN is sent
    assert request.ui == replace(UI, expiry=request.ui.expiry, nhrn=None)
    assert "sim-password-1" not in repr(request)


def test_answer_for_another_transaction_is_technical() -> None:
    other = answer(HubResult("ok", rc.SUCCESS, client_trx_id="other", hub_trx_id="h1"))
    result = read_single_response(other, code=VERIFY, client_trx=TRX)
    assert (result.outcome, result.return_code) == ("technical", rc.SCHEMA_VIOLATION)
    assert "'other', not ours" in result.message
    wrong_code = read_single_response(other, code="G120", client_trx="other")
    assert "not the answer to G120" in wrong_code.message


def test_unknown_return_code_is_technical_and_kept() -> None:
    new = answer(HubResult("ok", "NMVS_NEW_99", client_trx_id=TRX, hub_trx_id="h1"))
    result = read_single_response(new, code=VERIFY, client_trx=TRX)
    assert (result.outcome, result.return_code) == ("technical", "NMVS_NEW_99")
    assert "unknown return code" in result.message


def test_fault_is_technical_with_its_code() -> None:
    result = read_single_response(
        fault("NMVS_FE_AU_01", "bad login", sender=True), code=VERIFY, client_trx=TRX
    )
    assert (result.outcome, result.return_code) == ("technical", "NMVS_FE_AU_01")
    refused_login = fault("NMVS_FE_AU_01", "x", sender=True)
    assert check_http(401, "application/soap+xml", refused_login, media_types=MEDIA)


def test_a_bulk_result_is_read_per_serial_and_says_when_it_is_not_ready() -> None:
    header = Answered(LOGIN, TRX, "n" * 32, AT)
    processing = bulk_result_response(header, "G115", None)
    assert read_bulk_result(processing) is None
    unknown = bulk_result_response(header, None, None, code="NMVS_FE_TX_02")
    assert read_bulk_result(unknown) is None, "a bulk id not available yet: poll again"
    item = HubResult("ok", rc.SUCCESS, PackState.ACTIVE, hub_trx_id="n" * 32, at=AT)
    done = bulk_result_response(header, "G115", [(UI, item)])
    assert read_bulk_result(done) == {UI.serial: replace(item, nhrn=UI.nhrn)}
    refused = bulk_result_response(header, "G115", None, code=rc.ERROR)
    assert isinstance(read_bulk_result(refused), HubResult)


def test_a_mixed_result_is_read_per_client_transaction() -> None:
    header = Answered(LOGIN, TRX, "n" * 32, AT)
    assert read_mixed_result(mixed_result_response(header, None)) is None
    item = HubResult("ok", rc.SUCCESS, PackState.ACTIVE, client_trx_id="i-1", hub_trx_id="h", at=AT)
    done = read_mixed_result(mixed_result_response(header, [("G110", UI, item)]))
    assert done == {"i-1": replace(item, nhrn=UI.nhrn)}


@settings(max_examples=300)
@given(st.binary(max_size=2000))
def test_readers_never_raise_on_bytes(data: bytes) -> None:
    _read_everything(data)


@settings(max_examples=300)
@given(results, st.data())
def test_readers_never_raise_on_mutated_answers(result: HubResult, data: st.DataObject) -> None:
    root = etree.fromstring(answer(result))
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
    assert isinstance(read_submit(data, code="G115"), str | HubResult)
    for read in (read_bulk_result, read_mixed_result):
        bulk = read(data)
        assert bulk is None or isinstance(bulk, dict | HubResult)
    assert isinstance(read_ping(data, code="SupportPing"), str | None)
    assert check_http(200, "application/soap+xml", data, media_types=MEDIA) is None
    assert isinstance(check_http(500, "application/soap+xml", data, media_types=MEDIA), HubResult)
