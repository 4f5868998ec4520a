"""A log with every kind of pack in it: a delivery loaded through the real pipeline (on the
wall clock: the resilient hub stamps its calls with it), and one alert case taken into
investigation through the alert register."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fmd.hub import MockHub
from fmd.hub.resilient import ResilientHub
from fmd.policy import SitePolicy
from robot_controller.alert_cases import AlertState
from robot_controller.pack_actions import PackRequest, commit
from robot_controller.pack_rules import PackAction
from robot_controller.pipeline import Pipeline, utc_now
from robot_controller.pipeline.context import new_trx
from robot_controller.robot.sim import SimRobot
from robot_controller.store import Store
from scanners.script import ScriptedScanner
from simulators.delivery import (
    SUSPECT_KINDS,
    Delivery,
    DeliveryPack,
    Kind,
    generate_delivery,
    seed_hub,
    supply_elsewhere,
)

LOCATION = "ward-pharmacy"
CLERK = "j.smith"
PHARMACIST = "a.jones"
HELD = "held for the inspector"


@dataclass
class Loaded:
    """The delivery, the store it was loaded into, its tokens in scan order, and the instants
    before the first scan and after the alert's transition."""

    delivery: Delivery
    store: Store
    tokens: list[int]
    started: datetime
    ended: datetime

    def pack(self, kind: Kind) -> tuple[int, DeliveryPack]:
        """The first pack of a kind, with its token."""
        return next((t, p) for t, p in zip(self.tokens, self.delivery.packs, strict=True)
                    if p.kind is kind)  # fmt: skip


async def load_delivery(store: Store, *, seed: int = 5) -> Loaded:
    """Every kind of pack (a duplicated serial scanned twice among them) loaded in hospital
    mode, then an alert pack scanned again with a Tab after it; the first scan's alert is
    then taken into investigation by `CLERK`, and `PHARMACIST` asks for a recalled pack to be
    locked (a pack action, committed to the outbox)."""
    started = utc_now()
    delivery = generate_delivery(4 * len(SUSPECT_KINDS), seed=seed, suspect_rate=1.0,
                                 today=started.date())  # fmt: skip
    hub = MockHub(seed=3)
    seed_hub(hub, delivery)
    await supply_elsewhere(hub, delivery)
    pipeline = Pipeline(store=store, hub=ResilientHub(hub.client(LOCATION)), robot=SimRobot(),
                        site=SitePolicy(mode="hospital"), window=4)  # fmt: skip
    suspect = next(p for p in delivery.packs if p.kind is Kind.UNKNOWN_SERIAL)
    rescanned = suspect.raw + "\t"  # the same pack again, framed by a Tab: a noted problem
    await pipeline.run([ScriptedScanner([*delivery.raws, rescanned])])
    await pipeline.aclose()
    tokens = [token for token, _raw in store.raw_scans()][: len(delivery.packs)]
    loaded = Loaded(delivery, store, tokens, started, started)
    investigate(store, loaded.pack(Kind.UNKNOWN_SERIAL)[0], at=utc_now())
    recalled = loaded.pack(Kind.RECALLED)[1].ui
    lock = PackRequest(PackAction.LOCK, recalled.product_code, recalled.serial, PHARMACIST, HELD,
                       LOCATION)  # fmt: skip
    commit(store, lock, trx=new_trx(), at=utc_now())  # committed, not sent
    loaded.ended = utc_now() + timedelta(microseconds=1)
    return loaded


def investigate(store: Store, token: int, *, at: datetime) -> None:
    """The alert case of pack `token` taken into investigation by `CLERK`."""
    (case,) = (case for case in store.alert_cases() if case.token == token)
    store.move_alert(case.id, AlertState.INVESTIGATING, reason="scanner checked", actor=CLERK,
                     at=at)  # fmt: skip
