"""The JSON shape of a parsed scan, shared by `parse --json` and `scan --json`."""

from __future__ import annotations

from fmd.codes import ParsedScan


def parsed_as_json(parsed: ParsedScan) -> dict[str, object]:
    """The `parse --json` object: exactly the documented keys."""
    return {
        "format": parsed.format,
        "scheme": parsed.scheme,
        "product_code": parsed.product_code,
        "serial": parsed.serial,
        "batch": parsed.batch,
        "expiry": parsed.expiry.isoformat() if parsed.expiry else None,
        "expiry_raw": parsed.expiry_raw,
        "nhrn": parsed.nhrn,
        "nhrn_ai": parsed.nhrn_ai,
        "submit": parsed.submit,
        "problems": [p.as_json() for p in parsed.problems],
    }
