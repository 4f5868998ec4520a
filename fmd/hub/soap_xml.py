"""SOAP 1.2 envelopes with lxml: a hardened parser, element helpers, pack fields and faults.

Pure functions shared by the SOAP client (`fmd.hub.soap`) and the hub simulator. Elements and
attributes are written in the types namespace (`typ:sn`), as the schemas declare; attributes are
read qualified or not, as a lenient reader should. Parsing problems raise `SoapError`, which
callers turn into a fault (simulator) or a `technical` result (client).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, TypeAlias

from lxml import etree

from fmd.codes.dates import parse_yymmdd
from fmd.codes.model import PackIdentifier, Scheme
from fmd.hub import returncodes as rc
from fmd.hub.soap_names import SOAP_NS, TYPES_NS, WSDL_NS

Element: TypeAlias = Any  # an lxml element (lxml has no type hints)

_NSMAP = {"soap": SOAP_NS, "wsd": WSDL_NS, "typ": TYPES_NS}
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    huge_tree=False,
    load_dtd=False,
    remove_comments=True,
    remove_pis=True,
)


class SoapError(Exception):
    """A message that is not the SOAP we expect; `code` is the NMVS code to report it with."""

    def __init__(self, message: str, code: str = rc.SCHEMA_VIOLATION) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Fault:
    """A SOAP fault: the NMVS code (the fault's subcode) and its reason text."""

    code: str
    reason: str


# -- building -----------------------------------------------------------------------------------


def wsd(name: str) -> Element:
    """A new element in the WSDL-types namespace (a request or response root)."""
    return etree.Element(f"{{{WSDL_NS}}}{name}", nsmap=_NSMAP)


def sub(parent: Element, tag: str, text: str | None = None, /, **attrs: str) -> Element:
    """Append a types-namespace child `tag` with optional text and (qualified) attributes."""
    qualified = {f"{{{TYPES_NS}}}{name}": value for name, value in attrs.items()}
    child = etree.SubElement(parent, f"{{{TYPES_NS}}}{tag}", qualified)
    if text is not None:
        child.text = text
    return child


def set_attribute(element: Element, name: str, value: str) -> None:
    """Set the qualified attribute `typ:name`."""
    element.set(f"{{{TYPES_NS}}}{name}", value)


def envelope(payload: Element) -> bytes:
    """Wrap `payload` in a SOAP 1.2 envelope, serialised as UTF-8."""
    root = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap=_NSMAP)
    etree.SubElement(root, f"{{{SOAP_NS}}}Header")
    etree.SubElement(root, f"{{{SOAP_NS}}}Body").append(payload)
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return data


def add_product(parent: Element, ui: PackIdentifier, *, batch: bool = True) -> Element:
    """Append a request's `Product`: `ProductCode@scheme`, then `Batch` (`Id`, `ExpDate`) unless
    `batch` is False (manual entry). Requests carry no NHRN (`RequestProduct_Type`)."""
    product = sub(parent, "Product")
    sub(product, "ProductCode", ui.product_code, scheme=ui.scheme)
    if batch:
        add_batch(product, ui)
    return product


def add_batch(product: Element, ui: PackIdentifier) -> None:
    """Append `Batch` (`Id`, `ExpDate`) to a `Product`."""
    element = sub(product, "Batch")
    sub(element, "Id", ui.batch)
    sub(element, "ExpDate", ui.expiry_raw)


def add_ui(parent: Element, ui: PackIdentifier) -> tuple[Element, Element]:
    """Append a request's `Product` and `Pack@sn` (`RequestData_Type`); return both."""
    return add_product(parent, ui), sub(parent, "Pack", sn=ui.serial)


def fault(code: str, reason: str, *, sender: bool) -> bytes:
    """A SOAP 1.2 fault: `Sender` (the request was wrong) or `Receiver`; subcode = NMVS code."""
    root = etree.Element(f"{{{SOAP_NS}}}Fault", nsmap=_NSMAP)
    fault_code = etree.SubElement(root, f"{{{SOAP_NS}}}Code")
    value = etree.SubElement(fault_code, f"{{{SOAP_NS}}}Value")
    value.text = "soap:Sender" if sender else "soap:Receiver"
    subcode = etree.SubElement(fault_code, f"{{{SOAP_NS}}}Subcode")
    etree.SubElement(subcode, f"{{{SOAP_NS}}}Value").text = f"typ:{code}"
    text = etree.SubElement(etree.SubElement(root, f"{{{SOAP_NS}}}Reason"), f"{{{SOAP_NS}}}Text")
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    text.text = reason
    detail = etree.SubElement(root, f"{{{SOAP_NS}}}Detail")
    sub(detail, "ReturnCode", code=code, desc=reason[:255])
    return envelope(root)


# -- parsing ------------------------------------------------------------------------------------


def parse_body(data: bytes) -> Element:
    """The single element in the SOAP body of `data` (SoapError if it is not a SOAP envelope)."""
    try:
        root = etree.fromstring(data, _PARSER)
    except (etree.LxmlError, ValueError) as error:
        raise SoapError(f"not well-formed XML: {error}") from None
    if root.getroottree().docinfo.doctype:
        raise SoapError("a SOAP message must not have a document type declaration")
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise SoapError(f"root element is {_name(root)}, not a SOAP 1.2 Envelope")
    bodies = root.findall(f"{{{SOAP_NS}}}Body")
    if len(bodies) != 1:
        raise SoapError("the envelope needs exactly one Body")
    children = [child for child in bodies[0] if isinstance(child.tag, str)]
    if len(children) != 1:
        raise SoapError("the SOAP Body needs exactly one element")
    return children[0]


def read_fault(element: Element) -> Fault | None:
    """The fault in a body element, or None when it is not a `soap:Fault`."""
    if element.tag != f"{{{SOAP_NS}}}Fault":
        return None
    subcode = element.findtext("soap:Code/soap:Subcode/soap:Value", namespaces=_NSMAP)
    reason = element.findtext("soap:Reason/soap:Text", namespaces=_NSMAP)
    code = (subcode or "").rpartition(":")[2].strip() or rc.ERROR
    return Fault(code, (reason or "").strip() or "SOAP fault without a reason")


def local_name(element: Element) -> str:
    """The element's name without namespace (SoapError when it is not in the WSDL namespace)."""
    tag = element.tag
    if not isinstance(tag, str) or not tag.startswith(f"{{{WSDL_NS}}}"):
        raise SoapError(f"unexpected body element {_name(element)}")
    return tag[len(WSDL_NS) + 2 :]


def child(parent: Element, path: str) -> Element:
    """The element at `path` (slash-separated types-namespace names); SoapError if missing."""
    found = optional_child(parent, path)
    if found is None:
        raise SoapError(f"missing element {path}")
    return found


def optional_child(parent: Element, path: str) -> Element | None:
    """The element at `path`, or None."""
    return parent.find(_path(path))


def children(parent: Element, name: str) -> list[Element]:
    """All direct types-namespace children called `name`."""
    return list(parent.findall(_path(name)))


def text(parent: Element, path: str) -> str:
    """The stripped text at `path`; SoapError if the element is missing or empty."""
    value = optional_text(parent, path)
    if not value:
        raise SoapError(f"missing or empty element {path}")
    return value


def optional_text(parent: Element, path: str) -> str | None:
    """The stripped text at `path`, or None when the element is missing."""
    found = optional_child(parent, path)
    if found is None:
        return None
    return str(found.text or "").strip()


def attribute(element: Element, name: str) -> str:
    """An attribute's value, qualified (`typ:name`) or not; SoapError if missing."""
    value = optional_attribute(element, name)
    if value is None:
        raise SoapError(f"missing attribute {name} on {_name(element)}")
    return value


def optional_attribute(element: Element, name: str) -> str | None:
    """An attribute's value, qualified (`typ:name`) or not, or None."""
    value = element.get(f"{{{TYPES_NS}}}{name}")
    if value is None:
        value = element.get(name)
    return None if value is None else str(value)


def read_ui(parent: Element, *, this_year: int) -> PackIdentifier:
    """The pack identifier in `Product` and `Pack@sn` under `parent`."""
    return read_product(child(parent, "Product"), attribute(child(parent, "Pack"), "sn"), this_year)


def read_product(product: Element, serial: str, this_year: int) -> PackIdentifier:
    """The identifier of pack `serial` of a `Product` (`ProductCode@scheme`, `NHRN`?, `Batch`)."""
    scheme, code = read_product_code(product)
    expiry_raw = text(product, "Batch/ExpDate")
    return PackIdentifier(
        scheme=scheme,
        product_code=code,
        serial=serial,
        batch=text(product, "Batch/Id"),
        expiry=parse_yymmdd(expiry_raw, this_year).value,
        expiry_raw=expiry_raw,
        nhrn=optional_text(product, "NHRN"),
    )


def read_product_code(product: Element) -> tuple[Scheme, str]:
    """The scheme and code of a `Product`'s `ProductCode@scheme`."""
    code = child(product, "ProductCode")
    scheme = attribute(code, "scheme")
    if scheme not in ("GTIN", "PPN"):
        raise SoapError(f"product code scheme {scheme!r} is not GTIN or PPN")
    return ("GTIN" if scheme == "GTIN" else "PPN"), str(code.text or "").strip()


@functools.cache
def _path(path: str) -> str:
    """`A/B` as the Clark names of types-namespace elements (no prefix map to resolve)."""
    return "/".join(f"{{{TYPES_NS}}}{part}" for part in path.split("/"))


def _name(element: Element) -> str:
    return str(etree.QName(element).localname) if isinstance(element.tag, str) else "?"
