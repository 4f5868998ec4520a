"""Two daemons, two robots, one PostgreSQL store and one national system over a wire that loses
replies: one daemon is killed with SIGKILL mid-delivery and started again on the scans it had
not taken. Nothing is lost, no pack is decommissioned twice or raises an alert, the outbox is
empty and unclaimed, and the audit log is one valid chain."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from fmd.codes.escapes import show_controls
from fmd.hub import MockHub
from fmd.hub.master_data import load_master_data
from robot_controller.proof.keys import generate
from robot_controller.states import IntentStatus
from robot_controller.store import Store, StoreBusy
from robot_controller.store.codec import decode_raw
from robot_controller.store.locks import hold_store
from robot_controller.store.schema import outbox, outcomes, scans
from simulators.delivery import generate_delivery, master_data
from simulators.hub import Accounts, Faults, HubSimulator

ROOT = Path(__file__).parents[1]
LOCATION = "ward-5-pharmacy"
ACCOUNTS = Accounts.for_location(LOCATION)
PACKS = 60  # half for each robot
ROBOTS = ("robot-a", "robot-b")


def daemon_config(
    folder: Path, url: str, sim: HubSimulator, robot: str, raws: Sequence[str], run: int
) -> Path:
    """`robot`'s daemon: the simulator as its REST hub, its own simulated robot, `raws` as a
    file of scans read at a steady pace, the outbox replayed often and drained at the end, its
    checkpoints signed with the site's key into a folder of its own."""
    pki = sim.pki
    assert pki is not None
    secret = folder / "hub-secret"
    secret.write_text(ACCOUNTS.rest[0].client_secret + "\n")
    scan_file = folder / f"{robot}-{run}.txt"
    scan_file.write_text("".join(show_controls(raw) + "\n" for raw in raws))
    sections: dict[str, dict[str, Any]] = {
        "site": {"location": LOCATION},
        "store": {"url": url},
        "hub": {
            "kind": "rest", "url": sim.rest_url, "client_id": ACCOUNTS.rest[0].client_id,
            "client_secret": {"file": str(secret)}, "ca": str(pki.ca), "timeout_s": 5,
        },
        "robot": {"kind": "sim", "name": robot, "move_time_ms": 15},
        "pipeline": {"window": 4, "replay_every_s": 0.3, "drain_timeout_s": 60},
        "audit": {"key": str(folder / "audit.key"), "checkpoints": str(folder / f"{robot}-proof")},
        "log": {"level": "warning", "file": str(folder / f"{robot}-{run}.log")},
    }  # fmt: skip
    text = "".join(
        f"[{name}]\n" + "".join(f"{key} = {toml(value)}\n" for key, value in body.items())
        for name, body in sections.items()
    )
    text += f'[[scanners]]\nkind = "script"\npath = "{scan_file}"\ninterval_ms = 25\n'
    config = folder / f"{robot}-{run}.toml"
    config.write_text(text)
    return config


def toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def start(config: Path) -> subprocess.Popen[str]:
    """`fmd-robot run --drain` on `config`, its output in a file beside it (`.out`)."""
    with config.with_suffix(".out").open("w") as output:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, "-m", "robot_controller", "run", "--config", str(config), "--drain",
             "--no-console"],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip


def finished_by(engine: sa.Engine, robot: str) -> int:
    """How many of `robot`'s packs have their outcome."""
    query = sa.select(sa.func.count()).where(outcomes.c.token == scans.c.id, scans.c.robot == robot)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def recorded_by(engine: sa.Engine, robot: str) -> list[str]:
    """The raw scans `robot`'s daemon recorded, in order."""
    query = sa.select(scans.c.raw).where(scans.c.robot == robot).order_by(scans.c.id)
    with engine.connect() as conn:
        raws: list[bytes] = list(conn.execute(query).scalars())
    return [decode_raw(raw) for raw in raws]


def wait_until_free(url: str, robot: str, timeout_s: float = 30) -> None:
    """Until the server has ended a killed daemon's session (and its robot lock with it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            hold_store(url, robot=robot).release()
            return
        except StoreBusy:
            assert time.monotonic() < deadline, f"{robot}'s lock outlived its daemon"
            time.sleep(0.05)  # polling the server from outside: nothing to await


@pytest.mark.postgres
@pytest.mark.slow
def test_two_daemons_on_one_postgresql_store_survive_the_kill_of_one(
    postgres_url: str, tmp_path: Path
) -> None:
    delivery = generate_delivery(PACKS, seed=71, suspect_rate=0.0, today=datetime.now(UTC).date())
    halves = {"robot-a": delivery.raws[0::2], "robot-b": delivery.raws[1::2]}
    hub = MockHub(seed=71)
    load_master_data(hub, master_data(delivery))
    Store.open(postgres_url).close()  # migrated once, before the daemons race to it
    generate(tmp_path / "audit.key")
    engine = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    faults = Faults(lost_reply_rate=0.1)  # applied, then the answer lost: asked before a resend
    try:
        with HubSimulator(hub, dialects=("rest",), accounts=ACCOUNTS, faults=faults, seed=5) as sim:
            configs = {
                r: daemon_config(tmp_path, postgres_url, sim, r, halves[r], 1) for r in ROBOTS
            }
            first = {robot: start(config) for robot, config in configs.items()}
            deadline = time.monotonic() + 120
            while finished_by(engine, "robot-a") < 8:  # mid-delivery
                assert first["robot-a"].poll() is None, "robot-a's daemon ended before its kill"
                assert time.monotonic() < deadline, "robot-a's daemon never got going"
                time.sleep(0.01)  # polling the store from outside: nothing to await
            first["robot-a"].send_signal(signal.SIGKILL)
            assert first["robot-a"].wait(timeout=30) == -signal.SIGKILL
            taken = recorded_by(engine, "robot-a")
            assert len(taken) < len(halves["robot-a"]), "killed after its delivery: proves nothing"
            assert taken == halves["robot-a"][: len(taken)]  # its file was read in order

            wait_until_free(postgres_url, "robot-a")
            rest = halves["robot-a"][len(taken) :]
            configs["robot-a"] = daemon_config(tmp_path, postgres_url, sim, "robot-a", rest, 2)
            last = {"robot-a": start(configs["robot-a"]), "robot-b": first["robot-b"]}
            for robot, daemon in last.items():
                output = configs[robot].with_suffix(".out")
                assert daemon.wait(timeout=180) == 0, output.read_text()
    finally:
        engine.dispose()

    store = Store.open(postgres_url)
    try:
        raws = [raw for _token, raw in store.raw_scans()]
        summary = store.summary()
        chain = store.check_audit_chain()
        finished = store.outcomes()
        with store.engine.connect() as conn:
            flagged: set[int] = set(
                conn.execute(sa.select(outcomes.c.token).where(outcomes.c.flagged)).scalars()
            )
            claimed = conn.execute(
                sa.select(sa.func.count()).where(outbox.c.claimed_by.is_not(None))
            ).scalar_one()
            pending = conn.execute(
                sa.select(sa.func.count()).where(outbox.c.status == IntentStatus.PENDING.value)
            ).scalar_one()
        token_of = {raw: token for token, raw in store.raw_scans()}
        took = {robot: recorded_by(store.engine, robot) for robot in ROBOTS}
    finally:
        store.close()

    assert sorted(raws) == sorted(delivery.raws), "every scan recorded once"
    for robot in ROBOTS:  # each daemon took its own robot's packs
        assert sorted(took[robot]) == sorted(halves[robot])
    assert summary["lost"] == 0, "every scan has its outcome"
    assert len(finished) == PACKS
    assert set(hub.state_changes_by_pack.values()) == {1}, "a pack was decommissioned twice"
    assert hub.alerts == [], "a resend raised an alert"
    for pack, raw in zip(delivery.packs, delivery.raws, strict=True):
        token = token_of[raw]
        if (pack.ui.product_code, pack.ui.serial) in hub.state_changes_by_pack:
            assert finished[token][0] == "shelved" or token in flagged, (
                f"pack {token} was decommissioned but is neither on the shelf nor flagged"
            )
    assert (pending, claimed) == (0, 0), "the outbox was drained and its claims released"
    assert chain.ok, chain
    assert chain.events > PACKS
