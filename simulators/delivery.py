"""A seeded, reproducible delivery with ground truth: genuine packs and every kind of suspect one.

`generate_delivery` makes the packs and the expected route of each; `seed_hub` puts the matching
master data and pack states into a `MockHub`, as the national system would hold them.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from fmd.codes.checks import gtin_check_digit
from fmd.codes.encode import encode_gs1
from fmd.codes.model import PackIdentifier
from fmd.hub import MockHub, Reason
from fmd.hub.master_data import Batch as MasterBatch
from fmd.hub.master_data import Decommissioned, MasterData, Pack, Product, load_master_data

OTHER_LOCATION = "other-pharmacy"


class Kind(StrEnum):
    GENUINE = "genuine"
    UNKNOWN_SERIAL = "unknown-serial"
    ALREADY_SUPPLIED = "already-supplied"
    EXPIRED = "expired"
    RECALLED = "recalled-batch"
    WITHDRAWN = "withdrawn-product"
    BATCH_MISMATCH = "batch-mismatch"
    EXPIRY_MISMATCH = "expiry-mismatch"
    DUPLICATE = "duplicated-serial"
    DAMAGED = "damaged-scan"


SUSPECT_KINDS: tuple[Kind, ...] = tuple(k for k in Kind if k is not Kind.GENUINE)

EXPECTED_ROUTE = {
    Kind.GENUINE: "shelved",
    Kind.UNKNOWN_SERIAL: "quarantined",
    Kind.ALREADY_SUPPLIED: "quarantined",
    Kind.EXPIRED: "rejected",
    Kind.RECALLED: "quarantined",
    Kind.WITHDRAWN: "quarantined",
    Kind.BATCH_MISMATCH: "quarantined",
    Kind.EXPIRY_MISMATCH: "quarantined",
    Kind.DUPLICATE: "quarantined",
    Kind.DAMAGED: "rejected",
}

_SERIAL_CHARS = string.ascii_uppercase + string.digits


@dataclass(frozen=True, slots=True)
class DeliveryPack:
    """One pack of the delivery: what the scanner reads, and what must happen to it."""

    raw: str
    kind: Kind
    ui: PackIdentifier  # the pack's true identifier (the scan may differ from it)

    @property
    def expected_route(self) -> str:
        return EXPECTED_ROUTE[self.kind]


@dataclass(frozen=True, slots=True)
class Batch:
    product_code: str
    batch: str
    expiry: date


@dataclass
class Delivery:
    """The packs in loading order plus the master data the hub needs."""

    packs: list[DeliveryPack]
    products: list[str]
    batches: list[Batch]
    withdrawn: set[str] = field(default_factory=set)
    recalled: set[tuple[str, str]] = field(default_factory=set)
    on_hub: list[PackIdentifier] = field(default_factory=list)
    supplied_elsewhere: list[PackIdentifier] = field(default_factory=list)

    @property
    def raws(self) -> list[str]:
        return [p.raw for p in self.packs]


def generate_delivery(
    n: int, *, seed: int = 1, suspect_rate: float = 0.1, today: date | None = None
) -> Delivery:
    """`n` packs, about `suspect_rate` of them suspect (each kind in turn), reproducible by seed."""
    if n < 0 or not 0.0 <= suspect_rate <= 1.0:
        raise ValueError("n must be ≥ 0 and suspect_rate within 0…1")
    rng = random.Random(seed)  # noqa: S311 - a reproducible delivery, not secrets
    today = today or datetime.now(UTC).date()
    maker = _Maker(rng, today)
    kinds = [
        SUSPECT_KINDS[i % len(SUSPECT_KINDS)] if rng.random() < suspect_rate else Kind.GENUINE
        for i in range(n)
    ]
    packs: list[DeliveryPack] = []
    for kind in kinds:
        if kind is Kind.DUPLICATE:
            originals = [p for p in packs if p.kind is Kind.GENUINE]
            if not originals:
                kind = Kind.GENUINE
            else:
                original = rng.choice(originals)
                packs.append(DeliveryPack(maker.scan(original.ui), kind, original.ui))
                continue
        packs.append(maker.pack(kind))
    return maker.delivery(packs)


PRODUCT_NAMES = (
    "Paracetamol 500 mg tablets, 20",
    "Ibuprofen 400 mg film-coated tablets, 50",
    "Amoxicillin 500 mg capsules, 21",
    "Metformin 850 mg tablets, 120",
    "Ramipril 5 mg tablets, 100",
    "Atorvastatin 20 mg film-coated tablets, 30",
    "Omeprazole 20 mg gastro-resistant capsules, 28",
    "Salbutamol 100 µg inhaler, 200 doses",
    "Levothyroxine 75 µg tablets, 100",
)
"""The names the national system gives the delivery's products, in turn."""


def master_data(delivery: Delivery, *, supplied_elsewhere: bool = True) -> MasterData:
    """The delivery's master data as the national system holds it (each product named from
    `PRODUCT_NAMES`); with `supplied_elsewhere`, the packs already supplied at another pharmacy
    are in it as decommissioned."""
    names = PRODUCT_NAMES
    return MasterData(
        products=tuple(
            Product(code, name=names[i % len(names)]) for i, code in enumerate(delivery.products)
        ),
        batches=tuple(MasterBatch(b.product_code, b.batch, b.expiry) for b in delivery.batches),
        packs=tuple(Pack(ui.product_code, ui.serial, ui.batch) for ui in delivery.on_hub),
        recalled_batches=tuple(sorted(delivery.recalled)),
        withdrawn_products=tuple(sorted(delivery.withdrawn)),
        decommissioned=tuple(
            Decommissioned(ui.product_code, ui.serial, Reason.SUPPLIED, OTHER_LOCATION)
            for ui in delivery.supplied_elsewhere
        )
        if supplied_elsewhere
        else (),
    )


def seed_hub(hub: MockHub, delivery: Delivery) -> None:
    """Load the delivery's master data and pack states into a mock national system (the packs
    supplied elsewhere still active: `supply_elsewhere` supplies them over the hub)."""
    load_master_data(hub, master_data(delivery, supplied_elsewhere=False))


async def supply_elsewhere(hub: MockHub, delivery: Delivery) -> None:
    """Decommission, at another pharmacy, the packs the delivery holds as already supplied."""
    client = hub.client(OTHER_LOCATION)
    for ui in delivery.supplied_elsewhere:
        await client.decommission(ui, Reason.SUPPLIED)


class _Maker:
    """Makes products, batches and packs for one delivery."""

    def __init__(self, rng: random.Random, today: date) -> None:
        self.rng = rng
        self.today = today
        self.products = [self._gtin() for _ in range(8)]
        self.batches = [self._batch(p, future=True) for p in self.products for _ in range(2)]
        self.extra_batches: list[Batch] = []
        self.withdrawn: set[str] = set()
        self.recalled: set[tuple[str, str]] = set()
        self.on_hub: list[PackIdentifier] = []
        self.supplied_elsewhere: list[PackIdentifier] = []
        self.serials: set[str] = set()

    def pack(self, kind: Kind) -> DeliveryPack:
        if kind is Kind.EXPIRED:
            batch = self._extra_batch(self.rng.choice(self.products), future=False)
        elif kind is Kind.RECALLED:
            batch = self._extra_batch(self.rng.choice(self.products), future=True)
            self.recalled.add((batch.product_code, batch.batch))
        elif kind is Kind.WITHDRAWN:
            product = self._gtin()
            self.withdrawn.add(product)
            batch = self._extra_batch(product, future=True)
        else:
            batch = self.rng.choice(self.batches)
        ui = self._ui(batch)
        if kind is not Kind.UNKNOWN_SERIAL:
            self.on_hub.append(ui)
        if kind is Kind.ALREADY_SUPPLIED:
            self.supplied_elsewhere.append(ui)
        return DeliveryPack(self._scan_for(kind, ui), kind, ui)

    def scan(self, ui: PackIdentifier) -> str:
        order = self.rng.choice((("01", "21", "17", "10"), ("01", "17", "10", "21")))
        return encode_gs1(ui, order=order, symbology=self.rng.choice(("]d2", None)))

    def delivery(self, packs: list[DeliveryPack]) -> Delivery:
        return Delivery(
            packs=packs,
            products=[*self.products, *sorted(self.withdrawn)],
            batches=[*self.batches, *self.extra_batches],
            withdrawn=self.withdrawn,
            recalled=self.recalled,
            on_hub=self.on_hub,
            supplied_elsewhere=self.supplied_elsewhere,
        )

    def _scan_for(self, kind: Kind, ui: PackIdentifier) -> str:
        if kind is Kind.BATCH_MISMATCH:
            other = next(
                b for b in self.batches if b.product_code == ui.product_code and b.batch != ui.batch
            )
            return self.scan(replace(ui, batch=other.batch))
        if kind is Kind.EXPIRY_MISMATCH:
            if ui.expiry is None:
                raise ValueError("an expiry mismatch needs a pack with an expiry")
            shifted = _last_day_of_month(ui.expiry + timedelta(days=40))
            return self.scan(replace(ui, expiry=shifted, expiry_raw=shifted.strftime("%y%m%d")))
        if kind is Kind.DAMAGED:  # a keyboard wedge lost the GS after the batch
            return encode_gs1(ui, order=("01", "17", "10", "21"), separator="", symbology=None)
        return self.scan(ui)

    def _ui(self, batch: Batch) -> PackIdentifier:
        serial = ""
        while not serial or serial in self.serials:
            length = self.rng.randint(12, 20)
            serial = "".join(self.rng.choices(_SERIAL_CHARS, k=length))
        self.serials.add(serial)
        return PackIdentifier(
            scheme="GTIN",
            product_code=batch.product_code,
            serial=serial,
            batch=batch.batch,
            expiry=batch.expiry,
            expiry_raw=batch.expiry.strftime("%y%m%d"),
        )

    def _gtin(self) -> str:
        body = "0" + "".join(self.rng.choices(string.digits, k=12))
        return body + gtin_check_digit(body)

    def _batch(self, product: str, *, future: bool) -> Batch:
        days = self.rng.randint(200, 900) if future else -self.rng.randint(30, 400)
        expiry = _last_day_of_month(self.today + timedelta(days=days))
        batch_id = "".join(self.rng.choices(_SERIAL_CHARS, k=self.rng.randint(5, 10)))
        return Batch(product, batch_id, expiry)

    def _extra_batch(self, product: str, *, future: bool) -> Batch:
        batch = self._batch(product, future=future)
        self.extra_batches.append(batch)
        return batch


def _last_day_of_month(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)
