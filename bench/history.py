"""Benchmark of the compliance officer's read paths on a large log.

Fills a store (SQLite, or PostgreSQL with --postgres URL) with `--packs` packs as the pipeline
records them (a scan, two decisions, two hub calls, two outbox intents, a job, an outcome, one
alert in a hundred) and ten audit events per pack, so 100,000 packs are 1,000,000 events; the
rows are bulk-inserted (the chain's hashes are stand-ins: nothing here verifies it). Then: one
pack's history (`log pack`) for random packs, p50/p95 in ms; a search by serial alone, by
product code and serial, by a person (an actor with no events: `ix_audit_events_actor` finds
none at once); the CSV audit export of a tenth and of all the events, each in a child process,
with its time and peak RSS (it must not grow with the row count).
Prints one JSON line.
Usage: python bench/history.py [--packs 100000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from robot_controller.store import Store
from robot_controller.store.history import PackFilter, pack_history, search
from robot_controller.store.schema import (
    alerts,
    audit_events,
    decisions,
    jobs,
    outbox,
    outcomes,
    scans,
    verifications,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
CHUNK = 5000
EVENTS = (
    "scan.recorded",
    "outbox.queued",
    "hub.verify",
    "outbox.done",
    "decision.verify",
    "outbox.queued",
    "hub.decommission",
    "decision.decommission",
    "robot.job",
    "pack.shelved",
)


def ui(n: int) -> tuple[str, str, str]:
    return f"{n % 500:014d}", f"SN{n:012d}", f"B{n % 2000:05d}"


def pack_rows(n: int) -> dict[sa.Table, list[dict[str, Any]]]:
    """The rows one pack leaves in each table."""
    at = START + timedelta(seconds=n * 3)
    product, serial, batch = ui(n)
    pack = {"product_code": product, "serial": serial, "batch": batch, "expiry_raw": "281231"}
    decided = {
        "token": n,
        "format": "gs1",
        "scheme": "GTIN",
        "problems": "[]",
        "action": "shelve",
        "message": "",
        "decommission_to": "SUPPLIED",
        "decided_at": at,
        **pack,
    }
    called = {
        "token": n,
        "request": "{}",
        "outcome": "ok",
        "return_code": "NMVS_SUCCESS",
        "state": "ACTIVE",
        "message": "",
        "latency_s": random.uniform(0.01, 0.3),
        "at": at,
    }
    intent = {
        "token": n,
        "scheme": "GTIN",
        "status": "done",
        "attempts": 1,
        "created_at": at,
        "updated_at": at,
        **pack,
    }
    rows: dict[sa.Table, list[dict[str, Any]]] = {
        scans: [
            {
                "id": n,
                "raw": f"01{product}21{serial}".encode(),
                "source": "bench",
                "scanned_at": at,
                "recorded_at": at,
                "robot": "robot",
            }
        ],
        decisions: [
            {**decided, "stage": "verify", "why": "verified"},
            {**decided, "stage": "decommission", "why": "decommissioned"},
        ],
        verifications: [
            {**called, "operation": "verify", "client_trx_id": f"v{n}"},
            {**called, "operation": "decommission", "client_trx_id": f"d{n}"},
        ],
        outbox: [
            {**intent, "operation": "verify", "client_trx_id": f"v{n}"},
            {**intent, "operation": "decommission", "client_trx_id": f"d{n}", "reason": "SUPPLIED"},
        ],
        jobs: [
            {
                "token": n,
                "code": 1,
                "reason": 0,
                "status": "done",
                "result": 1,
                "message": "",
                "started_at": at,
                "done_at": at,
                "robot": "robot",
            }
        ],
        outcomes: [
            {
                "token": n,
                "route": "shelved",
                "why": "decommissioned",
                "message": "",
                "flagged": False,
                "at": at,
                "product_code": product,
                "serial": serial,
            }
        ],
        alerts: [],
    }
    if n % 100 == 0:
        rows[alerts].append(
            {
                "token": n,
                "alert_id": f"ALR-{n}",
                "return_code": "NMVS_NC_PC_02",
                "message": "",
                "status": "open",
                "raised_at": at,
            }
        )
    return rows


def events(first: int, packs: range) -> Iterator[dict[str, Any]]:
    seq = first
    for n in packs:
        at = START + timedelta(seconds=n * 3)
        for action in EVENTS:
            digest = hashlib.sha256(str(seq).encode()).hexdigest()
            prev = hashlib.sha256(str(seq - 1).encode()).hexdigest()
            yield {
                "id": seq,
                "at": at,
                "actor": "daemon",
                "action": action,
                "subject": f"pack:{n}",
                "why": "",
                "detail": "{}",
                "prev_hash": prev,
                "hash": digest,
            }
            seq += 1


def fill(store: Store, packs: int) -> None:
    for first in range(1, packs + 1, CHUNK):
        chunk = range(first, min(first + CHUNK, packs + 1))
        tables: dict[sa.Table, list[dict[str, Any]]] = {}
        for n in chunk:
            for table, rows in pack_rows(n).items():
                tables.setdefault(table, []).extend(rows)
        with store.engine.begin() as conn:
            for table in (scans, decisions, verifications, outbox, jobs, outcomes, alerts):
                if tables.get(table):
                    conn.execute(table.insert(), tables[table])
            conn.execute(audit_events.insert(), list(events((first - 1) * len(EVENTS) + 1, chunk)))


def timed_ms(call: Any, repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 2),
    }


def export_child(url: str, out: Path, until: datetime | None) -> dict[str, float]:
    code = (
        "import resource, sys, time; from datetime import datetime; from pathlib import Path;"
        "from robot_controller.store import Store; from robot_controller.reports.make import "
        "export_audit; s = Store.open(sys.argv[1], read_only=True); t = time.perf_counter();"
        "u = datetime.fromisoformat(sys.argv[3]) if sys.argv[3] else None;"
        "n = export_audit(s, Path(sys.argv[2]), since=None, until=u);"
        "print(n, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    argv = [sys.executable, "-c", code, url, str(out), until.isoformat() if until else ""]
    rows, seconds, rss_kib = subprocess.run(
        argv, check=True, capture_output=True, text=True
    ).stdout.split()
    return {"rows": int(rows), "s": round(float(seconds), 2), "peak_rss_mib": int(rss_kib) // 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packs", type=int, default=100_000)
    parser.add_argument("--postgres", help="An empty PostgreSQL database's URL.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.postgres or f"sqlite:///{Path(folder) / 'bench.db'}"
        store = Store.open(url)
        started = time.perf_counter()
        fill(store, args.packs)
        filled_s = time.perf_counter() - started
        if store.engine.dialect.name == "postgresql":  # as autovacuum would, after a bulk load
            with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("ANALYZE"))
        store.close()
        store = Store.open(url, read_only=True)
        picks = [random.randint(1, args.packs) for _ in range(300)]
        with store.reading() as conn:
            product, serial, _ = ui(picks[0])
            result: dict[str, Any] = {
                "backend": store.engine.dialect.name,
                "packs": args.packs,
                "audit_events": args.packs * len(EVENTS),
                "fill_s": round(filled_s, 1),
                "pack_history": timed_ms(lambda: pack_history(conn, *ui(picks.pop())[:2]), 200),
                "search_serial": timed_ms(lambda: search(conn, PackFilter(serial=serial)), 20),
                "search_ui": timed_ms(
                    lambda: search(conn, PackFilter(product_code=product, serial=serial)), 50
                ),
                "search_person": timed_ms(lambda: search(conn, PackFilter(actor="a.jones")), 20),
            }
        store.close()
        tenth = START + timedelta(seconds=(args.packs // 10) * 3)
        result["export_tenth"] = export_child(url, Path(folder) / "a.csv", tenth)
        result["export_all"] = export_child(url, Path(folder) / "b.csv", None)
        result["bench_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
