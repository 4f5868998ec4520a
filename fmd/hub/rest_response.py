"""Pure mapping of REST hub responses (status, a few headers, body bytes) onto `HubResult`s.

Outcome by HTTP status: 200 ok; 404/409 alert when the body carries an alert id, else refused;
422 invalid_request; 429 rate_limited; 3xx (redirects are never followed), 5xx and anything else
technical. A body that should be JSON and is not (wrong content type, malformed, missing or
mistyped fields, unknown state names) gives technical with `NMVS_TE_JS_01`.

An answer about one pack carries `operationCode`, `state` (`Active`, `NotFound`, or the reason
the pack is inactive for: `Supplied`, …, `Recalled`), `batchState` (`Active`, `Recalled`,
`Expired`, `Withdrawn`), `alertId` (Solidsoft's library calls it the UPRC), `information`,
`warning`, `isIntermarket`, `nhrn` and `productName`. The reasons are the state's and then the
batch state's. A pack's result inside bulk or recovery results has no status of its own: it is
read from the first digit of its operation code, and its alert id is called `uprc`; either name
is read in both places.

`return_code` is the hub's numeric `operationCode` when it sent one (also on 429 and 5xx);
otherwise the NMVS code of what the client saw (`NMVS_TE_JS_01`, `NMVS_FI_SE_CLI_01`,
`NMVS_ERROR`, …). The NMVS code of an operation code (from `fmd.hub.rest_codes`) starts the
`message`: ``"NMVS_NC_PC_02 (41020001): Serial number unknown"``. A rate-limited result's
`retry_after_s` is the hub's usable `Retry-After`; `retry_after_seconds` reads it back.

Bulk and recovery requests are answered 202 with a `Location` and `{"operationCode", "eta",
"expires"}` (`parse_accepted`); their results (`parse_results`) are `{"operationCode", "packs":
[{"pack": {…}, "result": {…}}]}` when ready, or an answer with an `eta` and no packs (202 for
bulk, 409 for recovery in Solidsoft's library) while they are not.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from fmd.hub import rest_codes as codes
from fmd.hub import returncodes as rc
from fmd.hub.contract import HubResult, Outcome, PackState, Reason, unanswered
from fmd.hub.rest_request import PackKey

_OPERATION_CODE = re.compile(r"[0-9]{1,12}")
_JSON_TYPE = re.compile(r"application/([a-z0-9.+-]*\+)?json", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]{1,9}")
_WITH_BODY: dict[int, Outcome] = {
    200: "ok",
    404: "refused",
    409: "refused",
    422: "invalid_request",
}


@dataclass(frozen=True, slots=True)
class Exchange:
    """What the client knows about one request when its response arrives."""

    client_trx_id: str
    at: datetime
    latency_s: float


@dataclass(frozen=True, slots=True)
class Accepted:
    """A bulk or recovery request the hub took: where and from when to ask for its results."""

    location: str
    eta: datetime | None


@dataclass(frozen=True, slots=True)
class Pending:
    """Results not ready yet; ask again from `eta` (None: the hub named no time)."""

    eta: datetime | None


@dataclass(frozen=True, slots=True)
class Ready:
    """Results: each pack the hub answered for, with its result, in the hub's order."""

    packs: tuple[tuple[PackKey, HubResult], ...]


@dataclass(frozen=True, slots=True)
class Failed:
    """No results: why (`retry`: the hub may still give them when asked again)."""

    problem: str
    retry: bool


class _BadBody(ValueError):
    """The body is not what the REST dialect promises."""


def parse_response(
    status: int,
    content_type: str | None,
    retry_after: str | None,
    body: bytes,
    exchange: Exchange,
) -> HubResult:
    """Map one response about a pack onto a `HubResult`; never raises."""
    if status == 429:
        return _rate_limited(retry_after, body, exchange)
    if status not in _WITH_BODY:
        code = _operation_code_in(body)
        return technical(_status_message(status, code), exchange, return_code=code or rc.ERROR)
    try:
        return _answer(status, _json_body(content_type, body), exchange)
    except _BadBody as problem:
        return technical(f"HTTP {status}: {problem}", exchange)


def parse_accepted(
    status: int,
    content_type: str | None,
    retry_after: str | None,
    location: str | None,
    body: bytes,
    exchange: Exchange,
) -> Accepted | Failed | HubResult:
    """A bulk or recovery request's answer: `Accepted`; `Failed` when the hub took it but its
    acknowledgement is unusable (the packs are unanswered); or the result every pack it carried
    gets (the request was refused, throttled or failed); never raises."""
    if status == 200:  # an answer about a pack where none was asked: taken, but for what?
        return Failed("HTTP 200 instead of an acknowledgement (202)", retry=False)
    if status != 202:
        return parse_response(status, content_type, retry_after, body, exchange)
    if not location:
        return Failed("HTTP 202 without a Location for the results", retry=False)
    try:
        data = _json_body(content_type, body)
        return Accepted(location, _optional_time(data, "eta"))
    except _BadBody as problem:
        return Failed(f"HTTP 202: {problem}", retry=False)


def parse_results(
    status: int, content_type: str | None, body: bytes, exchange: Exchange
) -> Ready | Pending | Failed:
    """The answer to a request for bulk or recovery results; never raises."""
    transient = status == 429 or status >= 500
    try:
        data = _json_body(content_type, body)
        packs = data.get("packs")
        if status == 200 and isinstance(packs, list):
            return Ready(tuple(_pack_result(entry, exchange) for entry in packs))
        if packs is None and (status == 202 or (status == 409 and "eta" in data)):
            return Pending(_optional_time(data, "eta"))
        code = _operation_code_in(body)
        return Failed(_status_message(status, code), retry=transient)
    except _BadBody as problem:
        return Failed(f"HTTP {status}: {problem}", retry=transient)


def match_results(keys: Sequence[PackKey], trxs: Sequence[str], ready: Ready) -> list[HubResult]:
    """One result per requested pack (`keys`, with the caller's trx ids): the hub's result for
    that pack, the first not yet taken (a pack may come twice in a recovery request), or
    `UNANSWERED` when the results leave it out."""
    by_pack: dict[PackKey, deque[HubResult]] = {}
    for key, result in ready.packs:
        by_pack.setdefault(key, deque()).append(result)
    matched = []
    for key, trx in zip(keys, trxs, strict=True):
        results = by_pack.get(key)
        if results:
            matched.append(replace(results.popleft(), client_trx_id=trx))
        else:
            matched.append(unanswered(trx, "the hub's results leave this pack out"))
    return matched


def unanswered_all(trxs: Sequence[str], why: str) -> list[HubResult]:
    """`unanswered` for every pack of a request."""
    return [unanswered(trx, why) for trx in trxs]


def technical(
    message: str, exchange: Exchange, *, return_code: str = codes.JSON_INVALID
) -> HubResult:
    """A technical result the client made itself (no usable answer from the hub)."""
    return HubResult(
        outcome="technical",
        return_code=return_code,
        client_trx_id=exchange.client_trx_id,
        at=exchange.at,
        message=message,
        latency_s=exchange.latency_s,
    )


def retry_after_seconds(result: HubResult) -> float | None:
    """How long the hub asked to wait before the next request, for a rate-limited result."""
    return result.retry_after_s if result.outcome == "rate_limited" else None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """A `Retry-After` header (delay seconds or an HTTP date) as seconds from `now`, or None."""
    if value is None:
        return None
    value = value.strip()
    if _DIGITS.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def _rate_limited(retry_after: str | None, body: bytes, exchange: Exchange) -> HubResult:
    seconds = parse_retry_after(retry_after, exchange.at)
    wait = f"retry after {seconds:g} s" if seconds is not None else "no usable Retry-After"
    return HubResult(
        outcome="rate_limited",
        return_code=_operation_code_in(body) or rc.RATE_LIMITED,
        client_trx_id=exchange.client_trx_id,
        at=exchange.at,
        message=f"rate limited by the hub (HTTP 429): {wait}",
        latency_s=exchange.latency_s,
        retry_after_s=seconds,
    )


def _status_message(status: int, code: str | None) -> str:
    if 300 <= status < 400:
        return f"HTTP {status}: the hub redirected; redirects are not followed"
    known = codes.BY_CODE.get(code or "")
    detail = f" ({known.nmvs} {known.code}: {known.text})" if known else ""
    return f"HTTP {status}: the hub did not answer the request{detail}"


def _operation_code_in(body: bytes) -> str | None:
    """The operation code of a JSON error body, if there is one (best effort)."""
    try:
        return _operation_code(_json_object(body))
    except _BadBody:
        return None


def _pack_result(entry: object, exchange: Exchange) -> tuple[PackKey, HubResult]:
    """One `{"pack": {…}, "result": {…}}` of bulk or recovery results."""
    if not isinstance(entry, dict):
        raise _BadBody("an entry of 'packs' is not an object")
    pack, result = entry.get("pack"), entry.get("result")
    if not isinstance(pack, dict) or not isinstance(result, dict):
        raise _BadBody("an entry of 'packs' lacks its 'pack' or 'result' object")
    scheme = _optional_str(pack, "productCodeScheme") or codes.SCHEME_NAMES["GTIN"]
    product_code, serial = _optional_str(pack, "productCode"), _optional_str(pack, "serialNumber")
    if product_code is None or serial is None:
        raise _BadBody("a pack in 'packs' lacks its productCode or serialNumber")
    code = _operation_code(result)
    status = codes.STATUS_OF_FAMILY.get(code[0], 0)
    if status not in _WITH_BODY:
        read = technical(_status_message(status, code), exchange, return_code=code)
    else:
        read = _answer(status, result, exchange)
    return (scheme.lower(), product_code, serial), read


def _answer(status: int, data: Mapping[str, Any], exchange: Exchange) -> HubResult:
    code = _operation_code(data)
    name = _optional_str(data, "state")
    if name is None and status != 422:
        raise _BadBody("field 'state' is missing")
    state = PackState.UNKNOWN if name is None else codes.pack_state(name)
    if state is None:
        raise _BadBody(f"unknown state {name!r}")
    reasons = _reasons(name, _optional_str(data, "batchState"))
    if reasons and state is PackState.ACTIVE:
        state = PackState.INACTIVE  # an active pack of a recalled batch cannot be supplied
    alert_id = _optional_str(data, "alertId") or _optional_str(data, "uprc")
    outcome = _WITH_BODY[status]
    if status in (404, 409) and alert_id:
        outcome = "alert"
    intermarket = data.get("isIntermarket", False)
    if not isinstance(intermarket, bool):
        raise _BadBody("field 'isIntermarket' is not a boolean")
    return HubResult(
        outcome=outcome,
        return_code=code,
        state=state,
        reasons=reasons,
        client_trx_id=exchange.client_trx_id,
        at=exchange.at,
        alert_id=alert_id or None,
        message=_message(code, data),
        intermarket=intermarket,
        latency_s=exchange.latency_s,
        product_name=_optional_str(data, "productName") or "",
        nhrn=_optional_str(data, "nhrn") or None,
    )


def _json_body(content_type: str | None, body: bytes) -> dict[str, Any]:
    if content_type is None or not _JSON_TYPE.match(content_type.strip()):
        raise _BadBody(f"content type {content_type!r} is not JSON")
    return _json_object(body)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise _BadBody(f"body is not valid JSON ({type(error).__name__})") from None
    if not isinstance(data, dict):
        raise _BadBody("body is not a JSON object")
    return data


def _operation_code(data: Mapping[str, Any]) -> str:
    value = data.get("operationCode")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _OPERATION_CODE.fullmatch(value):
        raise _BadBody("field 'operationCode' is missing or not numeric")
    return value


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise _BadBody(f"field {key!r} is not a string")
    return value


def _optional_time(data: Mapping[str, Any], key: str) -> datetime | None:
    """An ISO 8601 time with its zone (`2026-11-26T09:00:05Z`), or None when absent."""
    value = _optional_str(data, key)
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise _BadBody(f"field {key!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise _BadBody(f"field {key!r} has no time zone")
    return when


def _reasons(state_name: str | None, batch_state: str | None) -> tuple[Reason, ...]:
    """The reason the state names, then the batch state's (an unknown batch state is an error;
    `Active` adds none)."""
    reasons: list[Reason] = []
    implied = codes.REASONS_BY_STATE.get(state_name or "")
    if implied is not None:
        reasons.append(implied)
    if batch_state is not None and batch_state != codes.ACTIVE:
        batch_reason = codes.REASONS_BY_STATE.get(batch_state)
        if batch_reason is None or batch_reason not in codes.BATCH_LEVEL:
            raise _BadBody(f"unknown batch state {batch_state!r}")
        if batch_reason not in reasons:
            reasons.append(batch_reason)
    return tuple(reasons)


def _message(code: str, data: Mapping[str, Any]) -> str:
    """`NMVS code (operation code): information[; warning: …]`."""
    known = codes.BY_CODE.get(code)
    nmvs = known.nmvs if known else "unknown NMVS code"
    text = _optional_str(data, "information") or (known.text if known else "")
    message = f"{nmvs} ({code}): {text}" if text else f"{nmvs} ({code})"
    warning = data.get("warning")
    if isinstance(warning, str) and warning:
        message += f"; warning: {warning}"
    return message
