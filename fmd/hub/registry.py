"""The mock hub's repository: products, batches and the state of every pack, in plain dicts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from fmd.codes.model import PackIdentifier, Scheme
from fmd.hub.contract import PACK_LEVEL_REASONS, PackState, Reason
from fmd.hub.validation import field_ok, product_code_problem

PackKey = tuple[str, str]
"""(product_code, serial)"""


@dataclass(frozen=True, slots=True)
class Product:
    """Product master data."""

    code: str
    scheme: Scheme
    name: str = ""
    withdrawn: bool = False


@dataclass(frozen=True, slots=True)
class Batch:
    """Batch master data: its expiry is the reference for every pack of the batch."""

    product_code: str
    batch: str
    expiry: date
    recalled: bool = False


@dataclass(frozen=True, slots=True)
class PackRecord:
    """One pack's own state. `reason` None = active at pack level.

    `location`, `user`, `at` and `trx` describe the decommission that set `reason`;
    `resupply_attempts` counts the same location's attempts to supply it again.
    """

    batch: str
    reason: Reason | None = None
    location: str = ""
    user: str = ""
    at: datetime | None = None
    trx: str = ""
    resupply_attempts: int = 0


class Registry:
    """Master data and pack states. Mutators raise ValueError with a clear message on misuse."""

    def __init__(self) -> None:
        self.products: dict[str, Product] = {}
        self.batches: dict[tuple[str, str], Batch] = {}
        self.packs: dict[PackKey, PackRecord] = {}

    def add_product(self, product_code: str, scheme: Scheme = "GTIN", name: str = "") -> None:
        """Register a product; the code must be valid for its scheme."""
        problem = product_code_problem(scheme, product_code)
        if problem is not None:
            raise ValueError(problem.message)
        if product_code in self.products:
            raise ValueError(f"product {product_code} already exists")
        self.products[product_code] = Product(product_code, scheme, name)

    def add_batch(self, product_code: str, batch: str, expiry: date) -> None:
        """Register a batch of a known product with its expiry date."""
        self._product(product_code)
        if not field_ok(batch):
            raise ValueError(f"batch {batch!r} is not 1–20 characters of the GS1 subset")
        if (product_code, batch) in self.batches:
            raise ValueError(f"batch {batch} of product {product_code} already exists")
        self.batches[product_code, batch] = Batch(product_code, batch, expiry)

    def add_pack(self, ui: PackIdentifier) -> None:
        """Register an active pack; its product and batch must exist."""
        product = self._product(ui.product_code)
        if product.scheme != ui.scheme:
            raise ValueError(f"product {ui.product_code} is registered as {product.scheme}")
        self._batch(ui.product_code, ui.batch)
        if not field_ok(ui.serial):
            raise ValueError(f"serial {ui.serial!r} is not 1–20 characters of the GS1 subset")
        if (ui.product_code, ui.serial) in self.packs:
            raise ValueError(f"pack {ui.product_code}/{ui.serial} already exists")
        self.packs[ui.product_code, ui.serial] = PackRecord(ui.batch)

    def recall_batch(self, product_code: str, batch: str) -> None:
        """Mark a batch recalled: all its packs become INACTIVE (RECALLED)."""
        self.batches[product_code, batch] = replace(self._batch(product_code, batch), recalled=True)

    def withdraw_product(self, product_code: str) -> None:
        """Mark a product withdrawn: all its packs become INACTIVE (WITHDRAWN)."""
        self.products[product_code] = replace(self._product(product_code), withdrawn=True)

    def decommission(self, key: PackKey, reason: Reason, location: str, at: datetime) -> None:
        """Set a known active pack inactive with a pack-level reason (no transaction)."""
        if reason not in PACK_LEVEL_REASONS:
            raise ValueError(f"{reason} is not a pack-level reason")
        pack = self.packs.get(key)
        if pack is None:
            raise ValueError(f"unknown pack {key[0]}/{key[1]}: add_pack first")
        if pack.reason is not None:
            raise ValueError(f"pack {key[0]}/{key[1]} is already {pack.reason}")
        self.packs[key] = replace(pack, reason=reason, location=location, user="master-data", at=at)

    def state(self, key: PackKey, today: date) -> tuple[PackState, tuple[Reason, ...]]:
        """A pack's state and reasons on `today`; UNKNOWN for a pack that does not exist."""
        pack = self.packs.get(key)
        if pack is None:
            return PackState.UNKNOWN, ()
        product = self.products[key[0]]
        reasons = pack_reasons(product, self.batches[key[0], pack.batch], pack, today)
        return (PackState.INACTIVE if reasons else PackState.ACTIVE), reasons

    def _product(self, product_code: str) -> Product:
        try:
            return self.products[product_code]
        except KeyError:
            raise ValueError(f"unknown product {product_code}: add_product first") from None

    def _batch(self, product_code: str, batch: str) -> Batch:
        try:
            return self.batches[product_code, batch]
        except KeyError:
            raise ValueError(
                f"unknown batch {batch} of product {product_code}: add_batch first"
            ) from None


def pack_reasons(
    product: Product, batch: Batch, pack: PackRecord, today: date
) -> tuple[Reason, ...]:
    """Why a pack is inactive: its own reason first, then WITHDRAWN, RECALLED, EXPIRED."""
    reasons: list[Reason] = []
    if pack.reason is not None:
        reasons.append(pack.reason)
    if product.withdrawn:
        reasons.append(Reason.WITHDRAWN)
    if batch.recalled:
        reasons.append(Reason.RECALLED)
    if batch.expiry < today:
        reasons.append(Reason.EXPIRED)
    return tuple(reasons)
