"""The Arvato NMVS SOAP wire names: namespaces, endpoints, transaction codes (nmvs.md §2.2–2.3).

Every transaction is one request element `<wsdl:GxxxRequest>` in the SOAP body, answered by
`<wsdl:GxxxResponse>`; everything inside is in the types namespace, attributes included (the
schemas are `elementFormDefault` and `attributeFormDefault` "qualified"). The interface version
is `VERSION`, here and nowhere else: namespaces and service paths follow from it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from fmd.hub.contract import Operation, Reason

VERSION: Final = "5.0"
"""The NMVS web-service interface version (v4 was switched off on 31-Jul-2023)."""
_SERVICE: Final = "V" + VERSION.replace(".", "")

SOAP_NS: Final = "http://www.w3.org/2003/05/soap-envelope"
WSDL_NS: Final = f"urn:wsdltypes.nmvs.eu:v{VERSION}"
TYPES_NS: Final = f"urn:types.nmvs.eu:v{VERSION}"
SOAP_MEDIA_TYPE: Final = "application/soap+xml"
LEGACY_MEDIA_TYPE: Final = "text/xml"
"""What a client used against production sends with a SOAP 1.2 envelope; hubs tolerate it."""

SINGLE_PATH: Final = f"/WS_SINGLE_TRANSACTIONS_V1/SinglePackService{_SERVICE}"
BULK_PATH: Final = f"/WS_BULK_TRANSACTIONS_V1/BulkService{_SERVICE}"
MIXED_PATH: Final = f"/WS_MIXED_BULK_TRANSACTIONS_V1/MixedBulkService{_SERVICE}"
SUPPORT_PATH: Final = f"/WS_SUPPORT_V1/SupportService{_SERVICE}"


class Service(StrEnum):
    """The NMVS web services a client uses; each has its own host and port (nmvs.md §2.2)."""

    SINGLE = "single-transactions"
    BULK = "bulk-transactions"
    MIXED = "mixed-bulk-transactions"
    SUPPORT = "support"


_PATHS: Final[Mapping[Service, str]] = MappingProxyType(
    {
        Service.SINGLE: SINGLE_PATH,
        Service.BULK: BULK_PATH,
        Service.MIXED: MIXED_PATH,
        Service.SUPPORT: SUPPORT_PATH,
    }
)
_PORTS: Final[Mapping[Service, int]] = MappingProxyType(
    {Service.SINGLE: 8443, Service.BULK: 8445, Service.MIXED: 8446, Service.SUPPORT: 8448}
)
SYSTEM_PATTERN: Final = r"[a-z0-9]+(-[a-z0-9]+)+"
"""A national system's host label, environment and country: `prod-pl`, `int-bp`."""


@dataclass(frozen=True, slots=True)
class SoapEndpoints:
    """Where each service answers: the full URL of its endpoint."""

    urls: Mapping[Service, str]

    @classmethod
    def below(cls, base_url: str) -> SoapEndpoints:
        """Every service below one base URL (a simulator, or a gateway in front of the NMVS)."""
        base = base_url.rstrip("/")
        return cls(MappingProxyType({service: base + path for service, path in _PATHS.items()}))

    @classmethod
    def national(cls, system: str) -> SoapEndpoints:
        """The Arvato hosts of a national system, e.g. `prod-pl`: every service on its own
        host `ws-<service>-<system>.nmvs.eu` and port (single 8443, bulk 8445, mixed 8446,
        support 8448)."""
        if re.fullmatch(SYSTEM_PATTERN, system) is None:
            raise ValueError(f"system {system!r} is not like 'prod-pl' or 'int-bp'")
        return cls(
            MappingProxyType(
                {
                    service: f"https://ws-{service}-{system}.nmvs.eu:{_PORTS[service]}{path}"
                    for service, path in _PATHS.items()
                }
            )
        )

    def url(self, service: Service) -> str:
        """The endpoint of `service`."""
        return self.urls[service]


VERIFY: Final = "G110"
BULK_VERIFY: Final = "G115"
BULK_RESULT: Final = "G188"
MIXED_SUBMIT: Final = "G195"
MIXED_RESULT: Final = "G196"
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

MANUAL: Final[Mapping[Reason, str]] = MappingProxyType(
    {Reason.SUPPLIED: "G122", Reason.STOLEN: "G182"}
)
"""Manual entry (product code and serial only, `ManualRequestData_Type`) per reason."""

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

BULK_UNDO: Final[Mapping[Reason, str]] = MappingProxyType(
    {
        Reason.SUPPLIED: "G127",
        Reason.DESTROYED: "G137",
        Reason.EXPORTED: "G147",
        Reason.SAMPLE: "G157",
        Reason.FREE_SAMPLE: "G167",
        Reason.LOCKED: "G177",
        Reason.STOLEN: "G187",
    }
)
"""Bulk undo per reason (`RequestUndoBulkData_Type`)."""

Transaction = tuple[Operation, Reason | None]

SINGLE: Final[Mapping[str, Transaction]] = MappingProxyType(
    {
        VERIFY: ("verify", None),
        **{code: ("decommission", reason) for reason, code in DECOMMISSION.items()},
        **{code: ("undo", reason) for reason, code in UNDO.items()},
    }
)
"""What each single-pack transaction code does (a mixed bulk item's `reqType` is one too)."""

MANUAL_SINGLE: Final[Mapping[str, Transaction]] = MappingProxyType(
    {code: ("decommission", reason) for reason, code in MANUAL.items()}
)
"""What each manual-entry transaction does."""

BULK: Final[Mapping[str, Transaction]] = MappingProxyType(
    {
        BULK_VERIFY: ("verify", None),
        **{code: ("decommission", reason) for reason, code in BULK_DECOMMISSION.items()},
        **{code: ("undo", reason) for reason, code in BULK_UNDO.items()},
    }
)
"""What each bulk submission code does to every pack in it."""

_WSDL_OPERATIONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "G110": "G110Verify",
        "G120": "G120Dispense",
        "G121": "G121UndoDispense",
        "G122": "G122DispenseManualEntry",
        "G130": "G130Destroy",
        "G131": "G131UndoDestroy",
        "G140": "G140Export",
        "G141": "G141UndoExport",
        "G150": "G150Sample",
        "G151": "G151UndoSample",
        "G160": "G160FreeSample",
        "G161": "G161UndoFreeSample",
        "G170": "G170Lock",
        "G171": "G171UndoLock",
        "G180": "G180Stolen",
        "G181": "G181UndoStolen",
        "G182": "G182StolenManualEntry",
        SINGLE_PING: "PingSinglePack",
    }
)
"""The SOAP actions the published single-pack WSDL declares (`urn:<operation>`)."""

MAX_BULK: Final = 100_000
"""Most packs in one bulk request."""


def request_name(code: str) -> str:
    """The body element of a request, e.g. `G110Request`."""
    return f"{code}Request"


def response_name(code: str) -> str:
    """The body element of a response, e.g. `G110Response`."""
    return f"{code}Response"


def content_type(code: str) -> str:
    """The SOAP 1.2 content type of a request, with the action the WSDL declares for it (the
    bulk, mixed-bulk and support WSDLs are not published: no action, as independent clients
    send it)."""
    operation = _WSDL_OPERATIONS.get(code)
    action = f'; action="urn:{operation}"' if operation is not None else ""
    return f"{SOAP_MEDIA_TYPE}; charset=utf-8{action}"
