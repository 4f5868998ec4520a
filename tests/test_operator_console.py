"""The operator console: what `run` runs, each pack with what to do, and `run` until a signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from rich.console import Console

from fmd.codes.model import PackIdentifier
from fmd.hub.resilient import HubHealth
from fmd.policy import Why
from robot_controller.config import load_config
from robot_controller.operator_console import (
    WHY_WORDS,
    Devices,
    OperatorConsole,
    describe,
    instruction,
)
from robot_controller.pipeline import Routed
from robot_controller.states import HandOutWhy, Route

CONFIG = Path(__file__).parents[1] / "config"
UI = PackIdentifier("GTIN", "09506000134352", "SN[bold red]1", "B1", date(2028, 12, 31), "281231")


def routed(route: Route, why: Why, *, flagged: bool = False, message: str = "") -> Routed:
    return Routed(1, route, why, UI, message, flagged)


def test_every_reason_has_plain_words() -> None:
    assert set(WHY_WORDS) == set(Why)


@pytest.mark.parametrize(
    ("route", "why", "words"),
    [
        (Route.SHELVED, Why.DECOMMISSIONED, "nothing to do"),
        (Route.REJECTED, Why.DAMAGED_SCAN, "scan it again"),
        (Route.REJECTED, Why.EXPIRED, "reject tray, it is not for the shelf"),
        (Route.QUARANTINED, Why.ALERT, "leave it in the quarantine chute"),
        (Route.QUARANTINED, Why.HUB_UNAVAILABLE, "did not answer"),
        (Route.RETURNED, Why.ROBOT_NOT_READY, "scan it again when loading resumes"),
    ],
)
def test_each_pack_comes_with_what_to_do_in_plain_words(route: Route, why: Why, words: str) -> None:
    assert words in instruction(routed(route, why))


def test_the_parsers_advice_reaches_the_bench() -> None:
    caps = routed(Route.REJECTED, Why.DAMAGED_SCAN, message="Caps Lock is on: turn it off")
    assert "(Caps Lock is on: turn it off): take it from the reject tray" in instruction(caps)
    bare = routed(Route.REJECTED, Why.UNREADABLE, message="NMVS_TE_XM_01")
    assert "NMVS_TE_XM_01" not in instruction(bare)


def test_a_flagged_pack_is_to_be_checked_whatever_its_route() -> None:
    told = instruction(routed(Route.SHELVED, Why.DECOMMISSIONED, flagged=True, message="undo it"))
    assert told.startswith("check this pack")
    assert "undo it" in told


def test_a_hand_out_is_taken_from_the_output_and_is_not_one_more_pack_loaded() -> None:
    view = OperatorConsole()
    view.routed(routed(Route.SHELVED, Why.DECOMMISSIONED))
    handed = Routed(1, Route.DISPENSED, HandOutWhy.HANDED_OUT, UI)
    view.routed(handed)
    assert instruction(handed) == "handed out by the robot: take it from the robot's output"
    assert not view.attention  # nobody need look at it
    assert view.summary() == (
        "1 packs: 1 shelved, 0 reject tray, 0 quarantine chute, 0 back to you, 1 handed out"
    )
    unknown = Routed(2, Route.DISPENSED, HandOutWhy.NOT_SHELVED_HERE, UI, "pack 2: …", True)
    view.routed(unknown)
    assert instruction(unknown).startswith("check this pack: handed out by the robot, but never")
    assert [pack for _, pack in view.attention] == [unknown]


def test_the_view_shows_untrusted_text_as_it_is_and_never_colour_alone() -> None:
    view = OperatorConsole()
    view.routed(routed(Route.QUARANTINED, Why.ALERT))
    view.routed(routed(Route.SHELVED, Why.DECOMMISSIONED))
    screen = Console(record=True, width=160)
    screen.print(view.view(Devices(HubHealth.BREAKER_OPEN, "robot stopped", ("serial scanner",))))
    text = screen.export_text()
    assert "SN[bold red]1" in text
    assert "⚠ QUARANTINE CHUTE" in text
    assert "✔ SHELVED" in text
    assert "AWAY: calls paused" in text
    assert "NOT READY: robot stopped" in text
    assert "2 packs: 1 shelved, 0 reject tray, 1 quarantine chute, 0 back to you" in text


@pytest.mark.parametrize(
    ("example", "words"),
    [
        ("soap-hub.example.toml", "Arvato SOAP v5, national system int-bp, user"),
        ("rest-hub.example.toml", "Solidsoft REST, https://api-gr-iqe.nmvo.eu/verification"),
    ],
)
def test_run_says_what_it_runs_in_plain_words(example: str, words: str) -> None:
    lines = describe(load_config(CONFIG / example))
    assert any(words in line for line in lines), lines
    assert [line.split()[0] for line in lines][:3] == ["site", "hub", "robot"]


def test_a_store_password_is_not_shown(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(
        '[site]\nlocation = "x"\n[store]\nurl = "postgresql://fmd:s3cret@db/fmd"\n'
        '[hub]\nkind = "mock"\n'
    )
    store_line = describe(load_config(path))[-1]
    assert store_line.endswith("postgresql://fmd@db/fmd")


def test_run_on_the_default_config_keeps_running_until_a_signal_and_says_what_it_did(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "FMD_SIMULATION__PACKS": "20"}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "robot_controller", "run", "--console"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    assert daemon.stdout is not None
    seen: list[str] = []
    for line in daemon.stdout:
        seen.append(line)
        if "keeps running until Ctrl-C" in line:
            break
    assert daemon.poll() is None, "it kept running after the delivery"
    daemon.send_signal(signal.SIGTERM)
    rest, errors = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, errors
    shown = "".join(seen) + rest
    assert "hub        mock national system" in shown
    assert "stopping: finishing the packs already taken" in shown
    assert "stopped: 20 packs:" in shown
    assert '"event"' not in shown, "the JSON log goes to the log file, never into the console"
    assert '"pack.routed"' in (tmp_path / "fmd-robot.log").read_text()
