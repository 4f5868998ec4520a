"""The REST dialect's pure parts: the code table, and the simulator rendering ↔ client parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fmd.codes.model import PackIdentifier
from fmd.hub import HubResult, Outcome, PackState, Reason
from fmd.hub import rest_codes as codes
from fmd.hub import returncodes as rc
from fmd.hub.contract import PACK_LEVEL_REASONS
from fmd.hub.rest_response import (
    Accepted,
    Exchange,
    Failed,
    Pending,
    Ready,
    parse_accepted,
    parse_response,
    parse_results,
    parse_retry_after,
    retry_after_seconds,
)
from simulators.hub.rest_answers import pack_result, render

NOW = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
EXCHANGE = Exchange("client-trx-1", NOW, 0.01)
PACK = PackIdentifier("GTIN", "04006381333931", "S1", "B1", None, "261231")
FAMILY_STATUS = {"1": 200, "2": 202, "4": 404, "5": 409, "6": 422, "7": 429, "8": 401, "9": 503}
OUTCOMES = {"ok", "refused", "alert", "technical", "rate_limited", "invalid_request"}


def test_the_code_table_is_consistent() -> None:
    numbers = [op.code for op in codes.TABLE]
    assert len(numbers) == len(set(numbers))
    for op in codes.TABLE:
        assert len(op.code) == 8
        assert op.code.isdigit()
        assert op.status == FAMILY_STATUS[op.code[0]] == codes.STATUS_OF_FAMILY[op.code[0]], op
    assert set(rc.DESCRIPTIONS) <= set(codes.FOR_NMVS)
    assert codes.FOR_NMVS[rc.SCHEMA_VIOLATION].code == "61020001"


def test_state_names_round_trip() -> None:
    for reason, name in codes.STATE_NAMES.items():
        assert codes.state_name(PackState.INACTIVE, (reason,)) == name
        assert codes.pack_state(name) is PackState.INACTIVE
    assert codes.state_name(PackState.UNKNOWN, ()) == "NotFound"
    assert codes.pack_state("NotFound") is PackState.UNKNOWN
    for unknown in ("Reborn", "Unknown", "Inactive"):
        assert codes.pack_state(unknown) is None
    assert set(codes.TRANSITIONS) == PACK_LEVEL_REASONS - {Reason.CHECKED_OUT}


# Every (code, outcome, state, reasons) the MockHub answers with (see fmd.hub.returncodes).
SUPPLIED = (Reason.SUPPLIED,)
CASES: list[tuple[str, Outcome, PackState, tuple[Reason, ...]]] = [
    (rc.SUCCESS, "ok", PackState.ACTIVE, ()),
    (rc.SUCCESS, "ok", PackState.INACTIVE, (Reason.SUPPLIED, Reason.RECALLED)),
    (rc.UNKNOWN_PRODUCT, "refused", PackState.UNKNOWN, ()),
    (rc.UNKNOWN_SERIAL, "alert", PackState.UNKNOWN, ()),
    (rc.UNKNOWN_BATCH, "alert", PackState.UNKNOWN, ()),
    (rc.BATCH_MISMATCH, "alert", PackState.UNKNOWN, ()),
    (rc.EXPIRY_MISMATCH, "alert", PackState.UNKNOWN, ()),
    (rc.PRODUCT_WITHDRAWN, "refused", PackState.INACTIVE, (Reason.WITHDRAWN,)),
    (rc.BATCH_RECALLED, "refused", PackState.INACTIVE, (Reason.RECALLED,)),
    (rc.PACK_EXPIRED, "refused", PackState.INACTIVE, (Reason.EXPIRED,)),
    (rc.ALREADY_INACTIVE, "alert", PackState.INACTIVE, SUPPLIED),
    (rc.ALREADY_INACTIVE, "refused", PackState.INACTIVE, SUPPLIED),
    (rc.UNDO_STATUS_MISMATCH, "alert", PackState.INACTIVE, (Reason.LOCKED,)),
    (rc.STATUS_CHANGE_FAILED, "refused", PackState.INACTIVE, (Reason.STOLEN,)),
    (rc.UNDO_OTHER_LOCATION, "alert", PackState.INACTIVE, SUPPLIED),
    (rc.UNDO_TOO_LATE, "alert", PackState.INACTIVE, SUPPLIED),
    (rc.WRONG_REF_TRX, "refused", PackState.INACTIVE, SUPPLIED),
    (rc.TRX_ID_USED, "invalid_request", PackState.UNKNOWN, ()),
    (rc.INVALID_PRODUCT_CODE, "invalid_request", PackState.UNKNOWN, ()),
    (rc.INVALID_PPN_CHECK, "invalid_request", PackState.UNKNOWN, ()),
    (rc.INVALID_EXPIRY, "invalid_request", PackState.UNKNOWN, ()),
    (rc.INVALID_NHRN, "invalid_request", PackState.UNKNOWN, ()),
    (rc.SCHEMA_VIOLATION, "invalid_request", PackState.UNKNOWN, ()),
    (rc.TIMEOUT, "technical", PackState.UNKNOWN, ()),
    (rc.ERROR, "technical", PackState.UNKNOWN, ()),
    (rc.RATE_LIMITED, "rate_limited", PackState.UNKNOWN, ()),
]


@pytest.mark.parametrize(("code", "outcome", "state", "reasons"), CASES)
def test_what_the_simulator_renders_the_client_reads_back(
    code: str, outcome: Outcome, state: PackState, reasons: tuple[Reason, ...]
) -> None:
    answer = HubResult(
        outcome=outcome,
        return_code=code,
        state=state,
        reasons=reasons,
        client_trx_id="client-trx-1",
        hub_trx_id="f" * 32,
        alert_id="ALR-1" if outcome == "alert" else None,
        message=rc.describe(code),
    )
    response = render(answer, PACK.serial, PACK.batch)
    read = parse_response(
        response.status_code,
        response.headers.get("content-type"),
        response.headers.get("retry-after"),
        bytes(response.body),
        EXCHANGE,
    )
    assert read.outcome == outcome
    assert (read.alert_id is not None) == (outcome == "alert")
    assert read.return_code == codes.FOR_NMVS[code].code
    if outcome not in ("technical", "rate_limited"):
        assert (read.state, read.reasons) == (state, reasons)
        assert read.message.startswith(f"{code} ({read.return_code}): {rc.describe(code)}")
    if outcome == "rate_limited":
        assert retry_after_seconds(read) == 1.0


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after(format_datetime(NOW + timedelta(seconds=30), usegmt=True), NOW) == 30
    assert parse_retry_after(format_datetime(NOW - timedelta(days=1), usegmt=True), NOW) == 0.0
    for useless in (None, "", "soon", "-5", "1.5", "9" * 20):
        assert parse_retry_after(useless, NOW) is None


def test_retry_after_from_an_http_date_reaches_the_result() -> None:
    when = format_datetime(NOW + timedelta(seconds=45), usegmt=True)
    result = parse_response(429, None, when, b"", EXCHANGE)
    assert (result.outcome, result.return_code) == ("rate_limited", rc.RATE_LIMITED)
    assert retry_after_seconds(result) == 45.0


def test_optional_fields_and_types() -> None:
    body = {"operationCode": 51320001, "state": "Supplied", "alertId": "", "isIntermarket": True}
    result = parse_response(409, "application/json", None, json.dumps(body).encode(), EXCHANGE)
    assert (result.outcome, result.return_code, result.alert_id) == ("refused", "51320001", None)
    assert (result.reasons, result.intermarket) == ((Reason.SUPPLIED,), True)
    assert result.message == "NMVS_NC_PCK_22 (51320001): Pack already inactive"
    body["isIntermarket"] = "yes"
    bad = parse_response(409, "application/json", None, json.dumps(body).encode(), EXCHANGE)
    assert (bad.outcome, bad.return_code) == ("technical", "NMVS_TE_JS_01")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
FIELDS = st.sampled_from(
    [
        "operationCode",
        "state",
        "batchState",
        "alertId",
        "uprc",
        "isIntermarket",
        "information",
        "warning",
        "nhrn",
        "productName",
        "eta",
        "packs",
    ]
)
STATES = st.sampled_from(["Active", "NotFound", *codes.REASONS_BY_STATE])
PLAUSIBLE = st.fixed_dictionaries(
    {
        "operationCode": st.sampled_from([int(op.code) for op in codes.TABLE]) | JSON_VALUES,
        "state": STATES | JSON_VALUES,
    },
    optional={"batchState": STATES | st.text(), "eta": st.just("2026-01-01T00:00:00Z")},
).flatmap(lambda d: st.dictionaries(FIELDS, JSON_VALUES).map(lambda extra: {**extra, **d}))
RESULTS = st.fixed_dictionaries(
    {
        "operationCode": st.sampled_from([int(op.code) for op in codes.TABLE]) | JSON_VALUES,
        "packs": st.lists(
            st.fixed_dictionaries(
                {"pack": st.fixed_dictionaries({"productCode": st.text(max_size=4),
                                                "serialNumber": st.text(max_size=4)})
                 | JSON_VALUES,
                 "result": PLAUSIBLE | JSON_VALUES}
            ) | JSON_VALUES,
            max_size=3,
        ) | JSON_VALUES,
    }
)  # fmt: skip
BODIES = (
    st.binary(max_size=200)
    | JSON_VALUES.map(lambda v: json.dumps(v).encode())
    | PLAUSIBLE.map(lambda v: json.dumps(v).encode())
    | RESULTS.map(lambda v: json.dumps(v).encode())
)


@given(
    status=st.integers(min_value=0, max_value=999) | st.sampled_from([200, 404, 409, 422, 429]),
    content_type=st.none() | st.text(max_size=30) | st.just("application/json"),
    retry_after=st.none() | st.text(max_size=40) | st.integers(0, 10**12).map(str),
    body=BODIES,
)
def test_the_parser_never_raises(
    status: int, content_type: str | None, retry_after: str | None, body: bytes
) -> None:
    result = parse_response(status, content_type, retry_after, body, EXCHANGE)
    assert isinstance(result, HubResult)
    assert result.outcome in OUTCOMES
    assert result.client_trx_id == "client-trx-1"
    if status == 429:
        assert result.outcome == "rate_limited"
    elif status not in (200, 404, 409, 422):
        assert result.outcome == "technical"
    if result.alert_id is not None:
        assert result.outcome == "alert"


@given(
    status=st.integers(min_value=0, max_value=999) | st.sampled_from([200, 202, 404, 409, 422]),
    content_type=st.none() | st.just("application/json"),
    location=st.none() | st.text(max_size=20),
    body=BODIES,
)
def test_the_many_pack_parsers_never_raise(
    status: int, content_type: str | None, location: str | None, body: bytes
) -> None:
    accepted = parse_accepted(status, content_type, None, location, body, EXCHANGE)
    assert isinstance(accepted, Accepted | Failed | HubResult)
    if isinstance(accepted, Accepted):
        assert (status, accepted.location) == (202, location)
    results = parse_results(status, content_type, body, EXCHANGE)
    assert isinstance(results, Ready | Pending | Failed)
    if isinstance(results, Ready):
        assert status == 200
        for _, result in results.packs:
            assert result.outcome in OUTCOMES
            assert result.alert_id is None or result.outcome == "alert"


@pytest.mark.parametrize(
    ("code", "outcome", "state", "reasons"),
    [case for case in CASES if case[1] != "rate_limited"],  # a throttled bulk is a 429 as a whole
)
def test_what_the_simulator_puts_in_bulk_results_the_client_reads_back(
    code: str, outcome: Outcome, state: PackState, reasons: tuple[Reason, ...]
) -> None:
    alert_id = "ALR-2" if outcome == "alert" else None
    answer = HubResult(outcome, code, state, reasons, alert_id=alert_id, message=rc.describe(code))
    pack = {"productCodeScheme": "gs1", "productCode": PACK.product_code, "serialNumber": "S1"}
    entry = {"pack": pack, "result": pack_result(answer, "S1", "B1")}
    body = {"operationCode": 12210000, "packs": [entry]}
    ready = parse_results(200, "application/json", json.dumps(body).encode(), EXCHANGE)
    assert isinstance(ready, Ready)
    [(key, read)] = ready.packs
    assert key == ("gs1", PACK.product_code, "S1")
    assert (read.outcome, read.alert_id) == (outcome, alert_id)
    if outcome != "technical":
        assert read.state == state
        assert read.reasons == reasons[:1]  # a pack's result names one state, no batch state
