"""SIGKILL of the daemon during a WWKS2 stock-in: `fmd-robot run` against the simulated robot
(in this process), killed at seeded points of a delivery and started again on the same store.

When the robot has finished, every pack it asked about has its outcome in the log (a pack cut
off is flagged or recovered), nothing the robot stored is unknown to the log, no suspect pack is
on the shelf, no pack was decommissioned twice (the mock hub lives in the daemon's process, so
the store's outbox is counted: at most one DONE decommission per pack) and no alert case was
opened, and the audit chain verifies. Kill points are the robot's own events (its n-th
InputRequest or InputResponse), not times.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from robot_controller.store import Store
from simulators.delivery import Kind, generate_delivery, master_data
from simulators.world.hub import write_master_data
from simulators.wwks2 import RobotSettings, ScanPack, Wwks2RobotSim

ROOT = Path(__file__).parents[1]
PACKS = 24
SEEDS = [14, 15]  # 16…19 pass too; two keep the test near 20 s
LOCATION = "wwks2-crash-pharmacy"


def config(tmp: Path, port: int, data: Path) -> Path:
    path = tmp / "fmd-robot.toml"
    path.write_text(
        f"""
[site]
location = "{LOCATION}"
mode = "hospital"

[store]
url = "sqlite:///{tmp / "fmd.db"}"

[hub]
kind = "mock"
master_data = "{data}"
latency_ms = 15

[robot]
kind = "wwks2"
host = "127.0.0.1"
port = {port}
answer_within_s = 2.0
stored_within_s = 5.0

[log]
level = "info"
format = "json"
""",
        encoding="utf-8",
    )
    return path


async def daemon(conf: Path, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "robot_controller", "run", "--config", str(conf),
            "--no-console", cwd=ROOT, stdout=out, stderr=out,
        )  # fmt: skip


def count(sim: Wwks2RobotSim, direction: str, lead: str) -> int:
    return sum(1 for w in sim.record if w.direction == direction and w.lead == lead)


def kill_points(rng: random.Random) -> list[Callable[[Wwks2RobotSim], bool]]:
    """Three seeded kills: while a pack waits for our answer, and after an answer while the
    robot moves the pack (each counted from the start of the delivery)."""
    points: list[Callable[[Wwks2RobotSim], bool]] = []
    for at in sorted(rng.sample(range(2, PACKS - 4), 3)):
        lead, direction = rng.choice([("InputRequest", "out"), ("InputResponse", "in")])
        points.append(_reached(direction, lead, at))
    return points


def _reached(direction: str, lead: str, at: int) -> Callable[[Wwks2RobotSim], bool]:
    def reached(sim: Wwks2RobotSim) -> bool:
        return count(sim, direction, lead) >= at

    return reached


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
async def test_a_daemon_killed_during_a_wwks2_stock_in_loses_nothing(
    tmp_path: Path, seed: int
) -> None:
    delivery = generate_delivery(PACKS, seed=seed, suspect_rate=0.25)
    data = write_master_data(master_data(delivery), tmp_path / "master.json")
    scans = [ScanPack(raw.removeprefix("]d2")) for raw in delivery.raws]
    robot = RobotSettings(components=(40, 41), answer_deadline_s=2.5, move_time_s=0.05)
    log = tmp_path / "daemon.log"
    async with Wwks2RobotSim(robot, scans=scans) as sim:
        conf = config(tmp_path, sim.port, data)
        kills = 0
        child = None
        try:
            async with asyncio.timeout(60):
                for point in kill_points(random.Random(seed)):
                    child = await daemon(conf, log)
                    await sim.until(lambda: point(sim) or len(sim.outcomes) == PACKS)  # noqa: B023
                    if len(sim.outcomes) == PACKS:
                        break
                    child.send_signal(signal.SIGKILL)
                    await child.wait()
                    kills += 1
                child = await daemon(conf, log)
                await sim.until(lambda: len(sim.outcomes) == PACKS)
                child.send_signal(signal.SIGTERM)
                assert await child.wait() == 0, log.read_text()[-2000:]
        finally:
            if child is not None and child.returncode is None:  # the test failed: ours, ended
                child.kill()
                await child.wait()
        shelf = [pack.scan_code for pack in sim.shelf.select(())]
        on_the_shelf = set(shelf)
        answered = {
            w.id for w in sim.record if w.direction == "in" and w.lead == "InputResponse" and w.id
        }
        asked = {o.request_id: o for o in sim.outcomes}
    assert kills == 3, "the daemon was not killed mid-delivery; the test proved nothing"

    store = Store.open(f"sqlite:///{tmp_path / 'fmd.db'}")
    try:
        scans_logged = list(store.raw_scans())
        outcomes = store.outcomes()
        summary = store.summary()
        with store.engine.connect() as conn:
            flagged: set[int] = set(
                conn.execute(sa.text("SELECT token FROM outcomes WHERE flagged")).scalars()
            )
            twice = conn.execute(
                sa.text(
                    "SELECT product_code, serial, count(*) FROM outbox WHERE operation = "
                    "'decommission' AND status = 'done' GROUP BY product_code, serial "
                    "HAVING count(*) > 1"
                )
            ).all()
            alerts = conn.execute(sa.text("SELECT serial, return_code FROM alerts")).all()
    finally:
        store.close()

    assert summary["lost"] == 0
    assert all(token in outcomes for token, _raw in scans_logged), "a scan without its outcome"
    raws = {raw for _token, raw in scans_logged}
    for request_id in answered:  # every pack we answered: its scan is in the log
        assert asked[request_id].pack.code in raws
    for code in on_the_shelf:  # the robot holds nothing the log does not know as shelved/flagged
        tokens = [token for token, raw in scans_logged if raw == code]
        assert any(outcomes[t][0] == "shelved" or t in flagged for t in tokens), code
    suspects = {  # a duplicate's code is its genuine twin's: either may come first
        p.raw.removeprefix("]d2")
        for p in delivery.packs
        if p.kind not in (Kind.GENUINE, Kind.DUPLICATE)
    }
    assert not on_the_shelf & suspects, "a suspect pack was shelved"
    assert max(Counter(shelf).values()) == 1, "a pack shelved twice (its duplicate let in)"
    assert twice == [], "a pack was decommissioned twice"
    genuine = {p.ui.serial for p in delivery.packs if p.kind is Kind.GENUINE}
    assert not [serial for serial, _code in alerts if serial in genuine], "an alert on a good pack"
    assert not [code for _serial, code in alerts if code == "NMVS_NC_PCK_22"], "a retry's alert"

    verify = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "robot_controller", "audit", "verify", "--config", str(conf),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    said, _ = await verify.communicate()
    assert verify.returncode == 0, said.decode()
