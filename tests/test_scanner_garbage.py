"""Line noise on a serial scanner, over a real pty: random bytes never become a scan and are
reported in a few warnings, never one per fragment; genuine scans among the noise arrive exactly;
over-long and binary lines are dropped with a report; damaged but genuine scans still arrive."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from fmd.codes import parse_scan
from simulators.scanner import PROFILES, VirtualScanner
from tests.support.logs import Logs
from tests.support.scan_reader import reading
from tests.support.until import until

GS = "\x1d"
CODES = [f"]d201034531200000111730123110ABCD1234{GS}21SN{n:05d}" for n in range(12)]
CHECKED = ("baud rate", "parity", "suffix setting", "loose cable")


def noise(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def warnings(logs: Logs, event: str = "scanner.garbage") -> list[dict[str, object]]:
    return [dict(e) for e in logs if e["event"] == event]


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[VirtualScanner]:
    with VirtualScanner(link_dir=tmp_path / "by-id") as scanner:
        yield scanner


async def test_twenty_kilobytes_of_random_bytes_give_no_scan_and_a_few_warnings(
    sim: VirtualScanner, logs: Logs
) -> None:
    async with reading(str(sim.port)) as reader:
        await asyncio.to_thread(sim.write_bytes, noise(seed=10, size=20_000))
        assert await asyncio.to_thread(sim.drain)
    assert reader.scans == []
    reports = warnings(logs)
    assert 1 <= len(reports) <= 3  # one per burst, however many fragments
    assert sum(r["count"] for r in reports) == reader.scanner.stats.garbage > 20  # type: ignore[misc]
    for report in reports:
        assert str(report["first_bytes"]).isprintable()  # escaped, never raw bytes
        assert all(check in str(report["advice"]) for check in CHECKED)
    assert warnings(logs, "scanner.framing_hint") == []  # the CRs and LFs of noise are no hint
    assert len(logs) == len(reports)  # nothing else logged, nothing per fragment


async def test_random_bytes_among_genuine_scans_give_exactly_the_genuine_scans(
    sim: VirtualScanner, logs: Logs
) -> None:
    async with reading(str(sim.port)) as reader:
        for n, code in enumerate(CODES):
            await asyncio.to_thread(sim.write_bytes, noise(seed=n, size=300 + 97 * n))
            sim.type(code)
        sim.write_bytes(noise(seed=99, size=500))
        scans = await reader.wait_for(len(CODES))
        assert await asyncio.to_thread(sim.drain)
    assert [s.raw for s in scans] == CODES
    assert all(s.symbology_id == "]d2" for s in scans)
    assert 1 <= len(warnings(logs)) <= len(CODES) + 1  # at most one per stretch of noise


async def test_over_long_and_binary_lines_are_dropped_with_one_report(
    sim: VirtualScanner, logs: Logs
) -> None:
    async with reading(str(sim.port), max_line=1024) as reader:
        sim.write_bytes(b"0" * 300 + b"\r")  # printable, but longer than any pack code
        sim.write_bytes(CODES[0].encode().replace(b"ABCD", b"AB\x00\x7fCD") + b"\r")
        sim.write_bytes(b"1" * 5000 + b"\r")  # past the framer's bound
        sim.write_bytes(CODES[1].encode().replace(b"SN", b"S\xceN") + b"\r")  # a parity error
        sim.type(CODES[2])
        (scan,) = await reader.wait_for(1)
    assert scan.raw == CODES[2]
    (report,) = warnings(logs)
    assert report["count"] == 4
    assert report["why"] == (
        "longer than any pack code: 2, control characters: 1, bytes not valid in the encoding: 1"
    )
    assert report["first_bytes"] == "0" * 24 + " …"


@pytest.mark.parametrize(
    ("sent", "problem"),
    [
        (CODES[0].replace(GS, ""), "missing-separator"),  # a wedge lost the GS
        (CODES[0].swapcase(), "caps-lock"),
        (CODES[0].replace(GS, "|"), None),  # a GS substitute the site declares
        (CODES[0][:-5] + "3453120000011", "ean-appended"),
    ],
)
async def test_damaged_but_genuine_scans_still_arrive_for_the_operator_advice(
    sim: VirtualScanner, logs: Logs, sent: str, problem: str | None
) -> None:
    async with reading(str(sim.port)) as reader:
        sim.write_bytes(sent.encode() + b"\r")
        (scan,) = await reader.wait_for(1)
    assert scan.raw == sent
    problems = [p.code for p in parse_scan(scan.raw, separators=GS + "|").problems]
    assert problem in problems if problem else problems == []
    assert warnings(logs) == []


async def test_noise_then_silence_is_reported_once_the_line_is_quiet(
    sim: VirtualScanner, logs: Logs
) -> None:
    async with reading(str(sim.port), quiet_s=0.05) as reader:
        sim.write_bytes(noise(seed=3, size=2000) + b"\r")
        await until(lambda: bool(warnings(logs)))  # reported while the scanner still reads
        assert not reader.task.done()
        sim.type(CODES[0])
        await reader.wait_for(1)
    assert len(warnings(logs)) == 1


async def test_a_wrong_suffix_is_still_pointed_out_after_noise_that_held_line_ends(
    sim: VirtualScanner, logs: Logs
) -> None:
    async with reading(str(sim.port), suffix="CR") as reader:
        await asyncio.to_thread(sim.write_bytes, noise(seed=5, size=5000) + b"\r\n\r")
        sim.profile = PROFILES["crlf"]
        for code in CODES[:3]:
            sim.type(code)
        scans = await reader.wait_for(3)
    assert [s.raw for s in scans] == CODES[:3]
    (hint,) = warnings(logs, "scanner.framing_hint")
    assert 'set suffix "CRLF"' in str(hint["advice"])
