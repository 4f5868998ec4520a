"""The REST dialect end to end: `RestHubClient` ↔ the hub simulator over real HTTPS."""

from __future__ import annotations

import itertools
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, replace
from datetime import UTC, date, datetime

import httpx
import pytest

from fmd.codes.model import PackIdentifier, Scheme
from fmd.hub import (
    BulkItem,
    HubAuthFailed,
    HubUnavailable,
    ManualEntry,
    MockHub,
    PackState,
    Reason,
)
from fmd.hub.clock import ManualClock
from fmd.hub.contract import UNANSWERED
from fmd.hub.rest import RestHubClient, retry_after_seconds
from simulators.hub import Accounts, Faults, HubSimulator, RestEquipment
from tests.support.packs import hub_pack

START = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
GTIN = "04006381333931"
GTIN_UNKNOWN = "08712345678906"
PPN = "110375286414"
EXPIRY = date(2026, 12, 31)
SECRET_A = "sim-secret-a"
ACCOUNTS = Accounts(
    rest=(
        RestEquipment("robot-a", SECRET_A, "pharmacy-a"),
        RestEquipment("robot-b", "sim-secret-b", "pharmacy-b"),
    )
)
_serials = itertools.count(1)


def ui(
    serial: str,
    batch: str = "B1",
    expiry_raw: str = "261231",
    *,
    product: str = GTIN,
    scheme: Scheme = "GTIN",
) -> PackIdentifier:
    return hub_pack(serial, batch, expiry_raw, product=product, scheme=scheme)


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture(scope="module")
def hub(clock: ManualClock) -> MockHub:
    hub = MockHub(clock, seed=3)
    hub.add_product(GTIN)
    hub.add_batch(GTIN, "B1", EXPIRY)
    hub.add_batch(GTIN, "B2", EXPIRY)
    hub.add_batch(GTIN, "RECALLED", EXPIRY)
    hub.add_product(PPN, scheme="PPN")
    hub.add_batch(PPN, "L1", EXPIRY)
    return hub


@pytest.fixture(scope="module")
def sim(hub: MockHub) -> Iterator[HubSimulator]:
    with HubSimulator(hub, dialects=("rest",), accounts=ACCOUNTS) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _no_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sim" in request.fixturenames:
        simulator: HubSimulator = request.getfixturevalue("sim")
        simulator.faults.update(asdict(Faults()))
        simulator.hub.rate_limit_per_s = None
        simulator.hub.set_faults(timeout_rate=0.0)


@pytest.fixture
def ca(sim: HubSimulator) -> str:
    assert sim.pki is not None
    return str(sim.pki.ca)


def make_client(sim: HubSimulator, ca: str, **options: object) -> RestHubClient:
    settings: dict[str, object] = {"client_id": "robot-a", "client_secret": SECRET_A, "verify": ca}
    settings.update(options)
    return RestHubClient(sim.rest_url, **settings)  # type: ignore[arg-type]


@pytest.fixture
async def client(sim: HubSimulator, ca: str) -> AsyncIterator[RestHubClient]:
    async with make_client(sim, ca) as opened:
        yield opened


@pytest.fixture
async def client_b(sim: HubSimulator, ca: str) -> AsyncIterator[RestHubClient]:
    async with make_client(sim, ca, client_id="robot-b", client_secret="sim-secret-b") as opened:
        yield opened


def fresh(hub: MockHub) -> PackIdentifier:
    """A new ACTIVE pack, registered at the hub."""
    pack = ui(f"RS{next(_serials):06d}")
    hub.add_pack(pack)
    return pack


@pytest.fixture
def new_pack(hub: MockHub) -> PackIdentifier:
    """A fresh ACTIVE pack, registered at the hub."""
    return fresh(hub)


async def set_faults(sim: HubSimulator, ca: str, **faults: float) -> None:
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca)) as admin:
        response = await admin.put(f"{sim.admin_url}/faults", json=faults)
        response.raise_for_status()


class Counting(httpx.AsyncBaseTransport):
    """A real HTTPS transport that remembers every request it sent."""

    def __init__(self, ca: str) -> None:
        self.inner = httpx.AsyncHTTPTransport(verify=ssl.create_default_context(cafile=ca))
        self.sent: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return await self.inner.handle_async_request(request)

    @property
    def paths(self) -> list[str]:
        return [request.url.path for request in self.sent]

    @property
    def urls(self) -> list[str]:
        return [str(request.url) for request in self.sent]

    async def aclose(self) -> None:
        await self.inner.aclose()

    def count(self, suffix: str) -> int:
        return sum(path.endswith(suffix) for path in self.paths)


# -- the happy path --------------------------------------------------------------------------------


async def test_verify_decommission_undo(
    client: RestHubClient, hub: MockHub, new_pack: PackIdentifier
) -> None:
    verified = await client.verify(new_pack, trx="trx-verify-1")
    assert (verified.outcome, verified.return_code) == ("ok", "10000000")
    assert (verified.state, verified.reasons, verified.alert_id) == (PackState.ACTIVE, (), None)
    assert verified.client_trx_id == "trx-verify-1"
    assert verified.at is not None
    assert verified.at.tzinfo is UTC
    assert verified.latency_s > 0
    assert verified.message.startswith("NMVS_SUCCESS (10000000)")

    supplied = await client.decommission(new_pack, Reason.SUPPLIED, trx="trx-supply-1")
    assert (supplied.outcome, supplied.state, supplied.reasons) == (
        "ok",
        PackState.INACTIVE,
        (Reason.SUPPLIED,),
    )
    again = await client.decommission(new_pack, Reason.SUPPLIED, trx="trx-supply-1")
    assert (again.outcome, again.reasons) == ("ok", (Reason.SUPPLIED,))  # the first answer again
    assert hub.state_changes_by_pack[(new_pack.product_code, new_pack.serial)] == 1

    undone = await client.undo(new_pack, Reason.SUPPLIED, ref_trx="trx-supply-1")
    assert (undone.outcome, undone.state, undone.reasons) == ("ok", PackState.ACTIVE, ())
    assert hub.pack_state(new_pack.product_code, new_pack.serial) == (PackState.ACTIVE, ())


async def test_every_pack_level_reason_round_trips(
    client: RestHubClient, hub: MockHub, new_pack: PackIdentifier
) -> None:
    for reason in (Reason.LOCKED, Reason.EXPORTED, Reason.SAMPLE, Reason.FREE_SAMPLE):
        result = await client.decommission(new_pack, reason)
        assert (result.outcome, result.reasons) == ("ok", (reason,))
        assert (await client.undo(new_pack, reason)).outcome == "ok"


async def test_ppn_scheme_and_serial_with_slash(client: RestHubClient, hub: MockHub) -> None:
    pack = ui("A/B%?&+1", "L1", product=PPN, scheme="PPN")
    hub.add_pack(pack)
    assert (await client.verify(pack)).outcome == "ok"
    assert (await client.decommission(pack, Reason.DESTROYED)).outcome == "ok"
    assert hub.pack_state(PPN, "A/B%?&+1") == (PackState.INACTIVE, (Reason.DESTROYED,))


async def test_bulk_posts_one_request_per_target_state_and_answers_in_item_order(
    sim: HubSimulator, ca: str, hub: MockHub
) -> None:
    first, second, third = (fresh(hub) for _ in range(3))
    items = [
        BulkItem(first, "decommission", Reason.SUPPLIED),
        BulkItem(ui("NO-SUCH-SERIAL")),
        BulkItem(second),
        BulkItem(third, "decommission", Reason.SUPPLIED),
        BulkItem(first, "decommission", None),
    ]
    transport = Counting(ca)
    async with make_client(sim, ca, transport=transport) as client:
        result = await client.bulk(items)
    assert [r.outcome for r in result.results] == ["ok", "alert", "ok", "ok", "invalid_request"]
    assert result.results[1].alert_id
    assert result.results[4].message.startswith("refused before sending")
    assert transport.count("/api/product/packs") == 2  # one for Supplied, one to verify
    assert len(result.hub_trx_id.split(",")) == 2
    assert hub.pack_state(GTIN, third.serial) == (PackState.INACTIVE, (Reason.SUPPLIED,))


async def test_bulk_never_sends_a_pack_twice_in_one_request_nor_more_than_the_limit(
    sim: HubSimulator, ca: str, hub: MockHub
) -> None:
    packs = [fresh(hub) for _ in range(3)]
    items = [BulkItem(pack) for pack in (*packs, packs[0])]
    transport = Counting(ca)
    async with make_client(sim, ca, transport=transport, max_bulk_packs=2) as client:
        result = await client.bulk(items)
    assert [r.outcome for r in result.results] == ["ok"] * 4
    assert transport.count("/api/product/packs") == 2  # [0, 1] and [2, 0 again]


async def test_mixed_is_one_recovery_request_processed_in_order(
    sim: HubSimulator, ca: str, hub: MockHub
) -> None:
    locked, supplied = fresh(hub), fresh(hub)
    items = [
        BulkItem(locked, "decommission", Reason.LOCKED, trx="mixed-1"),
        BulkItem(locked, "undo", Reason.LOCKED, trx="mixed-2"),
        BulkItem(supplied, "decommission", Reason.SUPPLIED, trx="mixed-3"),
        BulkItem(ui("NO-SUCH-SERIAL-2"), trx="mixed-4"),
        BulkItem(supplied, "decommission", Reason.CHECKED_OUT, trx="mixed-5"),
    ]
    transport = Counting(ca)
    async with make_client(sim, ca, transport=transport) as client:
        result = await client.mixed(items)
    outcomes = [(r.outcome, r.reasons) for r in result.results]
    assert outcomes[:4] == [
        ("ok", (Reason.LOCKED,)), ("ok", ()), ("ok", (Reason.SUPPLIED,)), ("alert", ()),
    ]  # fmt: skip
    assert result.results[4].outcome == "invalid_request"  # a recovery cannot carry it
    assert [r.client_trx_id for r in result.results] == [f"mixed-{i}" for i in range(1, 6)]
    assert transport.count("/api/recovery/packs") == 1
    assert hub.pack_state(GTIN, locked.serial) == (PackState.ACTIVE, ())


async def test_many_pack_results_are_only_for_the_location_that_asked(
    sim: HubSimulator, ca: str, hub: MockHub
) -> None:
    transport = Counting(ca)
    async with make_client(sim, ca, transport=transport) as client:
        await client.bulk([BulkItem(fresh(hub))])
    results = next(url for url in transport.urls if "/api/product/packs/" in url)
    form = {"grant_type": "client_credentials", "client_id": "robot-b",
            "client_secret": "sim-secret-b"}  # fmt: skip
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca)) as http:
        token = (await http.post(f"{sim.rest_url}/identity/connect/token", data=form)).json()
        answer = await http.get(
            results, headers={"authorization": f"Bearer {token['access_token']}"}
        )
    assert (answer.status_code, answer.json()["operationCode"]) == (404, 42210001)


async def test_scanned_calls_are_non_manual_and_only_manual_entry_is_manual(
    sim: HubSimulator, ca: str, hub: MockHub
) -> None:
    transport = Counting(ca)
    scanned, keyed = fresh(hub), fresh(hub)
    async with make_client(sim, ca, transport=transport) as client:
        await client.verify(scanned)
        await client.decommission(scanned, Reason.LOCKED)
        await client.undo(scanned, Reason.LOCKED)
        await client.bulk([BulkItem(fresh(hub))])
        await client.mixed([BulkItem(fresh(hub))])
        before = len(transport.sent)
        supplied = await client.manual(ManualEntry("GTIN", GTIN, keyed.serial), Reason.SUPPLIED)
        verified = await client.manual(ManualEntry("GTIN", GTIN, keyed.serial, "B1", "261231"))
    api = [r for r in transport.sent if "/api/" in r.url.path]
    modes = {r.headers["emvs-data-entry-mode"] for r in api[: len(api) - 2]}
    assert modes == {"non-manual"}
    manual = transport.sent[before:]
    assert [r.headers["emvs-data-entry-mode"] for r in manual] == ["manual", "manual"]
    assert [dict(r.url.params) for r in manual] == [{}, {"batch": "B1", "expiry": "261231"}]
    assert (supplied.outcome, supplied.reasons) == ("ok", (Reason.SUPPLIED,))
    assert (verified.outcome, verified.reasons) == ("ok", (Reason.SUPPLIED,))


async def test_a_manual_verify_without_batch_is_sent_and_the_hub_decides(
    client: RestHubClient, hub: MockHub
) -> None:
    before = hub.transactions
    result = await client.manual(ManualEntry("GTIN", GTIN, fresh(hub).serial))
    assert (result.outcome, result.return_code) == ("invalid_request", "61020006")
    assert not result.message.startswith("refused before sending")
    assert hub.transactions == before  # the MockHub's manual entry refused it unseen


async def test_a_bulk_the_hub_throttles_as_a_whole_is_rate_limited_for_every_pack(
    client_b: RestHubClient, hub: MockHub
) -> None:
    hub.rate_limit_per_s = 1
    await client_b.verify(fresh(hub))
    result = await client_b.bulk([BulkItem(fresh(hub)), BulkItem(fresh(hub))])
    assert [r.outcome for r in result.results] == ["rate_limited"] * 2
    assert retry_after_seconds(result.results[0]) == 1.0


async def test_ping(client: RestHubClient) -> None:
    await client.ping()


# -- status mapping --------------------------------------------------------------------------------


async def test_unknown_serial_is_an_alert_with_alert_id(client: RestHubClient) -> None:
    result = await client.verify(ui("NEVER-MADE-1"))
    assert (result.outcome, result.return_code, result.state) == (
        "alert",
        "41020001",
        PackState.UNKNOWN,
    )
    assert result.alert_id
    assert result.alert_id.startswith("ALR-")
    assert result.message.startswith("NMVS_NC_PC_02 (41020001): Serial number unknown")


async def test_unknown_product_is_refused_without_alert(client: RestHubClient) -> None:
    result = await client.verify(ui("S1", product=GTIN_UNKNOWN))
    assert (result.outcome, result.return_code, result.alert_id) == ("refused", "41010001", None)


@pytest.mark.parametrize(
    ("batch", "expiry", "code"),
    [("B2", "261231", "41020008"), ("NOBATCH", "261231", "41020003"), ("B1", "261130", "41020007")],
)
async def test_batch_and_expiry_mismatch_are_alerts(
    client: RestHubClient, new_pack: PackIdentifier, batch: str, expiry: str, code: str
) -> None:
    result = await client.verify(ui(new_pack.serial, batch, expiry))
    assert (result.outcome, result.return_code) == ("alert", code)
    assert result.alert_id


async def test_recalled_batch_is_refused_with_its_state(
    client: RestHubClient, hub: MockHub
) -> None:
    pack = ui("RECALLED-1", "RECALLED")
    hub.add_pack(pack)
    hub.recall_batch(GTIN, "RECALLED")
    result = await client.decommission(pack, Reason.SUPPLIED)
    assert (result.outcome, result.return_code) == ("refused", "51110001")
    assert (result.state, result.reasons) == (PackState.INACTIVE, (Reason.RECALLED,))


async def test_a_supplied_pack_supplied_again_by_anyone_is_an_alert(
    client: RestHubClient, client_b: RestHubClient, new_pack: PackIdentifier
) -> None:
    await client.decommission(new_pack, Reason.SUPPLIED)
    for again in (client, client_b):  # strict; FiMVS refuses its own location: conflict-409
        result = await again.decommission(new_pack, Reason.SUPPLIED)
        assert (result.outcome, result.return_code) == ("alert", "51320001")
        assert (result.state, result.reasons) == (PackState.INACTIVE, (Reason.SUPPLIED,))
        assert result.alert_id


async def test_undo_after_ten_days_is_an_alert(
    client: RestHubClient, clock: ManualClock, new_pack: PackIdentifier
) -> None:
    await client.decommission(new_pack, Reason.SUPPLIED)
    clock.advance(days=10, seconds=1)
    result = await client.undo(new_pack, Reason.SUPPLIED)
    assert (result.outcome, result.return_code, result.state) == (
        "alert",
        "51420020",
        PackState.INACTIVE,
    )


async def test_invalid_product_code_and_expiry_are_invalid_requests(
    client: RestHubClient, new_pack: PackIdentifier
) -> None:
    bad_gtin = await client.verify(ui(new_pack.serial, product="04006381333932"))
    assert (bad_gtin.outcome, bad_gtin.return_code) == ("invalid_request", "61020008")
    bad_expiry = await client.verify(ui(new_pack.serial, expiry_raw="261399"))
    assert (bad_expiry.outcome, bad_expiry.return_code) == ("invalid_request", "61020007")


async def test_hub_rate_limit_gives_429_with_retry_after(
    client: RestHubClient, hub: MockHub, new_pack: PackIdentifier
) -> None:
    hub.rate_limit_per_s = 1
    first = await client.verify(new_pack)
    second = await client.verify(new_pack)
    assert first.outcome == "ok"
    assert (second.outcome, second.return_code) == ("rate_limited", "71000001")
    assert retry_after_seconds(second) == 1.0
    assert retry_after_seconds(first) is None


# -- requests refused before sending ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("pack", "trx"),
    [
        (ui("S1"), "x" * 33),
        (ui("S1"), "bad trx!"),
        (ui("S" * 21), None),
        (ui("S1", batch=""), None),
        (ui("S1", scheme="NTIN"), None),  # type: ignore[arg-type]
        (ui("S1", product="0400/6381"), None),
    ],
)
async def test_bad_requests_are_refused_locally(
    client: RestHubClient, hub: MockHub, pack: PackIdentifier, trx: str | None
) -> None:
    before = hub.transactions
    result = await client.verify(pack, trx=trx)
    assert result.outcome == "invalid_request"
    assert result.message.startswith("refused before sending")
    assert hub.transactions == before


async def test_non_pack_level_reasons_are_refused_locally(client: RestHubClient) -> None:
    assert (await client.decommission(ui("S1"), Reason.RECALLED)).outcome == "invalid_request"
    assert (await client.undo(ui("S1"), Reason.EXPIRED)).outcome == "invalid_request"
    entry = ManualEntry("GTIN", GTIN, "S1")
    assert (await client.manual(entry, Reason.WITHDRAWN)).outcome == "invalid_request"


# -- authentication --------------------------------------------------------------------------------


async def test_token_is_cached_and_refreshed_before_expiry(
    sim: HubSimulator, ca: str, new_pack: PackIdentifier
) -> None:
    transport = Counting(ca)
    now = [0.0]
    async with make_client(sim, ca, transport=transport, clock=lambda: now[0]) as client:
        for _ in range(3):
            assert (await client.verify(new_pack)).outcome == "ok"
        assert transport.count("/token") == 1
        now[0] = 3600 - 61
        await client.verify(new_pack)
        assert transport.count("/token") == 1
        now[0] = 3600 - 59
        await client.verify(new_pack)
        assert transport.count("/token") == 2


def on_mock(
    handler: Callable[[httpx.Request], httpx.Response], client_id: str = "c"
) -> RestHubClient:
    """A client whose requests `handler` answers, with no network."""
    return RestHubClient(
        "https://hub.test/rest",
        client_id=client_id,
        client_secret="s",
        transport=httpx.MockTransport(handler),
    )


async def test_a_401_refreshes_the_token_once() -> None:
    tokens: list[str] = []
    api_calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            tokens.append(f"t{len(tokens)}")
            return httpx.Response(200, json={"access_token": tokens[-1], "expires_in": 3600})
        api_calls.append(request.headers["authorization"])
        if request.headers["authorization"] == "Bearer t0":
            return httpx.Response(401, json={"operationCode": 81000001})
        return httpx.Response(200, json={"operationCode": 10000000, "state": "Active"})

    async with on_mock(handler) as client:
        result = await client.verify(ui("S1"))
    assert result.outcome == "ok"
    assert api_calls == ["Bearer t0", "Bearer t1"]


async def test_a_second_401_is_a_refused_login_naming_the_client_id() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        return httpx.Response(401)

    async with on_mock(handler, client_id="c-robot") as client:
        with pytest.raises(HubAuthFailed, match="client id c-robot") as raised:
            await client.verify(ui("S1"))
    assert raised.value.code == "NMVS_FE_AU_01"


async def test_a_token_endpoint_that_fails_is_technical_not_a_refused_login() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"error": "temporarily_unavailable"})

    async with on_mock(handler) as client:
        result = await client.verify(ui("S1"))
    assert (result.outcome, result.return_code) == ("technical", "NMVS_ERROR")


async def test_a_wrong_secret_raises_hub_auth_failed_naming_the_client_and_token_url(
    sim: HubSimulator, ca: str
) -> None:
    secret = "wrong-secret-value"
    async with make_client(sim, ca, client_secret=secret) as client:
        for call in (client.verify(ui("S1")), client.ping(), client.bulk([BulkItem(ui("S1"))])):
            with pytest.raises(HubAuthFailed) as raised:
                await call
            message = str(raised.value)
            for named in ("robot-a", f"{sim.rest_url}/identity/connect/token", "client_secret"):
                assert named in message
            assert "invalid_client" in message
            assert secret not in message
        assert secret not in repr(client)


async def test_ping_asks_for_a_new_token_so_a_rotated_secret_shows(
    sim: HubSimulator, ca: str, client: RestHubClient
) -> None:
    await client.ping()
    sim.accounts = replace(ACCOUNTS, rest=(replace(ACCOUNTS.rest[0], client_secret="rotated"),
                                           *ACCOUNTS.rest[1:]))  # fmt: skip
    try:
        with pytest.raises(HubAuthFailed, match="robot-a"):
            await client.ping()
    finally:
        sim.accounts = ACCOUNTS


async def test_raw_requests_need_token_header_and_a_valid_body(
    sim: HubSimulator, ca: str, new_pack: PackIdentifier
) -> None:
    url = f"{sim.rest_url}/api/product/gs1/{GTIN}/pack/{new_pack.serial}"
    params = {"batch": "B1", "expiry": "261231"}
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca)) as http:
        anonymous = await http.get(url, params=params)
        assert anonymous.status_code == 401
        form = {"grant_type": "client_credentials", "client_id": "robot-a"}
        token = await http.post(
            f"{sim.rest_url}/identity/connect/token", data={**form, "client_secret": SECRET_A}
        )
        assert token.json()["token_type"] == "Bearer"
        assert token.json()["expires_in"] == 3600
        refused = await http.post(
            f"{sim.rest_url}/identity/connect/token", data={**form, "client_secret": "nope"}
        )
        assert (refused.status_code, refused.json()) == (401, {"error": "invalid_client"})
        grant = await http.post(
            f"{sim.rest_url}/identity/connect/token", data={"grant_type": "password"}
        )
        assert (grant.status_code, grant.json()) == (400, {"error": "unsupported_grant_type"})
        auth = {"authorization": f"Bearer {token.json()['access_token']}"}

        async def code(method: str, headers: dict[str, str], **kw: object) -> tuple[int, int]:
            response = await http.request(
                method,
                url,
                params=params,
                headers={**auth, **headers},
                **kw,  # type: ignore[arg-type]
            )
            return response.status_code, response.json()["operationCode"]

        assert await code("GET", {}) == (422, 61020012)
        for unknown in ("scanned", "keyboard", "2d_two_dimensional_barcode", "Manual"):
            assert await code("GET", {"emvs-data-entry-mode": unknown}) == (422, 61020013)
        assert await code("GET", {"emvs-data-entry-mode": "manual"}) == (200, 10000000)
        scanned = {"emvs-data-entry-mode": "non-manual"}
        assert await code("GET", scanned) == (200, 10000000)
        assert await code("PATCH", scanned, content=b"{not json") == (422, 61020002)
        assert await code("PATCH", scanned, json={"state": "Recalled"}) == (422, 61020002)
        assert await code("PATCH", scanned, json=["Supplied"]) == (422, 61020002)
        assert await code("PATCH", scanned, json={"state": "Locked"}) == (200, 10000000)
        assert await code("PATCH", scanned, json={"state": "Active"}) == (200, 10000000)
        missing = await http.get(url, params={"batch": "B1"}, headers={**auth, **scanned})
        assert (missing.status_code, missing.json()["operationCode"]) == (422, 61020007)
        bulk = f"{sim.rest_url}/api/product/packs"
        pack = {"productCode": GTIN, "serialNumber": new_pack.serial, "batchId": "B1",
                "expiryDate": "261231"}  # fmt: skip
        twice = {"numberOfPacks": 2, "packs": [pack, pack]}
        for body, expected in (
            (twice, 62120000),
            ({**twice, "numberOfPacks": 3}, 62120001),
            ({"numberOfPacks": 0, "packs": []}, 62120002),
            ({"state": "Recalled", "numberOfPacks": 1, "packs": [pack]}, 62120002),
        ):
            refused = await http.post(bulk, json=body, headers={**auth, **scanned})
            assert (refused.status_code, refused.json()["operationCode"]) == (422, expected)
        recovery = f"{sim.rest_url}/api/recovery/packs"
        odd = {"numberOfPacks": 1, "packs": [{**pack, "transitionType": "Supplied"}]}
        refused = await http.post(recovery, json=odd, headers={**auth, **scanned})
        assert (refused.status_code, refused.json()["operationCode"]) == (422, 63120002)


# -- faults ----------------------------------------------------------------------------------------


async def test_malformed_body_is_technical(
    client: RestHubClient, sim: HubSimulator, ca: str, new_pack: PackIdentifier
) -> None:
    await set_faults(sim, ca, malformed_rate=1.0)
    result = await client.verify(new_pack)
    assert (result.outcome, result.return_code) == ("technical", "NMVS_TE_JS_01")
    assert "not JSON" in result.message


async def test_truncated_body_is_technical(
    client: RestHubClient, sim: HubSimulator, ca: str, new_pack: PackIdentifier
) -> None:
    await set_faults(sim, ca, truncated_rate=1.0)
    result = await client.verify(new_pack)
    assert (result.outcome, result.return_code) == ("technical", "NMVS_TE_JS_01")


async def test_server_error_is_technical(
    client: RestHubClient, sim: HubSimulator, ca: str, new_pack: PackIdentifier
) -> None:
    await set_faults(sim, ca, error_rate=1.0)
    result = await client.verify(new_pack)
    assert (result.outcome, result.return_code) == ("technical", "NMVS_ERROR")
    assert "HTTP 503" in result.message


async def test_throttling_is_rate_limited_with_retry_after(
    client: RestHubClient, sim: HubSimulator, ca: str, new_pack: PackIdentifier
) -> None:
    await set_faults(sim, ca, throttle_rate=1.0, retry_after_s=7)
    result = await client.verify(new_pack)
    assert result.outcome == "rate_limited"
    assert retry_after_seconds(result) == 7.0


@pytest.mark.parametrize("fault", ["drop_rate", "lost_reply_rate"])
async def test_dropped_connection_raises_hub_unavailable(
    client: RestHubClient,
    sim: HubSimulator,
    hub: MockHub,
    ca: str,
    new_pack: PackIdentifier,
    fault: str,
) -> None:
    await set_faults(sim, ca, **{fault: 1.0})
    with pytest.raises(HubUnavailable, match="connection dropped"):
        await client.decommission(new_pack, Reason.SUPPLIED)
    applied = hub.state_changes_by_pack.get((new_pack.product_code, new_pack.serial), 0)
    assert applied == (1 if fault == "lost_reply_rate" else 0)


@pytest.mark.parametrize("fault", ["drop_rate", "lost_reply_rate"])
async def test_bulk_packs_without_an_answer_are_unanswered_perhaps_applied(
    client: RestHubClient, sim: HubSimulator, ca: str, hub: MockHub, fault: str
) -> None:
    await client.ping()
    packs = [fresh(hub), fresh(hub)]
    await set_faults(sim, ca, **{fault: 1.0})
    items = [BulkItem(packs[0], "decommission", Reason.SUPPLIED), BulkItem(packs[1], trx="b-2")]
    result = await client.bulk(items)
    assert [r.return_code for r in result.results] == [UNANSWERED] * 2
    assert result.results[1].client_trx_id == "b-2"
    assert "a change may have been applied" in result.results[0].message
    applied = hub.state_changes_by_pack.get((GTIN, packs[0].serial), 0)
    assert applied == (1 if fault == "lost_reply_rate" else 0)


async def test_hub_timeout_behind_the_api_is_technical(
    client: RestHubClient, hub: MockHub, new_pack: PackIdentifier
) -> None:
    hub.set_faults(timeout_rate=1.0)
    result = await client.verify(new_pack)
    assert (result.outcome, result.return_code) == ("technical", "91000002")
    assert "NMVS_TI_TO_01" in result.message


async def test_a_hanging_hub_times_out(
    sim: HubSimulator, ca: str, new_pack: PackIdentifier
) -> None:
    async with make_client(sim, ca, timeout=0.3) as client:
        await client.ping()  # the token is fetched before the hub starts hanging
        await set_faults(sim, ca, hang_rate=1.0, hang_s=0.6)
        with pytest.raises(HubUnavailable, match="read timeout"):
            await client.verify(new_pack)


async def test_untrusted_certificate_raises_hub_unavailable(sim: HubSimulator) -> None:
    async with make_client(sim, "", verify=True) as client:
        with pytest.raises(HubUnavailable, match="TLS or connection failure"):
            await client.verify(ui("S1"))


async def test_nothing_listening_raises_hub_unavailable() -> None:
    async with RestHubClient(
        "https://127.0.0.1:9/rest", client_id="c", client_secret="s"
    ) as client:
        with pytest.raises(HubUnavailable):
            await client.ping()


def fixed(status: int, **kw: object) -> httpx.MockTransport:
    """A hub that hands out tokens and answers every API call with one response."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        return httpx.Response(status, **kw)  # type: ignore[arg-type]

    return httpx.MockTransport(handler)


def streamed(*chunks: bytes, encoding: str = "identity") -> httpx.MockTransport:
    """A hub whose API answers are streamed, without a Content-Length."""

    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        headers = {"content-type": "application/json", "content-encoding": encoding}
        return httpx.Response(200, content=body(), headers=headers)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("transport", "expected"),
    [
        (fixed(302, headers={"location": "https://evil.test/"}), "redirects are not followed"),
        (fixed(200, content=b" " * 1_000_001), "larger than 1000000 bytes"),
        (streamed(b"x" * 600_000, b"x" * 600_000), "larger than 1000000 bytes"),
        (fixed(200, json={"state": "Active"}), "operationCode"),
        (fixed(200, json={"operationCode": "10000000", "state": "Reborn"}), "unknown state"),
        (fixed(418, text="teapot"), "HTTP 418"),
        (fixed(200, text='{"state": "Active"}'), "not JSON"),
        (streamed(b"junk", encoding="gzip"), "could not be decoded"),
    ],
)
async def test_unusable_answers_are_technical(
    transport: httpx.MockTransport, expected: str
) -> None:
    async with RestHubClient(
        "https://hub.test/rest", client_id="c", client_secret="s", transport=transport
    ) as client:
        result = await client.verify(ui("S1"))
    assert result.outcome == "technical"
    assert expected in result.message


async def test_the_api_and_the_token_endpoint_may_be_given_apart(
    sim: HubSimulator, ca: str, hub: MockHub
) -> None:
    pack = fresh(hub)
    apart = make_client(
        sim,
        ca,
        api_url=f"{sim.rest_url}/api",
        token_url=f"{sim.rest_url}/identity/connect/token",
    )
    elsewhere = make_client(sim, ca, token_url=f"{sim.rest_url}/no-identity-here")
    async with apart, elsewhere:
        assert (await apart.verify(pack)).outcome == "ok"
        lost = await elsewhere.verify(pack)
    assert lost.outcome == "technical"
    assert "token" in lost.message
