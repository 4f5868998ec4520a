"""Encoders from a pack identifier to scan data, for tests, simulators and benchmarks."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from fmd.codes.ai import needs_separator
from fmd.codes.checks import gtin_check_digit, ppn_check_digits
from fmd.codes.envelope import EOT, HEADER, RS
from fmd.codes.gs1 import GS
from fmd.codes.model import PackIdentifier

__all__ = [
    "encode_digital_link",
    "encode_gs1",
    "encode_ifa",
    "gs1_values",
    "gtin_check_digit",
    "ppn_check_digits",
]

GS1_ORDER = ("01", "21", "17", "10")
IFA_ORDER = ("9N", "1T", "D", "S")


def gs1_values(ui: PackIdentifier) -> dict[str, str]:
    """The GS1 AIs of a UI with their data (the NHRN under its own AI when present)."""
    if ui.scheme != "GTIN":
        raise ValueError(f"a {ui.scheme} cannot be encoded with GS1 AIs")
    values = {"01": ui.product_code, "21": ui.serial, "17": ui.expiry_raw, "10": ui.batch}
    if ui.nhrn is not None:
        values[ui.nhrn_ai or "710"] = ui.nhrn
    return values


def encode_gs1(
    ui: PackIdentifier,
    *,
    order: Sequence[str] = GS1_ORDER,
    separator: str = GS,
    symbology: str | None = "]d2",
    trailing_separator: bool = False,
) -> str:
    """A GS1 element string: AIs in `order` (an NHRN not named in it goes last), a `separator`
    after each variable-length field that is not last, prefixed by `symbology`."""
    values = gs1_values(ui)
    keys = [ai for ai in order if ai in values]
    keys += [ai for ai in values if ai not in keys]
    parts: list[str] = [symbology or ""]
    for ai in keys:
        parts += (ai, values[ai])
        if needs_separator(ai) and ai != keys[-1]:
            parts.append(separator)
    if trailing_separator:
        parts.append(separator)
    return "".join(parts)


def encode_ifa(
    ui: PackIdentifier, *, order: Sequence[str] = IFA_ORDER, symbology: str | None = None
) -> str:
    """An ISO/IEC 15434 format 06 envelope with IFA data identifiers in `order`; a GTIN product
    code goes under 8P in the place of 9N."""
    product = "9N" if ui.scheme == "PPN" else "8P"
    values = {"1T": ui.batch, "D": ui.expiry_raw, "S": ui.serial}
    values |= dict.fromkeys(("9N", "8P"), ui.product_code)
    keys = [product if key in ("9N", "8P") else key for key in order]
    data = GS.join(key + values[key] for key in keys)
    return f"{symbology or ''}{HEADER}06{GS}{data}{RS}{EOT}"


def encode_digital_link(ui: PackIdentifier, domain: str = "https://id.example.org") -> str:
    """A GS1 Digital Link URI: /01/<gtin>/10/<lot>/21/<serial>?17=<expiry>[&<nhrn ai>=<nhrn>]."""
    values = gs1_values(ui)
    in_path = ("01", "10", "21")
    path = "/".join(f"{ai}/{quote(values[ai], safe='')}" for ai in in_path)
    query = "&".join(f"{ai}={quote(v, safe='')}" for ai, v in values.items() if ai not in in_path)
    return f"{domain.rstrip('/')}/{path}?{query}"
