"""Benchmark of the NMVS wire dialects against the local simulator. Prints one JSON line.

- verify requests per second through each dialect (SOAP over mutual TLS, REST over TLS) at
  concurrency 8, against the simulator on loopback (in this process, its own thread);
- bulk verify of a whole delivery (`--delivery` packs of 10 batches, through `bulk()`: SOAP
  G115 + G188 per batch; REST its bulk endpoint) against single verifies at concurrency 8 in
  the same run (target: bulk at least 5x single);
- each client's own overhead per request: the same client replaying a recorded answer through
  an in-memory transport, so no network and no simulator work is counted;
- the demo pipeline over SOAP with 300 ms of simulated hub latency;
- the outbox draining queued decommissions against a rate-limited simulator, and the
  duplicates the simulator counted.
Usage: python bench/hub.py [--requests 2000] [--packs 400]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import ssl
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

from fmd.codes.encode import gtin_check_digit
from fmd.codes.model import PackIdentifier
from fmd.hub import BulkItem, HubClient, MockHub, Reason
from fmd.hub.resilient import CircuitBreaker, ResilientHub, RetryPolicy
from fmd.hub.rest import RestHubClient
from fmd.hub.soap import SoapHubClient
from robot_controller.demo import DemoOptions, run_demo
from robot_controller.logs import configure_logging
from robot_controller.outbox import replay
from robot_controller.states import HubOperation
from robot_controller.store import Store
from scanners.base import Scan
from simulators.hub import HubSimulator

GTIN = "0950600013435" + gtin_check_digit("0950600013435")
PACE = 0.97  # the replay keeps just under the hub's published limit


def stocked(packs: int, batches: int = 1) -> tuple[MockHub, list[PackIdentifier]]:
    hub = MockHub(seed=1)
    hub.add_product(GTIN)
    for batch in range(batches):
        hub.add_batch(GTIN, f"B{batch + 1}", date(2028, 12, 31))
    uis = [
        PackIdentifier("GTIN", GTIN, f"SN{i:06d}", f"B{i % batches + 1}", None, "281231")
        for i in range(packs)
    ]
    for ui in uis:
        hub.add_pack(ui)
    return hub, uis


def make_client(
    dialect: str, sim: HubSimulator, transport: httpx.AsyncBaseTransport | None = None
) -> SoapHubClient | RestHubClient:
    return sim.client(dialect, transport=transport)


async def verify_rate(client: HubClient, uis: list[PackIdentifier], concurrency: int) -> float:
    queue = list(uis)

    async def worker() -> None:
        while queue:
            result = await client.verify(queue.pop())
            assert result.outcome == "ok", result

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(uis) / (time.perf_counter() - started)


class Recorder(httpx.AsyncBaseTransport):
    """Passes requests on, keeping the last answer so it can be replayed without a network."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.last: tuple[int, list[tuple[bytes, bytes]], bytes] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        self.last = (response.status_code, list(response.headers.raw), body)
        return httpx.Response(response.status_code, headers=response.headers.raw, content=body)


def replaying(recorded: tuple[int, list[tuple[bytes, bytes]], bytes]) -> httpx.MockTransport:
    """Answers every request with the recorded answer (and a token request with a token)."""
    status, headers, body = recorded
    kept = [(k, v) for k, v in headers if k.lower() not in (b"content-length", b"date")]
    token = {"access_token": "bench", "token_type": "Bearer", "expires_in": 3600}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            return httpx.Response(200, json=token)
        return httpx.Response(status, headers=kept, content=body)

    return httpx.MockTransport(answer)


def tls_transport(dialect: str, sim: HubSimulator) -> httpx.AsyncHTTPTransport:
    assert sim.pki is not None
    context = ssl.create_default_context(cafile=str(sim.pki.ca))
    if dialect == "soap":
        context.load_cert_chain(str(sim.pki.client_cert), str(sim.pki.client_key))
    return httpx.AsyncHTTPTransport(verify=context)


async def client_overhead_ms(dialect: str, sim: HubSimulator, uis: list[PackIdentifier]) -> float:
    """p50 of one verify through the client with a replayed answer: the client's own work."""
    recorder = Recorder(tls_transport(dialect, sim))
    live = make_client(dialect, sim, transport=recorder)
    await live.verify(uis[0], trx="bench-overhead")
    await live.aclose()
    assert recorder.last is not None
    replay = make_client(dialect, sim, transport=replaying(recorder.last))
    await replay.verify(uis[0], trx="bench-overhead")  # the token, once
    times = []
    for _ in range(400):
        started = time.perf_counter()
        result = await replay.verify(uis[0], trx="bench-overhead")
        times.append(time.perf_counter() - started)
        assert result.outcome == "ok", result
    await replay.aclose()
    return statistics.median(times) * 1000


async def bulk_rate(client: HubClient, uis: list[PackIdentifier]) -> float:
    started = time.perf_counter()
    result = await client.bulk([BulkItem(ui) for ui in uis])
    elapsed = time.perf_counter() - started
    assert [r.outcome for r in result.results] == ["ok"] * len(uis), result.results[:3]
    return len(uis) / elapsed


async def delivery(packs: int) -> dict[str, Any]:
    """A delivery verified in bulk, and the same packs verified singly at concurrency 8."""
    figures: dict[str, Any] = {"delivery_packs": packs}
    for dialect in ("soap", "rest"):
        hub, uis = stocked(packs, batches=10)
        with HubSimulator(hub, dialects=(dialect,)) as sim:
            client = (
                sim.client(dialect, bulk_poll_s=0.02) if dialect == "soap" else sim.client(dialect)
            )
            await client.verify(uis[0])  # connect, log in
            single = await verify_rate(client, uis, 8)
            bulk = await bulk_rate(client, uis)
            await client.aclose()
        figures[f"{dialect}_delivery_single_c8_per_s"] = round(single, 1)
        figures[f"{dialect}_delivery_bulk_per_s"] = round(bulk, 1)
        figures[f"{dialect}_delivery_bulk_vs_single"] = round(bulk / single, 2)
    return figures


async def wire(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for dialect in ("soap", "rest"):
        hub, uis = stocked(args.requests)
        with HubSimulator(hub, dialects=(dialect,)) as sim:
            client = make_client(dialect, sim)
            await client.verify(uis[0])  # connect, log in
            figures[f"{dialect}_verify_per_s"] = round(await verify_rate(client, uis, 8), 1)
            await client.aclose()
            figures[f"{dialect}_client_overhead_p50_ms"] = round(
                await client_overhead_ms(dialect, sim, uis), 3
            )
    return figures


async def outbox_drain(intents: int, rate: int) -> dict[str, Any]:
    """Queue `intents` decommissions, then replay them against a hub limited to `rate` per s."""
    hub, uis = stocked(intents)
    hub.rate_limit_per_s = rate
    now = datetime.now(UTC)
    with HubSimulator(hub, dialects=("rest",)) as sim, tempfile.TemporaryDirectory() as folder:
        store = Store.open(f"sqlite:///{Path(folder) / 'outbox.db'}")
        with store.batch():
            for ui in uis:
                token = store.record_scan(Scan(ui.serial, None, "bench", now), at=now)
                store.queue_intent(token, ui, HubOperation.DECOMMISSION, Reason.SUPPLIED,
                                   trx=uuid.uuid4().hex, at=now)  # fmt: skip
        inner = make_client("rest", sim)
        resilient = ResilientHub(inner, retry=RetryPolicy(attempts=50, backoff_max_s=1.0),
                                 breaker=CircuitBreaker(failures=10**9),
                                 max_rate_per_s=rate * PACE)  # fmt: skip
        started = time.perf_counter()
        report = await replay(store, resilient, clock=lambda: datetime.now(UTC))
        elapsed = time.perf_counter() - started
        await inner.aclose()
        store.close()
    drained = intents / elapsed
    return {
        "outbox_intents": intents,
        "outbox_rate_limit_per_s": rate,
        "outbox_drain_per_s": round(drained, 1),
        "outbox_drain_share_of_limit": round(drained / rate, 3),
        "outbox_done": report.done,
        "outbox_duplicates": hub.state_changes - len(hub.state_changes_by_pack),
    }


def pipeline_over_soap(packs: int) -> float:
    configure_logging(stream=io.StringIO(), level="warning")
    with tempfile.TemporaryDirectory() as folder:
        options = DemoOptions(packs=packs, hub="soap", hub_latency_s=0.3, db=Path(folder) / "x.db")
        report = asyncio.run(run_demo(options))
    assert report.ok, report
    return round(report.packs_per_s, 1)


def main() -> None:
    configure_logging(stream=io.StringIO(), level="warning")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--packs", type=int, default=400)
    parser.add_argument("--intents", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--delivery", type=int, default=2000)
    args = parser.parse_args()
    figures = asyncio.run(wire(args))
    figures |= asyncio.run(delivery(args.delivery))
    figures |= asyncio.run(outbox_drain(args.intents, args.rate))
    figures["pipeline_soap_300ms_packs_per_s"] = pipeline_over_soap(args.packs)
    figures["cores"] = os.cpu_count()
    figures["targets"] = {
        "client_overhead_p50_ms": 2.0,
        "pipeline_soap_300ms_packs_per_s": 20,
        "outbox_drain_share_of_limit": 0.9,
        "outbox_duplicates": 0,
        "soap_delivery_bulk_vs_single": 5.0,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
