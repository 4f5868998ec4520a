"""WWKS2 messages to bytes and back. Pure: no I/O.

`encode` writes UTF-8 without BOM or XML declaration, the root `<WWKS Version="2.0" TimeStamp=…>`
with the lead element as its only child (the Rowa SDK finds the type in the first 125 bytes).
Strings are `\\xHH`-escaped, booleans `True`/`False`, dates `YYYY-MM-DD`, the timestamp UTC
`YYYY-MM-DDTHH:MM:SSZ` without fractions. `decode` reads one document (as the framer cuts it):
booleans in any case, `\\xHH` in either case; unknown attributes and elements are ignored (the
spec allows extras, M622 §6). The TimeStamp is checked but not returned: it is for logs only and
not monotonic on live robots. Every failure is one `Wwks2Error` line naming the element path and
the attribute.

A text field (an OutputRequest Label's Content, an UnprocessedMessage's Message) is written as
CDATA, as it is, and read back exactly: a `]]>` in it splits the section (`]]]]><![CDATA[>`). The
one change is the one every XML reader makes: a CR or CR LF reads as LF, so it is written LF.
"""

from __future__ import annotations

import dataclasses
import re
import types
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import cache
from typing import Any, Literal, TypeAlias, Union, get_args, get_origin, get_type_hints

from lxml import etree

from wwks2.errors import BadValue, MalformedXml, MissingPart, UnknownMessage, Unwritable
from wwks2.escaping import escape, unescape
from wwks2.messages import MESSAGES, Message

Element: TypeAlias = Any  # an lxml element (lxml has no type hints)

VERSION = "2.0"
_TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"
_TIMESTAMP_FORM = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_DATE_FORM = re.compile(r"\d{4}-\d{2}-\d{2}")
_DIGITS = re.compile(r"[0-9]+")
_INT_MAX = 2**63 - 1  # a whole number must fit a signed 64-bit integer (the store's, the SDK's)
_BOOLEANS = {"true": True, "false": False}
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    huge_tree=False,
    load_dtd=False,
    remove_comments=True,
    remove_pis=True,
)


@dataclasses.dataclass(frozen=True, slots=True)
class _Attribute:
    field: str
    xml: str
    kind: type
    required: bool
    also: str | None  # another spelling read when `xml` is absent


_Arity: TypeAlias = Literal["one", "optional", "many", "one_or_more"]


@dataclasses.dataclass(frozen=True, slots=True)
class _Child:
    field: str
    kind: type
    shape: _Arity


@dataclasses.dataclass(frozen=True, slots=True)
class _Layout:
    attributes: tuple[_Attribute, ...]
    children: tuple[_Child, ...]
    text: str | None  # the field holding the element's own text (CDATA)


@cache
def _layout(cls: type) -> _Layout:
    """The attributes, child elements and text field of an element class, in field order."""
    hints = get_type_hints(cls)
    attributes: list[_Attribute] = []
    children: list[_Child] = []
    text: str | None = None
    for spec in dataclasses.fields(cls):
        hint = hints[spec.name]
        required = spec.default is dataclasses.MISSING
        if spec.metadata.get("cdata"):
            text = spec.name
            continue
        if get_origin(hint) is tuple:
            many: _Arity = "one_or_more" if spec.metadata.get("one_or_more") else "many"
            children.append(_Child(spec.name, get_args(hint)[0], many))
            continue
        optional = get_origin(hint) in (Union, types.UnionType)
        kind = next(arg for arg in get_args(hint) if arg is not type(None)) if optional else hint
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            children.append(_Child(spec.name, kind, "optional" if optional else "one"))
        else:
            xml = spec.metadata.get("xml") or "".join(p.capitalize() for p in spec.name.split("_"))
            attributes.append(_Attribute(spec.name, xml, kind, required, spec.metadata.get("also")))
    return _Layout(tuple(attributes), tuple(children), text)


# -- writing -------------------------------------------------------------------------------------


def encode(message: Message, *, timestamp: datetime) -> bytes:
    """`message` as one WWKS document stamped `timestamp` (an aware datetime, written in UTC)."""
    if timestamp.tzinfo is None:
        raise ValueError("a WWKS timestamp must be an aware datetime")
    root = etree.Element("WWKS")
    root.set("Version", VERSION)
    root.set("TimeStamp", timestamp.astimezone(UTC).strftime(_TIMESTAMP))
    texts: list[str] = []
    _write(root, message, message.TAG, texts)
    written = bytes(etree.tostring(root, encoding="utf-8", xml_declaration=False))
    # Each text went out as a processing instruction naming its place in `texts`: nothing else in
    # the document can look like one (`<` in values is written `&lt;`), and one pass of `sub`
    # does not look into what it puts in.
    return _SLOT.sub(lambda match: _cdata(texts[int(match.group(1))]), written)


_SLOT_TARGET = "wwks2-text"
_SLOT = re.compile(rb"<\?" + _SLOT_TARGET.encode() + rb" ([0-9]+)\?>")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CR = re.compile("\r\n?")


def _cdata(text: str) -> bytes:
    section = _CR.sub("\n", text).replace("]]>", "]]]]><![CDATA[>")
    return f"<![CDATA[{section}]]>".encode()


def _write(parent: Element, item: Any, path: str, texts: list[str]) -> None:
    element = etree.SubElement(parent, item.TAG)
    layout = _layout(item.__class__)
    for attribute in layout.attributes:
        value = getattr(item, attribute.field)
        if value is None:
            continue
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise Unwritable(f"{path}: attribute {attribute.xml} is negative ({value})")
        try:
            element.set(attribute.xml, _text(value))
        except ValueError:
            raise Unwritable(
                f"{path}: attribute {attribute.xml} holds a character XML cannot carry"
            ) from None
    if layout.text is not None:
        text: str = getattr(item, layout.text)
        if _NOT_XML.search(text):
            raise Unwritable(f"{path}: the text holds a character XML cannot carry")
        element.append(etree.ProcessingInstruction(_SLOT_TARGET, str(len(texts))))
        texts.append(text)
    for child in layout.children:
        value = getattr(item, child.field)
        for each in value if isinstance(value, tuple) else () if value is None else (value,):
            _write(element, each, f"{path}/{each.TAG}", texts)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return escape(value)


# -- reading -------------------------------------------------------------------------------------


def decode(data: bytes) -> Message:
    """The message in one WWKS document (a `Wwks2Error` subclass if it cannot be used)."""
    root = _parse(data)
    if root.tag != "WWKS":
        raise MalformedXml(f"the root element is {_name(root)}, not WWKS")
    version = root.get("Version")
    if version is None:
        raise MissingPart("WWKS: attribute Version is missing")
    if version != VERSION:
        raise BadValue(f"WWKS: Version {_shown(version)} is not {VERSION!r}")
    stamp = root.get("TimeStamp")
    if stamp is None:
        raise MissingPart("WWKS: attribute TimeStamp is missing")
    _check_timestamp(stamp)
    lead = _lead(root)
    if lead is None:
        raise MissingPart("WWKS: the lead element is missing")
    kind = MESSAGES.get(lead.tag)
    if kind is None:
        raise UnknownMessage(f"unknown WWKS message type {_name(lead)}")
    message: Message = _read(lead, kind, kind.TAG)
    return message


def lead_element(text: str) -> str | None:
    """The lead element's name when `text` is a WWKS document (as an UnprocessedMessage embeds
    the message it could not process), else None."""
    try:
        root = _parse(text.encode())
    except MalformedXml:
        return None
    lead = _lead(root)
    return str(lead.tag) if root.tag == "WWKS" and lead is not None else None


def _parse(data: bytes) -> Element:
    try:
        root = etree.fromstring(data, _PARSER)
    except (etree.LxmlError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise MalformedXml(f"not well-formed XML: {reason}") from None
    if root.getroottree().docinfo.doctype:
        raise MalformedXml("a WWKS message must not have a document type declaration")
    return root


def _lead(root: Element) -> Element | None:
    return next((child for child in root if isinstance(child.tag, str)), None)


def _check_timestamp(text: str) -> None:
    try:
        if _TIMESTAMP_FORM.fullmatch(text) is None:
            raise ValueError(text)
        datetime.strptime(text, _TIMESTAMP)  # noqa: DTZ007 - only the form is checked
    except ValueError:
        raise BadValue(f"WWKS: TimeStamp {_shown(text)} is not YYYY-MM-DDTHH:MM:SSZ") from None


def _read(element: Element, cls: type, path: str) -> Any:
    layout = _layout(cls)
    values: dict[str, Any] = {}
    if layout.text is not None:
        values[layout.text] = element.text or ""
    for attribute in layout.attributes:
        text = element.get(attribute.xml)
        if text is None and attribute.also is not None:
            text = element.get(attribute.also)
        if text is None:
            if attribute.required:
                raise MissingPart(f"{path}: attribute {attribute.xml} is missing")
            continue
        values[attribute.field] = _value(text, attribute.kind, f"{path}: {attribute.xml}")
    for child in layout.children:
        tag: str = child.kind.TAG  # type: ignore[attr-defined]
        found = [_read(sub, child.kind, f"{path}/{tag}") for sub in element if sub.tag == tag]
        if not found and child.shape in ("one", "one_or_more"):
            raise MissingPart(f"{path}: element {tag} is missing")
        if child.shape in ("many", "one_or_more"):
            values[child.field] = tuple(found)
        elif found:
            values[child.field] = found[0]
    return cls(**values)


def _value(text: str, kind: type, where: str) -> Any:
    if kind is str:
        return unescape(text)
    if kind is bool:
        if text.lower() not in _BOOLEANS:
            raise BadValue(f"{where} {_shown(text)} is not True or False")
        return _BOOLEANS[text.lower()]
    if kind is int:
        if _DIGITS.fullmatch(text) is None:
            raise BadValue(f"{where} {_shown(text)} is not a whole number")
        if len(text.lstrip("0")) > len(str(_INT_MAX)) or int(text) > _INT_MAX:
            raise BadValue(f"{where} {_shown(text)} is over {_INT_MAX}")
        return int(text)
    if kind is date:
        try:
            if _DATE_FORM.fullmatch(text) is None:
                raise ValueError(text)
            return date.fromisoformat(text)
        except ValueError:
            raise BadValue(f"{where} {_shown(text)} is not a date YYYY-MM-DD") from None
    try:
        return kind(text)
    except ValueError:
        allowed = "|".join(member.value for member in kind)  # type: ignore[attr-defined]
        raise BadValue(f"{where} {_shown(text)} is not one of {allowed}") from None


def _shown(text: str) -> str:
    """A value the robot sent, quoted for an error line: control characters escaped, cut at
    `_SHOWN` characters (a 4 MiB value must not become a 4 MiB log line)."""
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "…")


_SHOWN = 64


def _name(element: Element) -> str:
    tag = element.tag if isinstance(element.tag, str) else "a non-element"
    return repr(tag[:64])
