"""The keyboard-wedge scanner: lines from a pipe or a file (a GS substitute turned back into GS),
and key events from a Linux input device (Shift, Caps Lock, Ctrl+] for GS, Enter)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from fmd.codes import parse_scan
from scanners.base import Scan, ScannerError
from scanners.keyboard import INPUT_EVENT, KeyboardScanner, KeyboardStats, KeyState
from simulators.scanner import ScannerProfile, VirtualScanner
from tests.support.keys import (
    CAPS_LOCK,
    CTRL,
    ENTER,
    F1,
    KP_ENTER,
    PLAIN,
    RIGHT_SHIFT,
    SHIFT,
    event,
    keystrokes,
    tap,
    with_key,
)
from tests.support.logs import Logs
from tests.support.until import until

CODE = "]d201034531200000111730123110ABCD1234\x1d21SN12345"
CODE2 = "]d201034531200000111730123110ABCD1234\x1d21SN67890"


def typed(records: bytes) -> str:
    keys = KeyState(KeyboardStats())
    return "".join(
        keys.key(code, value) for _, _, _, code, value in INPUT_EVENT.iter_unpack(records)
    )


async def all_scans(scanner: KeyboardScanner) -> list[Scan]:
    async with asyncio.timeout(3):
        return [scan async for scan in scanner.scans()]


@pytest.fixture
def pipe() -> Iterator[tuple[BinaryIO, int]]:
    read_end, write_end = os.pipe()
    stream = os.fdopen(read_end, "rb")
    try:
        yield stream, write_end
    finally:
        stream.close()
        with contextlib.suppress(OSError):  # the test closed it already
            os.close(write_end)


# -- key events ----------------------------------------------------------------------------------


def test_shift_types_upper_case_and_the_shifted_signs() -> None:
    assert typed(keystrokes("]d2 ABC-abc_1!")) == "]d2 ABC-abc_1!"
    assert typed(with_key(RIGHT_SHIFT, tap(PLAIN["a"]) + tap(PLAIN["1"]))) == "A!"


def test_caps_lock_swaps_the_case_of_letters_only() -> None:
    records = tap(CAPS_LOCK) + keystrokes("ab1") + with_key(SHIFT, tap(PLAIN["a"]))
    records += tap(CAPS_LOCK) + keystrokes("c")
    assert typed(records) == "AB1ac"


def test_ctrl_bracket_is_gs_as_wedge_scanners_send_it() -> None:
    assert typed(with_key(CTRL, tap(PLAIN["]"]))) == "\x1d"
    assert typed(with_key(CTRL, with_key(SHIFT, tap(PLAIN["]"])))) == "\x1d"
    assert typed(with_key(CTRL, with_key(SHIFT, tap(PLAIN["6"])))) == "\x1e"  # RS
    assert typed(with_key(CTRL, tap(PLAIN["d"]))) == "\x04"  # EOT


def test_enter_and_keypad_enter_end_a_line_and_a_held_key_repeats() -> None:
    assert typed(tap(ENTER) + tap(KP_ENTER)) == "\n\n"
    assert typed(event(PLAIN["0"], 1) + event(PLAIN["0"], 2) + event(PLAIN["0"], 0)) == "00"


def test_unknown_keys_type_nothing_and_are_counted() -> None:
    stats = KeyboardStats()
    keys = KeyState(stats)
    records = tap(F1) + tap(PLAIN["a"]) + with_key(CTRL, tap(PLAIN["1"])) + tap(400)
    assert "".join(keys.key(c, v) for _, _, _, c, v in INPUT_EVENT.iter_unpack(records)) == "a"
    assert stats.unknown_keys == 3


async def test_a_device_of_key_events_yields_scans_with_gs(tmp_path: Path) -> None:
    device = tmp_path / "event-kbd"
    device.write_bytes(keystrokes(CODE + "\n") + tap(CAPS_LOCK) + keystrokes(CODE2.lower() + "\n"))
    scanner = KeyboardScanner(device=device)
    first, second = await all_scans(scanner)
    await scanner.aclose()
    assert first == Scan(CODE, "]d2", f"keyboard:{device}", first.at)
    assert second.raw == CODE2.upper()  # Caps Lock on: "]D2…", which the parser flags
    assert parse_scan(first.raw).submit


async def test_key_events_split_across_reads_are_put_together(tmp_path: Path, logs: Logs) -> None:
    fifo = tmp_path / "event-fifo"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR)  # a writer is there before the scanner opens it
    scanner = KeyboardScanner(device=fifo)
    scanner.open()
    task = asyncio.create_task(all_scans(scanner))
    records = keystrokes(CODE + "\n")
    for start in range(0, len(records), 1000):  # 1000 is not a multiple of 24
        os.write(writer, records[start : start + 1000])
        await asyncio.sleep(0.001)
    os.write(writer, keystrokes(CODE2[:10]))  # half a scan, then the device goes away
    os.close(writer)
    scans = await task
    await scanner.aclose()
    assert [s.raw for s in scans] == [CODE]
    assert [e["event"] for e in logs] == ["scanner.partial_line"]


async def test_aclose_ends_reading_a_silent_device_promptly(tmp_path: Path) -> None:
    fifo = tmp_path / "event-fifo"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR)
    try:
        scanner = KeyboardScanner(device=fifo)
        task = asyncio.create_task(all_scans(scanner))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await scanner.aclose()
        assert await asyncio.wait_for(task, 0.5) == []
        assert time.monotonic() - started < 0.5
    finally:
        os.close(writer)


def test_a_missing_device_is_named_in_one_line(tmp_path: Path) -> None:
    device = tmp_path / "event99"
    with pytest.raises(ScannerError, match=rf"{device}: no such device"):
        KeyboardScanner(device=device).open()


def test_permission_denied_says_to_join_the_input_group(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: object, flags: int) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(ScannerError, match="add the user to the input group"):
        KeyboardScanner(device=Path("/dev/input/event3")).open()


def test_a_character_device_that_is_not_an_input_device_cannot_be_grabbed() -> None:
    with pytest.raises(ScannerError, match="/dev/null: not an input event device"):
        KeyboardScanner(device=Path("/dev/null")).open()


async def test_a_device_at_the_end_of_its_input_ends_scans() -> None:
    scanner = KeyboardScanner(device=Path("/dev/null"), grab=False)
    assert await all_scans(scanner) == []
    await scanner.aclose()


# -- text streams --------------------------------------------------------------------------------


async def test_lines_from_a_pipe_with_a_gs_substitute(pipe: tuple[BinaryIO, int]) -> None:
    stream, writer = pipe
    scanner = KeyboardScanner(stream=stream, gs_substitute="|", source="keyboard:test")
    task = asyncio.create_task(all_scans(scanner))
    os.write(writer, CODE.replace("\x1d", "|").encode() + b"\n")
    await asyncio.sleep(0.01)
    os.write(writer, CODE2.replace("\x1d", "|").encode() + b"\r\n\n")
    os.close(writer)
    first, second = await task
    assert first == Scan(CODE, "]d2", "keyboard:test", first.at)
    assert second.raw == CODE2  # CR LF ends a line too
    assert parse_scan(second.raw).submit


async def test_lines_from_a_terminal_until_it_goes_away(tmp_path: Path) -> None:
    sim = VirtualScanner(ScannerProfile(separator="|", suffix="LF"), link_dir=tmp_path)
    with sim, sim.port.open("rb") as stream:
        scanner = KeyboardScanner(stream=stream, gs_substitute="|")
        scans = scanner.scans()
        sim.type(CODE)
        assert (await anext(scans)).raw == CODE
        sim.write_bytes(b"half a line")
        sim.unplug()  # the hangup discards the half line; the input ends
        assert [scan async for scan in scans] == []


async def test_random_bytes_on_a_terminal_give_no_scan_and_a_genuine_code_still_arrives(
    tmp_path: Path, logs: Logs
) -> None:
    sim = VirtualScanner(ScannerProfile(separator="|", suffix="LF"), link_dir=tmp_path)
    with sim, sim.port.open("rb") as stream:
        scanner = KeyboardScanner(stream=stream, gs_substitute="|")

        def noise_a_scan_and_away() -> None:
            sim.write_bytes(random.Random(7).randbytes(20_000))
            sim.type(CODE)
            sim.drain()
            sim.unplug()  # the input ends

        async def every_scan() -> list[str]:
            return [scan.raw async for scan in scanner.scans()]

        away = asyncio.to_thread(noise_a_scan_and_away)  # a thread: the pty holds a few kB
        raws, _ = await asyncio.gather(every_scan(), away)
    assert raws == [CODE]
    reports = [e for e in logs if e["event"] == "scanner.garbage"]
    assert 1 <= len(reports) <= 3
    assert sum(r["count"] for r in reports) == scanner.stats.garbage > 20
    assert len(logs) == len(reports)


async def test_garbage_then_silence_on_a_pipe_is_reported_while_the_scanner_waits(
    pipe: tuple[BinaryIO, int], logs: Logs
) -> None:
    stream, writer = pipe
    scanner = KeyboardScanner(stream=stream, quiet_s=0.05)
    task = asyncio.create_task(all_scans(scanner))
    os.write(writer, b"\x1b[A\x1b[B\x00\x00\n")
    await until(lambda: any(e["event"] == "scanner.garbage" for e in logs))
    os.write(writer, CODE.encode() + b"\n")  # the loop was never blocked by the silent pipe
    os.close(writer)
    assert [s.raw for s in await task] == [CODE]
    (warning,) = logs
    assert warning["first_bytes"] == "\\x1b[A\\x1b[B\\x00\\x00"


async def test_aclose_ends_reading_a_silent_pipe_promptly(pipe: tuple[BinaryIO, int]) -> None:
    stream, _ = pipe
    scanner = KeyboardScanner(stream=stream)
    task = asyncio.create_task(all_scans(scanner))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await scanner.aclose()
    assert await asyncio.wait_for(task, 0.5) == []
    assert time.monotonic() - started < 0.5
    assert not stream.closed  # a stream belongs to the caller


async def test_a_regular_file_is_read_to_its_end(tmp_path: Path, logs: Logs) -> None:
    path = tmp_path / "scans.txt"
    path.write_bytes(f"{CODE}\n\n{CODE2}\ncut off".encode())
    with path.open("rb") as stream:
        scanner = KeyboardScanner(stream=stream)
        scans = await all_scans(scanner)
    assert [s.raw for s in scans] == [CODE, CODE2]
    assert scans[0].source == f"keyboard:{path}"
    (partial,) = logs
    assert partial["event"] == "scanner.partial_line"  # a last line without a line end: unused
    assert scanner.stats.partial == 1


async def test_a_wrong_keyboard_layout_reaches_the_parser_and_binary_bytes_do_not(
    tmp_path: Path, logs: Logs
) -> None:
    path = tmp_path / "scans.txt"
    layout_damaged = "]d201034531200000111730123110ABCDß1234"
    path.write_bytes(
        layout_damaged.encode() + b"\n\xff\xfe0104150037\n" + CODE.encode() + b"\x01\n"
    )
    with path.open("rb") as stream:
        (layout,) = await all_scans(KeyboardScanner(stream=stream))
    assert layout.raw == layout_damaged  # UTF-8 decoded, for the parser's keyboard-layout check
    assert any(p.code == "keyboard-layout" for p in parse_scan(layout.raw).problems)
    (warning,) = logs  # not UTF-8, and a control character: one burst, never a scan
    assert warning["event"] == "scanner.garbage"
    assert warning["why"] == "bytes not valid in the encoding: 1, control characters: 1"
    assert warning["first_bytes"] == "\\xff\\xfe0104150037"
    assert "keyboard country" in warning["advice"]


def test_stdin_is_the_default_source() -> None:
    assert KeyboardScanner().source == "keyboard:stdin"


def test_bad_arguments_are_refused(tmp_path: Path, pipe: tuple[BinaryIO, int]) -> None:
    with pytest.raises(ValueError, match="not both"):
        KeyboardScanner(stream=pipe[0], device=tmp_path / "event0")
    with pytest.raises(ValueError, match="one character"):
        KeyboardScanner(gs_substitute="^]")
