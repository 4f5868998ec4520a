"""SOAP responses: rendered by the hub simulator, read by the client (pure functions).

The layout follows the Arvato schemas (`HeaderResponse_Type`, `O1`–`O5`); everything below
`<wsdl:GxxxResponse>` is in the types namespace, attributes included:
- `Header`: `Auth` echo (`ClientLoginId`, `UserId`), `Transaction` (`Language`, `ClientTrxId`,
  `NMVSTrxId`, `Timestamp`; a G188 answer adds `ReqType`), then any `Notification`s.
- single pack (O1): `Body` = `Product` (`ProductCode@scheme`, `IntermarketFlag`, `NHRN`?,
  `Batch`), `Pack@sn@state` with `Reason`*, then `ReturnCode@code@desc`. The v5 alert id is
  `AlertId` just before `ReturnCode` (the v5 schema's name for it is not published).
- bulk or mixed-bulk submission (O2): `Body/ReturnCode`; the bulk's id is the header's
  `NMVSTrxId`.
- G188 (O3): `Body` = `Product`, `Packs/Pack@sn@state` (each with `Reason`*, `AlertId`?,
  `ReturnCode`), then the bulk's `ReturnCode`; while the bulk is processed, `ReturnCode` only.
- G196 (O5): `Body` = `TrxList/TrxItem@reqType`* (each its `Transaction`, `Product`, `Pack` with
  its `ReturnCode`), then `ReturnCode`; while processed, `ReturnCode` only.
- pings: `Output`.

The readers are lenient: they find what they need by name, accept attributes qualified or
not and ignore elements they do not know (a later interface version may add some); a missing
required part is one `technical` result naming it (`NMVS_TE_XM_01`), a SOAP fault the fault's
code (`rate_limited` for the rate limit's). In a G188/G196 answer each item stands alone: an
item the reader cannot read is `technical` by itself, an item answered twice differently is
`technical`, and the items' results are read whatever the bulk's own return code says.
They never raise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from fmd.codes.model import PackIdentifier
from fmd.hub import returncodes as rc
from fmd.hub.contract import HubResult, ManualEntry, PackState, Reason
from fmd.hub.soap_codes import BULK_UNKNOWN, known, outcome_of, wire_code
from fmd.hub.soap_names import BULK_RESULT, MIXED_RESULT, response_name
from fmd.hub.soap_requests import LANGUAGE, Login
from fmd.hub.soap_xml import (
    Element,
    SoapError,
    attribute,
    child,
    children,
    envelope,
    local_name,
    optional_attribute,
    optional_child,
    optional_text,
    parse_body,
    read_fault,
    set_attribute,
    sub,
    text,
    wsd,
)

Pack = PackIdentifier | ManualEntry
"""What a result is about: a pack as scanned, or as keyed in (its product code and serial)."""
BulkAnswer = Mapping[str, HubResult] | HubResult | None
"""G188/G196: results by serial (bulk) or by client trx id (mixed bulk); one result for the
whole bulk when it failed; None while the hub is still processing it."""
BulkReader = Callable[[bytes], BulkAnswer]
"""A reader of G188 or G196 answers."""


@dataclass(frozen=True, slots=True)
class Answered:
    """The header of an answer: whose login, which transaction, when."""

    login: Login
    client_trx: str
    trx_id: str
    at: datetime


def technical(code: str, message: str, client_trx: str = "") -> HubResult:
    """A `technical` result: the hub's answer was unusable or missing."""
    return HubResult(
        outcome="technical", return_code=code, client_trx_id=client_trx, message=message
    )


def failure(code: str, message: str) -> HubResult:
    """The result of a fault or a refused question with NMVS code `code`: `rate_limited` for
    the rate limit's code, else `technical`."""
    if code == rc.RATE_LIMITED:
        return HubResult(outcome="rate_limited", return_code=code, message=message)
    return technical(code, message)


# -- hub side -----------------------------------------------------------------------------------


def single_response(code: str, answered: Answered, pack: Pack | None, result: HubResult) -> bytes:
    """The answer to a single-pack transaction (O1); `pack` None answers the code alone."""
    root = wsd(response_name(code))
    _header(root, answered)
    body = sub(root, "Body")
    if pack is not None:
        _add_product(body, pack, result)
        _add_pack(body, pack.serial, result)
        _add_alert(body, result)
    _return_code(body, wire_code(result), result.message)
    return envelope(root)


def submit_response(code: str, answered: Answered) -> bytes:
    """The answer to a bulk or mixed-bulk submission (O2): its id is the header's NMVSTrxId."""
    root = wsd(response_name(code))
    _header(root, answered)
    _return_code(sub(root, "Body"), rc.SUCCESS, rc.describe(rc.SUCCESS))
    return envelope(root)


def bulk_result_response(
    answered: Answered,
    req_type: str | None,
    results: Sequence[tuple[PackIdentifier, HubResult]] | None,
    *,
    code: str = rc.SUCCESS,
    message: str = "",
) -> bytes:
    """G188 (O3): the bulk's one product and its packs' results, or only the return code while
    `results` is None (processing) or `code` refuses the question."""
    root = wsd(response_name(BULK_RESULT))
    _header(root, answered, req_type=req_type)
    body = sub(root, "Body")
    if code == rc.SUCCESS and results:
        first_ui, first = results[0]
        _add_product(body, first_ui, first)
        packs = sub(body, "Packs")
        for ui, result in results:
            _add_pack_item(packs, ui.serial, result)
    _return_code(body, code, message or rc.DESCRIPTIONS.get(code, code))
    return envelope(root)


def mixed_result_response(
    answered: Answered,
    results: Sequence[tuple[str, Pack, HubResult]] | None,
    *,
    code: str = rc.SUCCESS,
    message: str = "",
) -> bytes:
    """G196 (O5): each item's `(reqType, pack, result)`, or the return code alone."""
    root = wsd(response_name(MIXED_RESULT))
    _header(root, answered)
    body = sub(root, "Body")
    if code == rc.SUCCESS and results:
        trx_list = sub(body, "TrxList")
        for req_type, pack, result in results:
            item = sub(trx_list, "TrxItem", reqType=req_type)
            _transaction(
                sub(item, "Transaction"),
                result.client_trx_id,
                result.hub_trx_id,
                result.at or answered.at,
            )
            _add_product(item, pack, result)
            _add_pack_item(item, pack.serial, result)
    _return_code(body, code, message or rc.DESCRIPTIONS.get(code, code))
    return envelope(root)


def ping_response(code: str, echo: str) -> bytes:
    """The answer to a ping: `Output` echoes the `Input`."""
    root = wsd(response_name(code))
    sub(root, "Output", echo)
    return envelope(root)


def _header(root: Element, answered: Answered, *, req_type: str | None = None) -> None:
    header = sub(root, "Header")
    auth = sub(header, "Auth")
    sub(auth, "ClientLoginId", answered.login.client_login_id)
    sub(auth, "UserId", answered.login.user_id)
    transaction = sub(header, "Transaction")
    _transaction(transaction, answered.client_trx, answered.trx_id, answered.at)
    if req_type is not None:
        sub(transaction, "ReqType", req_type)


def _transaction(parent: Element, client_trx: str, trx_id: str, at: datetime) -> None:
    sub(parent, "Language", LANGUAGE)
    sub(parent, "ClientTrxId", client_trx)
    sub(parent, "NMVSTrxId", trx_id)
    sub(parent, "Timestamp", at.astimezone(UTC).isoformat(timespec="milliseconds"))


def _add_product(parent: Element, pack: Pack, result: HubResult) -> None:
    product = sub(parent, "Product")
    sub(product, "ProductCode", pack.product_code, scheme=pack.scheme)
    sub(product, "IntermarketFlag", "true" if result.intermarket else "false")
    nhrn = result.nhrn or (pack.nhrn if isinstance(pack, PackIdentifier) else None)
    if nhrn is not None:
        sub(product, "NHRN", nhrn)
    if pack.batch is not None and pack.expiry_raw is not None:
        batch = sub(product, "Batch")
        sub(batch, "Id", pack.batch)
        sub(batch, "ExpDate", pack.expiry_raw)


def _add_pack(parent: Element, serial: str, result: HubResult) -> Element:
    pack = sub(parent, "Pack", sn=serial)
    set_attribute(pack, "state", result.state.value)
    for reason in result.reasons:
        sub(pack, "Reason", reason.value)
    return pack


def _add_pack_item(parent: Element, serial: str, result: HubResult) -> None:
    pack = _add_pack(parent, serial, result)
    _add_alert(pack, result)
    _return_code(pack, wire_code(result), result.message)


def _add_alert(parent: Element, result: HubResult) -> None:
    if result.alert_id is not None:
        sub(parent, "AlertId", result.alert_id)


def _return_code(parent: Element, code: str, message: str) -> None:
    sub(parent, "ReturnCode", code=code, desc=message[:255])


# -- client side --------------------------------------------------------------------------------


def check_http(
    status: int, content_type: str, body: bytes, location: str = "", *, media_types: frozenset[str]
) -> HubResult | None:
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
        return failure(fault.code, f"HTTP {status}, SOAP fault: {fault.reason}")
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type not in media_types:
        return technical(rc.SCHEMA_VIOLATION, f"content type {media_type!r} is not SOAP 1.2")
    return None


def read_single_response(data: bytes, *, code: str, client_trx: str) -> HubResult:
    """The result in the answer to single-pack transaction `code` sent as `client_trx`."""
    try:
        element = _answer(data, code)
        transaction = child(element, "Header/Transaction")
        body = child(element, "Body")
        product, pack = optional_child(body, "Product"), optional_child(body, "Pack")
        result = _read_item(product, pack, body, transaction)
        if result.client_trx_id != client_trx:
            raise SoapError(f"answer for transaction {result.client_trx_id!r}, not ours")
        return result
    except _Failed as failed:
        return replace(failed.result, client_trx_id=client_trx)
    except SoapError as error:
        return technical(error.code, f"malformed reply: {error.message}", client_trx)


def read_submit(data: bytes, *, code: str) -> str | HubResult:
    """The id (`NMVSTrxId`) of a bulk or mixed bulk, or the result that refused it."""
    try:
        element = _answer(data, code)
        returned, desc = _code_and_desc(child(element, "Body/ReturnCode"))
        if returned != rc.SUCCESS:
            return HubResult(
                outcome=outcome_of(returned, alert=False), return_code=returned, message=desc
            )
        return text(element, "Header/Transaction/NMVSTrxId")
    except _Failed as failed:
        return failed.result
    except SoapError as error:
        return technical(error.code, f"malformed reply: {error.message}")


def read_bulk_result(data: bytes, *, req_type: str | None = None) -> BulkAnswer:
    """G188: each pack's result by serial; None while processing (or while the hub says the
    bulk id is not available yet); one result when the hub refused the question, or when the
    answer is about a bulk of another transaction than `req_type` (the bulk's code, e.g. G115)."""
    try:
        element, body = _result_body(data, BULK_RESULT)
        if body is None:
            return None
        transaction = child(element, "Header/Transaction")
        answered = optional_text(transaction, "ReqType")
        if req_type is not None and answered and answered != req_type:
            raise SoapError(f"answer about a {answered} bulk, not our {req_type}")
        product = child(body, "Product")
        return _by_key(
            (serial, _pack_result(product, pack, transaction))
            for pack in children(child(body, "Packs"), "Pack")
            if (serial := optional_attribute(pack, "sn"))
        )
    except _Failed as failed:
        return failed.result
    except SoapError as error:
        return technical(error.code, f"malformed reply: {error.message}")


def read_mixed_result(data: bytes) -> BulkAnswer:
    """G196: each item's result by its client trx id; None while processing; one result when
    the hub refused the question."""
    try:
        _, body = _result_body(data, MIXED_RESULT)
        if body is None:
            return None
        return _by_key(
            (trx, _trx_result(item, trx))
            for item in children(child(body, "TrxList"), "TrxItem")
            if (trx := optional_text(item, "Transaction/ClientTrxId"))
        )
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
        raise _Failed(failure(fault.code, f"SOAP fault: {fault.reason}"))
    name = local_name(element)
    if name != response_name(code):
        raise SoapError(f"{name} is not the answer to {code}")
    return element


def _result_body(data: bytes, code: str) -> tuple[Element, Element | None]:
    """A G188/G196 answer and its body, or its body None while the bulk is processed. When the
    answer lists the items, their own codes count, whatever the bulk's code (say
    `NMVS_NC_PCK_24`, some packs not processed)."""
    element = _answer(data, code)
    body = child(element, "Body")
    returned, desc = _code_and_desc(child(body, "ReturnCode"))
    if optional_child(body, "Packs" if code == BULK_RESULT else "TrxList") is not None:
        return element, body
    if returned not in (rc.SUCCESS, BULK_UNKNOWN):
        raise _Failed(failure(returned, f"bulk result refused: {desc}"))
    return element, None


def _pack_result(product: Element, pack: Element, transaction: Element) -> HubResult:
    """One pack of a G188 answer; one that cannot be read is `technical` by itself."""
    try:
        return _read_item(product, pack, pack, transaction, with_client_trx=False)
    except SoapError as error:
        return _unreadable(error, "")


def _trx_result(item: Element, trx: str) -> HubResult:
    """One `TrxItem` of a G196 answer; one that cannot be read is `technical` by itself."""
    try:
        pack = child(item, "Pack")
        return _read_item(optional_child(item, "Product"), pack, pack, child(item, "Transaction"))
    except SoapError as error:
        return _unreadable(error, trx)


def _unreadable(error: SoapError, trx: str) -> HubResult:
    return technical(error.code, f"malformed item in the bulk answer: {error.message}", trx)


def _by_key(items: Iterable[tuple[str, HubResult]]) -> dict[str, HubResult]:
    """Results by serial or trx id; a key answered twice, differently, is `technical`."""
    results: dict[str, HubResult] = {}
    for key, result in items:
        earlier = results.get(key)
        if earlier is not None and _verdict(earlier) != _verdict(result):
            result = technical(
                rc.SCHEMA_VIOLATION,
                f"{key} answered twice, differently ({earlier.return_code}, "
                f"{result.return_code}): not done, perhaps applied",
                result.client_trx_id,
            )
        results[key] = result
    return results


def _verdict(result: HubResult) -> tuple[object, ...]:
    return (result.outcome, result.return_code, result.state, result.reasons, result.alert_id)


def _read_item(
    product: Element | None,
    pack: Element | None,
    coded: Element,
    transaction: Element,
    *,
    with_client_trx: bool = True,
) -> HubResult:
    """One result: the return code and alert id under `coded` (the O1 body, or the pack item),
    the pack's state, the product's flags, the ids and time in `transaction`."""
    code, desc = _code_and_desc(child(coded, "ReturnCode"))
    alert_id = optional_text(coded, "AlertId") or None
    state, reasons = _read_pack(pack)
    intermarket = optional_text(product, "IntermarketFlag") if product is not None else None
    nhrn = optional_text(product, "NHRN") if product is not None else None
    return HubResult(
        outcome=outcome_of(code, alert=alert_id is not None),
        return_code=code,
        state=state,
        reasons=reasons,
        client_trx_id=text(transaction, "ClientTrxId") if with_client_trx else "",
        hub_trx_id=text(transaction, "NMVSTrxId"),
        at=_timestamp(text(transaction, "Timestamp")),
        alert_id=alert_id,
        message=desc if known(code) else f"unknown return code {code}: {desc}",
        intermarket=intermarket in ("true", "1"),
        nhrn=nhrn or None,
    )


def _code_and_desc(return_code: Element) -> tuple[str, str]:
    return attribute(return_code, "code"), optional_attribute(return_code, "desc") or ""


def _read_pack(pack: Element | None) -> tuple[PackState, tuple[Reason, ...]]:
    if pack is None:
        return PackState.UNKNOWN, ()
    raw_state = optional_attribute(pack, "state")
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
