"""`/metrics` after a real delivery loaded by the wired daemon, and `/healthz` and `/readyz`:
what a scraper and a probe are told, and who may ask."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from fmd.hub.resilient import HubHealth
from robot_controller.config import load_config
from robot_controller.metrics import OPEN_STATES, Metrics
from robot_controller.pipeline import Routed, utc_now
from robot_controller.robot.base import JobCode, JobResult
from robot_controller.robot.modbus import ModbusRobot
from robot_controller.robot.sim import SimRobot
from robot_controller.simulated import simulated
from robot_controller.store import Store
from robot_controller.store.schema import jobs as robot_jobs
from robot_controller.store.schema import verifications
from robot_controller.users import Role
from robot_controller.web.app import create_app
from robot_controller.web.services import web_services
from robot_controller.wiring import build_daemon
from simulators.scanner import VirtualScanner
from tests.support.scan_reader import reading
from tests.support.until import until
from tests.support.web import BASE, web_world

PACKS = 24
UNUSED_PORT = 18159  # this suite's own range (18150-18159): nothing serves on it


def samples(text: str) -> dict[str, list[Sample]]:
    """Every sample of the exposition, by metric family name."""
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(found: list[Sample], name: str, **labels: str) -> float:
    (sample,) = [s for s in found if s.name == name and s.labels == labels]
    return sample.value


def logged(store: Store) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], float]]:
    """The hub calls (operation, outcome) and robot jobs (job, result) the store recorded."""
    with store.reading() as conn:
        calls = conn.execute(
            sa.select(verifications.c.operation, verifications.c.outcome, sa.func.count()).group_by(
                verifications.c.operation, verifications.c.outcome
            )
        ).all()
        jobs = conn.execute(
            sa.select(robot_jobs.c.code, robot_jobs.c.result, sa.func.count()).group_by(
                robot_jobs.c.code, robot_jobs.c.result
            )
        ).all()
    return (
        {(str(op), str(outcome)): float(str(n)) for op, outcome, n in calls},
        {
            (JobCode(int(str(code))).name.lower(), JobResult(int(str(result))).name.lower()): (
                float(str(n))
            )
            for code, result, n in jobs
        },
    )


@pytest.mark.parametrize("robot", ["sim", "wwks2"])  # wwks2: the robot's own stock-in moves
async def test_the_metrics_tell_what_a_loaded_delivery_did(tmp_path: Path, robot: str) -> None:
    config = load_config().model_copy(deep=True)
    config = config.model_copy(
        update={
            "store": config.store.model_copy(update={"url": f"sqlite:///{tmp_path / 'fmd.db'}"}),
            "simulation": config.simulation.model_copy(  # type: ignore[union-attr]
                update={"packs": PACKS, "suspect_rate": 0.3, "seed": 5, "robot": robot}
            ),
        }
    )
    metrics = Metrics()
    routed: list[Routed] = []
    async with simulated(config, tmp_path / "world") as (reached, world):
        daemon = await build_daemon(reached, on_routed=routed.append, observer=metrics)
        try:
            world.begin(lambda: len(routed))
            await daemon.run(stop=world.all_in)
            await daemon.pipeline.steps.context.call(daemon.checkpoints.if_new)
            services = web_services(
                reached,
                daemon.store,
                robot=daemon.robot,
                metrics=metrics,
                scanner_devices=daemon.scanners,
            )
            _, token = daemon.store.add_user("prometheus", Role.OPERATOR, actor="t", at=utc_now())
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(services)),
                base_url=BASE,
                headers={"Authorization": f"Bearer {token}"},
            )
            async with client:
                answer = await client.get("/metrics")
            store = daemon.store
            outbox = store.outbox_counts(robot=reached.robot.name)  # type: ignore[union-attr]
            alerts = {s: len(store.alert_cases(s)) for s in OPEN_STATES}
            head, _ = store.audit_head()
            checkpoint = store.last_checkpoint()
            calls, moved = logged(store)
        finally:
            await daemon.aclose()
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    found = samples(answer.text)

    packs = Counter((p.route.value, p.why.value) for p in routed)
    assert len(routed) == PACKS
    assert len(packs) > 1  # a delivery with suspects: more than one route and reason
    for (route, reason), count in packs.items():
        assert value(found["fmd_packs"], "fmd_packs_total", route=route, reason=reason) == count
    assert sum(s.value for s in found["fmd_packs"] if s.name == "fmd_packs_total") == PACKS

    hub = {
        (s.labels["operation"], s.labels["outcome"]): s.value
        for s in found["fmd_hub_call_seconds"]
        if s.name == "fmd_hub_call_seconds_count"
    }
    assert hub.pop(("ping", "ok")) == 1  # the login check at the start
    assert ("verify", "None") not in calls  # a mock without faults: every call answered
    assert hub == calls  # each pack's call, as the verification log has it
    assert {operation for operation, _ in calls} >= {"verify", "decommission"}

    jobs = {
        (s.labels["job"], s.labels["result"]): s.value
        for s in found["fmd_robot_job_seconds"]
        if s.name == "fmd_robot_job_seconds_count"
    }
    assert jobs == moved
    shelved = sum(n for (route, _), n in packs.items() if route == "shelved")
    assert jobs[("place_on_shelf", "stored")] == shelved > 0

    depth = {
        (s.labels["operation"], s.labels["status"]): s.value for s in found["fmd_outbox_intents"]
    }
    assert depth == {key: float(n) for key, n in outbox.items()}
    assert depth  # the decommissions are there, settled
    for state, count in alerts.items():
        assert value(found["fmd_alerts_open"], "fmd_alerts_open", state=state.value) == count
    assert value(found["fmd_audit_head_seq"], "fmd_audit_head_seq") == head > 0
    assert checkpoint is not None
    assert value(found["fmd_audit_checkpoint_seq"], "fmd_audit_checkpoint_seq") == checkpoint.seq
    assert (
        value(
            found["fmd_audit_checkpoint_timestamp_seconds"],
            "fmd_audit_checkpoint_timestamp_seconds",
        )
        == checkpoint.at.timestamp()
    )


async def test_a_serial_scanner_that_was_unplugged_twice_counts_two_reconnects(
    tmp_path: Path, sqlite_url: str
) -> None:
    metrics = Metrics()
    with VirtualScanner(link_dir=tmp_path / "by-id") as sim:
        async with reading(str(sim.port)) as reader:
            metrics.watch(Store.open(sqlite_url), robot=None, scanners=[reader.scanner])
            before = samples(metrics.exposition().decode())
            for n in (1, 2):
                sim.unplug()
                sim.replug()
                await until(lambda n=n: reader.scanner.stats.reconnects == n)
            after = samples(metrics.exposition().decode())
            source = reader.scanner.source
            assert source == f"serial:{sim.port}"
    name = "fmd_scanner_reconnects_total"
    assert value(before["fmd_scanner_reconnects"], name, source=source) == 0
    assert value(after["fmd_scanner_reconnects"], name, source=source) == 2


async def test_metrics_need_a_signed_in_caller(sqlite_url: str) -> None:
    world = web_world(Store.open(sqlite_url))
    async with world.api() as anonymous:
        refused = await anonymous.get("/metrics")
    async with world.api(Role.OPERATOR) as scraper:
        allowed = await scraper.get("/metrics")
    assert refused.status_code == 401
    assert "fmd_packs" not in refused.text
    assert allowed.status_code == 200
    assert "fmd_outbox_intents" in samples(allowed.text)


async def test_healthz_says_alive_to_anyone(sqlite_url: str) -> None:
    world = web_world(Store.open(sqlite_url))
    async with world.api() as client:
        answer = await client.get("/healthz")
    assert (answer.status_code, answer.json()) == (200, {"status": "alive"})


async def test_readyz_is_ready_when_store_hub_and_robot_answer(sqlite_url: str) -> None:
    robot = SimRobot(capacity=10)
    await robot.connect()
    world = web_world(Store.open(sqlite_url), robot=robot)
    async with world.api() as client:
        answer = await client.get("/readyz")
    await robot.aclose()
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ready"] is True
    assert [c["part"] for c in body["checks"]] == ["store", "hub", "robot"]
    assert all(c["ready"] for c in body["checks"])


async def test_readyz_names_each_part_that_is_not_ready_in_one_line(
    sqlite_url: str, tmp_path: Path
) -> None:
    store = Store.open(sqlite_url)
    world = web_world(store)  # no daemon: no robot
    world.services.hub_health = lambda: HubHealth.BREAKER_OPEN
    async with world.api() as client:
        answer = await client.get("/readyz")
        store.close()
        (tmp_path / "fmd-robot.db").write_bytes(b"not a database " * 512)  # sqlite_url's file
        closed = await client.get("/readyz")
    assert answer.status_code == 503
    checks = {c["part"]: c for c in answer.json()["checks"]}
    assert checks["store"]["ready"] is True
    assert checks["hub"] == {
        "part": "hub",
        "ready": False,
        "detail": "failed too often: calls are paused for the breaker's cool-down",
    }
    assert checks["robot"]["ready"] is False
    assert "no daemon" in checks["robot"]["detail"]
    assert all("\n" not in c["detail"] for c in checks.values())
    assert closed.status_code == 503
    store_check = next(c for c in closed.json()["checks"] if c["part"] == "store")
    assert store_check["ready"] is False
    assert store_check["detail"].startswith("cannot be read")
    assert str(tmp_path) not in closed.text  # no addresses, no paths


async def test_readyz_says_when_the_robot_does_not_answer(sqlite_url: str) -> None:
    robot = ModbusRobot.tcp("127.0.0.1", UNUSED_PORT)  # nothing listens there
    world = web_world(Store.open(sqlite_url), robot=robot)
    async with world.api() as client:
        answer = await client.get("/readyz")
    assert answer.status_code == 503
    (check,) = [c for c in answer.json()["checks"] if c["part"] == "robot"]
    assert check["ready"] is False
    assert check["detail"].startswith("unreachable")
