"""Hub alerts recorded in a store, as the pipeline records them."""

from __future__ import annotations

from datetime import UTC, datetime

from fmd.codes.model import PackIdentifier
from fmd.hub.contract import HubResult, PackState
from robot_controller.store import Store
from scanners.base import Scan

AT = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def alert_answer(n: int) -> HubResult:
    return HubResult("alert", "NMVS_NC_PC_02", PackState.UNKNOWN, alert_id=f"ALR-{n}",
                     message=f"Serial number unknown: S{n}")  # fmt: skip


def raise_alert(store: Store, ui: PackIdentifier, n: int, at: datetime = AT) -> int:
    """A scan of `ui` whose verify the hub answered with an alert; its token."""
    token = store.record_scan(Scan(f"]d2{n}", None, "test", at), at=at)
    store.record_verification(token, "verify", ui, f"t-{n}", alert_answer(n), error=None,
                              latency_s=0.01, at=at)  # fmt: skip
    return token
