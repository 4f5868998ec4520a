"""The WWKS2 messages this codec reads and writes, as frozen dataclasses (M6 §6; M622 §6–§8).

Each class is one element: `TAG` is its XML name; each field is an attribute named by its field
name in PascalCase (`is_new_delivery` → `IsNewDelivery`, `guid` → `GUID` through `xml` metadata),
written in field order, except fields holding other element classes, which are child elements (a
class: exactly one; a class or None: at most one; a tuple: any number, or one or more where the
spec says mandatory, keyword-only), and a `str` field marked `_cdata()`, which is the element's own
text (CDATA). A field without a default is mandatory on the wire (keyword-only where the manuals
list it after optional ones); an optional one is None when
absent (the spec's default then applies: IsNewDelivery and IncludeDetails False, IncludePacks
True, Priority Normal). Strings are the decoded text: a ScanCode holds a real GS (U+001D), never
`\\x1D`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, ClassVar


def _xml(name: str, *, also: str | None = None) -> Any:
    """An optional attribute whose XML name is not its field name in PascalCase (`also`: another
    spelling that is read, never written)."""
    return dataclasses.field(default=None, metadata={"xml": name, "also": also})


def _cdata() -> Any:
    """The element's own text, written as one CDATA section (split where it holds `]]>`)."""
    return dataclasses.field(metadata={"cdata": True})


def _one_or_more() -> Any:
    """A mandatory repeated child element: at least one must be present on the wire."""
    return dataclasses.field(kw_only=True, metadata={"one_or_more": True})


# -- closed sets ---------------------------------------------------------------------------------


class SubscriberType(StrEnum):
    IMS = "IMS"
    ROBOT = "Robot"
    POS = "POS"
    PICKUP = "Pickup"
    SELF_CHECK_OUT = "SelfCheckOut"
    ORDER_TERMINAL = "OrderTerminal"
    OTC_DISPLAY = "OTCDisplay"
    SELF_SERVICE_DISPLAY = "SelfServiceDisplay"
    INFORMATION_DISPLAY = "InformationDisplay"


class State(StrEnum):
    READY = "Ready"
    NOT_READY = "NotReady"


class ComponentType(StrEnum):
    STORAGE_SYSTEM = "StorageSystem"
    BOX_SYSTEM = "BoxSystem"
    RETRIEVAL_SYSTEM = "RetrievalSystem"


class InputHandling(StrEnum):
    """The IMS's answer for one pack of an InputRequest (RejectedNoSerialNumber: M622 only)."""

    ALLOWED = "Allowed"
    ALLOWED_FOR_FRIDGE = "AllowedForFridge"
    REJECTED = "Rejected"
    REJECTED_NO_EXPIRY_DATE = "RejectedNoExpiryDate"
    REJECTED_NO_PICKING_INDICATOR = "RejectedNoPickingIndicator"
    REJECTED_NO_BATCH_NUMBER = "RejectedNoBatchNumber"
    REJECTED_NO_SERIAL_NUMBER = "RejectedNoSerialNumber"
    REJECTED_NO_STOCK_LOCATION = "RejectedNoStockLocation"
    REJECTED_INVALID_STOCK_LOCATION = "RejectedInvalidStockLocation"


class InputResult(StrEnum):
    """What the robot did with a pack after the InputResponse."""

    COMPLETED = "Completed"
    ABORTED = "Aborted"


class ExpiryDateSource(StrEnum):
    UNKNOWN = "Unknown"
    AUTO_CALCULATED = "AutoCalculated"
    MANUAL_ENTRY = "ManualEntry"
    OCR = "OCR"
    BARCODE = "Barcode"
    INFEED = "Infeed"
    IT_SYSTEM = "ITSystem"


class Shape(StrEnum):
    CUBOID = "Cuboid"
    CYLINDER = "Cylinder"


class PackState(StrEnum):
    AVAILABLE = "Available"
    NOT_AVAILABLE = "NotAvailable"


class Priority(StrEnum):
    LOWEST = "Lowest"
    LOW = "Low"
    NORMAL = "Normal"
    HIGH = "High"
    HIGHEST = "Highest"


class OutputAccepted(StrEnum):
    """The robot's answer to an OutputRequest."""

    QUEUED = "Queued"
    REJECTED = "Rejected"


class OutputStatus(StrEnum):
    """How an output ended (M622; TR and the SDK add the in-between states)."""

    COMPLETED = "Completed"
    INCOMPLETE = "Incomplete"
    ABORTED = "Aborted"
    BOX_RELEASED = "BoxReleased"
    ABORTING = "Aborting"
    IN_PROCESS = "InProcess"
    PARTIAL_DISPENSE = "PartialDispense"
    QUEUED = "Queued"


class LabelStatus(StrEnum):
    LABELLED = "Labelled"
    NOT_LABELLED = "NotLabelled"
    LABEL_ERROR = "LabelError"


class TaskType(StrEnum):
    OUTPUT = "Output"


class TaskInfoType(StrEnum):
    """What a TaskInfo asks about (ThomasReth/WWKS2 `TaskInfoType.cs`)."""

    OUTPUT = "Output"
    STOCK_DELIVERY = "StockDelivery"


class TaskStatus(StrEnum):
    """Where a task stands (ThomasReth/WWKS2 `TaskInfoStatus.cs`)."""

    ABORTED = "Aborted"
    ABORTING = "Aborting"
    COMPLETED = "Completed"
    INCOMPLETE = "Incomplete"
    IN_PROCESS = "InProcess"
    QUEUED = "Queued"
    UNKNOWN = "Unknown"


class UnprocessedReason(StrEnum):
    SYNTAX_ERROR = "SyntaxError"
    NOT_SUPPORTED = "NotSupported"
    DATA_ERROR = "DataError"
    TOO_MANY_REQUESTS = "TooManyRequests"


class CancelStatus(StrEnum):
    UNKNOWN = "Unknown"
    CANCELLED = "Cancelled"
    CANCEL_ERROR = "CancelError"


# -- Hello, KeepAlive, Status --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Capability:
    TAG: ClassVar[str] = "Capability"
    name: str


@dataclass(frozen=True, slots=True)
class Subscriber:
    """Who is on the other end: its number, kind, maker and the lead elements it handles."""

    TAG: ClassVar[str] = "Subscriber"
    id: int
    type: SubscriberType
    manufacturer: str
    product_info: str
    version_info: str
    tenant_id: str | None = None
    device_name: str | None = None
    capabilities: tuple[Capability, ...] = ()


@dataclass(frozen=True, slots=True)
class HelloRequest:
    """The IMS's first message on a link (within 5 s of connecting); no Source/Destination."""

    TAG: ClassVar[str] = "HelloRequest"
    id: str
    subscriber: Subscriber


@dataclass(frozen=True, slots=True)
class HelloResponse:
    TAG: ClassVar[str] = "HelloResponse"
    id: str
    subscriber: Subscriber


@dataclass(frozen=True, slots=True)
class KeepAliveRequest:
    TAG: ClassVar[str] = "KeepAliveRequest"
    id: str
    source: int
    destination: int


@dataclass(frozen=True, slots=True)
class KeepAliveResponse:
    TAG: ClassVar[str] = "KeepAliveResponse"
    id: str
    source: int
    destination: int


@dataclass(frozen=True, slots=True)
class StatusRequest:
    TAG: ClassVar[str] = "StatusRequest"
    id: str
    source: int
    destination: int
    include_details: bool | None = None


@dataclass(frozen=True, slots=True)
class Component:
    TAG: ClassVar[str] = "Component"
    type: ComponentType
    description: str
    state: State
    state_text: str | None = None


@dataclass(frozen=True, slots=True)
class StatusResponse:
    TAG: ClassVar[str] = "StatusResponse"
    id: str
    source: int
    destination: int
    state: State
    state_text: str | None = None
    components: tuple[Component, ...] = ()


# -- Input: stock-in -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InputComponent:
    """The loader (belt) that took the pack in (M622)."""

    TAG: ClassVar[str] = "InputComponent"
    id: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class InputRequestPack:
    """A pack the robot scanned; its BatchNumber, ExpiryDate etc. are the robot's own guess."""

    TAG: ClassVar[str] = "Pack"
    index: int | None = None
    scan_code: str = dataclasses.field(kw_only=True)
    delivery_number: str | None = None
    batch_number: str | None = None
    external_id: str | None = None
    serial_number: str | None = None
    expiry_date: date | None = None
    expiry_date_source: ExpiryDateSource | None = None
    sub_item_quantity: int | None = None
    stock_location_id: str | None = None
    machine_location: str | None = None


@dataclass(frozen=True, slots=True)
class InputRequestArticle:
    TAG: ClassVar[str] = "Article"
    id: str | None = None
    fmd_id: str | None = _xml("FMDId")
    packs: tuple[InputRequestPack, ...] = _one_or_more()


@dataclass(frozen=True, slots=True)
class InputRequest:
    """The robot asks whether it may store the packs it scanned (IsNewDelivery False: a return)."""

    TAG: ClassVar[str] = "InputRequest"
    id: str
    source: int
    destination: int
    articles: tuple[InputRequestArticle, ...] = _one_or_more()
    is_new_delivery: bool | None = None
    set_picking_indicator: bool | None = None
    input_component: InputComponent | None = None


@dataclass(frozen=True, slots=True)
class Handling:
    """The IMS's answer for one pack, with a text the robot may display."""

    TAG: ClassVar[str] = "Handling"
    input: InputHandling
    text: str | None = None


@dataclass(frozen=True, slots=True)
class InputResponsePack:
    TAG: ClassVar[str] = "Pack"
    handling: Handling
    index: int | None = None
    delivery_number: str | None = None
    batch_number: str | None = None
    external_id: str | None = None
    serial_number: str | None = None
    expiry_date: date | None = None
    sub_item_quantity: int | None = None
    stock_location_id: str | None = None


@dataclass(frozen=True, slots=True)
class InputResponseArticle:
    TAG: ClassVar[str] = "Article"
    id: str | None = None
    name: str | None = None
    dosage_form: str | None = None
    packaging_unit: str | None = None
    virtual_id: str | None = None
    virtual_name: str | None = None
    max_sub_item_quantity: int | None = None
    requires_fridge: bool | None = None
    packs: tuple[InputResponsePack, ...] = _one_or_more()


@dataclass(frozen=True, slots=True)
class InputResponse:
    """The IMS's answer to an InputRequest: same Id, Destination = the request's Source."""

    TAG: ClassVar[str] = "InputResponse"
    id: str
    source: int
    destination: int
    is_new_delivery: bool | None = None
    articles: tuple[InputResponseArticle, ...] = _one_or_more()


@dataclass(frozen=True, slots=True)
class InputMessageHandling:
    TAG: ClassVar[str] = "Handling"
    input: InputResult
    text: str | None = None


@dataclass(frozen=True, slots=True)
class InputMessagePack:
    """A pack the robot stored (Id > 0) or gave back (Id 0, Handling Aborted)."""

    TAG: ClassVar[str] = "Pack"
    id: int
    handling: InputMessageHandling
    index: int | None = None
    delivery_number: str | None = None
    batch_number: str | None = None
    external_id: str | None = None
    serial_number: str | None = None
    expiry_date: date | None = None
    expiry_date_source: ExpiryDateSource | None = None
    scan_code: str | None = None
    sub_item_quantity: int | None = None
    depth: int | None = None
    width: int | None = None
    height: int | None = None
    shape: Shape | None = None
    is_in_fridge: bool | None = None
    state: PackState | None = None
    stock_location_id: str | None = None
    machine_location: str | None = None
    guid: str | None = _xml("GUID")


@dataclass(frozen=True, slots=True)
class InputMessageArticle:
    """Id is mandatory in the manuals, but M6's "aborted after rejection" example omits it."""

    TAG: ClassVar[str] = "Article"
    id: str | None = None
    name: str | None = None
    virtual_id: str | None = None
    packs: tuple[InputMessagePack, ...] = _one_or_more()


@dataclass(frozen=True, slots=True)
class InputMessage:
    """The robot's report, under the InputRequest's Id, of what it did with each pack."""

    TAG: ClassVar[str] = "InputMessage"
    id: str
    source: int
    destination: int
    articles: tuple[InputMessageArticle, ...] = _one_or_more()
    is_new_delivery: bool | None = None
    input_component: InputComponent | None = None


# -- Output: dispense ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutputDetails:
    TAG: ClassVar[str] = "Details"
    priority: Priority | None = None
    output_destination: int = dataclasses.field(kw_only=True)
    output_point: str | None = None


@dataclass(frozen=True, slots=True)
class OutputResponseDetails:
    TAG: ClassVar[str] = "Details"
    priority: Priority | None = None
    output_destination: int = dataclasses.field(kw_only=True)
    output_point: str | None = None
    status: OutputAccepted = dataclasses.field(kw_only=True)


@dataclass(frozen=True, slots=True)
class OutputMessageDetails:
    TAG: ClassVar[str] = "Details"
    priority: Priority | None = None
    output_destination: int = dataclasses.field(kw_only=True)
    output_point: str | None = None
    status: OutputStatus = dataclasses.field(kw_only=True)


@dataclass(frozen=True, slots=True)
class OutputCriteria:
    """Which packs to output: Quantity full packs matching every attribute given."""

    TAG: ClassVar[str] = "Criteria"
    quantity: int
    article_id: str | None = None
    sub_item_quantity: int | None = None
    minimum_expiry_date: date | None = None
    batch_number: str | None = None
    single_batch_number: bool | None = None
    external_id: str | None = None
    serial_number: str | None = None
    pack_id: int | None = None
    stock_location_id: str | None = None
    machine_location: str | None = None


@dataclass(frozen=True, slots=True)
class LabelContent:
    """What the robot's printer puts on the label, as the template expects it (CDATA text)."""

    TAG: ClassVar[str] = "Content"
    text: str = _cdata()


@dataclass(frozen=True, slots=True)
class Label:
    """A label the robot prints and sticks on the packs of an output (M6 §6.8.1)."""

    TAG: ClassVar[str] = "Label"
    template_id: str
    content: LabelContent


@dataclass(frozen=True, slots=True)
class OutputRequest:
    """The IMS asks the robot to dispense (no Criteria: an empty order)."""

    TAG: ClassVar[str] = "OutputRequest"
    id: str
    source: int
    destination: int
    details: OutputDetails
    box_number: str | None = None
    criteria: tuple[OutputCriteria, ...] = ()
    labels: tuple[Label, ...] = ()


@dataclass(frozen=True, slots=True)
class OutputResponse:
    TAG: ClassVar[str] = "OutputResponse"
    id: str
    source: int
    destination: int
    details: OutputResponseDetails
    box_number: str | None = None
    criteria: tuple[OutputCriteria, ...] = ()


@dataclass(frozen=True, slots=True)
class OutputPack:
    """A pack that left the robot; ScanCode and SerialNumber are what a decommission needs."""

    TAG: ClassVar[str] = "Pack"
    id: int
    output_destination: int
    delivery_number: str | None = None
    batch_number: str | None = None
    external_id: str | None = None
    serial_number: str | None = None
    expiry_date: date | None = None
    expiry_date_source: ExpiryDateSource | None = None
    scan_code: str | None = None
    sub_item_quantity: int | None = None
    depth: int | None = None
    width: int | None = None
    height: int | None = None
    shape: Shape | None = None
    is_in_fridge: bool | None = None
    box_number: str | None = None
    output_point: str | None = None
    label_status: LabelStatus | None = None
    stock_location_id: str | None = None
    machine_location: str | None = None
    guid: str | None = _xml("GUID")


@dataclass(frozen=True, slots=True)
class OutputArticle:
    TAG: ClassVar[str] = "Article"
    id: str | None = None
    virtual_id: str | None = None
    packs: tuple[OutputPack, ...] = ()


@dataclass(frozen=True, slots=True)
class Box:
    TAG: ClassVar[str] = "Box"
    number: str


@dataclass(frozen=True, slots=True)
class OutputMessage:
    """The robot's report of an output, under the request's Id (Id "1": a manual output)."""

    TAG: ClassVar[str] = "OutputMessage"
    id: str
    source: int
    destination: int
    details: OutputMessageDetails
    articles: tuple[OutputArticle, ...] = ()
    boxes: tuple[Box, ...] = ()


# -- StockInfo: what the robot holds -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StockCriteria:
    """One filter; a pack matches when it matches every attribute of any one Criteria."""

    TAG: ClassVar[str] = "Criteria"
    article_id: str | None = None
    batch_number: str | None = None
    external_id: str | None = None
    serial_number: str | None = None
    stock_location_id: str | None = None
    machine_location: str | None = None


@dataclass(frozen=True, slots=True)
class StockInfoRequest:
    TAG: ClassVar[str] = "StockInfoRequest"
    id: str
    source: int
    destination: int
    include_packs: bool | None = None
    include_article_details: bool | None = None
    criteria: tuple[StockCriteria, ...] = ()


@dataclass(frozen=True, slots=True)
class StockPack:
    TAG: ClassVar[str] = "Pack"
    id: int
    delivery_number: str | None = None
    batch_number: str | None = None
    external_id: str | None = None
    serial_number: str | None = None
    expiry_date: date | None = None
    expiry_date_source: ExpiryDateSource | None = None
    scan_code: str | None = None
    sub_item_quantity: int | None = None
    depth: int | None = None
    width: int | None = None
    height: int | None = None
    shape: Shape | None = None
    is_in_fridge: bool | None = None
    state: PackState | None = None
    stock_location_id: str | None = None
    machine_location: str | None = None
    guid: str | None = _xml("GUID")


@dataclass(frozen=True, slots=True)
class StockArticle:
    """An article in stock (written PackagingUnit as the examples, the SDK and TR spell it; the
    manuals' element tables say PackingUnit, which is read too)."""

    TAG: ClassVar[str] = "Article"
    id: str
    quantity: int | None = None
    virtual_id: str | None = None
    name: str | None = None
    dosage_form: str | None = None
    packaging_unit: str | None = _xml("PackagingUnit", also="PackingUnit")
    max_sub_item_quantity: int | None = None
    packs: tuple[StockPack, ...] = ()


@dataclass(frozen=True, slots=True)
class StockInfoResponse:
    """The robot's stock (no Article: no stock)."""

    TAG: ClassVar[str] = "StockInfoResponse"
    id: str
    source: int
    destination: int
    articles: tuple[StockArticle, ...] = ()


@dataclass(frozen=True, slots=True)
class StockInfoMessage:
    """Sent by the robot unprompted when its stock changes (Id "1" on live robots)."""

    TAG: ClassVar[str] = "StockInfoMessage"
    id: str
    source: int
    destination: int
    articles: tuple[StockArticle, ...] = ()


# -- TaskInfo: where an output stands (not in wwks2.md: from ThomasReth/WWKS2's data contracts) --


@dataclass(frozen=True, slots=True)
class InfoTask:
    TAG: ClassVar[str] = "Task"
    id: str
    type: TaskInfoType


@dataclass(frozen=True, slots=True)
class TaskInfoRequest:
    """Ask the robot where a task (an OutputRequest's Id) stands."""

    TAG: ClassVar[str] = "TaskInfoRequest"
    id: str
    source: int
    destination: int
    task: InfoTask
    include_task_details: bool | None = None


@dataclass(frozen=True, slots=True)
class TaskInfoArticle:
    TAG: ClassVar[str] = "Article"
    id: str
    quantity: int | None = None
    packs: tuple[OutputPack, ...] = ()


@dataclass(frozen=True, slots=True)
class TaskState:
    TAG: ClassVar[str] = "Task"
    id: str
    type: TaskInfoType
    status: TaskStatus
    articles: tuple[TaskInfoArticle, ...] = ()
    boxes: tuple[Box, ...] = ()


@dataclass(frozen=True, slots=True)
class TaskInfoResponse:
    TAG: ClassVar[str] = "TaskInfoResponse"
    id: str
    source: int
    destination: int
    task: TaskState


# -- TaskCancel: cancel an output ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CancelTask:
    TAG: ClassVar[str] = "Task"
    type: TaskType
    id: str


@dataclass(frozen=True, slots=True)
class CancelledTask:
    TAG: ClassVar[str] = "Task"
    type: TaskType
    id: str
    status: CancelStatus


@dataclass(frozen=True, slots=True)
class TaskCancelRequest:
    """Cancel outputs by their OutputRequest Ids (the old name, the one Rowa robots support)."""

    TAG: ClassVar[str] = "TaskCancelRequest"
    id: str
    source: int
    destination: int
    tasks: tuple[CancelTask, ...] = _one_or_more()


@dataclass(frozen=True, slots=True)
class TaskCancelResponse:
    TAG: ClassVar[str] = "TaskCancelResponse"
    id: str
    source: int
    destination: int
    tasks: tuple[CancelledTask, ...] = _one_or_more()


# -- UnprocessedMessage: the answer to a message that could not be used --------------------------


@dataclass(frozen=True, slots=True)
class EmbeddedMessage:
    """The message that could not be processed, as its sender received it (CDATA text); its Id
    when the sender could read one. `codec.lead_element` names its lead element."""

    TAG: ClassVar[str] = "Message"
    text: str = _cdata()
    id: str | None = None


@dataclass(frozen=True, slots=True)
class UnprocessedMessage:
    """Either side's answer to a message it cannot handle (M622 §6.4.1): log it, nothing more."""

    TAG: ClassVar[str] = "UnprocessedMessage"
    id: str
    source: int
    message: EmbeddedMessage
    destination: int | None = None
    reason: UnprocessedReason | None = None
    text: str | None = None


Message = (
    HelloRequest
    | HelloResponse
    | KeepAliveRequest
    | KeepAliveResponse
    | StatusRequest
    | StatusResponse
    | InputRequest
    | InputResponse
    | InputMessage
    | OutputRequest
    | OutputResponse
    | OutputMessage
    | StockInfoRequest
    | StockInfoResponse
    | StockInfoMessage
    | TaskInfoRequest
    | TaskInfoResponse
    | TaskCancelRequest
    | TaskCancelResponse
    | UnprocessedMessage
)

MESSAGES: dict[str, type[Message]] = {
    kind.TAG: kind
    for kind in (
        HelloRequest,
        HelloResponse,
        KeepAliveRequest,
        KeepAliveResponse,
        StatusRequest,
        StatusResponse,
        InputRequest,
        InputResponse,
        InputMessage,
        OutputRequest,
        OutputResponse,
        OutputMessage,
        StockInfoRequest,
        StockInfoResponse,
        StockInfoMessage,
        TaskInfoRequest,
        TaskInfoResponse,
        TaskCancelRequest,
        TaskCancelResponse,
        UnprocessedMessage,
    )
}
"""Every lead element the codec reads, by its XML name."""
