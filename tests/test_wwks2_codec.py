"""WWKS2 messages to bytes and back, against the golden documents of `tests/wire/wwks2/`."""

from __future__ import annotations

import dataclasses
import itertools
import types
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wwks2.codec import decode, encode, lead_element
from wwks2.errors import BadValue, MalformedXml, MissingPart, UnknownMessage, Unwritable, Wwks2Error
from wwks2.framing import Document, Framer
from wwks2.messages import (
    MESSAGES,
    Box,
    Capability,
    Component,
    ComponentType,
    Handling,
    HelloRequest,
    InputHandling,
    InputMessage,
    InputMessageArticle,
    InputMessageHandling,
    InputMessagePack,
    InputRequest,
    InputRequestArticle,
    InputRequestPack,
    InputResponse,
    InputResponseArticle,
    InputResponsePack,
    InputResult,
    KeepAliveRequest,
    Label,
    LabelContent,
    Message,
    OutputDetails,
    OutputMessage,
    OutputRequest,
    OutputStatus,
    Shape,
    State,
    StatusRequest,
    StatusResponse,
    StockInfoMessage,
    StockInfoResponse,
    Subscriber,
    SubscriberType,
    TaskInfoResponse,
    TaskStatus,
    UnprocessedMessage,
    UnprocessedReason,
)

WIRE = Path(__file__).parent / "wire" / "wwks2"
GOLDEN = sorted(path.stem for path in WIRE.glob("*.xml"))
OURS = sorted(path.stem for path in WIRE.glob("ours-*.xml"))
AT = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
GS = "\x1d"


def golden(name: str) -> bytes:
    return (WIRE / f"{name}.xml").read_bytes()


def document(lead: str) -> bytes:
    return f'<WWKS Version="2.0" TimeStamp="2026-03-01T08:00:00Z">{lead}</WWKS>'.encode()


# -- the golden documents ------------------------------------------------------------------------


@pytest.mark.parametrize("name", GOLDEN)
def test_every_golden_document_decodes_and_survives_a_round_trip(name: str) -> None:
    message = decode(golden(name))
    assert decode(encode(message, timestamp=AT)) == message


def test_a_hello_request_carries_the_subscriber_and_its_capabilities() -> None:
    assert decode(golden("hello-request")) == HelloRequest(
        id="1",
        subscriber=Subscriber(
            id=100,
            type=SubscriberType.IMS,
            manufacturer="Example",
            product_info="fmd-robot",
            version_info="0.1",
            capabilities=(Capability("KeepAlive"), Capability("Status"), Capability("Input")),
        ),
    )


@pytest.mark.parametrize("name", OURS)
def test_our_writing_of_a_golden_of_ours_is_that_golden_byte_for_byte(name: str) -> None:
    assert encode(decode(golden(name)), timestamp=AT) + b"\n" == golden(name)


def test_every_message_type_has_a_golden_of_our_writing() -> None:
    assert {decode(golden(name)).TAG for name in OURS} == set(MESSAGES)


def test_attributes_are_written_in_the_order_the_manuals_list_them() -> None:
    data = golden("ours-output-response")
    assert b'<Details Priority="Normal" OutputDestination="1" Status="Queued"/>' in data
    assert b'<Pack Index="0" ScanCode="' in golden("ours-input-request")


def test_a_keep_alive_request_has_an_id_a_source_and_a_destination() -> None:
    assert decode(golden("keepalive-request")) == KeepAliveRequest("7", 999, 100)


def test_the_live_status_poll_reads_a_lower_case_boolean() -> None:
    assert decode(golden("trace-status-request")) == StatusRequest(
        "4996", 100, 777, include_details=True
    )


def test_the_live_status_response_lists_its_components() -> None:
    assert decode(golden("trace-status-response")) == StatusResponse(
        "4996",
        777,
        100,
        State.READY,
        components=(
            Component(ComponentType.STORAGE_SYSTEM, "MTXL1", State.READY, "Automatic"),
            Component(ComponentType.BOX_SYSTEM, "OC1", State.READY, "Automatic"),
        ),
    )


def test_the_live_input_request_comes_from_a_sub_component_with_a_decoded_scan_code() -> None:
    assert decode(golden("trace-input-request")) == InputRequest(
        id="25001",
        source=40,
        destination=100,
        is_new_delivery=False,
        set_picking_indicator=False,
        articles=(
            InputRequestArticle(
                packs=(
                    InputRequestPack(
                        scan_code=f"010541506230323821128302034892{GS}1729033110B32542",
                        index=0,
                        delivery_number="",
                        batch_number="B32542",
                        external_id="128302034892",
                        expiry_date=date(2029, 3, 31),
                        sub_item_quantity=0,
                        stock_location_id="",
                        machine_location="",
                    ),
                )
            ),
        ),
    )


def test_a_rejection_carries_its_text_for_the_robots_display() -> None:
    assert decode(golden("input-response-rejected")) == InputResponse(
        id="25002",
        source=100,
        destination=999,
        is_new_delivery=True,
        articles=(
            InputResponseArticle(
                packs=(
                    InputResponsePack(
                        index=0,
                        handling=Handling(InputHandling.REJECTED, "FMD: pack already supplied"),
                    ),
                )
            ),
        ),
    )


def test_the_live_input_message_names_the_stored_pack_with_a_64_bit_id() -> None:
    message = decode(golden("trace-input-message"))
    assert isinstance(message, InputMessage)
    (article,) = message.articles
    assert article.id == "1337286"
    (pack,) = article.packs
    assert pack.id == 4020241126172643
    assert pack.handling == InputMessageHandling(InputResult.COMPLETED)
    assert pack.scan_code == f"010541506230323821128302034892{GS}1729033110B32542"


def test_the_live_output_message_carries_what_a_decommission_needs() -> None:
    message = decode(golden("trace-output-message-completed"))
    assert isinstance(message, OutputMessage)
    assert message.details.status is OutputStatus.COMPLETED
    (pack,) = message.articles[0].packs
    assert pack.serial_number == "10397556011945"
    assert pack.scan_code == f"01076134210346722110397556011945{GS}10ND4638{GS}17260430"
    assert pack.output_destination == 2


def test_an_incomplete_output_may_name_an_article_without_packs() -> None:
    message = decode(golden("trace-output-message-incomplete"))
    assert isinstance(message, OutputMessage)
    assert message.details.status is OutputStatus.INCOMPLETE
    assert message.articles[0].packs == ()


def test_the_live_stock_info_message_gives_quantities_without_packs() -> None:
    message = decode(golden("trace-stock-info-message"))
    assert isinstance(message, StockInfoMessage)
    assert (message.articles[0].id, message.articles[0].quantity) == ("1092857", 3)


def test_a_task_info_response_reports_the_outputs_state_and_its_packs() -> None:
    message = decode(golden("tr-task-info-response"))
    assert isinstance(message, TaskInfoResponse)
    assert (message.task.id, message.task.status) == ("4711", TaskStatus.COMPLETED)
    (pack,) = message.task.articles[0].packs
    assert (pack.id, pack.serial_number, pack.shape) == (1998, "SER-A", Shape.CYLINDER)
    assert message.task.boxes == (Box("1023"),)


LABEL = "<Patient>A. Example</Patient>\n<Dose>1-0-1 ]]> after meals</Dose>"


def test_a_labels_content_is_read_back_exactly_with_the_cdata_end_it_holds() -> None:
    message = decode(golden("ours-output-request-label"))
    assert isinstance(message, OutputRequest)
    assert message.labels == (Label("RX-LABEL-1", LabelContent(LABEL)),)


def _labelled(content: str) -> OutputRequest:
    label = Label("T", LabelContent(content))
    return OutputRequest("1", 100, 999, OutputDetails(output_destination=1), labels=(label,))


def test_a_cdata_end_in_a_label_splits_the_cdata_section() -> None:
    data = encode(_labelled("a]]>b"), timestamp=AT)
    assert b"<Content><![CDATA[a]]]]><![CDATA[>b]]></Content>" in data
    assert decode(data) == _labelled("a]]>b")


def test_a_text_or_value_that_looks_like_the_writers_placeholder_is_written_as_it_is() -> None:
    placeholder = "<?wwks2-text 0?>"
    label = Label(placeholder, LabelContent(placeholder))
    message = OutputRequest(
        placeholder, 100, 999, OutputDetails(output_destination=1), labels=(label, label)
    )
    assert decode(encode(message, timestamp=AT)) == message


def test_a_carriage_return_in_a_label_is_written_as_the_line_feed_every_reader_sees() -> None:
    data = encode(_labelled("a\r\nb\rc"), timestamp=AT)
    assert b"\r" not in data
    assert decode(data) == _labelled("a\nb\nc")


def test_a_label_with_a_character_xml_cannot_carry_is_one_line_naming_the_element() -> None:
    with pytest.raises(
        Unwritable, match=r"^OutputRequest/Label/Content: the text holds a character"
    ):
        encode(_labelled("a\x00"), timestamp=AT)


def test_an_unprocessed_message_gives_the_message_it_embeds_as_it_was_sent() -> None:
    message = decode(golden("ours-unprocessed-message"))
    assert isinstance(message, UnprocessedMessage)
    assert (message.id, message.source, message.destination) == ("3", 999, 100)
    assert (message.reason, message.text) == (
        UnprocessedReason.NOT_SUPPORTED,
        "labels are not supported",
    )
    assert message.message.id == "700"
    assert message.message.text.encode() + b"\n" == golden("ours-output-request-label")
    assert lead_element(message.message.text) == "OutputRequest"


@pytest.mark.parametrize("text", ["", "not XML <", "<Other><X/></Other>", "<WWKS/>"])
def test_an_embedded_text_that_is_no_wwks_document_has_no_lead_element(text: str) -> None:
    assert lead_element(text) is None


def test_a_stream_holding_an_unprocessed_message_is_framed_and_decoded() -> None:
    parts = ["keepalive-request", "ours-unprocessed-message", "keepalive-response"]
    stream = b"".join(golden(name) for name in parts)
    framer = Framer()
    frames = [f for i in range(0, len(stream), 7) for f in framer.feed(stream[i : i + 7])]
    documents = [frame.data for frame in frames if isinstance(frame, Document)]
    assert [decode(data) for data in documents] == [decode(golden(name)) for name in parts]


def test_the_manuals_spelling_packing_unit_is_read_as_packaging_unit() -> None:
    lead = '<StockInfoResponse Id="9" Source="999" Destination="100"><Article Id="1" PackingUnit="20"/></StockInfoResponse>'  # noqa: E501
    message = decode(document(lead))
    assert isinstance(message, StockInfoResponse)
    assert message.articles[0].packaging_unit == "20"
    assert b'PackagingUnit="20"' in encode(message, timestamp=AT)


def test_a_declaration_before_the_root_is_tolerated() -> None:
    data = b'<?xml version="1.0" encoding="utf-8"?>\n' + golden("keepalive-request")
    assert decode(data) == KeepAliveRequest("7", 999, 100)


# -- writing -------------------------------------------------------------------------------------


def test_a_message_is_utf8_without_bom_or_declaration_with_the_lead_element_first() -> None:
    data = encode(KeepAliveRequest("7", 100, 999), timestamp=AT)
    assert data == (
        b'<WWKS Version="2.0" TimeStamp="2026-03-01T08:00:00Z">'
        b'<KeepAliveRequest Id="7" Source="100" Destination="999"/></WWKS>'
    )


def test_the_timestamp_is_written_in_utc_without_fractions() -> None:
    at = datetime(2026, 3, 1, 9, 30, 15, 999_999, tzinfo=timezone(timedelta(hours=1)))
    assert b'TimeStamp="2026-03-01T08:30:15Z"' in encode(KeepAliveRequest("7", 1, 2), timestamp=at)


def test_a_timestamp_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        encode(KeepAliveRequest("7", 1, 2), timestamp=datetime(2026, 3, 1))  # noqa: DTZ001


def test_booleans_are_capitalised_and_control_characters_escaped() -> None:
    pack = InputMessagePack(
        id=0,
        handling=InputMessageHandling(InputResult.ABORTED),
        scan_code=f"01{GS}21",
        is_in_fridge=True,
    )
    message = InputMessage(
        "5", 999, 100, articles=(InputMessageArticle(packs=(pack,)),), is_new_delivery=False
    )
    data = encode(message, timestamp=AT)
    assert b'IsNewDelivery="False"' in data
    assert b'IsInFridge="True"' in data
    assert b'ScanCode="01\\x1D21"' in data


def test_a_character_xml_cannot_carry_is_one_line_naming_the_element_and_attribute() -> None:
    component = Component(ComponentType.STORAGE_SYSTEM, "Vmax \ufffe", State.READY)
    message = StatusResponse("8", 999, 100, State.READY, components=(component,))
    with pytest.raises(Unwritable, match=r"^StatusResponse/Component: attribute Description "):
        encode(message, timestamp=AT)


def test_a_negative_number_is_not_written() -> None:
    with pytest.raises(Unwritable, match=r"^KeepAliveRequest: attribute Source is negative"):
        encode(KeepAliveRequest("7", -1, 2), timestamp=AT)


# -- round trips ---------------------------------------------------------------------------------

_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\ufffe\uffff"))
# A CDATA text: the characters XML carries, but CR (which every reader takes as LF), and `]]>`.
_XML_TEXT = st.text(
    st.characters(
        exclude_categories=["Cs", "Cc"],
        exclude_characters="\ufffe\uffff",
        include_characters="\t\n",
    )
)
_CDATA_TEXT = st.lists(_XML_TEXT | st.just("]]>"), max_size=4).map("".join)


def _field(hint: Any, field: dataclasses.Field[Any]) -> st.SearchStrategy[Any]:
    if field.metadata.get("cdata"):
        return _CDATA_TEXT
    return _strategy(hint, field.metadata.get("one_or_more", False))


def _strategy(kind: Any, one_or_more: bool = False) -> st.SearchStrategy[Any]:
    if get_origin(kind) is tuple:
        size = int(one_or_more)
        return st.lists(_strategy(get_args(kind)[0]), min_size=size, max_size=2).map(tuple)
    if get_origin(kind) in (Union, types.UnionType):
        (inner,) = (arg for arg in get_args(kind) if arg is not type(None))
        return st.none() | _strategy(inner)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = get_type_hints(kind)
        fields = {
            field.name: _field(hints[field.name], field) for field in dataclasses.fields(kind)
        }
        return st.builds(kind, **fields)
    if isinstance(kind, type) and issubclass(kind, StrEnum):
        return st.sampled_from(list(kind))
    simple: dict[Any, st.SearchStrategy[Any]] = {
        str: _TEXT,
        int: st.integers(min_value=0, max_value=2**63 - 1),
        bool: st.booleans(),
        date: st.dates(),
    }
    return simple[kind]


_ANY_MESSAGE = st.sampled_from(sorted(MESSAGES)).flatmap(lambda tag: _strategy(MESSAGES[tag]))


@given(_ANY_MESSAGE)
def test_any_message_survives_encoding_and_decoding(message: Message) -> None:
    assert decode(encode(message, timestamp=AT)) == message


@settings(suppress_health_check=[HealthCheck.too_slow])  # big messages: slow on a busy machine
@given(st.lists(_ANY_MESSAGE, min_size=1, max_size=4), st.data())
def test_any_stream_of_messages_cut_anywhere_is_framed_and_decoded_as_sent(
    messages: list[Message], data: st.DataObject
) -> None:
    stream = b"".join(encode(message, timestamp=AT) for message in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    framer = Framer()
    frames = [
        f for a, b in itertools.pairwise([0, *cuts, len(stream)]) for f in framer.feed(stream[a:b])
    ]
    assert [decode(frame.data) for frame in frames if isinstance(frame, Document)] == messages


# -- bad input -----------------------------------------------------------------------------------

_KEEP = '<KeepAliveRequest Id="7" Source="999" Destination="100"/>'
_STAMP = 'TimeStamp="2026-03-01T08:00:00Z"'
_INPUT = '<InputRequest Id="1" Source="9" Destination="1"><Article>{}</Article></InputRequest>'
_STORED = '<InputMessage Id="1" Source="9" Destination="1"><Article>{}</Article></InputMessage>'
_PACK = _STORED.format('<Pack Id="1" {}><Handling Input="Completed"/></Pack>')


def root(attributes: str, lead: str = _KEEP) -> bytes:
    return f"<WWKS {attributes}>{lead}</WWKS>".encode()


MALFORMED: list[tuple[str, bytes, type[Wwks2Error], str]] = [
    ("not XML", b"<WWKS Version=", MalformedXml, "not well-formed XML"),
    (
        "not UTF-8",
        document('<StatusRequest Id="1" Source="1" Destination="2"/>')[:-30] + b"\xff>",
        MalformedXml,
        "not well-formed XML",
    ),
    (
        "a raw control character",
        document(f'<StatusRequest Id="1{GS}" Source="1" Destination="2"/>'),
        MalformedXml,
        "not well-formed",
    ),
    (
        "a document type",
        b'<!DOCTYPE WWKS [<!ENTITY e "x">]>' + root(f'Version="2.0" {_STAMP}'),
        MalformedXml,
        "document type",
    ),
    ("another root", b"<Envelope/>", MalformedXml, "root element is 'Envelope'"),
    ("no Version", root(_STAMP), MissingPart, "WWKS: attribute Version"),
    ("another Version", root(f'Version="3.0" {_STAMP}'), BadValue, "Version '3.0'"),
    ("no TimeStamp", root('Version="2.0"'), MissingPart, "attribute TimeStamp"),
    (
        "a TimeStamp with fractions",
        root('Version="2.0" TimeStamp="2026-03-01T08:00:00.123Z"'),
        BadValue,
        "TimeStamp",
    ),
    (
        "an impossible TimeStamp",
        root('Version="2.0" TimeStamp="2026-02-30T08:00:00Z"'),
        BadValue,
        "TimeStamp",
    ),
    ("no lead element", document(""), MissingPart, "lead element"),
    (
        "an unknown lead element",
        document('<ArticleMasterSetRequest Id="1"/>'),
        UnknownMessage,
        "'ArticleMasterSetRequest'",
    ),
    (
        "no Source",
        document('<KeepAliveRequest Id="7" Destination="100"/>'),
        MissingPart,
        "KeepAliveRequest: attribute Source is missing",
    ),
    (
        "no Subscriber",
        document('<HelloRequest Id="1"/>'),
        MissingPart,
        "HelloRequest: element Subscriber is missing",
    ),
    (
        "no ScanCode",
        document(_INPUT.format('<Pack Index="0"/>')),
        MissingPart,
        "InputRequest/Article/Pack: attribute ScanCode is missing",
    ),
    (
        "no Article",
        document('<InputRequest Id="1" Source="9" Destination="1"/>'),
        MissingPart,
        "InputRequest: element Article is missing",
    ),
    (
        "no Pack",
        document(_INPUT.format("")),
        MissingPart,
        "InputRequest/Article: element Pack is missing",
    ),
    (
        "no Handling",
        document(_STORED.format('<Pack Id="0"/>')),
        MissingPart,
        "InputMessage/Article/Pack: element Handling is missing",
    ),
    (
        "a bad boolean",
        document('<StatusRequest Id="1" Source="1" Destination="2" IncludeDetails="yes"/>'),
        BadValue,
        "StatusRequest: IncludeDetails 'yes' is not True or False",
    ),
    (
        "a negative number",
        document('<KeepAliveRequest Id="7" Source="-1" Destination="100"/>'),
        BadValue,
        "KeepAliveRequest: Source '-1' is not a whole number",
    ),
    (
        "non-ASCII digits",
        document(_PACK.format('Depth="١٢"')),
        BadValue,
        "InputMessage/Article/Pack: Depth",
    ),
    (
        "a number with a space",
        document('<KeepAliveRequest Id="7" Source=" 1" Destination="100"/>'),
        BadValue,
        "Source ' 1'",
    ),
    (
        "a number past int's 4300-digit limit",
        document('<KeepAliveRequest Id="7" Source="' + "9" * 5000 + '" Destination="100"/>'),
        BadValue,
        "KeepAliveRequest: Source '99999",
    ),
    (
        "a number past 64 bits",
        document('<KeepAliveRequest Id="7" Source="9223372036854775808" Destination="100"/>'),
        BadValue,
        "is over 9223372036854775807",
    ),
    (
        "a 10,000-character value, shown cut",
        document(_PACK.format('ExpiryDate="' + "A" * 10_000 + '"')),
        BadValue,
        "AAAA…' is not a date",
    ),
    (
        "an impossible date",
        document(_PACK.format('ExpiryDate="2028-02-30"')),
        BadValue,
        "ExpiryDate '2028-02-30' is not a date YYYY-MM-DD",
    ),
    (
        "a date in another form",
        document(_PACK.format('ExpiryDate="20280131"')),
        BadValue,
        "ExpiryDate '20280131'",
    ),
    (
        "an unknown enum member",
        document(_STORED.format('<Pack Id="0"><Handling Input="Stored"/></Pack>')),
        BadValue,
        "InputMessage/Article/Pack/Handling: Input 'Stored' is not one of Completed|Aborted",
    ),
]


@pytest.mark.parametrize(
    ("data", "error", "says"), [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED]
)
def test_bad_input_is_one_line_naming_what_is_wrong(
    data: bytes, error: type[Wwks2Error], says: str
) -> None:
    with pytest.raises(error) as raised:
        decode(data)
    assert says in str(raised.value)
    assert "\n" not in str(raised.value)
    assert len(str(raised.value)) < 200


def test_attributes_and_elements_the_codec_does_not_know_are_ignored() -> None:
    lead = '<KeepAliveRequest Id="7" Source="9" Destination="1" Extra="x"><New/></KeepAliveRequest>'
    assert decode(document(lead + "<Second/>")) == KeepAliveRequest("7", 9, 1)
