"""`fmd-robot log search | pack | export` and `fmd-robot report` from the command line: their
output, files and exit codes, on a store opened read-only."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from robot_controller.cli import app
from robot_controller.store import Store
from simulators.delivery import Kind as PackKind
from tests.support.loaded_log import CLERK, Loaded, load_delivery

runner = CliRunner()


@pytest.fixture
async def loaded(store: Store) -> Loaded:
    return await load_delivery(store)


@pytest.fixture
def config(tmp_path: Path, store_url: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(f'[store]\nurl = "{store_url}"\n', encoding="utf-8")
    return path


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def fmd(config: Path, *args: str) -> tuple[int, list[str]]:
    result = runner.invoke(app, [*args, "--config", str(config)])
    return result.exit_code, result.stdout.splitlines()


def day(loaded: Loaded) -> str:
    return f"{loaded.started:%Y-%m-%d}"


async def test_log_search_json_is_one_pack_per_line(loaded: Loaded, config: Path) -> None:
    _, suspect = loaded.pack(PackKind.UNKNOWN_SERIAL)
    code, lines = fmd(config, "log", "search", "--serial", suspect.ui.serial, "--json")
    assert code == 0
    packs = [json.loads(line) for line in lines]
    assert len(packs) == 2  # scanned twice
    assert {p["serial"] for p in packs} == {suspect.ui.serial}
    assert {p["route"] for p in packs} == {"quarantined"}


async def test_log_search_as_a_table_names_the_packs(loaded: Loaded, config: Path) -> None:
    code, lines = fmd(config, "log", "search", "--actor", CLERK)
    assert code == 0
    assert "1 pack(s), newest first" in lines[0]


async def test_log_search_exit_codes(loaded: Loaded, config: Path) -> None:
    assert fmd(config, "log", "search", "--serial", "NO-SUCH-SERIAL")[0] == 1
    assert fmd(config, "log", "search", "--from", "2026-02-30")[0] == 2
    assert fmd(config, "log", "search", "--from", "2026-03-02", "--to", "2026-03-01")[0] == 2
    assert fmd(config, "log", "search", "--limit", "0")[0] == 2
    assert fmd(config, "log", "search", "--route", "lost")[0] == 2
    assert fmd(config, "log", "search", "--why", "because")[0] == 2
    assert fmd(config, "log", "search", "--from", day(loaded), "--to", day(loaded))[0] == 0


async def test_log_search_by_why(loaded: Loaded, config: Path) -> None:
    code, lines = fmd(config, "log", "search", "--why", "recalled", "--json")
    assert code == 0
    found = [json.loads(line) for line in lines]
    assert loaded.pack(PackKind.RECALLED)[0] in [row["token"] for row in found]
    assert {row["why"] for row in found} == {"recalled"}


async def test_log_pack_json_is_one_event_per_line_in_time_order(
    loaded: Loaded, config: Path
) -> None:
    _, suspect = loaded.pack(PackKind.UNKNOWN_SERIAL)
    code, lines = fmd(config, "log", "pack", suspect.ui.product_code, suspect.ui.serial, "--json")
    assert code == 0
    events = [json.loads(line) for line in lines]
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    kinds = {e["kind"] for e in events}
    assert {"scan", "problem", "hub", "decision", "alert", "alert-transition", "audit"} <= kinds
    rescan = [e for e in events if e["kind"] == "scan"][-1]
    assert rescan["raw"].endswith("\\x09")  # control characters spelled as `parse` reads them
    assert "<GS>" in rescan["raw"]


async def test_log_pack_of_an_unknown_pack_is_exit_1(loaded: Loaded, config: Path) -> None:
    assert fmd(config, "log", "pack", "09999999999999", "NOPE")[0] == 1


async def test_report_writes_csv_and_pdf_and_refuses_an_empty_period(
    loaded: Loaded, config: Path, tmp_path: Path
) -> None:
    span = ("--from", day(loaded), "--to", day(loaded))
    csv_file, pdf_file = tmp_path / "r.csv", tmp_path / "r.pdf"
    assert fmd(config, "report", *span, "--format", "csv", "--out", str(csv_file))[0] == 0
    assert csv_file.read_text(encoding="utf-8").startswith("report,summary")
    assert fmd(config, "report", *span, "--out", str(pdf_file), "--kind", "alerts")[0] == 0
    assert pdf_file.read_bytes().startswith(b"%PDF-")
    empty = tmp_path / "empty.pdf"
    code, _ = fmd(config, "report", "--from", "2020-01-01", "--to", "2020-01-31", "--out",
                  str(empty))  # fmt: skip
    assert code == 1
    assert not empty.exists()


async def test_report_usage_errors_are_exit_2(loaded: Loaded, config: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "r.pdf")
    assert fmd(config, "report", "--from", "yesterday", "--to", day(loaded), "--out", out)[0] == 2
    assert fmd(config, "report", "--from", day(loaded), "--to", "2020-01-01", "--out", out)[0] == 2
    assert fmd(config, "report", "--from", day(loaded), "--to", day(loaded), "--out",
               str(tmp_path / "r.txt"))[0] == 2  # fmt: skip
    assert fmd(config, "report", "--from", day(loaded), "--to", day(loaded), "--out",
               str(tmp_path / "no" / "folder.csv"))[0] == 2  # fmt: skip
    assert fmd(config, "report", "--to", day(loaded), "--out", out)[0] == 2
    assert not [name for name in names(tmp_path) if name.startswith("r.")]


async def test_log_export_writes_the_audit_events(
    loaded: Loaded, config: Path, tmp_path: Path
) -> None:
    path = tmp_path / "audit.csv"
    code, lines = fmd(config, "log", "export", "--out", str(path))
    assert code == 0
    rows = path.read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("seq,at,actor,action,subject")
    assert f"{len(rows) - 1} audit event(s) written" in lines[0]


async def test_an_out_that_is_no_file_is_refused_and_left_as_it_is(
    loaded: Loaded, config: Path, tmp_path: Path
) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    span = ("--from", day(loaded), "--to", day(loaded))
    assert fmd(config, "log", "export", "--out", str(fifo))[0] == 2
    assert fmd(config, "report", *span, "--out", str(fifo))[0] == 2
    assert fmd(config, "report", *span, "--format", "csv", "--out", str(tmp_path))[0] == 2
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert not [n for n in names(tmp_path) + names(tmp_path.parent) if n.endswith(".partial")]


def test_the_log_commands_never_create_a_store(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "none.db"}"\n', encoding="utf-8")
    assert fmd(config, "log", "search")[0] == 2
    assert fmd(config, "log", "pack", "1", "2")[0] == 2
    assert fmd(config, "report", "--from", "2026-01-01", "--to", "2026-01-02", "--out",
               str(tmp_path / "r.csv"))[0] == 2  # fmt: skip
    assert not (tmp_path / "none.db").exists()
