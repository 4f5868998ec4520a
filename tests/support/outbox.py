"""What the outbox tests share: a delivery the hub knows, a fresh store, a quick resilient hub,
intents queued by hand, and a hub connection that counts what reaches the hub."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from fmd.codes.model import PackIdentifier
from fmd.hub import BulkItem, BulkResult, HubClient, HubResult, MockHub, Reason
from fmd.hub.resilient import ResilientHub, RetryPolicy
from robot_controller.states import HubOperation
from robot_controller.store import Intent, Store
from scanners.base import Scan
from simulators.delivery import Delivery, generate_delivery, seed_hub
from tests.support.relay import RelayClient

LOCATION = "ward-pharmacy"
NOW = datetime.now(UTC)


def at_now() -> datetime:
    return NOW


async def no_wait(_: float) -> None:
    return None


def world(
    store_url: str, packs: int, *, seed: int, suspect_rate: float = 0.0, hub: MockHub | None = None
) -> tuple[Delivery, MockHub, Store]:
    """A delivery, a national system that knows it, and a fresh store at `store_url`."""
    delivery = generate_delivery(packs, seed=seed, suspect_rate=suspect_rate, today=NOW.date())
    hub = hub or MockHub(seed=1)
    seed_hub(hub, delivery)
    return delivery, hub, Store.open(store_url)


def quick(inner: MockHub | HubClient) -> ResilientHub:
    """The resilient hub on `inner` (a mock's client at LOCATION), retrying once, never waiting."""
    client = inner.client(LOCATION) if isinstance(inner, MockHub) else inner
    return ResilientHub(client, retry=RetryPolicy(attempts=2), sleep=no_wait)


def queue_all(
    store: Store,
    delivery: Delivery,
    operation: HubOperation,
    *,
    prefix: str,
    reason: Reason | None = Reason.SUPPLIED,
) -> list[Intent]:
    """One scan per pack of the delivery and one intent each, trx ids `{prefix}-{token}`."""
    queued = []
    with store.batch():
        for raw, pack in zip(delivery.raws, delivery.packs, strict=True):
            token = store.record_scan(Scan(raw, None, "bench", NOW), at=NOW)
            queued.append(store.queue_intent(token, pack.ui, operation, reason,
                                             trx=f"{prefix}-{token}", at=NOW))  # fmt: skip
    return queued


class Counting(RelayClient):
    """Passes every call on and counts the requests that reach the hub, by kind; keeps the
    items of every mixed bulk and the packs of every single-pack change."""

    def __init__(self, inner: HubClient) -> None:
        super().__init__(inner)
        self.requests: Counter[str] = Counter()
        self.bulks: list[list[BulkItem]] = []
        self.changed_alone: list[PackIdentifier] = []

    async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult:
        self.requests["verify"] += 1
        return await super().verify(ui, trx=trx)

    async def decommission(
        self, ui: PackIdentifier, to: Reason, *, trx: str | None = None
    ) -> HubResult:
        self.requests["decommission"] += 1
        self.changed_alone.append(ui)
        return await super().decommission(ui, to, trx=trx)

    async def undo(
        self, ui: PackIdentifier, from_: Reason, *, trx: str | None = None,
        ref_trx: str | None = None,
    ) -> HubResult:  # fmt: skip
        self.requests["undo"] += 1
        self.changed_alone.append(ui)
        return await super().undo(ui, from_, trx=trx, ref_trx=ref_trx)

    async def mixed(self, items: Sequence[BulkItem]) -> BulkResult:
        self.requests["mixed"] += 1
        self.bulks.append(list(items))
        return await super().mixed(items)
