"""The strict NMVS schema check passes every golden wire document and names what is wrong in a
broken one: the path to the element, then the problem."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from fmd.codes.checks import is_valid_gtin
from simulators.hub.soap_schema import schema_problem
from tests.support.golden import Element, golden, golden_element, golden_names

TYPES = "urn:types.nmvs.eu:v5.0"
WSDL = "urn:wsdltypes.nmvs.eu:v5.0"
NS = {"typ": TYPES, "wsd": WSDL, "env": "http://www.w3.org/2003/05/soap-envelope"}
FUTURE = "G110Response-future-element"

REQUESTS = (
    *("G110", "G120", "G121", "G122", "G130", "G170", "G171", "G180", "G182"),
    *("G115", "G125", "G127", "G188", "G195", "G196", "SupportPing", "SinglePackPing", "BulkPing"),
)
ANSWERS = (
    *("G110Response-active", "G110Response-inactive-supplied", "G110Response-alert"),
    *("G120Response", "G121Response", "G122Response", "G115Response"),
    *("G188Response-processing", "G188Response-done", "G195Response", "G196Response-done"),
    *("SupportPingResponse", "SinglePackPingResponse", "BulkPingResponse", "Fault"),
    *("G110Response-notification", FUTURE),
)


def one(element: Element, path: str) -> Element:
    """The single node at XPath `path` (prefixes typ, wsd, env) below `element`."""
    (found,) = element.xpath(path, namespaces=NS)
    return found


def test_the_golden_set_is_the_one_documented() -> None:
    assert set(golden_names()) == {f"{name}Request" for name in REQUESTS} | set(ANSWERS)


@pytest.mark.parametrize("name", [name for name in golden_names() if name != FUTURE])
def test_every_golden_document_matches_its_schema(name: str) -> None:
    assert schema_problem(golden_element(name)) is None


def test_an_element_a_later_version_might_add_fails_the_strict_check_by_name() -> None:
    assert schema_problem(golden_element(FUTURE)) == (
        "G110Response/Body: unexpected element FutureElement (expected ReturnCode)"
    )


def test_the_golden_values_are_consistent() -> None:
    code = one(golden_element("G110Request"), "typ:Body/typ:Product/typ:ProductCode").text
    assert is_valid_gtin(code)
    for name in ANSWERS:
        for trx_id in golden_element(name).xpath(".//typ:NMVSTrxId/text()", namespaces=NS):
            assert re.fullmatch(r"[0-9a-f]{32}", trx_id), name
    for result, submission in (("G188Request", "G115Response"), ("G196Request", "G195Response")):
        reference = one(golden_element(result), "typ:Body/typ:RefNMVSTrxId").text
        assert reference == one(golden_element(submission), ".//typ:NMVSTrxId").text


def test_every_golden_document_is_utf8_with_a_declaration_and_no_doctype() -> None:
    for name in golden_names():
        data = golden(name)
        assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>'), name
        assert b"<!DOCTYPE" not in data, name
        data.decode("utf-8")


# --- broken documents -------------------------------------------------------------------------


def unqualify(path: str, attr: str) -> Callable[[Element], None]:
    def change(element: Element) -> None:
        node = one(element, path)
        node.set(attr, node.attrib.pop(f"{{{TYPES}}}{attr}"))

    return change


def drop_attr(path: str, attr: str) -> Callable[[Element], None]:
    return lambda element: one(element, path).attrib.pop(f"{{{TYPES}}}{attr}")


def set_attr(path: str, attr: str, value: str) -> Callable[[Element], None]:
    return lambda element: one(element, path).set(f"{{{TYPES}}}{attr}", value)


def set_text(path: str, text: str) -> Callable[[Element], None]:
    def change(element: Element) -> None:
        one(element, path).text = text

    return change


def remove(path: str) -> Callable[[Element], None]:
    def change(element: Element) -> None:
        node = one(element, path)
        node.getparent().remove(node)

    return change


def append(path: str, tag: str) -> Callable[[Element], None]:
    return lambda element: etree.SubElement(one(element, path), tag)


def move_after(path: str, anchor: str) -> Callable[[Element], None]:
    return lambda element: one(element, anchor).addnext(one(element, path))


def rename(path: str, tag: str) -> Callable[[Element], None]:
    def change(element: Element) -> None:
        one(element, path).tag = tag

    return change


def add_batch_to_manual_product(element: Element) -> None:
    batch = etree.SubElement(one(element, "typ:Body/typ:Product"), f"{{{TYPES}}}Batch")
    etree.SubElement(batch, f"{{{TYPES}}}Id").text = "B1"
    etree.SubElement(batch, f"{{{TYPES}}}ExpDate").text = "281231"


def duplicate_pack(element: Element) -> None:
    pack = one(element, "typ:Body/typ:Pack")
    pack.addnext(etree.fromstring(etree.tostring(pack)))


ITEM_2 = "typ:Body/typ:TrxList/typ:TrxItem[2]/typ:Item"
BROKEN = [
    pytest.param(
        "G110Request",
        unqualify("typ:Body/typ:Pack", "sn"),
        "G110Request/Body/Pack: attribute sn must be namespace-qualified (typ:sn)",
        id="unqualified-attribute",
    ),
    pytest.param(
        "G110Request",
        drop_attr("typ:Body/typ:Product/typ:ProductCode", "scheme"),
        "G110Request/Body/Product/ProductCode: missing attribute typ:scheme",
        id="missing-attribute",
    ),
    pytest.param(
        "G110Request",
        move_after("typ:Header/typ:UserSoftware", "typ:Header/typ:Transaction"),
        "G110Request/Header: expected UserSoftware, found Transaction",
        id="wrong-order",
    ),
    pytest.param(
        "G110Request",
        remove("typ:Body/typ:Pack"),
        "G110Request/Body: missing element Pack",
        id="missing-element",
    ),
    pytest.param(
        "G110Request",
        append("typ:Body", f"{{{TYPES}}}Foo"),
        "G110Request/Body: unexpected element Foo",
        id="unknown-element",
    ),
    pytest.param(
        "G110Request",
        duplicate_pack,
        "G110Request/Body: Pack appears more than once",
        id="too-many",
    ),
    pytest.param(
        "G110Request",
        set_attr("typ:Body/typ:Product/typ:ProductCode", "scheme", "EAN"),
        "G110Request/Body/Product/ProductCode: scheme 'EAN' is not GTIN or PPN",
        id="bad-scheme",
    ),
    pytest.param(
        "G110Request",
        set_text("typ:Body/typ:Product/typ:Batch/typ:Id", "B" * 21),
        f"G110Request/Body/Product/Batch/Id: '{'B' * 21}' is longer than 20 characters"
        " (BATCH_Type)",
        id="batch-too-long",
    ),
    pytest.param(
        "G110Request",
        set_text("typ:Body/typ:Product/typ:Batch/typ:ExpDate", "281301"),
        "G110Request/Body/Product/Batch/ExpDate: '281301' does not match EXP_Type"
        " (YYMMDD, DD may be 00)",
        id="bad-expiry",
    ),
    pytest.param(
        "G110Request",
        set_text("typ:Header/typ:Auth/typ:UserId", "007"),
        "G110Request/Header/Auth/UserId: '007' is shorter than 4 characters (UserId_Type)",
        id="user-id-too-short",
    ),
    pytest.param(
        "G110Request",
        set_text("typ:Header/typ:Transaction/typ:ClientTrxId", "trx_0001"),
        "G110Request/Header/Transaction/ClientTrxId: 'trx_0001' does not match"
        " ExternalTransactionID_Type (letters, digits and -)",
        id="bad-client-trx-id",
    ),
    pytest.param(
        "G110Request",
        set_text("typ:Body", "stray"),
        "G110Request/Body: unexpected text 'stray'",
        id="text-in-element-content",
    ),
    pytest.param(
        "G110Request",
        rename("typ:Body", "{urn:types.nmvs.eu:v4.0}Body"),
        "G110Request/Body: element Body is in namespace urn:types.nmvs.eu:v4.0,"
        " expected urn:types.nmvs.eu:v5.0 (typ:Body)",
        id="element-in-v4-namespace",
    ),
    pytest.param(
        "G110Request",
        rename("typ:Header", "Header"),
        "G110Request/Header: element Header must be namespace-qualified (typ:Header)",
        id="unqualified-element",
    ),
    pytest.param(
        "G110Request",
        rename(".", f"{{{WSDL}}}G999Request"),
        "G999Request: unknown transaction",
        id="unknown-transaction",
    ),
    pytest.param(
        "G110Request",
        rename(".", f"{{{TYPES}}}G110Request"),
        "G110Request: element G110Request is in namespace urn:types.nmvs.eu:v5.0,"
        " expected urn:wsdltypes.nmvs.eu:v5.0 (wsd:G110Request)",
        id="transaction-in-types-namespace",
    ),
    pytest.param(
        "G115Request",
        set_attr("typ:Body/typ:Packs/typ:Pack[3]", "sn", "SN0001"),
        "G115Request/Body/Packs: serial 'SN0001' appears twice",
        id="duplicate-serial-in-bulk",
    ),
    pytest.param(
        "G122Request",
        add_batch_to_manual_product,
        "G122Request/Body/Product: unexpected element Batch",
        id="manual-entry-with-batch",
    ),
    pytest.param(
        "G195Request",
        drop_attr(ITEM_2, "reqType"),
        "G195Request/Body/TrxList/TrxItem[2]/Item: missing attribute typ:reqType",
        id="mixed-item-without-reqtype",
    ),
    pytest.param(
        "G195Request",
        set_attr(ITEM_2, "reqType", "G115"),
        "G195Request/Body/TrxList/TrxItem[2]/Item: reqType 'G115' is not one of G110, G120,"
        " G121, G130, G131, G140, G141, G150, G151, G160, G161, G170, G171, G180, G181"
        " (CatalogUseCaseMixed_Type)",
        id="bulk-reqtype-in-mixed-item",
    ),
    pytest.param(
        "G195Request",
        set_attr("typ:Body/typ:TrxList/typ:TrxItem[3]/typ:ItemMan", "reqType", "G120"),
        "G195Request/Body/TrxList/TrxItem[3]/ItemMan: reqType 'G120' is not G122 or G182",
        id="scanned-reqtype-in-manual-item",
    ),
    pytest.param(
        "G195Request",
        move_after(f"{ITEM_2}/typ:Transaction", f"{ITEM_2}/typ:Product"),
        "G195Request/Body/TrxList/TrxItem[2]/Item: expected Pack, found Transaction",
        id="mixed-item-transaction-before-pack",
    ),
    pytest.param(
        "G110Response-alert",
        move_after("typ:Body/typ:AlertId", "typ:Body/typ:ReturnCode"),
        "G110Response/Body: AlertId is out of place (after ReturnCode)",
        id="alert-id-after-return-code",
    ),
    pytest.param(
        "G110Response-active",
        set_text("typ:Header/typ:Transaction/typ:Timestamp", "2026-02-30T10:00:00Z"),
        "G110Response/Header/Transaction/Timestamp: '2026-02-30T10:00:00Z' is not a valid"
        " Timestamp_Type (xs:dateTime)",
        id="impossible-timestamp",
    ),
    pytest.param(
        "G110Response-active",
        set_attr("typ:Body/typ:Pack", "state", "DISPENSED"),
        "G110Response/Body/Pack: state 'DISPENSED' is not ACTIVE, INACTIVE or UNKNOWN",
        id="bad-pack-state",
    ),
    pytest.param(
        "G110Response-active",
        set_attr("typ:Body/typ:ReturnCode", "desc", "x" * 256),
        f"G110Response/Body/ReturnCode: desc '{'x' * 40}…' is longer than 255 characters"
        " (ReturnCodeDescription_Type)",
        id="desc-too-long",
    ),
    pytest.param(
        "G110Response-notification",
        set_attr("typ:Header/typ:Notification", "notificationCode", "NMVS_NOTIFY_XX"),
        "G110Response/Header/Notification[1]: notificationCode 'NMVS_NOTIFY_XX' is not"
        " NMVS_NOTIFY_AU_01, NMVS_NOTIFY_AU_02 or NMVS_NOTIFY_PMS_01",
        id="unknown-notification",
    ),
    pytest.param(
        "G188Response-done",
        set_attr("typ:Body/typ:Packs/typ:Pack[2]", "sn", "SN0001"),
        "G188Response/Body/Packs: serial 'SN0001' appears twice",
        id="duplicate-serial-in-result",
    ),
    pytest.param(
        "G188Response-done",
        remove("typ:Body/typ:Packs/typ:Pack[1]/typ:ReturnCode"),
        "G188Response/Body/Packs/Pack[1]: missing element ReturnCode",
        id="result-pack-without-return-code",
    ),
    pytest.param(
        "G196Response-done",
        drop_attr("typ:Body/typ:TrxList/typ:TrxItem[4]", "reqType"),
        "G196Response/Body/TrxList/TrxItem[4]: missing attribute typ:reqType",
        id="mixed-result-item-without-reqtype",
    ),
    pytest.param(
        "Fault",
        set_text("env:Code/env:Value", "env:Client"),
        "Fault/Code/Value: 'env:Client' is not one of DataEncodingUnknown, MustUnderstand,"
        " Receiver, Sender, VersionMismatch (env:faultcodeEnum)",
        id="soap11-fault-code",
    ),
    pytest.param(
        "Fault",
        unqualify("env:Detail/typ:ReturnCode", "code"),
        "Fault/Detail/ReturnCode: attribute code must be namespace-qualified (typ:code)",
        id="fault-detail-unqualified-code",
    ),
]


@pytest.mark.parametrize(("name", "change", "problem"), BROKEN)
def test_a_broken_document_fails_naming_what_is_wrong(
    name: str, change: Callable[[Element], None], problem: str
) -> None:
    element = golden_element(name)
    change(element)
    assert schema_problem(element) == problem


def test_an_expiry_day_of_00_is_allowed() -> None:
    element = golden_element("G110Request")
    set_text("typ:Body/typ:Product/typ:Batch/typ:ExpDate", "281200")(element)
    assert schema_problem(element) is None


def test_another_interface_version_is_checked_in_its_own_namespaces() -> None:
    v4 = golden("G110Request").replace(b":v5.0", b":v4.0")
    element = one(etree.fromstring(v4), "env:Body/*")
    assert schema_problem(element, types_ns="urn:types.nmvs.eu:v4.0") is None
    assert schema_problem(element) == (
        "G110Request: element G110Request is in namespace urn:wsdltypes.nmvs.eu:v4.0,"
        " expected urn:wsdltypes.nmvs.eu:v5.0 (wsd:G110Request)"
    )


GS1 = set("!\"%&'()*+,-./:;<=>?_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
XML_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x17F) | st.sampled_from("\t"))


@settings(max_examples=200, deadline=None)
@given(XML_TEXT.filter(lambda s: len(s) <= 24))
def test_a_serial_passes_exactly_when_it_is_1_to_20_gs1_characters(serial: str) -> None:
    element = golden_element("G110Request")
    set_attr("typ:Body/typ:Pack", "sn", serial)(element)
    valid = 1 <= len(serial) <= 20 and set(serial) <= GS1
    assert (schema_problem(element) is None) == valid
