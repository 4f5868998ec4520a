"""Benchmark of the verification log, on SQLite and on PostgreSQL.

A store is filled through the daemon's own write path (`Store`, each pack's steps in order:
scan, decision, intent, verify, decommission, settled intent, robot job, outcome; one pack in
fifty raises an alert), in batches as the pipeline's group commit makes them, until it holds
`--events` audit events: events/s. Then one pack's whole history among them (`log pack`'s
query, p50/p95 over `--lookups` random packs), `audit verify` over the whole chain, and the CSV
export of every audit event, whose peak RSS is measured in a child process for a tenth of the
events and for all of them (it must not grow with the row count). Prints one JSON line.

Usage: python bench/log.py [--events 1000000] [--backends sqlite,postgres]
       [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--lookups 200]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from fmd.codes.model import PackIdentifier, ParsedScan
from fmd.hub.contract import HubResult, PackState, Reason
from fmd.policy import Action, Decision, Why
from robot_controller.robot.base import Job, JobCode, JobOutcome, JobResult
from robot_controller.states import HubOperation, IntentStatus, Route, Stage
from robot_controller.store import Store
from scanners.base import Scan

TARGETS = {"history_p95_ms": 10.0, "verify_s": 15.0, "csv_export_s": 30.0, "csv_rss_ratio": 1.10}
EVENTS_PER_PACK = 8
BATCH = 64  # packs per transaction, about what the pipeline's group commit gathers
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
PRODUCTS = [f"0{9506000134352 + 97 * n:013d}" for n in range(50)]
SHELVE = Decision(Action.SHELVE, Why.VERIFIED, "active", decommission_to=Reason.SUPPLIED)


def pack(n: int) -> PackIdentifier:
    """The n-th pack of the bench: one of fifty products, a batch per thousand packs."""
    return PackIdentifier(
        "GTIN", PRODUCTS[n % len(PRODUCTS)], f"SN{n:010d}", f"B{n // 1000}", date(2029, 3, 31),
        "290331",
    )  # fmt: skip


def parsed(ui: PackIdentifier, raw: str) -> ParsedScan:
    return ParsedScan(raw=raw, format="gs1", symbology="]d2", ui=ui, submit=True, scheme="GTIN",
                      product_code=ui.product_code, serial=ui.serial, batch=ui.batch,
                      expiry_raw=ui.expiry_raw)  # fmt: skip


def answer(trx: str, *, alert: bool, reasons: tuple[Reason, ...] = ()) -> HubResult:
    if alert:
        return HubResult("alert", "NMVS_NC_PCK_19", PackState.INACTIVE, (Reason.SUPPLIED,),
                         client_trx_id=trx, alert_id=f"A{trx[:8]}", message="supplied")  # fmt: skip
    state = PackState.INACTIVE if reasons else PackState.ACTIVE
    return HubResult("ok", "NMVS_SUCCESS", state, reasons, client_trx_id=trx)


def write_pack(store: Store, n: int) -> None:
    """One pack's steps through the store, as the pipeline writes them."""
    at = START + timedelta(seconds=n)
    ui = pack(n)
    raw = f"]d201{ui.product_code}21{ui.serial}\x1d10{ui.batch}\x1d17{ui.expiry_raw}"
    token = store.record_scan(Scan(raw, "]d2", "bench", at), at=at)
    store.record_decision(token, Stage.VERIFY, parsed(ui, raw), SHELVE, at=at)
    alert = n % 50 == 49
    verify_trx = uuid.uuid4().hex
    store.record_verification(token, "verify", ui, verify_trx, answer(verify_trx, alert=alert),
                              error=None, latency_s=0.02 + (n % 7) / 100, at=at)  # fmt: skip
    if alert:
        store.finish(token, route=Route.QUARANTINED, why=Why.ALERT, message="alert", ui=ui, at=at)
        for _ in range(EVENTS_PER_PACK - 5):  # as many events as a shelved pack: flags
            store.flag(token, "alert: see the register", at=at)
        return
    trx = uuid.uuid4().hex
    intent = store.queue_intent(token, ui, HubOperation.DECOMMISSION, Reason.SUPPLIED, trx=trx,
                                at=at)  # fmt: skip
    done = answer(trx, alert=False, reasons=(Reason.SUPPLIED,))
    store.record_verification(token, "decommission", ui, trx, done, error=None, latency_s=0.03,
                              at=at, reason=Reason.SUPPLIED)  # fmt: skip
    store.settle_intent(intent.id, IntentStatus.DONE, "NMVS_SUCCESS", at=at)
    job = store.start_job(Job(JobCode.PLACE_ON_SHELF, token), at=at)
    stored = JobOutcome(JobResult.STORED, location=n % 5000 + 1)
    store.finish(token, route=Route.SHELVED, why=Why.VERIFIED, message="", ui=ui, at=at,
                 job_id=job, outcome=stored)  # fmt: skip


def fill(store: Store, packs: int) -> float:
    """Write `packs` packs in batches; the seconds it took."""
    started = time.perf_counter()
    for first in range(0, packs, BATCH):
        with store.batch():
            for n in range(first, min(first + BATCH, packs)):
                write_pack(store, n)
    return time.perf_counter() - started


@contextmanager
def backend(name: str, postgres: str, folder: Path) -> Iterator[str]:
    """A new, empty store URL of this backend (a PostgreSQL database dropped afterwards)."""
    if name == "sqlite":
        yield f"sqlite:///{folder / 'bench-log.db'}"
        return
    import psycopg

    database = f"fmd_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
        try:
            yield postgres.rsplit("/", 1)[0] + f"/{database}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples_ms, n=100)
    return {"p50_ms": round(cuts[49], 3), "p95_ms": round(cuts[94], 3)}


def measure(name: str, url: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    packs = args.events // EVENTS_PER_PACK
    store = Store.open(url)
    try:
        fill_s = fill(store, packs)
        events = store.check_audit_chain().events
    finally:
        store.close()
    return {
        "backend": name,
        "events": events,
        "append_events_per_s": round(events / fill_s),
        "fill_s": round(fill_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    random.seed(args.seed)
    results = []
    with tempfile.TemporaryDirectory(prefix="fmd-bench-log-") as tmp:
        for name in args.backends.split(","):
            with backend(name, args.postgres, Path(tmp)) as url:
                results.append(measure(name, url, args, Path(tmp)))
    print(json.dumps({"bench": "log", "cores": _cores(), "targets": TARGETS, "results": results}))


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
