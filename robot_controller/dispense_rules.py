"""What a robot's OutputMessage says left it, and the words of a hand-out (pure).

Each pack that left is identified by its ScanCode when it is a pack's unique identifier (the
codec has already decoded its `\\xHH` escapes); else by its SerialNumber, BatchNumber and
ExpiryDate with the article id as the product code; else it is recorded unidentified.
"""

from __future__ import annotations

from dataclasses import dataclass

from fmd.codes import parse_scan
from fmd.codes.checks import is_valid_gtin, is_valid_ppn
from fmd.codes.encode import encode_gs1, encode_ifa
from fmd.codes.model import PackIdentifier, Scheme
from wwks2.messages import OutputMessage, OutputPack, OutputStatus

MANUAL_OUTPUT_ID = "1"
"""The Id of an OutputMessage the robot sends for an output started at its own terminal."""


@dataclass(frozen=True, slots=True)
class LeftPack:
    """One pack the robot reports output: its Pack Id, what is recorded as its scan, its
    identifier (None: none could be read, `problem` says why)."""

    robot_pack: int
    raw: str
    ui: PackIdentifier | None
    problem: str | None = None


def product_code_problem(code: str) -> str | None:
    """Why `code` is not a product code (None: a GTIN or PPN with right check digits)."""
    if is_valid_gtin(code) or is_valid_ppn(code):
        return None
    return f"--product {code!r} is not a product code (a GTIN or PPN with its check digits)"


def packs_left(message: OutputMessage, *, separators: str = "\x1d") -> list[LeftPack]:
    """Every pack the OutputMessage reports, in its order."""
    return [
        left_pack(article.id, pack, separators=separators)
        for article in message.articles
        for pack in article.packs
    ]


def left_pack(article_id: str | None, pack: OutputPack, *, separators: str = "\x1d") -> LeftPack:
    """One reported pack, identified as the module says."""
    scanned = _scanned(pack, separators)
    if scanned is not None:
        return scanned
    ui = _from_attributes(article_id, pack)
    if ui is not None:
        raw = pack.scan_code or (encode_gs1(ui) if ui.scheme == "GTIN" else encode_ifa(ui))
        return LeftPack(pack.id, raw, ui)
    raw = pack.scan_code or f"wwks2 output pack {pack.id} (article {article_id or '?'})"
    problem = (
        f"the robot's report of pack {pack.id} has no readable ScanCode and no serial, batch "
        "and expiry"
    )
    return LeftPack(pack.id, raw, None, problem)


def _scanned(pack: OutputPack, separators: str) -> LeftPack | None:
    if not pack.scan_code:
        return None
    parsed = parse_scan(pack.scan_code, separators=separators)
    if parsed.ui is None or not parsed.submit:
        return None
    return LeftPack(pack.id, pack.scan_code, parsed.ui)


def _from_attributes(article_id: str | None, pack: OutputPack) -> PackIdentifier | None:
    serial = pack.serial_number or pack.external_id
    if not (article_id and serial and pack.batch_number and pack.expiry_date):
        return None
    scheme: Scheme
    if is_valid_gtin(article_id):
        code, scheme = article_id.zfill(14), "GTIN"
    elif is_valid_ppn(article_id):
        code, scheme = article_id, "PPN"
    else:
        return None
    expiry = pack.expiry_date
    return PackIdentifier(scheme, code, serial, pack.batch_number, expiry, f"{expiry:%y%m%d}")


def shortfall(asked: int, message: OutputMessage) -> int:
    """How many packs fewer than `asked` left (0: all of them)."""
    left = sum(len(article.packs) for article in message.articles)
    return max(0, asked - left)


def ended(message: OutputMessage | None, asked: int) -> str | None:
    """Why the output did not give every pack asked for (None: it did), one line."""
    if message is None:
        return "no OutputMessage from the robot in time: look at its terminal for the output"
    status = message.details.status
    missing = shortfall(asked, message)
    if status is OutputStatus.COMPLETED and missing == 0:
        return None
    left = asked - missing
    if status is OutputStatus.ABORTED:
        return f"the robot aborted the output: {left} of {asked} packs left"
    return f"the output ended {status.value}: {left} of {asked} packs left ({missing} short)"
