"""The Arvato-style SOAP 1.2 dialect of the hub simulator, over one `MockHub`.

Endpoints (below the app's `/soap` prefix): the single-pack, bulk, mixed-bulk and support
services of `fmd.hub.soap_names`. Every request is first checked against the structure the
published schemas define (`simulators.hub.soap_schema`): one the real system would refuse
(an unqualified attribute, an element out of order, a second product in a bulk…) is a `Sender`
fault `NMVS_TE_XM_01` naming it (HTTP 400). `text/xml` is accepted beside
`application/soap+xml`, as production endpoints appear to (`strict_media_type` refuses it:
HTTP 415). The login fields pick the location (a wrong login is an HTTP 401 fault
`NMVS_FE_AU_01`); the MockHub's answer is rendered in the schemas' shape, with the Auth echo and
its return codes (an L5 code without an alert as its v5 "no alert" twin). The MockHub's own
injected unavailability is HTTP 503; anything unexpected is a `Receiver` fault (HTTP 500),
never a traceback.

Bulks and mixed bulks are processed as soon as they are submitted, in the background; their
results are only given through G188/G196 (the return code alone while processing). The last
`KEPT_BULKS` are remembered, per location.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request, Response

from fmd.codes.model import PackIdentifier
from fmd.hub import BulkItem, HubResult, HubUnavailable, MockHub, Reason
from fmd.hub import returncodes as rc
from fmd.hub.contract import Operation
from fmd.hub.mock import MockHubClient
from fmd.hub.soap_codes import AUTH_FAILED, BULK_UNKNOWN, COMMUNICATION_ERROR
from fmd.hub.soap_names import (
    BULK,
    BULK_PATH,
    BULK_PING,
    BULK_RESULT,
    LEGACY_MEDIA_TYPE,
    MANUAL_SINGLE,
    MIXED_PATH,
    MIXED_RESULT,
    MIXED_SUBMIT,
    SINGLE,
    SINGLE_PATH,
    SINGLE_PING,
    SOAP_MEDIA_TYPE,
    SUPPORT_PATH,
    SUPPORT_PING,
)
from fmd.hub.soap_requests import PINGS, Login, MixedItem, SoapRequest, read_request
from fmd.hub.soap_responses import (
    Answered,
    Pack,
    bulk_result_response,
    mixed_result_response,
    ping_response,
    single_response,
    submit_response,
)
from fmd.hub.soap_xml import SoapError, fault, parse_body
from simulators.hub.accounts import AccountBook
from simulators.hub.soap_schema import schema_problem

MAX_REQUEST_BYTES = 64_000_000
KEPT_BULKS = 1000
_CONTENT_TYPE = f"{SOAP_MEDIA_TYPE}; charset=utf-8"
_SERVICES: tuple[tuple[str, frozenset[str]], ...] = (
    (SINGLE_PATH, frozenset({*SINGLE, *MANUAL_SINGLE, SINGLE_PING})),
    (BULK_PATH, frozenset({*BULK, BULK_RESULT, BULK_PING})),
    (MIXED_PATH, frozenset({MIXED_SUBMIT, MIXED_RESULT})),
    (SUPPORT_PATH, frozenset({SUPPORT_PING})),
)


@dataclass(frozen=True, slots=True)
class _Bulk:
    code: str
    packs: tuple[Pack, ...]
    codes: tuple[str, ...]
    task: asyncio.Task[tuple[HubResult, ...]]


def soap_router(
    hub: MockHub, accounts: AccountBook, *, strict_media_type: bool = False
) -> APIRouter:
    """The SOAP services of the simulator over `hub`, for the logins `accounts` holds;
    `strict_media_type` refuses `text/xml` (SOAP 1.2 says `application/soap+xml`)."""
    service = _SoapService(hub, accounts, strict_media_type)
    router = APIRouter()
    for path, codes in _SERVICES:
        router.add_api_route(path, service.endpoint(codes), methods=["POST"])
    return router


class _SoapService:
    def __init__(self, hub: MockHub, accounts: AccountBook, strict_media_type: bool) -> None:
        self.hub = hub
        self.accounts = accounts
        self.media_types = frozenset(
            {SOAP_MEDIA_TYPE} if strict_media_type else {SOAP_MEDIA_TYPE, LEGACY_MEDIA_TYPE}
        )
        self.bulks: OrderedDict[tuple[str, str], _Bulk] = OrderedDict()

    def endpoint(self, codes: frozenset[str]) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            return await self.handle(request, codes)

        return serve

    async def handle(self, request: Request, codes: frozenset[str]) -> Response:
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type not in self.media_types:
            return _fault(415, rc.SCHEMA_VIOLATION, f"content type {media_type!r} is not SOAP 1.2")
        try:
            element = parse_body(await _read_body(request))
            problem = schema_problem(element)
            if problem is not None:
                raise SoapError(f"request does not match the schema: {problem}")
            parsed = read_request(element, this_year=self.hub.clock().year)
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
        if request.code in SINGLE or request.code in MANUAL_SINGLE:
            return await self.single(client, login, request)
        if request.code in BULK:
            return self.submit(client, login, request, *_bulk_work(client, request))
        if request.code == MIXED_SUBMIT:
            return self.submit(client, login, request, *_mixed_work(client, request.mixed))
        return self.collect(found.location, login, request)

    async def single(self, client: MockHubClient, login: Login, request: SoapRequest) -> bytes:
        trx = request.client_trx
        result: HubResult
        pack: Pack
        if request.entry is not None:
            _, reason = MANUAL_SINGLE[request.code]
            pack = request.entry
            result = await client.manual(request.entry, reason, trx=trx)
        elif request.ui is not None:
            pack = request.ui
            result = await _send_single(client, request.code, request.ui, trx, request.ref_trx)
        else:
            raise SoapError("missing Product and Pack")
        answered = Answered(login, result.client_trx_id, result.hub_trx_id, result.at or self.now())
        shown = None if result.outcome == "invalid_request" else pack
        return single_response(request.code, answered, shown, result)

    def submit(
        self,
        client: MockHubClient,
        login: Login,
        request: SoapRequest,
        packs: tuple[Pack, ...],
        codes: tuple[str, ...],
        work: Awaitable[tuple[HubResult, ...]],
    ) -> bytes:
        task = asyncio.ensure_future(work)
        task.add_done_callback(_retrieve)
        bulk_id = uuid.uuid4().hex
        self.bulks[client.location, bulk_id] = _Bulk(request.code, packs, codes, task)
        while len(self.bulks) > KEPT_BULKS:
            self.bulks.popitem(last=False)
        answered = Answered(login, request.client_trx or "", bulk_id, self.now())
        return submit_response(request.code, answered)

    def collect(self, location: str, login: Login, request: SoapRequest) -> bytes:
        ref = request.ref_bulk or ""
        answered = Answered(login, request.client_trx or "", uuid.uuid4().hex, self.now())
        bulk = self.bulks.get((location, ref))
        mixed = request.code == MIXED_RESULT
        if bulk is None or (bulk.code == MIXED_SUBMIT) != mixed:
            if mixed:
                return mixed_result_response(
                    answered, None, code=BULK_UNKNOWN, message="bulk unknown"
                )
            return bulk_result_response(
                answered, None, None, code=BULK_UNKNOWN, message="bulk unknown"
            )
        results = bulk.task.result() if bulk.task.done() else None  # raises HubUnavailable
        if mixed:
            rows = (
                None if results is None else list(zip(bulk.codes, bulk.packs, results, strict=True))
            )
            return mixed_result_response(answered, rows)
        pairs = (
            None
            if results is None
            else [
                (pack, result)
                for pack, result in zip(bulk.packs, results, strict=True)
                if isinstance(pack, PackIdentifier)
            ]
        )
        return bulk_result_response(answered, bulk.code, pairs)

    def now(self) -> datetime:
        return self.hub.clock()


async def _send_single(
    client: MockHubClient, code: str, ui: PackIdentifier, trx: str | None, ref_trx: str | None
) -> HubResult:
    operation, reason = SINGLE[code]
    if reason is None:
        return await client.verify(ui, trx=trx)
    if operation == "decommission":
        return await client.decommission(ui, reason, trx=trx)
    return await client.undo(ui, reason, trx=trx, ref_trx=ref_trx)


def _bulk_work(
    client: MockHubClient, request: SoapRequest
) -> tuple[tuple[Pack, ...], tuple[str, ...], Awaitable[tuple[HubResult, ...]]]:
    operation, reason = BULK[request.code]
    items = [BulkItem(ui, operation, reason) for ui in request.bulk]

    async def work() -> tuple[HubResult, ...]:
        return (await client.bulk(items)).results

    return request.bulk, (request.code,) * len(items), work()


def _mixed_work(
    client: MockHubClient, items: Sequence[MixedItem]
) -> tuple[tuple[Pack, ...], tuple[str, ...], Awaitable[tuple[HubResult, ...]]]:
    """A mixed bulk's work: its scanned items in one MockHub mixed bulk, its keyed-in ones
    (ItemMan) each as a manual entry, answered in the items' order."""
    packs: list[Pack] = []
    for item in items:
        if item.entry is not None:
            packs.append(item.entry)
        elif item.ui is not None:
            packs.append(item.ui)

    async def work() -> tuple[HubResult, ...]:
        scanned = [
            BulkItem(item.ui, *_operation(item.code), trx=item.trx, ref_trx=item.ref_trx)
            for item in items
            if item.ui is not None
        ]
        answers = iter((await client.mixed(scanned)).results)
        results: list[HubResult] = []
        for item in items:
            if item.entry is not None:
                _, reason = MANUAL_SINGLE[item.code]
                results.append(await client.manual(item.entry, reason, trx=item.trx))
            else:
                results.append(next(answers))
        return tuple(results)

    return tuple(packs), tuple(item.code for item in items), work()


def _operation(code: str) -> tuple[Operation, Reason | None]:
    if code not in SINGLE:
        raise SoapError(f"reqType {code} is not a single-pack transaction")
    return SINGLE[code]


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


def _retrieve(task: asyncio.Future[tuple[HubResult, ...]]) -> None:
    """Mark a bulk's failure as seen: it is reported through G188, not as a loop warning."""
    if not task.cancelled():
        task.exception()
