"""A daemon process for the crash-recovery test: loads a delivery until it is killed or done.

The mock national system lives in this process, so every state change it applies is appended to
a journal (fsynced) before the answer is returned; a restarted child rebuilds the hub from it.
Usage, from the project root: python -m tests.crash_child DB JOURNAL SEED PACKS [PLC_PORT]
(with PLC_PORT, the robot is the PLC simulator on 127.0.0.1:PLC_PORT over Modbus TCP, which
outlives the daemon; else the in-process robot model).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fmd.codes.model import PackIdentifier
from fmd.hub import HubClient, HubResult, MockHub, Reason
from fmd.hub.resilient import ResilientHub
from fmd.policy import SitePolicy
from robot_controller.logs import configure_logging
from robot_controller.pipeline import Pipeline
from robot_controller.robot.base import Robot
from robot_controller.robot.modbus import ModbusRobot, ModbusTimeouts
from robot_controller.robot.sim import SimRobot
from robot_controller.store import Store
from scanners.script import ScriptedScanner
from simulators.delivery import OTHER_LOCATION, generate_delivery, seed_hub
from tests.support.crash import TODAY
from tests.support.relay import RelayClient

LOCATION = "crash-test-pharmacy"


class JournaledClient(RelayClient):
    """Journals each decommission's answer durably before returning it."""

    def __init__(self, inner: HubClient, journal: io.TextIOWrapper, location: str) -> None:
        super().__init__(inner)
        self.journal = journal
        self.location = location

    async def decommission(
        self, ui: PackIdentifier, to: Reason, *, trx: str | None = None
    ) -> HubResult:
        result = await self.inner.decommission(ui, to, trx=trx)
        line = {"location": self.location, "ui": _ui(ui), "reason": to.value, "trx": trx,
                "code": result.return_code, "outcome": result.outcome}  # fmt: skip
        self.journal.write(json.dumps(line) + "\n")
        self.journal.flush()
        os.fsync(self.journal.fileno())
        return result


def clock() -> datetime:
    """Real time of day on a fixed date, so the delivery's dates mean the same in any year."""
    return datetime.combine(TODAY, datetime.now(UTC).timetz())


def _ui(ui: PackIdentifier) -> dict[str, str]:
    return {
        "product_code": ui.product_code,
        "serial": ui.serial,
        "batch": ui.batch,
        "expiry_raw": ui.expiry_raw,
    }


async def rebuild(hub: MockHub, lines: list[dict[str, Any]]) -> None:
    """Re-apply the journaled state changes to a freshly seeded hub."""
    for line in lines:
        if line["outcome"] != "ok":
            continue
        ui = PackIdentifier(
            "GTIN",
            line["ui"]["product_code"],
            line["ui"]["serial"],
            line["ui"]["batch"],
            None,
            line["ui"]["expiry_raw"],
        )
        await hub.client(line["location"]).decommission(ui, Reason(line["reason"]), trx=line["trx"])


def robot_for(plc_port: int | None) -> Robot:
    if plc_port is None:
        return SimRobot(move_time_s=0.004)
    timeouts = ModbusTimeouts(heartbeat_s=0.05, done_timeout_s=5.0)
    return ModbusRobot.tcp("127.0.0.1", plc_port, timeouts=timeouts)


async def main(
    db: Path, journal: io.TextIOWrapper, seed: int, packs: int, plc_port: int | None = None
) -> None:
    configure_logging(stream=io.StringIO(), level="error")
    delivery = generate_delivery(packs, seed=seed, suspect_rate=0.2, today=TODAY)
    hub = MockHub(clock, seed=seed, latency_s=0.002)
    seed_hub(hub, delivery)
    journal.seek(0)
    lines = [json.loads(line) for line in journal.read().splitlines() if line]
    await rebuild(hub, lines)
    if not lines:
        other = JournaledClient(hub.client(OTHER_LOCATION), journal, OTHER_LOCATION)
        for ui in delivery.supplied_elsewhere:
            await other.decommission(ui, Reason.SUPPLIED)
    store = Store.open(f"sqlite:///{db}")
    already = sum(1 for _ in store.raw_scans())
    pipeline = Pipeline(
        store=store,
        hub=ResilientHub(JournaledClient(hub.client(LOCATION), journal, LOCATION)),
        robot=(robot := robot_for(plc_port)),
        site=SitePolicy(mode="hospital"),
        window=8,
        clock=clock,
        resume_every_s=0.05,
    )
    print("ready", flush=True)  # noqa: T201 - the parent test reads this line
    await pipeline.run([ScriptedScanner(delivery.raws[already:])])
    await pipeline.aclose()
    await robot.aclose()
    store.close()
    print("done", flush=True)  # noqa: T201 - the parent test reads this line


if __name__ == "__main__":
    with Path(sys.argv[2]).open("a+", encoding="utf-8") as journal_file:
        port = int(sys.argv[5]) if len(sys.argv) > 5 else None
        asyncio.run(main(Path(sys.argv[1]), journal_file, int(sys.argv[3]), int(sys.argv[4]), port))
