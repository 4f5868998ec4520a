"""Crash recovery: a daemon killed with SIGKILL at random points loses nothing on restart.

After each kill the daemon is started again on the same store; when the delivery is done, no scan
is lost, no pack was decommissioned twice or raised an alert by a retry, and no suspect pack was
shelved.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from robot_controller.robot.base import FaultCode, MachineCommand, RobotError
from robot_controller.robot.modbus import ModbusRobot
from robot_controller.store import Store
from simulators.delivery import Kind, generate_delivery
from simulators.plc import PlcSimulator
from simulators.robot_model import RobotFaults, RobotModel, Timings
from tests.support.crash import TODAY

ROOT = Path(__file__).parents[1]  # `python -m tests.crash_child` finds `tests` from here
PACKS = 240
PLC_PACKS = 40


def run_child(db: Path, journal: Path, seed: int, kill_after: float | None) -> bool:
    """Run the daemon once, killed `kill_after` s after it is ready; True when it finished."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.crash_child", str(db), str(journal), str(seed), str(PACKS)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    if kill_after is None:
        out, _ = child.communicate(timeout=120)
        assert child.returncode == 0
        return "done" in out
    time.sleep(kill_after)
    if child.poll() is None:
        child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    return child.returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_a_delivery_survives_random_kills(tmp_path: Path, seed: int) -> None:
    db, journal = tmp_path / "fmd.db", tmp_path / "hub-journal.jsonl"
    rng = random.Random(seed)
    kills = 0
    for _ in range(4):
        if run_child(db, journal, seed, kill_after=rng.uniform(0.05, 0.6)):
            break
        kills += 1
    run_child(db, journal, seed, kill_after=None)
    assert kills > 0, "the daemon was never killed mid-delivery; the test proved nothing"

    delivery = generate_delivery(PACKS, seed=seed, suspect_rate=0.2, today=TODAY)
    store = Store.open(f"sqlite:///{db}")
    try:
        scans = list(store.raw_scans())
        outcomes = store.outcomes()
        summary = store.summary()
        chain = store.check_audit_chain()
        with store.engine.connect() as conn:
            flagged: set[int] = set(
                conn.execute(sa.text("SELECT token FROM outcomes WHERE flagged")).scalars()
            )
    finally:
        store.close()

    assert [raw for _token, raw in scans] == delivery.raws, "every scan recorded once, in order"
    assert summary["lost"] == 0
    for (token, _raw), pack in zip(scans, delivery.packs, strict=True):
        route = outcomes[token][0]
        if pack.kind is not Kind.GENUINE:
            assert route != "shelved", f"suspect {pack.kind} pack {token} was shelved"
    assert chain.ok

    ours = [json.loads(line) for line in journal.read_text().splitlines()]
    ours = [line for line in ours if line["location"] == "crash-test-pharmacy"]
    landed = Counter(line["ui"]["serial"] for line in ours if line["outcome"] == "ok")
    assert landed, "nothing was decommissioned"
    assert max(landed.values()) == 1, "a pack was decommissioned twice"
    assert not any(line["code"] == "NMVS_NC_PCK_22" for line in ours), "a retry raised an alert"
    tokens_of: dict[str, list[int]] = {}
    for (token, _raw), pack in zip(scans, delivery.packs, strict=True):
        tokens_of.setdefault(pack.ui.serial, []).append(token)
    for serial in landed:
        assert any(outcomes[t][0] == "shelved" or t in flagged for t in tokens_of[serial]), (
            f"pack {serial} was decommissioned but is neither on the shelf nor flagged"
        )


def acknowledge_the_watchdog(port: int) -> None:
    """At the terminal: acknowledge fault 900 and unhold the robot (a daemon heartbeats)."""

    async def ack() -> None:
        terminal = ModbusRobot.tcp("127.0.0.1", port)
        try:
            status = await terminal.status()
            if status.fault == FaultCode.HOST_WATCHDOG and await terminal.ack_fault(900):
                await terminal.command(MachineCommand.UNHOLD)
        except RobotError:
            pass  # the daemon has not connected yet: the next look acknowledges it
        finally:
            await terminal.aclose()

    asyncio.run(ack())


def run_child_on_the_plc(
    db: Path, journal: Path, seed: int, model: RobotModel, port: int, *, kill: bool
) -> bool:
    """Run the daemon once against the PLC; with `kill`, SIGKILL it while a robot job runs.
    The PLC's watchdog trips when it dies; the operator's ack lets the next daemon load."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.crash_child", str(db), str(journal), str(seed),
         str(PLC_PACKS), str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 120
    while child.poll() is None and time.monotonic() < deadline:
        if kill and model.busy and model.moves.total() > 3:
            child.send_signal(signal.SIGKILL)
            break
        if model.watchdog_tripped:
            acknowledge_the_watchdog(port)
        time.sleep(0.001)  # polling the PLC from outside, not ordering events
    child.wait(timeout=60)
    return child.returncode == 0


@pytest.mark.slow
def test_a_daemon_killed_during_robot_jobs_is_told_by_the_robot_where_each_pack_went(
    tmp_path: Path,
) -> None:
    db, journal = tmp_path / "fmd.db", tmp_path / "hub-journal.jsonl"
    model = RobotModel(timings=Timings(move_s=0.03), faults=RobotFaults(watchdog_s=0.3))
    plc = PlcSimulator(model, tcp=("127.0.0.1", 0))
    with plc.run_in_thread():
        kills = 0
        while kills < 3 and not run_child_on_the_plc(db, journal, 7, model, plc.port, kill=True):
            kills += 1
        run_child_on_the_plc(db, journal, 7, model, plc.port, kill=False)
        on_the_shelf = set(model.shelf.values())
        moved_twice = [token for token, moves in model.moves.items() if moves > 1]
    assert kills > 0, "the daemon was never killed during a robot job; the test proved nothing"

    store = Store.open(f"sqlite:///{db}")
    try:
        outcomes = store.outcomes()
        summary = store.summary()
    finally:
        store.close()
    assert summary["lost"] == 0
    assert moved_twice == []
    shelved = {token for token, (route, _) in outcomes.items() if route == "shelved"}
    assert shelved == on_the_shelf, "the log and the robot disagree about what is on the shelf"
