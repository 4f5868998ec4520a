"""The Arvato-style SOAP 1.2 dialect of the hub simulator, over one `MockHub`.

Endpoints (below the app's `/soap` prefix): the single-pack, bulk and support services of
`fmd.hub.soap_names`. The login fields pick the location (a wrong login is an HTTP 401 fault
`NMVS_FE_AU_01`); the MockHub's answer is rendered with its return codes verbatim. A request that
is not SOAP 1.2 we understand is a `Sender` fault `NMVS_TE_XM_01` (HTTP 400, or 415 for a wrong
content type); the MockHub's own injected unavailability is HTTP 503; anything unexpected is a
`Receiver` fault (HTTP 500), never a traceback.

Bulks are processed as soon as they are submitted, in the background; their results are only
given through G188 (`BulkState` PROCESSING until the MockHub has answered). The last
`KEPT_BULKS` bulks are remembered, per location.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request, Response

from fmd.codes.model import PackIdentifier
from fmd.hub import BulkItem, BulkResult, HubResult, HubUnavailable, MockHub
from fmd.hub import returncodes as rc
from fmd.hub.mock import MockHubClient
from fmd.hub.soap_codes import AUTH_FAILED, BULK_UNKNOWN, COMMUNICATION_ERROR
from fmd.hub.soap_names import (
    BULK,
    BULK_PATH,
    BULK_PING,
    BULK_RESULT,
    SINGLE,
    SINGLE_PATH,
    SINGLE_PING,
    SOAP_MEDIA_TYPE,
    SUPPORT_PATH,
    SUPPORT_PING,
)
from fmd.hub.soap_requests import PINGS, SoapRequest, parse_request
from fmd.hub.soap_responses import (
    bulk_result_response,
    bulk_submit_response,
    ping_response,
    single_response,
)
from fmd.hub.soap_xml import SoapError, fault
from simulators.hub.accounts import AccountBook

MAX_REQUEST_BYTES = 64_000_000
KEPT_BULKS = 1000
_CONTENT_TYPE = f"{SOAP_MEDIA_TYPE}; charset=utf-8"


@dataclass(frozen=True, slots=True)
class _Bulk:
    packs: tuple[PackIdentifier, ...]
    task: asyncio.Task[BulkResult]


def soap_router(hub: MockHub, accounts: AccountBook) -> APIRouter:
    """The SOAP services of the simulator over `hub`, for the logins `accounts` holds."""
    service = _SoapService(hub, accounts)
    router = APIRouter()
    for path, codes in (
        (SINGLE_PATH, frozenset({*SINGLE, SINGLE_PING})),
        (BULK_PATH, frozenset({*BULK, BULK_RESULT, BULK_PING})),
        (SUPPORT_PATH, frozenset({SUPPORT_PING})),
    ):
        router.add_api_route(path, service.endpoint(codes), methods=["POST"])
    return router


class _SoapService:
    def __init__(self, hub: MockHub, accounts: AccountBook) -> None:
        self.hub = hub
        self.accounts = accounts
        self.bulks: OrderedDict[tuple[str, str], _Bulk] = OrderedDict()

    def endpoint(self, codes: frozenset[str]) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            return await self.handle(request, codes)

        return serve

    async def handle(self, request: Request, codes: frozenset[str]) -> Response:
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != SOAP_MEDIA_TYPE:
            return _fault(415, rc.SCHEMA_VIOLATION, f"content type {media_type!r} is not SOAP 1.2")
        try:
            data = await _read_body(request)
            parsed = parse_request(data, this_year=self.hub.clock().year)
            if parsed.code not in codes:
                raise SoapError(f"{parsed.code} is not a transaction of {request.url.path}")
            return _soap(await self.answer(parsed))
        except SoapError as error:
            return _fault(400, error.code, error.message)
        except HubUnavailable as error:
            return _fault(503, COMMUNICATION_ERROR, str(error))
        except Exception as error:  # noqa: BLE001 - a simulator bug must still answer as a hub would
            return _fault(500, rc.ERROR, f"internal error: {type(error).__name__}")

    async def answer(self, request: SoapRequest) -> bytes:
        if request.code in PINGS:
            await self.hub.ping()
            return ping_response(request.code, request.ping or "")
        login = request.login
        found = None
        if login is not None:
            found = self.accounts.soap_login(login.client_login_id, login.user_id, login.password)
        if login is None or found is None:
            raise _AuthFailed
        client = self.hub.client(found.location, user=login.user_id)
        if request.code in SINGLE:
            return await self.single(client, request)
        if request.code in BULK:
            return self.submit(client, request)
        return self.collect(found.location, request)

    async def single(self, client: MockHubClient, request: SoapRequest) -> bytes:
        operation, reason = SINGLE[request.code]
        ui, trx = request.ui, request.client_trx
        if ui is None:
            raise SoapError("missing Product and Pack")
        result: HubResult
        if reason is None:
            result = await client.verify(ui, trx=trx)
        elif operation == "decommission":
            result = await client.decommission(ui, reason, trx=trx)
        else:
            result = await client.undo(ui, reason, trx=trx, ref_trx=request.ref_trx)
        return single_response(request.code, ui, result)

    def submit(self, client: MockHubClient, request: SoapRequest) -> bytes:
        operation, reason = BULK[request.code]
        kind: Literal["verify", "decommission"] = (
            "verify" if operation == "verify" else "decommission"
        )
        items = [BulkItem(ui, kind, reason, trx) for ui, trx in request.items]
        task = asyncio.create_task(client.bulk(items))
        task.add_done_callback(_retrieve)
        bulk_id = uuid.uuid4().hex
        self.bulks[client.location, bulk_id] = _Bulk(tuple(ui for ui, _ in request.items), task)
        while len(self.bulks) > KEPT_BULKS:
            self.bulks.popitem(last=False)
        return bulk_submit_response(request.code, request.client_trx or "", bulk_id, self.now())

    def collect(self, location: str, request: SoapRequest) -> bytes:
        ref = request.ref_bulk or ""
        answer = (request.client_trx or "", uuid.uuid4().hex, self.now(), ref)
        bulk = self.bulks.get((location, ref))
        if bulk is None:
            return bulk_result_response(*answer, None, code=BULK_UNKNOWN, message="bulk unknown")
        if not bulk.task.done():
            return bulk_result_response(*answer, None)
        results = bulk.task.result().results  # raises the MockHub's HubUnavailable
        return bulk_result_response(*answer, list(zip(bulk.packs, results, strict=True)))

    def now(self) -> datetime:
        return self.hub.clock()


class _AuthFailed(SoapError):
    def __init__(self) -> None:
        super().__init__("login not accepted (ClientLoginId, UserId, Password)", AUTH_FAILED)


async def _read_body(request: Request) -> bytes:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_REQUEST_BYTES:
            raise SoapError(f"request larger than {MAX_REQUEST_BYTES} bytes")
    return bytes(data)


def _soap(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=_CONTENT_TYPE)


def _fault(status: int, code: str, reason: str) -> Response:
    if code == AUTH_FAILED:
        status = 401
    return _soap(fault(code, reason, sender=status < 500), status)


def _retrieve(task: asyncio.Task[BulkResult]) -> None:
    """Mark a bulk's failure as seen: it is reported through G188, not as a loop warning."""
    if not task.cancelled():
        task.exception()
