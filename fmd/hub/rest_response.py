"""Pure mapping of one REST hub response (status, a few headers, body bytes) onto a `HubResult`.

Outcome by HTTP status: 200 ok; 404/409 alert when the body carries an `alertId`, else refused;
422 invalid_request; 429 rate_limited; 3xx (redirects are never followed), 5xx and anything else
technical. A body that should be JSON and is not (wrong content type, malformed, missing or
mistyped fields, unknown state or reason names) gives technical with `NMVS_TE_JS_01`.

`return_code` is the hub's numeric `operationCode` when it sent one (also on 429 and 5xx);
otherwise the NMVS code of what the client saw (`NMVS_TE_JS_01`, `NMVS_FI_SE_CLI_01`,
`NMVS_ERROR`, …). The NMVS code of an operation code (the body's `nmvsCode`, else the one in
`fmd.hub.rest_codes`) starts the `message`: ``"NMVS_NC_PC_02 (41020001): Serial number unknown"``.
A rate-limited result's message says ``"retry after N s"`` when the hub sent a usable
`Retry-After`; `retry_after_seconds` reads it back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from fmd.hub import rest_codes as codes
from fmd.hub import returncodes as rc
from fmd.hub.contract import HubResult, Outcome, PackState, Reason

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


class _BadBody(ValueError):
    """The body is not what the REST dialect promises."""


def parse_response(
    status: int,
    content_type: str | None,
    retry_after: str | None,
    body: bytes,
    exchange: Exchange,
) -> HubResult:
    """Map one response onto a `HubResult`; never raises."""
    if status == 429:
        return _rate_limited(retry_after, body, exchange)
    if status not in _WITH_BODY:
        code = _operation_code_in(body)
        return technical(_status_message(status, code), exchange, return_code=code or rc.ERROR)
    try:
        return _answer(status, content_type, body, exchange)
    except _BadBody as problem:
        return technical(f"HTTP {status}: {problem}", exchange)


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
        data = _json_object(body)
        return _operation_code(data)
    except _BadBody:
        return None


def _answer(status: int, content_type: str | None, body: bytes, exchange: Exchange) -> HubResult:
    if content_type is None or not _JSON_TYPE.match(content_type.strip()):
        raise _BadBody(f"content type {content_type!r} is not JSON")
    data = _json_object(body)
    code = _operation_code(data)
    name = _optional_str(data, "state")
    if name is None and status != 422:
        raise _BadBody("field 'state' is missing")
    state = PackState.UNKNOWN if name is None else codes.pack_state(name)
    if state is None:
        raise _BadBody(f"unknown state {name!r}")
    reasons = _reasons(data, name)
    alert_id = _optional_str(data, "alertId")
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
        hub_trx_id=_optional_str(data, "transactionId") or "",
        at=exchange.at,
        alert_id=alert_id or None,
        message=_message(code, data),
        intermarket=intermarket,
        latency_s=exchange.latency_s,
    )


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise _BadBody(f"body is not valid JSON ({type(error).__name__})") from None
    if not isinstance(data, dict):
        raise _BadBody("body is not a JSON object")
    return data


def _operation_code(data: dict[str, Any]) -> str:
    value = data.get("operationCode")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _OPERATION_CODE.fullmatch(value):
        raise _BadBody("field 'operationCode' is missing or not numeric")
    return value


def _optional_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise _BadBody(f"field {key!r} is not a string")
    return value


def _reasons(data: dict[str, Any], state_name: str | None) -> tuple[Reason, ...]:
    """The `reasons` list, or the reason the state name implies when the hub sent none."""
    raw = data.get("reasons")
    if raw is None:
        implied = codes.REASONS_BY_STATE.get(state_name or "")
        return (implied,) if implied else ()
    if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
        raise _BadBody("field 'reasons' is not a list of names")
    try:
        return tuple(Reason(r) for r in raw)
    except ValueError:
        raise _BadBody(f"unknown reason in {raw!r}") from None


def _message(code: str, data: dict[str, Any]) -> str:
    """`NMVS code (operation code): information[; warning: …]`."""
    known = codes.BY_CODE.get(code)
    nmvs = _optional_str(data, "nmvsCode") or (known.nmvs if known else "unknown NMVS code")
    text = _optional_str(data, "information") or (known.text if known else "")
    message = f"{nmvs} ({code}): {text}" if text else f"{nmvs} ({code})"
    warning = data.get("warning")
    if isinstance(warning, str) and warning:
        message += f"; warning: {warning}"
    return message
