"""SOAP requests: built by the client, read by the hub simulator (pure functions).

Layout of a transaction request (types-namespace children of `<wsdl:GxxxRequest>`):
`Header` = `Auth` (`ClientLoginId`, `UserId`, `Password`), `UserSoftware@supplier@name@version`,
`Transaction` (`ClientTrxId`, `Language`); `Body` = `Product` (`ProductCode@scheme`, `NHRN`?,
`Batch/Id`, `Batch/ExpDate`) and `Pack@sn`, plus `RefClientTrxId` on an undo. A bulk body holds
`Packs/Item`*, each with `Product`, `Pack@sn` and an optional per-pack `ClientTrxId` (our
extension, so a bulk item keeps the idempotent id `BulkItem.trx`); G188 has `RefNMVSTrxId`.
Pings carry only `Input`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from fmd.codes.model import PackIdentifier
from fmd.hub.soap_names import (
    BULK,
    BULK_PING,
    BULK_RESULT,
    SINGLE,
    SINGLE_PING,
    SUPPORT_PING,
    request_name,
)
from fmd.hub.soap_xml import (
    Element,
    SoapError,
    add_ui,
    attribute,
    child,
    children,
    envelope,
    local_name,
    optional_text,
    parse_body,
    read_ui,
    sub,
    text,
    wsd,
)

PINGS = frozenset({SINGLE_PING, BULK_PING, SUPPORT_PING})
BulkPack = tuple[PackIdentifier, str | None]
"""A pack of a bulk request and its optional client transaction id."""


@dataclass(frozen=True, slots=True)
class Login:
    """The Arvato login fields sent in every transaction; the password is never shown."""

    client_login_id: str
    user_id: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Software:
    """`UserSoftware`: who made the client, its name and version."""

    supplier: str
    name: str
    version: str


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """A request as the hub reads it; `code` is e.g. `G110`, `G125`, `G188` or `SupportPing`."""

    code: str
    login: Login | None = None
    client_trx: str | None = None
    ui: PackIdentifier | None = None
    ref_trx: str | None = None
    items: tuple[BulkPack, ...] = ()
    ref_bulk: str | None = None
    ping: str | None = None


# -- client side --------------------------------------------------------------------------------


def single_request(
    code: str,
    login: Login,
    software: Software,
    trx: str,
    ui: PackIdentifier,
    ref_trx: str | None = None,
) -> bytes:
    """A single-pack transaction (G110, G120, G121, …)."""
    root, body = _transaction(code, login, software, trx)
    add_ui(body, ui)
    if ref_trx is not None:
        sub(body, "RefClientTrxId", ref_trx)
    return envelope(root)


def bulk_request(
    code: str, login: Login, software: Software, trx: str, packs: Sequence[BulkPack]
) -> bytes:
    """A bulk submission (G115, G125, …) of `packs`."""
    root, body = _transaction(code, login, software, trx)
    container = sub(body, "Packs")
    for ui, item_trx in packs:
        item = sub(container, "Item")
        add_ui(item, ui)
        if item_trx is not None:
            sub(item, "ClientTrxId", item_trx)
    return envelope(root)


def bulk_result_request(login: Login, software: Software, trx: str, ref_bulk: str) -> bytes:
    """G188: ask for the results of the bulk the hub named `ref_bulk`."""
    root, body = _transaction(BULK_RESULT, login, software, trx)
    sub(body, "RefNMVSTrxId", ref_bulk)
    return envelope(root)


def ping_request(code: str, echo: str) -> bytes:
    """A ping (`SupportPing`, `SinglePackPing`, `BulkPing`) whose `Input` the hub echoes."""
    root = wsd(request_name(code))
    sub(root, "Input", echo)
    return envelope(root)


def _transaction(code: str, login: Login, software: Software, trx: str) -> tuple[Element, Element]:
    root = wsd(request_name(code))
    header = sub(root, "Header")
    auth = sub(header, "Auth")
    sub(auth, "ClientLoginId", login.client_login_id)
    sub(auth, "UserId", login.user_id)
    sub(auth, "Password", login.password)
    sub(
        header,
        "UserSoftware",
        supplier=software.supplier,
        name=software.name,
        version=software.version,
    )
    transaction = sub(header, "Transaction")
    sub(transaction, "ClientTrxId", trx)
    sub(transaction, "Language", "eng")
    return root, sub(root, "Body")


# -- hub side -----------------------------------------------------------------------------------


def parse_request(data: bytes, *, this_year: int) -> SoapRequest:
    """Read a request (SoapError when it is not one we know); `this_year` reads YYMMDD dates."""
    element = parse_body(data)
    name = local_name(element)
    if not name.endswith("Request"):
        raise SoapError(f"{name} is not a request")
    code = name.removesuffix("Request")
    if code in PINGS:
        return SoapRequest(code, ping=optional_text(element, "Input") or "")
    if code not in SINGLE and code not in BULK and code != BULK_RESULT:
        raise SoapError(f"unknown transaction {code}")
    header = child(element, "Header")
    login = Login(
        text(header, "Auth/ClientLoginId"),
        text(header, "Auth/UserId"),
        text(header, "Auth/Password"),
    )
    software = child(header, "UserSoftware")
    for name in ("supplier", "name", "version"):
        attribute(software, name)
    request = SoapRequest(code, login, optional_text(header, "Transaction/ClientTrxId") or None)
    body = child(element, "Body")
    if code in SINGLE:
        ui = read_ui(body, this_year=this_year)
        ref_trx = optional_text(body, "RefClientTrxId") or None
        return replace(request, ui=ui, ref_trx=ref_trx)
    if code in BULK:
        items = tuple(
            (read_ui(item, this_year=this_year), optional_text(item, "ClientTrxId") or None)
            for item in children(child(body, "Packs"), "Item")
        )
        return replace(request, items=items)
    return replace(request, ref_bulk=text(body, "RefNMVSTrxId"))
