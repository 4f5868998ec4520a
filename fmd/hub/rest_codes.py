"""The REST dialect's vocabulary, shared by the client and the simulator so they cannot drift.

Solidsoft-style hubs answer with a numeric `operationCode` and an HTTP status. `TABLE` gives, for
every operation code, the NMVS return code it stands for and the status it comes with. Families:
`1…` success, `41…` pack or batch not found (404), `51…` state conflict (409), `61…` validation
(422), `71…` throttled (429), `81…` authentication (401), `91…` technical (503). Several operation
codes may share one NMVS code (e.g. a bad batch and a bad serial are both `NMVS_TE_XM_01`); the
first row of an NMVS code is the one the simulator answers with by default.

| operation | NMVS code         | HTTP | meaning                                        |
|-----------|-------------------|------|------------------------------------------------|
| 10000000  | NMVS_SUCCESS      | 200  | success                                        |
| 41010001  | NMVS_NC_PC_01     | 404  | product code unknown (no alert)                |
| 41020001  | NMVS_NC_PC_02     | 404  | serial unknown (alert)                         |
| 41020003  | NMVS_FE_LOT_03    | 404  | batch not found (alert)                        |
| 41020007  | NMVS_FE_LOT_12    | 404  | expiry does not match the batch (alert)        |
| 41020008  | NMVS_FE_LOT_13    | 404  | batch does not match the serial (alert)        |
| 51110001  | NMVS_FE_LOT_01    | 409  | batch recalled                                 |
| 51110002  | NMVS_FE_LOT_08    | 409  | product withdrawn                              |
| 51110003  | NMVS_NC_PCK_02    | 409  | pack expired                                   |
| 51320001  | NMVS_NC_PCK_22    | 409  | pack already inactive (alert or not)           |
| 51420006  | NMVS_NC_PCK_06    | 409  | undo does not match the pack status (alert)    |
| 51420020  | NMVS_NC_PCK_20    | 409  | undo time frame exceeded (alert)               |
| 51420021  | NMVS_NC_PCK_21    | 409  | undo by another location (alert)              |
| 51420027  | NMVS_NC_PCK_27    | 409  | status change could not be performed          |
| 51430001  | NMVS_FE_TX_01     | 409  | reference transaction does not match          |
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

from fmd.hub import returncodes as rc
from fmd.hub.contract import PackState, Reason

JSON_INVALID: Final = "NMVS_TE_JS_01"
AUTH_FAILED: Final = "NMVS_FE_AU_01"
COMMUNICATION_ERROR: Final = "NMVS_TI_RT_02"


@dataclass(frozen=True, slots=True)
class OperationCode:
    """One numeric REST operation code: its NMVS equivalent, HTTP status and meaning."""

    code: str
    nmvs: str
    status: int
    text: str


TABLE: Final[tuple[OperationCode, ...]] = (
    OperationCode("10000000", rc.SUCCESS, 200, "Success"),
    OperationCode("41010001", rc.UNKNOWN_PRODUCT, 404, "Product code unknown"),
    OperationCode("41020001", rc.UNKNOWN_SERIAL, 404, "Serial number unknown"),
    OperationCode("41020003", rc.UNKNOWN_BATCH, 404, "Batch not found"),
    OperationCode("41020007", rc.EXPIRY_MISMATCH, 404, "Expiry date does not match the batch"),
    OperationCode("41020008", rc.BATCH_MISMATCH, 404, "Batch does not match the serial number"),
    OperationCode("51110001", rc.BATCH_RECALLED, 409, "Batch recalled"),
    OperationCode("51110002", rc.PRODUCT_WITHDRAWN, 409, "Product withdrawn"),
    OperationCode("51110003", rc.PACK_EXPIRED, 409, "Pack expired"),
    OperationCode("51320001", rc.ALREADY_INACTIVE, 409, "Pack already inactive"),
    OperationCode("51420006", rc.UNDO_STATUS_MISMATCH, 409, "Undo does not match the pack status"),
    OperationCode("51420020", rc.UNDO_TOO_LATE, 409, "Undo time frame exceeded"),
    OperationCode("51420021", rc.UNDO_OTHER_LOCATION, 409, "Undo by a different location"),
    OperationCode("51420027", rc.STATUS_CHANGE_FAILED, 409, "Status change not performed"),
    OperationCode("51430001", rc.WRONG_REF_TRX, 409, "Reference transaction does not match"),
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

DATA_ENTRY_MODES: Final = frozenset({"scanned", "manual"})
DATA_ENTRY_MODE_HEADER: Final = "emvs-data-entry-mode"
CLIENT_TRX_HEADER: Final = "emvs-client-transaction-id"

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
"""A reason → the REST `state` name of a pack inactive for it."""

REASONS_BY_STATE: Final[Mapping[str, Reason]] = MappingProxyType(
    {name: reason for reason, name in STATE_NAMES.items()}
)
ACTIVE: Final = "Active"
INACTIVE: Final = "Inactive"
UNKNOWN: Final = "Unknown"


def state_name(state: PackState, reasons: tuple[Reason, ...]) -> str:
    """The REST `state` of a pack: Active, Unknown, or the name of its first reason."""
    if state == PackState.ACTIVE:
        return ACTIVE
    if state == PackState.UNKNOWN:
        return UNKNOWN
    return STATE_NAMES[reasons[0]] if reasons else INACTIVE


def pack_state(name: str) -> PackState | None:
    """The `PackState` a REST `state` name stands for, or None for a name not in the dialect."""
    if name == ACTIVE:
        return PackState.ACTIVE
    if name == UNKNOWN:
        return PackState.UNKNOWN
    if name == INACTIVE or name in REASONS_BY_STATE:
        return PackState.INACTIVE
    return None
