"""SOAP requests: built by the client, read by the hub simulator (pure functions).

The layout follows the Arvato schemas (`NMVS_Composite_Types.xsd` and the `I*` types); every
element and attribute below `<wsdl:GxxxRequest>` is in the types namespace:
- `Header` (`RequestHeaderData_Type`): `Auth` (`ClientLoginId`, `UserId`, `Password`),
  `UserSoftware@supplier@name@version`, `Transaction` (`ClientTrxId`, `Language`).
- single pack (`RequestData_Type`): `Body` = `Product` (`ProductCode@scheme`, `Batch` with `Id`
  and `ExpDate`) and `Pack@sn`; an undo adds `RefClientTrxId`; manual entry (G122, G182,
  `ManualRequestData_Type`) has `Product` with `ProductCode` only.
- bulk (`RequestBulkData_Type`): **one** `Product` (code and batch) and `Packs/Pack@sn`, 1–100,000
  distinct serials; an undo bulk may add `RefClientTrxId`. G188 and G196: `RefNMVSTrxId`.
- mixed bulk G195 (`RequestMixedBulkData_Type`): `TrxList/TrxItem`*, each an `Item@reqType`
  (`Product`, `Pack@sn`, then its own `Transaction` with `ClientTrxId`, `Language` and an
  optional `RefClientTrxId`) or an `ItemMan@reqType` (the same with a manual-entry `Product`).
- pings: `Input` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from fmd.codes.model import PackIdentifier
from fmd.hub.contract import ManualEntry
from fmd.hub.soap_names import (
    BULK,
    BULK_PING,
    BULK_RESULT,
    MANUAL_SINGLE,
    MIXED_RESULT,
    MIXED_SUBMIT,
    SINGLE,
    SINGLE_PING,
    SUPPORT_PING,
    request_name,
)
from fmd.hub.soap_xml import (
    Element,
    SoapError,
    add_product,
    add_ui,
    attribute,
    child,
    children,
    envelope,
    local_name,
    optional_text,
    parse_body,
    read_product,
    read_product_code,
    read_ui,
    sub,
    text,
    wsd,
)

PINGS = frozenset({SINGLE_PING, BULK_PING, SUPPORT_PING})
LANGUAGE = "eng"
RESULTS = frozenset({BULK_RESULT, MIXED_RESULT})
TRANSACTIONS = frozenset({*SINGLE, *MANUAL_SINGLE, *BULK, *RESULTS, MIXED_SUBMIT})
"""Every transaction code a request may carry (pings aside)."""


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
class MixedItem:
    """One transaction of a mixed bulk: its code (`reqType`), its own trx id, and the pack as
    scanned (`ui`, an `Item`) or as keyed in (`entry`, an `ItemMan`: G122 or G182)."""

    code: str
    trx: str
    ui: PackIdentifier | None = None
    entry: ManualEntry | None = None
    ref_trx: str | None = None


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """A request as the hub reads it; `code` is e.g. `G110`, `G125`, `G195` or `SupportPing`.

    `bulk` holds a bulk's packs (its one product and batch on each serial), `mixed` a mixed
    bulk's items, `ref_bulk` the bulk a G188/G196 asks about."""

    code: str
    login: Login | None = None
    client_trx: str | None = None
    ui: PackIdentifier | None = None
    entry: ManualEntry | None = None
    ref_trx: str | None = None
    bulk: tuple[PackIdentifier, ...] = ()
    mixed: tuple[MixedItem, ...] = ()
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


def manual_request(
    code: str, login: Login, software: Software, trx: str, entry: ManualEntry
) -> bytes:
    """A manual-entry transaction (G122, G182): product code and serial only."""
    root, body = _transaction(code, login, software, trx)
    _add_manual(body, entry)
    return envelope(root)


def bulk_request(
    code: str, login: Login, software: Software, trx: str, packs: Sequence[PackIdentifier]
) -> bytes:
    """A bulk submission (G115, G125, G127, …): one product and batch, its packs' serials.
    ValueError when the packs are not of one product and batch or repeat a serial."""
    if not packs:
        raise ValueError("a bulk needs at least one pack")
    first = packs[0]
    serials = [ui.serial for ui in packs]
    if any(_batch_key(ui) != _batch_key(first) for ui in packs):
        raise ValueError("a bulk carries one product and batch")
    if len(set(serials)) != len(serials):
        raise ValueError("a bulk carries each serial once")
    root, body = _transaction(code, login, software, trx)
    add_product(body, first)
    container = sub(body, "Packs")
    for serial in serials:
        sub(container, "Pack", sn=serial)
    return envelope(root)


def result_request(code: str, login: Login, software: Software, trx: str, ref_bulk: str) -> bytes:
    """G188 (bulk) or G196 (mixed bulk): ask for the results of the bulk named `ref_bulk`."""
    root, body = _transaction(code, login, software, trx)
    sub(body, "RefNMVSTrxId", ref_bulk)
    return envelope(root)


def mixed_request(login: Login, software: Software, trx: str, items: Sequence[MixedItem]) -> bytes:
    """G195: several transactions in one request, each with its own trx id."""
    root, body = _transaction(MIXED_SUBMIT, login, software, trx)
    trx_list = sub(body, "TrxList")
    for item in items:
        holder = sub(trx_list, "TrxItem")
        if item.entry is not None:
            element = sub(holder, "ItemMan", reqType=item.code)
            _add_manual(element, item.entry)
        elif item.ui is not None:
            element = sub(holder, "Item", reqType=item.code)
            add_ui(element, item.ui)
        else:
            raise ValueError("a mixed item needs a pack")
        transaction = sub(element, "Transaction")
        sub(transaction, "ClientTrxId", item.trx)
        sub(transaction, "Language", LANGUAGE)
        if item.ref_trx is not None:
            sub(transaction, "RefClientTrxId", item.ref_trx)
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
    sub(transaction, "Language", LANGUAGE)
    return root, sub(root, "Body")


def _add_manual(parent: Element, entry: ManualEntry) -> None:
    product = sub(parent, "Product")
    sub(product, "ProductCode", entry.product_code, scheme=entry.scheme)
    sub(parent, "Pack", sn=entry.serial)


def _batch_key(ui: PackIdentifier) -> tuple[str, str, str, str]:
    return ui.scheme, ui.product_code, ui.batch, ui.expiry_raw


# -- hub side -----------------------------------------------------------------------------------


def parse_request(data: bytes, *, this_year: int) -> SoapRequest:
    """Read a request (SoapError when it is not one we know); `this_year` reads YYMMDD dates."""
    return read_request(parse_body(data), this_year=this_year)


def read_request(element: Element, *, this_year: int) -> SoapRequest:
    """Read the transaction element of a request (the SOAP body's child)."""
    name = local_name(element)
    if not name.endswith("Request"):
        raise SoapError(f"{name} is not a request")
    code = name.removesuffix("Request")
    if code in PINGS:
        return SoapRequest(code, ping=optional_text(element, "Input") or "")
    if code not in TRANSACTIONS:
        raise SoapError(f"unknown transaction {code}")
    header = child(element, "Header")
    login = Login(
        text(header, "Auth/ClientLoginId"),
        text(header, "Auth/UserId"),
        text(header, "Auth/Password"),
    )
    software = child(header, "UserSoftware")
    for attr in ("supplier", "name", "version"):
        attribute(software, attr)
    request = SoapRequest(code, login, optional_text(header, "Transaction/ClientTrxId") or None)
    body = child(element, "Body")
    ref_trx = optional_text(body, "RefClientTrxId") or None
    if code in SINGLE:
        return replace(request, ui=read_ui(body, this_year=this_year), ref_trx=ref_trx)
    if code in MANUAL_SINGLE:
        return replace(request, entry=_read_manual(body))
    if code in BULK:
        product = child(body, "Product")
        packs = tuple(
            read_product(product, attribute(pack, "sn"), this_year)
            for pack in children(child(body, "Packs"), "Pack")
        )
        return replace(request, bulk=packs, ref_trx=ref_trx)
    if code == MIXED_SUBMIT:
        items = tuple(
            _read_mixed(holder, this_year) for holder in children(child(body, "TrxList"), "TrxItem")
        )
        return replace(request, mixed=items)
    return replace(request, ref_bulk=text(body, "RefNMVSTrxId"))


def _read_manual(parent: Element) -> ManualEntry:
    scheme, code = read_product_code(child(parent, "Product"))
    return ManualEntry(scheme, code, attribute(child(parent, "Pack"), "sn"))


def _read_mixed(holder: Element, this_year: int) -> MixedItem:
    found = children(holder, "Item") or children(holder, "ItemMan")
    if len(found) != 1:
        raise SoapError("a TrxItem holds exactly one Item or ItemMan")
    element = found[0]
    code = attribute(element, "reqType")
    trx = text(element, "Transaction/ClientTrxId")
    ref_trx = optional_text(element, "Transaction/RefClientTrxId") or None
    if local_name_of(element) == "ItemMan":
        return MixedItem(code, trx, entry=_read_manual(element), ref_trx=ref_trx)
    return MixedItem(code, trx, ui=read_ui(element, this_year=this_year), ref_trx=ref_trx)


def local_name_of(element: Element) -> str:
    """An element's name without its namespace."""
    return str(element.tag).rpartition("}")[2]
