"""The systemd unit in `config/`: its hardening is there, and its command line is one the real
CLI parses (the installed script, the `run` command, its flags)."""

from __future__ import annotations

import shlex
import tomllib
from collections import defaultdict
from pathlib import Path

import typer

from robot_controller.cli import app

UNIT = Path(__file__).parent.parent / "config" / "fmd-robot.service"
PYPROJECT = Path(__file__).parent.parent / "pyproject.toml"


def unit_keys(text: str) -> dict[str, dict[str, list[str]]]:
    """Each section's keys and their values (a key may repeat, as DeviceAllow does)."""
    sections: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        sections[section][key.strip()].append(value.strip())
    return sections


def test_the_unit_runs_as_its_own_user_with_the_hardening_systemd_offers() -> None:
    service = unit_keys(UNIT.read_text(encoding="utf-8"))["Service"]
    single = {key: values[-1] for key, values in service.items()}
    assert single["User"] == single["Group"] == "fmd-robot"
    assert "dialout" in single["SupplementaryGroups"].split()
    expected = {
        "ProtectSystem": "strict",
        "ReadWritePaths": "/var/lib/fmd-robot",
        "StateDirectory": "fmd-robot",
        "WorkingDirectory": "/var/lib/fmd-robot",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "AmbientCapabilities": "",
        "DevicePolicy": "closed",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter": "@system-service",
        "LockPersonality": "yes",
        "Restart": "on-failure",
        "RestartPreventExitStatus": "2",
        "KillSignal": "SIGTERM",
    }
    assert {key: single.get(key) for key in expected} == expected
    assert {"char-ttyS rw", "char-ttyUSB rw", "char-video4linux rw"} <= set(service["DeviceAllow"])
    assert "PrivateDevices" not in service  # it would hide the serial ports
    assert int(single["TimeoutStopSec"]) >= 120  # a stop finishes the packs already taken


def test_the_units_command_line_is_one_the_cli_parses() -> None:
    service = unit_keys(UNIT.read_text(encoding="utf-8"))["Service"]
    (command,) = service["ExecStart"]
    program, *args = shlex.split(command)
    scripts = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["scripts"]
    assert program == "/opt/fmd-robot/.venv/bin/fmd-robot"
    assert Path(program).name in scripts
    assert scripts[Path(program).name] == "robot_controller.cli:main"  # which runs `app`
    group = typer.main.get_command(app)
    name, *options = args
    run = group.commands[name]  # type: ignore[attr-defined]
    with run.make_context(name, list(options)) as context:
        params = context.params
    assert params["config"] == Path("/etc/fmd-robot/site.toml")
    assert params["console"] is False  # the journal gets the JSON log, no live view
    assert params["drain"] is False
