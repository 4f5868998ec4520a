"""The SOAP wire against what a real national system, a hostile network or a careless caller
might do: answers that repeat, omit or garble items, polls that are lost or throttled, bulks too
big for a naive body limit, and callers that ask for one change twice.

The answers are the golden documents of `tests/wire/soap/` changed the way a real system might
send them, or the simulator's answers changed on their way back over real HTTPS (`Hostile`).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import httpx
import pytest
from lxml import etree

from fmd.codes.model import PackIdentifier
from fmd.hub import BulkItem, MockHub, PackState, Reason
from fmd.hub.clock import ManualClock
from fmd.hub.contract import NOT_SENT, UNANSWERED, HubResult
from fmd.hub.soap import SoapHubClient
from fmd.hub.soap_names import BULK_PATH, MIXED_PATH, TYPES_NS
from fmd.hub.soap_requests import Login, Software, bulk_request, result_request
from fmd.hub.soap_responses import read_bulk_result, read_mixed_result, read_submit
from simulators.hub import Accounts, HubSimulator, SoapLogin
from simulators.hub.accounts import SIM_SOAP_LOGIN
from tests.support.golden import golden
from tests.test_hub_soap import GTIN, LOGIN, START, pem, seeded_hub, ui

TYP = f"{{{TYPES_NS}}}"
OTHER_LOGIN = ("PHARMACY02", "robot02", "sim-password-2")
Change = Callable[[str, httpx.Response], httpx.Response]


# -- the readers, on golden answers a real system might have sent ------------------------------


def edited(name: str, edit: Callable[[Any], None]) -> bytes:
    """Golden answer `name` after `edit` changed its parsed tree."""
    root = etree.fromstring(golden(name))
    edit(root)
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return data


def pack(root: Any, serial: str) -> Any:
    return next(p for p in root.iter(f"{TYP}Pack") if p.get(f"{TYP}sn") == serial)


def bulk_answer(data: bytes) -> dict[str, HubResult]:
    answer = read_bulk_result(data)
    assert isinstance(answer, dict), answer
    return answer


def outcomes(answer: dict[str, HubResult]) -> dict[str, str]:
    return {key: result.outcome for key, result in answer.items()}


def test_a_serial_answered_twice_differently_is_not_done() -> None:
    def alert_first(root: Any) -> None:  # SN0001: first an alert, then ok
        twin = etree.fromstring(etree.tostring(pack(root, "SN0003")))
        twin.set(f"{TYP}sn", "SN0001")
        pack(root, "SN0001").addprevious(twin)

    answer = bulk_answer(edited("G188Response-done", alert_first))
    assert outcomes(answer) == {"SN0001": "technical", "SN0002": "ok", "SN0003": "alert"}
    assert "twice" in answer["SN0001"].message


def test_a_trx_answered_twice_differently_in_a_mixed_result_is_not_done() -> None:
    def same_trx(root: Any) -> None:
        ids = list(root.iter(f"{TYP}ClientTrxId"))
        ids[2].text = ids[1].text  # item 2 (G120, INACTIVE) under item 1's trx id

    answer = read_mixed_result(edited("G196Response-done", same_trx))
    assert isinstance(answer, dict)
    assert answer["trx-0001-1"].outcome == "technical"


@pytest.mark.parametrize(
    "garble",
    [
        lambda p: p.set(f"{TYP}state", "DORMANT"),
        lambda p: p.insert(0, etree.fromstring(f'<Reason xmlns="{TYPES_NS}">REGISTERED</Reason>')),
        lambda p: p.remove(p.find(f"{TYP}ReturnCode")),
    ],
    ids=["unknown-state", "unknown-reason", "no-return-code"],
)
def test_one_unreadable_pack_item_spoils_only_its_own_result(garble: Callable[[Any], None]) -> None:
    answer = bulk_answer(edited("G188Response-done", lambda root: garble(pack(root, "SN0001"))))
    assert outcomes(answer) == {"SN0001": "technical", "SN0002": "ok", "SN0003": "alert"}
    assert answer["SN0003"].alert_id == "ALERT-0002"


def test_one_unreadable_mixed_item_spoils_only_its_own_result() -> None:
    answer = read_mixed_result(
        edited("G196Response-done", lambda root: pack(root, "SN0001").set(f"{TYP}state", "X"))
    )
    assert isinstance(answer, dict)
    assert answer["trx-0001-1"].outcome == "technical"
    assert answer["trx-0001-2"].reasons == (Reason.SUPPLIED,)


def test_a_bulk_level_code_does_not_hide_the_packs_own_results() -> None:
    def some_not_processed(root: Any) -> None:
        body_code = root.find(f".//{TYP}Body/{TYP}ReturnCode")
        body_code.set(f"{TYP}code", "NMVS_NC_PCK_24")  # at least one serial not processed

    answer = bulk_answer(edited("G188Response-done", some_not_processed))
    assert outcomes(answer) == {"SN0001": "ok", "SN0002": "ok", "SN0003": "alert"}


# -- faults as a real system may send them (no network) -----------------------------------------


def faulted(status: int, code: str = "NMVS_TE_XM_01") -> httpx.MockTransport:
    content = golden("Fault").replace(b"NMVS_TE_XM_01", code.encode())
    answer = httpx.Response(status, content=content, headers={"content-type": "text/xml"})
    return httpx.MockTransport(lambda request: answer)


async def test_a_fault_with_http_200_keeps_our_trx_id() -> None:
    async with SoapHubClient("https://hub.test", **LOGIN, transport=faulted(200)) as client:
        result = await client.decommission(ui("F1"), Reason.SUPPLIED, trx="trx-fault-200")
    assert (result.outcome, result.client_trx_id) == ("technical", "trx-fault-200")


@pytest.mark.parametrize("status", [200, 500])
async def test_a_rate_limit_sent_as_a_fault_is_rate_limited(status: int) -> None:
    transport = faulted(status, "NMVS_FI_SE_CLI_01")
    async with SoapHubClient("https://hub.test", **LOGIN, transport=transport) as client:
        result = await client.verify(ui("F1"))
    assert (result.outcome, result.return_code) == ("rate_limited", "NMVS_FI_SE_CLI_01")


# -- through the simulator, its answers changed on the way back ---------------------------------


class Hostile(httpx.AsyncBaseTransport):
    """The real HTTPS transport to the simulator; `change(transaction, answer)` gives the answer
    delivered instead (or raises an httpx error: the answer was lost). `sent` keeps each
    request's transaction element name and body."""

    def __init__(self, sim: HubSimulator, change: Change | None = None) -> None:
        assert sim.pki is not None
        context = ssl.create_default_context(cafile=str(sim.pki.ca))
        context.load_cert_chain(str(sim.pki.client_cert), str(sim.pki.client_key))
        self.inner = httpx.AsyncHTTPTransport(verify=context)
        self.change = change or (lambda name, response: response)
        self.sent: list[tuple[str, bytes]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        name = etree.QName(etree.fromstring(body).find("{*}Body")[0]).localname
        self.sent.append((name, body))
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        headers = {"content-type": response.headers.get("content-type", "")}
        return self.change(
            name, httpx.Response(response.status_code, headers=headers, content=content)
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


def rewritten(response: httpx.Response, edit: Callable[[Any], None]) -> httpx.Response:
    root = etree.fromstring(response.content)
    edit(root)
    return httpx.Response(200, headers=response.headers, content=etree.tostring(root))


@pytest.fixture(scope="module")
def hub() -> MockHub:
    return seeded_hub(ManualClock(START))


@pytest.fixture(scope="module")
def sim(hub: MockHub) -> Iterator[HubSimulator]:
    logins = (SoapLogin(*SIM_SOAP_LOGIN, "loc-1"), SoapLogin(*OTHER_LOGIN, "loc-2"))
    with HubSimulator(hub, dialects=("soap",), accounts=Accounts(soap=logins)) as running:
        yield running


def client_for(sim: HubSimulator, transport: Hostile, **options: Any) -> SoapHubClient:
    return SoapHubClient(
        sim.soap_url, **LOGIN, **pem(sim), bulk_poll_s=0.02, transport=transport, **options
    )


def packs(hub: MockHub, prefix: str, count: int, batch: str = "B1") -> list[PackIdentifier]:
    made = [ui(f"{prefix}{i}", batch) for i in range(count)]
    for made_pack in made:
        hub.add_pack(made_pack)
    return made


async def test_a_large_delivery_is_answered_with_the_default_body_limit(
    hub: MockHub, sim: HubSimulator
) -> None:
    delivery = packs(hub, "BIG", 10_000)  # its G188 answer is well over 1 MB
    async with client_for(sim, Hostile(sim)) as client:
        result = await client.bulk([BulkItem(p) for p in delivery])
    assert {r.outcome for r in result.results} == {"ok"}


def first_poll(fail: Callable[[httpx.Response], httpx.Response]) -> Change:
    polls = 0

    def change(name: str, response: httpx.Response) -> httpx.Response:
        nonlocal polls
        if name != "G188Request":
            return response
        polls += 1
        return fail(response) if polls == 1 else response

    return change


def lost(response: httpx.Response) -> httpx.Response:
    raise httpx.ReadError("connection reset by peer")


def throttled(response: httpx.Response) -> httpx.Response:
    return httpx.Response(429)


@pytest.mark.parametrize("fail", [throttled, lost])
async def test_a_poll_lost_or_rate_limited_is_asked_again_not_taken_as_the_bulks_result(
    hub: MockHub, sim: HubSimulator, fail: Callable[[httpx.Response], httpx.Response]
) -> None:
    supplied = packs(hub, f"POLL-{fail.__name__}", 2)
    async with client_for(sim, Hostile(sim, first_poll(fail))) as client:
        result = await client.bulk([BulkItem(p, "decommission", Reason.SUPPLIED) for p in supplied])
    assert [r.outcome for r in result.results] == ["ok", "ok"], "supplied: a caller must not resend"


@pytest.mark.parametrize("mixed", [False, True], ids=["G188", "G196"])
async def test_an_item_answered_for_a_pack_we_did_not_send_leaves_ours_unanswered(
    hub: MockHub, sim: HubSimulator, mixed: bool
) -> None:
    def foreign(name: str, response: httpx.Response) -> httpx.Response:
        if name not in ("G188Request", "G196Request") or b"FOREIGN" not in response.content:
            return response

        def swap(root: Any) -> None:
            if mixed:
                next(root.iter(f"{TYP}TrxItem")).find(f".//{TYP}ClientTrxId").text = "stranger-1"
            else:
                pack(root, "FOREIGN-B0").set(f"{TYP}sn", "STRANGER")

        return rewritten(response, swap)

    sent = packs(hub, "FOREIGN-M" if mixed else "FOREIGN-B", 2)
    items = [BulkItem(p, trx=f"foreign-{mixed:d}-{i}") for i, p in enumerate(sent)]
    async with client_for(sim, Hostile(sim, foreign)) as client:
        result = await (client.mixed(items) if mixed else client.bulk(items))
    assert [r.return_code for r in result.results] == [UNANSWERED, "NMVS_SUCCESS"]


async def test_an_answer_about_a_bulk_of_another_transaction_is_not_ours(
    hub: MockHub, sim: HubSimulator
) -> None:
    def other_type(name: str, response: httpx.Response) -> httpx.Response:
        if name != "G188Request" or b"ReqType" not in response.content:
            return response
        return rewritten(
            response, lambda root: setattr(root.find(f".//{TYP}ReqType"), "text", "G125")
        )

    async with client_for(sim, Hostile(sim, other_type)) as client:
        result = await client.bulk([BulkItem(p) for p in packs(hub, "REQTYPE", 2)])
    assert {r.outcome for r in result.results} == {"technical"}


async def test_a_change_asked_twice_in_one_bulk_is_sent_once(
    hub: MockHub, sim: HubSimulator
) -> None:
    destroyed, verified = packs(hub, "TWICE-BULK", 2)
    alerts = len(hub.alerts)
    async with client_for(sim, Hostile(sim)) as client:
        result = await client.bulk(
            [
                BulkItem(destroyed, "decommission", Reason.DESTROYED, trx="twice-1"),
                BulkItem(destroyed, "decommission", Reason.DESTROYED, trx="twice-2"),
                BulkItem(verified),
                BulkItem(verified),
            ]
        )
    assert [r.outcome for r in result.results] == ["ok", "invalid_request", "ok", "ok"]
    assert len(hub.alerts) == alerts, "no self-inflicted PCK_22"
    assert hub.state_changes_by_pack[destroyed.product_code, destroyed.serial] == 1


async def test_a_mixed_bulk_carries_each_pack_once_and_keeps_the_items_order(
    hub: MockHub, sim: HubSimulator
) -> None:
    changed, other = packs(hub, "ORDER", 2)
    recorder = Hostile(sim)
    items = [
        BulkItem(changed, "decommission", Reason.SUPPLIED, trx="order-1"),
        BulkItem(changed, "undo", Reason.SUPPLIED, trx="order-2", ref_trx="order-1"),
        BulkItem(other, trx="order-3"),
    ]
    async with client_for(sim, recorder) as client:
        result = await client.mixed(items)
    assert [r.outcome for r in result.results] == ["ok", "ok", "ok"]
    submitted = [body for name, body in recorder.sent if name == "G195Request"]
    serial = f'sn="{changed.serial}"'.encode()
    assert [body.count(serial) for body in submitted] == [1, 1]
    assert hub.pack_state(changed.product_code, changed.serial) == (PackState.ACTIVE, ())


async def test_a_bulk_that_cannot_be_collected_keeps_the_results_of_the_bulks_before_it(
    hub: MockHub, sim: HubSimulator
) -> None:
    hub.add_batch(GTIN, "B3", date(2026, 12, 31))
    hub.add_batch(GTIN, "B4", date(2026, 12, 31))
    first, late = packs(hub, "KEPT", 2), packs(hub, "LATE", 1, "B3")
    after = packs(hub, "AFTER", 1, "B4")

    def late_never_done(name: str, response: httpx.Response) -> httpx.Response:
        if name != "G188Request" or b'sn="LATE0"' not in response.content:
            return response

        def processing(root: Any) -> None:
            body = root.find(f".//{TYP}Body")
            for element in (body.find(f"{TYP}Product"), body.find(f"{TYP}Packs")):
                body.remove(element)

        return rewritten(response, processing)

    items = [BulkItem(p, "decommission", Reason.SUPPLIED) for p in [*first, *late, *after]]
    async with client_for(sim, Hostile(sim, late_never_done), bulk_max_wait_s=0.2) as client:
        result = await client.bulk(items)
    codes = [r.return_code for r in result.results]
    assert codes == ["NMVS_SUCCESS"] * 2 + [UNANSWERED, NOT_SENT]
    assert hub.pack_state(GTIN, "AFTER0") == (PackState.ACTIVE, ()), "the bulk after: not sent"


async def test_the_simulator_keeps_bulk_ids_to_their_location_and_their_kind(
    hub: MockHub, sim: HubSimulator
) -> None:
    software = Software("fmd-robot", "tests", "1")
    ours = Login(*SIM_SOAP_LOGIN)
    transport = Hostile(sim)
    submit = bulk_request("G115", ours, software, "ids-1", packs(hub, "IDS", 1))
    async with httpx.AsyncClient(transport=transport) as http:

        async def post(path: str, body: bytes) -> bytes:
            headers = {"content-type": "application/soap+xml"}
            return (await http.post(f"{sim.soap_url}{path}", content=body, headers=headers)).content

        bulk_id = read_submit(await post(BULK_PATH, submit), code="G115")
        assert isinstance(bulk_id, str)
        another = result_request("G188", Login(*OTHER_LOGIN), software, "ids-2", bulk_id)
        as_mixed = result_request("G196", ours, software, "ids-3", bulk_id)
        assert b"NMVS_FE_TX_02" in await post(BULK_PATH, another)
        assert b"NMVS_FE_TX_02" in await post(MIXED_PATH, as_mixed)
