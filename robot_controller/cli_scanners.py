"""`fmd-robot scan` and `scanner-check` (an integrator's view of a scan source), and the
simulated scanner and camera (`fmd-robot sim scanner|camera`)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from fmd.codes import ParsedScan, parse_scan
from fmd.codes.escapes import show_controls, unescape_controls
from robot_controller.config import ConfigError
from robot_controller.console import err, fail, json_line, line, out
from robot_controller.parsed_json import parsed_as_json
from robot_controller.sources import SOURCE_HELP, source_config
from robot_controller.wiring import build_scanner
from scanners.base import Scan, Scanner, ScannerError
from scanners.check import CheckReport, check_scans
from simulators.camera import CONVEYOR, write_delivery_video
from simulators.delivery import generate_delivery
from simulators.scanner import PROFILES, run_virtual_scanner

SourceOption = Annotated[str, typer.Option("--source", help=SOURCE_HELP)]
SeparatorOption = Annotated[
    str | None, typer.Option(help="A substitute character the scanner sends for GS.")
]
BaudrateOption = Annotated[int, typer.Option(min=1, help="Serial baud rate.")]
SuffixOption = Annotated[str, typer.Option(help="Serial line suffix: CR, LF or CRLF.")]
DecoderOption = Annotated[str, typer.Option(help="Camera decoder: zxing or libdmtx.")]


def scan(
    source: SourceOption,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per scan.")] = False,
    count: Annotated[int | None, typer.Option(min=1, help="Stop after this many scans.")] = None,
    separator: SeparatorOption = None,
    baudrate: BaudrateOption = 9600,
    suffix: SuffixOption = "CR",
    decoder: DecoderOption = "zxing",
) -> None:
    """Print each scan live with its parsed fields and problems (Ctrl-C stops; a file ends)."""
    separators = _separators(separator)

    def show(item: Scan) -> None:
        parsed = parse_scan(item.raw, symbology=item.symbology_id, separators=separators)
        if as_json:
            json_line(scan_as_json(item, parsed))
            sys.stdout.flush()
        else:
            _show_scan(item, parsed)

    async def read_all() -> None:
        async with _opened(source, baudrate, suffix, decoder, separator) as scanner:
            await _each(scanner, show, count)

    _run(read_all)


def scanner_check(
    source: SourceOption,
    packs: Annotated[int, typer.Option(min=1, help="How many packs to scan.")] = 3,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for each scan.")] = 60,
    separator: SeparatorOption = None,
    baudrate: BaudrateOption = 9600,
    suffix: SuffixOption = "CR",
    decoder: DecoderOption = "zxing",
) -> None:
    """Scan a few genuine packs; report whether the AIM identifier and GS arrive, whether case or
    keyboard layout is altered, and what to change on the scanner. Exit 0 when all is well."""
    scans: list[Scan] = []

    async def collect() -> None:
        async with _opened(source, baudrate, suffix, decoder, None) as scanner:
            err.print(f"Scan {packs} different genuine packs now (GS1 DataMatrix codes).")
            iterator = aiter(scanner.scans())
            while len(scans) < packs:
                try:
                    scans.append(await asyncio.wait_for(anext(iterator), timeout))
                except (StopAsyncIteration, TimeoutError):
                    break
                err.print(f"  scan {len(scans)} of {packs} received")

    _run(collect)
    report = check_scans(scans, separators=_separators(separator))
    _show_check(report)
    raise typer.Exit(0 if report.ok else 1)


def scan_as_json(item: Scan, parsed: ParsedScan) -> dict[str, object]:
    """The `scan --json` object: the keys of `parse --json` plus source, symbology and at."""
    return {
        **parsed_as_json(parsed),
        "source": item.source,
        "symbology": parsed.symbology,
        "at": item.at.isoformat(),
    }


def _separators(separator: str | None) -> str:
    if separator is None:
        return "\x1d"
    character = unescape_controls(separator)
    if len(character) != 1:
        raise fail("--separator takes exactly one character")
    return "\x1d" + character


@asynccontextmanager
async def _opened(
    spec: str, baudrate: int, suffix: str, decoder: str, separator: str | None
) -> AsyncIterator[Scanner]:
    substitute = unescape_controls(separator) if separator else None
    try:
        config = source_config(
            spec, baudrate=baudrate, suffix=suffix, decoder=decoder, gs_substitute=substitute
        )
        scanner = build_scanner(config)
    except (ConfigError, ScannerError) as error:
        raise fail(str(error)) from None
    try:
        yield scanner
    finally:
        await scanner.aclose()


async def _each(scanner: Scanner, show: Callable[[Scan], None], count: int | None) -> None:
    seen = 0
    async for item in scanner.scans():
        show(item)
        seen += 1
        if count is not None and seen >= count:
            return


def _run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        err.print("stopped")
    except ScannerError as error:
        raise fail(str(error), code=1) from None


def _show_scan(item: Scan, parsed: ParsedScan) -> None:
    stamp = item.at.astimezone().strftime("%H:%M:%S.%f")[:-3]
    out.print(
        line(
            (f"{stamp} {item.source}", "dim"),
            f" {parsed.symbology or '—'} {show_controls(item.raw[:200])}",
        ),
        highlight=False,
    )
    if parsed.ui is not None:
        ui = parsed.ui
        expiry = ui.expiry.isoformat() if ui.expiry else ui.expiry_raw
        out.print(
            line(
                "  ",
                (f"{ui.scheme} {ui.product_code}", "green"),
                f" serial {ui.serial} batch {ui.batch} expiry {expiry}",
            ),
            highlight=False,
        )
    for problem in parsed.problems:
        colour = "red" if problem.severity == "error" else "yellow"
        out.print(line("  ", (problem.code, colour), f": {problem.message}"), highlight=False)
    if not parsed.submit:
        out.print(
            line("  ", ("not sent to the hub", "red"), " (the problems above say what to do)"),
            highlight=False,
        )


def _show_check(report: CheckReport) -> None:
    out.print(f"{report.scans} scans checked.", highlight=False)
    for finding in report.findings:
        mark = ("✓", "green") if finding.ok else ("✗", "red")
        out.print(line(mark, f" {finding.topic}: {finding.message}"), highlight=False)
        if finding.advice:
            out.print(f"    → {finding.advice}", highlight=False)
    verdict = ("the scanner is set up well", "green") if report.ok else ("change the above", "red")
    out.print(line(verdict), highlight=False)


def sim_scanner(
    profile: Annotated[str, typer.Option(help=f"Scanner set-up: {', '.join(PROFILES)}.")] = "good",
    packs: Annotated[int, typer.Option(min=1, help="Packs of a generated delivery to type.")] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the delivery.")] = 1,
    interval: Annotated[float, typer.Option(min=0.0, help="Seconds between scans.")] = 1.0,
    start_delay: Annotated[
        float, typer.Option(min=0.0, help="Seconds to start the reader before the first scan.")
    ] = 5.0,
) -> None:
    """A virtual serial scanner on a pty that types a delivery with a chosen set-up profile."""
    if profile not in PROFILES:
        raise fail(f"--profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    delivery = generate_delivery(packs, seed=seed)

    def announce(port: Path) -> None:
        out.print(
            f"virtual scanner ({profile}) on {port}; typing {packs} scans in {start_delay:g} s, "
            f"e.g. read them with: fmd-robot scan --source serial:{port}",
            highlight=False,
        )

    try:
        sent = run_virtual_scanner(
            delivery.raws,
            PROFILES[profile],
            interval_s=interval,
            start_delay_s=start_delay,
            announce=announce,
        )
    except KeyboardInterrupt:
        return
    out.print(f"{sent} scans typed; unplugged.", highlight=False)


def sim_camera(
    out_file: Annotated[Path, typer.Option("--out", help="The video to write (.mkv or .avi).")],
    packs: Annotated[int, typer.Option(min=1, help="Packs of a generated delivery.")] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the delivery and of the scene.")] = 1,
    width: Annotated[int, typer.Option(min=320, help="Frame width in pixels.")] = 1280,
    height: Annotated[int, typer.Option(min=240, help="Frame height in pixels.")] = 720,
    fps: Annotated[float, typer.Option(min=1.0, help="Frames per second.")] = 10.0,
) -> None:
    """Write a conveyor video of a delivery's DataMatrix codes, for `scan --source file:…`."""
    delivery = generate_delivery(packs, seed=seed)
    scene = replace(CONVEYOR, width=width, height=height)
    try:
        truth = write_delivery_video(out_file, delivery.raws, seed=seed, settings=scene, fps=fps)
    except (OSError, ValueError) as error:
        raise fail(str(error)) from None
    frames = truth[-1].last_frame + 1 if truth else 0
    out.print(
        f"{out_file}: {frames} frames of {width}×{height} at {fps:g} fps, {len(truth)} packs; "
        f"read it with: fmd-robot scan --source file:{out_file}",
        highlight=False,
    )
