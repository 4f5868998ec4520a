"""Credentials the hub refuses fail loudly, on both dialects over real HTTPS: the daemon does not
start on them (one line naming the credential, exit 2), and a login refused while it loads
quarantines the packs as hub-login-failed, with one error line and no shelving."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner

from fmd.codes import parse_scan
from fmd.codes.escapes import show_controls
from fmd.hub import HubResult, MockHub, Reason
from fmd.hub.master_data import load_master_data
from fmd.policy import Action, Decision, SitePolicy, Why, decide, settle_decommission
from robot_controller.cli import app
from robot_controller.config import Config, ConfigError
from robot_controller.robot.base import JobReason
from robot_controller.routing import job_for
from robot_controller.wiring import build_daemon
from simulators.delivery import Delivery, generate_delivery, master_data
from simulators.hub import Accounts, HubSimulator
from tests.support.logs import Logs

LOCATION = "ward-3-pharmacy"
ACCOUNTS = Accounts.for_location(LOCATION)
WRONG = "not-the-secret-at-all"
runner = CliRunner()


def changed(accounts: Accounts, secret: str) -> Accounts:
    """`accounts` with the password and the client secret changed (a reset at the hub)."""
    return Accounts(
        soap=(replace(accounts.soap[0], password=secret),),
        rest=(replace(accounts.rest[0], client_secret=secret),),
    )


@dataclass(frozen=True)
class National:
    """The hub simulator of one dialect, holding a delivery's packs."""

    sim: HubSimulator
    delivery: Delivery

    @property
    def soap(self) -> bool:
        return self.sim.dialects == ("soap",)

    @property
    def secret(self) -> str:
        """The password or client secret the hub accepts."""
        return ACCOUNTS.soap[0].password if self.soap else ACCOUNTS.rest[0].client_secret

    def hub_section(self, secret_file: Path) -> dict[str, Any]:
        """The `[hub]` keys that reach the simulator, the secret read from `secret_file`."""
        pki = self.sim.pki
        assert pki is not None
        if self.soap:
            login = ACCOUNTS.soap[0]
            return {
                "kind": "soap",
                "url": self.sim.soap_url,
                "client_login_id": login.client_login_id,
                "user_id": login.user_id,
                "password": {"file": str(secret_file)},
                "cert": str(pki.client_cert),
                "key": str(pki.client_key),
                "ca": str(pki.ca),
            }
        return {
            "kind": "rest",
            "url": self.sim.rest_url,
            "client_id": ACCOUNTS.rest[0].client_id,
            "client_secret": {"file": str(secret_file)},
            "ca": str(pki.ca),
        }


@pytest.fixture(params=["soap", "rest"])
def national(request: pytest.FixtureRequest) -> Iterator[National]:
    delivery = generate_delivery(40, seed=12, suspect_rate=0.0, today=datetime.now(UTC).date())
    hub = MockHub(seed=12)
    load_master_data(hub, master_data(delivery))
    with HubSimulator(hub, dialects=(request.param,), accounts=ACCOUNTS) as sim:
        yield National(sim, delivery)


def site_files(national: National, folder: Path, secret: str) -> dict[str, Any]:
    """A site's sections: the simulator as its hub, the in-process robot, the delivery as a
    file of scans, and `secret` in a file."""
    secret_file = folder / "hub-secret"
    secret_file.write_text(secret + "\n")
    scans = folder / "scans.txt"
    scans.write_text("".join(show_controls(p.raw) + "\n" for p in national.delivery.packs))
    return {
        "site": {"location": LOCATION, "offline": "shelve_then_verify"},
        "store": {"url": f"sqlite:///{folder / 'fmd.db'}"},
        "hub": national.hub_section(secret_file),
        "robot": {"kind": "sim"},
        "scanners": [{"kind": "script", "path": str(scans)}],
        "pipeline": {"window": 4, "replay_every_s": None},
    }


def as_toml(sections: dict[str, Any]) -> str:
    """The sections as a config file (the subset of TOML these tests need)."""

    def value(item: Any) -> str:
        if isinstance(item, dict):
            return "{ " + ", ".join(f"{k} = {value(v)}" for k, v in item.items()) + " }"
        return json.dumps(item)

    lines = []
    for name, body in sections.items():
        for table in body if isinstance(body, list) else [body]:
            lines.append(f"[[{name}]]" if isinstance(body, list) else f"[{name}]")
            lines += [f"{key} = {value(item)}" for key, item in table.items() if item is not None]
    return "\n".join(lines) + "\n"


def named_credential(national: National, message: str) -> None:
    """The line names who logged in and what to fix, and never the secret itself."""
    wanted: tuple[str, ...] = (
        ("hub:", "robot01", "PHARMACY01", "NMVS_FE_AU_01", "password")
        if national.soap
        else ("hub:", "robot-equipment-01", "/identity/connect/token", "client_secret")
    )
    for word in wanted:
        assert word in message, (word, message)
    assert WRONG not in message
    assert "\n" not in message.strip()


async def test_build_daemon_refuses_credentials_the_hub_refuses_before_any_device_opens(
    national: National, tmp_path: Path
) -> None:
    sections = site_files(national, tmp_path, WRONG)
    sections["robot"] = {"kind": "modbus-tcp", "host": "127.0.0.1", "port": 9}  # nobody there
    with pytest.raises(ConfigError) as refused:
        await build_daemon(Config(**sections))
    named_credential(national, str(refused.value))
    assert not (tmp_path / "fmd.db").exists()  # nor was the store opened


def test_run_and_verify_refuse_with_the_same_one_line_and_exit_2(
    national: National, tmp_path: Path
) -> None:
    path = tmp_path / "site.toml"
    path.write_text(as_toml(site_files(national, tmp_path, WRONG)))
    ran = runner.invoke(app, ["run", "--config", str(path)])
    structlog.reset_defaults()
    assert ran.exit_code == 2, ran.output
    named_credential(national, ran.stderr)
    assert "Traceback" not in ran.output
    raw = show_controls(national.delivery.packs[0].raw)
    verified = runner.invoke(app, ["verify", "--config", str(path), raw])
    structlog.reset_defaults()
    assert verified.exit_code == 2, verified.output
    assert verified.stderr == ran.stderr


async def test_an_unreachable_hub_at_start_is_a_warning_and_the_daemon_starts(
    national: National, tmp_path: Path, logs: Logs
) -> None:
    sections = site_files(national, tmp_path, national.secret)
    sections["hub"] |= {"url": "https://127.0.0.1:9/nobody"}
    daemon = await build_daemon(Config(**sections))
    await daemon.aclose()
    warned = [e for e in logs if e["event"] == "hub.unreachable_at_start"]
    assert [e["log_level"] for e in warned] == ["warning"]


async def test_a_login_refused_mid_run_quarantines_the_packs_once_logged_never_shelved(
    national: National, tmp_path: Path, logs: Logs
) -> None:
    sections = site_files(national, tmp_path, national.secret)
    sections["hub"] |= {"breaker_cooldown_s": 3600}
    config = Config(**sections)
    sim, routed = national.sim, 0

    def reset_after_five(_pack: object) -> None:
        nonlocal routed
        routed += 1
        if routed == 5:  # the login passed at start and for five packs; now it is reset
            sim.accounts = changed(ACCOUNTS, "changed-at-the-hub")

    daemon = await build_daemon(config, on_routed=reset_after_five)
    await daemon.run()
    outcomes = daemon.store.outcomes()
    await daemon.aclose()

    packs = len(national.delivery.packs)
    assert len(outcomes) == packs
    whys = Counter(outcomes.values())
    assert set(whys) <= {("shelved", "decommissioned"), ("quarantined", "hub-login-failed")}
    assert whys["quarantined", "hub-login-failed"] >= packs - 5 - 2 * config.pipeline.window
    assert sim.hub.state_changes == whys["shelved", "decommissioned"]
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [e["event"] for e in errors] == ["hub.login_failed"]
    named_credential(national, "hub: " + errors[0]["error"])
    assert sim.book.refused <= config.pipeline.window  # each call in flight once, then none


@pytest.mark.parametrize("offline", ["quarantine", "shelve_then_verify"])
def test_a_refused_login_quarantines_the_pack_whatever_the_offline_policy(offline: str) -> None:
    today = datetime.now(UTC).date()
    parsed = parse_scan(generate_delivery(1, seed=3, suspect_rate=0.0, today=today).packs[0].raw)
    site = SitePolicy(offline=offline)  # type: ignore[arg-type]
    refused = HubResult("login_failed", "NMVS_FE_AU_01", message="the hub refused the login")
    verified = decide(parsed, refused, site, today=today)
    settled = settle_decommission(
        Decision(Action.SHELVE, Why.VERIFIED, decommission_to=Reason.SUPPLIED), refused, site
    )
    for decision in (verified, settled):
        assert (decision.action, decision.why) == (Action.QUARANTINE, Why.HUB_LOGIN_FAILED)
        job = job_for(decision, 1)
        assert job is not None
        assert job.reason is JobReason.HUB_UNAVAILABLE
