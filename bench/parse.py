"""Benchmark: fmd.codes.parse_scan against biip on the same realistic GS1 pack scans.

Run: .venv/bin/python bench/parse.py [--n N] [--seed S]; prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import string
import time
from collections.abc import Sequence
from datetime import date

import biip

from fmd.codes import PackIdentifier, parse_scan
from fmd.codes.checks import gtin_check_digit, pzn_check_digit
from fmd.codes.encode import encode_gs1

AI_ORDERS = (
    ("01", "21", "17", "10"),
    ("01", "17", "10", "21"),
    ("01", "10", "17", "21"),
    ("01", "17", "21", "10"),
    ("21", "01", "10", "17"),
)
SERIAL_CHARS = string.ascii_uppercase + string.digits
BATCH_CHARS = string.ascii_uppercase + string.digits + "-."


def make_scans(n: int, seed: int) -> list[str]:
    """`n` GS1 DataMatrix scans: random GTINs (some German NTINs), serials, batches, expiry dates
    (some with DD=00), an NHRN on a fifth of them, several AI orders, with ']d2' on about half."""
    rng = random.Random(seed)
    scans = []
    for _ in range(n):
        pzn = _pzn(rng)
        if rng.random() < 0.3:
            body = "04150" + pzn
        else:
            body = "0" + "".join(rng.choices(string.digits, k=12))
        day = 0 if rng.random() < 0.05 else rng.randint(1, 28)
        ui = PackIdentifier(
            scheme="GTIN",
            product_code=body + gtin_check_digit(body),
            serial="".join(rng.choices(SERIAL_CHARS, k=rng.randint(8, 20))),
            batch="".join(rng.choices(BATCH_CHARS, k=rng.randint(3, 12))),
            expiry=None,
            expiry_raw=f"{rng.randint(25, 35):02d}{rng.randint(1, 12):02d}{day:02d}",
            nhrn=pzn if rng.random() < 0.2 else None,
            nhrn_ai="710",
        )
        symbology = "]d2" if rng.random() < 0.5 else None
        scans.append(encode_gs1(ui, order=rng.choice(AI_ORDERS), symbology=symbology))
    return scans


def _pzn(rng: random.Random) -> str:
    while True:
        body = "".join(rng.choices(string.digits, k=7))
        check = pzn_check_digit(body)
        if check is not None:
            return body + check


Fields = tuple[str | None, str | None, str | None, date | None]
AIS = ("01", "21", "10", "17")


def ours(scan: str) -> Fields:
    parsed = parse_scan(scan)
    return parsed.product_code, parsed.serial, parsed.batch, parsed.expiry


_BIIP_CONFIG = biip.ParseConfig(separator_chars=["\x1d"])


def theirs(scan: str) -> Fields:
    message = biip.parse(scan, config=_BIIP_CONFIG).gs1_message
    if message is None:
        return None, None, None, None
    product, serial, batch, expiry = (message.element_strings.get(ai=ai) for ai in AIS)
    return (
        product.value if product else None,
        serial.value if serial else None,
        batch.value if batch else None,
        expiry.date if expiry else None,
    )


def side_by_side(scans: Sequence[str], chunk: int = 500) -> tuple[list[Fields], float, float]:
    """Parse every scan with both parsers, alternating in chunks so that load from other processes
    weighs on both alike; the results of both and the seconds each took."""
    ours_seconds = theirs_seconds = 0.0
    agreed: list[Fields] = []
    for start in range(0, len(scans), chunk):
        part = scans[start : start + chunk]
        began = time.perf_counter()
        mine = [ours(scan) for scan in part]
        middle = time.perf_counter()
        other = [theirs(scan) for scan in part]
        ours_seconds += middle - began
        theirs_seconds += time.perf_counter() - middle
        agreed += (a for a, b in zip(mine, other, strict=True) if a == b)
    return agreed, ours_seconds, theirs_seconds


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__)
    arguments.add_argument("--n", type=int, default=100_000)
    arguments.add_argument("--seed", type=int, default=20160209)
    options = arguments.parse_args()
    scans = make_scans(options.n, options.seed)
    ours(scans[0]), theirs(scans[0])  # warm up imports and caches
    agreed, our_seconds, their_seconds = side_by_side(scans)
    submitted = sum(parse_scan(scan).submit for scan in scans)
    figures = {
        "n": options.n,
        "seed": options.seed,
        "ours_per_s": round(options.n / our_seconds),
        "biip_per_s": round(options.n / their_seconds),
        "ratio": round(their_seconds / our_seconds, 2),
        "agreement": round(len(agreed) / options.n, 6),
        "ours_us_per_scan": round(our_seconds / options.n * 1e6, 2),
        "biip_us_per_scan": round(their_seconds / options.n * 1e6, 2),
        "ours_submit_share": round(submitted / options.n, 6),
        "biip_version": biip.__version__,
        "python": platform.python_version(),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
