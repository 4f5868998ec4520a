"""The Arvato NMVS return codes the mock hub gives, and what each means.

Which outcome a code comes with depends on the case (e.g. `NMVS_NC_PCK_22` is an alert, except for
a pack inactive because of its batch or product, or, in the `fi` market profile, a pharmacy
re-supplying its own pack before the 3rd attempt); an alert always carries an alert id.

| code              | outcome         | when (MockHub)                                          |
|-------------------|-----------------|---------------------------------------------------------|
| NMVS_SUCCESS      | ok              | verify (ACTIVE, or INACTIVE + reasons); decommission;   |
|                   |                 | undo                                                    |
| NMVS_NC_PC_01     | refused         | product code unknown (or known under the other scheme)  |
| NMVS_NC_PC_02     | alert           | serial unknown for a known product                      |
| NMVS_FE_LOT_03    | alert           | batch unknown for the product                           |
| NMVS_FE_LOT_13    | alert           | batch known, but not the pack's batch                   |
| NMVS_FE_LOT_12    | alert           | expiry (as printed; DD=00 = that month) ≠ the batch's   |
| NMVS_FE_LOT_08    | refused         | product withdrawn                                       |
| NMVS_FE_LOT_01    | refused         | batch recalled                                          |
| NMVS_NC_PCK_02    | refused         | batch expired by the hub's clock                        |
| NMVS_NC_PCK_22    | alert           | decommission of a decommissioned pack (market `strict`, |
|                   |                 | the default: also the same location's re-supply)        |
|                   | refused         | … whose batch or product is inactive too; market `fi`:  |
|                   |                 | the same location's 1st and 2nd re-supply               |
| NMVS_NC_PCK_06    | alert           | undo from a status the pack is not in                   |
| NMVS_NC_PCK_27    | refused         | undo from STOLEN or DESTROYED (never succeeds)          |
| NMVS_NC_PCK_21    | alert           | undo by another location than the decommissioning one   |
| NMVS_NC_PCK_20    | alert           | undo more than 240 h after the decommission (not LOCKED)|
| NMVS_FE_TX_01     | refused         | undo whose ref_trx is not the decommission's trx id     |
| NMVS_TE_TX_01     | invalid_request | client trx id already used for a different request      |
| NMVS_FE_GR_01     | invalid_request | scheme not GTIN/PPN, GTIN not 14 digits with a valid    |
|                   |                 | check digit, PPN not 12–22 of [0-9A-Z]                  |
| NMVS_FE_GR_02     | invalid_request | PPN check digits (mod 97) wrong                         |
| NMVS_FE_LOT_07    | invalid_request | expiry not a YYMMDD date (DD=00 allowed)                |
| NMVS_NC_PC_11     | invalid_request | NHRN not 8–20 of [A-Z0-9]                               |
| NMVS_TE_XM_01     | invalid_request | other schema violations: batch or serial not 1–20 chars |
|                   |                 | of the GS1 subset, trx id not 1–32 of [A-Za-z0-9-],     |
|                   |                 | decommission/undo without a pack-level reason           |
| NMVS_TI_TO_01     | technical       | injected fault: runtime exceeded                        |
| NMVS_ERROR        | technical       | injected fault: internal error                          |
| NMVS_FI_SE_CLI_01 | rate_limited    | more than `rate_limit_per_s` requests in a sliding 1 s  |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

SUCCESS: Final = "NMVS_SUCCESS"
UNKNOWN_PRODUCT: Final = "NMVS_NC_PC_01"
UNKNOWN_SERIAL: Final = "NMVS_NC_PC_02"
INVALID_NHRN: Final = "NMVS_NC_PC_11"
BATCH_RECALLED: Final = "NMVS_FE_LOT_01"
UNKNOWN_BATCH: Final = "NMVS_FE_LOT_03"
INVALID_EXPIRY: Final = "NMVS_FE_LOT_07"
PRODUCT_WITHDRAWN: Final = "NMVS_FE_LOT_08"
EXPIRY_MISMATCH: Final = "NMVS_FE_LOT_12"
BATCH_MISMATCH: Final = "NMVS_FE_LOT_13"
PACK_EXPIRED: Final = "NMVS_NC_PCK_02"
UNDO_STATUS_MISMATCH: Final = "NMVS_NC_PCK_06"
UNDO_TOO_LATE: Final = "NMVS_NC_PCK_20"
UNDO_OTHER_LOCATION: Final = "NMVS_NC_PCK_21"
ALREADY_INACTIVE: Final = "NMVS_NC_PCK_22"
STATUS_CHANGE_FAILED: Final = "NMVS_NC_PCK_27"
WRONG_REF_TRX: Final = "NMVS_FE_TX_01"
TRX_ID_USED: Final = "NMVS_TE_TX_01"
INVALID_PRODUCT_CODE: Final = "NMVS_FE_GR_01"
INVALID_PPN_CHECK: Final = "NMVS_FE_GR_02"
SCHEMA_VIOLATION: Final = "NMVS_TE_XM_01"
TIMEOUT: Final = "NMVS_TI_TO_01"
ERROR: Final = "NMVS_ERROR"
RATE_LIMITED: Final = "NMVS_FI_SE_CLI_01"

DESCRIPTIONS: Final[Mapping[str, str]] = {
    SUCCESS: "Success",
    UNKNOWN_PRODUCT: "Product code unknown",
    UNKNOWN_SERIAL: "Serial number unknown",
    INVALID_NHRN: "NHRN invalid",
    BATCH_RECALLED: "Batch recalled",
    UNKNOWN_BATCH: "Batch not found",
    INVALID_EXPIRY: "Invalid expiry date",
    PRODUCT_WITHDRAWN: "Product withdrawn",
    EXPIRY_MISMATCH: "Expiry date does not match the batch",
    BATCH_MISMATCH: "Batch does not match the serial number",
    PACK_EXPIRED: "Pack expired",
    UNDO_STATUS_MISMATCH: "Undo does not match the pack status",
    UNDO_TOO_LATE: "Undo time frame exceeded",
    UNDO_OTHER_LOCATION: "Undo attempted by a different location",
    ALREADY_INACTIVE: "Pack already inactive",
    STATUS_CHANGE_FAILED: "Status change could not be performed",
    WRONG_REF_TRX: "Reference transaction does not match",
    TRX_ID_USED: "Client transaction id already used",
    INVALID_PRODUCT_CODE: "Invalid product code",
    INVALID_PPN_CHECK: "PPN check digits wrong",
    SCHEMA_VIOLATION: "Request does not conform to the schema",
    TIMEOUT: "Runtime exceeded the configured maximum",
    ERROR: "Technical error",
    RATE_LIMITED: "Frequency of permissible transmission exceeded",
}


def describe(code: str, detail: str = "") -> str:
    """A human message for `code`, with an optional detail appended."""
    text = DESCRIPTIONS[code]
    return f"{text}: {detail}" if detail else text
