"""The command line: `parse`, `demo` and `run`, as an operator or a script would use them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from robot_controller.cli import app
from robot_controller.config import ConfigError, load_config
from robot_controller.store import Store

runner = CliRunner()
V25 = "]d201041500375286431726123110ABC123<GS>71003752864<GS>21SN12345"
PARSE_KEYS = {
    "format", "scheme", "product_code", "serial", "batch", "expiry", "expiry_raw", "nhrn",
    "nhrn_ai", "submit", "problems",
}  # fmt: skip
DEMO_KEYS = {
    "packs", "shelved", "rejected", "quarantined", "alerts", "decommissioned", "unsafe",
    "misrouted", "held_back", "lost", "moved_twice", "elapsed_s", "packs_per_s", "db",
}  # fmt: skip


def test_parse_json_prints_exactly_the_documented_keys() -> None:
    result = runner.invoke(app, ["parse", "--json", V25])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert set(data) == PARSE_KEYS
    assert data["product_code"] == "04150037528643"
    assert (data["serial"], data["batch"], data["expiry"]) == ("SN12345", "ABC123", "2026-12-31")
    assert (data["nhrn"], data["nhrn_ai"], data["submit"]) == ("03752864", "710", True)


def test_parse_speaks_plain_words_to_people_while_json_keeps_its_keys() -> None:
    shown = runner.invoke(app, ["parse", V25]).stdout
    assert "sent to the hub" in shown
    assert "expiry as printed" in shown
    assert "national number (NHRN)" in shown
    for key in ("submit", "expiry_raw", "nhrn_ai", "True"):
        assert key not in shown


def test_parse_spells_control_characters_several_ways() -> None:
    for raw in (V25, V25.replace("<GS>", "\\x1d"), V25.replace("<GS>", "<FNC1>")):
        result = runner.invoke(app, ["parse", "--json", raw])
        assert json.loads(result.stdout)["serial"] == "SN12345"


def test_parse_takes_a_substitute_separator() -> None:
    result = runner.invoke(app, ["parse", "--json", "--separator", "|", V25.replace("<GS>", "|")])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["batch"] == "ABC123"


def test_parse_reads_an_ifa_scan() -> None:
    raw = "[)><RS>06<GS>9N110375286414<GS>1T12345ABCD<GS>D150600<GS>S12345ABCDEF98765<RS><EOT>"
    data = json.loads(runner.invoke(app, ["parse", "--json", raw]).stdout)
    assert (data["format"], data["scheme"], data["product_code"]) == ("ifa", "PPN", "110375286414")


def test_parse_exits_1_for_a_scan_that_is_not_a_pack_ui() -> None:
    result = runner.invoke(app, ["parse", "--json", "hello world"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["submit"] is False


def test_parse_shows_problems_to_people() -> None:
    result = runner.invoke(app, ["parse", "010703206980498810032915210526"])
    assert result.exit_code == 1
    assert "error" in result.stdout


@pytest.mark.parametrize("args", [["parse"], ["parse", "--separator", "ab", "x"], ["nope"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert runner.invoke(app, args).exit_code == 2


@pytest.mark.parametrize("hub", ["soap", "rest", "mock"])
def test_demo_json_ends_with_one_line_of_figures(tmp_path: Path, hub: str) -> None:
    result = runner.invoke(
        app,
        ["demo", "--packs", "80", "--seed", "4", "--json", "--hub", hub,
         "--db", str(tmp_path / "demo.db")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(figures) == DEMO_KEYS
    assert figures["packs"] == 80
    assert (figures["misrouted"], figures["lost"]) == (0, 0)
    assert figures["shelved"] + figures["rejected"] + figures["quarantined"] == 80


def test_demo_in_community_mode_decommissions_nothing(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "demo",
            "--packs",
            "40",
            "--mode",
            "community",
            "--json",
            "--db",
            str(tmp_path / "demo.db"),
        ],
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["decommissioned"] == 0
    assert figures["misrouted"] == 0


def test_the_demo_names_each_pack_it_set_aside_and_why(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["demo", "--packs", "40", "--suspect-rate", "0.5", "--robot", "sim", "--hub", "mock",
         "--db", str(tmp_path / "demo.db")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    listed = result.stdout.split("Packs set aside", 1)[1]
    assert "quarantine chute" in listed
    assert "possible falsification" in listed or "no longer active" in listed


def test_demo_refuses_an_existing_store(tmp_path: Path) -> None:
    existing = tmp_path / "old.db"
    existing.write_bytes(b"")
    result = runner.invoke(app, ["demo", "--db", str(existing)])
    assert result.exit_code == 2
    assert "fresh store" in result.stderr


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fmd.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[site]\nlocation = "x"\nmode = "pharmacy"\n', "site.mode"),
        ('[site]\nlocation = "x"\ncolour = "blue"\n', "site.colour"),
        ('[site]\nlocation = "x"\n[pipeline]\nwindow = 0\n', "pipeline.window"),
        ("[site]\n", "site.location"),
        ("[site\n", "not valid TOML"),
    ],
)
def test_a_bad_config_is_one_clear_line_naming_the_key(
    tmp_path: Path, text: str, named: str
) -> None:
    result = runner.invoke(app, ["run", "--config", str(write_config(tmp_path, text))])
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert named in message
    assert "Traceback" not in message


def test_the_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FMD_SITE__MODE", "community")
    assert load_config().site.mode == "community"
    monkeypatch.setenv("FMD_SITE__MODE", "both")
    with pytest.raises(ConfigError, match=r"site\.mode"):
        load_config()


def test_a_missing_config_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


def test_run_finishes_the_packs_in_hand_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "fmd.db"
    config = write_config(
        tmp_path,
        f'[site]\nlocation = "ward-7"\n[store]\nurl = "sqlite:///{db}"\n'
        "[simulation]\npacks = 500\nscan_interval_ms = 20\n",
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "robot_controller", "run", "--config", str(config)],
        stderr=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    assert daemon.stderr is not None
    for line in daemon.stderr:
        if '"pack.routed"' in line:
            break
    time.sleep(0.3)
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=30) == 0
    store = Store.open(f"sqlite:///{db}")
    try:
        summary = store.summary()
    finally:
        store.close()
    assert 0 < summary["packs"] < 500
    assert summary["lost"] == 0


def test_sim_hub_serves_until_sigterm_and_says_where() -> None:
    import ssl

    import httpx

    env = {**os.environ, "COLUMNS": "200"}
    sim = subprocess.Popen(
        [sys.executable, "-m", "robot_controller", "sim", "hub", "--packs", "5"],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert sim.stdout is not None
    lines = [sim.stdout.readline() for _ in range(4)]
    rest = next(line.split()[1] for line in lines if line.startswith("REST"))
    ca = next(line.split()[1] for line in lines if line.startswith("CA"))
    stats = httpx.get(
        rest.replace("/rest", "/admin/stats"), verify=ssl.create_default_context(cafile=ca)
    ).json()
    assert stats["transactions"] == 0
    sim.send_signal(signal.SIGTERM)
    assert sim.wait(timeout=20) == 0


@pytest.mark.parametrize(
    ("command", "said"),
    [(["run"], "goes to [log] file"), (["sim", "hub"], "Print the [hub] section")],
)
def test_a_config_section_named_in_a_help_text_is_shown_not_taken_for_markup(
    command: list[str], said: str
) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert said in " ".join(result.output.split())
