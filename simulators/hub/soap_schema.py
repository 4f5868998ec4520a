"""A strict structural check of NMVS SOAP transaction elements, encoded from the published schemas.

An independent reading of the Arvato NMVS schemas, kept apart from our SOAP client and hub
simulator so that a shared misreading shows up. Encoded from the public v2 XSDs
(davisruk/fmd-consolidator-integration, `src/main/resources/xsd/de/arvato/systems/nmvs/interfaces/
v2/types/`):

- `NMVS_Base_Types.xsd`: the simple types (lengths, patterns, ExpDate YYMMDD);
- `NMVS_Catalog_Types.xsd`: the enumerations (scheme, pack state, reasons, use cases,
  notification codes);
- `NMVS_Composite_Types.xsd`: headers, products, packs, bodies, ping, notification, return code;
- `I1_SinglePack`, `I2_ManualSinglePack`, `I3_UndoSinglePack`, `I4_Bulk`, `I5_UndoBulk`,
  `I6_Result`, `I8_MixedBulk`, `O1_SinglePack`, `O2_Result` (`O2_Bulk`), `O3_ResultBulk`,
  `O5_ResultMixedBulk`: the transaction types;
- `WS_SINGLE_PACK.wsdl`: `{wsdltypes}G110Request` extends `I1_SinglePack_Type` and so on; the bulk,
  mixed-bulk and support services follow the same pattern (their WSDLs are not public);
- the SOAP 1.2 envelope schema (`http://www.w3.org/2003/05/soap-envelope`) for `Fault`.

Both types schemas are `elementFormDefault` and `attributeFormDefault` "qualified": every element
below the transaction element and every attribute is in the types namespace. We speak interface
v5 (`urn:types.nmvs.eu:v5.0`); the transaction element is in the matching `urn:wsdltypes.` one.

Beyond the XSD, two project decisions:

1. v5 returns an alert id for L5 alerts under a name not published: ours is `AlertId`
   (xs:string, optional), immediately before `ReturnCode` in an O1 body and in a bulk or
   mixed-bulk pack item (`ResponsePackItem_Type`).
2. A G188/G196 answer for a bulk still being processed is Header + Body/ReturnCode only, which
   the XSD already allows (its choice and `TrxList` are optional).

Looser than the v2 XSD in one place: `ReturnCode@code` is checked for its shape (`NMVS_…`) and not
against the v2 catalogue, because v5 returns codes that catalogue lacks (`NMVS_FE_LOT_12`,
`NMVS_NC_PCK_27`…). `xsi:` attributes are not allowed. `Subcode` nests at most four levels deep.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any, TypeAlias

from lxml import etree

Element: TypeAlias = Any  # an lxml element (lxml has no type hints)

SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
XML_NS = "http://www.w3.org/XML/1998/namespace"
UNBOUNDED = sys.maxsize


class Ns(Enum):
    """The namespace an element or attribute belongs to; the value is its prefix in messages."""

    TYPES = "typ"
    WSDL = "wsd"
    SOAP = "env"
    XML = "xml"


class WhiteSpace(Enum):
    """The XSD whiteSpace facet, applied to a value before its other facets."""

    PRESERVE = "preserve"  # xs:string
    REPLACE = "replace"  # xs:normalizedString: tab, CR and LF become spaces
    COLLAPSE = "collapse"  # xs:token, dates, booleans, QNames: replace, trim, squeeze

    def apply(self, value: str) -> str:
        """`value` as the facets see it."""
        if self is WhiteSpace.PRESERVE:
            return value
        replaced = re.sub(r"[\t\r\n]", " ", value)
        return replaced if self is WhiteSpace.REPLACE else " ".join(replaced.split())


class Lexical(Enum):
    """The lexical spaces of xs:date and xs:dateTime, with their fields' ranges."""

    DATE = r"-?(\d{4,})-(\d{2})-(\d{2})(Z|[+-]\d{2}:\d{2})?"
    DATETIME = r"-?(\d{4,})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?"

    def valid(self, value: str) -> bool:
        """Whether `value` is a date (dateTime) whose fields are in range."""
        match = re.fullmatch(self.value, value)
        if match is None:
            return False
        year, month, day = (int(part) for part in match.group(1, 2, 3))
        if year == 0 or not 1 <= month <= 12 or not 1 <= day <= _days_in_month(year, month):
            return False
        zone = match.groups()[-1]
        if zone and zone != "Z":
            hours, minutes = int(zone[1:3]), int(zone[4:6])
            if minutes > 59 or hours * 60 + minutes > 14 * 60:
                return False
        if self is Lexical.DATE:
            return True
        hour, minute, second = (int(part) for part in match.group(4, 5, 6))
        midnight = hour == 24 and minute == second == 0 and not (match.group(7) or "").strip(".0")
        return (hour < 24 or midnight) and minute < 60 and second < 60


# --- the building blocks ----------------------------------------------------------------------


@dataclass(frozen=True)
class SimpleType:
    """An XSD simple type: the facets of one text value."""

    name: str
    min_length: int | None = None
    max_length: int | None = None
    pattern: re.Pattern[str] | None = None
    pattern_hint: str = ""  # the pattern in words, for messages
    values: tuple[str, ...] = ()  # an enumeration (local names, for a QName)
    white_space: WhiteSpace = WhiteSpace.PRESERVE
    lexical: Lexical | None = None  # a built-in date base type
    qname_namespace: str | None = None  # a QName that must resolve into this namespace
    is_qname: bool = False

    def problem(self, raw: str, nsmap: Mapping[str | None, str]) -> str | None:
        """Why `raw` is not a value of this type, or None."""
        value = self.white_space.apply(raw)
        enumerated = value  # a QName is enumerated by its local name
        if self.is_qname:
            qname_problem, enumerated = _resolve_qname(value, nsmap, self.qname_namespace)
            if qname_problem:
                return qname_problem
        if self.values and enumerated not in self.values:
            return f"{_show(value)} is not {_alternatives(self.values, self.name)}"
        if self.min_length is not None and len(value) < self.min_length:
            return f"{_show(value)} is shorter than {_chars(self.min_length)} ({self.name})"
        if self.max_length is not None and len(value) > self.max_length:
            return f"{_show(value)} is longer than {_chars(self.max_length)} ({self.name})"
        if self.pattern is not None and not self.pattern.fullmatch(value):
            return f"{_show(value)} does not match {self.name} ({self.pattern_hint})"
        if self.lexical is not None and not self.lexical.valid(value):
            return f"{_show(value)} is not a valid {self.name}"
        return None


@dataclass(frozen=True)
class Attr:
    """An attribute declaration."""

    name: str
    type: SimpleType
    required: bool = True
    ns: Ns = Ns.TYPES


@dataclass(frozen=True)
class El:
    """An element particle of a sequence."""

    name: str
    type: ComplexType | SimpleType
    min: int = 1
    max: int = 1
    ns: Ns = Ns.TYPES


@dataclass(frozen=True)
class Group:
    """A nested sequence (an XSD group reference or an extension's inner sequence)."""

    items: tuple[Particle, ...]
    min: int = 1


@dataclass(frozen=True)
class Choice:
    """Exactly one of its options (or none, when `min` is 0)."""

    options: tuple[El | Group, ...]
    min: int = 1


Particle: TypeAlias = El | Group | Choice


@dataclass(frozen=True)
class ComplexType:
    """An XSD complex type: a sequence of particles, or text (simple content), and attributes."""

    name: str
    content: tuple[Particle, ...] = ()
    attrs: tuple[Attr, ...] = ()
    text: SimpleType | None = None
    unique_sn: bool = False  # identity constraint: the children Pack@typ:sn are unique
    lax: bool = False  # xs:anyType / xs:any lax: only the elements in `content` are checked


def extension(
    base: ComplexType, name: str, *more: Particle, attrs: tuple[Attr, ...] = ()
) -> ComplexType:
    """`base` extended by XSD complexContent extension: its sequence, then `more`."""
    return ComplexType(
        name, (*base.content, *more), (*base.attrs, *attrs), unique_sn=base.unique_sn
    )


# --- NMVS_Base_Types.xsd and NMVS_Catalog_Types.xsd -------------------------------------------


def _string(name: str, low: int, high: int, pattern: str = "", hint: str = "") -> SimpleType:
    return SimpleType(name, low, high, re.compile(pattern) if pattern else None, hint)


def _normalized(name: str, high: int) -> SimpleType:
    return SimpleType(name, 1, high, white_space=WhiteSpace.REPLACE)


def _catalog(name: str, *values: str) -> SimpleType:
    return SimpleType(name, values=values, white_space=WhiteSpace.REPLACE)


# The XSD's `([A-Z]*[a-z]*\d*-*)+` accepts exactly the strings of letters, digits and "-"; written
# so here because Python's backtracking would take exponential time on the nested form.
_ALNUM_DASH = r"[A-Za-z\d\-]*"
_ALNUM_DASH_HINT = "letters, digits and -"
# The GS1 subset of SN_Type and BATCH_Type: `[!"%&'()*+,-./:;<=>?_a-zA-Z0-9]*`.
_GS1 = r"[!\"%&'()*+,\-./:;<=>?_a-zA-Z0-9]*"
_GS1_HINT = "letters, digits and !\"%&'()*+,-./:;<=>?_"

NMVS_TRX_ID = _string("NMVSTransactionId_Type", 32, 32, _ALNUM_DASH, _ALNUM_DASH_HINT)
CLIENT_LOGIN_ID = _string("ClientLoginId_Type", 1, 20, _ALNUM_DASH, _ALNUM_DASH_HINT)
USER_ID = _string("UserId_Type", 4, 20, _ALNUM_DASH, _ALNUM_DASH_HINT)
PASSWORD = _string("Password_Type", 8, 60)
EXTERNAL_TRX_ID = _string("ExternalTransactionID_Type", 1, 32, _ALNUM_DASH, _ALNUM_DASH_HINT)
PRODUCT_CODE = _string("ProductCode_Type", 12, 22, r"[0-9]*", "digits")
SN = _string("SN_Type", 1, 20, _GS1, _GS1_HINT)
BATCH = _string("BATCH_Type", 1, 20, _GS1, _GS1_HINT)
NHRN = _string("NHRN_Type", 8, 20, r"[A-Z0-9]*", "capital letters and digits")  # `([A-Z]*[0-9]*)+`
LANGUAGE = _string("IsoLanguageCode_Type", 3, 3)
EXP = SimpleType(
    "EXP_Type",
    pattern=re.compile(r"([0-9]{2})((0[1-9])|(1[0-2]))((0[0-9])|([1-2][0-9])|(3[0-1]))"),
    pattern_hint="YYMMDD, DD may be 00",
    white_space=WhiteSpace.COLLAPSE,
)
RETURN_CODE_DESC = _normalized("ReturnCodeDescription_Type", 255)
S255 = _normalized("S255_Normalized_Type", 255)
S100 = _normalized("S100_Normalized_Type", 100)
S50 = _normalized("S50_Normalized_Type", 50)
S10 = _normalized("S10_Normalized_Type", 10)
NOTIFICATION_DESC = _normalized("NotificationDescription_Type", 1000)

TIMESTAMP = SimpleType(
    "Timestamp_Type (xs:dateTime)", lexical=Lexical.DATETIME, white_space=WhiteSpace.COLLAPSE
)
DATE = SimpleType("Date_Type (xs:date)", lexical=Lexical.DATE, white_space=WhiteSpace.COLLAPSE)
BOOLEAN = SimpleType(
    "xs:boolean", values=("true", "false", "1", "0"), white_space=WhiteSpace.COLLAPSE
)
STRING = SimpleType("xs:string")
ANY_URI = SimpleType("xs:anyURI", white_space=WhiteSpace.COLLAPSE)

STATE = _catalog("CatalogState_Type", "ACTIVE", "INACTIVE", "UNKNOWN")
SCHEME = _catalog("CatalogProductScheme_Type", "GTIN", "PPN")
REASON = _catalog(
    "CatalogStateReason_Type",
    *("SUPPLIED", "DESTROYED", "LOCKED", "EXPORTED", "SAMPLE", "STOLEN", "CHECKED_OUT"),
    *("FREESAMPLE", "RECALLED", "EXPIRED", "WITHDRAWN", "UNKNOWN"),
)
_SET = ("G110", "G120", "G130", "G140", "G150", "G160", "G170", "G180")
_UNDO = ("G121", "G131", "G141", "G151", "G161", "G171", "G181")
_MANUAL = ("G122", "G182")
_BULK = ("G115", "G125", "G135", "G145", "G155", "G165", "G175", "G185")
_BULK_UNDO = ("G127", "G137", "G147", "G157", "G167", "G177", "G187")
USE_CASE = _catalog(
    "CatalogUseCase_Type", *sorted((*_SET, *_UNDO, *_MANUAL, *_BULK, *_BULK_UNDO, "G188"))
)
USE_CASE_MIXED = _catalog("CatalogUseCaseMixed_Type", *sorted((*_SET, *_UNDO)))
USE_CASE_MIXED_MANUAL = _catalog("CatalogUseCaseMixedManual_Type", *_MANUAL)
NOTIFICATION_CODE = _catalog(
    "CatalogNotificationCode_Type", "NMVS_NOTIFY_AU_01", "NMVS_NOTIFY_AU_02", "NMVS_NOTIFY_PMS_01"
)
RETURN_CODE_VALUE = SimpleType(  # CatalogReturnCode_Type by shape only: see the module docstring
    "CatalogReturnCode_Type",
    pattern=re.compile(r"NMVS_[A-Z0-9_]+"),
    pattern_hint="NMVS_ then capital letters, digits and _",
    white_space=WhiteSpace.REPLACE,
)
ALERT_ID = STRING  # project decision 1: the v5 alert id, name and type unpublished

# --- NMVS_Composite_Types.xsd ------------------------------------------------------------------


def seq(name: str, *particles: Particle, attrs: tuple[Attr, ...] = ()) -> ComplexType:
    """A complex type whose content is the sequence `particles`."""
    return ComplexType(name, particles, attrs)


def packs(name: str, pack: ComplexType) -> ComplexType:
    """A `Packs` list: 1–100,000 `Pack`, unique on `@sn` (UniqueRequestPack, UniqueResponsePack)."""
    return ComplexType(name, (El("Pack", pack, max=100_000),), unique_sn=True)


RETURN_CODE = seq(
    "ReturnCode_Type",
    attrs=(Attr("code", RETURN_CODE_VALUE), Attr("desc", RETURN_CODE_DESC, required=False)),
)
NOTIFICATION = seq(
    "Notification_Type",
    attrs=(
        Attr("notificationCode", NOTIFICATION_CODE),
        Attr("notificationDesc", NOTIFICATION_DESC, required=False),
    ),
)
PRODUCT_IDENTIFIER = ComplexType(
    "ProductIdentifier_Type", attrs=(Attr("scheme", SCHEME),), text=PRODUCT_CODE
)

# Request header
REQUEST_AUTH = seq(
    "RequestAuthHeaderData_Type",
    El("ClientLoginId", CLIENT_LOGIN_ID),
    El("UserId", USER_ID),
    El("Password", PASSWORD),
    El("SubUserId", S255, min=0),
    attrs=(Attr("authMethod", S100, required=False),),
)
USER_SOFTWARE = seq(
    "UserSoftware_Type", attrs=(Attr("name", S255), Attr("supplier", S255), Attr("version", S10))
)
REQUEST_TRANSACTION = seq(
    "RequestTransactionHeaderData_Type",
    El("ClientTrxId", EXTERNAL_TRX_ID),
    El("Language", LANGUAGE),
)
REQUEST_HEADER = seq(
    "RequestHeaderData_Type",
    El("Auth", REQUEST_AUTH),
    El("UserSoftware", USER_SOFTWARE),
    El("Transaction", REQUEST_TRANSACTION),
)
HEADER = seq("Header_Type", El("Header", REQUEST_HEADER))

# Request bodies
BASE_BATCH = seq("BaseBatch_Type", El("Id", BATCH), El("ExpDate", EXP))
REQUEST_PRODUCT = seq(
    "RequestProduct_Type", El("ProductCode", PRODUCT_IDENTIFIER), El("Batch", BASE_BATCH)
)
REQUEST_PACK = seq("RequestPack_Type", attrs=(Attr("sn", SN),))
REQUEST_DATA = seq("RequestData_Type", El("Product", REQUEST_PRODUCT), El("Pack", REQUEST_PACK))
MANUAL_PRODUCT = seq("ManualRequestData_Type/Product", El("ProductCode", PRODUCT_IDENTIFIER))
MANUAL_REQUEST_DATA = seq(
    "ManualRequestData_Type", El("Product", MANUAL_PRODUCT), El("Pack", REQUEST_PACK)
)
REQUEST_BULK_DATA = seq(
    "RequestBulkData_Type",
    El("Product", REQUEST_PRODUCT),
    El("Packs", packs("RequestBulkData_Type/Packs", REQUEST_PACK)),
)
REF_CLIENT_TRX_ID = El("RefClientTrxId", EXTERNAL_TRX_ID, min=0)
UNDO_SINGLE_DATA = extension(REQUEST_DATA, "RequestUndoSingleData_Type", REF_CLIENT_TRX_ID)
UNDO_BULK_DATA = extension(REQUEST_BULK_DATA, "RequestUndoBulkData_Type", REF_CLIENT_TRX_ID)
RESULT_REQUEST_DATA = seq("I6_ResultTransactionData_Type", El("RefNMVSTrxId", EXTERNAL_TRX_ID))

# Mixed-bulk request body (I8_MixedBulk.xsd): reqType sits on Item/ItemMan, after the pack comes
# the item's own Transaction.
MIXED_TRANSACTION = extension(
    REQUEST_TRANSACTION, "MixedBulkRequestTransaction_Type", REF_CLIENT_TRX_ID
)
MIXED_SINGLE = extension(
    REQUEST_DATA,
    "MixedSingle_Type",
    El("Transaction", MIXED_TRANSACTION),
    attrs=(Attr("reqType", USE_CASE_MIXED),),
)
MIXED_SINGLE_MANUAL = extension(
    MANUAL_REQUEST_DATA,
    "MixedSingleManual_Type",
    El("Transaction", MIXED_TRANSACTION),
    attrs=(Attr("reqType", USE_CASE_MIXED_MANUAL),),
)
MIXED_TRX_ITEM = seq(
    "RequestMixedBulkData_Type/TrxItem",
    Choice((El("Item", MIXED_SINGLE), El("ItemMan", MIXED_SINGLE_MANUAL))),
)
MIXED_BULK_DATA = seq(
    "RequestMixedBulkData_Type",
    El("TrxList", seq("TrxList", El("TrxItem", MIXED_TRX_ITEM, max=100_000))),
)

# Response header
RESPONSE_AUTH = seq(
    "ResponseHeaderAuthentificationData_Type",
    El("ClientLoginId", CLIENT_LOGIN_ID),
    El("UserId", USER_ID),
    El("SubUserId", S255, min=0),
)
RESPONSE_TRANSACTION = seq(
    "ResponseHeaderTransactionData_Type",
    El("Language", LANGUAGE),
    El("ClientTrxId", EXTERNAL_TRX_ID),
    El("NMVSTrxId", NMVS_TRX_ID),
    El("Timestamp", TIMESTAMP),
)
RESPONSE_RESULT_TRANSACTION = extension(
    RESPONSE_TRANSACTION, "ResponseHeaderResultTransactionData_Type", El("ReqType", USE_CASE, min=0)
)
NOTIFICATIONS = El("Notification", NOTIFICATION, min=0, max=10_000)
HEADER_RESPONSE = seq(
    "HeaderResponse_Type",
    El("Auth", RESPONSE_AUTH),
    El("Transaction", RESPONSE_TRANSACTION),
    NOTIFICATIONS,
)
HEADER_RESULT_RESPONSE = seq(
    "HeaderResultResponse_Type",
    El("Auth", RESPONSE_AUTH),
    El("Transaction", RESPONSE_RESULT_TRANSACTION),
    NOTIFICATIONS,
)

# Response bodies
RESPONSE_BATCH = seq(
    "ResponseBatch_Type", El("Id", S50), El("ExpDate", EXP, min=0), El("ExpDateNMVS", DATE, min=0)
)
PRODUCT_INFO_REF = ComplexType(
    "ProductInfoRef_Type",
    attrs=(Attr("date", DATE, required=False), Attr("modified", BOOLEAN, required=False)),
    text=STRING,
)
RESPONSE_PRODUCT = seq(
    "ResponseProduct_Type",
    El("ProductCode", PRODUCT_IDENTIFIER),
    El("IntermarketFlag", BOOLEAN, min=0),
    El("NHRN", NHRN, min=0),
    El("ProductInfoRef", PRODUCT_INFO_REF, min=0),
    El("Batch", RESPONSE_BATCH, min=0),
)
RESPONSE_PACK = seq(
    "ResponsePack_Type",
    El("Reason", REASON, min=0, max=20),
    attrs=(Attr("sn", SN), Attr("state", STATE)),
)
ALERT = El("AlertId", ALERT_ID, min=0)  # project decision 1
RESPONSE_PACK_ITEM = extension(
    RESPONSE_PACK, "ResponsePackItem_Type", ALERT, El("ReturnCode", RETURN_CODE)
)
MESSAGE = seq(
    "Message_Type",
    El(
        "From", seq("MessageFrom_Type", El("ClientLoginId", CLIENT_LOGIN_ID), El("UserId", USER_ID))
    ),
    El("Content", ComplexType("xs:anyType", lax=True)),
)
O1_BODY = seq(
    "O1_Body_Type",
    Group((El("Product", RESPONSE_PRODUCT), El("Pack", RESPONSE_PACK)), min=0),  # O1ResponseBody
    ALERT,
    El("ReturnCode", RETURN_CODE),
)
O2_BODY = seq("O2_BulkBody_Type", El("ReturnCode", RETURN_CODE))
O3_BODY = seq(
    "ResponseResultTransactionData_Type",
    Choice(
        (
            El("Message", MESSAGE),
            Group(  # O3ResponseResult
                (
                    El("Product", RESPONSE_PRODUCT),
                    El("Packs", packs("O3ResponseResult/Packs", RESPONSE_PACK_ITEM)),
                )
            ),
        ),
        min=0,
    ),
    El("ReturnCode", RETURN_CODE),
)
O5_TRX_ITEM = seq(
    "O5FeedbackDataMixedBulk_Type/TrxItem",
    El("Transaction", RESPONSE_TRANSACTION),
    El("Product", RESPONSE_PRODUCT),  # O5ResponseBody
    El("Pack", RESPONSE_PACK_ITEM),
    attrs=(Attr("reqType", USE_CASE),),
)
O5_BODY = seq(
    "MixedBulkResponseResultTransactionData_Type",
    El(
        "TrxList",
        seq("O5FeedbackDataMixedBulk_Type", El("TrxItem", O5_TRX_ITEM, min=0, max=100_000)),
        min=0,
    ),
    El("ReturnCode", RETURN_CODE),
)

# --- the transaction types: I1…I8, O1…O5 and the pings (PingRequest, PingResponse) --------------


def request(name: str, body: ComplexType) -> ComplexType:
    """A request type: Header_Type extended by its Body."""
    return extension(HEADER, name, El("Body", body))


def answer(name: str, header: ComplexType, body: ComplexType) -> ComplexType:
    """An answer type: its Header and its Body."""
    return seq(name, El("Header", header), El("Body", body))


I1_SINGLE_PACK = request("I1_SinglePack_Type", REQUEST_DATA)
I2_MANUAL_SINGLE_PACK = request("I2_ManualSinglePack_Type", MANUAL_REQUEST_DATA)
I3_UNDO_SINGLE_PACK = request("I3_UndoSinglePack_Type", UNDO_SINGLE_DATA)
I4_BULK = request("I4_Bulk_Type", REQUEST_BULK_DATA)
I5_UNDO_BULK = request("I5_UndoBulk_Type", UNDO_BULK_DATA)
I6_RESULT = request("I6_Result_Type", RESULT_REQUEST_DATA)
I8_MIXED_BULK = request("I8_MixedBulk_Type", MIXED_BULK_DATA)
O1_SINGLE_PACK = answer("O1_SinglePack_Type", HEADER_RESPONSE, O1_BODY)
O2_BULK = answer("O2_Bulk_Type", HEADER_RESPONSE, O2_BODY)
O3_RESULT_BULK = answer("O3_ResultBulk_Type", HEADER_RESULT_RESPONSE, O3_BODY)
O5_RESULT_MIXED_BULK = answer("O5_ResultMixedBulk_Type", HEADER_RESPONSE, O5_BODY)
PING_REQUEST = seq("PingRequest", El("Input", S100))
PING_RESPONSE = seq("PingResponse", El("Output", S100))

# --- SOAP 1.2 Fault (http://www.w3.org/2003/05/soap-envelope) ------------------------------------

QNAME = SimpleType("xs:QName", white_space=WhiteSpace.COLLAPSE, is_qname=True)
FAULT_CODE_VALUE = SimpleType(
    "env:faultcodeEnum",
    values=("DataEncodingUnknown", "MustUnderstand", "Receiver", "Sender", "VersionMismatch"),
    white_space=WhiteSpace.COLLAPSE,
    is_qname=True,
    qname_namespace=SOAP12_NS,
)
XML_LANG = _string(
    "xml:lang", 0, UNBOUNDED, r"([a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*)?", "a language tag"
)


def _soap(name: str, schema_type: ComplexType | SimpleType, low: int = 1, high: int = 1) -> El:
    return El(name, schema_type, low, high, Ns.SOAP)


def _subcode(levels: int) -> ComplexType:
    deeper = (_soap("Subcode", _subcode(levels - 1), 0),) if levels > 1 else ()
    return seq("env:subcode", _soap("Value", QNAME), *deeper)


REASON_TEXT = ComplexType("env:reasontext", attrs=(Attr("lang", XML_LANG, ns=Ns.XML),), text=STRING)
FAULT = seq(
    "env:Fault",
    _soap(
        "Code",
        seq("env:faultcode", _soap("Value", FAULT_CODE_VALUE), _soap("Subcode", _subcode(4), 0)),
    ),
    _soap("Reason", seq("env:faultreason", _soap("Text", REASON_TEXT, 1, UNBOUNDED))),
    _soap("Node", ANY_URI, 0),
    _soap("Role", ANY_URI, 0),
    # xs:any lax: an NMVS ReturnCode in the detail is checked, anything else is let through
    _soap("Detail", ComplexType("env:detail", (El("ReturnCode", RETURN_CODE),), lax=True), 0),
)


def _transactions() -> Mapping[str, ComplexType]:
    table: dict[str, ComplexType] = {}
    for requests, request_type, response_type in (
        (_SET, I1_SINGLE_PACK, O1_SINGLE_PACK),
        (_UNDO, I3_UNDO_SINGLE_PACK, O1_SINGLE_PACK),
        (_MANUAL, I2_MANUAL_SINGLE_PACK, O1_SINGLE_PACK),
        (_BULK, I4_BULK, O2_BULK),
        (_BULK_UNDO, I5_UNDO_BULK, O2_BULK),
        (("G188",), I6_RESULT, O3_RESULT_BULK),
        (("G195",), I8_MIXED_BULK, O2_BULK),
        (("G196",), I6_RESULT, O5_RESULT_MIXED_BULK),
        (("SupportPing", "SinglePackPing", "BulkPing"), PING_REQUEST, PING_RESPONSE),
    ):
        for code in requests:
            table[f"{code}Request"] = request_type
            table[f"{code}Response"] = response_type
    return MappingProxyType(table)


TRANSACTION_TYPES: Mapping[str, ComplexType] = _transactions()
"""The type of each transaction element (in the wsdltypes namespace), by its local name."""


# --- the check ---------------------------------------------------------------------------------


def schema_problem(element: Element, *, types_ns: str = "urn:types.nmvs.eu:v5.0") -> str | None:
    """Why `element` (the single child of soap:Body) does not match its schema type, or None.

    The answer is one line: the path of the offending element, then the problem. The wsdltypes
    namespace is the one matching `types_ns` (`urn:types.nmvs.eu:v5.0` →
    `urn:wsdltypes.nmvs.eu:v5.0`). A SOAP 1.2 Fault is checked against the envelope schema.
    """
    if not isinstance(element.tag, str):
        return "the body's child is not an element"
    names = _Namespaces.for_types(types_ns)
    tag = etree.QName(element)
    if tag.namespace == SOAP12_NS and tag.localname == "Fault":
        return _check(element, FAULT, "Fault", names)
    schema_type = TRANSACTION_TYPES.get(tag.localname)
    if schema_type is None:
        return f"{tag.localname}: unknown transaction"
    if tag.namespace != names.wsdl:
        return f"{tag.localname}: {_wrong_namespace('element', tag, Ns.WSDL, names)}"
    return _check(element, schema_type, tag.localname, names)


@dataclass(frozen=True)
class _Namespaces:
    types: str
    wsdl: str
    uris: Mapping[Ns, str]

    @classmethod
    def for_types(cls, types_ns: str) -> _Namespaces:
        prefix = "urn:types."
        if not types_ns.startswith(prefix):
            raise ValueError(f"types namespace {types_ns!r} does not start with {prefix!r}")
        wsdl = "urn:wsdltypes." + types_ns.removeprefix(prefix)
        uris = {Ns.TYPES: types_ns, Ns.WSDL: wsdl, Ns.SOAP: SOAP12_NS, Ns.XML: XML_NS}
        return cls(types_ns, wsdl, uris)

    def uri(self, ns: Ns) -> str:
        return self.uris[ns]


def _check(
    element: Element, schema_type: ComplexType | SimpleType, path: str, names: _Namespaces
) -> str | None:
    """The first problem of `element` against `schema_type`, prefixed with `path`."""
    if isinstance(schema_type, ComplexType) and schema_type.lax:
        return _lax_problem(element, schema_type, path, names)
    attrs = schema_type.attrs if isinstance(schema_type, ComplexType) else ()
    problem = _attributes_problem(element, attrs, names)
    if problem:
        return f"{path}: {problem}"
    if isinstance(schema_type, SimpleType):
        return _text_problem(element, schema_type, path)
    if schema_type.text is not None:
        return _text_problem(element, schema_type.text, path)
    return _content_problem(element, schema_type, path, names)


def _attributes_problem(
    element: Element, attrs: tuple[Attr, ...], names: _Namespaces
) -> str | None:
    declared = {attr.name: attr for attr in attrs}
    for key, value in element.attrib.items():
        qname = etree.QName(key)
        attr = declared.get(qname.localname)
        if attr is None:
            return f"unexpected attribute {_display(qname, names)}"
        if qname.namespace != names.uri(attr.ns):
            return _wrong_namespace("attribute", qname, attr.ns, names)
        problem = attr.type.problem(value, element.nsmap)
        if problem:
            return f"{attr.name} {problem}"
    for attr in attrs:
        if attr.required and element.get(f"{{{names.uri(attr.ns)}}}{attr.name}") is None:
            return f"missing attribute {attr.ns.value}:{attr.name}"
    return None


def _text_problem(element: Element, simple: SimpleType, path: str) -> str | None:
    children = list(element)
    for child in children:
        if isinstance(child.tag, str):
            return f"{path}: unexpected element {etree.QName(child).localname} in a text value"
        if child.tag is etree.Entity:
            return f"{path}: unexpected entity reference {child.text}"
    text = (element.text or "") + "".join(child.tail or "" for child in children)
    problem = simple.problem(text, element.nsmap)
    return f"{path}: {problem}" if problem else None


def _content_problem(
    element: Element, schema_type: ComplexType, path: str, names: _Namespaces
) -> str | None:
    if schema_type.content == () and (element.text or any(node.tail for node in element)):
        return f"{path}: unexpected text in an element with empty content"  # even whitespace
    if (element.text or "").strip():
        return f"{path}: unexpected text {_show(element.text.strip())}"
    children: list[Element] = []
    for node in element:
        stray = (node.tail or "").strip()
        if node.tag is etree.Entity:
            return f"{path}: unexpected entity reference {node.text}"
        if isinstance(node.tag, str):
            children.append(node)
        if stray:
            return f"{path}: unexpected text {_show(stray)}"
    matcher = _Matcher(children, path, names, _local_names(schema_type.content))
    problem = matcher.sequence(schema_type.content) or matcher.leftover()
    if problem is None and schema_type.unique_sn:
        problem = _duplicate_serial(children, path, names)
    return problem


def _lax_problem(
    element: Element, schema_type: ComplexType, path: str, names: _Namespaces
) -> str | None:
    known = {(names.uri(el.ns), el.name): el for el in schema_type.content if isinstance(el, El)}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        qname = etree.QName(child)
        el = known.get((qname.namespace, qname.localname))
        if el is not None:
            problem = _check(child, el.type, f"{path}/{el.name}", names)
            if problem:
                return problem
    return None


def _duplicate_serial(children: list[Element], path: str, names: _Namespaces) -> str | None:
    seen: set[str] = set()
    for child in children:
        serial = child.get(f"{{{names.types}}}sn")
        if serial is None:
            continue
        if serial in seen:
            return f"{path}: serial {_show(serial)} appears twice"
        seen.add(serial)
    return None


class _Matcher:
    """Walks the child elements of one element through its content model, in order."""

    def __init__(
        self, children: list[Element], path: str, names: _Namespaces, known: frozenset[str]
    ) -> None:
        self.children = children
        self.path = path
        self.names = names
        self.known = known  # every element name of this content model
        self.pos = 0

    def sequence(self, particles: tuple[Particle, ...]) -> str | None:
        for particle in particles:
            problem = self.particle(particle)
            if problem:
                return problem
        return None

    def particle(self, particle: Particle) -> str | None:
        if isinstance(particle, El):
            return self.element(particle)
        if isinstance(particle, Group):
            if particle.min == 0 and not self.starts(particle):
                return None
            return self.sequence(particle.items)
        for option in particle.options:
            if self.starts(option):
                return self.particle(option)
        if particle.min == 0:
            return None
        return self.expected(" or ".join(sorted(_local_names(particle.options))))

    def element(self, el: El) -> str | None:
        count = 0
        while count < el.max and self.next_name() == el.name:
            child = self.children[self.pos]
            child_path = f"{self.path}/{el.name}" + (f"[{count + 1}]" if el.max > 1 else "")
            qname = etree.QName(child)
            if qname.namespace != self.names.uri(el.ns):
                return f"{child_path}: {_wrong_namespace('element', qname, el.ns, self.names)}"
            problem = _check(child, el.type, child_path, self.names)
            if problem:
                return problem
            self.pos += 1
            count += 1
        if count < el.min:
            return self.expected(el.name)
        if self.next_name() == el.name:
            return f"{self.path}: {el.name} appears more than {_times(el.max)}"
        return None

    def starts(self, particle: El | Group) -> bool:
        return self.next_name() in _local_names((particle,))

    def next_name(self) -> str | None:
        if self.pos >= len(self.children):
            return None
        name: str = etree.QName(self.children[self.pos]).localname
        return name

    def expected(self, wanted: str) -> str:
        found = self.next_name()
        if found is None:
            return f"{self.path}: missing element {wanted}"
        if found in self.known:
            return f"{self.path}: expected {wanted}, found {found}"
        return f"{self.path}: unexpected element {found} (expected {wanted})"

    def leftover(self) -> str | None:
        found = self.next_name()
        if found is None:
            return None
        if found in self.known and self.pos > 0:
            previous = etree.QName(self.children[self.pos - 1]).localname
            return f"{self.path}: {found} is out of place (after {previous})"
        return f"{self.path}: unexpected element {found}"


# --- helpers -----------------------------------------------------------------------------------


def _local_names(particles: tuple[Particle, ...]) -> frozenset[str]:
    names: set[str] = set()
    for particle in particles:
        if isinstance(particle, El):
            names.add(particle.name)
        elif isinstance(particle, Group):
            names |= _local_names(particle.items)
        else:
            names |= _local_names(particle.options)
    return frozenset(names)


def _wrong_namespace(kind: str, qname: Any, expected: Ns, names: _Namespaces) -> str:
    wanted = f"{expected.value}:{qname.localname}"
    if qname.namespace is None:
        return f"{kind} {qname.localname} must be namespace-qualified ({wanted})"
    return (
        f"{kind} {qname.localname} is in namespace {qname.namespace}, "
        f"expected {names.uri(expected)} ({wanted})"
    )


def _display(qname: Any, names: _Namespaces) -> str:
    for ns in Ns:
        if qname.namespace == names.uri(ns):
            return f"{ns.value}:{qname.localname}"
    return str(qname.text)


_NCNAME = r"[^\W\d][\w.\-]*"
_QNAME_SYNTAX = re.compile(rf"(?:({_NCNAME}):)?({_NCNAME})")


def _resolve_qname(
    value: str, nsmap: Mapping[str | None, str], namespace: str | None
) -> tuple[str | None, str]:
    """A problem with QName `value`, or None and its local name."""
    match = _QNAME_SYNTAX.fullmatch(value)
    if match is None:
        return f"{_show(value)} is not a QName", value
    prefix, local = match.groups()
    if prefix is not None and prefix not in nsmap:
        return f"prefix {prefix!r} of {_show(value)} is not declared", value
    if namespace is not None and nsmap.get(prefix) != namespace:
        return f"{_show(value)} is not a name in {namespace}", value
    return None, local


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _show(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


def _chars(count: int) -> str:
    return f"{count} character" + ("" if count == 1 else "s")


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _alternatives(values: tuple[str, ...], type_name: str) -> str:
    if len(values) <= 3:
        return (
            " or ".join(values) if len(values) < 3 else f"{values[0]}, {values[1]} or {values[2]}"
        )
    return f"one of {', '.join(values)} ({type_name})"
