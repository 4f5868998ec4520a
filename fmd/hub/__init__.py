"""The NMVS hub: one contract (`HubClient`), several implementations."""

from fmd.hub.contract import (
    BulkItem,
    BulkResult,
    HubAuthFailed,
    HubClient,
    HubResult,
    HubUnavailable,
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
    "MockHub",
    "Outcome",
    "PackState",
    "Reason",
]
