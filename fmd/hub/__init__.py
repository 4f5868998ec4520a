"""The NMVS hub: one contract (`HubClient`), several implementations."""

from fmd.hub.contract import (
    BulkItem,
    BulkResult,
    HubAuthFailed,
    HubClient,
    HubResult,
    HubUnavailable,
    ManualEntry,
    Outcome,
    PackState,
    Reason,
)
from fmd.hub.mock import MockHub

__all__ = [
    "BulkItem",
    "BulkResult",
    "HubAuthFailed",
    "HubClient",
    "HubResult",
    "HubUnavailable",
    "ManualEntry",
    "MockHub",
    "Outcome",
    "PackState",
    "Reason",
]
