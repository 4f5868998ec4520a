"""Every setting that cannot be used is one line on stderr naming the key, the `FMD_…` variable
or the file, with exit 2 and no traceback; a file is layered over the embedded defaults; a
read-only command creates no store; and nothing untrusted is read as Rich markup."""

from __future__ import annotations

import json
import math
import socket
import time
import tomllib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_origin

import pytest
import sqlalchemy as sa
from annotated_types import Ge, Gt, Le, MaxLen, MinLen
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import load_pem_x509_certificate
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from typer.testing import CliRunner, Result

from robot_controller.cli import app
from robot_controller.config import (
    AuditConfig,
    CameraScannerConfig,
    Config,
    KeyboardScannerConfig,
    LogConfig,
    MockHubConfig,
    ModbusRtuRobotConfig,
    ModbusTcpRobotConfig,
    PipelineConfig,
    RestHubConfig,
    ScriptScannerConfig,
    Secret,
    SerialRobotConfig,
    SerialScannerConfig,
    SimRobotConfig,
    Simulation,
    Site,
    SoapHubConfig,
    StoreConfig,
    WebConfig,
    Wwks2RobotConfig,
    default_config_path,
    load_config,
)
from robot_controller.config_problems import members, models_in
from simulators.delivery import generate_delivery, master_data
from simulators.hub.tls import Pki, make_pki
from simulators.world import write_master_data

runner = CliRunner()
UI = "]d201095060001343551721123110B1<GS>21CFG1"
PASSWORD = "FMD_TEST_SOAP_PASSWORD"
CLOSED = "127.0.0.1:1"  # nothing listens on port 1: refused at once


def refused(result: Result, *named: str) -> str:
    """The one error line of a command that refused its settings (exit 2, no traceback)."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for name in named:
        assert name in lines[0], (name, lines[0])
    return lines[0]


def toml(value: Any) -> str:
    """A value as TOML (strings as JSON writes them, which TOML reads the same)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    if isinstance(value, Path):
        return json.dumps(str(value))
    return json.dumps(value)


def config_file(folder: Path, sections: Mapping[str, Any], name: str = "site.toml") -> Path:
    """A TOML file of `sections` (a list of tables for `scanners`)."""
    text = []
    for section, keys in sections.items():
        for table in keys if isinstance(keys, list) else [keys]:
            text.append(f"[[{section}]]" if isinstance(keys, list) else f"[{section}]")
            text += [f"{key} = {toml(value)}" for key, value in table.items()]
    path = folder / name
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


# -- the sweep: every key of every section, with a wrong type or value -------------------------


@pytest.fixture(autouse=True)
def _web_port_from_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read [web] from the file: the suite's `FMD_WEB__PORT` would override it."""
    monkeypatch.delenv("FMD_WEB__PORT", raising=False)


MINIMAL: dict[type[BaseModel], dict[str, Any]] = {
    Site: {"location": "ward-7"},
    StoreConfig: {},
    MockHubConfig: {"kind": "mock"},
    SoapHubConfig: {
        "kind": "soap", "url": "https://hub", "client_login_id": "PHARMACY01",
        "user_id": "robot01", "password": {"env": PASSWORD}, "cert": "c.pem", "key": "k.pem",
    },
    RestHubConfig: {
        "kind": "rest", "url": "https://hub", "client_id": "robot-01",
        "client_secret": {"env": PASSWORD},
    },
    SimRobotConfig: {"kind": "sim"},
    ModbusTcpRobotConfig: {"kind": "modbus-tcp", "host": "127.0.0.1"},
    ModbusRtuRobotConfig: {"kind": "modbus-rtu", "port": "/dev/ttyUSB0"},
    SerialRobotConfig: {"kind": "serial", "port": "/dev/ttyACM0"},
    Wwks2RobotConfig: {"kind": "wwks2", "host": "127.0.0.1"},
    ScriptScannerConfig: {"kind": "script", "path": "scans.txt"},
    SerialScannerConfig: {"kind": "serial", "port": "/dev/ttyACM1"},
    KeyboardScannerConfig: {"kind": "keyboard"},
    CameraScannerConfig: {"kind": "camera", "source": 0},
    Simulation: {"hub": "none", "robot": "none", "scanner": "none"},
    PipelineConfig: {},
    LogConfig: {},
    AuditConfig: {},
    WebConfig: {},
}  # fmt: skip
"""A valid section of each kind: the sweep spoils one key of it at a time."""


def sections() -> Iterator[tuple[str, type[BaseModel]]]:
    """Every section of the configuration, each kind of it on its own."""
    for name, field in Config.model_fields.items():
        for model in models_in(field.annotation):
            yield name, model


def wrong_values(field: FieldInfo) -> Iterator[tuple[str, Any]]:
    """Values `field` must refuse: the wrong type, infinite and not-a-number for a number,
    and each bound or choice broken."""
    types_ = [m for m in members(field.annotation) if m is not type(None)]
    yield "wrong-type", 5 if Secret in types_ else {"wrong": 1}
    if float in types_:
        yield "inf", math.inf
        yield "nan", math.nan
    for bound in field.metadata:
        if isinstance(bound, Gt | Ge):
            yield "too-small", float(bound.gt if isinstance(bound, Gt) else bound.ge) - 1  # type: ignore[arg-type]
        elif isinstance(bound, Le):
            yield "too-large", float(bound.le) + 1  # type: ignore[arg-type]
        elif isinstance(bound, MinLen) and bound.min_length > 0:
            yield "too-short", ""
        elif isinstance(bound, MaxLen):
            yield "too-long", "x" * (bound.max_length + 1)
    if any(get_origin(m) is Literal for m in types_):
        yield "no-such-choice", "bogus"


def sweep() -> Iterator[Any]:
    seen = set()
    for section, model in sections():
        assert model in MINIMAL, f"add a valid {model.__name__} to MINIMAL"
        for key, field in model.model_fields.items():
            for why, value in wrong_values(field):
                case = (section, MINIMAL[model].get("kind"), key, why)
                if case not in seen:
                    seen.add(case)
                    yield pytest.param(section, model, key, value, id="-".join(map(str, case)))


@pytest.mark.parametrize(("section", "model", "key", "value"), list(sweep()))
def test_every_key_with_a_wrong_type_or_value_is_one_line_naming_it(
    tmp_path: Path, section: str, model: type[BaseModel], key: str, value: Any
) -> None:
    spoiled = {**MINIMAL[model], key: value}
    listed = section == "scanners"
    path = config_file(tmp_path, {section: [spoiled] if listed else spoiled})
    line = refused(runner.invoke(app, ["run", "--config", str(path)]), str(path))
    assert f"{section}.0.{key}: " in line if listed else f"{section}.{key}: " in line


def sweep_of_variables() -> Iterator[Any]:
    for section, model in sections():
        if section == "scanners" or ("kind" in model.model_fields and model is not MockHubConfig):
            continue  # a list, or a kind the embedded defaults do not have
        for key, field in model.model_fields.items():
            for why, value in wrong_values(field):
                if why != "wrong-type":
                    yield pytest.param(section, key, value, id=f"{section}-{key}-{why}")


@pytest.mark.parametrize(("section", "key", "value"), list(sweep_of_variables()))
def test_a_wrong_variable_is_blamed_on_the_variable_not_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, section: str, key: str, value: Any
) -> None:
    path = config_file(tmp_path, {"site": MINIMAL[Site]})
    variable = f"FMD_{section.upper()}__{key.upper()}"
    text = value if isinstance(value, str) else toml(value)
    monkeypatch.setenv(variable, text)
    line = refused(runner.invoke(app, ["run", "--config", str(path)]), variable)
    assert line.startswith(f"error: {variable} ({section}.{key}): ")
    assert str(path) not in line


def test_a_file_is_blamed_for_its_own_key_beside_a_good_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FMD_PIPELINE__DECOMMISSION_AHEAD", "2")
    path = config_file(tmp_path, {"pipeline": {"window": 0}})
    line = refused(runner.invoke(app, ["run", "--config", str(path)]))
    assert line.startswith(f"error: {path}: pipeline.window: ")
    monkeypatch.setenv("FMD_PIPELINE__WINDOW", "many")
    refused(runner.invoke(app, ["outbox", "status"]), "FMD_PIPELINE__WINDOW (pipeline.window)")


def test_a_section_given_as_json_that_is_not_json_names_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FMD_SCANNERS", "keyboard")
    refused(runner.invoke(app, ["outbox", "status"]), "FMD_SCANNERS: not valid JSON")


# -- files the settings name ---------------------------------------------------------------


def site(folder: Path, **sections: Any) -> Path:
    """A site that `run` starts at once (a mock hub with master data, the in-process robot,
    one scan of a pack the hub knows), with `sections` replacing its own."""
    delivery = generate_delivery(1, seed=5, suspect_rate=0.0, today=datetime.now(UTC).date())
    data = write_master_data(master_data(delivery), folder / "master-data.json")
    (folder / "scans.txt").write_text(delivery.raws[0] + "\n", encoding="utf-8")
    base: dict[str, Any] = {
        "store": {"url": f"sqlite:///{folder / 'fmd.db'}"},
        "hub": {"kind": "mock", "master_data": str(data)},
        "robot": {"kind": "sim"},
        "scanners": [{"kind": "script", "path": str(folder / "scans.txt")}],
        "log": {"level": "error"},
    }
    return config_file(folder, {**base, **sections})


def test_the_site_of_these_tests_runs(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--config", str(site(tmp_path))])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("section", "key", "extra"),
    [
        ("hub", "master_data", {}),
        ("scanners", "path", {"kind": "script"}),
        ("scanners", "device", {"kind": "keyboard"}),
        ("scanners", "source", {"kind": "camera"}),
    ],
)
def test_a_file_that_is_not_there_is_named(
    tmp_path: Path, section: str, key: str, extra: dict[str, str]
) -> None:
    missing = tmp_path / "absent" / "file.mkv"
    changed = {**extra, key: str(missing)}
    path = site(tmp_path, **{section: [changed] if section == "scanners" else
                             {"kind": "mock", **changed}})  # fmt: skip
    refused(runner.invoke(app, ["run", "--config", str(path)]), str(missing))


@pytest.mark.parametrize(
    "robot",
    [
        {"kind": "modbus-tcp", "host": "127.0.0.1", "port": 1, "ack_timeout_s": 0.2},
        {"kind": "serial", "port": "/nonexistent/tty"},
        {"kind": "modbus-rtu", "port": "/nonexistent/tty"},
    ],
    ids=lambda robot: robot["kind"],
)
def test_a_robot_that_cannot_be_reached_is_one_line(tmp_path: Path, robot: dict[str, Any]) -> None:
    path = site(tmp_path, robot=robot)
    refused(runner.invoke(app, ["run", "--config", str(path)]), "robot")


def test_a_serial_scanner_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    path = site(tmp_path, scanners=[{"kind": "serial", "port": "/nonexistent/tty"}])
    refused(runner.invoke(app, ["run", "--config", str(path)]), "scanners.0", "/nonexistent/tty")


# -- the store -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("sqlite:////nonexistent/folder/fmd.db", "there is no folder /nonexistent/folder"),
        ("bogus://", "store.url: bogus is not a store"),
        ("mysql://robot@db.example/fmd", "store.url: mysql is not a store"),
        ("sqlite://", "store.url: a store in memory"),
        (f"postgresql://fmd:s3cret@{CLOSED}/fmd?connect_timeout=2", "Connection refused"),
    ],
    ids=["missing-folder", "bogus", "mysql", "memory", "postgres-unreachable"],
)
@pytest.mark.parametrize(
    "command",
    [
        ["run"],
        ["outbox", "status"],
        ["outbox", "replay"],
        ["outbox", "undo", "1", "--reason", "r", "--actor", "a"],
    ],
)
def test_a_store_url_that_cannot_be_used_is_one_line(
    tmp_path: Path, url: str, named: str, command: list[str]
) -> None:
    path = site(tmp_path, store={"url": url})
    line = refused(runner.invoke(app, [*command, "--config", str(path)]), named)
    assert "s3cret" not in line  # a server's URL is named without its password


def test_outbox_status_creates_no_store_and_says_there_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the embedded defaults: a store in the working directory
    line = refused(runner.invoke(app, ["outbox", "status"]))
    assert f"store: {tmp_path / 'fmd-robot.db'} does not exist" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.postgres
def test_outbox_status_on_a_database_without_the_schema_creates_none(postgres_url: str) -> None:
    refused(
        runner.invoke(app, ["outbox", "status"], env={"FMD_STORE__URL": postgres_url}),
        "holds no fmd-robot store",
    )
    engine = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_outbox_status_reads_a_store_it_does_not_change(tmp_path: Path) -> None:
    path = site(tmp_path)
    assert runner.invoke(app, ["run", "--config", str(path)]).exit_code == 0
    db = tmp_path / "fmd.db"
    before = db.read_bytes()
    result = runner.invoke(app, ["outbox", "status", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "0 waiting for the hub." in result.stdout
    assert db.read_bytes() == before


def test_demo_on_a_folder_that_does_not_exist_is_one_line() -> None:
    refused(runner.invoke(app, ["demo", "--db", "/nonexistent/x.db"]), "/nonexistent")


# -- the hub's certificates and secrets ----------------------------------------------------


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


def soap_site(folder: Path, monkeypatch: pytest.MonkeyPatch, **keys: Any) -> Path:
    """A SOAP hub on a closed port: the client is built, and refuses, before it connects."""
    monkeypatch.setenv(PASSWORD, "sim-password-1")
    hub = {**MINIMAL[SoapHubConfig], "url": f"https://{CLOSED}/nmvs", **keys}
    return config_file(folder, {"hub": {k: v for k, v in hub.items() if v is not None}})


def garbage(folder: Path) -> Path:
    path = folder / "garbage.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    return path


def encrypted_key(folder: Path) -> Path:
    path = folder / "encrypted.key"
    key = ec.generate_private_key(ec.SECP256R1())
    encryption = serialization.BestAvailableEncryption(b"key-password")
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8, encryption))  # fmt: skip
    return path


def pkcs12_file(folder: Path, pki: Pki) -> Path:
    key = serialization.load_pem_private_key(pki.client_key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    certificate = load_pem_x509_certificate(pki.client_cert.read_bytes())
    encryption = serialization.BestAvailableEncryption(b"right-password")
    path = folder / "client.p12"
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"c", key, certificate, None,
                                                           encryption))  # fmt: skip
    return path


@pytest.mark.parametrize(
    "case",
    ["missing-cert", "missing-key", "other-key", "garbage-cert", "garbage-key", "encrypted-key",
     "missing-ca", "garbage-ca", "missing-pkcs12", "pkcs12-wrong-password"],
)  # fmt: skip
def test_a_certificate_that_cannot_be_used_is_one_line_naming_the_key_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pki: Pki, case: str
) -> None:
    other = make_pki(tmp_path / "other")
    missing = tmp_path / "absent.pem"
    pair = {"cert": pki.client_cert, "key": pki.client_key}
    changes: dict[str, tuple[str, Path, dict[str, Any]]] = {
        "missing-cert": ("cert", missing, {"cert": missing}),
        "missing-key": ("key", missing, {"key": missing}),
        "other-key": ("key", other.client_key, {"key": other.client_key}),
        "garbage-cert": ("cert", garbage(tmp_path), {"cert": garbage(tmp_path)}),
        "garbage-key": ("key", garbage(tmp_path), {"key": garbage(tmp_path)}),
        "encrypted-key": ("key", encrypted_key(tmp_path), {"key": encrypted_key(tmp_path)}),
        "missing-ca": ("ca", missing, {"ca": missing}),
        "garbage-ca": ("ca", garbage(tmp_path), {"ca": garbage(tmp_path)}),
        "missing-pkcs12": ("pkcs12", missing, {"cert": None, "key": None, "pkcs12": missing}),
        "pkcs12-wrong-password": (
            "pkcs12", pkcs12_file(tmp_path, pki),
            {"cert": None, "key": None, "pkcs12": pkcs12_file(tmp_path, pki),
             "pkcs12_password": {"env": "FMD_TEST_P12_PASSWORD"}},
        ),
    }  # fmt: skip
    key, file, keys = changes[case]
    monkeypatch.setenv("FMD_TEST_P12_PASSWORD", "wrong-password")
    path = soap_site(tmp_path, monkeypatch, **{**pair, **keys})
    line = refused(runner.invoke(app, ["verify", "--config", str(path), UI]), f"hub.{key}: ")
    assert str(file) in line
    assert "wrong-password" not in line


def test_a_rest_ca_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "absent-ca.pem"
    hub = {**MINIMAL[RestHubConfig], "client_secret": {"file": str(garbage(tmp_path))},
           "ca": str(missing)}  # fmt: skip
    path = config_file(tmp_path, {"hub": hub})
    refused(runner.invoke(app, ["verify", "--config", str(path), UI]), "hub.ca: ", str(missing))


def test_a_soap_password_under_8_characters_is_a_setting_not_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pki: Pki
) -> None:
    path = soap_site(tmp_path, monkeypatch, cert=pki.client_cert, key=pki.client_key)
    monkeypatch.setenv(PASSWORD, "short")
    line = refused(runner.invoke(app, ["verify", "--config", str(path), UI]), "hub.password: ")
    assert PASSWORD in line  # where the value came from
    assert "short" not in line


def test_a_secret_without_a_value_names_the_key_it_is_for(tmp_path: Path) -> None:
    hub = {**MINIMAL[RestHubConfig], "client_secret": {"env": "FMD_TEST_NOT_SET"}}
    path = config_file(tmp_path, {"hub": hub})
    refused(runner.invoke(app, ["verify", "--config", str(path), UI]),
            "hub.client_secret: the environment variable FMD_TEST_NOT_SET is not set")  # fmt: skip


@pytest.mark.parametrize("url", ["not a url", "ftp://hub/", "https://", "http://hub"])
def test_a_hub_url_that_is_not_https_is_one_line(tmp_path: Path, url: str) -> None:
    path = config_file(tmp_path, {"hub": {**MINIMAL[RestHubConfig], "url": url}})
    refused(runner.invoke(app, ["verify", "--config", str(path), UI]), "hub.url: ")


# -- deadlines -----------------------------------------------------------------------------


def test_a_hub_timeout_is_the_deadline_of_the_whole_verify(tmp_path: Path) -> None:
    """A hub that takes the connection and never answers: retries fit in `timeout_s` or are
    not made (4 tries of 1 s each, with their pauses, took over 4.5 s)."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # the kernel accepts; no one answers
        port = silent.getsockname()[1]
        hub = {**MINIMAL[RestHubConfig], "url": f"https://127.0.0.1:{port}",
               "client_secret": {"file": str(garbage(tmp_path))}, "timeout_s": 1}  # fmt: skip
        path = config_file(tmp_path, {"hub": hub})
        started = time.monotonic()
        result = runner.invoke(app, ["verify", "--config", str(path), UI])
        took = time.monotonic() - started
    assert result.exit_code == 1, result.output
    assert "the hub did not answer" in result.stderr
    assert took < 3.0


# -- the simulators' own settings ----------------------------------------------------------


def test_sim_plc_on_a_port_in_use_is_one_line() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["sim", "plc", "--tcp", f"127.0.0.1:{port}"])
    refused(result, f"cannot listen on 127.0.0.1:{port}")


# -- layering over the embedded defaults -----------------------------------------------------


def test_a_file_with_only_a_robot_section_is_complete(tmp_path: Path) -> None:
    path = config_file(tmp_path, {"robot": {"kind": "sim"}})
    result = runner.invoke(app, ["robot", "status", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "takes a pack" in result.stdout


def test_a_file_with_only_a_hub_section_is_complete(tmp_path: Path) -> None:
    delivery = generate_delivery(1, seed=6, suspect_rate=0.0, today=datetime.now(UTC).date())
    data = write_master_data(master_data(delivery), tmp_path / "master-data.json")
    path = config_file(tmp_path, {"hub": {"kind": "mock", "master_data": "master-data.json"}})
    result = runner.invoke(app, ["verify", "--json", "--config", str(path), delivery.raws[0]])
    assert result.exit_code == 0, result.output
    settings = load_config(path)
    assert settings.site == load_config().site  # the embedded one
    assert isinstance(settings.hub, MockHubConfig)
    assert settings.hub.master_data == data


def test_a_file_never_inherits_the_embedded_simulation(tmp_path: Path) -> None:
    assert load_config().simulation is not None
    path = config_file(tmp_path, {"robot": {"kind": "sim"}})
    assert load_config(path).simulation is None
    line = refused(runner.invoke(app, ["run", "--config", str(path)]))
    assert "scanners: none configured" in line  # a real site's daemon, not a simulated world


def test_a_simulation_of_its_own_still_may_not_replace_what_the_file_configures(
    tmp_path: Path,
) -> None:
    path = config_file(tmp_path, {"robot": {"kind": "sim"}, "simulation": {"packs": 3}})
    refused(runner.invoke(app, ["run", "--config", str(path)]),
            'simulation.robot = "sim" would replace the sim robot')  # fmt: skip


def test_a_section_the_file_gives_replaces_the_embedded_one_whole(tmp_path: Path) -> None:
    path = config_file(tmp_path, {"site": {"mode": "community"}})
    refused(runner.invoke(app, ["run", "--config", str(path)]), "site.location: Field required")


def test_the_embedded_defaults_are_the_defaults_of_the_keys_a_section_leaves_out() -> None:
    """So a section given whole with keys left out means what the embedded one means."""
    embedded = tomllib.loads(default_config_path().read_text(encoding="utf-8"))
    models: dict[str, type[BaseModel]] = {"site": Site, "store": StoreConfig, "hub": MockHubConfig,
              "simulation": Simulation, "pipeline": PipelineConfig, "log": LogConfig,
              "audit": AuditConfig, "web": WebConfig}  # fmt: skip
    assert set(embedded) == set(models)
    for name, keys in embedded.items():
        model = models[name]
        required = {k: v for k, v in keys.items() if model.model_fields[k].is_required()}
        defaults = model(**required).model_dump()
        assert {key: defaults[key] for key in keys} == keys, name


# -- untrusted text is never Rich markup ---------------------------------------------------


@pytest.mark.parametrize("raw", ["[/]", "[bold red]SN1", "x :pill: [link=file:///etc]y"])
def test_parse_shows_markup_in_a_scan_as_it_is(raw: str) -> None:
    result = runner.invoke(app, ["parse", raw])
    assert result.exit_code == 1, result.output  # not a pack UI: nothing broke
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert raw in result.stdout.replace("\n", "")


def test_a_scan_with_markup_in_its_serial_is_shown_as_it_is(tmp_path: Path) -> None:
    raw = "]d201095060001343551721123110B1\x1d21[bold red]X"
    scans = tmp_path / "scans.txt"
    scans.write_text(raw + "\n", encoding="utf-8")
    result = runner.invoke(app, ["scan", "--source", f"file:{scans}"])
    assert result.exit_code == 0, result.output
    assert "[bold red]X" in result.stdout
    parsed = runner.invoke(app, ["parse", raw.replace("\x1d", "<GS>")])
    assert "[bold red]X" in parsed.stdout


def test_a_config_error_shows_brackets_as_they_are(tmp_path: Path) -> None:
    path = config_file(tmp_path, {"site": {"location": "x", "mode": "[hub.soap]"}})
    refused(runner.invoke(app, ["run", "--config", str(path)]), "(got '[hub.soap]')")
