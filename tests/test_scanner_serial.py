"""The serial scanner, with real pyserial on pseudo-terminals driven by the virtual scanner: each
scanner profile's scans arrive exactly, an unplugged scanner is reopened, bad input is reported
and never stops the scanner, and a port that cannot be opened says why in one line."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from fmd.codes import parse_scan
from scanners.base import Scan, ScannerError
from scanners.serial import SerialScanner, SerialSettings, open_error
from simulators.scanner import PROFILES, ScannerProfile, VirtualScanner, run_virtual_scanner
from tests.support.logs import Logs
from tests.support.scan_reader import Reader, reading
from tests.support.until import until

CODE = "]d201034531200000111730123110ABCD1234\x1d21SN12345"
CODE2 = "]d201034531200000111730123110ABCD1234\x1d21SN67890"
BODY = CODE[3:]  # without the AIM prefix


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[VirtualScanner]:
    with VirtualScanner(link_dir=tmp_path / "by-id") as scanner:
        yield scanner


@pytest.mark.parametrize(
    ("profile", "raw", "problems"),
    [
        ("good", CODE, ()),
        ("no-aim", BODY, ()),
        ("substitute", CODE.replace("\x1d", "|"), ()),
        ("crlf", CODE, ()),
        ("lf", CODE, ()),
        ("wedge-drops-gs", BODY.replace("\x1d", ""), ("missing-separator", "missing-serial")),
        ("caps-lock", CODE.swapcase(), ("caps-lock", "lowercase-data")),
    ],
)
async def test_each_scanner_profile_delivers_exactly_what_the_scanner_sent(
    tmp_path: Path, profile: str, raw: str, problems: tuple[str, ...]
) -> None:
    settings = PROFILES[profile]
    with VirtualScanner(settings, link_dir=tmp_path) as sim:
        port = str(sim.port)
        async with reading(port, suffix=settings.suffix) as reader:
            sim.type(CODE)
            sim.type(CODE2)
            first, second = await reader.wait_for(2)
    assert first.raw == raw
    assert second.raw == raw.replace("SN12345", "SN67890").replace("sn12345", "sn67890")
    assert first.symbology_id == (raw[:3] if raw.startswith("]") else None)
    assert first.source == f"serial:{port}"
    parsed = parse_scan(first.raw, separators="\x1d|")
    assert tuple(p.code for p in parsed.problems) == problems
    assert parsed.submit is (not problems)
    if not problems:
        assert parsed.ui is not None
        assert (parsed.ui.product_code, parsed.ui.serial) == ("03453120000011", "SN12345")


async def test_a_scanner_sending_crlf_to_a_cr_port_still_works_and_says_how_to_fix_it(
    sim: VirtualScanner, logs: Logs
) -> None:
    sim.profile = PROFILES["crlf"]
    async with reading(str(sim.port), suffix="CR") as reader:
        for _ in range(3):
            sim.type(CODE)
        scans = await reader.wait_for(3)
    assert [s.raw for s in scans] == [CODE] * 3
    hints = [e for e in logs if e["event"] == "scanner.framing_hint"]
    assert len(hints) == 1
    assert 'set suffix "CRLF"' in hints[0]["advice"]


async def test_unplug_mid_line_then_replug_reconnects_and_never_yields_the_partial_line(
    sim: VirtualScanner, logs: Logs
) -> None:
    async with reading(str(sim.port)) as reader:
        sim.type(CODE)
        await reader.wait_for(1)
        sim.write_bytes(CODE2[:25].encode())  # half a scan, then the cable is pulled
        assert await asyncio.to_thread(sim.drain)  # the reader has the half line
        sim.unplug()
        await until(lambda: reader.scanner.stats.partial == 1)
        await asyncio.sleep(0.15)  # a few failed reconnect attempts while unplugged
        sim.replug()
        await until(lambda: reader.scanner.stats.reconnects == 1)
        sim.type(CODE2)
        scans = await reader.wait_for(2)
    assert [s.raw for s in scans] == [CODE, CODE2]
    stats = reader.scanner.stats
    assert (stats.lines, stats.partial, stats.reconnects, stats.garbage) == (2, 1, 1, 0)
    events = [e["event"] for e in logs]
    assert events.index("scanner.disconnected") < events.index("scanner.reconnected")
    told = [e["event"] for e in logs if e["log_level"] == "warning" and "scanner." in e["event"]]
    assert told == [
        "scanner.disconnected",
        "scanner.partial_line",  # the half scan is lost: scan that pack again
        "scanner.reconnect_failed",
        "scanner.reconnected",
    ]
    (failed,) = [e for e in logs if e["event"] == "scanner.reconnect_failed"]  # reported once
    assert "is the scanner plugged in?" in failed["error"]
    (partial,) = [e for e in logs if e["event"] == "scanner.partial_line"]
    assert partial["first_bytes"].startswith("]d201")
    assert "scan the pack again" in partial["advice"]


async def test_the_scanner_reconnects_again_and_again(sim: VirtualScanner) -> None:
    async with reading(str(sim.port)) as reader:
        for n in range(1, 4):
            sim.unplug()
            sim.replug()
            await until(lambda: reader.scanner.stats.reconnects == len(reader.scans) + 1)
            sim.type(CODE)
            await reader.wait_for(n)


async def test_binary_garbage_is_reported_never_a_scan_and_the_next_scan_arrives(
    sim: VirtualScanner, logs: Logs
) -> None:
    async with reading(str(sim.port)) as reader:
        sim.write_bytes(b"\xf0\x8f\x00\xff\xe3\x1b0104150\r")
        sim.type(CODE)
        (scan,) = await reader.wait_for(1)
    assert scan.raw == CODE
    (warning,) = [e for e in logs if e["event"] == "scanner.garbage"]
    assert warning["first_bytes"] == "\\xf0\\x8f\\x00\\xff\\xe3\\x1b0104150"
    assert warning["count"] == 1
    assert "baud rate (9600) and parity (N)" in warning["advice"]
    assert reader.scanner.stats.garbage == 1


async def test_a_megabyte_without_suffix_is_reported_once_and_the_next_scan_arrives(
    sim: VirtualScanner, logs: Logs
) -> None:
    async with reading(str(sim.port)) as reader:
        await asyncio.to_thread(sim.write_bytes, b"0123456789" * 100_000 + b"\r")
        sim.type(CODE)
        scans = await reader.wait_for(1, timeout_s=10)
    assert [s.raw for s in scans] == [CODE]
    (warning,) = [e for e in logs if e["event"] == "scanner.garbage"]
    assert (warning["count"], warning["why"]) == (1, "longer than any pack code: 1")
    assert warning["bytes"] > 4096
    assert reader.scanner.stats.too_long == 1


async def test_aclose_ends_scans_promptly_and_closes_the_port(sim: VirtualScanner) -> None:
    async with reading(str(sim.port)) as reader:
        sim.type(CODE)
        await reader.wait_for(1)
    assert reader.task.done()
    assert reader.scanner.port is None
    again = SerialScanner(SerialSettings(str(sim.port)))
    again.open()  # the exclusive lock is released
    assert await Reader(again).close() < 0.5


async def test_aclose_before_any_read_closes_the_port(sim: VirtualScanner) -> None:
    scanner = SerialScanner(SerialSettings(str(sim.port)))
    scanner.open()
    await scanner.aclose()
    assert scanner.port is None
    assert [scan async for scan in scanner.scans()] == []


async def test_the_consumer_cancelled_mid_read_leaves_nothing_running(sim: VirtualScanner) -> None:
    scanner = SerialScanner(SerialSettings(str(sim.port)))
    reader = Reader(scanner)
    await until(lambda: scanner.port is not None)
    reader.task.cancel()
    await asyncio.gather(reader.task, return_exceptions=True)
    await asyncio.wait_for(scanner.aclose(), 0.5)
    assert scanner.port is None
    assert not [t for t in threading.enumerate() if t.name == f"scanner {scanner.source}"]


def test_a_port_that_does_not_exist_is_named_in_one_line() -> None:
    scanner = SerialScanner(SerialSettings("/dev/ttyNOPE7"))
    with pytest.raises(ScannerError) as raised:
        scanner.open()
    message = str(raised.value)
    assert "/dev/ttyNOPE7" in message
    assert "plugged in" in message
    assert "\n" not in message


def test_a_port_in_use_by_another_program_is_refused(sim: VirtualScanner) -> None:
    first = SerialScanner(SerialSettings(str(sim.port)))
    first.open()
    try:
        with pytest.raises(ScannerError, match=rf"{sim.port}: in use by another program"):
            SerialScanner(SerialSettings(str(sim.port))).open()
    finally:
        asyncio.run(first.aclose())


@pytest.mark.parametrize(
    ("url", "expected"),
    [("foo://bar", "not a valid port or URL"), ("socket://nohost", "not a valid port or URL")],
)
def test_a_bad_url_is_refused_in_one_line(url: str, expected: str) -> None:
    with pytest.raises(ScannerError, match=expected) as raised:
        SerialScanner(SerialSettings(url)).open()
    assert url in str(raised.value)


@pytest.mark.parametrize(
    ("number", "advice"),
    [
        (errno.EACCES, "add the user to the dialout group"),
        (errno.ENOENT, "is the scanner plugged in? check the port name"),
        (errno.EBUSY, "in use by another program"),
        (errno.ECONNREFUSED, "connection refused"),
        (errno.EIO, "cannot open"),
    ],
)
def test_each_open_failure_says_what_to_do(number: int, advice: str) -> None:
    cause = serial.SerialException(number, f"could not open port /dev/ttyUSB0: [Errno {number}]")
    assert open_error("/dev/ttyUSB0", cause).startswith("serial port /dev/ttyUSB0: ")
    assert advice in open_error("/dev/ttyUSB0", cause)


def test_a_refused_socket_names_the_url() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    url = f"socket://127.0.0.1:{port}"
    with pytest.raises(ScannerError, match=rf"{url}: connection refused"):
        SerialScanner(SerialSettings(url)).open()


@pytest.mark.parametrize(
    "wrong",
    [{"parity": "X"}, {"stopbits": 3}, {"bytesize": 9}, {"suffix": "TAB"}, {"baudrate": 0},
     {"max_line": 0}, {"encoding": "klingon"},
     {"reconnect_initial_s": 5.0, "reconnect_max_s": 1.0}],
)  # fmt: skip
def test_bad_settings_are_refused(wrong: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(wrong)).split("_")[0]):
        SerialSettings("/dev/ttyACM0", **wrong)  # type: ignore[arg-type]


async def test_a_loop_url_works() -> None:
    scanner = SerialScanner(SerialSettings("loop://", suffix="CRLF"))
    scanner.open()
    assert scanner.port is not None
    scanner.port.write(CODE.encode() + b"\r\n" + b"half")
    reader = Reader(scanner)
    (scan,) = await reader.wait_for(1)
    assert await reader.close() < 0.5
    assert scan == Scan(CODE, "]d2", "serial:loop://", scan.at)


async def test_a_socket_url_works_and_reconnects_when_the_bridge_restarts() -> None:
    connected = asyncio.Queue[asyncio.StreamWriter]()

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await connected.put(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    url = f"socket://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server, reading(url) as reader:
        bridge = await asyncio.wait_for(connected.get(), 1.0)
        bridge.write(CODE.encode() + b"\r")
        await reader.wait_for(1)
        bridge.close()  # the serial-to-network bridge restarts
        bridge = await asyncio.wait_for(connected.get(), 3.0)
        await until(lambda: reader.scanner.stats.reconnects == 1)
        bridge.write(CODE2.encode() + b"\r")
        scans = await reader.wait_for(2)
        bridge.close()
    assert [s.raw for s in scans] == [CODE, CODE2]
    assert scans[0].source == f"serial:{url}"


def test_profiles_render_the_bytes_a_scanner_sends() -> None:
    assert PROFILES["good"].render(CODE) == CODE.encode() + b"\r"
    assert PROFILES["no-aim"].render("]d1" + BODY) == BODY.encode() + b"\r"
    assert PROFILES["no-aim"].render(BODY) == BODY.encode() + b"\r"
    assert PROFILES["crlf"].render(CODE).endswith(b"45\r\n")
    assert ScannerProfile(separator="|", suffix="LF").render(CODE) == (
        CODE.replace("\x1d", "|").encode() + b"\n"
    )
    assert PROFILES["caps-lock"].render("]d2 abc") == b"]D2 ABC\r"


def test_a_scanner_with_the_aim_prefix_on_sends_it_with_every_scan() -> None:
    assert PROFILES["good"].render(BODY) == b"]d2" + BODY.encode() + b"\r"
    assert PROFILES["good"].render("]d1" + BODY).startswith(b"]d1")  # the scan's own is kept
    envelope = "[)>\x1e06\x1d9N110375286414\x1d1T12345ABCD\x1e\x04"
    assert PROFILES["good"].render(envelope).startswith(b"]d1[)>")


def test_the_port_link_follows_the_scanner_across_replugs(sim: VirtualScanner) -> None:
    first = sim.device
    assert first is not None
    assert sim.port.resolve() == Path(first)
    sim.unplug()
    assert not sim.port.exists()
    assert sim.device is None
    with pytest.raises(RuntimeError, match="unplugged"):
        sim.type(CODE)
    sim.replug()
    assert sim.device is not None
    assert sim.port.resolve() == Path(sim.device)


def test_what_is_written_before_the_reader_opens_stays_in_the_pty(sim: VirtualScanner) -> None:
    sim.type(CODE)  # no reader yet: no error, the bytes wait
    assert not sim.drain(timeout_s=0.05)
    assert sim.pending() == len(CODE) + 1
    fd = os.open(sim.port, os.O_RDONLY)
    try:
        assert os.read(fd, 100) == CODE.encode() + b"\r"
    finally:
        os.close(fd)
    assert sim.drain(timeout_s=0.5)


async def test_run_virtual_scanner_announces_its_port_then_scans_each_code(tmp_path: Path) -> None:
    opened: list[SerialScanner] = []

    def announce(port: Path) -> None:  # what an operator does: start the reader on that port
        scanner = SerialScanner(SerialSettings(str(port), suffix="CRLF"))
        scanner.open()
        opened.append(scanner)

    codes = [CODE, CODE2, CODE]
    run = asyncio.to_thread(
        run_virtual_scanner, codes, PROFILES["crlf"], interval_s=0.01, start_delay_s=0.05,
        link_dir=tmp_path, announce=announce,
    )  # fmt: skip
    sending = asyncio.ensure_future(run)
    await until(lambda: bool(opened))
    reader = Reader(opened[0])
    scans = await reader.wait_for(3)
    assert await sending == 3
    await reader.close()
    assert [s.raw for s in scans] == codes


def test_run_virtual_scanner_stops_when_asked(tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    assert run_virtual_scanner([CODE], link_dir=tmp_path, announce=lambda _: None, stop=stop) == 0
    assert list(tmp_path.iterdir()) == []  # the link is gone with the scanner


async def test_unplugging_during_a_blocked_write_ends_the_write(sim: VirtualScanner) -> None:
    writing = asyncio.ensure_future(asyncio.to_thread(sim.write_bytes, b"x" * 1_000_000))
    await asyncio.sleep(0.1)
    assert not writing.done()  # nobody reads: the pty is full
    sim.unplug()
    with pytest.raises(RuntimeError, match="unplugged"):
        await asyncio.wait_for(writing, 1.0)
