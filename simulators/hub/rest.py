"""The simulator's Solidsoft-style REST dialect (nmvs.md §2.7) over one `MockHub`.

- `POST /identity/connect/token` (form: client credentials) → a bearer token valid one hour.
- `GET /api/health` → 200 `{"status": "ok"}`.
- `GET /api/product/{gs1|ppn}/{code}/pack/{serial}?batch=&expiry=` → verify.
- `PATCH` of the same URL, body `{"state": "Supplied" | …}` → decommission; `{"state": "Active",
  "fromState": …, "refTransactionId": …}` → undo (without `fromState`, the pack's own reason).

Every `/api` request needs a valid bearer token (401 otherwise) and, for packs, the header
`emvs-data-entry-mode: scanned|manual` (422 `61020012` missing, `61020013` unknown). The header
`emvs-client-transaction-id` is passed to the MockHub as the client trx id. Answers carry the
operation code and HTTP status of `fmd.hub.rest_codes.TABLE` for the MockHub's return code.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from fmd.codes.model import PackIdentifier, Scheme
from fmd.hub import MockHub
from fmd.hub import rest_codes as codes
from fmd.hub import returncodes as rc
from fmd.hub.contract import PACK_LEVEL_REASONS, HubResult, HubUnavailable, PackState, Reason
from fmd.hub.mock import MockHubClient
from fmd.hub.validation import field_ok
from simulators.hub.accounts import AccountBook, RestEquipment

TOKEN_LIFETIME_S = 3600
RATE_LIMIT_RETRY_AFTER_S = 1
_SCHEMES: dict[str, Scheme] = {"gs1": "GTIN", "ppn": "PPN"}


class _Tokens:
    """Issued bearer tokens and the equipment each stands for."""

    def __init__(self, book: AccountBook) -> None:
        self._book = book
        self._issued: dict[str, tuple[RestEquipment, float]] = {}

    def issue(self, equipment: RestEquipment) -> str:
        now = time.monotonic()
        self._issued = {t: e for t, e in self._issued.items() if e[1] > now}
        token = secrets.token_urlsafe(32)
        self._issued[token] = (equipment, now + TOKEN_LIFETIME_S)
        return token

    def holder(self, authorization: str | None) -> RestEquipment | None:
        """The equipment a `Bearer` authorization header stands for, or None (also when the
        equipment is no longer registered: its tokens are revoked)."""
        scheme, _, token = (authorization or "").partition(" ")
        found = self._issued.get(token.strip()) if scheme.lower() == "bearer" else None
        if found is None or found[1] <= time.monotonic() or not self._book.registered(found[0]):
            return None
        return found[0]


def rest_router(hub: MockHub, accounts: AccountBook) -> APIRouter:
    """The REST dialect's routes over `hub`, for the equipment `accounts` holds."""
    router = APIRouter()
    tokens = _Tokens(accounts)

    @router.post("/identity/connect/token")
    async def token(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))

        def field(name: str) -> str:
            return form.get(name, [""])[0]

        if field("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        equipment = accounts.equipment(field("client_id"), field("client_secret"))
        if equipment is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        return JSONResponse(
            {
                "access_token": tokens.issue(equipment),
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME_S,
            },
            headers={"Cache-Control": "no-store"},
        )

    @router.get("/api/health")
    async def health(request: Request) -> Response:
        if tokens.holder(request.headers.get("authorization")) is None:
            return _unauthorised()
        return JSONResponse({"status": "ok"})

    @router.api_route(
        "/api/product/{scheme}/{product_code}/pack/{serial:path}", methods=["GET", "PATCH"]
    )
    async def pack(scheme: str, product_code: str, serial: str, request: Request) -> Response:
        equipment = tokens.holder(request.headers.get("authorization"))
        if equipment is None:
            return _unauthorised()
        ui_or_error = _pack_identifier(scheme, product_code, serial, request)
        if isinstance(ui_or_error, Response):
            return ui_or_error
        ui = ui_or_error
        client = hub.client(equipment.location, user=equipment.client_id)
        trx = request.headers.get(codes.CLIENT_TRX_HEADER)
        try:
            if request.method == "GET":
                result = await client.verify(ui, trx=trx)
            else:
                body = await request.body()
                result_or_error = await _change_state(hub, client, ui, trx, body)
                if isinstance(result_or_error, Response):
                    return result_or_error
                result = result_or_error
        except HubUnavailable as error:
            return _error(codes.UNAVAILABLE, str(error))
        return render(result, ui)

    return router


def render(result: HubResult, ui: PackIdentifier) -> JSONResponse:
    """The REST answer for a MockHub result about pack `ui`."""
    op = _operation(result, ui)
    body: dict[str, Any] = {
        "operationCode": op.code,
        "nmvsCode": result.return_code,
        "state": codes.state_name(result.state, result.reasons),
        "reasons": [reason.value for reason in result.reasons],
        "batchState": _batch_state(result),
        "productCode": ui.product_code,
        "serialNumber": ui.serial,
        "batch": ui.batch,
        "expiry": ui.expiry_raw,
        "alertId": result.alert_id,
        "information": result.message,
        "warning": (
            f"Potential falsification: alert {result.alert_id} raised; do not supply this pack"
            if result.alert_id
            else None
        ),
        "isIntermarket": result.intermarket,
        "transactionId": result.hub_trx_id,
        "clientTransactionId": result.client_trx_id,
    }
    headers = {"Retry-After": str(RATE_LIMIT_RETRY_AFTER_S)} if op.status == 429 else None
    return JSONResponse(body, status_code=op.status, headers=headers)


def _operation(result: HubResult, ui: PackIdentifier) -> codes.OperationCode:
    """The operation code for a result; a schema violation names the field that broke it."""
    if result.return_code == rc.SCHEMA_VIOLATION:
        if not field_ok(ui.serial):
            return codes.BAD_SERIAL
        if not field_ok(ui.batch):
            return codes.BAD_BATCH
    return codes.FOR_NMVS.get(result.return_code, codes.FOR_NMVS[rc.ERROR])


def _batch_state(result: HubResult) -> str | None:
    if result.state == PackState.UNKNOWN:
        return None
    for reason in (Reason.RECALLED, Reason.EXPIRED):
        if reason in result.reasons:
            return codes.STATE_NAMES[reason]
    return codes.ACTIVE


def _pack_identifier(
    scheme: str, product_code: str, serial: str, request: Request
) -> PackIdentifier | Response:
    """The pack a request is about, or the 422 answer to a request that cannot be read."""
    mode = request.headers.get(codes.DATA_ENTRY_MODE_HEADER)
    if mode is None:
        return _error(codes.MODE_MISSING, f"header {codes.DATA_ENTRY_MODE_HEADER} is missing")
    if mode not in codes.DATA_ENTRY_MODES:
        return _error(codes.MODE_UNKNOWN, f"unknown data entry mode {mode!r}")
    if scheme not in _SCHEMES:
        return _error(codes.BAD_PRODUCT_CODE, f"unknown product code scheme {scheme!r}")
    batch = request.query_params.get("batch")
    if batch is None:
        return _error(codes.BAD_BATCH, "query parameter 'batch' is missing")
    expiry = request.query_params.get("expiry")
    if expiry is None:
        return _error(codes.BAD_EXPIRY, "query parameter 'expiry' is missing")
    return PackIdentifier(_SCHEMES[scheme], product_code, serial, batch, None, expiry)


async def _change_state(
    hub: MockHub, client: MockHubClient, ui: PackIdentifier, trx: str | None, raw: bytes
) -> HubResult | Response:
    """Decommission or undo as the PATCH body asks, or the 422 answer to a body that is wrong."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return _error(codes.BAD_BODY, "body is not valid JSON")
    if not isinstance(body, dict):
        return _error(codes.BAD_BODY, "body is not a JSON object")
    state, from_state, ref = body.get("state"), body.get("fromState"), body.get("refTransactionId")
    if state == codes.ACTIVE:
        from_ = _reason(from_state) if from_state is not None else _own_reason(hub, ui)
        if from_ is None:
            return _error(codes.BAD_BODY, f"fromState {from_state!r} is not a pack state")
        if ref is not None and not isinstance(ref, str):
            return _error(codes.BAD_BODY, "refTransactionId is not a string")
        return await client.undo(ui, from_, trx=trx, ref_trx=ref)
    to = _reason(state)
    if to is None:
        return _error(codes.BAD_BODY, f"state {state!r} cannot be set on a pack")
    return await client.decommission(ui, to, trx=trx)


def _reason(name: object) -> Reason | None:
    """The pack-level reason a REST state name stands for, or None."""
    reason = codes.REASONS_BY_STATE.get(name) if isinstance(name, str) else None
    return reason if reason in PACK_LEVEL_REASONS else None


def _own_reason(hub: MockHub, ui: PackIdentifier) -> Reason:
    """The pack-level reason the pack is inactive for (SUPPLIED if none: the undo then fails)."""
    _, reasons = hub.pack_state(ui.product_code, ui.serial)
    return next((r for r in reasons if r in PACK_LEVEL_REASONS), Reason.SUPPLIED)


def _error(op: codes.OperationCode, information: str) -> JSONResponse:
    """An answer about the request itself (not about a pack)."""
    body = {
        "operationCode": op.code,
        "nmvsCode": op.nmvs,
        "state": codes.UNKNOWN,
        "information": f"{op.text}: {information}",
    }
    return JSONResponse(body, status_code=op.status)


def _unauthorised() -> JSONResponse:
    response = _error(codes.UNAUTHORIZED, "send a valid bearer token")
    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response
