"""Benchmark of the verification log, on SQLite and on PostgreSQL.

A store is filled through the daemon's own write path (`Store`, each pack's steps in order:
scan, decision, intent, verify, decommission, settled intent, robot job, outcome; one pack in
fifty raises an alert), in batches as the pipeline's group commit makes them, until it holds
`--events` audit events: events/s. The head is signed (a checkpoint). Then one pack's whole
history among them (`log pack`'s query, p50/p95 over `--lookups` random packs), `audit verify`
over the whole chain and its checkpoint, and the CSV export of the audit events (`log export`),
in a child process for a tenth of the events and for all of them: its time and peak RSS (which
must not grow with the row count). Prints one JSON line.

Usage: python bench/log.py [--events 1000000] [--backends sqlite,postgres]
       [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--lookups 200]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from fmd.codes.model import PackIdentifier, ParsedScan
from fmd.hub.contract import HubResult, PackState, Reason
from fmd.policy import Action, Decision, Why
from robot_controller.logs import configure_logging
from robot_controller.proof.checkpointer import Checkpointer
from robot_controller.proof.keys import generate
from robot_controller.proof.verify import verify
from robot_controller.robot.base import Job, JobCode, JobOutcome, JobResult
from robot_controller.states import HubOperation, IntentStatus, Route, Stage
from robot_controller.store import Store
from robot_controller.store.history import pack_history
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


def timed_ms(calls: list[Callable[[], object]]) -> dict[str, float]:
    samples = []
    for call in calls:
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


EXPORT = """
import resource, sys, time
from datetime import datetime
from pathlib import Path
from robot_controller.reports.make import export_audit
from robot_controller.store import Store
from robot_controller.store.history import pack_history
store = Store.open(sys.argv[1], read_only=True)
until = datetime.fromisoformat(sys.argv[3]) if sys.argv[3] else None
started = time.perf_counter()
rows = export_audit(store, Path(sys.argv[2]), since=None, until=until)
print(rows, time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def export(url: str, out: Path, until: datetime | None) -> dict[str, float]:
    """`log export` of the audit events up to `until` (all for None) in a child process: rows,
    seconds, and the child's peak RSS."""
    argv = [sys.executable, "-c", EXPORT, url, str(out), until.isoformat() if until else ""]
    ran = subprocess.run(argv, check=True, capture_output=True, text=True)
    rows, seconds, rss_kib = ran.stdout.split()
    out.unlink()
    return {"rows": int(rows), "s": round(float(seconds), 2), "peak_rss_mib": int(rss_kib) // 1024}


def measure(name: str, url: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    packs = args.events // EVENTS_PER_PACK
    store = Store.open(url)
    try:
        fill_s = fill(store, packs)
        if name == "postgres":  # the statistics autovacuum gathers while a site loads
            with store.engine.connect() as conn:
                conn.execute(sa.text("ANALYZE"))
        key = generate(folder / f"{name}.key")
        Checkpointer(store, key, folder / f"{name}.checkpoints", every_events=1,
                     every=timedelta(minutes=1), clock=lambda: datetime.now(UTC)).now()  # fmt: skip
        picks = [pack(random.randrange(packs)) for _ in range(args.lookups)]
        with store.reading() as conn:
            history = timed_ms([partial(pack_history, conn, ui.product_code, ui.serial)
                                for ui in picks])  # fmt: skip
        started = time.perf_counter()
        report = verify(store, [key.public], folder / f"{name}.checkpoints")
        verify_s = time.perf_counter() - started
        if not report.ok:
            raise SystemExit(f"{name}: the bench's own log does not verify: {report.findings[:3]}")
        events = report.events
    finally:
        store.close()
    tenth = START + timedelta(seconds=packs // 10)
    return {
        "backend": name,
        "events": events,
        "append_events_per_s": round(events / fill_s),
        "fill_s": round(fill_s, 1),
        "pack_history": history,
        "verify_s": round(verify_s, 2),
        "export_tenth": export(url, folder / "tenth.csv", tenth),
        "export_all": export(url, folder / "all.csv", None),
    }


def verdicts(result: dict[str, Any]) -> dict[str, bool]:
    """Each target met or not."""
    tenth, whole = result["export_tenth"], result["export_all"]
    return {
        "history_p95_ms": result["pack_history"]["p95_ms"] <= TARGETS["history_p95_ms"],
        "verify_s": result["verify_s"] <= TARGETS["verify_s"],
        "csv_export_s": whole["s"] <= TARGETS["csv_export_s"],
        "csv_rss_ratio": whole["peak_rss_mib"] <= tenth["peak_rss_mib"] * TARGETS["csv_rss_ratio"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    configure_logging(level="warning", stream=sys.stderr)
    random.seed(args.seed)
    results = []
    with tempfile.TemporaryDirectory(prefix="fmd-bench-log-") as tmp:
        for name in args.backends.split(","):
            with backend(name, args.postgres, Path(tmp)) as url:
                result = measure(name, url, args, Path(tmp))
                results.append(result | {"met": verdicts(result)})
    cores = len(os.sched_getaffinity(0))
    print(json.dumps({"bench": "log", "cores": cores, "targets": TARGETS, "results": results}))


if __name__ == "__main__":
    main()
