"""A hub connection that passes every call on; tests subclass it to interfere with one call."""

from __future__ import annotations

from collections.abc import Sequence

from fmd.codes.model import PackIdentifier
from fmd.hub import BulkItem, BulkResult, HubClient, HubResult, Reason
from fmd.hub.contract import ManualEntry


class RelayClient:
    """Forwards each `HubClient` call to `inner` unchanged."""

    def __init__(self, inner: HubClient) -> None:
        self.inner = inner

    async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult:
        return await self.inner.verify(ui, trx=trx)

    async def decommission(
        self, ui: PackIdentifier, to: Reason, *, trx: str | None = None
    ) -> HubResult:
        return await self.inner.decommission(ui, to, trx=trx)

    async def undo(
        self, ui: PackIdentifier, from_: Reason, *, trx: str | None = None,
        ref_trx: str | None = None,
    ) -> HubResult:  # fmt: skip
        return await self.inner.undo(ui, from_, trx=trx, ref_trx=ref_trx)

    async def bulk(self, items: Sequence[BulkItem]) -> BulkResult:
        return await self.inner.bulk(items)

    async def mixed(self, items: Sequence[BulkItem]) -> BulkResult:
        return await self.inner.mixed(items)

    async def manual(
        self, entry: ManualEntry, to: Reason | None = None, *, trx: str | None = None
    ) -> HubResult:
        return await self.inner.manual(entry, to, trx=trx)

    async def ping(self) -> None:
        await self.inner.ping()
