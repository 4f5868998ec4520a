"""The MockHub's market is chosen wherever a MockHub is configured (`[hub] market`, the simulated
world over each dialect, `sim hub --market`); strict by default; an unknown name is one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fmd.hub import Outcome, Reason
from robot_controller.cli import app
from robot_controller.config import Config, MockHubConfig, load_config
from robot_controller.simulated import simulated
from robot_controller.wiring import build_hub
from simulators.delivery import generate_delivery, master_data
from simulators.world import write_master_data

runner = CliRunner()
LOCATION = "hospital-pharmacy-1"
SITE = f'[site]\nlocation = "{LOCATION}"\n'
SECOND_SUPPLY: dict[str | None, Outcome] = {None: "alert", "strict": "alert", "fi": "refused"}


def market_key(market: str | None) -> dict[str, str]:
    return {} if market is None else {"market": market}


@pytest.mark.parametrize("dialect", ["mock", "soap", "rest"])
@pytest.mark.parametrize("market", [None, "strict", "fi"])
async def test_the_simulated_hub_answers_a_second_supply_as_its_market_does(
    tmp_path: Path, dialect: str, market: str | None
) -> None:
    config = Config(
        site={"location": LOCATION},
        hub={"kind": "mock", **market_key(market)},
        simulation={"packs": 1, "suspect_rate": 0.0, "hub": dialect, "robot": "none",
                    "scanner": "none"},
    )  # fmt: skip
    async with simulated(config, tmp_path) as (reached, world):
        hub = await build_hub(reached)
        try:
            ui = world.delivery.packs[0].ui
            first = await hub.decommission(ui, Reason.SUPPLIED)
            again = await hub.decommission(ui, Reason.SUPPLIED)
        finally:
            await hub.aclose()
    assert first.outcome == "ok"
    assert again.outcome == SECOND_SUPPLY[market]
    assert (again.alert_id is not None) == (again.outcome == "alert")


def test_a_config_file_names_the_market(tmp_path: Path) -> None:
    data = write_master_data(master_data(generate_delivery(1, seed=1)), tmp_path / "md.json")
    config = tmp_path / "site.toml"
    config.write_text(SITE + f'[hub]\nkind = "mock"\nmaster_data = "{data}"\nmarket = "fi"\n')
    hub = load_config(config).hub
    assert isinstance(hub, MockHubConfig)
    assert hub.market == "fi"


def test_an_unknown_market_in_the_config_is_one_line_naming_the_known_ones(
    tmp_path: Path,
) -> None:
    config = tmp_path / "site.toml"
    config.write_text(SITE + '[hub]\nkind = "mock"\nmarket = "se"\n')
    result = runner.invoke(app, ["verify", "--config", str(config), "]d201095060001343521X1"])
    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert "market" in line
    assert "unknown market 'se' (known: strict, fi)" in line


def test_sim_hub_refuses_an_unknown_market_in_one_line() -> None:
    result = runner.invoke(app, ["sim", "hub", "--market", "se"])
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.endswith("--market: unknown market 'se' (known: strict, fi)")
