"""Pack identifiers as hub calls take them, for tests that build many packs by serial."""

from __future__ import annotations

from fmd.codes.model import PackIdentifier, Scheme

GTIN = "09506000134352"


def hub_pack(
    serial: str,
    batch: str = "B1",
    expiry_raw: str = "281231",
    *,
    product: str = GTIN,
    scheme: Scheme = "GTIN",
    nhrn: str | None = None,
) -> PackIdentifier:
    """A pack with only the printed expiry (`expiry` None): the hub is sent `expiry_raw`."""
    return PackIdentifier(scheme, product, serial, batch, None, expiry_raw, nhrn)
