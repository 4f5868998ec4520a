"""The simulator's Solidsoft-style REST dialect (nmvs.md §2.7, §2.9) over one `MockHub`.

- `POST /identity/connect/token` (form: client credentials) → a bearer token valid one hour.
- `GET /api/health` → 200 `{"status": "ok"}`.
- `GET /api/product/{gs1|ifa}/{code}/pack/{serial}?batch=&expiry=` → verify.
- `PATCH` of the same URL, body `{"state": "Supplied" | …}` → decommission; `{"state":
  "Active"}` → undo from the pack's own state (other keys are ignored).
- `POST /api/product/packs` (bulk) and `POST /api/recovery/packs` (recovery), and `GET` of
  the `Location` they answer with: see `simulators.hub.rest_many`.

Every `/api` request needs a valid bearer token (401 otherwise), and those about packs the
header `emvs-data-entry-mode: non-manual|manual` (422 `61020012` missing, `61020013` unknown).
`non-manual` needs batch and expiry (422 otherwise); `manual` goes to the MockHub's manual entry,
which takes what was keyed in. The header `emvs-client-transaction-id` (ours) is passed to the
MockHub as the client trx id. Answers carry the operation code and HTTP status of
`fmd.hub.rest_codes.TABLE` for the MockHub's return code, in the shapes of
`simulators.hub.rest_answers`.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from fmd.codes.model import PackIdentifier
from fmd.hub import MockHub
from fmd.hub import rest_codes as codes
from fmd.hub.contract import PACK_LEVEL_REASONS, HubResult, HubUnavailable, ManualEntry, Reason
from fmd.hub.mock import MockHubClient
from simulators.hub.accounts import AccountBook, RestEquipment
from simulators.hub.rest_answers import error, render, unauthorised
from simulators.hub.rest_many import ManyPacks, own_reason

TOKEN_LIFETIME_S = 3600


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
    many = ManyPacks(hub)

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

    def admit(request: Request, *, about_packs: bool = True) -> RestEquipment | Response:
        """The equipment a request comes from, or the answer refusing it: 401 without a valid
        token, 422 (`about_packs`) without a usable data entry mode."""
        equipment = tokens.holder(request.headers.get("authorization"))
        if equipment is None:
            return unauthorised()
        refused = _mode_problem(request) if about_packs else None
        return equipment if refused is None else refused

    @router.get("/api/health")
    async def health(request: Request) -> Response:
        admitted = admit(request, about_packs=False)
        return admitted if isinstance(admitted, Response) else JSONResponse({"status": "ok"})

    @router.post("/api/{route}/packs")
    async def submit(route: str, request: Request) -> Response:
        admitted = admit(request)
        if isinstance(admitted, Response):
            return admitted
        client = hub.client(admitted.location, user=admitted.client_id)
        return await many.submit(route, client, await request.body(), str(request.url))

    @router.get("/api/{route}/packs/{name}")
    async def results(route: str, name: str, request: Request) -> Response:
        admitted = admit(request, about_packs=False)
        if isinstance(admitted, Response):
            return admitted
        return many.results(route, admitted.location, name)

    @router.api_route(
        "/api/product/{scheme}/{product_code}/pack/{serial:path}", methods=["GET", "PATCH"]
    )
    async def pack(scheme: str, product_code: str, serial: str, request: Request) -> Response:
        admitted = admit(request)
        if isinstance(admitted, Response):
            return admitted
        if scheme not in codes.SCHEMES_BY_NAME:
            return error(codes.BAD_PRODUCT_CODE, f"unknown product code scheme {scheme!r}")
        client = hub.client(admitted.location, user=admitted.client_id)
        entry = ManualEntry(
            codes.SCHEMES_BY_NAME[scheme],
            product_code,
            serial,
            request.query_params.get("batch"),
            request.query_params.get("expiry"),
        )
        manual = request.headers.get(codes.DATA_ENTRY_MODE_HEADER) == codes.MANUAL
        asked = _Asked(entry, manual, request.headers.get(codes.CLIENT_TRX_HEADER))
        try:
            if request.method == "GET":
                answer = await asked.verify(client)
            else:
                answer = await asked.change(hub, client, await request.body())
        except HubUnavailable as failure:
            return error(codes.UNAVAILABLE, str(failure))
        if isinstance(answer, Response):
            return answer
        return render(answer, serial, entry.batch)

    return router


@dataclass(frozen=True, slots=True)
class _Asked:
    """One request about a pack, as sent: what was scanned or keyed in (batch and expiry None
    when not sent), whether by hand, and the client trx id."""

    entry: ManualEntry
    manual: bool
    trx: str | None

    async def verify(self, client: MockHubClient) -> HubResult | Response:
        if self.manual:
            return await client.manual(self.entry, trx=self.trx)
        ui = self._ui()
        return ui if isinstance(ui, Response) else await client.verify(ui, trx=self.trx)

    async def change(self, hub: MockHub, client: MockHubClient, raw: bytes) -> HubResult | Response:
        """Decommission or undo as the PATCH body asks, or the 422 answer to a body that is
        wrong."""
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            return error(codes.BAD_BODY, "body is not valid JSON")
        state = body.get("state") if isinstance(body, dict) else None
        if state == codes.ACTIVE:
            ui = self._ui()
            if isinstance(ui, Response):
                return ui
            return await client.undo(ui, own_reason(hub, ui), trx=self.trx)
        to = codes.REASONS_BY_STATE.get(state) if isinstance(state, str) else None
        if to is None or to not in PACK_LEVEL_REASONS:
            return error(codes.BAD_BODY, f"state {state!r} cannot be set on a pack")
        return await self._decommission(client, to)

    async def _decommission(self, client: MockHubClient, to: Reason) -> HubResult | Response:
        if self.manual:
            return await client.manual(self.entry, to, trx=self.trx)
        ui = self._ui()
        return ui if isinstance(ui, Response) else await client.decommission(ui, to, trx=self.trx)

    def _ui(self) -> PackIdentifier | Response:
        """The pack as scanned, or the 422 answer when its batch or expiry was not sent."""
        entry = self.entry
        if entry.batch is None:
            return error(codes.BAD_BATCH, "query parameter 'batch' is missing")
        if entry.expiry_raw is None:
            return error(codes.BAD_EXPIRY, "query parameter 'expiry' is missing")
        return PackIdentifier(
            entry.scheme, entry.product_code, entry.serial, entry.batch, None, entry.expiry_raw
        )


def _mode_problem(request: Request) -> Response | None:
    """The 422 answer to a request without a usable `emvs-data-entry-mode`, or None."""
    mode = request.headers.get(codes.DATA_ENTRY_MODE_HEADER)
    if mode is None:
        return error(codes.MODE_MISSING, f"header {codes.DATA_ENTRY_MODE_HEADER} is missing")
    if mode not in codes.DATA_ENTRY_MODES:
        return error(codes.MODE_UNKNOWN, f"unknown data entry mode {mode!r}")
    return None
