"""`fmd-robot alerts` on a demo store: the register listed, a case worked to its close, refusals
as one line and exit 1, and the quarantine chute's inventory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from robot_controller.cli import app
from robot_controller.store import Store
from tests.support.alerts import raise_alert
from tests.support.packs import hub_pack

runner = CliRunner()
DEMO_LOCATION = "hospital-pharmacy-1"  # the demo's [site] location


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """A store the demo filled (half its packs suspect), and the demo's figures."""
    db = tmp_path_factory.mktemp("demo") / "demo.db"
    ran = runner.invoke(app, ["demo", "--packs", "40", "--suspect-rate", "0.5", "--robot", "sim",
                              "--hub", "mock", "--db", str(db), "--json"])  # fmt: skip
    assert ran.exit_code == 0, ran.stderr
    return db, json.loads(ran.stdout.splitlines()[-1])


@pytest.fixture
def site(tmp_path: Path, demo_store: tuple[Path, dict[str, int]]) -> Path:
    """A configuration on a copy of the demo's store (each test may change its copy)."""
    db, _ = demo_store
    for part in db.parent.glob(f"{db.name}*"):  # the store, its key and checkpoints
        copy = shutil.copytree if part.is_dir() else shutil.copy
        copy(part, tmp_path / part.name)
    config = tmp_path / "site.toml"
    config.write_text(
        f'[site]\nlocation = "{DEMO_LOCATION}"\n[store]\nurl = "sqlite:///{tmp_path / db.name}"\n',
        encoding="utf-8",
    )
    return config


def alerts(*args: str, config: Path) -> tuple[int, str, str]:
    result = runner.invoke(app, ["alerts", *args, "--config", str(config)])
    return result.exit_code, result.stdout, result.stderr


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def audit_events(config: Path) -> int:
    url = config.read_text(encoding="utf-8").split('url = "')[1].split('"')[0]
    store = Store.open(url, read_only=True)
    try:
        check = store.check_audit_chain()
    finally:
        store.close()
    assert check.ok
    return check.events


def test_the_register_lists_one_case_per_line_for_each_alert_with_its_pack_and_premises(
    site: Path, demo_store: tuple[Path, dict[str, int]]
) -> None:
    code, out, _ = alerts("list", "--json", config=site)
    assert code == 0
    cases = json_lines(out)
    assert len(cases) == demo_store[1]["alerts"] > 0
    for case in cases:
        assert case["state"] == "open"
        assert case["location"] == DEMO_LOCATION
        assert None not in (case["product_code"], case["serial"], case["batch"])
        assert str(case["alert_id"]).startswith("ALR-")
    code, out, _ = alerts("list", config=site)
    assert code == 0
    assert "Alert register" in out
    assert f"{len(cases)} cases, {len(cases)} not closed." in out


def test_a_case_is_investigated_then_closed_and_show_tells_its_story(site: Path) -> None:
    events = audit_events(site)
    code, out, err = alerts("transition", "1", "investigating", "--reason", "rescanning",
                            "--actor", "ann", config=site)  # fmt: skip
    assert (code, err) == (0, "")
    assert "alert 1 is now investigating, by ann" in out
    closing = ["--cause", "scanner-or-process-error", "--reason", "Caps Lock was on"]
    code, out, err = alerts("transition", "1", "closed", *closing, "--actor", "bob", config=site)
    assert (code, err) == (0, "")
    code, out, _ = alerts("show", "1", "--json", config=site)
    assert code == 0
    [case] = json_lines(out)
    assert (case["state"], case["cause"]) == ("closed", "scanner-or-process-error")
    steps = case["transitions"]
    assert isinstance(steps, list)
    assert [(s["from"], s["to"], s["actor"], s["reason"]) for s in steps] == [
        ("open", "investigating", "ann", "rescanning"),
        ("investigating", "closed", "bob", "Caps Lock was on"),
    ]
    code, out, _ = alerts("list", "--state", "closed", "--json", config=site)
    assert [c["id"] for c in json_lines(out)] == [1]
    assert audit_events(site) == events + 2
    code, out, _ = alerts("show", "1", config=site)
    assert code == 0
    assert "investigating → closed (scanner-or-process-error)" in out


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["1", "closed", "--reason", "done", "--actor", "ann"], "needs a cause (--cause): "),
        (["1", "closed", "--cause", "lost", "--reason", "r", "--actor", "a"],
         "'lost' is not a closing cause: scanner-or-process-error, undone-within-window"),
        (["1", "reopened", "--reason", "r", "--actor", "a"],
         "alert 1 is open: it can go to investigating or closed, not 'reopened'"),
        (["1", "investigating", "--reason", "", "--actor", "a"], "needs a reason"),
        (["1", "investigating", "--reason", "r", "--actor", " "], "needs the name of who"),
        (["999", "investigating", "--reason", "r", "--actor", "a"], "there is no alert 999"),
    ],
)  # fmt: skip
def test_a_refused_transition_is_one_line_exit_1_and_changes_nothing(
    site: Path, args: list[str], says: str
) -> None:
    events = audit_events(site)
    code, out, err = alerts("transition", *args, config=site)
    assert code == 1
    assert out == ""
    assert says in err
    assert len(err.strip().splitlines()) == 1
    assert audit_events(site) == events
    _, listed, _ = alerts("list", "--state", "open", "--json", config=site)
    assert 1 in [case["id"] for case in json_lines(listed)]


def test_a_closed_case_is_final_from_the_command_line(site: Path) -> None:
    code, _, _ = alerts("transition", "2", "closed", "--cause", "reported-to-authority",
                        "--reason", "seal tampered", "--actor", "ann", config=site)  # fmt: skip
    assert code == 0
    code, _, err = alerts("transition", "2", "investigating", "--reason", "r", "--actor", "bob",
                          config=site)  # fmt: skip
    assert code == 1
    assert "alert 2 is closed (reported-to-authority): a closed case is final" in err


def test_the_quarantine_inventory_lists_every_pack_in_the_chute_with_its_case(
    site: Path, demo_store: tuple[Path, dict[str, int]]
) -> None:
    code, out, _ = alerts("quarantine", "--json", config=site)
    assert code == 0
    packs = json_lines(out)
    assert len(packs) == demo_store[1]["quarantined"] > 0
    with_case = [p for p in packs if p["alert"] is not None]
    assert len(with_case) == demo_store[1]["alerts"]
    for pack in packs:
        assert None not in (pack["why"], pack["since"], pack["product_code"], pack["serial"])
    for pack in with_case:
        case = pack["alert"]
        assert isinstance(case, dict)
        assert (pack["why"], case["token"], case["state"]) == ("alert", pack["token"], "open")
    code, out, _ = alerts("quarantine", config=site)
    assert code == 0
    assert f"{len(packs)} packs in the quarantine chute." in out


def test_no_command_creates_a_store_and_each_says_so_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    config = tmp_path / "site.toml"
    config.write_text(f'[site]\nlocation = "x"\n[store]\nurl = "sqlite:///{missing}"\n')
    move = ["transition", "1", "investigating", "--reason", "r", "--actor", "a"]
    for args in (["list"], ["show", "1"], ["quarantine", "--json"], move):
        code, out, err = alerts(*args, config=config)
        assert (code, out) == (2, ""), args
        assert len(err.strip().splitlines()) == 1
    assert not missing.exists()


def test_bad_arguments_are_usage_errors(site: Path) -> None:
    code, _, err = alerts("list", "--state", "escalated", config=site)
    assert code == 2
    assert "--state must be one of open, investigating, closed, not 'escalated'" in err
    code, _, err = alerts("show", "999", config=site)
    assert code == 2
    assert "there is no alert 999 in the register" in err


@pytest.mark.parametrize(
    ("option", "text"),
    [
        ("--reason", "cleared\x1b[2J"),  # a terminal escape: it would clear whoever's screen
        ("--reason", "line one\nline two"),
        ("--actor", "ann\u2028bob"),
    ],
)
def test_a_reason_or_name_that_is_not_one_line_of_text_is_refused(
    site: Path, option: str, text: str
) -> None:
    events = audit_events(site)
    given = {"--reason": "rescanned", "--actor": "ann", option: text}
    code, _, err = alerts("transition", "1", "investigating", "--reason", given["--reason"],
                          "--actor", given["--actor"], config=site)  # fmt: skip
    assert code == 2
    assert err.startswith(f"error: {option}: ")
    assert len(err.strip().splitlines()) == 1
    assert audit_events(site) == events


def test_what_the_hub_said_is_shown_as_it_is_never_as_markup(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fmd.db'}"
    store = Store.open(url, location="[bold]ward[/]")
    try:
        raise_alert(store, hub_pack("S[/]1"), 1)
    finally:
        store.close()
    config = tmp_path / "site.toml"
    config.write_text(f'[site]\nlocation = "x"\n[store]\nurl = "{url}"\n', encoding="utf-8")
    code, out, _ = alerts("show", "1", config=config)
    assert code == 0
    assert "[bold]ward[/]" in out
    code, out, _ = alerts("list", config=config)
    assert code == 0
    assert "S[/]1" in out
