"""`fmd-robot pack undo|destroy|lock|unlock|stolen|export|sample` against the hub simulator over
both dialects: exactly one state change each, a lost answer then a replay changing nothing more
and raising no alert; the refusals, exit codes and messages; a running daemon sends it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from fmd.codes.encode import encode_gs1
from fmd.codes.escapes import show_controls
from fmd.hub import MockHub, PackState, Reason
from fmd.policy import Why
from robot_controller.cli import app
from robot_controller.config import MockHubConfig
from robot_controller.config_toml import toml_section
from robot_controller.pipeline import utc_now
from robot_controller.simulated import hub_config
from robot_controller.states import HubOperation, IntentStatus, Route
from robot_controller.store import Store
from robot_controller.store.locks import Holder, hold_store
from robot_controller.store.schema import audit_events, outbox
from scanners.base import Scan
from simulators.hub import HubSimulator
from simulators.hub.accounts import SIM_LOCATION
from simulators.world import endpoint_of
from tests.support.packs import GTIN, hub_pack

runner = CliRunner()
DIALECTS = ["soap", "rest"]
DECOMMISSIONS = {
    "destroy": Reason.DESTROYED,
    "lock": Reason.LOCKED,
    "stolen": Reason.STOLEN,
    "export": Reason.EXPORTED,
    "sample": Reason.SAMPLE,
}
WHO = ["--reason", "found damaged on the bench", "--actor", "dr.ana"]


@pytest.fixture(scope="module")
def simulator() -> Iterator[tuple[HubSimulator, MockHub]]:
    """One hub simulator speaking both dialects; each test uses packs of its own."""
    hub = MockHub(seed=9)
    hub.add_product(GTIN)
    hub.add_batch(GTIN, "B1", utc_now().date().replace(year=2028, month=12, day=31))
    with HubSimulator(hub, dialects=("soap", "rest")) as sim:
        yield sim, hub


Site = Callable[..., Path]


@pytest.fixture
def site(
    simulator: tuple[HubSimulator, MockHub], tmp_path: Path, sqlite_url: str
) -> Iterator[Site]:
    """Writes a site's configuration for a dialect (its store SQLite unless given)."""
    sim, _ = simulator

    def write(dialect: str, *, url: str = sqlite_url, location: str = SIM_LOCATION) -> Path:
        hub = hub_config(MockHubConfig(timeout_s=1.0), endpoint_of(sim, dialect))
        path = tmp_path / f"{dialect}.toml"
        path.write_text(
            f'[site]\nlocation = "{location}"\n[store]\nurl = "{url}"\n' + toml_section("hub", hub),
            encoding="utf-8",
        )
        return path

    yield write
    sim.faults.update({"lost_reply_rate": 0.0})


def a_pack(simulator: tuple[HubSimulator, MockHub], serial: str) -> str:
    """A pack the hub knows, as its scan is typed on a command line."""
    simulator[1].add_pack(hub_pack(serial))
    return show_controls(encode_gs1(hub_pack(serial)))


def invoke(config: Path, *args: str) -> Any:
    result = runner.invoke(app, [*args, "--config", str(config)])
    assert "Traceback" not in result.output, result.output
    return result


def store_of(config: Path) -> Store:
    url = next(line for line in config.read_text().splitlines() if line.startswith("url = "))
    return Store.open(url.split('"')[1])


def rows(config: Path, table: sa.Table) -> list[Any]:
    store = store_of(config)
    try:
        with store.engine.connect() as conn:
            return list(conn.execute(sa.select(table).order_by(*table.primary_key.columns)))
    finally:
        store.close()


def state(hub: MockHub, serial: str) -> tuple[PackState, tuple[Reason, ...]]:
    return hub.pack_state(GTIN, serial)


def alerts_for(hub: MockHub, serial: str) -> list[Any]:
    return [alert for alert in hub.alerts if alert.serial == serial]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("action", list(DECOMMISSIONS))
def test_each_decommission_changes_the_pack_once_though_its_answer_is_lost(
    simulator: tuple[HubSimulator, MockHub], site: Site, action: str, dialect: str
) -> None:
    sim, hub = simulator
    serial = f"{dialect}{action}".upper()
    config = site(dialect)
    sim.faults.update({"lost_reply_rate": 1.0})

    lost = invoke(config, "pack", action, "--scan", a_pack(simulator, serial), *WHO)

    assert lost.exit_code == 1, lost.output
    assert "waits in the outbox" in lost.stderr
    assert "asks the pack's state before it sends it again" in lost.stderr
    assert hub.state_changes_by_pack[(GTIN, serial)] == 1  # it landed, unseen
    sim.faults.update({"lost_reply_rate": 0.0})
    replayed = invoke(config, "outbox", "replay")
    assert replayed.exit_code == 0, replayed.output

    assert state(hub, serial) == (PackState.INACTIVE, (DECOMMISSIONS[action],))
    assert hub.state_changes_by_pack[(GTIN, serial)] == 1  # asked first: never sent again
    assert alerts_for(hub, serial) == []
    [intent] = rows(config, outbox)
    assert (intent.status, intent.actor, intent.location) == ("done", "dr.ana", SIM_LOCATION)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_lock_is_undone_by_unlock_once_though_the_unlocks_answer_is_lost(
    simulator: tuple[HubSimulator, MockHub], site: Site, dialect: str, store_url: str
) -> None:
    sim, hub = simulator
    serial = f"{dialect}UNLOCK{store_url[:4]}".upper()
    config = site(dialect, url=store_url)
    locked = invoke(config, "pack", "lock", "--scan", a_pack(simulator, serial), *WHO)
    assert locked.exit_code == 0, locked.output
    assert "LOCKED at the hub" in locked.stdout
    sim.faults.update({"lost_reply_rate": 1.0})

    lost = invoke(config, "pack", "unlock", GTIN, serial, *WHO)

    assert lost.exit_code == 1
    assert "waits in the outbox" in lost.stderr
    sim.faults.update({"lost_reply_rate": 0.0})
    assert invoke(config, "outbox", "replay").exit_code == 0
    assert state(hub, serial) == (PackState.ACTIVE, ())
    assert hub.state_changes_by_pack[(GTIN, serial)] == 2  # the lock, the unlock: once each
    assert alerts_for(hub, serial) == []


@pytest.mark.parametrize("dialect", DIALECTS)
def test_an_undo_reverts_the_sites_decommission_and_says_so(
    simulator: tuple[HubSimulator, MockHub], site: Site, dialect: str
) -> None:
    _, hub = simulator
    serial = f"{dialect}UNDO".upper()
    config = site(dialect)
    assert (
        invoke(config, "pack", "sample", "--scan", a_pack(simulator, serial), *WHO).exit_code == 0
    )

    undone = invoke(config, "pack", "undo", GTIN, serial, *WHO, "--json")

    assert undone.exit_code == 0, undone.output
    answer = json.loads(undone.stdout)
    assert (answer["operation"], answer["reason"], answer["intent"]) == ("undo", "SAMPLE", "done")
    assert answer["actor"] == "dr.ana"
    assert "undone at the hub, ACTIVE again" in answer["message"]
    assert state(hub, serial) == (PackState.ACTIVE, ())
    assert hub.state_changes_by_pack[(GTIN, serial)] == 2
    queued = [e for e in rows(config, audit_events) if e.action == "outbox.queued"]
    assert [(e.actor, e.why) for e in queued] == [("dr.ana", "found damaged on the bench")] * 2


def test_outbox_undo_is_pack_undo_for_the_pack_a_token_names(
    simulator: tuple[HubSimulator, MockHub], site: Site, store_url: str
) -> None:
    _, hub = simulator
    serial = f"ALIAS{store_url[:4]}".upper()
    config = site("rest", url=store_url)
    exported = invoke(config, "pack", "export", "--scan", a_pack(simulator, serial), *WHO)
    assert exported.exit_code == 0, exported.output

    undone = invoke(config, "outbox", "undo", "1", *WHO)

    assert undone.exit_code == 0, undone.output
    assert "pack 1: its EXPORTED decommission undone" in undone.stdout
    assert state(hub, serial)[0] is PackState.ACTIVE
    again = invoke(config, "outbox", "undo", "1", *WHO)
    assert again.exit_code == 1
    assert "no decommission of ours stands" in again.stderr
    assert invoke(config, "outbox", "undo", "9", *WHO).exit_code == 1


def old_decommission(config: Path, serial: str, *, ago: timedelta, expiry: str = "281231") -> None:
    """The log of a pack the robot decommissioned (SUPPLIED, here) `ago`, then returned."""
    store = store_of(config)
    try:
        ui = hub_pack(serial, expiry_raw=expiry)
        at = utc_now() - ago
        token = store.record_scan(Scan(encode_gs1(ui), "]d2", "bench", at), at=at)
        intent = store.queue_intent(token, ui, HubOperation.DECOMMISSION, Reason.SUPPLIED,
                                    trx=f"trx-{serial}", at=at, location=SIM_LOCATION)  # fmt: skip
        store.settle_intent(intent.id, IntentStatus.DONE, "NMVS_SUCCESS", at=at)
        store.finish(token, route=Route.REJECTED, why=Why.DECOMMISSIONED, message="", ui=ui,
                     at=at, flagged=True)  # fmt: skip
    finally:
        store.close()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_an_undo_whose_answer_is_lost_is_asked_about_not_sent_again(
    simulator: tuple[HubSimulator, MockHub], site: Site, dialect: str
) -> None:
    sim, hub = simulator
    serial = f"{dialect}LOSTUNDO".upper()
    config = site(dialect)
    sampled = invoke(config, "pack", "sample", "--scan", a_pack(simulator, serial), *WHO)
    assert sampled.exit_code == 0, sampled.output
    sim.faults.update({"lost_reply_rate": 1.0})

    lost = invoke(config, "pack", "undo", GTIN, serial, *WHO)

    assert lost.exit_code == 1
    assert "waits in the outbox" in lost.stderr
    assert state(hub, serial) == (PackState.ACTIVE, ())  # it landed, unseen
    sim.faults.update({"lost_reply_rate": 0.0})
    assert invoke(config, "outbox", "replay").exit_code == 0
    assert [row.status for row in rows(config, outbox)] == ["done", "done"]
    assert hub.state_changes_by_pack[(GTIN, serial)] == 2  # the sample, the undo: once each
    assert alerts_for(hub, serial) == []


def test_a_change_the_hub_refuses_exits_1_and_changes_nothing(
    simulator: tuple[HubSimulator, MockHub], site: Site
) -> None:
    _, hub = simulator
    hub.add_batch(GTIN, "R1", utc_now().date().replace(year=2028, month=6, day=30))
    hub.add_pack(hub_pack("RECALLED1", "R1", "280630"))
    hub.recall_batch(GTIN, "R1")
    scan = show_controls(encode_gs1(hub_pack("RECALLED1", "R1", "280630")))

    refused = invoke(site("rest"), "pack", "export", "--scan", scan, *WHO)

    assert refused.exit_code == 1
    assert "the hub refused pack 1's export" in refused.stderr
    assert "nothing changed" in refused.stderr
    assert hub.state_changes_by_pack.get((GTIN, "RECALLED1"), 0) == 0


@pytest.mark.parametrize(
    ("setup", "args", "says"),
    [
        (None, ["undo", GTIN, "NEVER1"], "never seen here: no decommission of ours to undo"),
        (None, ["destroy", GTIN, "NEVER2"], "never seen here: give its scan (--scan RAW)"),
        (timedelta(hours=241), ["undo", GTIN, "OLD1"], "more than 240 h ago"),
        (timedelta(hours=1), ["unlock", GTIN, "OLD2"], "is not locked"),
        (timedelta(hours=1), ["stolen", GTIN, "OLD3"], "decommissioned here already (SUPPLIED)"),
    ],
)
def test_a_refused_action_is_one_line_exit_1_and_nothing_is_sent(
    simulator: tuple[HubSimulator, MockHub],
    site: Site,
    setup: timedelta | None,
    args: list[str],
    says: str,
) -> None:
    _, hub = simulator
    config = site("soap")
    if setup is not None:
        old_decommission(config, args[2], ago=setup)
    before = hub.transactions

    refused = invoke(config, "pack", *args, *WHO)

    assert refused.exit_code == 1, refused.output
    assert says in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert hub.transactions == before
    assert all(row.operation == "decommission" for row in rows(config, outbox))


def test_an_undo_at_other_premises_or_of_an_expired_pack_is_refused(site: Site) -> None:
    config = site("rest")
    old_decommission(config, "GONE1", ago=timedelta(hours=2), expiry="240100")
    old_decommission(config, "ELSE1", ago=timedelta(hours=2))

    expired = invoke(config, "pack", "undo", GTIN, "GONE1", *WHO)
    elsewhere = invoke(site("rest", location="ward-9"), "pack", "undo", GTIN, "ELSE1", *WHO)

    assert (expired.exit_code, elsewhere.exit_code) == (1, 1)
    assert "is expired (240100)" in expired.stderr
    assert f"decommissioned at {SIM_LOCATION}, not here (ward-9)" in elsewhere.stderr


def test_an_undo_near_its_deadline_says_how_long_is_left(
    simulator: tuple[HubSimulator, MockHub], site: Site
) -> None:
    sim, hub = simulator
    config = site("rest")
    a_pack(simulator, "NEAR1")
    old_decommission(config, "NEAR1", ago=timedelta(hours=230))
    robots = hub.client(SIM_LOCATION)  # the hub holds it as the robot's decommission left it
    asyncio.run(robots.decommission(hub_pack("NEAR1"), Reason.SUPPLIED, trx="trx-NEAR1"))
    sim.faults.update({"lost_reply_rate": 1.0})

    lost = invoke(config, "pack", "undo", GTIN, "NEAR1", *WHO)

    assert lost.exit_code == 1
    assert "9 h" in lost.stderr
    assert "left of the 240 h undo window" in lost.stderr


def test_beside_a_running_daemon_the_action_is_committed_and_left_to_its_replay(
    simulator: tuple[HubSimulator, MockHub], site: Site, sqlite_url: str
) -> None:
    _, hub = simulator
    config = site("soap")
    scan = a_pack(simulator, "BUSY1")
    daemon = hold_store(sqlite_url, robot="robot", holder=Holder(4242, "fmd-robot run", "now"))
    try:
        deferred = invoke(config, "pack", "destroy", "--scan", scan, *WHO)
    finally:
        daemon.release()

    assert deferred.exit_code == 1
    assert "in use by pid 4242 (fmd-robot run)" in deferred.stderr
    assert "not sent; a running daemon sends it at its next replay (every 30 s)" in deferred.stderr
    [intent] = rows(config, outbox)
    assert (intent.status, intent.attempts) == ("pending", 0)
    assert state(hub, "BUSY1") == (PackState.ACTIVE, ())  # nothing sent beside the daemon
    assert invoke(config, "outbox", "replay").exit_code == 0
    assert state(hub, "BUSY1") == (PackState.INACTIVE, (Reason.DESTROYED,))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["destroy", *WHO], "give the pack's PRODUCT SERIAL, or its scan"),
        (["destroy", GTIN, *WHO], "give the pack's PRODUCT SERIAL, or its scan"),
        (["destroy", GTIN, "S1", "--scan", "]d201", *WHO], "not both"),
        (["destroy", "--scan", "hello", *WHO], "--scan: not a pack's unique identifier"),
        (["destroy", GTIN, "S1", "--reason", " ", "--actor", "dr.ana"], "--reason: say why"),
        (["destroy", GTIN, "S1", "--reason", "x", "--actor", ""], "--actor: name who asks"),
    ],
)
def test_bad_arguments_are_a_usage_error_and_record_nothing(
    site: Site, sqlite_url: str, args: list[str], says: str
) -> None:
    config = site("soap")
    result = invoke(config, "pack", *args)
    assert result.exit_code == 2, result.output
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()


def test_an_action_needs_its_actor_and_reason(site: Site) -> None:
    assert invoke(site("soap"), "pack", "lock", GTIN, "S1", "--reason", "x").exit_code == 2
    assert invoke(site("soap"), "outbox", "undo", "1", "--actor", "x").exit_code == 2
