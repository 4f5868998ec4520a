"""SOAP responses: rendered by the hub simulator, read by the client (pure functions).

Layout of a transaction response (children of `<wsdl:GxxxResponse>`): `Header/Transaction`
(`ClientTrxId`, `NMVSTrxId`, `Timestamp`, `Language`); `Body` = `Product` (`ProductCode@scheme`,
`NHRN`?, `Batch`, `IntermarketFlag`), `Pack@sn@state` with `Reason`*, `AlertId` (our name for the
v5 alert id, present exactly when the hub raised an L5 alert) and `ReturnCode@code@desc`.
A bulk submission answers `ReturnCode` only; G188 answers `RefNMVSTrxId`, `BulkState`
(`PROCESSING` or `DONE`), `Items/Item`* (each a `Transaction` plus the fields above) and
`ReturnCode`. A ping answers `Output`.

The readers never raise: anything that is not a proper answer becomes a `technical` result
(`NMVS_TE_XM_01` for a malformed reply, the fault's code for a SOAP fault).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from fmd.codes.model import PackIdentifier
from fmd.hub import returncodes as rc
from fmd.hub.contract import HubResult, PackState, Reason
from fmd.hub.soap_codes import known, outcome_of
from fmd.hub.soap_names import BULK_RESULT, SOAP_MEDIA_TYPE, response_name
from fmd.hub.soap_xml import (
    Element,
    SoapError,
    add_ui,
    attribute,
    child,
    children,
    envelope,
    local_name,
    optional_child,
    optional_text,
    parse_body,
    read_fault,
    sub,
    text,
    wsd,
)

PROCESSING = "PROCESSING"
DONE = "DONE"
BulkAnswer = tuple[HubResult, ...] | HubResult | None
"""G188: one result per pack (done), one result for the whole bulk (failed), None (processing)."""


def technical(code: str, message: str, client_trx: str = "") -> HubResult:
    """A `technical` result: the hub's answer was unusable or missing."""
    return HubResult(
        outcome="technical", return_code=code, client_trx_id=client_trx, message=message
    )


# -- hub side -----------------------------------------------------------------------------------


def single_response(code: str, ui: PackIdentifier, result: HubResult) -> bytes:
    """The answer to a single-pack transaction."""
    root = wsd(response_name(code))
    _header(root, result.client_trx_id, result.hub_trx_id, result.at or datetime.now(UTC))
    _add_result(sub(root, "Body"), ui, result)
    return envelope(root)


def bulk_submit_response(code: str, client_trx: str, bulk_id: str, at: datetime) -> bytes:
    """The answer to a bulk submission: the bulk's `NMVSTrxId`, to collect it with G188."""
    root = wsd(response_name(code))
    _header(root, client_trx, bulk_id, at)
    _return_code(sub(root, "Body"), rc.SUCCESS, rc.describe(rc.SUCCESS))
    return envelope(root)


def bulk_result_response(
    client_trx: str,
    trx_id: str,
    at: datetime,
    ref_bulk: str,
    results: Sequence[tuple[PackIdentifier, HubResult]] | None,
    *,
    code: str = rc.SUCCESS,
    message: str = "",
) -> bytes:
    """G188: the bulk's per-pack results, or PROCESSING while `results` is None."""
    root = wsd(response_name(BULK_RESULT))
    _header(root, client_trx, trx_id, at)
    body = sub(root, "Body")
    sub(body, "RefNMVSTrxId", ref_bulk)
    if code == rc.SUCCESS:
        sub(body, "BulkState", PROCESSING if results is None else DONE)
        items = sub(body, "Items")
        for ui, result in results or ():
            item = sub(items, "Item")
            transaction = sub(item, "Transaction")
            _transaction(transaction, result.client_trx_id, result.hub_trx_id, result.at or at)
            _add_result(item, ui, result)
    _return_code(body, code, message or rc.DESCRIPTIONS.get(code, code))
    return envelope(root)


def ping_response(code: str, echo: str) -> bytes:
    """The answer to a ping: `Output` echoes the `Input`."""
    root = wsd(response_name(code))
    sub(root, "Output", echo)
    return envelope(root)


def _header(root: Element, client_trx: str, trx_id: str, at: datetime) -> None:
    _transaction(sub(sub(root, "Header"), "Transaction"), client_trx, trx_id, at)


def _transaction(parent: Element, client_trx: str, trx_id: str, at: datetime) -> None:
    sub(parent, "ClientTrxId", client_trx)
    sub(parent, "NMVSTrxId", trx_id)
    sub(parent, "Timestamp", at.astimezone(UTC).isoformat())
    sub(parent, "Language", "eng")


def _add_result(parent: Element, ui: PackIdentifier, result: HubResult) -> None:
    product, pack = add_ui(parent, ui)
    sub(product, "IntermarketFlag", "true" if result.intermarket else "false")
    pack.set("state", result.state.value)
    for reason in result.reasons:
        sub(pack, "Reason", reason.value)
    if result.alert_id is not None:
        sub(parent, "AlertId", result.alert_id)
    _return_code(parent, result.return_code, result.message)


def _return_code(parent: Element, code: str, message: str) -> None:
    sub(parent, "ReturnCode", code=code, desc=message[:255])


# -- client side --------------------------------------------------------------------------------


def check_http(status: int, content_type: str, body: bytes, location: str = "") -> HubResult | None:
    """A result for an HTTP answer that is not a usable SOAP reply, or None to read the body."""
    if 300 <= status < 400:
        return technical(rc.ERROR, f"HTTP {status}: redirect to {location or '?'} not followed")
    if status == 429:
        return HubResult(
            outcome="rate_limited", return_code=rc.RATE_LIMITED, message="HTTP 429 from the hub"
        )
    if status != 200:
        try:
            fault = read_fault(parse_body(body))
        except SoapError:
            fault = None
        if fault is None:
            return technical(rc.ERROR, f"HTTP {status} without a SOAP fault")
        return technical(fault.code, f"HTTP {status}, SOAP fault: {fault.reason}")
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type != SOAP_MEDIA_TYPE:
        return technical(rc.SCHEMA_VIOLATION, f"content type {media_type!r} is not SOAP 1.2")
    return None


def read_single_response(data: bytes, *, code: str, client_trx: str) -> HubResult:
    """The result in the answer to single-pack transaction `code` sent as `client_trx`."""
    try:
        element = _answer(data, code)
        transaction = child(element, "Header/Transaction")
        result = _read_result(child(element, "Body"), transaction)
        if result.client_trx_id != client_trx:
            raise SoapError(f"answer for transaction {result.client_trx_id!r}, not ours")
        return result
    except _Failed as failed:
        return failed.result
    except SoapError as error:
        return technical(error.code, f"malformed reply: {error.message}", client_trx)


def read_bulk_submit(data: bytes, *, code: str) -> str | HubResult:
    """The bulk's `NMVSTrxId`, or the result that refused the submission."""
    try:
        element = _answer(data, code)
        returned = attribute(child(element, "Body/ReturnCode"), "code")
        if returned != rc.SUCCESS:
            desc = child(element, "Body/ReturnCode").get("desc") or ""
            return HubResult(
                outcome=outcome_of(returned, alert=False), return_code=returned, message=desc
            )
        return text(element, "Header/Transaction/NMVSTrxId")
    except _Failed as failed:
        return failed.result
    except SoapError as error:
        return technical(error.code, f"malformed reply: {error.message}")


def read_bulk_result(data: bytes, *, count: int) -> BulkAnswer:
    """G188: `count` per-pack results in order, None while processing, or one failure for all."""
    try:
        element = _answer(data, BULK_RESULT)
        body = child(element, "Body")
        returned = attribute(child(body, "ReturnCode"), "code")
        if returned != rc.SUCCESS:
            desc = child(body, "ReturnCode").get("desc") or ""
            return technical(returned, f"bulk result refused: {desc}")
        state = text(body, "BulkState")
        if state == PROCESSING:
            return None
        if state != DONE:
            raise SoapError(f"unknown bulk state {state!r}")
        items = children(child(body, "Items"), "Item")
        if len(items) != count:
            raise SoapError(f"{len(items)} results for {count} packs")
        return tuple(_read_result(item, child(item, "Transaction")) for item in items)
    except _Failed as failed:
        return failed.result
    except SoapError as error:
        return technical(error.code, f"malformed reply: {error.message}")


def read_ping(data: bytes, *, code: str) -> str | None:
    """The echoed `Output` of a ping answer, or None when the answer is not one."""
    try:
        return optional_text(_answer(data, code), "Output")
    except (_Failed, SoapError):
        return None


class _Failed(Exception):
    """The body was a SOAP fault: `result` is the technical result for it."""

    def __init__(self, result: HubResult) -> None:
        super().__init__(result.message)
        self.result = result


def _answer(data: bytes, code: str) -> Element:
    element = parse_body(data)
    fault = read_fault(element)
    if fault is not None:
        raise _Failed(technical(fault.code, f"SOAP fault: {fault.reason}"))
    name = local_name(element)
    if name != response_name(code):
        raise SoapError(f"{name} is not the answer to {code}")
    return element


def _read_result(parent: Element, transaction: Element) -> HubResult:
    return_code = child(parent, "ReturnCode")
    code = attribute(return_code, "code")
    desc = str(return_code.get("desc") or "")
    alert_id = optional_text(parent, "AlertId") or None
    state, reasons = _read_pack(optional_child(parent, "Pack"))
    return HubResult(
        outcome=outcome_of(code, alert=alert_id is not None),
        return_code=code,
        state=state,
        reasons=reasons,
        client_trx_id=text(transaction, "ClientTrxId"),
        hub_trx_id=text(transaction, "NMVSTrxId"),
        at=_timestamp(text(transaction, "Timestamp")),
        alert_id=alert_id,
        message=desc if known(code) else f"unknown return code {code}: {desc}",
        intermarket=optional_text(parent, "Product/IntermarketFlag") in ("true", "1"),
    )


def _read_pack(pack: Element | None) -> tuple[PackState, tuple[Reason, ...]]:
    if pack is None:
        return PackState.UNKNOWN, ()
    raw_state = pack.get("state")
    try:
        state = PackState(raw_state) if raw_state is not None else PackState.UNKNOWN
        reasons = tuple(Reason(str(r.text or "").strip()) for r in children(pack, "Reason"))
    except ValueError as error:
        raise SoapError(f"unknown pack state or reason: {error}") from None
    return state, reasons


def _timestamp(raw: str) -> datetime:
    try:
        at = datetime.fromisoformat(raw)
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    except (ValueError, OverflowError):
        raise SoapError(f"Timestamp {raw!r} is not an xs:dateTime") from None
