"""The golden NMVS SOAP documents in `tests/wire/soap/`, as bytes or as transaction elements."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeAlias

from lxml import etree

Element: TypeAlias = Any  # an lxml element (lxml has no type hints)

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "wire" / "soap"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"

# No DTD, no entity expansion, no network: the documents are plain XML and must stay so.
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
)


def golden_names() -> tuple[str, ...]:
    """Every golden document's name (its file name without `.xml`), sorted."""
    return tuple(sorted(path.stem for path in GOLDEN_DIR.glob("*.xml")))


def golden(name: str) -> bytes:
    """The bytes of golden document `name`, e.g. `golden("G110Request")`."""
    path = GOLDEN_DIR / f"{name}.xml"
    if not path.is_file():
        raise ValueError(f"no golden document {name!r} in {GOLDEN_DIR}")
    return path.read_bytes()


def golden_element(name: str) -> Element:
    """The transaction element of golden document `name`: the single child of its soap:Body.

    Each call parses afresh, so a test may change the element it gets.
    """
    root = etree.fromstring(golden(name), _PARSER)
    if root.getroottree().docinfo.doctype:
        raise ValueError(f"golden document {name!r} has a DOCTYPE")
    body = root.find(f"{{{SOAP12_NS}}}Body")
    children = [] if body is None else [child for child in body if isinstance(child.tag, str)]
    if len(children) != 1:
        raise ValueError(
            f"golden document {name!r}: soap:Body has {len(children)} element children"
        )
    return children[0]
