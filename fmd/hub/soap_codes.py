"""From an NMVS return code on the wire back to a `HubResult.outcome`, as the MockHub gives it.

Since interface v5 an L5 code is an alert, and each has a "no alert" twin for the same case
without one (nmvs.md §2.6: `NMVS_NC_PC_02` / `NMVS_NC_PC_14`, …). So an answer is an alert when
its code is an L5 alert code or it carries an `AlertId`; a twin is a refusal. The MockHub gives
some L5 codes without an alert (a pharmacy re-supplying its own pack, an undo from STOLEN): on
the wire they become their twins (`wire_code`). Other codes map by class (see
`fmd.hub.returncodes`); unknown codes are `technical`, with the code kept.

`refused_credential` sorts out the codes that mean our credentials were refused (nmvs.md §2.6):
`NMVS_FE_AU_01`…`24` the login fields (wrong password, locked user, expired password, terms not
accepted), `NMVS_FE_PKI_xx` the client certificate. `NMVS_TI_AU_01` is a *technical* failure of
the hub's authentication service: an outage, not a wrong credential.
"""

from __future__ import annotations

import re
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from fmd.hub import returncodes as rc
from fmd.hub.contract import HubResult, Outcome

AUTH_FAILED: Final = "NMVS_FE_AU_01"
"""Login fields (ClientLoginId, UserId, Password) not accepted."""
BULK_UNKNOWN: Final = "NMVS_FE_TX_02"
"""G188 for a bulk id the hub does not know (for this login)."""
COMMUNICATION_ERROR: Final = "NMVS_TI_RT_02"
"""The hub could not reach its central components (our simulator: the MockHub was unavailable)."""

ALERT_TWINS: Final = MappingProxyType(
    {
        rc.UNKNOWN_BATCH: "NMVS_FE_LOT_15",
        rc.EXPIRY_MISMATCH: "NMVS_FE_LOT_17",
        rc.BATCH_MISMATCH: "NMVS_FE_LOT_18",
        rc.UNKNOWN_SERIAL: "NMVS_NC_PC_14",
        rc.UNDO_STATUS_MISMATCH: "NMVS_NC_PCK_29",
        "NMVS_NC_PCK_19": "NMVS_NC_PCK_28",
        rc.ALREADY_INACTIVE: "NMVS_NC_PCK_30",
        rc.STATUS_CHANGE_FAILED: "NMVS_NC_PCK_31",
    }
)
"""Each v5 L5 alert code and its "no alert" twin."""
L5_ALERTS: Final = frozenset({*ALERT_TWINS, rc.UNDO_TOO_LATE, rc.UNDO_OTHER_LOCATION})
"""The codes that are an L5 alert (a potential falsification) on a v5 wire."""
_TWINS: Final = frozenset(ALERT_TWINS.values())

_LOGIN_CODE: Final = re.compile(r"NMVS_FE_AU_[0-9]{2}")
_CERTIFICATE_CODE: Final = re.compile(r"NMVS_FE_PKI_[0-9]{2}")


class Credential(StrEnum):
    """Which of the SOAP client's credentials the hub refused."""

    LOGIN = "login"  # ClientLoginId, UserId, Password
    CERTIFICATE = "client certificate"


_INVALID: Final = frozenset(
    {
        rc.INVALID_PRODUCT_CODE,
        rc.INVALID_PPN_CHECK,
        rc.INVALID_EXPIRY,
        rc.INVALID_NHRN,
        rc.SCHEMA_VIOLATION,
        rc.TRX_ID_USED,
    }
)
_REFUSED: Final = frozenset(
    {
        rc.UNKNOWN_PRODUCT,
        rc.UNKNOWN_SERIAL,
        rc.UNKNOWN_BATCH,
        rc.BATCH_MISMATCH,
        rc.EXPIRY_MISMATCH,
        rc.PRODUCT_WITHDRAWN,
        rc.BATCH_RECALLED,
        rc.PACK_EXPIRED,
        rc.ALREADY_INACTIVE,
        rc.UNDO_STATUS_MISMATCH,
        rc.STATUS_CHANGE_FAILED,
        rc.UNDO_OTHER_LOCATION,
        rc.UNDO_TOO_LATE,
        rc.WRONG_REF_TRX,
    }
)


def outcome_of(code: str, *, alert: bool) -> Outcome:
    """The outcome of an answer with return code `code`; `alert` when it carried an AlertId."""
    if alert or code in L5_ALERTS:
        return "alert"
    if code in _TWINS:
        return "refused"
    if code == rc.SUCCESS:
        return "ok"
    if code == rc.RATE_LIMITED:
        return "rate_limited"
    if code in _INVALID:
        return "invalid_request"
    if code in _REFUSED:
        return "refused"
    return "technical"


def wire_code(result: HubResult) -> str:
    """The code to send for `result`: an L5 code that came without an alert is its twin."""
    code = result.return_code
    return code if result.outcome == "alert" else ALERT_TWINS.get(code, code)


def known(code: str) -> bool:
    """True for a return code this client knows the meaning of."""
    return (
        code in rc.DESCRIPTIONS
        or code in _TWINS
        or code in {AUTH_FAILED, BULK_UNKNOWN, COMMUNICATION_ERROR}
    )


def refused_credential(code: str) -> Credential | None:
    """The credential a return code says the hub refused, or None when it says no such thing."""
    if _LOGIN_CODE.fullmatch(code):
        return Credential.LOGIN
    if _CERTIFICATE_CODE.fullmatch(code):
        return Credential.CERTIFICATE
    return None
