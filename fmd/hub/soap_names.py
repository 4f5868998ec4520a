"""The Arvato NMVS v5 SOAP wire names: namespaces, endpoints, transaction codes (nmvs.md §2.2–2.3).

Every transaction is one request element `<wsdl:GxxxRequest>` in the SOAP body, answered by
`<wsdl:GxxxResponse>`; their children are in the types namespace.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from fmd.hub.contract import Operation, Reason

SOAP_NS: Final = "http://www.w3.org/2003/05/soap-envelope"
WSDL_NS: Final = "urn:wsdltypes.nmvs.eu:v5.0"
TYPES_NS: Final = "urn:types.nmvs.eu:v5.0"
SOAP_MEDIA_TYPE: Final = "application/soap+xml"

SINGLE_PATH: Final = "/WS_SINGLE_TRANSACTIONS_V1/SinglePackServiceV50"
BULK_PATH: Final = "/WS_BULK_TRANSACTIONS_V1/BulkServiceV50"
SUPPORT_PATH: Final = "/WS_SUPPORT_V1/SupportServiceV50"

VERIFY: Final = "G110"
BULK_VERIFY: Final = "G115"
BULK_RESULT: Final = "G188"
SINGLE_PING: Final = "SinglePackPing"
BULK_PING: Final = "BulkPing"
SUPPORT_PING: Final = "SupportPing"

DECOMMISSION: Final[Mapping[Reason, str]] = MappingProxyType(
    {
        Reason.SUPPLIED: "G120",
        Reason.DESTROYED: "G130",
        Reason.EXPORTED: "G140",
        Reason.SAMPLE: "G150",
        Reason.FREE_SAMPLE: "G160",
        Reason.LOCKED: "G170",
        Reason.STOLEN: "G180",
    }
)
"""Single-pack decommission per reason (CHECKED_OUT has no Arvato transaction)."""

UNDO: Final[Mapping[Reason, str]] = MappingProxyType(
    {
        Reason.SUPPLIED: "G121",
        Reason.DESTROYED: "G131",
        Reason.EXPORTED: "G141",
        Reason.SAMPLE: "G151",
        Reason.FREE_SAMPLE: "G161",
        Reason.LOCKED: "G171",
        Reason.STOLEN: "G181",
    }
)
"""Single-pack undo per reason (G131 and G181 exist but never succeed, as at EMVO)."""

BULK_DECOMMISSION: Final[Mapping[Reason, str]] = MappingProxyType(
    {
        Reason.SUPPLIED: "G125",
        Reason.DESTROYED: "G135",
        Reason.EXPORTED: "G145",
        Reason.SAMPLE: "G155",
        Reason.FREE_SAMPLE: "G165",
        Reason.LOCKED: "G175",
        Reason.STOLEN: "G185",
    }
)
"""Bulk decommission per reason; a bulk carries one transaction type for all its packs."""

Transaction = tuple[Operation, Reason | None]

SINGLE: Final[Mapping[str, Transaction]] = MappingProxyType(
    {
        VERIFY: ("verify", None),
        **{code: ("decommission", reason) for reason, code in DECOMMISSION.items()},
        **{code: ("undo", reason) for reason, code in UNDO.items()},
    }
)
"""What each single-pack transaction code does."""

BULK: Final[Mapping[str, Transaction]] = MappingProxyType(
    {
        BULK_VERIFY: ("verify", None),
        **{code: ("decommission", reason) for reason, code in BULK_DECOMMISSION.items()},
    }
)
"""What each bulk submission code does to every pack in it."""

MAX_BULK: Final = 100_000
"""Most packs in one bulk request."""


def request_name(code: str) -> str:
    """The body element of a request, e.g. `G110Request`."""
    return f"{code}Request"


def response_name(code: str) -> str:
    """The body element of a response, e.g. `G110Response`."""
    return f"{code}Response"


def content_type(code: str) -> str:
    """The SOAP 1.2 content type of a request, with its action."""
    return f'{SOAP_MEDIA_TYPE}; charset=utf-8; action="{WSDL_NS}:{code}"'
