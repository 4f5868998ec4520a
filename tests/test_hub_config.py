"""Real hubs from configuration: SOAP and REST examples, secrets only from outside the file,
and never in a log line."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from fmd.codes.encode import encode_gs1, gtin_check_digit
from fmd.codes.escapes import show_controls
from fmd.codes.model import PackIdentifier
from fmd.hub import MockHub
from fmd.hub.resilient import CircuitOpen, traced
from fmd.hub.soap_names import Service
from robot_controller.cli import app
from robot_controller.config import (
    ConfigError,
    MockHubConfig,
    RestHubConfig,
    Secret,
    SoapHubConfig,
    load_config,
)
from robot_controller.logs import configure_logging
from robot_controller.wiring import build_hub
from simulators.hub import HubSimulator

CONFIG = Path(__file__).parents[1] / "config"
GTIN = "0950600013435" + gtin_check_digit("0950600013435")
PACK = PackIdentifier("GTIN", GTIN, "CFG1", "B1", date(2028, 12, 31), "281231")
SECRETS = {"soap": "sim-password-1", "rest": "sim-secret-1"}
runner = CliRunner()


@pytest.mark.parametrize("example", sorted(p.name for p in CONFIG.glob("*.example.toml")))
def test_the_example_configs_are_valid(example: str) -> None:
    settings = load_config(CONFIG / example)
    assert settings.hub.kind in ("mock", "soap", "rest")


def test_a_national_system_is_reached_on_each_services_own_host_and_port() -> None:
    settings = load_config(CONFIG / "soap-hub.example.toml")
    assert isinstance(settings.hub, SoapHubConfig)
    endpoints = settings.hub.endpoints()
    assert endpoints.url(Service.SINGLE) == (
        "https://ws-single-transactions-int-bp.nmvs.eu:8443"
        "/WS_SINGLE_TRANSACTIONS_V1/SinglePackServiceV50"
    )
    assert endpoints.url(Service.BULK).startswith(
        "https://ws-bulk-transactions-int-bp.nmvs.eu:8445/"
    )
    assert endpoints.url(Service.MIXED).startswith(
        "https://ws-mixed-bulk-transactions-int-bp.nmvs.eu:8446/"
    )
    assert endpoints.url(Service.SUPPORT) == (
        "https://ws-support-int-bp.nmvs.eu:8448/WS_SUPPORT_V1/SupportServiceV50"
    )


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ('url = "https://hub"\nsystem = "prod-pl"\n', "give one of system"),
        ("", "give one of system"),
        ('system = "Poland"\n', "system"),
    ],
    ids=["both", "neither", "not-a-system"],
)
def test_a_soap_hub_is_either_a_national_system_or_one_url(
    tmp_path: Path, where: str, message: str
) -> None:
    path = tmp_path / "soap.toml"
    path.write_text(
        f'[site]\nlocation = "x"\n[hub]\nkind = "soap"\n{where}client_login_id = "C"\n'
        'user_id = "user"\npassword = { env = "X" }\ncert = "c.pem"\nkey = "k.pem"\n'
    )
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def rest_config(tmp_path: Path, keys: str) -> Path:
    """A config file with a REST hub section ending in `keys`."""
    path = tmp_path / "rest.toml"
    path.write_text(
        '[site]\nlocation = "x"\n[hub]\nkind = "rest"\nurl = "https://hub"\n'
        f'client_id = "a"\n{keys}\n'
    )
    return path


def test_a_secret_written_in_the_file_is_refused(tmp_path: Path) -> None:
    path = rest_config(tmp_path, 'client_secret = "plain-text"')
    with pytest.raises(ConfigError, match="never written in the config file") as caught:
        load_config(path)
    assert "plain-text" not in str(caught.value)


def test_the_data_entry_mode_is_not_a_setting(tmp_path: Path) -> None:
    path = rest_config(tmp_path, 'client_secret = { env = "X" }\ndata_entry_mode = "scanned"')
    with pytest.raises(ConfigError, match="data_entry_mode is not a setting") as caught:
        load_config(path)
    assert "\n" not in str(caught.value)


@pytest.fixture(params=["soap", "rest"])
def configured(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, str, HubSimulator]]:
    dialect: str = request.param
    hub = MockHub(seed=2)
    hub.add_product(GTIN)
    hub.add_batch(GTIN, "B1", date(2028, 12, 31))
    hub.add_pack(PACK)
    with HubSimulator(hub, dialects=(dialect,)) as sim:
        assert sim.pki is not None
        secret_file = tmp_path / "secret"
        secret_file.write_text(SECRETS[dialect] + "\n")
        if dialect == "soap":
            section = (
                f'url = "{sim.soap_url}"\nclient_login_id = "PHARMACY01"\n'
                f'user_id = "robot01"\npassword = {{ env = "FMD_TEST_HUB_PASSWORD" }}\n'
                f'cert = "{sim.pki.client_cert}"\nkey = "{sim.pki.client_key}"\n'
                f'ca = "{sim.pki.ca}"\n'
            )
            monkeypatch.setenv("FMD_TEST_HUB_PASSWORD", SECRETS["soap"])
        else:
            section = (
                f'url = "{sim.rest_url}"\nclient_id = "robot-equipment-01"\n'
                f'client_secret = {{ file = "{secret_file}" }}\nca = "{sim.pki.ca}"\n'
            )
        path = tmp_path / f"{dialect}.toml"
        path.write_text(f'[site]\nlocation = "hospital-pharmacy-1"\n[hub]\nkind = "{dialect}"\n'
                        + section)  # fmt: skip
        yield path, SECRETS[dialect], sim


def test_verify_reaches_the_configured_hub_and_no_log_line_holds_the_secret(
    configured: tuple[Path, str, HubSimulator],
) -> None:
    path, secret, _ = configured
    logs = io.StringIO()
    configure_logging(level="debug", stream=logs)
    raw = show_controls(encode_gs1(PACK))
    result = runner.invoke(app, ["verify", "--json", "--config", str(path), raw])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert (answer["outcome"], answer["state"]) == ("ok", "ACTIVE")
    assert secret not in logs.getvalue()
    assert secret not in result.output
    assert secret not in repr(load_config(path))
    structlog.reset_defaults()


def test_a_missing_secret_is_one_clear_error(
    configured: tuple[Path, str, HubSimulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _, _ = configured
    monkeypatch.delenv("FMD_TEST_HUB_PASSWORD", raising=False)
    path.write_text(path.read_text().replace('{ file = "', '{ file = "/nonexistent'))
    raw = show_controls(encode_gs1(PACK))
    result = runner.invoke(app, ["verify", "--config", str(path), raw])
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert "FMD_TEST_HUB_PASSWORD" in message or "cannot read secret file" in message
    assert "Traceback" not in message


async def test_the_breaker_opens_and_cools_down_as_the_hub_section_says(
    configured: tuple[Path, str, HubSimulator],
) -> None:
    path, _, sim = configured
    path.write_text(path.read_text() + "breaker_failures = 2\nbreaker_cooldown_s = 7.5\n")
    sim.faults.update({"error_rate": 1.0})  # every answer technical: an outage
    now = [0.0]
    hub = await build_hub(load_config(path), clock=lambda: now[0])
    try:
        with traced() as calls, pytest.raises(CircuitOpen):
            await hub.verify(PACK)
        assert len(calls) == 2  # open after the second failure in a row
        now[0] = 7.4
        with traced() as calls, pytest.raises(CircuitOpen):
            await hub.verify(PACK)
        assert calls == []  # still cooling down: nothing sent
        now[0] = 7.5
        with traced() as calls, pytest.raises(CircuitOpen):
            await hub.verify(PACK)
        assert len(calls) == 1  # the one trial after the cool-down
    finally:
        await hub.aclose()


def test_the_breaker_settings_default_to_five_failures_and_thirty_seconds() -> None:
    rest = RestHubConfig(
        kind="rest", url="https://hub", client_id="c", client_secret=Secret(env="X")
    )
    for hub in (MockHubConfig(), rest):
        assert (hub.breaker_failures, hub.breaker_cooldown_s) == (5, 30.0)
