"""Each pack's log events carry its token, bound once per pack (structlog contextvars)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import structlog
import structlog.contextvars
import structlog.testing

from fmd.hub import MockHub
from fmd.hub.resilient import ResilientHub
from fmd.policy import SitePolicy
from robot_controller.pipeline import Pipeline
from robot_controller.robot import SimRobot
from robot_controller.store import Store
from scanners.script import ScriptedScanner
from simulators.delivery import generate_delivery, seed_hub, supply_elsewhere

PER_PACK = {"scan.recorded", "scan.parsed", "hub.verify", "pack.decided", "pack.routed"}


async def test_every_step_of_a_pack_is_logged_with_its_token(tmp_path: Path) -> None:
    delivery = generate_delivery(12, seed=4, suspect_rate=0.5, today=datetime.now(UTC).date())
    hub = MockHub(seed=4)
    seed_hub(hub, delivery)
    await supply_elsewhere(hub, delivery)
    store = Store.open(f"sqlite:///{tmp_path / 'fmd.db'}")
    pipeline = Pipeline(
        store=store, hub=ResilientHub(hub.client("hospital-pharmacy-1")), robot=SimRobot(),
        site=SitePolicy(), window=4,
    )  # fmt: skip
    merge = [structlog.contextvars.merge_contextvars]
    with structlog.testing.capture_logs(processors=merge) as events:
        await pipeline.run([ScriptedScanner(delivery.raws)])
    await pipeline.aclose()
    store.close()

    steps: dict[int, set[str]] = defaultdict(set)
    for event in events:
        if event["event"] in PER_PACK:
            steps[event["token"]].add(event["event"])
    assert sorted(steps) == list(range(1, 13))
    assert all({"scan.recorded", "scan.parsed", "pack.decided", "pack.routed"} <= s
               for s in steps.values())  # fmt: skip
