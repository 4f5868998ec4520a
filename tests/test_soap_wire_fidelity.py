"""The SOAP wire held against golden documents written from the published Arvato schemas.

`tests/wire/soap/` was written from the XSDs, not from our code (its README says how). Three
ways round: our client's requests are the golden requests; our client reads answers shaped as
a real system sends them (prefixes `ns1`/`ns2`, qualified attributes, notifications, elements it
does not know); and every request our client sends and every answer our simulator gives passes
the schemas' structure (`simulators.hub.soap_schema`).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from lxml import etree

from fmd.codes.model import PackIdentifier
from fmd.hub import BulkItem, HubResult, ManualEntry, MockHub, PackState, Reason
from fmd.hub.clock import ManualClock
from fmd.hub.soap import SoapHubClient
from fmd.hub.soap_requests import (
    Login,
    MixedItem,
    Software,
    bulk_request,
    manual_request,
    mixed_request,
    ping_request,
    result_request,
    single_request,
)
from fmd.hub.soap_responses import read_ping, read_single_response
from simulators.hub import HubSimulator
from simulators.hub.soap_schema import schema_problem
from tests.support.golden import golden, golden_element

LOGIN = Login("PHARMA-01", "user01", "s3cret-pass")
SOFTWARE = Software("fmd-robot", "fmd-robot", "0.1.0")
TRX = "trx-0001"
GTIN = "09506000134352"
SERIALS = ("SN0001", "SN0002", "SN0003", "SN0004")
BULK_ID = "a7e3c1d9b2f64e08b5c7d1a3e9f20c46"
MIXED_ID = "c2d4e6f8a0b14c3d8e5f7a9b1c3d5e70"
Shape = tuple[Any, ...]


def ui(serial: str = "SN0001") -> PackIdentifier:
    return PackIdentifier("GTIN", GTIN, serial, "B1", date(2028, 12, 31), "281231")


def entry(serial: str = "SN0001") -> ManualEntry:
    return ManualEntry("GTIN", GTIN, serial)


def shape(element: Any, *, drop: frozenset[str] = frozenset()) -> Shape:
    """An element as (namespace-qualified name, attributes, text, children): prefixes and the
    whitespace between elements do not count; local names in `drop` are left out."""
    kids = tuple(
        shape(kid, drop=drop)
        for kid in element
        if isinstance(kid.tag, str) and etree.QName(kid).localname not in drop
    )
    text = (element.text or "").strip() if not kids else ""
    return (element.tag, tuple(sorted(element.attrib.items())), text, kids)


def body_element(data: bytes) -> Any:
    root = etree.fromstring(data)
    return next(kid for kid in root.find("{*}Body") if isinstance(kid.tag, str))


# -- our requests are the golden requests --------------------------------------------------------

OUR_REQUESTS = {
    "G110Request": lambda: single_request("G110", LOGIN, SOFTWARE, TRX, ui()),
    "G120Request": lambda: single_request("G120", LOGIN, SOFTWARE, TRX, ui()),
    "G121Request": lambda: single_request("G121", LOGIN, SOFTWARE, TRX, ui(), "trx-0000"),
    "G122Request": lambda: manual_request("G122", LOGIN, SOFTWARE, TRX, entry()),
    "G130Request": lambda: single_request("G130", LOGIN, SOFTWARE, TRX, ui()),
    "G170Request": lambda: single_request("G170", LOGIN, SOFTWARE, TRX, ui()),
    "G171Request": lambda: single_request("G171", LOGIN, SOFTWARE, TRX, ui()),
    "G180Request": lambda: single_request("G180", LOGIN, SOFTWARE, TRX, ui()),
    "G182Request": lambda: manual_request("G182", LOGIN, SOFTWARE, TRX, entry()),
    "G115Request": lambda: bulk_request("G115", LOGIN, SOFTWARE, TRX, [ui(s) for s in SERIALS[:3]]),
    "G125Request": lambda: bulk_request("G125", LOGIN, SOFTWARE, TRX, [ui(s) for s in SERIALS[:2]]),
    "G188Request": lambda: result_request("G188", LOGIN, SOFTWARE, TRX, BULK_ID),
    "G196Request": lambda: result_request("G196", LOGIN, SOFTWARE, TRX, MIXED_ID),
    "G195Request": lambda: mixed_request(
        LOGIN,
        SOFTWARE,
        TRX,
        [
            MixedItem("G110", "trx-0001-1", ui=ui("SN0001")),
            MixedItem("G120", "trx-0001-2", ui=ui("SN0002")),
            MixedItem("G122", "trx-0001-3", entry=entry("SN0003")),
            MixedItem("G121", "trx-0001-4", ui=ui("SN0004"), ref_trx="trx-0000"),
        ],
    ),
    "SupportPingRequest": lambda: ping_request("SupportPing", "ping"),
    "SinglePackPingRequest": lambda: ping_request("SinglePackPing", "ping"),
    "BulkPingRequest": lambda: ping_request("BulkPing", "ping"),
}


@pytest.mark.parametrize("name", sorted(OUR_REQUESTS))
def test_our_request_is_the_golden_one(name: str) -> None:
    ours = body_element(OUR_REQUESTS[name]())
    assert shape(ours) == shape(golden_element(name))
    assert schema_problem(ours) is None


def test_our_bulk_undo_leaves_out_the_optional_reference_and_stays_valid() -> None:
    ours = body_element(bulk_request("G127", LOGIN, SOFTWARE, TRX, [ui(s) for s in SERIALS[:2]]))
    expected = shape(golden_element("G127Request"), drop=frozenset({"RefClientTrxId"}))
    assert shape(ours) == expected
    assert schema_problem(ours) is None


# -- our client reads answers shaped as a real system sends them --------------------------------


class Scripted(httpx.AsyncBaseTransport):
    """Answers each request with the next golden answer for its transaction, and keeps what
    was sent."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = {name: list(files) for name, files in answers.items()}
        self.sent: list[Any] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        element = body_element(await request.aread())
        self.sent.append(element)
        name = etree.QName(element).localname
        document = golden(self.answers[name].pop(0))
        return httpx.Response(
            200, headers={"content-type": "application/soap+xml; charset=utf-8"}, content=document
        )


def scripted_client(transport: Scripted) -> SoapHubClient:
    return SoapHubClient(
        "https://nmvs.invalid",
        client_login_id=LOGIN.client_login_id,
        user_id=LOGIN.user_id,
        password=LOGIN.password,
        user_software=(SOFTWARE.supplier, SOFTWARE.name, SOFTWARE.version),
        transport=transport,
        bulk_poll_s=0,
    )


@pytest.mark.parametrize(
    ("answer", "outcome", "state", "reasons"),
    [
        ("G110Response-active", "ok", PackState.ACTIVE, ()),
        ("G110Response-inactive-supplied", "ok", PackState.INACTIVE, (Reason.SUPPLIED,)),
        ("G110Response-alert", "alert", PackState.UNKNOWN, ()),
        ("G110Response-notification", "ok", PackState.ACTIVE, ()),
        ("G110Response-future-element", "ok", PackState.ACTIVE, ()),
    ],
)
async def test_a_real_shaped_verify_answer_is_read(
    answer: str, outcome: str, state: PackState, reasons: tuple[Reason, ...]
) -> None:
    transport = Scripted({"G110Request": [answer]})
    async with scripted_client(transport) as client:
        result = await client.verify(ui(), trx=TRX)
    assert (result.outcome, result.state, result.reasons) == (outcome, state, reasons)
    assert result.hub_trx_id == "5f0c3a9e8b7d4c1a9e2f0b6d4c8a7e31"
    assert result.at == datetime(2026, 12, 1, 9, 0, 0, 123000, tzinfo=UTC)
    assert shape(transport.sent[0]) == shape(golden_element("G110Request"))
    if outcome == "alert":
        assert (result.return_code, result.alert_id) == ("NMVS_NC_PC_02", "ALERT-0001")


async def test_a_real_shaped_supply_undo_and_manual_supply_are_read() -> None:
    transport = Scripted(
        {
            "G120Request": ["G120Response"],
            "G121Request": ["G121Response"],
            "G122Request": ["G122Response"],
        }
    )
    async with scripted_client(transport) as client:
        supplied = await client.decommission(ui(), Reason.SUPPLIED, trx=TRX)
        undone = await client.undo(ui(), Reason.SUPPLIED, trx=TRX, ref_trx="trx-0000")
        by_hand = await client.manual(entry(), Reason.SUPPLIED, trx=TRX)
    assert (supplied.outcome, supplied.state, supplied.reasons) == (
        "ok",
        PackState.INACTIVE,
        (Reason.SUPPLIED,),
    )
    assert (undone.outcome, undone.state) == ("ok", PackState.ACTIVE)
    assert (by_hand.outcome, by_hand.reasons) == ("ok", (Reason.SUPPLIED,))
    for sent, name in zip(
        transport.sent, ("G120Request", "G121Request", "G122Request"), strict=True
    ):
        assert shape(sent) == shape(golden_element(name))


async def test_a_real_shaped_bulk_is_polled_until_done_and_read_per_serial() -> None:
    transport = Scripted(
        {
            "G115Request": ["G115Response"],
            "G188Request": ["G188Response-processing", "G188Response-done"],
        }
    )
    async with scripted_client(transport) as client:
        result = await client.bulk([BulkItem(ui(s), trx=f"p-{s}") for s in SERIALS[:3]])
    assert result.hub_trx_id == BULK_ID
    assert [r.client_trx_id for r in result.results] == ["p-SN0001", "p-SN0002", "p-SN0003"]
    assert all(r.return_code for r in result.results)
    submitted, *polls = transport.sent
    no_trx = frozenset({"ClientTrxId"})
    assert shape(submitted, drop=no_trx) == shape(golden_element("G115Request"), drop=no_trx)
    assert len(polls) == 2
    assert shape(polls[1], drop=no_trx) == shape(golden_element("G188Request"), drop=no_trx)


async def test_a_real_shaped_mixed_bulk_is_read_per_transaction() -> None:
    transport = Scripted({"G195Request": ["G195Response"], "G196Request": ["G196Response-done"]})
    items = [
        BulkItem(ui("SN0001"), "verify", trx="trx-0001-1"),
        BulkItem(ui("SN0002"), "decommission", Reason.SUPPLIED, trx="trx-0001-2"),
        BulkItem(ui("SN0004"), "undo", Reason.SUPPLIED, trx="trx-0001-4", ref_trx="trx-0000"),
    ]
    async with scripted_client(transport) as client:
        result = await client.mixed(items)
    assert result.hub_trx_id == MIXED_ID
    assert [(r.client_trx_id, r.state) for r in result.results] == [
        ("trx-0001-1", PackState.ACTIVE),
        ("trx-0001-2", PackState.INACTIVE),
        ("trx-0001-4", PackState.ACTIVE),
    ]
    assert result.results[1].reasons == (Reason.SUPPLIED,)


def test_a_real_shaped_fault_and_pings_are_read() -> None:
    fault = read_single_response(golden("Fault"), code="G110", client_trx=TRX)
    assert (fault.outcome, fault.return_code) == ("technical", "NMVS_TE_XM_01")
    for ping in ("SupportPing", "SinglePackPing", "BulkPing"):
        assert read_ping(golden(f"{ping}Response"), code=ping) == "ping"


# -- every request we send and every answer our simulator gives has the schemas' structure ------


class Recording(httpx.AsyncBaseTransport):
    """A real HTTPS transport that keeps each request's and answer's transaction element."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.seen: list[Any] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(body_element(await request.aread()))
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        self.seen.append(body_element(content))
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture(scope="module")
def sim() -> Iterator[HubSimulator]:
    hub = MockHub(ManualClock(datetime(2026, 12, 1, 9, tzinfo=UTC)), seed=3)
    hub.add_product(GTIN)
    hub.add_batch(GTIN, "B1", date(2028, 12, 31))
    for serial in SERIALS:
        hub.add_pack(ui(serial))
    with HubSimulator(hub, dialects=("soap",)) as running:
        yield running


@pytest.fixture
async def recording(sim: HubSimulator) -> AsyncIterator[tuple[SoapHubClient, Recording]]:
    assert sim.pki is not None
    context = ssl.create_default_context(cafile=str(sim.pki.ca))
    context.load_cert_chain(str(sim.pki.client_cert), str(sim.pki.client_key))
    recorder = Recording(httpx.AsyncHTTPTransport(verify=context))
    client = sim.client("soap", transport=recorder, bulk_poll_s=0.01)
    assert isinstance(client, SoapHubClient)
    async with client:
        yield client, recorder


async def test_every_exchange_with_our_simulator_has_the_schemas_structure(
    recording: tuple[SoapHubClient, Recording],
) -> None:
    client, recorder = recording
    await client.ping()
    verified: HubResult = await client.verify(ui("SN0001"))
    assert verified.state is PackState.ACTIVE
    await client.decommission(ui("SN0002"), Reason.SUPPLIED)
    await client.undo(ui("SN0002"), Reason.SUPPLIED)
    await client.manual(entry("SN0003"), Reason.SUPPLIED)
    await client.verify(ui("NOT-THERE"))
    await client.bulk([BulkItem(ui(s)) for s in SERIALS])
    await client.bulk([BulkItem(ui("SN0004"), "decommission", Reason.LOCKED)])
    await client.bulk([BulkItem(ui("SN0004"), "undo", Reason.LOCKED)])
    await client.mixed(
        [
            BulkItem(ui("SN0001"), "verify"),
            BulkItem(ui("SN0001"), "decommission", Reason.DESTROYED),
        ]
    )
    names = {etree.QName(element).localname for element in recorder.seen}
    assert {"G110Response", "G122Response", "G115Response", "G188Response", "G196Response"} <= names
    problems = [
        (etree.QName(element).localname, schema_problem(element))
        for element in recorder.seen
        if schema_problem(element) is not None
    ]
    assert problems == []
