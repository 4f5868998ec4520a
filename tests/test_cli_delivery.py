"""`fmd-robot delivery check FILE`: a delivery verified in bulk before loading, each pack judged
as loading would judge it, so stores staff set the suspects aside first."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from typer.testing import CliRunner

from fmd.codes import PackIdentifier, parse_scan
from fmd.codes.encode import encode_gs1
from fmd.hub import BulkItem, BulkResult, HubResult, MockHub, PackState
from fmd.hub.contract import UNANSWERED
from fmd.policy import OfflinePolicy, SitePolicy
from robot_controller.cli import app
from robot_controller.cli_delivery import (
    NotAScan,
    Scanned,
    Verdict,
    ask_hub,
    judge,
    needs_hub,
    read_lines,
)
from scanners.scan_text import Garbage
from simulators.delivery import Kind, generate_delivery
from tests.support.packs import hub_pack
from tests.support.relay import RelayClient

runner = CliRunner()
TODAY = datetime.now(UTC).date()
ROW_KEYS = {
    "line", "raw", "scheme", "product_code", "batch", "serial", "expiry_raw", "verdict", "why",
    "message", "instruction",
}  # fmt: skip
EXPECTED = {
    Kind.GENUINE: Verdict.SHELVE,
    Kind.EXPIRED: Verdict.REFUSE,
    Kind.DAMAGED: Verdict.RESCAN,
}  # every other kind of suspect: quarantine


def written_delivery(folder: Path, packs: int, seed: int, suspect_rate: float) -> Path:
    """`sim delivery`'s files and a site whose mock hub holds its master data; the config."""
    written = runner.invoke(app, [
        "sim", "delivery", "--out", str(folder / "delivery.json"),
        "--scans", str(folder / "scans.txt"), "--packs", str(packs), "--seed", str(seed),
        "--suspect-rate", str(suspect_rate),
    ])  # fmt: skip
    assert written.exit_code == 0, written.output
    return site(folder)


def site(folder: Path, hub_extra: str = "") -> Path:
    config = folder / "site.toml"
    config.write_text(
        f'[site]\nlocation = "hospital-pharmacy-1"\n[store]\nurl = "sqlite:///{folder}/fmd.db"\n'
        f'[hub]\nkind = "mock"\nmaster_data = "delivery.json"\n{hub_extra}',
        encoding="utf-8",
    )
    return config


def scans_of(path: Path) -> list[str]:
    """The raw scans of a file (GS inside a scan: `str.splitlines` would split there)."""
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line]


def check_json(config: Path, scans: Path) -> tuple[int, list[dict[str, object]]]:
    result = runner.invoke(app, ["delivery", "check", str(scans), "--config", str(config),
                                 "--json"])  # fmt: skip
    assert "Traceback" not in result.output
    return result.exit_code, [json.loads(line) for line in result.stdout.splitlines()]


def test_each_suspect_pack_of_a_delivery_is_named_before_loading(tmp_path: Path) -> None:
    config = written_delivery(tmp_path, packs=60, seed=3, suspect_rate=0.5)
    truth = generate_delivery(60, seed=3, suspect_rate=0.5, today=TODAY).packs
    code, rows = check_json(config, tmp_path / "scans.txt")

    assert code == 1
    assert [row["line"] for row in rows] == list(range(1, 61))
    assert all(set(row) == ROW_KEYS for row in rows)
    copied = {(p.ui.product_code, p.ui.serial) for p in truth if p.kind is Kind.DUPLICATE}
    for pack, row in zip(truth, rows, strict=True):
        expected = EXPECTED.get(pack.kind, Verdict.QUARANTINE)
        if (pack.ui.product_code, pack.ui.serial) in copied:
            expected = Verdict.QUARANTINE  # the original of a copied code is a suspect too
        assert row["verdict"] == expected, (pack.kind, row)
    assert {row["verdict"] for row in rows} == set(Verdict) - {Verdict.UNKNOWN}
    duplicated = [row for row in rows if row["why"] == "duplicate-in-delivery"]
    assert duplicated
    assert all("lines" in str(row["message"]) for row in duplicated)


def test_a_clean_delivery_exits_0_with_a_table_and_a_summary(tmp_path: Path) -> None:
    config = written_delivery(tmp_path, packs=5, seed=1, suspect_rate=0.0)
    result = runner.invoke(app, ["delivery", "check", str(tmp_path / "scans.txt"),
                                 "--config", str(config)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.count("load it") == 5
    for raw in scans_of(tmp_path / "scans.txt"):
        serial = parse_scan(raw).serial
        assert serial is not None
        assert serial in result.stdout  # whole, never cut
    assert "5 scans: 5 will be shelved; every pack can be loaded" in result.stdout


def test_garbage_lines_are_reported_with_the_scans_and_scans_may_spell_gs(tmp_path: Path) -> None:
    config = written_delivery(tmp_path, packs=2, seed=1, suspect_rate=0.0)
    first, second = scans_of(tmp_path / "scans.txt")
    scans = tmp_path / "mixed.txt"
    scans.write_bytes(
        first.encode() + b"\r\n"
        + b"\n   \n"  # blank lines are skipped
        + b"noise\x00\x07 on the line\n"
        + b"\xff\xfe not UTF-8 at all\n"
        + b"short\n"
        + second.replace("\x1d", "<GS>").encode() + b"\n"
    )  # fmt: skip
    code, rows = check_json(config, scans)
    assert code == 1
    assert [(row["line"], row["verdict"]) for row in rows] == [
        (1, "shelve"), (4, "rescan"), (5, "rescan"), (6, "rescan"), (7, "shelve"),
    ]  # fmt: skip
    assert [row["message"] for row in rows[1:4]] == [
        "not a scan: control characters",
        "not a scan: bytes not valid in the encoding",
        "not a scan: shorter than any pack code",
    ]
    assert rows[1]["raw"] == "noise\\x00\\x07 on the line"


def test_a_scan_the_parser_cannot_read_is_set_aside_in_the_parsers_own_words(
    tmp_path: Path,
) -> None:
    config = written_delivery(tmp_path, packs=1, seed=1, suspect_rate=0.0)
    scans = tmp_path / "lost-gs.txt"
    good = (tmp_path / "scans.txt").read_text(encoding="utf-8")
    scans.write_text(good + "hello world, not a pack\n", encoding="utf-8")
    code, rows = check_json(config, scans)
    assert code == 1
    expected = parse_scan("hello world, not a pack").errors[0].message
    assert (rows[1]["verdict"], rows[1]["message"]) == ("rescan", expected)


def test_an_empty_a_binary_and_a_missing_file_are_one_line_each(tmp_path: Path) -> None:
    config = written_delivery(tmp_path, packs=1, seed=1, suspect_rate=0.0)
    (tmp_path / "empty.txt").write_bytes(b"\n\n")
    (tmp_path / "binary.bin").write_bytes(bytes(range(256)) * 16)
    for name, says in (
        ("empty.txt", "holds no scans"),
        ("binary.bin", "is not a file of scans"),
        ("absent.txt", "cannot read"),
        (".", "cannot read"),
    ):
        result = runner.invoke(app, ["delivery", "check", str(tmp_path / name),
                                     "--config", str(config)])  # fmt: skip
        assert result.exit_code == 2, (name, result.output)
        assert says in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_packs_the_hub_did_not_answer_are_unknown_whatever_the_offline_policy(
    tmp_path: Path,
) -> None:
    written_delivery(tmp_path, packs=3, seed=1, suspect_rate=0.0)
    config = site(tmp_path, "timeout_rate = 1.0\n")
    text = config.read_text().replace("[store]", 'offline = "shelve_then_verify"\n[store]')
    config.write_text(text)
    code, rows = check_json(config, tmp_path / "scans.txt")
    assert code == 1
    assert [row["verdict"] for row in rows] == ["unknown"] * 3


def test_a_config_whose_hub_exists_only_in_a_simulation_is_refused(tmp_path: Path) -> None:
    scans = tmp_path / "scans.txt"
    scans.write_text("x" * 20 + "\n")
    result = runner.invoke(app, ["delivery", "check", str(scans)])
    assert result.exit_code == 2
    assert "simulated" in result.stderr


# -- the pure parts ------------------------------------------------------------------------------


def test_read_lines_keeps_line_numbers_and_judges_each_line() -> None:
    scan = encode_gs1(hub_pack("S1"))
    lines = read_lines(f"{scan}\n\nshort\n{scan}\r\n".encode())
    assert lines == [
        (1, scan),
        (3, NotAScan(Garbage.TOO_SHORT, "short")),
        (4, scan),
    ]


def test_judge_routes_as_loading_would_and_flags_a_serial_seen_twice() -> None:
    fresh, twice, gone = (
        hub_pack("FRESH1"),
        hub_pack("TWICE1"),
        hub_pack("OLD1", expiry_raw="200101"),
    )
    parsed = [parse_scan(encode_gs1(ui)) for ui in (fresh, twice, gone, twice)]
    scans = [Scanned(n, scan) for n, scan in enumerate(parsed, 1)]
    site = SitePolicy(mode="community")
    asked = needs_hub(scans, site, today=date(2026, 1, 1))
    assert [ui.serial for ui in asked] == ["FRESH1", "TWICE1"]  # each once; the expired one not
    answers = {ui: HubResult("ok", "NMVS_SUCCESS", state=PackState.ACTIVE) for ui in asked}
    rows = judge(scans, answers, site, today=date(2026, 1, 1))
    assert [(row.line, row.verdict, row.why) for row in rows] == [
        (1, Verdict.SHELVE, "verified"),
        (2, Verdict.QUARANTINE, "duplicate-in-delivery"),
        (3, Verdict.REFUSE, "expired"),
        (4, Verdict.QUARANTINE, "duplicate-in-delivery"),
    ]
    assert rows[1].message == "the same product code and serial are on lines 2, 4"


class LeavesTheLastOut(RelayClient):
    """A hub connection whose bulk answer leaves its last item out, as a hub may."""

    async def bulk(self, items: Sequence[BulkItem]) -> BulkResult:
        answered = await self.inner.bulk(items[:-1])
        left_out = HubResult("technical", UNANSWERED)
        return BulkResult(answered.hub_trx_id, (*answered.results, left_out))


async def test_a_pack_the_bulk_left_unanswered_is_verified_singly() -> None:
    hub = MockHub()
    packs = [hub_pack(f"SER{n}") for n in range(3)]
    hub.add_product(packs[0].product_code)
    hub.add_batch(packs[0].product_code, "B1", date(2028, 12, 31))
    for ui in packs:
        hub.add_pack(ui)
    answers = await ask_hub(LeavesTheLastOut(hub.client("here")), packs)
    assert [a.state if a else None for a in answers.values()] == [PackState.ACTIVE] * 3
    verifies = [t for ui in packs for t in hub.history(ui.product_code, ui.serial)]
    assert len(verifies) == 3  # two in the bulk, the last one on its own


def test_judge_without_any_answer_is_never_a_shelve() -> None:
    ui: PackIdentifier = hub_pack("NOANSWER1")
    scans = [Scanned(1, parse_scan(encode_gs1(ui)))]
    offline: OfflinePolicy
    for offline in ("quarantine", "shelve_then_verify"):
        site = SitePolicy(offline=offline)
        assert judge(scans, {}, site, today=date(2026, 1, 1))[0].verdict is Verdict.UNKNOWN


def test_a_video_of_the_delivery_is_checked_as_its_scans_are(tmp_path: Path) -> None:
    config = written_delivery(tmp_path, packs=3, seed=2, suspect_rate=0.1)
    video = tmp_path / "delivery.mkv"
    filmed = runner.invoke(app, ["sim", "camera", "--out", str(video), "--packs", "3",
                                 "--seed", "2", "--width", "640", "--height", "480"])  # fmt: skip
    assert filmed.exit_code == 0, filmed.output
    _, from_text = check_json(config, tmp_path / "scans.txt")
    _, from_video = check_json(config, video)
    assert [(r["serial"], r["verdict"]) for r in from_video] == [
        (r["serial"], r["verdict"]) for r in from_text
    ]
