"""From an NMVS return code on the wire back to a `HubResult.outcome`, as the MockHub gives it.

The wire carries the code and, for an L5 alert, an `AlertId`; an alert is exactly "an AlertId is
present". Other codes map by class (see `fmd.hub.returncodes`): the codes the MockHub gives as an
alert but that came without an AlertId (a hub's "no alert" twin) are refusals. Unknown codes are
`technical`, with the code kept.

`refused_credential` sorts out the codes that mean our credentials were refused (nmvs.md §2.6):
`NMVS_FE_AU_01`…`24` the login fields (wrong password, locked user, expired password, terms not
accepted), `NMVS_FE_PKI_xx` the client certificate. `NMVS_TI_AU_01` is a *technical* failure of
the hub's authentication service: an outage, not a wrong credential.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

from fmd.hub import returncodes as rc
from fmd.hub.contract import Outcome

AUTH_FAILED: Final = "NMVS_FE_AU_01"
"""Login fields (ClientLoginId, UserId, Password) not accepted."""
BULK_UNKNOWN: Final = "NMVS_FE_TX_02"
"""G188 for a bulk id the hub does not know (for this login)."""
COMMUNICATION_ERROR: Final = "NMVS_TI_RT_02"
"""The hub could not reach its central components (our simulator: the MockHub was unavailable)."""

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
    if alert:
        return "alert"
    if code == rc.SUCCESS:
        return "ok"
    if code == rc.RATE_LIMITED:
        return "rate_limited"
    if code in _INVALID:
        return "invalid_request"
    if code in _REFUSED:
        return "refused"
    return "technical"


def known(code: str) -> bool:
    """True for a return code this client knows the meaning of."""
    return code in rc.DESCRIPTIONS or code in {AUTH_FAILED, BULK_UNKNOWN, COMMUNICATION_ERROR}


def refused_credential(code: str) -> Credential | None:
    """The credential a return code says the hub refused, or None when it says no such thing."""
    if _LOGIN_CODE.fullmatch(code):
        return Credential.LOGIN
    if _CERTIFICATE_CODE.fullmatch(code):
        return Credential.CERTIFICATE
    return None
