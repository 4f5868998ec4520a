"""`RestHubClient`: the Solidsoft-style REST/JSON dialect of the NMVS (nmvs.md §2.7).

OAuth2 client credentials at `{base}/identity/connect/token` (the token is cached and refreshed
60 s before it expires, and once more on a 401); `GET {base}/api/product/gs1|ppn/{code}/pack/
{serial}?batch=&expiry=` to verify; `PATCH` of the same URL with `{"state": …}` to decommission,
or `{"state": "Active", "fromState": …}` to undo. How answers map onto `HubResult` is in
`fmd.hub.rest_response`; the operation codes are in `fmd.hub.rest_codes`.

Transport failures (connect, TLS, timeouts, dropped connections, incomplete bodies) raise
`HubUnavailable`. Refused credentials raise `HubAuthFailed` naming the client id: the token
endpoint refusing them (HTTP 401 or 403, or 400 `invalid_client` / `unauthorized_client` /
`invalid_grant`), or the API refusing a token it has just issued (a second 401). Everything
else, including bodies that make no sense, is a `HubResult`; `ping` asks for a token (never a
cached one) and the health endpoint, so it exercises the credentials.
A request that breaks the field limits of nmvs.md §2.4 is refused locally (`invalid_request`,
`NMVS_TE_XM_01`) and nothing is sent; check digits are left to the hub (send what was
scanned). `bulk()` runs its items one by one, at most `bulk_concurrency` at a time; an item
whose request got no answer becomes a technical result (`NMVS_TI_RT_02`) with its trx id.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from fmd.codes.model import PackIdentifier
from fmd.hub import rest_codes as codes
from fmd.hub import returncodes as rc
from fmd.hub.contract import (
    PACK_LEVEL_REASONS,
    BulkItem,
    BulkResult,
    HubAuthFailed,
    HubResult,
    HubUnavailable,
    ManualEntry,
    Reason,
)
from fmd.hub.manual import entry_ui, missing_fields
from fmd.hub.rest_response import Exchange, parse_response, retry_after_seconds, technical
from fmd.hub.validation import field_ok, trx_problem
from fmd.hub.wire import WireClient

__all__ = ["RestHubClient", "retry_after_seconds"]

TOKEN_MARGIN_S = 60.0
_REFUSED_CLIENT = frozenset({"invalid_client", "unauthorized_client", "invalid_grant"})
_SCHEMES = {"GTIN": "gs1", "PPN": "ppn"}
_PRODUCT_CODE = re.compile(r"[0-9A-Za-z]{1,22}")


class _NoToken(Exception):
    """The token endpoint answered, but gave no usable token."""


@dataclass(frozen=True, slots=True)
class _Reply:
    """A response read in full: `content` is None when it was unusable (`problem` says why)."""

    status: int
    headers: httpx.Headers
    content: bytes | None
    problem: str = ""


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    refresh_at: float


class RestHubClient(WireClient):
    """A `HubClient` speaking the REST dialect to one hub, as one piece of equipment.

    `verify`: True (system trust store), False, an `ssl.SSLContext` or a CA bundle path.
    `clock` (monotonic seconds) decides when the token is refreshed. `max_body` caps the size
    of a response body. Use as an async context manager, or call `aclose()`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str,
        client_secret: str,
        verify: str | ssl.SSLContext | bool = True,
        data_entry_mode: str = "scanned",
        timeout: httpx.Timeout | float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        max_body: int = 1_000_000,
        bulk_concurrency: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if data_entry_mode not in codes.DATA_ENTRY_MODES:
            raise ValueError(f"data_entry_mode must be one of {sorted(codes.DATA_ENTRY_MODES)}")
        if bulk_concurrency < 1:
            raise ValueError("bulk_concurrency must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.data_entry_mode = data_entry_mode
        self.max_body = max_body
        self._secret = client_secret
        self._clock = clock
        self._bulk_slots = asyncio.Semaphore(bulk_concurrency)
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        self._http = httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify,
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"RestHubClient({self.base_url!r}, client_id={self.client_id!r})"

    # -- HubClient --------------------------------------------------------------------------------

    async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult:
        """Verify a pack (GET)."""
        return await self._pack_call("GET", ui, trx, None)

    async def decommission(
        self, ui: PackIdentifier, to: Reason, *, trx: str | None = None, mode: str | None = None
    ) -> HubResult:
        """Set an active pack inactive with reason `to` (PATCH `{"state": …}`)."""
        if to not in PACK_LEVEL_REASONS:
            return _refused_locally(trx, f"{to} is not a reason a pack can be decommissioned to")
        body = {"state": codes.STATE_NAMES[to]}
        return await self._pack_call("PATCH", ui, trx, body, mode=mode)

    async def undo(
        self,
        ui: PackIdentifier,
        from_: Reason,
        *,
        trx: str | None = None,
        ref_trx: str | None = None,
    ) -> HubResult:
        """Revert a decommission (PATCH `{"state": "Active", "fromState": …}`)."""
        if from_ not in PACK_LEVEL_REASONS:
            return _refused_locally(trx, f"{from_} is not a reason a pack can be reverted from")
        body: dict[str, str] = {"state": codes.ACTIVE, "fromState": codes.STATE_NAMES[from_]}
        if ref_trx is not None:
            problem = trx_problem(ref_trx)
            if problem is not None:
                return _refused_locally(trx, f"reference {problem.message}")
            body["refTransactionId"] = ref_trx
        return await self._pack_call("PATCH", ui, trx, body)

    async def bulk(self, items: Sequence[BulkItem]) -> BulkResult:
        """Verify or decommission many packs, one request each, a few at a time."""
        results = await asyncio.gather(*(self._bulk_item(item) for item in items))
        return BulkResult(uuid.uuid4().hex, tuple(results))

    async def mixed(self, items: Sequence[BulkItem]) -> BulkResult:
        """Many operations, one request each under its own trx id, a few at a time."""
        return await self.bulk(items)

    async def manual(
        self, entry: ManualEntry, to: Reason | None = None, *, trx: str | None = None
    ) -> HubResult:
        """A pack keyed in by hand, sent with the data entry mode `manual`."""
        ui = entry_ui(entry, datetime.now(UTC).year)
        if ui is None:
            return _refused_locally(trx, missing_fields(entry, to) or "batch and expiry needed")
        if to is None:
            return await self._pack_call("GET", ui, trx, None, mode="manual")
        return await self.decommission(ui, to, trx=trx, mode="manual")

    async def ping(self) -> None:
        """Check that the hub answers and accepts our credentials, with a new token:
        HubAuthFailed when it refuses them, HubUnavailable when it does not answer."""
        async with self._token_lock:
            self._token = None
        try:
            reply = await self._request(
                "GET", f"{self.base_url}/api/health", _new_trx(), None, None
            )
        except _NoToken as error:
            raise HubUnavailable(f"hub health check failed: {error}") from None
        if reply.status != 200:
            raise HubUnavailable(f"hub health check failed: HTTP {reply.status}")

    # -- internals --------------------------------------------------------------------------------

    async def _bulk_item(self, item: BulkItem) -> HubResult:
        trx = item.trx or _new_trx()
        async with self._bulk_slots:
            try:
                if item.operation == "verify":
                    return await self.verify(item.ui, trx=trx)
                if item.to is None:
                    return _refused_locally(trx, f"a bulk {item.operation} needs a reason")
                if item.operation == "decommission":
                    return await self.decommission(item.ui, item.to, trx=trx)
                return await self.undo(item.ui, item.to, trx=trx, ref_trx=item.ref_trx)
            except HubAuthFailed:
                raise
            except HubUnavailable as error:
                return HubResult(
                    outcome="technical",
                    return_code=codes.COMMUNICATION_ERROR,
                    client_trx_id=trx,
                    at=datetime.now(UTC),
                    message=f"no answer, the request may have been processed: {error}",
                )

    async def _pack_call(
        self,
        method: str,
        ui: PackIdentifier,
        trx: str | None,
        body: dict[str, str] | None,
        *,
        mode: str | None = None,
    ) -> HubResult:
        problem = _request_problem(ui, trx)
        if problem is not None:
            return _refused_locally(trx, problem)
        url = (
            f"{self.base_url}/api/product/{_SCHEMES[ui.scheme]}/{ui.product_code}"
            f"/pack/{quote(ui.serial, safe='')}"
        )
        params = {"batch": ui.batch, "expiry": ui.expiry_raw}
        return await self._call(method, url, trx or _new_trx(), params, body, mode)

    async def _call(
        self,
        method: str,
        url: str,
        trx: str,
        params: dict[str, str] | None,
        body: dict[str, str] | None,
        mode: str | None = None,
    ) -> HubResult:
        """Send one API request and map the answer onto a `HubResult`."""
        started = time.perf_counter()
        try:
            reply = await self._request(method, url, trx, params, body, mode)
        except _NoToken as error:
            return technical(str(error), _exchange(trx, started), return_code=rc.ERROR)
        exchange = _exchange(trx, started)
        if reply.content is None:
            return technical(f"HTTP {reply.status}: {reply.problem}", exchange)
        return parse_response(
            reply.status,
            reply.headers.get("content-type"),
            reply.headers.get("retry-after"),
            reply.content,
            exchange,
        )

    async def _request(
        self,
        method: str,
        url: str,
        trx: str,
        params: dict[str, str] | None,
        body: dict[str, str] | None,
        mode: str | None = None,
    ) -> _Reply:
        """Send one API request with a bearer token; on a 401, once more with a new token,
        and HubAuthFailed if that one is refused too."""
        token = await self._bearer()
        reply = await self._authorised(method, url, trx, params, body, token, mode)
        if reply.status == 401:
            fresh = await self._bearer(stale=token)
            reply = await self._authorised(method, url, trx, params, body, fresh, mode)
            if reply.status == 401:
                raise HubAuthFailed(
                    f"the hub {self.base_url} refused the access token it had just issued to "
                    f"client id {self.client_id} (HTTP 401); check that this equipment is "
                    "registered for the location",
                    code=codes.AUTH_FAILED,
                )
        return reply

    async def _authorised(
        self,
        method: str,
        url: str,
        trx: str,
        params: dict[str, str] | None,
        body: dict[str, str] | None,
        token: str,
        mode: str | None = None,
    ) -> _Reply:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            codes.DATA_ENTRY_MODE_HEADER: mode or self.data_entry_mode,
            codes.CLIENT_TRX_HEADER: trx,
        }
        return await self._send(
            self._http.build_request(method, url, params=params, json=body, headers=headers)
        )

    async def _send(self, request: httpx.Request) -> _Reply:
        """Send and read at most `max_body` bytes of the body; transport failures raise."""
        try:
            response = await self._http.send(request, stream=True)
            try:
                return await self._read_bounded(response)
            finally:
                await response.aclose()
        except httpx.RequestError as error:
            raise HubUnavailable(_transport_message(request, error)) from error

    async def _read_bounded(self, response: httpx.Response) -> _Reply:
        status, headers = response.status_code, response.headers
        too_large = f"body larger than {self.max_body} bytes"
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            return _Reply(status, headers, None, too_large)
        content = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                content.extend(chunk)
                if len(content) > self.max_body:
                    return _Reply(status, headers, None, too_large)
        except httpx.DecodingError as error:
            return _Reply(status, headers, None, f"body could not be decoded: {error}")
        return _Reply(status, headers, bytes(content))

    async def _bearer(self, *, stale: str | None = None) -> str:
        """A valid access token: the cached one, or a new one if it expires soon or is `stale`."""
        async with self._token_lock:
            token = self._token
            if token is None or token.value == stale or self._clock() >= token.refresh_at:
                token = self._token = await self._fetch_token()
            return token.value

    async def _fetch_token(self) -> _Token:
        url = f"{self.base_url}/identity/connect/token"
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret,
        }
        request = self._http.build_request("POST", url, data=form)
        asked_at = self._clock()
        reply = await self._send(request)
        data = _json_or_none(reply.content or b"")
        if reply.status != 200:
            error = data.get("error") if data else None
            detail = f" ({error})" if isinstance(error, str) else ""
            if reply.status in (401, 403) or (reply.status == 400 and error in _REFUSED_CLIENT):
                raise HubAuthFailed(
                    f"the token endpoint {url} refused client id {self.client_id} "
                    f"(HTTP {reply.status}{detail}); check its client_secret",
                    code=codes.AUTH_FAILED,
                )
            raise _NoToken(f"token endpoint did not give a token: HTTP {reply.status}{detail}")
        value = data.get("access_token") if data else None
        expires_in = data.get("expires_in", 3600) if data else None
        if not isinstance(value, str) or not value or not isinstance(expires_in, int | float):
            raise _NoToken("token endpoint: answer without a usable access_token/expires_in")
        return _Token(value, asked_at + float(expires_in) - TOKEN_MARGIN_S)


def _request_problem(ui: PackIdentifier, trx: str | None) -> str | None:
    """What breaks the request field limits (nmvs.md §2.4), or None."""
    if trx is not None:
        problem = trx_problem(trx)
        if problem is not None:
            return problem.message
    if ui.scheme not in _SCHEMES:
        return f"product code scheme {ui.scheme!r} is not GTIN or PPN"
    if not _PRODUCT_CODE.fullmatch(ui.product_code):
        return f"product code {ui.product_code!r} is not 1–22 letters or digits"
    if not field_ok(ui.serial):
        return f"serial {ui.serial!r} is not 1–20 GS1 characters"
    if not field_ok(ui.batch):
        return f"batch {ui.batch!r} is not 1–20 GS1 characters"
    return None


def _refused_locally(trx: str | None, problem: str) -> HubResult:
    return HubResult(
        outcome="invalid_request",
        return_code=rc.SCHEMA_VIOLATION,
        client_trx_id=trx or "",
        at=datetime.now(UTC),
        message=f"refused before sending: {problem}",
    )


def _exchange(trx: str, started: float) -> Exchange:
    return Exchange(trx, datetime.now(UTC), time.perf_counter() - started)


def _new_trx() -> str:
    return uuid.uuid4().hex


def _json_or_none(content: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


_TRANSPORT_FAILURES: tuple[tuple[type[httpx.RequestError], str], ...] = (
    (httpx.ConnectTimeout, "connect timeout"),
    (httpx.ReadTimeout, "read timeout: no answer in time"),
    (httpx.TimeoutException, "timeout"),
    (httpx.ConnectError, "TLS or connection failure"),
    (httpx.RemoteProtocolError, "connection dropped or reply incomplete"),
    (httpx.NetworkError, "connection broken"),
)


def _transport_message(request: httpx.Request, error: httpx.RequestError) -> str:
    what = next(
        (text for kind, text in _TRANSPORT_FAILURES if isinstance(error, kind)), "request failed"
    )
    detail = str(error) or type(error).__name__
    return f"hub unreachable ({what}) on {request.method} {request.url.path}: {detail}"
