"""Manual entry: what a pack keyed in by hand can be sent as (nmvs.md §2.3, §2.9).

The Arvato schemas define manual entry (`ManualRequestData_Type`: product code and serial only)
for two transactions, supply (G122) and stolen (G182). Every other transaction, verify among
them, needs the batch and expiry too: a person keys them in from the pack's print, and the
request is the ordinary one.
"""

from __future__ import annotations

from typing import Final

from fmd.codes.dates import parse_yymmdd
from fmd.codes.model import PackIdentifier
from fmd.hub.contract import ManualEntry, Reason

CODE_AND_SERIAL_ONLY: Final = frozenset({Reason.SUPPLIED, Reason.STOLEN})
"""The reasons a pack can be decommissioned to from its product code and serial alone."""


def entry_ui(entry: ManualEntry, this_year: int) -> PackIdentifier | None:
    """The full identifier of an entry with batch and expiry keyed in, else None."""
    if entry.batch is None or entry.expiry_raw is None:
        return None
    return PackIdentifier(
        scheme=entry.scheme,
        product_code=entry.product_code,
        serial=entry.serial,
        batch=entry.batch,
        expiry=parse_yymmdd(entry.expiry_raw, this_year).value,
        expiry_raw=entry.expiry_raw,
    )


def missing_fields(entry: ManualEntry, to: Reason | None) -> str | None:
    """Why `entry` cannot be sent for `to` (None = verify), or None when it can."""
    if entry.batch is not None and entry.expiry_raw is not None:
        return None
    if to in CODE_AND_SERIAL_ONLY:
        return None
    what = "a verify" if to is None else f"a decommission to {to}"
    return (
        f"{what} needs the batch and the expiry as printed on the pack (only a supply or a "
        "stolen report can be sent with the product code and serial alone)"
    )
