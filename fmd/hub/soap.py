"""The Arvato-style SOAP dialect: `SoapHubClient`, a `HubClient` over SOAP 1.2, HTTPS and mTLS.

Wire layout: `fmd.hub.soap_names` (endpoints, G-codes), `fmd.hub.soap_requests` and
`fmd.hub.soap_responses` (the XML). Behaviour:

- Every request is checked locally first (nmvs.md §2.4, `fmd.hub.validation`): a request the hub
  would refuse as malformed answers `invalid_request` with the hub's code and is not sent.
  CHECKED_OUT has no Arvato transaction: refused locally the same way.
- Transport failures (connect, TLS, timeout, dropped connection, incomplete body) raise
  `HubUnavailable`; a return code that refuses our login or certificate (`NMVS_FE_AU_xx`,
  `NMVS_FE_PKI_xx`, as an HTTP fault or in a reply) raises `HubAuthFailed` naming the user, the
  client login id and the credential. Everything else the hub sends back is a `HubResult`: a
  SOAP fault, an HTTP error, a redirect (never followed), a wrong content type, a body over
  `max_body` or malformed XML is `technical` (HTTP 429 is `rate_limited`).
- `ping` exercises every credential: SupportPing (the certificate), then a G188 for a bulk id
  that does not exist (the login fields; it changes nothing, and the hub answers "bulk unknown",
  `NMVS_FE_TX_02`, only to a login it accepted).
- `bulk` submits one bulk per transaction type (G115 verify; G125 supply, G135 destroy, … for
  decommissions), at most 100,000 packs each, then polls G188 every `bulk_poll_s` until the hub
  has the results. `BulkResult.hub_trx_id` is the bulk's NMVSTrxId (several joined by "," when
  the items needed several bulks).
- The password goes only into request bodies: never into logs, exceptions or reprs.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace

import httpx

from fmd.codes.model import PackIdentifier
from fmd.hub import returncodes as rc
from fmd.hub.contract import (
    BulkItem,
    BulkResult,
    HubAuthFailed,
    HubResult,
    HubUnavailable,
    Reason,
)
from fmd.hub.soap_codes import BULK_UNKNOWN, Credential, refused_credential
from fmd.hub.soap_names import (
    BULK_DECOMMISSION,
    BULK_PATH,
    BULK_RESULT,
    BULK_VERIFY,
    DECOMMISSION,
    MAX_BULK,
    SINGLE_PATH,
    SUPPORT_PATH,
    SUPPORT_PING,
    UNDO,
    VERIFY,
    content_type,
)
from fmd.hub.soap_requests import (
    Login,
    Software,
    bulk_request,
    bulk_result_request,
    ping_request,
    single_request,
)
from fmd.hub.soap_responses import (
    check_http,
    read_bulk_result,
    read_bulk_submit,
    read_ping,
    read_single_response,
    technical,
)
from fmd.hub.soap_tls import client_context
from fmd.hub.validation import Invalid, trx_problem, ui_problem
from fmd.hub.wire import WireClient

_XML_TEXT = re.compile(r"[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")
_LIMITS = {"client_login_id": (1, 20), "user_id": (4, 20), "password": (8, 60)}


class SoapHubClient(WireClient):
    """A `HubClient` speaking Arvato NMVS v5 SOAP to `base_url` (the services are below it).

    The client certificate is `cert` + `key` (PEM files) or `pkcs12` (+ `pkcs12_password`);
    `ca` is the CA bundle that signed the hub (True = the system store). `transport` replaces
    the network (tests). `bulk_poll_s` paces the G188 polls; after `bulk_max_wait_s` without
    results `bulk` raises HubUnavailable. Raises ValueError for login fields outside the Arvato
    limits or an unreadable PKCS#12 file (never showing a password).
    """

    def __init__(
        self,
        base_url: str,
        *,
        client_login_id: str,
        user_id: str,
        password: str,
        cert: str | None = None,
        key: str | None = None,
        pkcs12: str | None = None,
        pkcs12_password: str | None = None,
        ca: str | bool = True,
        user_software: tuple[str, str, str] = ("fmd-robot", "fmd-robot", "0.1.0"),
        timeout: httpx.Timeout | float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        max_body: int = 1_000_000,
        bulk_poll_s: float = 0.2,
        bulk_max_wait_s: float = 600.0,
    ) -> None:
        fields = {"client_login_id": client_login_id, "user_id": user_id, "password": password}
        for name, value in fields.items():
            low, high = _LIMITS[name]
            if not low <= len(value) <= high or not _XML_TEXT.fullmatch(value):
                raise ValueError(f"{name} must be {low}–{high} characters XML can carry")
        self.base_url = base_url.rstrip("/")
        self._login = Login(client_login_id, user_id, password)
        self._software = Software(*user_software)
        self._max_body = max_body
        self._bulk_poll_s = bulk_poll_s
        self._bulk_max_wait_s = bulk_max_wait_s
        context = client_context(
            ca=ca, cert=cert, key=key, pkcs12_file=pkcs12, pkcs12_password=pkcs12_password
        )
        self._http = httpx.AsyncClient(
            verify=context, timeout=timeout, transport=transport, follow_redirects=False
        )

    def __repr__(self) -> str:
        login = self._login
        return (
            f"SoapHubClient({self.base_url!r}, client_login_id={login.client_login_id!r}, "
            f"user_id={login.user_id!r})"
        )

    # -- HubClient ------------------------------------------------------------------------------

    async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult:
        """G110: the pack's state."""
        return await self._single(VERIFY, ui, trx)

    async def decommission(
        self, ui: PackIdentifier, to: Reason, *, trx: str | None = None
    ) -> HubResult:
        """G120 supply, G130 destroy, G140 export, G150 sample, G160 free sample, G170 lock,
        G180 stolen."""
        return await self._single(DECOMMISSION.get(to), ui, trx, reason=to)

    async def undo(
        self,
        ui: PackIdentifier,
        from_: Reason,
        *,
        trx: str | None = None,
        ref_trx: str | None = None,
    ) -> HubResult:
        """G121, G131, G141, G151, G161, G171 (unlock), G181: revert a decommission."""
        return await self._single(UNDO.get(from_), ui, trx, reason=from_, ref_trx=ref_trx)

    async def bulk(self, items: Sequence[BulkItem]) -> BulkResult:
        """Verify or decommission many packs through bulk transactions collected with G188."""
        results: list[HubResult | None] = [None] * len(items)
        groups: dict[str, list[int]] = {}
        packs: list[tuple[PackIdentifier, str]] = []
        for index, item in enumerate(items):
            code = _bulk_code(item)
            trx = item.trx or _new_trx()
            packs.append((item.ui, trx))
            problem = _no_transaction(item.to) if code is None else _problem(item.ui, trx)
            if problem is not None:
                results[index] = _refused(problem, trx)
            elif code is not None:
                groups.setdefault(code, []).append(index)
        bulk_ids: list[str] = []
        for code, indexes in groups.items():
            for start in range(0, len(indexes), MAX_BULK):
                chunk = indexes[start : start + MAX_BULK]
                bulk_id, answers = await self._bulk_chunk(code, [packs[i] for i in chunk])
                bulk_ids.append(bulk_id)
                for index, answer in zip(chunk, answers, strict=True):
                    results[index] = answer
        done = tuple(result for result in results if result is not None)
        return BulkResult(",".join(i for i in bulk_ids if i), done)

    async def ping(self) -> None:
        """SupportPing with a random `Input`, then the login check (a G188 for no bulk):
        HubAuthFailed when the hub refuses a credential, HubUnavailable when it does not
        answer as it should."""
        echo = secrets.token_hex(8)
        reply = await self._post(SUPPORT_PATH, SUPPORT_PING, ping_request(SUPPORT_PING, echo))
        if isinstance(reply, HubResult):
            raise HubUnavailable(f"hub ping failed: {reply.return_code} {reply.message}")
        if read_ping(reply, code=SUPPORT_PING) != echo:
            raise HubUnavailable("hub ping failed: the answer did not echo the input")
        query = bulk_result_request(self._login, self._software, _new_trx(), _new_trx())
        reply = await self._post(BULK_PATH, BULK_RESULT, query)
        answer = reply if isinstance(reply, HubResult) else read_bulk_result(reply, count=0)
        if isinstance(answer, HubResult) and answer.return_code != BULK_UNKNOWN:
            self._checked(answer)
            raise HubUnavailable(f"hub login check failed: {answer.return_code} {answer.message}")

    # -- internals ------------------------------------------------------------------------------

    async def _single(
        self,
        code: str | None,
        ui: PackIdentifier,
        trx: str | None,
        *,
        reason: Reason | None = None,
        ref_trx: str | None = None,
    ) -> HubResult:
        client_trx = trx or _new_trx()
        if code is None:
            return _refused(_no_transaction(reason), client_trx)
        problem = _problem(ui, client_trx, ref_trx)
        if problem is not None:
            return _refused(problem, client_trx)
        started = time.perf_counter()
        body = single_request(code, self._login, self._software, client_trx, ui, ref_trx)
        reply = await self._post(SINGLE_PATH, code, body)
        if isinstance(reply, HubResult):
            result = replace(reply, client_trx_id=client_trx)
        else:
            result = self._checked(read_single_response(reply, code=code, client_trx=client_trx))
        return replace(result, latency_s=time.perf_counter() - started)

    async def _bulk_chunk(
        self, code: str, packs: Sequence[tuple[PackIdentifier, str]]
    ) -> tuple[str, list[HubResult]]:
        """Submit one bulk and collect its results: (the bulk's NMVSTrxId, one per pack)."""
        body = bulk_request(code, self._login, self._software, _new_trx(), packs)
        reply = await self._post(BULK_PATH, code, body)
        submitted = reply if isinstance(reply, HubResult) else read_bulk_submit(reply, code=code)
        if isinstance(submitted, HubResult):
            self._checked(submitted)
            return "", [replace(submitted, client_trx_id=trx) for _, trx in packs]
        deadline = time.monotonic() + self._bulk_max_wait_s
        while True:
            query = bulk_result_request(self._login, self._software, _new_trx(), submitted)
            reply = await self._post(BULK_PATH, BULK_RESULT, query)
            answer = (
                reply if isinstance(reply, HubResult) else read_bulk_result(reply, count=len(packs))
            )
            if isinstance(answer, HubResult):
                self._checked(answer)
                return submitted, [replace(answer, client_trx_id=trx) for _, trx in packs]
            if answer is not None:
                return submitted, list(answer)
            if time.monotonic() > deadline:
                raise HubUnavailable(
                    f"bulk {submitted} still processing after {self._bulk_max_wait_s:g} s"
                )
            await asyncio.sleep(self._bulk_poll_s)

    async def _post(self, path: str, code: str, body: bytes) -> bytes | HubResult:
        """POST one SOAP request: the reply body, or a result for an unusable answer."""
        url = f"{self.base_url}{path}"
        try:
            async with self._http.stream(
                "POST", url, content=body, headers={"content-type": content_type(code)}
            ) as response:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self._max_body:
                    return _too_large(self._max_body)
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > self._max_body:
                        return _too_large(self._max_body)
        except httpx.TimeoutException as error:
            raise HubUnavailable(f"{code} to {url}: no answer in time ({_name(error)})") from None
        except (httpx.TransportError, OSError) as error:
            raise HubUnavailable(f"{code} to {url}: {_name(error)}: {error}") from None
        except httpx.HTTPError as error:
            return technical(rc.ERROR, f"{code} to {url}: {_name(error)}: {error}")
        headers = response.headers
        checked = check_http(
            response.status_code,
            headers.get("content-type", ""),
            bytes(data),
            headers.get("location", ""),
        )
        return self._checked(checked) if checked is not None else bytes(data)

    def _checked(self, result: HubResult) -> HubResult:
        """`result`, unless its return code refuses one of our credentials: HubAuthFailed."""
        credential = refused_credential(result.return_code)
        if credential is None:
            return result
        login = self._login
        fix = "its password" if credential is Credential.LOGIN else "cert and key, or pkcs12"
        raise HubAuthFailed(
            f"the hub refused the {credential} of user {login.user_id}, client login id "
            f"{login.client_login_id} ({result.return_code}: {result.message}); check {fix}",
            code=result.return_code,
        )


def _bulk_code(item: BulkItem) -> str | None:
    if item.operation == "verify":
        return BULK_VERIFY
    return BULK_DECOMMISSION.get(item.to) if item.to is not None else None


def _problem(ui: PackIdentifier, trx: str, ref_trx: str | None = None) -> Invalid | None:
    problem = trx_problem(trx) or ui_problem(ui)
    if problem is None and ref_trx is not None:
        problem = trx_problem(ref_trx)
    return problem


def _no_transaction(reason: Reason | None) -> Invalid:
    return Invalid(rc.SCHEMA_VIOLATION, f"no NMVS SOAP transaction for reason {reason}")


def _refused(problem: Invalid, trx: str) -> HubResult:
    return HubResult(
        outcome="invalid_request",
        return_code=problem.code,
        client_trx_id=trx,
        message=f"refused locally, not sent: {problem.message}",
    )


def _too_large(limit: int) -> HubResult:
    return technical(rc.ERROR, f"reply larger than {limit} bytes, not read")


def _new_trx() -> str:
    return uuid.uuid4().hex


def _name(error: BaseException) -> str:
    return type(error).__name__
