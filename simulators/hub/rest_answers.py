"""The simulator's REST answers, in the shapes Solidsoft's systems give them (nmvs.md §2.7).

- about one pack: `operationCode` (a number), `state` (`Active`, `NotFound`, or the reason the
  pack is inactive for), `batchState`, `productName`, `nhrn`, `isIntermarket`, `alertId`,
  `information`, `warning`;
- a pack's result inside bulk or recovery results: `operationCode`, `state`, `information`,
  `warning`, `uprc` (Solidsoft's `SinglePackResponse`);
- about the request itself (422, 429, 401, 503): `operationCode` and `information`.

`productName` and `nhrn` are what the MockHub's result carries (None when it has none).
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from fmd.hub import rest_codes as codes
from fmd.hub import returncodes as rc
from fmd.hub.contract import HubResult
from fmd.hub.validation import field_ok

RATE_LIMIT_RETRY_AFTER_S = 1


def render(result: HubResult, serial: str, batch: str | None) -> JSONResponse:
    """The answer to a request about one pack (`serial`, `batch` as sent; None: not sent): about
    the pack (200, 404, 409), or about the request (422, 429, 503)."""
    op = operation(result, serial, batch)
    if op.status not in (200, 404, 409):
        retry = {"Retry-After": str(RATE_LIMIT_RETRY_AFTER_S)} if op.status == 429 else None
        return _about_request(op, result.message, retry)
    body: dict[str, Any] = {
        "operationCode": int(op.code),
        "state": codes.state_name(result.state, result.reasons),
        "batchState": codes.batch_state_name(result.state, result.reasons),
        "productName": result.product_name or None,
        "nhrn": result.nhrn,
        "isIntermarket": result.intermarket,
        "alertId": result.alert_id,
        "information": result.message,
        "warning": _warning(result),
    }
    return JSONResponse(body, status_code=op.status)


def pack_result(result: HubResult, serial: str, batch: str) -> dict[str, Any]:
    """A pack's `result` inside bulk or recovery results."""
    return {
        "operationCode": int(operation(result, serial, batch).code),
        "state": codes.state_name(result.state, result.reasons),
        "information": result.message,
        "warning": _warning(result),
        "uprc": result.alert_id,
    }


def operation(result: HubResult, serial: str, batch: str | None) -> codes.OperationCode:
    """The operation code for a result; a schema violation names the field that broke it."""
    if result.return_code == rc.SCHEMA_VIOLATION:
        if not field_ok(serial):
            return codes.BAD_SERIAL
        if batch is None or not field_ok(batch):
            return codes.BAD_BATCH
    return codes.FOR_NMVS.get(result.return_code, codes.FOR_NMVS[rc.ERROR])


def error(
    op: codes.OperationCode, information: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """An answer about the request itself (not about a pack)."""
    return _about_request(op, f"{op.text}: {information}", headers)


def unauthorised() -> JSONResponse:
    """The answer to a request without a valid bearer token."""
    response = error(codes.UNAUTHORIZED, "send a valid bearer token")
    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


def _about_request(
    op: codes.OperationCode, information: str, headers: dict[str, str] | None
) -> JSONResponse:
    body = {"operationCode": int(op.code), "information": information}
    return JSONResponse(body, status_code=op.status, headers=headers)


def _warning(result: HubResult) -> str | None:
    if result.alert_id is None:
        return None
    return f"Potential falsification: alert {result.alert_id} raised; do not supply this pack"
