"""A delivery loaded over a misbehaving wire: nothing lost, nothing decommissioned twice, and no
alert raised by a retry, on both dialects."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from fmd.hub import MockHub
from fmd.hub.resilient import CircuitBreaker, ResilientHub, RetryPolicy
from fmd.policy import SitePolicy
from robot_controller.pipeline import Pipeline
from robot_controller.robot.sim import SimRobot
from robot_controller.store import Store
from scanners.script import ScriptedScanner
from simulators.delivery import generate_delivery, seed_hub
from simulators.hub import Faults, HubSimulator

TODAY = datetime.now(UTC).date()


@pytest.mark.parametrize("dialect", ["soap", "rest"])
async def test_a_faulty_wire_loses_nothing_and_never_doubles_a_decommission(
    tmp_path: Path, dialect: str
) -> None:
    delivery = generate_delivery(60, seed=41, suspect_rate=0.0, today=TODAY)
    hub = MockHub(seed=2)
    seed_hub(hub, delivery)
    faults = Faults(lost_reply_rate=0.15, drop_rate=0.05, error_rate=0.05, throttle_rate=0.05,
                    truncated_rate=0.05, malformed_rate=0.05, retry_after_s=0)  # fmt: skip
    with HubSimulator(hub, dialects=(dialect,), faults=faults, seed=7) as sim:
        client = sim.client()
        resilient = ResilientHub(client, retry=RetryPolicy(attempts=6, backoff_s=0.01),
                                 breaker=CircuitBreaker(failures=50))  # fmt: skip
        store = Store.open(f"sqlite:///{tmp_path / 'fmd.db'}")
        pipeline = Pipeline(store=store, hub=resilient, robot=SimRobot(),
                            site=SitePolicy(mode="hospital"), window=8)  # fmt: skip
        await pipeline.run([ScriptedScanner(delivery.raws)])
        await pipeline.aclose()
        await client.aclose()

    summary = store.summary()
    assert summary["lost"] == 0
    assert summary["packs"] == 60
    assert set(hub.state_changes_by_pack.values()) <= {1}, "a pack was decommissioned twice"
    assert hub.alerts == [], "a retry raised an alert"
    assert summary["shelved"] == summary["decommissioned"]
    assert summary["shelved"] + summary["quarantined"] == 60
    assert summary["shelved"] >= 50  # the wire is bad, but the retries get most packs through
