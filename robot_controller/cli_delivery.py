"""`fmd-robot delivery check FILE`: verify a whole delivery in bulk before it is loaded and name
the packs loading would not shelve, so stores staff set suspects aside before they reach the
robot. Nothing changes at the hub: packs are verified only, never decommissioned.

Each pack is judged as the pipeline would judge it (`fmd.policy.decide`, the site's policy and
separators), with one more rule: a product code and serial on two lines of one delivery is a
suspect on each (a copied code). `judge` is the pure part: scans and answers in, rows out.
"""

from __future__ import annotations

import asyncio
import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.padding import Padding
from rich.text import Text

from fmd.codes import PackIdentifier, ParsedScan, parse_scan
from fmd.codes.escapes import show_controls, unescape_controls
from fmd.hub import BulkItem, HubAuthFailed, HubClient, HubResult, HubUnavailable
from fmd.hub.contract import UNANSWERED
from fmd.policy import Action, Decision, SitePolicy, Why, decide, decide_before_hub
from robot_controller.cli_common import ConfigOption, real_hub, settings_of
from robot_controller.config import Config, ConfigError
from robot_controller.console import fail, json_line, out
from robot_controller.logs import configure_logging
from robot_controller.pipeline import utc_now
from robot_controller.sources import VIDEO_SUFFIXES, source_config
from robot_controller.wiring import build_hub, build_scanner, login_refused
from scanners.base import ScannerError
from scanners.scan_text import Garbage, scan_text, shown

delivery_app = typer.Typer(help="A delivery, before it is loaded.", no_args_is_help=True)


class Verdict(StrEnum):
    """What loading would do with a pack (stable strings, as `--json` prints them)."""

    SHELVE = "shelve"
    REFUSE = "refuse"
    QUARANTINE = "quarantine"
    RESCAN = "rescan"
    UNKNOWN = "unknown"


LABELS = {
    Verdict.SHELVE: "will be shelved",
    Verdict.REFUSE: "will be refused",
    Verdict.QUARANTINE: "alert: quarantine",
    Verdict.RESCAN: "rescan / set aside",
    Verdict.UNKNOWN: "unknown: hub did not answer",
}
INSTRUCTIONS = {
    Verdict.SHELVE: "load it",
    Verdict.REFUSE: "set it aside: not for the shelf",
    Verdict.QUARANTINE: "quarantine it: a suspect pack",
    Verdict.RESCAN: "scan it again, or key it in (verify --manual)",
    Verdict.UNKNOWN: "set it aside; check again when the hub answers",
}
NOT_A_SCAN = "not-a-scan"
DUPLICATE_IN_DELIVERY = "duplicate-in-delivery"  # a copied code: each of its packs is a suspect
_NO_ANSWER = frozenset({Why.HUB_UNAVAILABLE, Why.SHELVED_UNVERIFIED, Why.HUB_LOGIN_FAILED})


@dataclass(frozen=True, slots=True)
class NotAScan:
    """A line no code reader sends: why, and its first bytes escaped."""

    why: Garbage
    shown: str


@dataclass(frozen=True, slots=True)
class Scanned:
    """One line of the file (for a video, one scan in reading order), parsed, or not a scan."""

    line: int
    scan: ParsedScan | NotAScan


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the report: the pack, what loading would do with it, and why."""

    line: int
    raw: str
    parsed: ParsedScan | None
    verdict: Verdict
    why: str
    message: str

    @property
    def instruction(self) -> str:
        return INSTRUCTIONS[self.verdict]

    def as_json(self) -> dict[str, object]:
        parsed = self.parsed
        return {
            "line": self.line,
            "raw": self.raw,
            "scheme": parsed.scheme if parsed else None,
            "product_code": parsed.product_code if parsed else None,
            "batch": parsed.batch if parsed else None,
            "serial": parsed.serial if parsed else None,
            "expiry_raw": parsed.expiry_raw if parsed else None,
            "verdict": self.verdict.value,
            "why": self.why,
            "message": self.message,
            "instruction": self.instruction,
        }


def read_lines(data: bytes) -> list[tuple[int, str | NotAScan]]:
    """The scans of a text file as `fmd-robot sim delivery` writes them and a script scanner
    reads them (one a line, GS as the byte or spelled `<GS>` or `\\x1d`; blank lines skipped),
    each with its line number; a line no code reader could have sent is `NotAScan`."""
    lines: list[tuple[int, str | NotAScan]] = []
    for number, line in enumerate(data.split(b"\n"), 1):
        line = line.removesuffix(b"\r")
        if not line.strip():
            continue
        try:
            text = unescape_controls(line.decode("utf-8")).encode("utf-8")
        except UnicodeDecodeError:
            lines.append((number, NotAScan(Garbage.UNDECODABLE, shown(line))))
            continue
        judged = scan_text(text, "utf-8")
        lines.append((number, NotAScan(judged, shown(line)) if isinstance(judged, Garbage)
                      else judged))  # fmt: skip
    return lines


def needs_hub(scans: Sequence[Scanned], site: SitePolicy, *, today: date) -> list[PackIdentifier]:
    """The pack identifiers whose route the hub decides (the local checks settle the rest),
    each once."""
    wanted: dict[PackIdentifier, None] = {}
    for item in scans:
        parsed = item.scan
        if isinstance(parsed, NotAScan) or parsed.ui is None:
            continue
        if decide_before_hub(parsed, site, today=today) is None:
            wanted[parsed.ui] = None
    return list(wanted)


def judge(
    scans: Sequence[Scanned],
    answers: Mapping[PackIdentifier, HubResult | None],
    site: SitePolicy,
    *,
    today: date,
) -> list[Row]:
    """What loading would do with each scan, given the hub's answers (a pack missing from
    `answers`, or None, had none); a product code and serial on two lines is a suspect on each."""
    lines_of: dict[tuple[str, str], list[int]] = defaultdict(list)
    for item in scans:
        ui = item.scan.ui if isinstance(item.scan, ParsedScan) else None
        if ui is not None:
            lines_of[(ui.product_code, ui.serial)].append(item.line)
    rows: list[Row] = []
    for item in scans:
        parsed = item.scan
        if isinstance(parsed, NotAScan):
            message = f"not a scan: {parsed.why.value}"
            rows.append(Row(item.line, parsed.shown, None, Verdict.RESCAN, NOT_A_SCAN, message))
            continue
        answer = answers.get(parsed.ui) if parsed.ui is not None else None
        decision = decide(parsed, answer, site, today=today)
        verdict, why, message = verdict_of(decision), decision.why.value, decision.message
        lines = lines_of[(parsed.ui.product_code, parsed.ui.serial)] if parsed.ui else []
        if verdict is Verdict.SHELVE and len(lines) > 1:
            verdict, why = Verdict.QUARANTINE, DUPLICATE_IN_DELIVERY
            message = f"the same product code and serial are on lines {', '.join(map(str, lines))}"
        rows.append(Row(item.line, show_controls(parsed.raw), parsed, verdict, why, message))
    return rows


def verdict_of(decision: Decision) -> Verdict:
    """The verdict of the pipeline's decision for a pack."""
    if decision.why in _NO_ANSWER:
        return Verdict.UNKNOWN
    if decision.action is Action.SHELVE:
        return Verdict.SHELVE
    if decision.why in (Why.UNREADABLE, Why.DAMAGED_SCAN):
        return Verdict.RESCAN
    if decision.action is Action.QUARANTINE:
        return Verdict.QUARANTINE
    return Verdict.REFUSE


def summary(rows: Sequence[Row]) -> str:
    """One line: how many packs of each verdict, and the lines to set aside."""
    counts = {verdict: sum(row.verdict is verdict for row in rows) for verdict in Verdict}
    parts = ", ".join(f"{n} {LABELS[verdict]}" for verdict, n in counts.items() if n)
    aside = [str(row.line) for row in rows if row.verdict is not Verdict.SHELVE]
    tail = f"; set aside lines {', '.join(aside)}" if aside else "; every pack can be loaded"
    return f"{len(rows)} scans: {parts}{tail}"


async def ask_hub(
    hub: HubClient, uis: Sequence[PackIdentifier], *, concurrency: int = 8
) -> dict[PackIdentifier, HubResult | None]:
    """Verify `uis` in one bulk (the client splits it as the hub's bulk carries it); those the
    bulk left unanswered (or answered only with a technical fault) are verified again singly.
    None for a pack that got no answer at all."""
    answers: dict[PackIdentifier, HubResult | None] = {}
    if not uis:
        return answers
    try:
        bulk = await hub.bulk([BulkItem(ui) for ui in uis])
        answers.update(zip(uis, bulk.results, strict=False))  # short: the rest had no answer
    except HubAuthFailed:
        raise
    except HubUnavailable:
        pass  # every pack is asked singly below
    slots = asyncio.Semaphore(concurrency)

    async def again(ui: PackIdentifier) -> None:
        async with slots:
            try:
                answers[ui] = await hub.verify(ui)
            except HubAuthFailed:
                raise
            except HubUnavailable:
                answers[ui] = None

    await asyncio.gather(*(again(ui) for ui in uis if _unanswered(answers.get(ui))))
    return answers


def _unanswered(result: HubResult | None) -> bool:
    return (
        result is None
        or result.return_code == UNANSWERED
        or result.outcome in ("technical", "rate_limited")
    )


async def _scans_of_video(path: Path, separators: str) -> list[Scanned]:
    scanner = build_scanner(source_config(f"file:{path}"))
    try:
        scanned: list[Scanned] = []
        async for item in scanner.scans():
            parsed = parse_scan(item.raw, symbology=item.symbology_id, separators=separators)
            scanned.append(Scanned(len(scanned) + 1, parsed))
        return scanned
    finally:
        await scanner.aclose()


def _parsed(text: str | NotAScan, separators: str) -> ParsedScan | NotAScan:
    return text if isinstance(text, NotAScan) else parse_scan(text, separators=separators)


def _scans_of(path: Path, separators: str) -> list[Scanned]:
    """The file's scans, parsed; a usage error for a file that holds none."""
    try:
        if path.suffix.lower() in VIDEO_SUFFIXES:
            scanned = asyncio.run(_scans_of_video(path, separators))
        else:
            lines = read_lines(path.read_bytes())
            scanned = [Scanned(n, _parsed(text, separators)) for n, text in lines]
    except OSError as error:
        raise fail(f"cannot read {path}: {error.strerror or error}") from None
    except (ConfigError, ScannerError) as error:
        raise fail(f"{path}: {error}") from None
    if not scanned:
        raise fail(f"{path} holds no scans")
    if all(isinstance(item.scan, NotAScan) for item in scanned):
        first = scanned[0]
        why = first.scan.why.value if isinstance(first.scan, NotAScan) else ""
        raise fail(
            f"{path} is not a file of scans: none of its {len(scanned)} lines is one "
            f"(line {first.line}: {why})"
        )
    return scanned


async def _answers(
    settings: Config, uis: Sequence[PackIdentifier]
) -> dict[PackIdentifier, HubResult | None]:
    hub = await build_hub(settings)
    try:
        return await ask_hub(hub, uis)
    finally:
        await hub.aclose()


@delivery_app.command("check")
def delivery_check(
    file: Annotated[
        Path,
        typer.Argument(
            help="The delivery's scans: a text file, one scan a line, as `fmd-robot sim "
            "delivery` writes it (or a video, as for `scan --source file:`).",
        ),
    ],
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per pack.")] = False,
) -> None:
    """Verify a delivery in bulk before loading and show which packs loading would not shelve,
    with what to do with each. Nothing is decommissioned.

    Exit 0 when every pack will be shelved, 1 when one will not or the hub did not answer,
    2 on usage or configuration errors.
    """
    settings = real_hub(settings_of(config))
    site, today = settings.site.policy(), utc_now().date()
    scanned = _scans_of(file, settings.site.separators)
    configure_logging(level="warning", stream=sys.stderr)
    try:
        answers = asyncio.run(_answers(settings, needs_hub(scanned, site, today=today)))
    except ConfigError as error:
        raise fail(str(error)) from None
    except HubAuthFailed as error:
        raise fail(str(login_refused(error))) from None
    rows = judge(scanned, answers, site, today=today)
    if as_json:
        for row in rows:
            json_line(row.as_json())
    else:
        _show(rows)
    raise typer.Exit(0 if all(row.verdict is Verdict.SHELVE for row in rows) else 1)


def _show(rows: Sequence[Row]) -> None:
    """One line per pack (its codes whole, never cut or folded), its verdict indented below."""
    header = ("line", "product", "batch", "serial")
    cells = [(str(row.line), *_codes(row)) for row in rows]
    widths = [max(len(text) for text in column) for column in zip(header, *cells, strict=True)]
    colours = {Verdict.SHELVE: "green", Verdict.UNKNOWN: "yellow"}

    def line(texts: Sequence[str]) -> str:
        aligned = [t.rjust(w) if n == 0 else t.ljust(w) for n, (t, w) in
                   enumerate(zip(texts, widths, strict=True))]  # fmt: skip
        return "  ".join(aligned).rstrip()

    out.print(Text(line(header), style="bold"), soft_wrap=True)
    for row, texts in zip(rows, cells, strict=True):
        out.print(Text(line(texts)), soft_wrap=True)
        verdict = Text(LABELS[row.verdict], style=colours.get(row.verdict, "red"))
        if row.verdict is not Verdict.SHELVE:
            verdict.append(f" ({row.message or row.why})")
        verdict.append(f": {row.instruction}")
        out.print(Padding(verdict, (0, 0, 0, widths[0] + 2)))
    out.print(Text(summary(rows)))


def _codes(row: Row) -> tuple[str, str, str]:
    parsed = row.parsed
    if parsed is None:  # not a scan: its first bytes, escaped
        return row.raw, "", ""
    return parsed.product_code or "—", parsed.batch or "—", parsed.serial or "—"
