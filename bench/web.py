"""Benchmark of the screens' live feed and API: SSE clients during a loading, pack history on a
large log.

Feed: a `--packs` demo delivery (`fmd-robot demo`'s world and wiring, in this process: the SOAP
hub simulator, a Modbus TCP PLC, the script scanner; `--hub mock --robot sim` is the daemon
CPU-bound, nothing but bookkeeping between packs: a stress figure) is loaded with the screens
served beside the daemon, once with no client and once with `--clients` clients on
`GET /api/v1/events`, alternating (`--rounds` of each: none, N, none, N …). The clients run
in a child process, so their CPU is not the daemon's. Throughput is packs over the loading's
wall time, as the demo counts it, and the daemon process's CPU per pack (the server included);
a pack's delay is from its event's `at` (the wall clock when the pipeline published it) to the
wall clock when a client has parsed it (same machine, same clock). Targets: throughput with
clients within 10 % of without, p95 delay at most 100 ms.

API: a store of `--events` audit events (eight a pack, one pack in fifty with an alert, the
rows the daemon writes for each, the hash chain valid) is bulk-inserted once and cached in the
temporary folder, keyed by its size; then `GET /api/v1/packs/{token}` for `--lookups` random
tokens through a real server (uvicorn on loopback, httpx with a compliance officer's Bearer
token, one request at a time): p50/p95/p99, target p95 at most 50 ms. Where the app has no such
route yet, the store's history function that `fmd-robot log pack` uses is timed instead (said
in the output).

Prints one JSON line. Usage: python bench/web.py [--packs 2000] [--clients 20] [--rounds 2]
       [--events 1000000] [--lookups 500] [--parts feed,api] [--hub soap] [--robot modbus-tcp]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from robot_controller.config import StoreConfig, WebConfig, load_config
from robot_controller.demo import DemoOptions
from robot_controller.logs import configure_logging
from robot_controller.pipeline import Routed, utc_now
from robot_controller.simulated import simulated
from robot_controller.store import Store
from robot_controller.store.audit import GENESIS, canonical_text, utc_iso
from robot_controller.store.history import pack_history
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
from robot_controller.users import Role
from robot_controller.web.app import create_app
from robot_controller.web.beside import feed_for, web_beside
from robot_controller.web.server import WebServer
from robot_controller.web.services import web_services
from robot_controller.wiring import build_daemon

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"throughput_ratio": 0.90, "delay_p95_ms": 100.0, "history_p95_ms": 50.0}
CONNECT_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 60.0
EVENTS_PER_PACK = 8
STORE_FORMAT = 1  # bump when the rows `build_store` writes change: the cache is keyed by it
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
PRODUCTS = [f"0{9506000134352 + 97 * n:013d}" for n in range(50)]


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    if len(samples) < 2:
        only = round(samples[0], 2) if samples else 0.0
        return {"p50_ms": only, "p95_ms": only, "p99_ms": only, "max_ms": only}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "p50_ms": round(cuts[49], 2),
        "p95_ms": round(cuts[94], 2),
        "p99_ms": round(cuts[98], 2),
        "max_ms": round(max(samples), 2),
    }


# -- the clients' process ------------------------------------------------------------------------


async def listen(url: str, token: str, clients: int) -> None:
    """In the child: `clients` streams on /api/v1/events; says `connected` once all have their
    answer, then reads the last seq on stdin and, once every client has it, prints each event's
    delay (ms) from its `at` to its parsing here, and this process's CPU time."""
    delays: list[list[float]] = [[] for _ in range(clients)]
    seen = [0] * clients
    opened = 0
    all_open = asyncio.Event()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    timeout = httpx.Timeout(30.0, read=None)
    headers = {"Authorization": f"Bearer {token}"}

    async def one(n: int, http: httpx.AsyncClient) -> None:
        nonlocal opened
        async with http.stream("GET", "/api/v1/events") as answer:
            answer.raise_for_status()
            opened += 1
            if opened == clients:
                all_open.set()
            data = ""
            async for line in answer.aiter_lines():
                if line.startswith("data: "):
                    data = line[6:]
                elif not line and data:
                    event = json.loads(data)
                    at = datetime.fromisoformat(event["at"]).timestamp()
                    delays[n].append((time.time() - at) * 1000)
                    seen[n] = event["seq"]
                    data = ""

    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=timeout, limits=limits
    ) as http:
        tasks = [asyncio.create_task(one(n, http)) for n in range(clients)]
        await asyncio.wait_for(all_open.wait(), CONNECT_TIMEOUT_S)
        print("connected", flush=True)
        last = int(await asyncio.to_thread(sys.stdin.readline))
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while min(seen) < last and time.monotonic() < deadline:
            failed = [t for t in tasks if t.done()]
            if failed:
                failed[0].result()  # a stream that ended or failed: its error
                break
            await asyncio.sleep(0.01)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"delays_ms": delays, "seen": seen, "cpu_s": usage.ru_utime + usage.ru_stime}))


# -- the daemon's side ---------------------------------------------------------------------------


async def load(args: argparse.Namespace, clients: int, folder: Path) -> dict[str, Any]:
    """One demo loading with the screens served and `clients` SSE clients in a child process."""
    options = DemoOptions(
        packs=args.packs, seed=args.seed, db=folder / "bench.db", hub=args.hub, robot=args.robot,
        scanner="script", move_time_s=args.move_time_ms / 1000,
        web=WebConfig(enabled=True, host="127.0.0.1", port=0),
    )  # fmt: skip
    routed = 0
    async with simulated(options.config(), folder) as (config, world):
        feed = feed_for(config)

        def publish(pack: Routed) -> None:
            nonlocal routed
            routed += 1
            feed.publish(pack)

        daemon = await build_daemon(config, on_routed=publish)
        child: subprocess.Popen[str] | None = None
        try:
            async with web_beside(config, daemon, feed) as served:
                assert served is not None
                server, _ = served
                _, token = await asyncio.to_thread(
                    daemon.store.add_user, "bench", Role.OPERATOR, actor="bench", at=utc_now()
                )
                if clients:
                    child = subprocess.Popen(  # noqa: ASYNC220 - started once, read in a thread
                        [sys.executable, __file__, "--listen", server.url, token, str(clients)],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                        env={**os.environ, "PYTHONPATH": str(ROOT)},
                    )  # fmt: skip
                    assert child.stdout is not None
                    said = await asyncio.wait_for(
                        asyncio.to_thread(child.stdout.readline), CONNECT_TIMEOUT_S
                    )
                    if said.strip() != "connected":
                        raise SystemExit(f"the SSE clients did not connect: {said!r}")
                    while feed.listeners < clients:  # noqa: ASYNC110 - once, for a few ms
                        await asyncio.sleep(0.01)
                cpu = time.process_time()
                world.begin(lambda: routed)
                started = time.perf_counter()
                await daemon.run(stop=world.all_in)
                elapsed = time.perf_counter() - started
                cpu = time.process_time() - cpu
                heard: dict[str, Any] = {}
                if child is not None:
                    assert child.stdin is not None
                    assert child.stdout is not None
                    child.stdin.write(f"{feed.last_seq}\n")
                    child.stdin.flush()
                    said = await asyncio.wait_for(
                        asyncio.to_thread(child.stdout.readline), DRAIN_TIMEOUT_S + 10
                    )
                    heard = json.loads(said)
                dropped = feed.dropped_listeners
        finally:
            await daemon.aclose()
            if child is not None:
                child.terminate()
                child.wait()
    return {
        "clients": clients,
        "packs": routed,
        "elapsed_s": round(elapsed, 2),
        "packs_per_s": round(routed / elapsed, 1),
        "daemon_cpu_ms_per_pack": round(cpu * 1000 / max(routed, 1), 2),
        "dropped_clients": dropped,
        **({} if not heard else _heard(heard, feed.last_seq)),
    }


def _heard(heard: dict[str, Any], last: int) -> dict[str, Any]:
    delays = [d for client in heard["delays_ms"] for d in client]
    return {
        "events_received": len(delays),
        "events_expected": last * len(heard["seen"]),
        "delay": percentiles(delays),
        "clients_cpu_s": round(heard["cpu_s"], 2),
        "_delays": delays,
    }


def feed_bench(args: argparse.Namespace) -> dict[str, Any]:
    runs = []
    for _ in range(args.rounds):
        for clients in (0, args.clients):
            with tempfile.TemporaryDirectory(prefix="fmd-bench-web-") as folder:
                runs.append(asyncio.run(load(args, clients, Path(folder))))
    quiet = [r for r in runs if r["clients"] == 0]
    busy = [r for r in runs if r["clients"] > 0]
    delays = [d for r in busy for d in r.pop("_delays")]
    without = statistics.median(r["packs_per_s"] for r in quiet)
    with_clients = statistics.median(r["packs_per_s"] for r in busy)
    ratio = with_clients / without if without else 0.0
    delay = percentiles(delays)
    return {
        "packs": args.packs,
        "clients": args.clients,
        "hub": args.hub,
        "robot": args.robot,
        "runs": runs,
        "packs_per_s_without": round(without, 1),
        "packs_per_s_with": round(with_clients, 1),
        "throughput_ratio": round(ratio, 3),
        "delay": delay,
        "events_lost": sum(r["events_expected"] - r["events_received"] for r in busy),
        "met": {
            "throughput_ratio": ratio >= TARGETS["throughput_ratio"],
            "delay_p95_ms": delay["p95_ms"] <= TARGETS["delay_p95_ms"],
        },
    }


# -- the large log -------------------------------------------------------------------------------


def serial(n: int) -> str:
    return f"SN{n:010d}"


def product(n: int) -> str:
    return PRODUCTS[n % len(PRODUCTS)]


def pack_rows(n: int) -> dict[str, list[dict[str, Any]]]:
    """The rows the daemon writes for the n-th pack (token n + 1): scanned, decided, verified,
    then decommissioned and shelved, or (one in fifty) an alert, quarantined and flagged."""
    token, at = n + 1, START + timedelta(seconds=n)
    code, sn, batch = product(n), serial(n), f"B{n // 1000}"
    raw = f"]d201{code}21{sn}\x1d10{batch}\x1d17290331"
    ui = {"scheme": "GTIN", "product_code": code, "serial": sn, "batch": batch,
          "expiry_raw": "290331"}  # fmt: skip
    alert = n % 50 == 49
    trx = hashlib.md5(f"verify {n}".encode()).hexdigest()  # noqa: S324 - an id, not a secret
    rows: dict[str, list[dict[str, Any]]] = {
        "scans": [{"id": token, "raw": raw.encode(), "symbology": "]d2", "source": "bench",
                   "scanned_at": at, "recorded_at": at, "robot": "robot"}],
        "decisions": [{"id": token, "token": token, "stage": "verify", "format": "gs1", **ui,
                       "problems": "[]", "action": "shelve", "why": "verified",
                       "message": "active", "decommission_to": "SUPPLIED", "decided_at": at}],
    }  # fmt: skip
    request = json.dumps({**ui, "reason": None, "trx": trx}, sort_keys=True, separators=(",", ":"))
    verify = {"token": token, "operation": "verify", "client_trx_id": trx, "request": request,
              "outcome": "ok", "return_code": "NMVS_SUCCESS", "state": "ACTIVE", "reasons": "",
              "hub_trx_id": "", "alert_id": None, "message": "", "error": None,
              "latency_s": 0.02, "at": at}  # fmt: skip
    Event = tuple[str, str, dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]
    events: list[Event] = [("scan.recorded", "bench", {"len": len(raw)}, None, None),
              ("decision.verify", "verified", {"action": "shelve", "message": "active"}, None,
               None)]  # fmt: skip
    if alert:
        alert_id = f"A{trx[:8]}"
        verify |= {"outcome": "alert", "return_code": "NMVS_NC_PCK_19", "state": "INACTIVE",
                   "reasons": "SUPPLIED", "alert_id": alert_id, "message": "supplied"}  # fmt: skip
        rows["verifications"] = [verify]
        rows["alerts"] = [{"id": n // 50 + 1, "token": token, "alert_id": alert_id,
                           "return_code": "NMVS_NC_PCK_19", "message": "supplied",
                           "status": "open", "raised_at": at, "product_code": code,
                           "serial": sn, "batch": batch}]  # fmt: skip
        rows["outcomes"] = [{"token": token, "route": "quarantined", "why": "alert",
                             "message": "alert: see the register", "location": None,
                             "flagged": True, "product_code": code, "serial": sn,
                             "at": at}]  # fmt: skip
        flag = {"message": "alert: see the register"}
        flagged = {"flagged": True, "message": "alert: see the register"}
        events += [
            ("hub.verify", "NMVS_NC_PCK_19", {"trx": trx}, None, None),
            ("alert.raised", "NMVS_NC_PCK_19",
             {"alert": n // 50 + 1, "alert_id": alert_id, "location": None}, None, None),
            ("pack.quarantined", "alert", {"location": None}, None, None),
            ("pack.flagged", "operator-check", flag, {"flagged": False, "message": "alert"},
             flagged),
            ("pack.flagged", "operator-check", flag, flagged, flagged),
            ("pack.flagged", "operator-check", flag, flagged, flagged),
        ]  # fmt: skip
    else:
        done = hashlib.md5(f"decommission {n}".encode()).hexdigest()  # noqa: S324
        job = n - n // 50 + 1  # the shelved packs' jobs, in order
        rows["verifications"] = [
            verify,
            verify | {"operation": "decommission", "client_trx_id": done, "state": "INACTIVE",
                      "reasons": "SUPPLIED", "latency_s": 0.03,
                      "request": request.replace(trx, done).replace('"reason":null',
                                                                    '"reason":"SUPPLIED"')},
        ]  # fmt: skip
        rows["outbox"] = [{"token": token, "operation": "decommission", "reason": "SUPPLIED",
                           "client_trx_id": done, **ui, "nhrn": None, "nhrn_ai": None,
                           "status": "done", "attempts": 1, "last_code": "NMVS_SUCCESS",
                           "created_at": at, "updated_at": at}]  # fmt: skip
        rows["robot_jobs"] = [{"id": job, "token": token, "code": 1, "reason": 0,
                               "status": "done", "result": 1, "location": n % 5000 + 1,
                               "fault": None, "message": "", "started_at": at, "done_at": at,
                               "robot": "robot"}]  # fmt: skip
        rows["outcomes"] = [{"token": token, "route": "shelved", "why": "verified",
                             "message": "", "location": n % 5000 + 1, "flagged": False,
                             "product_code": code, "serial": sn, "at": at}]  # fmt: skip
        events += [
            ("hub.verify", "NMVS_SUCCESS", {"trx": trx}, None, None),
            ("outbox.queued", "decommission", {"reason": "SUPPLIED", "trx": done}, None, None),
            ("hub.decommission", "NMVS_SUCCESS", {"trx": done}, None, None),
            ("outbox.done", "NMVS_SUCCESS", {"intent": job},
             {"attempts": 0, "last_code": None, "status": "pending"},
             {"attempts": 1, "last_code": "NMVS_SUCCESS", "status": "done"}),
            ("robot.job", "PLACE_ON_SHELF", {"job": job}, None, None),
            ("pack.shelved", "verified", {"location": n % 5000 + 1}, None, None),
        ]  # fmt: skip
    rows["audit_events"] = [
        {"at": at, "actor": "daemon", "action": action, "subject": f"pack:{token}", "why": why,
         "detail": _canonical(detail), "before": None if before is None else _canonical(before),
         "after": None if after is None else _canonical(after)}
        for action, why, detail, before, after in events
    ]  # fmt: skip
    return rows


def _canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


TABLES = {t.name: t for t in (scans, decisions, verifications, outbox, jobs, outcomes, alerts)}
CHUNK_PACKS = 5000


def build_store(url: str, packs: int) -> None:
    """Bulk-insert `packs` packs' rows in one transaction, the audit events chained."""
    store = Store.open(url)
    try:
        with store.engine.begin() as conn:
            seq, prev = 0, GENESIS
            for first in range(0, packs, CHUNK_PACKS):
                batch: dict[str, list[dict[str, Any]]] = {}
                for n in range(first, min(first + CHUNK_PACKS, packs)):
                    for table, rows in pack_rows(n).items():
                        batch.setdefault(table, []).extend(rows)
                for row in batch.pop("audit_events"):
                    seq += 1
                    fields = (row["actor"], row["action"], row["subject"], row["why"],
                              row["detail"], row["before"], row["after"])  # fmt: skip
                    text = canonical_text(seq, prev, utc_iso(row["at"]), fields)
                    row |= {"id": seq, "prev_hash": prev}
                    prev = row["hash"] = hashlib.sha256(text.encode()).hexdigest()
                    batch.setdefault("audit", []).append(row)
                conn.execute(audit_events.insert(), batch.pop("audit"))
                for table, rows in batch.items():
                    conn.execute(TABLES[table].insert(), rows)
    finally:
        store.close()


def cached_store(events: int) -> tuple[str, dict[str, Any]]:
    """The store of `events` audit events (built once, kept in the temporary folder): its URL,
    and what was noted when it was built (a compliance officer's token, its packs, how long
    building took)."""
    packs = events // EVENTS_PER_PACK
    folder = Path(tempfile.gettempdir()) / "fmd-bench-web"
    folder.mkdir(exist_ok=True)
    db = folder / f"store-{events}-v{STORE_FORMAT}.db"
    meta = db.with_suffix(".json")
    if not (db.exists() and meta.exists()):
        building = db.with_suffix(".building")
        building.unlink(missing_ok=True)
        url = f"sqlite:///{building}"
        started = time.perf_counter()
        build_store(url, packs)
        store = Store.open(url)
        try:
            _, token = store.add_user("bench", Role.COMPLIANCE, actor="bench", at=utc_now())
            if not store.check_audit_chain().ok:
                raise SystemExit("the bench's bulk-built log does not verify")
        finally:
            store.close()
        building.rename(db)
        Path(f"{building}.migration.lock").unlink(missing_ok=True)
        built_s = round(time.perf_counter() - started, 1)
        meta.write_text(json.dumps({"token": token, "packs": packs, "built_s": built_s}))
    info: dict[str, Any] = json.loads(meta.read_text())
    return f"sqlite:///{db}", info | {"file": str(db)}


async def api_bench(args: argparse.Namespace) -> dict[str, Any]:
    url, built = cached_store(args.events)
    token, packs = str(built["token"]), int(built["packs"])
    config = load_config().model_copy(
        update={
            "store": StoreConfig(url=url),
            "simulation": None,
            "web": WebConfig(host="127.0.0.1", port=0),
        }
    )
    store = Store.open(url)
    with store.engine.connect() as conn:
        events = conn.execute(sa.select(sa.func.count()).select_from(audit_events)).scalar()
    app = create_app(web_services(config, store))
    routed = "/api/v1/packs/{token}" in app.openapi()["paths"]
    rng = random.Random(args.seed)
    picks = [rng.randrange(packs) for _ in range(args.lookups + args.warmup)]
    samples: list[float] = []
    server = WebServer(app, config.web)
    await server.start()
    try:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers) as http:
            for i, n in enumerate(picks):
                started = time.perf_counter()
                if routed:
                    answer = await http.get(f"/api/v1/packs/{n + 1}")
                    answer.raise_for_status()
                    found = len(answer.json()["events"])
                else:
                    with store.reading() as conn:
                        found = len(pack_history(conn, product(n), serial(n)))
                took = (time.perf_counter() - started) * 1000
                if not found:
                    raise SystemExit(f"pack {n + 1}: no history")
                if i >= args.warmup:
                    samples.append(took)
    finally:
        await server.aclose()
        store.close()
    timed = percentiles(samples)
    return {
        "events": events,
        "packs": packs,
        "store": {"file": built["file"], "built_s": built["built_s"]},
        "timed": "GET /api/v1/packs/{token} through uvicorn and httpx" if routed else
                 "the store's pack_history (`log pack`): the app has no /api/v1/packs/{token} yet",
        "lookups": len(samples),
        "history": timed,
        "met": {"history_p95_ms": timed["p95_ms"] <= TARGETS["history_p95_ms"]},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--packs", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--hub", default="soap")  # the demo's own world: `fmd-robot demo`
    parser.add_argument("--robot", default="modbus-tcp")
    parser.add_argument("--move-time-ms", type=float, default=0.0)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--parts", default="feed,api")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--listen", nargs=3, metavar=("URL", "TOKEN", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.listen:
        url, token, clients = args.listen
        asyncio.run(listen(url, token, int(clients)))
        return
    configure_logging(level="error", stream=sys.stderr)
    parts = set(args.parts.split(","))
    cores = len(os.sched_getaffinity(0))
    result: dict[str, Any] = {
        "bench": "web",
        "cores": cores,
        "load_1min_at_start": round(os.getloadavg()[0], 2),
        "targets": TARGETS,
    }
    result["note"] = (
        f"{cores} cores: the clients' process and the daemon share them, so the "
        "clients' CPU, though not billed to the daemon, still competes with it"
    )
    if "feed" in parts:
        result["feed"] = feed_bench(args)
    if "api" in parts:
        result["api"] = asyncio.run(api_bench(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
