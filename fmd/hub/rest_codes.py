"""The REST dialect's vocabulary, shared by the client and the simulator so they cannot drift.

Solidsoft-style hubs answer with a numeric `operationCode` and an HTTP status. `TABLE` gives, for
every operation code, the NMVS return code it stands for and the status it comes with. Solidsoft's
integration library reads a code as: digit 1 the HTTP status (1 = 200, 2 = 202, 3 = 403,
4 = 404, 5 = 409, 6 = 422), digits 2–3 the request (10 any pack request, 11 verify, 12 supply,
13 decommission, 14 reactivate, 21/22 bulk submit/results, 31/32 recovery submit/results),
digit 4 `1` information or `2` warning. `7…` (429), `8…` (401) and `9…` (503) are ours: that
library never reads a code on those statuses. Several operation codes may share one NMVS code
(e.g. a bad batch and a bad serial are both `NMVS_TE_XM_01`); the first row of an NMVS code is
the one the simulator answers with by default.

Confirmed in Solidsoft's library (its local checks and message texts): 61020006–08, 61020011,
62120000–03 and 63120001–03; 61020012/13 were seen from the Greek system. The bulk and
recovery acknowledgement, results and "not ready" codes (`2…`, `12…`, `13…`, `22210000`,
`53210000`, `42210001`) follow the layout but are not confirmed; nor are the others. Solidsoft's
texts give 61020001 as "product code required" and 61020002 as "product code scheme required"
(and 61020000/03/04 as batch, serial, expiry required), not our generic meanings below.

| operation | NMVS code         | HTTP | meaning                                        |
|-----------|-------------------|------|------------------------------------------------|
| 10000000  | NMVS_SUCCESS      | 200  | success                                        |
| 12210000  | NMVS_SUCCESS      | 200  | bulk results ready                             |
| 13210000  | NMVS_SUCCESS      | 200  | recovery results ready                         |
| 22110000  | NMVS_SUCCESS      | 202  | bulk request accepted (Location, eta)          |
| 22210000  | NMVS_SUCCESS      | 202  | bulk results not ready yet (eta)               |
| 23110000  | NMVS_SUCCESS      | 202  | recovery request accepted (Location, eta)      |
| 41010001  | NMVS_NC_PC_01     | 404  | product code unknown (no alert)                |
| 41020001  | NMVS_NC_PC_02     | 404  | serial unknown (alert)                         |
| 41020003  | NMVS_FE_LOT_03    | 404  | batch not found (alert)                        |
| 41020007  | NMVS_FE_LOT_12    | 404  | expiry does not match the batch (alert)        |
| 41020008  | NMVS_FE_LOT_13    | 404  | batch does not match the serial (alert)        |
| 42210001  | NMVS_FE_TX_02     | 404  | bulk or recovery results unknown or expired    |
| 51110001  | NMVS_FE_LOT_01    | 409  | batch recalled                                 |
| 51110002  | NMVS_FE_LOT_08    | 409  | product withdrawn                              |
| 51110003  | NMVS_NC_PCK_02    | 409  | pack expired                                   |
| 51320001  | NMVS_NC_PCK_22    | 409  | pack already inactive (alert or not)           |
| 51420006  | NMVS_NC_PCK_06    | 409  | undo does not match the pack status (alert)    |
| 51420020  | NMVS_NC_PCK_20    | 409  | undo time frame exceeded (alert)               |
| 51420021  | NMVS_NC_PCK_21    | 409  | undo by another location (alert)              |
| 51420027  | NMVS_NC_PCK_27    | 409  | status change could not be performed          |
| 51430001  | NMVS_FE_TX_01     | 409  | reference transaction does not match          |
| 53210000  | NMVS_SUCCESS      | 409  | recovery results not ready yet (eta)           |
| 61020001  | NMVS_TE_XM_01     | 422  | request invalid (generic)                      |
| 61020002  | NMVS_TE_JS_01     | 422  | request body is not valid JSON / unknown state |
| 61020006  | NMVS_TE_XM_01     | 422  | batch invalid                                  |
| 61020007  | NMVS_FE_LOT_07    | 422  | expiry invalid                                 |
| 61020008  | NMVS_FE_GR_01     | 422  | product code (GTIN) invalid                    |
| 61020009  | NMVS_FE_GR_02     | 422  | PPN check digits wrong                         |
| 61020010  | NMVS_NC_PC_11     | 422  | NHRN invalid                                   |
| 61020011  | NMVS_TE_XM_01     | 422  | serial invalid                                 |
| 61020012  | NMVS_TE_XM_01     | 422  | header emvs-data-entry-mode missing            |
| 61020013  | NMVS_TE_XM_01     | 422  | header emvs-data-entry-mode unknown            |
| 61020014  | NMVS_TE_TX_01     | 422  | client transaction id already used             |
| 62120000  | NMVS_TE_XM_01     | 422  | bulk: a serial twice for one product           |
| 62120001  | NMVS_TE_XM_01     | 422  | bulk: numberOfPacks is not the number of packs |
| 62120002  | NMVS_TE_JS_01     | 422  | bulk: request body invalid                     |
| 62120003  | NMVS_TE_XM_01     | 422  | bulk: too many packs                           |
| 63120001  | NMVS_TE_XM_01     | 422  | recovery: numberOfPacks is not the number      |
| 63120002  | NMVS_TE_JS_01     | 422  | recovery: request body invalid                 |
| 63120003  | NMVS_TE_XM_01     | 422  | recovery: too many packs                       |
| 71000001  | NMVS_FI_SE_CLI_01 | 429  | too many requests (with Retry-After)           |
| 81000001  | NMVS_FE_AU_01     | 401  | bearer token missing, unknown or expired       |
| 91000001  | NMVS_ERROR        | 503  | technical error                                |
| 91000002  | NMVS_TI_TO_01     | 503  | runtime exceeded / hub unavailable             |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from fmd.codes.model import Scheme
from fmd.hub import returncodes as rc
from fmd.hub.contract import PackState, Reason

JSON_INVALID: Final = "NMVS_TE_JS_01"
AUTH_FAILED: Final = "NMVS_FE_AU_01"
COMMUNICATION_ERROR: Final = "NMVS_TI_RT_02"
BULK_UNKNOWN: Final = "NMVS_FE_TX_02"


@dataclass(frozen=True, slots=True)
class OperationCode:
    """One numeric REST operation code: its NMVS equivalent, HTTP status and meaning."""

    code: str
    nmvs: str
    status: int
    text: str


TABLE: Final[tuple[OperationCode, ...]] = (
    OperationCode("10000000", rc.SUCCESS, 200, "Success"),
    OperationCode("12210000", rc.SUCCESS, 200, "Bulk results ready"),
    OperationCode("13210000", rc.SUCCESS, 200, "Recovery results ready"),
    OperationCode("22110000", rc.SUCCESS, 202, "Bulk request accepted"),
    OperationCode("22210000", rc.SUCCESS, 202, "Bulk results not ready yet"),
    OperationCode("23110000", rc.SUCCESS, 202, "Recovery request accepted"),
    OperationCode("41010001", rc.UNKNOWN_PRODUCT, 404, "Product code unknown"),
    OperationCode("41020001", rc.UNKNOWN_SERIAL, 404, "Serial number unknown"),
    OperationCode("41020003", rc.UNKNOWN_BATCH, 404, "Batch not found"),
    OperationCode("41020007", rc.EXPIRY_MISMATCH, 404, "Expiry date does not match the batch"),
    OperationCode("41020008", rc.BATCH_MISMATCH, 404, "Batch does not match the serial number"),
    OperationCode("42210001", BULK_UNKNOWN, 404, "Results unknown or expired"),
    OperationCode("51110001", rc.BATCH_RECALLED, 409, "Batch recalled"),
    OperationCode("51110002", rc.PRODUCT_WITHDRAWN, 409, "Product withdrawn"),
    OperationCode("51110003", rc.PACK_EXPIRED, 409, "Pack expired"),
    OperationCode("51320001", rc.ALREADY_INACTIVE, 409, "Pack already inactive"),
    OperationCode("51420006", rc.UNDO_STATUS_MISMATCH, 409, "Undo does not match the pack status"),
    OperationCode("51420020", rc.UNDO_TOO_LATE, 409, "Undo time frame exceeded"),
    OperationCode("51420021", rc.UNDO_OTHER_LOCATION, 409, "Undo by a different location"),
    OperationCode("51420027", rc.STATUS_CHANGE_FAILED, 409, "Status change not performed"),
    OperationCode("51430001", rc.WRONG_REF_TRX, 409, "Reference transaction does not match"),
    OperationCode("53210000", rc.SUCCESS, 409, "Recovery results not ready yet"),
    OperationCode("61020001", rc.SCHEMA_VIOLATION, 422, "Request invalid"),
    OperationCode("61020002", JSON_INVALID, 422, "Request body invalid"),
    OperationCode("61020006", rc.SCHEMA_VIOLATION, 422, "Batch invalid"),
    OperationCode("61020007", rc.INVALID_EXPIRY, 422, "Expiry date invalid"),
    OperationCode("61020008", rc.INVALID_PRODUCT_CODE, 422, "Product code invalid"),
    OperationCode("61020009", rc.INVALID_PPN_CHECK, 422, "PPN check digits wrong"),
    OperationCode("61020010", rc.INVALID_NHRN, 422, "NHRN invalid"),
    OperationCode("61020011", rc.SCHEMA_VIOLATION, 422, "Serial number invalid"),
    OperationCode("61020012", rc.SCHEMA_VIOLATION, 422, "Header emvs-data-entry-mode missing"),
    OperationCode("61020013", rc.SCHEMA_VIOLATION, 422, "Header emvs-data-entry-mode unknown"),
    OperationCode("61020014", rc.TRX_ID_USED, 422, "Client transaction id already used"),
    OperationCode("62120000", rc.SCHEMA_VIOLATION, 422, "Duplicate serial numbers provided"),
    OperationCode("62120001", rc.SCHEMA_VIOLATION, 422, "Number of packs does not match"),
    OperationCode("62120002", JSON_INVALID, 422, "Bulk request body invalid"),
    OperationCode("62120003", rc.SCHEMA_VIOLATION, 422, "Too many packs in the bulk request"),
    OperationCode("63120001", rc.SCHEMA_VIOLATION, 422, "Number of packs does not match"),
    OperationCode("63120002", JSON_INVALID, 422, "Recovery request body invalid"),
    OperationCode("63120003", rc.SCHEMA_VIOLATION, 422, "Too many packs in the recovery request"),
    OperationCode("71000001", rc.RATE_LIMITED, 429, "Too many requests"),
    OperationCode("81000001", AUTH_FAILED, 401, "Bearer token missing, unknown or expired"),
    OperationCode("91000001", rc.ERROR, 503, "Technical error"),
    OperationCode("91000002", rc.TIMEOUT, 503, "Runtime exceeded"),
)

BY_CODE: Final[Mapping[str, OperationCode]] = MappingProxyType({op.code: op for op in TABLE})
"""Operation code → its row."""

FOR_NMVS: Final[Mapping[str, OperationCode]] = MappingProxyType(
    {op.nmvs: op for op in reversed(TABLE)}
)
"""NMVS return code → the operation code answered for it by default."""

BAD_BATCH: Final = BY_CODE["61020006"]
BAD_SERIAL: Final = BY_CODE["61020011"]
BAD_EXPIRY: Final = BY_CODE["61020007"]
BAD_PRODUCT_CODE: Final = BY_CODE["61020008"]
BAD_BODY: Final = BY_CODE["61020002"]
MODE_MISSING: Final = BY_CODE["61020012"]
MODE_UNKNOWN: Final = BY_CODE["61020013"]
UNAUTHORIZED: Final = BY_CODE["81000001"]
UNAVAILABLE: Final = BY_CODE["91000002"]
TECHNICAL: Final = BY_CODE["91000001"]
THROTTLED: Final = BY_CODE["71000001"]
RESULTS_UNKNOWN: Final = BY_CODE["42210001"]


@dataclass(frozen=True, slots=True)
class Route:
    """One of the two many-pack routes: where it is posted, its codes for an accepted request,
    for results not ready and ready, and for the bodies it refuses."""

    path: str
    accepted: OperationCode
    pending: OperationCode
    ready: OperationCode
    duplicates: OperationCode | None  # None: the route takes a pack more than once
    count_mismatch: OperationCode
    bad_body: OperationCode
    too_many: OperationCode


BULK: Final = Route(
    "product/packs",
    BY_CODE["22110000"],
    BY_CODE["22210000"],
    BY_CODE["12210000"],
    BY_CODE["62120000"],
    BY_CODE["62120001"],
    BY_CODE["62120002"],
    BY_CODE["62120003"],
)
"""`POST product/packs`: one target state for all its packs, each pack at most once."""

RECOVERY: Final = Route(
    "recovery/packs",
    BY_CODE["23110000"],
    BY_CODE["53210000"],
    BY_CODE["13210000"],
    None,
    BY_CODE["63120001"],
    BY_CODE["63120002"],
    BY_CODE["63120003"],
)
"""`POST recovery/packs`: a list of pack commands processed in order, each with its own
transition: Solidsoft's route for forwarding requests that could not be sent at the time."""

STATUS_OF_FAMILY: Final[Mapping[str, int]] = MappingProxyType(
    {"1": 200, "2": 202, "3": 403, "4": 404, "5": 409, "6": 422, "7": 429, "8": 401, "9": 503}
)
"""An operation code's first digit → the HTTP status it comes with (how a pack's result inside
bulk or recovery results, which has no status of its own, is read)."""

NON_MANUAL: Final = "non-manual"
MANUAL: Final = "manual"
DATA_ENTRY_MODES: Final = frozenset({NON_MANUAL, MANUAL})
DATA_ENTRY_MODE_HEADER: Final = "emvs-data-entry-mode"
CLIENT_TRX_HEADER: Final = "emvs-client-transaction-id"
"""Ours, not Solidsoft's (its library sends no transaction id): the simulator keys idempotent
replays on it; a real system presumably ignores it (unconfirmed)."""

SCHEME_NAMES: Final[Mapping[Scheme, str]] = MappingProxyType({"GTIN": "gs1", "PPN": "ifa"})
"""A product code scheme → its name in the URL and in `productCodeScheme` (Solidsoft's library
names the PPN scheme `ifa`; unconfirmed against a live system, which we saw only with `gs1`)."""

SCHEMES_BY_NAME: Final[Mapping[str, Scheme]] = MappingProxyType(
    {name: scheme for scheme, name in SCHEME_NAMES.items()}
)

STATE_NAMES: Final[Mapping[Reason, str]] = MappingProxyType(
    {
        Reason.SUPPLIED: "Supplied",
        Reason.DESTROYED: "Destroyed",
        Reason.LOCKED: "Locked",
        Reason.EXPORTED: "Exported",
        Reason.SAMPLE: "Sample",
        Reason.FREE_SAMPLE: "FreeSample",
        Reason.STOLEN: "Stolen",
        Reason.CHECKED_OUT: "CheckedOut",
        Reason.RECALLED: "Recalled",
        Reason.EXPIRED: "Expired",
        Reason.WITHDRAWN: "Withdrawn",
    }
)
"""A reason → the REST `state` name of a pack inactive for it (Solidsoft's `ReportedPackState`)."""

REASONS_BY_STATE: Final[Mapping[str, Reason]] = MappingProxyType(
    {name: reason for reason, name in STATE_NAMES.items()}
)
ACTIVE: Final = "Active"
NOT_FOUND: Final = "NotFound"

BATCH_LEVEL: Final = (Reason.WITHDRAWN, Reason.RECALLED, Reason.EXPIRED)
"""The reasons a `batchState` can name (the product's withdrawal counts: no pack of it goes)."""

TRANSITIONS: Final[Mapping[Reason, str]] = MappingProxyType(
    {
        Reason.SUPPLIED: "SUPPLIED",
        Reason.STOLEN: "STOLEN",
        Reason.DESTROYED: "DESTROYED",
        Reason.SAMPLE: "SAMPLE",
        Reason.FREE_SAMPLE: "FREE_SAMPLE",
        Reason.LOCKED: "LOCKED",
        Reason.EXPORTED: "EXPORTED",
    }
)
"""A reason → the `transitionType` of a recovery pack command that decommissions to it
(Solidsoft's `PackStateTransitionType`, as its JSON library writes an enum: by name)."""

REACTIVATE: Final = "ACTIVE"
"""The `transitionType` of a recovery pack command that reverts a decommission."""

TRANSITION_REASONS: Final[Mapping[str, Reason]] = MappingProxyType(
    {name: reason for reason, name in TRANSITIONS.items()}
)


def state_name(state: PackState, reasons: tuple[Reason, ...]) -> str:
    """The REST `state` of a pack: its first reason's name, Active, or NotFound."""
    if reasons:
        return STATE_NAMES[reasons[0]]
    return ACTIVE if state == PackState.ACTIVE else NOT_FOUND


def batch_state_name(state: PackState, reasons: tuple[Reason, ...]) -> str | None:
    """The REST `batchState`: the batch or product level reason's name, Active, or None for a
    pack the hub does not know."""
    if state == PackState.UNKNOWN:
        return None
    return next((STATE_NAMES[r] for r in reasons if r in BATCH_LEVEL), ACTIVE)


def pack_state(name: str) -> PackState | None:
    """The `PackState` a REST `state` name stands for, or None for a name not in the dialect."""
    if name == ACTIVE:
        return PackState.ACTIVE
    if name == NOT_FOUND:
        return PackState.UNKNOWN
    if name in REASONS_BY_STATE:
        return PackState.INACTIVE
    return None
