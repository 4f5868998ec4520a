"""A pack keyed in by hand (`verify --manual`, `pack supply --manual`): its fields checked before
anything is sent, the entry recorded in the log as a manual scan before the hub is asked, the
hub's answer after it, and a supply committed to the outbox first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from fmd.hub import MockHub, Reason
from fmd.hub.master_data import load_master_data
from robot_controller.cli import app
from robot_controller.store import Store
from robot_controller.store.schema import audit_events, outbox, outcomes, scans, verifications
from robot_controller.wiring import read_master_data
from simulators.hub import HubSimulator
from tests.support.packs import GTIN

runner = CliRunner()
PPN = "110375286414"
MASTER_DATA = {
    "products": [{"product_code": GTIN, "scheme": "GTIN"}, {"product_code": PPN, "scheme": "PPN"}],
    "batches": [
        {"product_code": GTIN, "batch": "B1", "expiry": "2028-12-31"},
        {"product_code": PPN, "batch": "P1", "expiry": "2028-06-30"},
    ],
    "packs": [
        {"product_code": GTIN, "serial": "KEYED1", "batch": "B1"},
        {"product_code": PPN, "serial": "KEYED2", "batch": "P1"},
    ],
}
KEYED = ["--manual", GTIN, "KEYED1"]
PRINTED = ["--batch", "B1", "--expiry", "281231"]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A site whose mock hub holds two packs, with its store in `tmp_path`."""
    (tmp_path / "packs.json").write_text(json.dumps(MASTER_DATA), encoding="utf-8")
    path = tmp_path / "site.toml"
    path.write_text(
        f'[site]\nlocation = "ward-7"\n[store]\nurl = "sqlite:///{tmp_path}/fmd.db"\n'
        '[hub]\nkind = "mock"\nmaster_data = "packs.json"\n',
        encoding="utf-8",
    )
    return path


def invoke(config: Path, *args: str) -> Any:
    result = runner.invoke(app, [*args, "--config", str(config)])
    assert "Traceback" not in result.output
    return result


def rows(config: Path, table: sa.Table) -> list[Any]:
    store = Store.open(f"sqlite:///{config.parent}/fmd.db")
    try:
        with store.engine.connect() as conn:
            return list(conn.execute(sa.select(table).order_by(*table.primary_key.columns)))
    finally:
        store.close()


def test_a_keyed_in_verify_is_recorded_as_a_manual_scan_with_the_hubs_answer(
    config: Path,
) -> None:
    result = invoke(config, "verify", *KEYED, *PRINTED, "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert (answer["outcome"], answer["state"], answer["token"]) == ("ok", "ACTIVE", 1)

    [scan] = rows(config, scans)
    assert scan.source == "manual"
    keyed = f"manual scheme=GTIN product_code={GTIN} serial=KEYED1 batch=B1 expiry_raw=281231"
    assert scan.raw.decode() == keyed == answer["entry"]
    [outcome] = rows(config, outcomes)
    assert (outcome.route, outcome.why, outcome.flagged) == ("returned", "keyed-in", False)
    [call] = rows(config, verifications)
    assert (call.operation, call.outcome, call.return_code) == ("manual", "ok", "NMVS_SUCCESS")
    assert json.loads(call.request)["batch"] == "B1"
    assert rows(config, outbox) == []  # a verify changes nothing: no intent
    actions = [event.action for event in rows(config, audit_events)]
    assert actions == ["scan.recorded", "pack.returned", "hub.manual"]


def test_the_scheme_follows_the_product_code_or_the_option(config: Path) -> None:
    ppn = ["verify", "--manual", PPN, "KEYED2", "--batch", "P1", "--expiry", "280600", "--json"]
    assert invoke(config, *ppn).exit_code == 0
    assert invoke(config, *ppn, "--scheme", "GTIN").exit_code == 2
    assert "scheme=PPN" in rows(config, scans)[0].raw.decode()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["verify", *KEYED], "a verify needs the batch and the expiry"),
        (["verify", *KEYED, "--batch", "B1"], "the batch and the expiry are keyed in together"),
        (["verify", "--manual", GTIN[:-1] + "3", "KEYED1", *PRINTED], "wrong check digit"),
        (["verify", "--manual", GTIN[:-1], "KEYED1", *PRINTED], "PPN"),  # 13 digits: no GTIN
        (["verify", "--manual", PPN[:-1] + "5", "KEYED2", *PRINTED], "wrong check digits"),
        (["verify", "--manual", GTIN, "KEY ED1", *PRINTED], "not in GS1 CSET 82"),
        (["verify", "--manual", GTIN, "K" * 21, *PRINTED], "not 1-20 characters"),
        (["verify", *KEYED, "--batch", "B1", "--expiry", "281232"], "not a date as printed"),
        (["verify", *KEYED, *PRINTED, "--scheme", "EAN"], "--scheme is GTIN or PPN"),
        (["verify", "]d2010950600013435221X", *KEYED], "not both"),
        (["verify", "--batch", "B1", "]d2010950600013435221X"], "go with --manual"),
        (["verify"], "give one scan, or --manual"),
        (["pack", "supply", *KEYED, "--batch", "B1"], "keyed in together"),
    ],
)
def test_a_bad_entry_is_refused_in_one_line_and_nothing_is_recorded(
    config: Path, args: list[str], says: str
) -> None:
    result = invoke(config, *args)
    assert result.exit_code == 2, result.output
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (config.parent / "fmd.db").exists() or rows(config, scans) == []


def test_a_supply_keyed_in_is_committed_to_the_outbox_before_it_is_sent(config: Path) -> None:
    result = invoke(config, "pack", "supply", *KEYED, *PRINTED, "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert (answer["state"], answer["reasons"], answer["intent"]) == ("INACTIVE", ["SUPPLIED"],
                                                                      "done")  # fmt: skip
    [intent] = rows(config, outbox)
    assert (intent.operation, intent.reason, intent.status) == ("decommission", "SUPPLIED", "done")
    assert intent.location == "ward-7"  # kept for its undo (Art. 13: the same premises)
    [call] = rows(config, verifications)
    assert call.client_trx_id == intent.client_trx_id
    actions = [event.action for event in rows(config, audit_events)]
    assert actions == [
        "scan.recorded", "pack.returned", "outbox.queued", "outbox.sending", "hub.manual",
        "outbox.done",
    ]  # fmt: skip  # counted as sent before it left: a replay beside it asks first


def test_a_supply_from_product_code_and_serial_alone_needs_no_intent(config: Path) -> None:
    result = invoke(config, "pack", "supply", *KEYED, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["intent"] is None
    assert rows(config, outbox) == []  # an intent holds a whole identifier
    [call] = rows(config, verifications)
    request = json.loads(call.request)
    assert (request["batch"], request["expiry_raw"], request["reason"]) == (None, None, "SUPPLIED")


def test_a_supply_the_hub_refuses_exits_1_and_an_alert_flags_the_pack(config: Path) -> None:
    result = invoke(config, "pack", "supply", "--manual", GTIN, "NOSUCH9", *PRINTED)
    assert result.exit_code == 1, result.output
    [intent] = rows(config, outbox)
    assert intent.status == "failed"
    [outcome] = rows(config, outcomes)
    assert outcome.flagged
    assert "alert" in outcome.message


def test_a_supply_by_code_and_serial_alone_whose_answer_is_lost_is_flagged(config: Path) -> None:
    config.write_text(config.read_text() + "lost_reply_rate = 1.0\n")  # applied, answer lost
    lost = invoke(config, "pack", "supply", *KEYED)
    assert lost.exit_code == 1
    assert "may have landed" in lost.stderr
    [outcome] = rows(config, outcomes)
    assert outcome.flagged
    assert "before sending it again" in outcome.message
    [call] = rows(config, verifications)
    assert (call.outcome, call.error) == (None, "injected lost reply: the request was processed")


# -- over the REST simulator: a lost answer ------------------------------------------------------


@pytest.fixture
def rest_site(tmp_path: Path) -> Iterator[tuple[Path, HubSimulator, MockHub]]:
    (tmp_path / "packs.json").write_text(json.dumps(MASTER_DATA), encoding="utf-8")
    hub = MockHub(seed=5)
    load_master_data(hub, read_master_data(tmp_path / "packs.json"))
    (tmp_path / "secret").write_text("sim-secret-1\n")
    with HubSimulator(hub, dialects=("rest",)) as sim:
        assert sim.pki is not None
        path = tmp_path / "site.toml"
        path.write_text(
            f'[site]\nlocation = "ward-7"\n[store]\nurl = "sqlite:///{tmp_path}/fmd.db"\n'
            f'[hub]\nkind = "rest"\nurl = "{sim.rest_url}"\nclient_id = "robot-equipment-01"\n'
            f'client_secret = {{ file = "secret" }}\nca = "{sim.pki.ca}"\n',
            encoding="utf-8",
        )
        yield path, sim, hub


def test_a_supply_whose_answer_is_lost_waits_in_the_outbox_and_is_never_sent_twice(
    rest_site: tuple[Path, HubSimulator, MockHub],
) -> None:
    config, sim, hub = rest_site
    sim.faults.update({"lost_reply_rate": 1.0})
    lost = invoke(config, "pack", "supply", *KEYED, *PRINTED)
    assert lost.exit_code == 1
    assert "waits in the outbox" in lost.stderr
    [intent] = rows(config, outbox)
    assert (intent.status, intent.attempts) == ("pending", 1)
    assert hub.pack_state(GTIN, "KEYED1")[1] == (Reason.SUPPLIED,)  # it landed, unseen

    again = invoke(config, "pack", "supply", *KEYED, *PRINTED)
    assert again.exit_code == 1
    assert "still waits in the outbox" in again.stderr
    assert len(rows(config, scans)) == 1  # refused before anything was recorded

    sim.faults.update({"lost_reply_rate": 0.0})
    replayed = invoke(config, "outbox", "replay")
    assert replayed.exit_code == 0, replayed.output
    assert rows(config, outbox)[0].status == "done"
    assert hub.state_changes_by_pack[(GTIN, "KEYED1")] == 1  # asked first, not sent again


def test_a_supply_the_hub_refuses_our_login_for_is_cancelled_never_sent(
    rest_site: tuple[Path, HubSimulator, MockHub],
) -> None:
    config, _, hub = rest_site
    (config.parent / "secret").write_text("not-the-secret\n")
    refused = invoke(config, "pack", "supply", *KEYED, *PRINTED)
    assert refused.exit_code == 2
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "robot-equipment-01" in refused.stderr
    assert rows(config, outbox)[0].status == "cancelled"
    assert hub.pack_state(GTIN, "KEYED1")[0] == "ACTIVE"
