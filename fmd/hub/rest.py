"""`RestHubClient`: the Solidsoft-style REST/JSON dialect of the NMVS (nmvs.md §2.7, §2.9).

OAuth2 client credentials at `{base}/identity/connect/token` (the token is cached and refreshed
60 s before it expires, and once more on a 401); the API below `{base}/api/`. One pack: `GET
product/{gs1|ifa}/{code}/pack/{serial}?batch=&expiry=` to verify, `PATCH` of the same URL with
`{"state": …}` to decommission or `{"state": "Active"}` to undo. Many packs: `bulk()` posts
`product/packs` (one request per target state), `mixed()` posts `recovery/packs` (each pack its
own transition, in order); both are answered 202 with a `Location`, asked until the results are
ready (from the `eta` on, at most `bulk_wait_s`). What is sent is in `fmd.hub.rest_request`, how
answers map onto `HubResult` in `fmd.hub.rest_response`, the vocabulary in `fmd.hub.rest_codes`.

Every request carries `emvs-data-entry-mode`: `non-manual` for what was scanned, `manual` only
from `manual()` (which leaves out batch and expiry when they were not keyed in).

Transport failures (connect, TLS, timeouts, dropped connections, incomplete bodies) raise
`HubUnavailable`. Refused credentials raise `HubAuthFailed` naming the client id: the token
endpoint refusing them (HTTP 401 or 403, or 400 `invalid_client` / `unauthorized_client` /
`invalid_grant`), or the API refusing a token it has just issued (a second 401). Everything
else, including bodies that make no sense, is a `HubResult`; `ping` asks for a token (never a
cached one) and the health endpoint, so it exercises the credentials. A pack of a many-pack
request the hub did not answer for (no acknowledgement, no results in time, left out of them)
is `technical` with `UNANSWERED`: perhaps applied.

The API and the identity server may be apart (Solidsoft's library has a URL for each): `api_url`
and `token_url` override the defaults below `base_url` (`{base}/api`,
`{base}/identity/connect/token`). Unconfirmed against a live Solidsoft system: the `/health`
endpoint below the API, the
`emvs-client-transaction-id` header (ours; Solidsoft's library sends no transaction id, so a
real system will not recognise a replay by it), `ifa` for PPN, and the 202/409 "not ready"
answers.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from fmd.codes.model import PackIdentifier
from fmd.hub import rest_codes as codes
from fmd.hub import returncodes as rc
from fmd.hub.contract import (
    BulkItem,
    BulkResult,
    HubAuthFailed,
    HubResult,
    HubUnavailable,
    ManualEntry,
    Reason,
)
from fmd.hub.rest_request import (
    Plan,
    Submission,
    entry_problem,
    pack_params,
    pack_path,
    plan_bulk,
    plan_recovery,
    reason_problem,
    request_problem,
    state_body,
)
from fmd.hub.rest_response import (
    Exchange,
    Failed,
    Pending,
    Ready,
    match_results,
    parse_accepted,
    parse_response,
    parse_results,
    parse_retry_after,
    retry_after_seconds,
    technical,
    unanswered_all,
)
from fmd.hub.wire import WireClient

__all__ = ["RestHubClient", "retry_after_seconds"]

TOKEN_MARGIN_S = 60.0
_REFUSED_CLIENT = frozenset({"invalid_client", "unauthorized_client", "invalid_grant"})


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
    `clock` (monotonic seconds) decides when the token is refreshed and when waiting for bulk
    results ends. `max_body` caps the size of a response body; `max_bulk_packs` the packs of
    one bulk or recovery request (more are sent as several). Results are asked for from their
    `eta` on, at least `bulk_poll_s` apart, for at most `bulk_wait_s`. `api_url` and
    `token_url` place the API and the token endpoint elsewhere than below `base_url`. Use as an
    async context manager, or call `aclose()`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str,
        client_secret: str,
        verify: str | ssl.SSLContext | bool = True,
        timeout: httpx.Timeout | float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        max_body: int = 1_000_000,
        max_bulk_packs: int = 10_000,
        bulk_wait_s: float = 60.0,
        bulk_poll_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        api_url: str | None = None,
        token_url: str | None = None,
    ) -> None:
        if max_bulk_packs < 1:
            raise ValueError("max_bulk_packs must be at least 1")
        if bulk_wait_s <= 0 or bulk_poll_s < 0:
            raise ValueError("bulk_wait_s must be positive and bulk_poll_s not negative")
        self.base_url = base_url.rstrip("/")
        self.api = (api_url or f"{self.base_url}/api").rstrip("/")
        self.token_url = token_url or f"{self.base_url}/identity/connect/token"
        self.client_id = client_id
        self.max_body = max_body
        self.max_bulk_packs = max_bulk_packs
        self.bulk_wait_s = bulk_wait_s
        self.bulk_poll_s = bulk_poll_s
        self._secret = client_secret
        self._clock = clock
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
        self, ui: PackIdentifier, to: Reason, *, trx: str | None = None
    ) -> HubResult:
        """Set an active pack inactive with reason `to` (PATCH `{"state": …}`)."""
        problem = reason_problem("decommission", to)
        if problem is not None:
            return _refused_locally(trx, problem)
        return await self._pack_call("PATCH", ui, trx, state_body(to))

    async def undo(
        self,
        ui: PackIdentifier,
        from_: Reason,
        *,
        trx: str | None = None,
        ref_trx: str | None = None,
    ) -> HubResult:
        """Revert a decommission (PATCH `{"state": "Active"}`): the dialect carries neither
        `from_` (the hub reverts the pack's own state) nor `ref_trx`."""
        problem = reason_problem("undo", from_)
        if problem is not None:
            return _refused_locally(trx, problem)
        return await self._pack_call("PATCH", ui, trx, state_body(None))

    async def bulk(self, items: Sequence[BulkItem]) -> BulkResult:
        """Many packs through `POST product/packs`, one request per target state (trx ids are
        not carried); `hub_trx_id` names the requests' results, comma-separated."""
        return await self._many(plan_bulk(items, self.max_bulk_packs), items)

    async def mixed(self, items: Sequence[BulkItem]) -> BulkResult:
        """Many operations through `POST recovery/packs`, processed in order. The dialect
        carries no trx ids (nor `ref_trx`): a replay is not recognised by the hub, so a change
        whose answer was lost must be asked about (verify) before it is sent again."""
        return await self._many(plan_recovery(items, self.max_bulk_packs), items)

    async def manual(
        self, entry: ManualEntry, to: Reason | None = None, *, trx: str | None = None
    ) -> HubResult:
        """A pack keyed in by hand, sent with the data entry mode `manual`; batch and expiry
        go with it only when they were keyed in (the hub decides whether it needs them)."""
        problem = entry_problem(entry, trx)
        if problem is None and to is not None:
            problem = reason_problem("decommission", to)
        if problem is not None:
            return _refused_locally(trx, problem)
        url = f"{self.api}/{pack_path(entry.scheme, entry.product_code, entry.serial)}"
        params = pack_params(entry.batch, entry.expiry_raw)
        method, body = ("GET", None) if to is None else ("PATCH", state_body(to))
        return await self._call(method, url, trx or _new_trx(), params, body, codes.MANUAL)

    async def ping(self) -> None:
        """Check that the hub answers and accepts our credentials, with a new token:
        HubAuthFailed when it refuses them, HubUnavailable when it does not answer."""
        async with self._token_lock:
            self._token = None
        try:
            reply = await self._request(
                "GET", f"{self.api}/health", None, None, None, codes.NON_MANUAL
            )
        except _NoToken as error:
            raise HubUnavailable(f"hub health check failed: {error}") from None
        if reply.status != 200:
            raise HubUnavailable(f"hub health check failed: HTTP {reply.status}")

    # -- many packs -------------------------------------------------------------------------------

    async def _many(self, plan: Plan, items: Sequence[BulkItem]) -> BulkResult:
        found = {p: _refused_locally(items[p].trx, why) for p, why in plan.refused.items()}
        names = []
        for submission in plan.submissions:
            trxs = [items[p].trx or "" for p in submission.positions]
            name, results = await self._submit(submission, trxs)
            if name:
                names.append(name)
            found.update(zip(submission.positions, results, strict=True))
        return BulkResult(",".join(names), tuple(found[p] for p in range(len(items))))

    async def _submit(self, submission: Submission, trxs: list[str]) -> tuple[str, list[HubResult]]:
        """Post one many-pack request and collect its results: (the results' name, one result
        per pack)."""
        started = time.perf_counter()
        url = f"{self.api}/{submission.route.path}"
        what = f"POST {submission.route.path}"
        try:
            reply = await self._request("POST", url, None, None, submission.body, codes.NON_MANUAL)
        except HubAuthFailed:
            raise
        except HubUnavailable as error:
            return "", unanswered_all(trxs, f"no answer to {what}: {error}")
        except _NoToken as error:
            failed = technical(str(error), _exchange("", started), return_code=rc.ERROR)
            return "", [_for(failed, t) for t in trxs]
        if reply.content is None:
            return "", unanswered_all(trxs, f"{what}: HTTP {reply.status}: {reply.problem}")
        answer = parse_accepted(
            reply.status,
            reply.headers.get("content-type"),
            reply.headers.get("retry-after"),
            reply.headers.get("location"),
            reply.content,
            _exchange("", started),
        )
        if isinstance(answer, Failed):
            return "", unanswered_all(trxs, f"{what}: {answer.problem}")
        if isinstance(answer, HubResult):
            return "", [_for(answer, t) for t in trxs]
        location = self._results_url(url, answer.location)
        if location is None:
            why = f"{what}: results at {answer.location!r}, another server: not followed"
            return "", unanswered_all(trxs, why)
        name = location.rstrip("/").rsplit("/", 1)[-1]
        results = await self._collect(location, answer.eta, started)
        if isinstance(results, Failed):
            return name, unanswered_all(trxs, f"results of {what}: {results.problem}")
        return name, match_results(submission.keys, trxs, results)

    async def _collect(self, location: str, eta: datetime | None, started: float) -> Ready | Failed:
        """Ask for results from `eta` on until they are ready, or `bulk_wait_s` has passed."""
        deadline = self._clock() + self.bulk_wait_s
        problem, first = "not ready", True
        while True:
            delay = 0.0 if first else self.bulk_poll_s
            if eta is not None:
                delay = max(delay, (eta - datetime.now(UTC)).total_seconds())
            if self._clock() + delay > deadline:
                return Failed(f"none within {self.bulk_wait_s:g} s (last: {problem})", retry=False)
            if delay > 0:
                await asyncio.sleep(delay)
            first, eta = False, None
            try:
                reply = await self._request("GET", location, None, None, None, codes.NON_MANUAL)
            except HubAuthFailed:
                raise
            except (HubUnavailable, _NoToken) as error:
                problem = str(error)
                continue
            if reply.content is None:
                problem = f"HTTP {reply.status}: {reply.problem}"
                continue
            answer = parse_results(
                reply.status, reply.headers.get("content-type"), reply.content,
                _exchange("", started),
            )  # fmt: skip
            if isinstance(answer, Ready):
                return answer
            if isinstance(answer, Pending):
                eta = answer.eta
                continue
            if not answer.retry:
                return answer
            problem = answer.problem
            wait = parse_retry_after(reply.headers.get("retry-after"), datetime.now(UTC))
            eta = None if wait is None else datetime.now(UTC) + timedelta(seconds=wait)

    def _results_url(self, request_url: str, location: str) -> str | None:
        """The absolute URL of `location` (relative to the request), or None when it is on
        another server than the API's: the bearer token is never sent elsewhere."""
        target, base = httpx.URL(request_url).join(location), httpx.URL(self.api)
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            return None
        return str(target)

    # -- one request ------------------------------------------------------------------------------

    async def _pack_call(
        self, method: str, ui: PackIdentifier, trx: str | None, body: dict[str, str] | None
    ) -> HubResult:
        problem = request_problem(ui, trx)
        if problem is not None:
            return _refused_locally(trx, problem)
        url = f"{self.api}/{pack_path(ui.scheme, ui.product_code, ui.serial)}"
        params = pack_params(ui.batch, ui.expiry_raw)
        return await self._call(method, url, trx or _new_trx(), params, body, codes.NON_MANUAL)

    async def _call(
        self,
        method: str,
        url: str,
        trx: str,
        params: dict[str, str],
        body: dict[str, str] | None,
        mode: str,
    ) -> HubResult:
        """Send one request about a pack and map the answer onto a `HubResult`."""
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
        trx: str | None,
        params: dict[str, str] | None,
        body: dict[str, Any] | None,
        mode: str,
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
        trx: str | None,
        params: dict[str, str] | None,
        body: dict[str, Any] | None,
        token: str,
        mode: str,
    ) -> _Reply:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            codes.DATA_ENTRY_MODE_HEADER: mode,
        }
        if trx is not None:
            headers[codes.CLIENT_TRX_HEADER] = trx
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
        url = self.token_url
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


def _refused_locally(trx: str | None, problem: str) -> HubResult:
    return HubResult(
        outcome="invalid_request",
        return_code=rc.SCHEMA_VIOLATION,
        client_trx_id=trx or "",
        at=datetime.now(UTC),
        message=f"refused before sending: {problem}",
    )


def _for(result: HubResult, trx: str) -> HubResult:
    """A result the whole request got, as one of its packs' results."""
    return replace(result, client_trx_id=trx)


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
