"""Master data for the mock national system, in the JSON form integrators and tests write.

```
{"products": [{"product_code", "scheme", "name"}],
 "batches": [{"product_code", "batch", "expiry": "YYYY-MM-DD"}],
 "packs": [{"product_code", "serial", "batch"}],
 "recalled_batches": [{"product_code", "batch"}],
 "withdrawn_products": ["…"],
 "decommissioned": [{"product_code", "serial", "reason", "location"}]}
```
Every key is optional. `MasterData.from_json` checks the whole document and raises
`MasterDataError` naming the first entry that cannot be used; `load_master_data` puts a checked
document into a `MockHub` (which validates product codes, batches and serials again).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar, cast

from fmd.codes.model import PackIdentifier, Scheme
from fmd.hub.contract import PACK_LEVEL_REASONS, Reason
from fmd.hub.mock import MockHub

_SECTIONS = (
    "products",
    "batches",
    "packs",
    "recalled_batches",
    "withdrawn_products",
    "decommissioned",
)
_T = TypeVar("_T")


class MasterDataError(ValueError):
    """A master-data document that cannot be used; the message names the entry."""


@dataclass(frozen=True, slots=True)
class Product:
    product_code: str
    scheme: Scheme = "GTIN"
    name: str = ""


@dataclass(frozen=True, slots=True)
class Batch:
    product_code: str
    batch: str
    expiry: date


@dataclass(frozen=True, slots=True)
class Pack:
    product_code: str
    serial: str
    batch: str


@dataclass(frozen=True, slots=True)
class Decommissioned:
    """A pack already inactive at the national system (supplied elsewhere, destroyed, …)."""

    product_code: str
    serial: str
    reason: Reason
    location: str


@dataclass(frozen=True, slots=True)
class MasterData:
    """Products, batches and packs, and what has already happened to some of them."""

    products: tuple[Product, ...] = ()
    batches: tuple[Batch, ...] = ()
    packs: tuple[Pack, ...] = ()
    recalled_batches: tuple[tuple[str, str], ...] = ()
    withdrawn_products: tuple[str, ...] = ()
    decommissioned: tuple[Decommissioned, ...] = ()

    @classmethod
    def from_json(cls, document: object) -> MasterData:
        """Check a parsed JSON document; `MasterDataError` names the first bad entry."""
        if not isinstance(document, Mapping):
            raise MasterDataError("master data must be a JSON object")
        unknown = sorted(set(document) - set(_SECTIONS))
        if unknown:
            raise MasterDataError(f"unknown key {unknown[0]!r} (expected: {', '.join(_SECTIONS)})")
        reader = _Reader(document)
        data = cls(
            products=reader.entries("products", _product),
            batches=reader.entries("batches", _batch),
            packs=reader.entries("packs", _pack),
            recalled_batches=reader.entries(
                "recalled_batches", lambda e: (e.text("product_code"), e.text("batch"))
            ),
            withdrawn_products=reader.strings("withdrawn_products"),
            decommissioned=reader.entries("decommissioned", _decommissioned),
        )
        data._check_references()
        return data

    def as_json(self) -> dict[str, list[Any]]:
        """The document `from_json` reads back."""
        return {
            "products": [
                {"product_code": p.product_code, "scheme": p.scheme, "name": p.name}
                for p in self.products
            ],
            "batches": [
                {"product_code": b.product_code, "batch": b.batch, "expiry": b.expiry.isoformat()}
                for b in self.batches
            ],
            "packs": [
                {"product_code": p.product_code, "serial": p.serial, "batch": p.batch}
                for p in self.packs
            ],
            "recalled_batches": [
                {"product_code": code, "batch": batch} for code, batch in self.recalled_batches
            ],
            "withdrawn_products": list(self.withdrawn_products),
            "decommissioned": [
                {
                    "product_code": d.product_code,
                    "serial": d.serial,
                    "reason": d.reason.value,
                    "location": d.location,
                }
                for d in self.decommissioned
            ],
        }

    def pack_identifiers(self) -> dict[tuple[str, str], PackIdentifier]:
        """Every pack's full identifier (its expiry from its batch), by (product code, serial)."""
        schemes = {p.product_code: p.scheme for p in self.products}
        expiries = {(b.product_code, b.batch): b.expiry for b in self.batches}
        return {(p.product_code, p.serial): _identifier(p, schemes, expiries) for p in self.packs}

    def _check_references(self) -> None:
        products = {p.product_code for p in self.products}
        batches = {(b.product_code, b.batch) for b in self.batches}
        packs = {(p.product_code, p.serial) for p in self.packs}
        for number, batch in enumerate(self.batches):
            if batch.product_code not in products:
                raise MasterDataError(f"batches[{number}]: unknown product {batch.product_code}")
        for number, pack in enumerate(self.packs):
            if (pack.product_code, pack.batch) not in batches:
                raise MasterDataError(
                    f"packs[{number}]: unknown batch {pack.batch} of product {pack.product_code}"
                )
        for number, key in enumerate(self.recalled_batches):
            if key not in batches:
                raise MasterDataError(f"recalled_batches[{number}]: unknown batch {key[1]}")
        for number, code in enumerate(self.withdrawn_products):
            if code not in products:
                raise MasterDataError(f"withdrawn_products[{number}]: unknown product {code}")
        for number, done in enumerate(self.decommissioned):
            if (done.product_code, done.serial) not in packs:
                raise MasterDataError(f"decommissioned[{number}]: unknown pack {done.serial}")


def load_master_data(hub: MockHub, data: MasterData) -> None:
    """Put checked master data into a mock national system (`MasterDataError` on a clash)."""
    identifiers = data.pack_identifiers()
    _each("products", data.products, lambda p: hub.add_product(p.product_code, p.scheme, p.name))
    _each("batches", data.batches, lambda b: hub.add_batch(b.product_code, b.batch, b.expiry))
    _each("packs", data.packs, lambda p: hub.add_pack(identifiers[p.product_code, p.serial]))
    _each("recalled_batches", data.recalled_batches, lambda key: hub.recall_batch(*key))
    _each("withdrawn_products", data.withdrawn_products, hub.withdraw_product)
    _each(
        "decommissioned",
        data.decommissioned,
        lambda d: hub.add_decommissioned(d.product_code, d.serial, d.reason, d.location),
    )


def _each(section: str, items: Sequence[_T], apply: Callable[[_T], None]) -> None:
    for number, item in enumerate(items):
        try:
            apply(item)
        except ValueError as error:
            raise MasterDataError(f"{section}[{number}]: {error}") from None


def _identifier(
    pack: Pack, schemes: Mapping[str, Scheme], expiries: Mapping[tuple[str, str], date]
) -> PackIdentifier:
    expiry = expiries[pack.product_code, pack.batch]
    return PackIdentifier(
        scheme=schemes[pack.product_code],
        product_code=pack.product_code,
        serial=pack.serial,
        batch=pack.batch,
        expiry=expiry,
        expiry_raw=expiry.strftime("%y%m%d"),
    )


class _Entry:
    """One JSON object of a section, read key by key with errors naming where it is."""

    def __init__(self, where: str, entry: object) -> None:
        if not isinstance(entry, Mapping):
            raise MasterDataError(f"{where}: must be a JSON object, not {_json_type(entry)}")
        self.where = where
        self.entry = cast(Mapping[str, object], entry)

    def text(self, key: str, default: str | None = None) -> str:
        value = self.entry.get(key, default)
        if value is None:
            raise MasterDataError(f"{self.where}: missing {key!r}")
        if not isinstance(value, str) or (default is None and not value):
            raise MasterDataError(f"{self.where}.{key}: must be a non-empty string")
        return value

    def only(self, *keys: str) -> None:
        extra = sorted(set(self.entry) - set(keys))
        if extra:
            raise MasterDataError(f"{self.where}: unknown key {extra[0]!r}")


class _Reader:
    def __init__(self, document: Mapping[str, object]) -> None:
        self.document = document

    def entries(self, section: str, read: Callable[[_Entry], _T]) -> tuple[_T, ...]:
        return tuple(read(_Entry(f"{section}[{n}]", e)) for n, e in enumerate(self._list(section)))

    def strings(self, section: str) -> tuple[str, ...]:
        items = self._list(section)
        for number, item in enumerate(items):
            if not isinstance(item, str) or not item:
                raise MasterDataError(f"{section}[{number}]: must be a non-empty string")
        return tuple(cast(list[str], items))

    def _list(self, section: str) -> list[object]:
        items = self.document.get(section, [])
        if not isinstance(items, list):
            raise MasterDataError(f"{section}: must be a list, not {_json_type(items)}")
        return items


def _product(entry: _Entry) -> Product:
    entry.only("product_code", "scheme", "name")
    scheme = entry.text("scheme", "GTIN")
    if scheme not in ("GTIN", "PPN"):
        raise MasterDataError(f"{entry.where}.scheme: must be GTIN or PPN, not {scheme!r}")
    return Product(entry.text("product_code"), cast(Scheme, scheme), entry.text("name", ""))


def _batch(entry: _Entry) -> Batch:
    entry.only("product_code", "batch", "expiry")
    expiry = entry.text("expiry")
    try:
        day = date.fromisoformat(expiry)
    except ValueError:
        raise MasterDataError(f"{entry.where}.expiry: {expiry!r} is not YYYY-MM-DD") from None
    return Batch(entry.text("product_code"), entry.text("batch"), day)


def _pack(entry: _Entry) -> Pack:
    entry.only("product_code", "serial", "batch")
    return Pack(entry.text("product_code"), entry.text("serial"), entry.text("batch"))


def _decommissioned(entry: _Entry) -> Decommissioned:
    entry.only("product_code", "serial", "reason", "location")
    reason = entry.text("reason")
    if reason not in {r.value for r in PACK_LEVEL_REASONS}:
        allowed = ", ".join(sorted(r.value for r in PACK_LEVEL_REASONS))
        raise MasterDataError(f"{entry.where}.reason: {reason!r} is not one of {allowed}")
    return Decommissioned(
        entry.text("product_code"), entry.text("serial"), Reason(reason), entry.text("location")
    )


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return next((n for t, n in names.items() if isinstance(value, t)), type(value).__name__)
