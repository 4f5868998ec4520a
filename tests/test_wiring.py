"""The daemon a site installs: built from a plain configuration that reaches real devices, with
nothing generated or simulated inside it; the simulated world is started around it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fmd.hub import MockHub
from fmd.hub.master_data import load_master_data
from robot_controller.config import Config, ConfigError, MockHubConfig, load_config
from robot_controller.demo import content
from robot_controller.pipeline import Routed
from robot_controller.product_names import write_product_names
from robot_controller.wiring import build_daemon
from simulators.delivery import generate_delivery, master_data
from simulators.hub import Accounts, HubSimulator
from simulators.plc import PlcSimulator
from simulators.robot_model import RobotModel
from simulators.scanner import PROFILES, VirtualScanner
from simulators.world import write_master_data
from tests.support.loading import load_while_typing
from tests.support.typist import typing_thread

PACKS, SEED, LOCATION = 16, 9, "st-elsewhere-hospital-pharmacy"


async def test_a_site_config_with_a_soap_hub_a_modbus_robot_and_a_serial_scanner_loads_packs(
    tmp_path: Path,
) -> None:
    delivery = generate_delivery(PACKS, seed=SEED, suspect_rate=0.3, today=datetime.now(UTC).date())
    national = MockHub(seed=SEED)
    load_master_data(national, master_data(delivery))
    model = RobotModel(capacity=1000)
    plc = PlcSimulator(model, tcp=("127.0.0.1", 0))
    await plc.start()
    names = {p.product_code: p.name for p in master_data(delivery).products}
    products = write_product_names(names, tmp_path / "products.csv")  # the pharmacy's export
    told: list[Routed] = []
    password = tmp_path / "hub-password"
    login = Accounts.for_location(LOCATION).soap[0]
    password.write_text(login.password)
    try:
        with (
            HubSimulator(
                national, dialects=("soap",), accounts=Accounts.for_location(LOCATION)
            ) as hub,
            VirtualScanner(PROFILES["good"], link_dir=tmp_path) as scanner,
        ):
            assert hub.pki is not None
            config = Config(
                site={"location": LOCATION, "products": str(products)},
                store={"url": f"sqlite:///{tmp_path / 'fmd.db'}"},
                hub={
                    "kind": "soap",
                    "url": hub.soap_url,
                    "client_login_id": login.client_login_id,
                    "user_id": login.user_id,
                    "password": {"file": str(password)},
                    "cert": str(hub.pki.client_cert),
                    "key": str(hub.pki.client_key),
                    "ca": str(hub.pki.ca),
                },
                robot={"kind": "modbus-tcp", "host": "127.0.0.1", "port": plc.port},
                scanners=[{"kind": "serial", "port": str(scanner.port)}],
                pipeline={"replay_every_s": None},
            )
            daemon = await build_daemon(config, on_routed=told.append)
            typist = typing_thread(scanner, [p.raw for p in delivery.packs])
            loaded = await load_while_typing(daemon, typist, PACKS)
    finally:
        await plc.stop()

    routed = Counter(
        (content(loaded.scans[token]), route) for token, (route, _) in loaded.outcomes.items()
    )
    assert routed == Counter((content(p.raw), p.expected_route) for p in delivery.packs)
    assert sum(model.moves.values()) == PACKS
    # a SOAP answer names no product: the bench is told the site's own name of each
    assert all(r.product_name == names[r.ui.product_code] for r in told if r.ui is not None)
    assert sum(r.ui is not None for r in told) >= PACKS // 2


async def test_a_mock_hub_without_master_data_is_refused_before_anything_opens(
    tmp_path: Path,
) -> None:
    scans = tmp_path / "scans.txt"
    scans.write_text("]d201095060001343521CFG1\n")
    config = Config(
        site={"location": LOCATION},
        store={"url": f"sqlite:///{tmp_path / 'fmd.db'}"},
        scanners=[{"kind": "script", "path": str(scans)}],
    )
    with pytest.raises(ConfigError, match=r'^hub: kind = "mock" needs master_data'):
        await build_daemon(config)
    assert not (tmp_path / "fmd.db").exists()


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "product_code,name\n09506000134352,Aspirin\n9506000134352,Aspirin 100\n",
            "line 3: 09506000134352 is named 'Aspirin' already",
        ),
        ("09506000134353,Aspirin\n", "line 1: '09506000134353' is not a GTIN or a PPN"),
        (None, "cannot read it"),
    ],
)
async def test_a_product_names_file_that_cannot_be_used_is_refused_before_anything_opens(
    tmp_path: Path, text: str | None, said: str
) -> None:
    scans = write(tmp_path / "scans.txt", "]d201095060001343521CFG1\n")
    data = write_master_data(master_data(generate_delivery(2, seed=1)), tmp_path / "md.json")
    products = tmp_path / "products.csv"
    if text is not None:
        products.write_text(text, encoding="utf-8")
    config = Config(
        site={"location": LOCATION, "products": str(products)},
        store={"url": f"sqlite:///{tmp_path / 'fmd.db'}"},
        hub={"kind": "mock", "master_data": str(data)},
        robot={"kind": "sim"},
        scanners=[{"kind": "script", "path": str(scans)}],
    )
    with pytest.raises(ConfigError, match=r"^site\.products: ") as refused:
        await build_daemon(config)
    assert said in str(refused.value)
    assert not (tmp_path / "fmd.db").exists()


async def test_a_config_without_scanners_is_refused(tmp_path: Path) -> None:
    config = Config(site={"location": LOCATION}, store={"url": f"sqlite:///{tmp_path / 'x.db'}"})
    with pytest.raises(ConfigError, match=r"^scanners: none configured"):
        await build_daemon(config)


def test_fault_rates_exist_only_on_the_mock_hub() -> None:
    with pytest.raises(ValueError, match="timeout_rate"):
        Config(
            site={"location": LOCATION},
            hub={
                "kind": "rest",
                "url": "https://hub",
                "client_id": "a",
                "client_secret": {"env": "X"},
                "timeout_rate": 0.5,
            },
        )


def test_a_dialect_needs_its_url() -> None:
    with pytest.raises(ValueError, match=r"hub\.rest\.url"):
        Config(
            site={"location": LOCATION},
            hub={"kind": "rest", "client_id": "a", "client_secret": {"env": "X"}},
        )


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


SITE = '[site]\nlocation = "hospital-pharmacy-1"\n'
SOAP_HUB = (
    '[hub]\nkind = "soap"\nurl = "https://hub"\nclient_login_id = "P1"\nuser_id = "robot01"\n'
    'password = { env = "X" }\npkcs12 = "client.p12"\n'
)


@pytest.mark.parametrize(
    ("sections", "replaced"),
    [
        (SOAP_HUB, "would replace the soap hub"),
        ('[robot]\nkind = "modbus-tcp"\nhost = "plc"\n', "would replace the modbus-tcp robot"),
        ('[[scanners]]\nkind = "serial"\nport = "/dev/ttyACM0"\n', "would replace the configured"),
    ],
)
def test_a_simulation_never_silently_replaces_a_configured_device(
    tmp_path: Path, sections: str, replaced: str
) -> None:
    path = write(tmp_path / "site.toml", SITE + sections + "[simulation]\npacks = 3\n")
    with pytest.raises(ConfigError, match=replaced):
        load_config(path)


def test_a_simulation_may_leave_a_configured_device_in_place(tmp_path: Path) -> None:
    sections = '[robot]\nkind = "modbus-tcp"\nhost = "plc"\n[simulation]\nrobot = "none"\n'
    config = load_config(write(tmp_path / "site.toml", SITE + sections))
    assert config.robot is not None
    assert config.robot.kind == "modbus-tcp"


async def test_a_config_without_a_robot_is_refused_not_simulated(tmp_path: Path) -> None:
    scans = write(tmp_path / "scans.txt", "]d201095060001343521CFG1\n")
    data = write_master_data(master_data(generate_delivery(2, seed=1)), tmp_path / "md.json")
    config = Config(
        site={"location": LOCATION},
        store={"url": f"sqlite:///{tmp_path / 'fmd.db'}"},
        hub={"kind": "mock", "master_data": str(data)},
        scanners=[{"kind": "script", "path": str(scans)}],
    )
    with pytest.raises(ConfigError, match=r"^robot: none configured"):
        await build_daemon(config)
    assert not (tmp_path / "fmd.db").exists()


def test_relative_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    sections = '[hub]\nkind = "mock"\nmaster_data = "md.json"\n'
    sections += '[[scanners]]\nkind = "script"\npath = "scans/today.txt"\n'
    write(folder / "site.toml", SITE + sections)
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("etc/site.toml"))
    assert isinstance(config.hub, MockHubConfig)
    assert config.hub.master_data == tmp_path / "etc/md.json"
    assert config.scanners[0].kind == "script"
    assert config.scanners[0].path == tmp_path / "etc/scans/today.txt"


def test_an_old_hub_sub_section_says_where_its_keys_went(tmp_path: Path) -> None:
    old = '[hub]\nkind = "soap"\nurl = "https://hub"\n[hub.soap]\nclient_login_id = "P1"\n'
    with pytest.raises(ConfigError, match=r"hub\.soap: the hub's keys now go directly"):
        load_config(write(tmp_path / "old.toml", SITE + old))


async def test_a_store_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    scans = write(tmp_path / "scans.txt", "]d201095060001343521CFG1\n")
    data = write_master_data(master_data(generate_delivery(2, seed=1)), tmp_path / "md.json")
    config = Config(
        site={"location": LOCATION},
        store={"url": f"sqlite:///{tmp_path / 'no-such-folder' / 'fmd.db'}"},
        hub={"kind": "mock", "master_data": str(data)},
        robot={"kind": "sim"},
        scanners=[{"kind": "script", "path": str(scans)}],
    )
    with pytest.raises(
        ConfigError, match=r"^store: .*: there is no folder .*no-such-folder$"
    ) as raised:
        await build_daemon(config)
    assert "\n" not in str(raised.value)
