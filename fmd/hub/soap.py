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
  the items needed several bulks). A change asked twice for one pack is sent once (the repeat
  is refused locally: the hub cannot tell a repeat from a second change, which it alerts on); a
  mixed bulk carries each pack once (a pack's next transaction goes in the next mixed bulk).
  A poll changes nothing, so a poll that is lost or rate limited is asked again; a bulk's
  answer may be `max_body` plus `BULK_ITEM_BYTES` per item.
- The password goes only into request bodies: never into logs, exceptions or reprs.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial

import httpx

from fmd.codes.model import PackIdentifier
from fmd.hub import returncodes as rc
from fmd.hub.contract import (
    NOT_SENT,
    BulkItem,
    BulkResult,
    HubAuthFailed,
    HubResult,
    HubUnavailable,
    ManualEntry,
    Reason,
    unanswered,
)
from fmd.hub.manual import entry_ui, missing_fields
from fmd.hub.soap_codes import Credential, refused_credential
from fmd.hub.soap_names import (
    BULK_DECOMMISSION,
    BULK_RESULT,
    BULK_UNDO,
    BULK_VERIFY,
    DECOMMISSION,
    LEGACY_MEDIA_TYPE,
    MANUAL,
    MAX_BULK,
    MIXED_RESULT,
    MIXED_SUBMIT,
    SOAP_MEDIA_TYPE,
    SUPPORT_PING,
    UNDO,
    VERIFY,
    Service,
    SoapEndpoints,
    content_type,
)
from fmd.hub.soap_requests import (
    Login,
    MixedItem,
    Software,
    bulk_request,
    manual_request,
    mixed_request,
    ping_request,
    result_request,
    single_request,
)
from fmd.hub.soap_responses import (
    BulkAnswer,
    BulkReader,
    check_http,
    read_bulk_result,
    read_mixed_result,
    read_ping,
    read_single_response,
    read_submit,
    technical,
)
from fmd.hub.soap_tls import client_context
from fmd.hub.validation import Invalid, field_ok, product_code_problem, trx_problem, ui_problem
from fmd.hub.wire import WireClient

POLL_BACKOFF = 1.5
MAX_POLL_PAUSE_S = 5.0
"""A bulk's polls start `bulk_poll_s` apart and slow down to this."""
_MEDIA_TYPES = frozenset({SOAP_MEDIA_TYPE, LEGACY_MEDIA_TYPE})
_XML_TEXT = re.compile(r"[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")
_LIMITS = {"client_login_id": (1, 20), "user_id": (4, 20), "password": (8, 60)}
BULK_ITEM_BYTES = 2_000
"""How much a G188/G196 answer may grow per item beyond `max_body` (an item with its reasons,
alert id and a 255-character description is well under it)."""


class SoapHubClient(WireClient):
    """A `HubClient` speaking Arvato NMVS v5 SOAP to `endpoints` (`SoapEndpoints`, or one base
    URL that every service is below).

    The client certificate is `cert` + `key` (PEM files) or `pkcs12` (+ `pkcs12_password`);
    `ca` is the CA bundle that signed the hub (True = the system store). `transport` replaces
    the network (tests). `bulk_poll_s` paces the G188 polls; after `bulk_max_wait_s` without
    results `bulk` raises HubUnavailable. Raises ValueError, one line starting with the argument
    at fault, for login fields outside the Arvato limits or a certificate file that cannot be
    used (`soap_tls`; never showing a password).
    """

    def __init__(
        self,
        endpoints: str | SoapEndpoints,
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
                raise ValueError(f"{name}: must be {low}–{high} characters XML can carry")
        self.endpoints = (
            endpoints if isinstance(endpoints, SoapEndpoints) else SoapEndpoints.below(endpoints)
        )
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
        login, single = self._login, self.endpoints.url(Service.SINGLE)
        return (
            f"SoapHubClient({single!r}, client_login_id={login.client_login_id!r}, "
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
        """Many packs through bulk transactions (G115 verify, G125 supply, G127 undo supply, …):
        one request per transaction, product and batch, each serial once, collected with G188.
        The packs' trx ids are not on this wire; each result carries its item's (or a new)."""
        results: list[HubResult | None] = [None] * len(items)
        trxs = [item.trx or _new_trx() for item in items]
        sendable: list[tuple[str, int]] = []
        changes: set[tuple[str, str, str, str]] = set()
        for index, item in enumerate(items):
            code = _bulk_code(item)
            problem = (
                _no_transaction(item.to)
                if code is None
                else _problem(item.ui, trxs[index]) or _changed_twice(code, item.ui, changes)
            )
            if problem is not None or code is None:
                results[index] = _refused(problem or _no_transaction(item.to), trxs[index])
            else:
                sendable.append((code, index))
                if code != BULK_VERIFY:
                    changes.add(_change_key(code, item.ui))
        outgoing = (
            _Outgoing(
                code,
                Service.BULK,
                bulk_request(
                    code, self._login, self._software, _new_trx(), [items[i].ui for i in chunk]
                ),
                BULK_RESULT,
                partial(read_bulk_result, req_type=code),
                tuple((i, items[i].ui.serial, trxs[i]) for i in chunk),
            )
            for code, chunk in _bulk_chunks(sendable, items)
        )
        return _bulk_result(await self._send_all(outgoing, results), results)

    async def mixed(self, items: Sequence[BulkItem]) -> BulkResult:
        """Many transactions in mixed bulks (G195, collected with G196), each item under its own
        trx id (and RefClientTrxId for an undo), so the hub recognises a replay."""
        results: list[HubResult | None] = [None] * len(items)
        sendable: list[tuple[int, MixedItem]] = []
        seen: set[str] = set()
        for index, item in enumerate(items):
            trx = item.trx or _new_trx()
            code = _single_code(item)
            problem = (
                _no_transaction(item.to)
                if code is None
                else _problem(item.ui, trx, item.ref_trx) or _repeated(trx, seen)
            )
            if problem is not None:
                results[index] = _refused(problem, trx)
            elif code is not None:
                seen.add(trx)
                sendable.append((index, MixedItem(code, trx, ui=item.ui, ref_trx=item.ref_trx)))
        outgoing = (
            _Outgoing(
                MIXED_SUBMIT,
                Service.MIXED,
                mixed_request(self._login, self._software, _new_trx(), [m for _, m in chunk]),
                MIXED_RESULT,
                read_mixed_result,
                tuple((i, m.trx, m.trx) for i, m in chunk),
            )
            for chunk in _mixed_chunks(sendable)
        )
        return _bulk_result(await self._send_all(outgoing, results), results)

    async def manual(
        self, entry: ManualEntry, to: Reason | None = None, *, trx: str | None = None
    ) -> HubResult:
        """A pack keyed in by hand: G122 (supply) and G182 (stolen) send its product code and
        serial alone; a verify or any other change needs the batch and expiry keyed in too and
        is the ordinary transaction."""
        client_trx = trx or _new_trx()
        code = MANUAL.get(to) if to is not None else None
        if code is None:
            ui = entry_ui(entry, datetime.now(UTC).year)
            if ui is None:
                return _refused(
                    Invalid(rc.SCHEMA_VIOLATION, missing_fields(entry, to) or ""), client_trx
                )
            if to is None:
                return await self.verify(ui, trx=client_trx)
            return await self.decommission(ui, to, trx=client_trx)
        problem = trx_problem(client_trx) or _entry_problem(entry)
        if problem is not None:
            return _refused(problem, client_trx)
        started = time.perf_counter()
        body = manual_request(code, self._login, self._software, client_trx, entry)
        return await self._answer(Service.SINGLE, code, body, client_trx, started)

    async def ping(self) -> None:
        """SupportPing with a random `Input`, then the login check (a G188 for no bulk):
        HubAuthFailed when the hub refuses a credential, HubUnavailable when it does not
        answer as it should."""
        echo = secrets.token_hex(8)
        reply = await self._post(Service.SUPPORT, SUPPORT_PING, ping_request(SUPPORT_PING, echo))
        if isinstance(reply, HubResult):
            raise HubUnavailable(f"hub ping failed: {reply.return_code} {reply.message}")
        if read_ping(reply, code=SUPPORT_PING) != echo:
            raise HubUnavailable("hub ping failed: the answer did not echo the input")
        query = result_request(BULK_RESULT, self._login, self._software, _new_trx(), _new_trx())
        reply = await self._post(Service.BULK, BULK_RESULT, query)
        answer = reply if isinstance(reply, HubResult) else read_bulk_result(reply)
        if isinstance(answer, HubResult):
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
        return await self._answer(Service.SINGLE, code, body, client_trx, started)

    async def _answer(
        self, service: Service, code: str, body: bytes, client_trx: str, started: float
    ) -> HubResult:
        reply = await self._post(service, code, body)
        if isinstance(reply, HubResult):
            result = replace(reply, client_trx_id=client_trx)
        else:
            result = self._checked(read_single_response(reply, code=code, client_trx=client_trx))
        return replace(result, latency_s=time.perf_counter() - started)

    async def _send_all(
        self, outgoing: Iterable[_Outgoing], results: list[HubResult | None]
    ) -> list[str]:
        """Send the bulks one after the other and put each member's answer in `results`; the
        bulks' ids. A bulk that gets no answer after others did keeps theirs (`_kept_going`)."""
        bulk_ids: list[str] = []
        failure: HubUnavailable | None = None
        for bulk in outgoing:
            if failure is not None:
                for index, _, trx in bulk.members:
                    results[index] = _not_sent(trx, failure)
                continue
            try:
                bulk_id, answers = await self._collect(
                    bulk.code, bulk.service, bulk.body, bulk.result_code, bulk.read,
                    len(bulk.members),
                )  # fmt: skip
            except HubUnavailable as error:
                failure = _kept_going(error, collected=bool(bulk_ids))
                bulk_id, answers = "", {}
            bulk_ids.append(bulk_id)
            for index, key, trx in bulk.members:
                found = answers if isinstance(answers, HubResult) else answers.get(key)
                results[index] = _settled(found, trx)
        return bulk_ids

    async def _collect(
        self,
        code: str,
        service: Service,
        body: bytes,
        result_code: str,
        read: BulkReader,
        size: int,
    ) -> tuple[str, Mapping[str, HubResult] | HubResult]:
        """Submit one bulk of `size` items and poll for its results: (its NMVSTrxId, the
        answers). While the hub says the bulk is processed, or that its id is not available
        yet, or a poll was lost or rate limited, poll again."""
        reply = await self._post(service, code, body)
        submitted = reply if isinstance(reply, HubResult) else read_submit(reply, code=code)
        if isinstance(submitted, HubResult):
            return "", self._checked(submitted)
        deadline = time.monotonic() + self._bulk_max_wait_s
        limit = self._max_body + size * BULK_ITEM_BYTES
        pause = self._bulk_poll_s
        while True:
            query = result_request(result_code, self._login, self._software, _new_trx(), submitted)
            answer = await self._poll(service, result_code, query, read, limit)
            if answer is not None:
                return submitted, answer
            if time.monotonic() > deadline:
                raise HubUnavailable(
                    f"bulk {submitted} still processing after {self._bulk_max_wait_s:g} s"
                )
            await asyncio.sleep(pause)
            pause = min(pause * POLL_BACKOFF, max(self._bulk_poll_s, MAX_POLL_PAUSE_S))

    async def _poll(
        self, service: Service, code: str, query: bytes, read: BulkReader, limit: int
    ) -> BulkAnswer:
        """One G188/G196: the answer, or None when there is none yet (processing, or the poll
        was lost or rate limited: asking again changes nothing)."""
        try:
            reply = await self._post(service, code, query, limit=limit)
        except HubAuthFailed:
            raise
        except HubUnavailable:
            return None
        answer = reply if isinstance(reply, HubResult) else read(reply)
        if isinstance(answer, HubResult):
            return None if answer.outcome == "rate_limited" else self._checked(answer)
        return answer

    async def _post(
        self, service: Service, code: str, body: bytes, *, limit: int | None = None
    ) -> bytes | HubResult:
        """POST one SOAP request: the reply body (at most `limit`, default `max_body`, bytes),
        or a result for an unusable answer."""
        url = self.endpoints.url(service)
        most = self._max_body if limit is None else limit
        try:
            async with self._http.stream(
                "POST", url, content=body, headers={"content-type": content_type(code)}
            ) as response:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > most:
                    return _too_large(most)
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > most:
                        return _too_large(most)
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
            media_types=_MEDIA_TYPES,
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


@dataclass(frozen=True, slots=True)
class _Outgoing:
    """One bulk to send: its code, service and body, how its results are asked for and read,
    and its members: (item index, the key its answer has, its trx). Bulks are made one at a
    time, as they go (a generator), so a large request is never in memory at once."""

    code: str
    service: Service
    body: bytes
    result_code: str
    read: BulkReader
    members: tuple[tuple[int, str, str], ...]


def _bulk_code(item: BulkItem) -> str | None:
    if item.operation == "verify":
        return BULK_VERIFY
    table = BULK_DECOMMISSION if item.operation == "decommission" else BULK_UNDO
    return table.get(item.to) if item.to is not None else None


def _change_key(code: str, ui: PackIdentifier) -> tuple[str, str, str, str]:
    return code, ui.scheme, ui.product_code, ui.serial


def _changed_twice(
    code: str, ui: PackIdentifier, changes: set[tuple[str, str, str, str]]
) -> Invalid | None:
    if code == BULK_VERIFY or _change_key(code, ui) not in changes:
        return None
    return Invalid(
        rc.SCHEMA_VIOLATION,
        f"pack {ui.serial} appears twice for {code} in one bulk: sent once, the hub could "
        "not tell a repeat from a second change",
    )


def _mixed_chunks(
    sendable: Sequence[tuple[int, MixedItem]],
) -> Iterator[list[tuple[int, MixedItem]]]:
    """The mixed bulks to send, in the items' order: at most `MAX_BULK` items each and each
    pack once (the hub need not run a bulk's items in order, so a pack's next transaction
    waits for the next bulk)."""
    chunk: list[tuple[int, MixedItem]] = []
    packs: set[tuple[str, str, str] | None] = set()
    for entry in sendable:
        held = entry[1].ui or entry[1].entry
        pack = (held.scheme, held.product_code, held.serial) if held is not None else None
        if len(chunk) == MAX_BULK or pack in packs:
            yield chunk
            chunk, packs = [], set()
        chunk.append(entry)
        packs.add(pack)
    if chunk:
        yield chunk


def _bulk_chunks(
    sendable: Sequence[tuple[str, int]], items: Sequence[BulkItem]
) -> Iterator[tuple[str, list[int]]]:
    """The bulks to send: per transaction code, product and batch, at most `MAX_BULK` packs
    each and every serial once (a repeated serial goes into a later bulk)."""
    groups: dict[tuple[str, str, str, str, str], list[tuple[list[int], set[str]]]] = {}
    for code, index in sendable:
        ui = items[index].ui
        chunks = groups.setdefault((code, ui.scheme, ui.product_code, ui.batch, ui.expiry_raw), [])
        chunk = next((c for c in chunks if len(c[0]) < MAX_BULK and ui.serial not in c[1]), None)
        if chunk is None:
            chunk = ([], set())
            chunks.append(chunk)
        chunk[0].append(index)
        chunk[1].add(ui.serial)
    for (code, *_), chunks in groups.items():
        for indexes, _serials in chunks:
            yield code, indexes


def _bulk_result(bulk_ids: Sequence[str], results: Sequence[HubResult | None]) -> BulkResult:
    return BulkResult(
        ",".join(i for i in bulk_ids if i), tuple(r for r in results if r is not None)
    )


def _single_code(item: BulkItem) -> str | None:
    if item.operation == "verify":
        return VERIFY
    table = DECOMMISSION if item.operation == "decommission" else UNDO
    return table.get(item.to) if item.to is not None else None


def _settled(answer: HubResult | None, trx: str) -> HubResult:
    """An item's result under its own trx id; an item the answer left out is not done."""
    if answer is None:
        return unanswered(trx, "the hub's bulk answer left this pack out")
    return replace(answer, client_trx_id=trx)


def _kept_going(error: HubUnavailable, *, collected: bool) -> HubUnavailable:
    """A bulk that could not be collected: raised when it was the first (nothing to keep),
    else kept, so the bulks already answered keep their results."""
    if isinstance(error, HubAuthFailed) or not collected:
        raise error
    return error


def _not_sent(trx: str, failure: HubUnavailable) -> HubResult:
    """An item of a later bulk, not sent because an earlier one could not be collected."""
    return HubResult(
        outcome="technical",
        return_code=NOT_SENT,
        client_trx_id=trx,
        message=f"not sent: an earlier bulk of this request got no answer ({failure})",
    )


def _repeated(trx: str, seen: set[str]) -> Invalid | None:
    if trx in seen:
        return Invalid(rc.TRX_ID_USED, f"transaction id {trx!r} appears twice in one mixed bulk")
    return None


def _entry_problem(entry: ManualEntry) -> Invalid | None:
    problem = product_code_problem(entry.scheme, entry.product_code)
    if problem is None and not field_ok(entry.serial):
        problem = Invalid(
            rc.SCHEMA_VIOLATION, f"serial {entry.serial!r} is not 1–20 GS1 characters"
        )
    return problem


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
