"""Wire fidelity of the REST dialect against golden exchanges shaped as Solidsoft's systems give
them (`tests/wire/rest/`, sources in its README): our client sends exactly the golden requests
and reads the golden answers right, and the simulator answers the same requests in the same
shape (status, keys, JSON types)."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from fmd.codes.model import PackIdentifier
from fmd.hub import BulkItem, BulkResult, HubResult, ManualEntry, MockHub, Reason
from fmd.hub.clock import ManualClock
from fmd.hub.contract import UNANSWERED
from fmd.hub.rest import RestHubClient
from simulators.hub import Accounts, HubSimulator, RestEquipment

GOLDEN = Path(__file__).parent / "wire" / "rest"
NAMES = sorted(path.stem for path in GOLDEN.glob("*.json"))
BASE = "https://hub.test/rest"
TOKEN = "golden-token"
GTIN = "04006381333931"
ACCOUNTS = Accounts(rest=(RestEquipment("golden-robot", "golden-secret", "golden-pharmacy"),))


def golden(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    return document


def test_every_operation_has_a_golden_exchange() -> None:
    assert set(NAMES) >= {
        "verify", "supply", "undo", "manual-verify", "manual-supply", "bulk", "recovery",
        "conflict-409", "invalid-422", "alert",
    }  # fmt: skip


# -- our client against the golden answers ---------------------------------------------------------


@dataclass
class Recorded:
    """The requests the client sent to a hub that answers with the golden responses in order."""

    requests: list[httpx.Request]


def golden_hub(exchanges: list[dict[str, Any]]) -> tuple[httpx.MockTransport, Recorded]:
    recorded = Recorded([])
    answers = iter(exchange["response"] for exchange in exchanges)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/identity/connect/token"):
            return httpx.Response(200, json={"access_token": TOKEN, "expires_in": 3600})
        recorded.requests.append(request)
        answer = next(answers)
        content = json.dumps(answer["body"]).encode()
        return httpx.Response(answer["status"], headers=answer["headers"], content=content)

    return httpx.MockTransport(handler), recorded


def ui(pack: dict[str, str]) -> PackIdentifier:
    return PackIdentifier("GTIN", pack["product_code"], pack["serial"], pack["batch"], None,
                          pack["expiry"])  # fmt: skip


def reason(name: str | None) -> Reason | None:
    return None if name is None else Reason[name]


async def call(client: RestHubClient, spec: dict[str, Any]) -> HubResult | BulkResult:
    """Make the call a golden document names."""
    trx = spec.get("trx")
    match spec["method"]:
        case "verify":
            return await client.verify(ui(spec["pack"]), trx=trx)
        case "decommission":
            return await client.decommission(ui(spec["pack"]), Reason[spec["to"]], trx=trx)
        case "undo":
            from_ = Reason[spec["from"]]
            return await client.undo(ui(spec["pack"]), from_, trx=trx, ref_trx=spec["ref_trx"])
        case "manual":
            entry = spec["entry"]
            keyed = ManualEntry("GTIN", entry["product_code"], entry["serial"], entry["batch"],
                                entry["expiry"])  # fmt: skip
            return await client.manual(keyed, reason(spec["to"]), trx=trx)
        case "bulk" | "mixed":
            items = [
                BulkItem(ui(one["pack"]), one["operation"], reason(one.get("to")), one.get("trx"))
                for one in spec["items"]
            ]
            many = client.bulk if spec["method"] == "bulk" else client.mixed
            return await many(items)
    raise AssertionError(f"unknown call {spec['method']}")


def read(result: HubResult) -> dict[str, Any]:
    return {
        "outcome": result.outcome,
        "return_code": result.return_code,
        "state": result.state.value,
        "reasons": [r.name for r in result.reasons],
        "alert_id": result.alert_id,
        "product_name": result.product_name,
        "nhrn": result.nhrn,
    }


def assert_sent(sent: httpx.Request, expected: dict[str, Any]) -> None:
    url = expected.get("url") or f"{BASE}/api/{expected['path']}"
    assert sent.method == expected["method"]
    assert str(sent.url.copy_with(query=None)) == url
    assert dict(sent.url.params) == expected["query"]
    for name, value in expected["headers"].items():
        assert sent.headers.get(name) == value, name
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    body = json.loads(sent.content) if sent.content else None
    assert body == expected["body"]


@pytest.mark.parametrize("name", NAMES)
async def test_our_client_sends_the_golden_requests_and_reads_the_answers(name: str) -> None:
    document = golden(name)
    transport, recorded = golden_hub(document["exchanges"])
    async with RestHubClient(BASE, client_id="c", client_secret="s", transport=transport,
                             bulk_poll_s=0) as client:  # fmt: skip
        result = await call(client, document["call"])
    assert len(recorded.requests) == len(document["exchanges"])
    for sent, exchange in zip(recorded.requests, document["exchanges"], strict=True):
        assert_sent(sent, exchange["request"])
    expect = document["expect"]
    if isinstance(result, BulkResult):
        assert result.hub_trx_id == expect["hub_trx_id"]
        assert len(result.results) == len(expect["results"])
        for one, wanted in zip(result.results, expect["results"], strict=True):
            assert read(one) == {k: v for k, v in wanted.items() if k != "client_trx_id"}
            assert one.client_trx_id == wanted.get("client_trx_id", "")
    else:
        assert read(result) == expect
        assert result.client_trx_id == document["call"]["trx"]


async def test_a_pack_the_results_leave_out_is_unanswered_never_done() -> None:
    document = golden("bulk")
    exchanges = [exchange for exchange in document["exchanges"] if not exchange.get("pending")]
    exchanges[1]["response"]["body"]["packs"].pop(0)
    transport, _ = golden_hub(exchanges)
    async with RestHubClient(BASE, client_id="c", client_secret="s", transport=transport) as client:
        result = await call(client, document["call"])
    assert isinstance(result, BulkResult)
    left_out, answered = result.results
    assert (left_out.outcome, left_out.return_code) == ("technical", UNANSWERED)
    assert "ask the pack's state" in left_out.message
    assert answered.outcome == "alert"


async def test_results_on_another_server_are_not_fetched_with_our_token() -> None:
    document = golden("bulk")
    exchanges = document["exchanges"][:1]
    exchanges[0]["response"]["headers"]["location"] = "https://elsewhere.test/api/product/packs/1"
    transport, recorded = golden_hub(exchanges)
    async with RestHubClient(BASE, client_id="c", client_secret="s", transport=transport) as client:
        result = await call(client, document["call"])
    assert isinstance(result, BulkResult)
    assert len(recorded.requests) == 1
    assert {r.return_code for r in result.results} == {UNANSWERED}
    assert "another server" in result.results[0].message


# -- the simulator against the golden shapes -------------------------------------------------------


def shape(value: Any) -> Any:
    """The keys and JSON types of a document (a list by its first element)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def same_shape(ours: Any, theirs: Any, where: str = "") -> None:
    """Same keys, same types; None on either side stands for a value not given."""
    if ours == "NoneType" or theirs == "NoneType":
        return
    assert type(ours) is type(theirs), where
    if isinstance(ours, dict):
        assert ours.keys() == theirs.keys(), where
        for key in ours:
            same_shape(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(ours, list):
        for mine, golden_one in zip(ours, theirs, strict=False):
            same_shape(mine, golden_one, f"{where}[]")
    else:
        assert ours == theirs, where


def golden_serials() -> set[str]:
    """Every serial the golden calls name, but those the hub must not know."""
    serials = set()
    for name in NAMES:
        spec = golden(name)["call"]
        for one in [spec, *spec.get("items", [])]:
            pack = one.get("pack") or one.get("entry")
            if pack is not None:
                serials.add(pack["serial"])
    return {serial for serial in serials if "NOPE" not in serial}


@pytest.fixture(scope="module")
def sim() -> Iterator[HubSimulator]:
    # FiMVS: its conflict-409 is the same location's re-supply refused below the threshold
    hub = MockHub(ManualClock(datetime(2025, 3, 1, 10, 0, tzinfo=UTC)), seed=11, market="fi")
    hub.add_product(GTIN)
    hub.add_batch(GTIN, "B1", date(2026, 12, 31))
    for serial in golden_serials():
        hub.add_pack(PackIdentifier("GTIN", GTIN, serial, "B1", None, "261231"))
    with HubSimulator(hub, dialects=("rest",), accounts=ACCOUNTS) as simulator:
        yield simulator


@pytest.mark.parametrize("name", NAMES)
async def test_the_simulator_answers_the_golden_requests_in_the_golden_shape(
    sim: HubSimulator, name: str
) -> None:
    document = golden(name)
    equipment = ACCOUNTS.rest[0]
    for serial in document["given"].get("supplied", []):
        sim.hub.add_decommissioned(GTIN, serial, Reason.SUPPLIED, equipment.location)
    assert sim.pki is not None
    tls = ssl.create_default_context(cafile=str(sim.pki.ca))
    async with httpx.AsyncClient(verify=tls) as http:
        form = {
            "grant_type": "client_credentials",
            "client_id": equipment.client_id,
            "client_secret": equipment.client_secret,
        }
        token = (await http.post(f"{sim.rest_url}/identity/connect/token", data=form)).json()
        location = ""
        for exchange in document["exchanges"]:
            if exchange.get("pending"):
                continue
            asked, expected = exchange["request"], exchange["response"]
            url = location if "url" in asked else f"{sim.rest_url}/api/{asked['path']}"
            headers = {**asked["headers"], "authorization": f"Bearer {token['access_token']}"}
            answer = await http.request(
                asked["method"], url, params=asked["query"], headers=headers, json=asked["body"]
            )
            assert answer.status_code == expected["status"], answer.text
            same_shape(shape(answer.json()), shape(expected["body"]))
            if "location" in expected["headers"]:
                location = answer.headers["location"]
                assert location.startswith(f"{sim.rest_url}/api/")
