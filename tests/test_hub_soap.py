"""The SOAP dialect over the wire: `SoapHubClient` ↔ the hub simulator on HTTPS with mutual TLS."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    load_pem_private_key,
    pkcs12,
)
from lxml import etree

from fmd.codes.model import PackIdentifier
from fmd.hub import (
    BulkItem,
    HubAuthFailed,
    HubClient,
    HubUnavailable,
    MockHub,
    PackState,
    Reason,
)
from fmd.hub.clock import ManualClock
from fmd.hub.contract import UNANSWERED, ManualEntry
from fmd.hub.soap import SoapHubClient
from fmd.hub.soap_codes import refused_credential
from fmd.hub.soap_names import (
    BULK_PATH,
    DECOMMISSION,
    SINGLE_PATH,
    SOAP_MEDIA_TYPE,
    SUPPORT_PATH,
    SUPPORT_PING,
    TYPES_NS,
)
from fmd.hub.soap_requests import Login, Software, ping_request, result_request, single_request
from fmd.hub.soap_responses import read_bulk_result, read_ping, read_single_response
from simulators.hub import Faults, HubSimulator
from tests.support.packs import hub_pack

START = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
GTIN = "04006381333931"
GTIN_UNKNOWN = "08712345678906"
PASSWORD = "sim-password-1"
LOGIN: dict[str, Any] = {
    "client_login_id": "PHARMACY01",
    "user_id": "robot01",
    "password": PASSWORD,
}
BATCHES = {"B1": date(2026, 12, 31), "RECALLED": date(2026, 12, 31), "OLD": date(2025, 2, 1)}

Admin = Callable[..., Awaitable[dict[str, Any]]]


def ui(serial: str, batch: str = "B1", *, product: str = GTIN, expiry: str = "") -> PackIdentifier:
    printed = expiry or BATCHES.get(batch, date(2026, 12, 31)).strftime("%y%m%d")
    return hub_pack(serial, batch, printed, product=product)


def seeded_hub(clock: ManualClock) -> MockHub:
    hub = MockHub(clock, seed=5)
    hub.add_product(GTIN)
    for batch, expiry in BATCHES.items():
        hub.add_batch(GTIN, batch, expiry)
    hub.recall_batch(GTIN, "RECALLED")
    return hub


@pytest.fixture(scope="module")
def hub() -> MockHub:
    return seeded_hub(ManualClock(START))


@pytest.fixture(scope="module")
def sim(hub: MockHub) -> Iterator[HubSimulator]:
    with HubSimulator(hub, dialects=("soap",)) as running:
        yield running


def new_pack(hub: MockHub, serial: str, batch: str = "B1") -> PackIdentifier:
    pack = ui(serial, batch)
    hub.add_pack(pack)
    return pack


def pem(sim: HubSimulator) -> dict[str, Any]:
    assert sim.pki is not None
    return {"cert": str(sim.pki.client_cert), "key": str(sim.pki.client_key), "ca": str(sim.pki.ca)}


@pytest.fixture
async def client(sim: HubSimulator) -> AsyncIterator[SoapHubClient]:
    async with SoapHubClient(sim.soap_url, **LOGIN, **pem(sim), bulk_poll_s=0.02) as opened:
        yield opened


@pytest.fixture
def admin(sim: HubSimulator) -> Iterator[Admin]:
    """Calls the simulator's admin API (with the client certificate); faults reset afterwards."""
    assert sim.pki is not None
    context = ssl.create_default_context(cafile=str(sim.pki.ca))
    context.load_cert_chain(str(sim.pki.client_cert), str(sim.pki.client_key))

    async def call(method: str, path: str, json: dict[str, Any] | None = None) -> dict[str, Any]:
        async with httpx.AsyncClient(verify=context) as http:
            response = await http.request(method, f"{sim.admin_url}{path}", json=json)
            response.raise_for_status()
            answer: dict[str, Any] = response.json()
            return answer

    yield call
    sim.faults.update({f.name: f.default for f in fields(Faults)})


# -- transactions ----------------------------------------------------------------------------------


async def test_client_keeps_the_hub_contract(client: SoapHubClient) -> None:
    assert isinstance(client, HubClient)


async def test_verify_supply_and_undo(hub: MockHub, client: SoapHubClient) -> None:
    pack = new_pack(hub, "HAPPY1")
    verified = await client.verify(pack, trx="trx-happy-1")
    assert (verified.outcome, verified.return_code, verified.state) == (
        "ok",
        "NMVS_SUCCESS",
        PackState.ACTIVE,
    )
    assert verified.client_trx_id == "trx-happy-1"
    assert len(verified.hub_trx_id) == 32
    assert verified.at == START
    assert verified.latency_s > 0
    supplied = await client.decommission(pack, Reason.SUPPLIED, trx="trx-happy-2")
    assert (supplied.outcome, supplied.state, supplied.reasons) == (
        "ok",
        PackState.INACTIVE,
        (Reason.SUPPLIED,),
    )
    undone = await client.undo(pack, Reason.SUPPLIED, ref_trx="trx-happy-2")
    assert (undone.outcome, undone.state) == ("ok", PackState.ACTIVE)
    assert hub.pack_state(GTIN, "HAPPY1") == (PackState.ACTIVE, ())


async def test_resending_a_trx_id_gets_the_first_answer(
    hub: MockHub, client: SoapHubClient
) -> None:
    pack = new_pack(hub, "IDEM1")
    first = await client.decommission(pack, Reason.SUPPLIED, trx="trx-idem-1")
    again = await client.decommission(pack, Reason.SUPPLIED, trx="trx-idem-1")
    assert again.outcome == "ok"
    assert again.hub_trx_id == first.hub_trx_id
    assert hub.state_changes_by_pack[GTIN, "IDEM1"] == 1


@pytest.mark.parametrize("reason", list(DECOMMISSION))
async def test_every_decommission_and_its_undo(
    hub: MockHub, client: SoapHubClient, reason: Reason
) -> None:
    pack = new_pack(hub, f"R-{reason.value}")
    done = await client.decommission(pack, reason)
    assert (done.outcome, done.reasons) == ("ok", (reason,))
    undone = await client.undo(pack, reason)
    if reason in (Reason.DESTROYED, Reason.STOLEN):
        # PCK_27 without an alert travels as its v5 "no alert" twin
        assert (undone.outcome, undone.return_code) == ("refused", "NMVS_NC_PCK_31")
    else:
        assert (undone.outcome, undone.state) == ("ok", PackState.ACTIVE)


async def test_unknown_serial_is_an_alert_with_its_id(hub: MockHub, client: SoapHubClient) -> None:
    result = await client.verify(ui("NO-SUCH-SERIAL"))
    assert (result.outcome, result.return_code) == ("alert", "NMVS_NC_PC_02")
    assert result.alert
    assert result.alert_id == hub.alerts[-1].alert_id


async def test_supplied_pack_decommissioned_again_is_pck_22_alert(
    hub: MockHub, client: SoapHubClient
) -> None:
    pack = new_pack(hub, "TWICE1")
    assert (await client.decommission(pack, Reason.SUPPLIED)).outcome == "ok"
    again = await client.decommission(pack, Reason.DESTROYED)
    assert (again.outcome, again.return_code, again.reasons) == (
        "alert",
        "NMVS_NC_PCK_22",
        (Reason.SUPPLIED,),
    )
    assert again.alert_id is not None


@pytest.mark.parametrize(
    ("pack", "code"),
    [
        (ui("S1", product=GTIN_UNKNOWN), "NMVS_NC_PC_01"),
        (ui("REC1", "RECALLED"), "NMVS_FE_LOT_01"),
        (ui("OLD1", "OLD"), "NMVS_NC_PCK_02"),
    ],
    ids=["unknown-product", "recalled", "expired"],
)
async def test_refusals(
    hub: MockHub, client: SoapHubClient, pack: PackIdentifier, code: str
) -> None:
    if pack.product_code == GTIN:
        hub.add_pack(pack)
    result = await client.verify(pack)
    assert (result.outcome, result.return_code, result.alert_id) == ("refused", code, None)


async def test_undo_after_ten_days_is_an_alert() -> None:
    clock = ManualClock(START)
    hub = seeded_hub(clock)
    pack = new_pack(hub, "LATE1")
    with HubSimulator(hub, dialects=("soap",)) as sim:
        async with SoapHubClient(sim.soap_url, **LOGIN, **pem(sim)) as client:
            assert (await client.decommission(pack, Reason.SUPPLIED)).outcome == "ok"
            clock.advance(days=10, seconds=1)
            late = await client.undo(pack, Reason.SUPPLIED)
    assert (late.outcome, late.return_code) == ("alert", "NMVS_NC_PCK_20")
    assert late.at == START.replace(day=11, second=1)


async def test_rate_limit(hub: MockHub, client: SoapHubClient) -> None:
    pack = new_pack(hub, "RATE1")
    hub.rate_limit_per_s = 1
    try:
        results = [await client.verify(pack) for _ in range(2)]
    finally:
        hub.rate_limit_per_s = None
    assert (results[1].outcome, results[1].return_code) == ("rate_limited", "NMVS_FI_SE_CLI_01")


# -- bulk and ping ---------------------------------------------------------------------------------


async def test_bulk_verify_and_supply_through_g188(hub: MockHub, client: SoapHubClient) -> None:
    packs = [new_pack(hub, f"BULK{i}") for i in range(4)]
    hub.latency_s = 0.05  # the first G188 polls find the bulk still processing
    try:
        verified = await client.bulk([BulkItem(pack) for pack in packs])
        supplied = await client.bulk(
            [BulkItem(pack, "decommission", Reason.SUPPLIED) for pack in packs[:3]]
            + [BulkItem(ui("NOT-THERE"), "decommission", Reason.SUPPLIED)]
        )
    finally:
        hub.latency_s = 0.0
    assert len(verified.hub_trx_id) == 32
    assert [r.state for r in verified.results] == [PackState.ACTIVE] * 4
    assert [r.outcome for r in supplied.results] == ["ok", "ok", "ok", "alert"]
    assert supplied.results[3].alert_id is not None
    assert hub.pack_state(GTIN, "BULK0") == (PackState.INACTIVE, (Reason.SUPPLIED,))
    assert hub.pack_state(GTIN, "BULK3") == (PackState.ACTIVE, ())


async def test_mixed_bulk_keeps_item_order_and_refuses_bad_items_locally(
    hub: MockHub, client: SoapHubClient
) -> None:
    packs = [new_pack(hub, f"MIX{i}") for i in range(3)]
    result = await client.bulk(
        [
            BulkItem(packs[0], "decommission", Reason.DESTROYED, trx="mix-trx-0"),
            BulkItem(ui("BAD\x1dSERIAL")),
            BulkItem(packs[1]),
            BulkItem(packs[2], "decommission", Reason.CHECKED_OUT),
        ]
    )
    assert [r.outcome for r in result.results] == ["ok", "invalid_request", "ok", "invalid_request"]
    assert result.results[0].client_trx_id == "mix-trx-0"
    assert result.results[0].reasons == (Reason.DESTROYED,)
    assert result.hub_trx_id.count(",") == 1  # one bulk per transaction type (G135, G115)
    assert await client.bulk([]) == type(result)("", ())


async def test_a_bulk_carries_one_product_and_batch_so_a_delivery_goes_as_several(
    hub: MockHub, sim: HubSimulator
) -> None:
    hub.add_batch(GTIN, "B2", date(2026, 12, 31))
    packs = [new_pack(hub, f"GRP{i}", "B1" if i % 2 else "B2") for i in range(6)]
    recorder = Recorder(sim)
    async with SoapHubClient(
        sim.soap_url, **LOGIN, **pem(sim), bulk_poll_s=0.02, transport=recorder
    ) as client:
        result = await client.bulk([BulkItem(p) for p in [*packs, packs[0]]])
    assert [r.state for r in result.results] == [PackState.ACTIVE] * 7
    submitted = [body for code, body in recorder.sent if code == "G115Request"]
    assert len(submitted) == 3, "batch B1, batch B2, and the repeated serial in a bulk of its own"
    assert all(body.count(b"<typ:Product>") == 1 for body in submitted)
    assert sorted(body.count(b"<typ:Pack ") for body in submitted) == [1, 3, 3]


async def test_a_pack_the_bulk_answer_leaves_out_is_not_done(
    hub: MockHub, sim: HubSimulator
) -> None:
    packs = [new_pack(hub, f"OMIT{i}") for i in range(3)]
    dropper = Recorder(sim, drop_pack=b"OMIT1")
    async with SoapHubClient(
        sim.soap_url, **LOGIN, **pem(sim), bulk_poll_s=0.02, transport=dropper
    ) as client:
        result = await client.bulk([BulkItem(p, trx=f"omit-{i}") for i, p in enumerate(packs)])
    assert [r.return_code for r in result.results] == ["NMVS_SUCCESS", UNANSWERED, "NMVS_SUCCESS"]
    assert (result.results[1].outcome, result.results[1].client_trx_id) == ("technical", "omit-1")


async def test_a_mixed_bulk_carries_each_items_transaction_and_a_replay_changes_nothing(
    hub: MockHub, client: SoapHubClient
) -> None:
    packs = [new_pack(hub, f"MXD{i}") for i in range(3)]
    supplied = await client.decommission(packs[2], Reason.SUPPLIED, trx="mxd-sup")
    assert supplied.outcome == "ok"
    items = [
        BulkItem(packs[0], "verify", trx="mxd-0"),
        BulkItem(packs[1], "decommission", Reason.SUPPLIED, trx="mxd-1"),
        BulkItem(packs[2], "undo", Reason.SUPPLIED, trx="mxd-2", ref_trx="mxd-sup"),
        BulkItem(packs[0], "decommission", Reason.CHECKED_OUT, trx="mxd-3"),
    ]
    changes = hub.state_changes
    first = await client.mixed(items)
    assert [r.outcome for r in first.results] == ["ok", "ok", "ok", "invalid_request"]
    assert [r.client_trx_id for r in first.results] == ["mxd-0", "mxd-1", "mxd-2", "mxd-3"]
    assert hub.pack_state(GTIN, "MXD1") == (PackState.INACTIVE, (Reason.SUPPLIED,))
    assert hub.pack_state(GTIN, "MXD2") == (PackState.ACTIVE, ())
    again = await client.mixed(items[:3])
    assert [r.return_code for r in again.results] == ["NMVS_SUCCESS"] * 3
    assert hub.state_changes == changes + 2, "the replayed trx ids applied nothing twice"


async def test_a_pack_keyed_in_by_hand_is_supplied_by_g122_with_its_code_and_serial(
    hub: MockHub, sim: HubSimulator
) -> None:
    pack = new_pack(hub, "HAND1")
    recorder = Recorder(sim)
    async with SoapHubClient(sim.soap_url, **LOGIN, **pem(sim), transport=recorder) as client:
        bare_verify = await client.manual(ManualEntry("GTIN", GTIN, "HAND1"))
        supplied = await client.manual(ManualEntry("GTIN", GTIN, "HAND1"), Reason.SUPPLIED)
        keyed = ManualEntry("GTIN", GTIN, "HAND1", pack.batch, pack.expiry_raw)
        verified = await client.manual(keyed)
    assert bare_verify.outcome == "invalid_request"
    assert "batch and the expiry" in bare_verify.message
    assert (supplied.outcome, supplied.reasons) == ("ok", (Reason.SUPPLIED,))
    assert (verified.state, verified.reasons) == (PackState.INACTIVE, (Reason.SUPPLIED,))
    assert [code for code, _ in recorder.sent] == ["G122Request", "G110Request"]
    assert b"<typ:Batch>" not in recorder.sent[0][1]


async def test_text_xml_is_accepted_as_production_endpoints_do(
    sim: HubSimulator, client: SoapHubClient
) -> None:
    body = ping_request(SUPPORT_PING, "hello")
    async with httpx.AsyncClient(verify=_context(sim)) as http:
        response = await http.post(
            f"{sim.soap_url}{SUPPORT_PATH}", content=body, headers={"content-type": "text/xml"}
        )
    assert response.status_code == 200
    assert read_ping(response.content, code=SUPPORT_PING) == "hello"


async def test_a_strict_simulator_refuses_text_xml(hub: MockHub) -> None:
    with HubSimulator(hub, dialects=("soap",), strict_media_type=True) as strict:
        async with httpx.AsyncClient(verify=_context(strict)) as http:
            response = await http.post(
                f"{strict.soap_url}{SUPPORT_PATH}",
                content=ping_request(SUPPORT_PING, "x"),
                headers={"content-type": "text/xml"},
            )
    assert response.status_code == 415
    assert b"NMVS_TE_XM_01" in response.content


async def test_a_request_with_unqualified_attributes_is_refused_naming_the_attribute(
    sim: HubSimulator,
) -> None:
    login = Login("PHARMACY01", "robot01", PASSWORD)
    body = single_request("G110", login, Software("s", "n", "1"), "t-unq", ui("UNQ1"))
    unqualified = body.replace(b"typ:sn=", b"sn=")
    async with httpx.AsyncClient(verify=_context(sim)) as http:
        response = await http.post(
            f"{sim.soap_url}{SINGLE_PATH}",
            content=unqualified,
            headers={"content-type": SOAP_MEDIA_TYPE},
        )
    assert response.status_code == 400
    fault = read_single_response(response.content, code="G110", client_trx="t-unq")
    assert fault.return_code == "NMVS_TE_XM_01"
    assert "sn" in fault.message


class Recorder(httpx.AsyncBaseTransport):
    """A real HTTPS transport that remembers each request's transaction element and body, and
    can drop one pack from a G188 answer (as a hub that loses one would)."""

    def __init__(self, sim: HubSimulator, drop_pack: bytes | None = None) -> None:
        assert sim.pki is not None
        context = ssl.create_default_context(cafile=str(sim.pki.ca))
        context.load_cert_chain(str(sim.pki.client_cert), str(sim.pki.client_key))
        self.inner = httpx.AsyncHTTPTransport(verify=context)
        self.drop_pack = drop_pack
        self.sent: list[tuple[str, bytes]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        element = etree.fromstring(body).find("{*}Body")[0]
        self.sent.append((etree.QName(element).localname, body))
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        if self.drop_pack is not None and b"G188Response" in content:
            root = etree.fromstring(content)
            for pack in root.iter("{*}Pack"):
                if pack.get(f"{{{TYPES_NS}}}sn") == self.drop_pack.decode():
                    pack.getparent().remove(pack)
            content = etree.tostring(root)
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_g188_for_an_unknown_bulk(sim: HubSimulator) -> None:
    software = Software("fmd-robot", "tests", "1")
    login = Login("PHARMACY01", "robot01", PASSWORD)
    body = result_request("G188", login, software, "t1", "0" * 32)
    async with httpx.AsyncClient(verify=_context(sim)) as http:
        response = await http.post(
            f"{sim.soap_url}{BULK_PATH}", content=body, headers={"content-type": SOAP_MEDIA_TYPE}
        )
    assert response.status_code == 200
    assert b'code="NMVS_FE_TX_02"' in response.content
    assert read_bulk_result(response.content) is None, "not available (yet): the client polls"


async def test_ping(client: SoapHubClient, admin: Admin) -> None:
    await client.ping()
    await admin("PUT", "/faults", {"error_rate": 1.0})
    with pytest.raises(HubUnavailable, match="ping failed"):
        await client.ping()


# -- certificates and login ------------------------------------------------------------------------


async def test_client_without_certificate_is_refused(sim: HubSimulator) -> None:
    assert sim.pki is not None
    async with SoapHubClient(sim.soap_url, **LOGIN, ca=str(sim.pki.ca)) as client:
        with pytest.raises(HubUnavailable) as raised:
            await client.verify(ui("S1"))
    assert PASSWORD not in str(raised.value)


async def test_untrusted_server_certificate(sim: HubSimulator, hub: MockHub) -> None:
    options = pem(sim) | {"ca": True}
    async with SoapHubClient(sim.soap_url, **LOGIN, **options) as client:
        with pytest.raises(HubUnavailable, match=r"(?i)certificate|ssl|tls"):
            await client.verify(ui("S1"))


async def test_a_wrong_password_raises_hub_auth_failed_naming_the_login(sim: HubSimulator) -> None:
    login = LOGIN | {"password": "not-the-password"}
    async with SoapHubClient(sim.soap_url, **login, **pem(sim)) as client:
        for call in (client.verify(ui("S1")), client.ping(), client.bulk([BulkItem(ui("S1"))])):
            with pytest.raises(HubAuthFailed) as raised:
                await call
            assert raised.value.code == "NMVS_FE_AU_01"
            message = str(raised.value)
            for named in ("robot01", "PHARMACY01", "NMVS_FE_AU_01", "password"):
                assert named in message
            assert "not-the-password" not in message


async def test_ping_checks_the_login_without_changing_anything(
    sim: HubSimulator, hub: MockHub, client: SoapHubClient
) -> None:
    before = (hub.transactions, hub.state_changes, len(hub.alerts))
    refused = sim.book.refused
    await client.ping()
    assert (hub.transactions, hub.state_changes, len(hub.alerts)) == before
    assert sim.book.refused == refused
    async with SoapHubClient(sim.soap_url, **LOGIN | {"user_id": "robot99"}, **pem(sim)) as other:
        with pytest.raises(HubAuthFailed, match="robot99"):
            await other.ping()
    assert sim.book.refused == refused + 1


@pytest.mark.parametrize(
    ("code", "named"),
    [
        ("NMVS_FE_AU_01", "login"),
        ("NMVS_FE_AU_24", "login"),
        ("NMVS_FE_PKI_05", "client certificate"),
        ("NMVS_TI_AU_01", None),  # the hub's authentication service failed: an outage
        ("NMVS_ERROR", None),
    ],
)
def test_which_return_codes_refuse_a_credential(code: str, named: str | None) -> None:
    found = refused_credential(code)
    assert (found.value if found else None) == named


async def test_pkcs12_client_certificate(sim: HubSimulator, tmp_path: Path) -> None:
    assert sim.pki is not None
    key = load_pem_private_key(sim.pki.client_key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    cert = x509.load_pem_x509_certificate(sim.pki.client_cert.read_bytes())
    p12 = tmp_path / "client.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"robot",
            key,
            cert,
            None,
            BestAvailableEncryption(b"p12-secret"),
        )
    )
    options: dict[str, Any] = {"pkcs12": str(p12), "ca": str(sim.pki.ca)}
    async with SoapHubClient(
        sim.soap_url, **LOGIN, **options, pkcs12_password="p12-secret"
    ) as client:
        assert (await client.verify(ui("NOPE"))).return_code == "NMVS_NC_PC_02"
    with pytest.raises(ValueError, match="PKCS#12") as raised:
        SoapHubClient(sim.soap_url, **LOGIN, **options, pkcs12_password="wrong")
    assert "wrong" not in str(raised.value).replace("wrong password", "")


async def test_password_never_shown(client: SoapHubClient) -> None:
    assert PASSWORD not in repr(client)
    with pytest.raises(ValueError, match="password") as raised:
        SoapHubClient("https://hub.test", **(LOGIN | {"password": "short"}))
    assert "short" not in str(raised.value)


# -- faults ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "code"),
    [("malformed_rate", "NMVS_TE_XM_01"), ("error_rate", "NMVS_ERROR")],
)
async def test_faults_answered_as_technical(
    hub: MockHub, client: SoapHubClient, admin: Admin, fault: str, code: str
) -> None:
    await admin("PUT", "/faults", {fault: 1.0})
    result = await client.verify(ui("S1"))
    assert (result.outcome, result.return_code) == ("technical", code)


@pytest.mark.parametrize("fault", ["drop_rate", "lost_reply_rate"])
async def test_dropped_connections_are_hub_unavailable(
    hub: MockHub, client: SoapHubClient, admin: Admin, fault: str
) -> None:
    pack = new_pack(hub, f"DROP-{fault}")
    before = await admin("GET", "/stats")
    await admin("PUT", "/faults", {fault: 1.0})
    with pytest.raises(HubUnavailable):
        await client.decommission(pack, Reason.SUPPLIED)
    applied = (await admin("GET", "/stats"))["state_changes"] - before["state_changes"]
    assert applied == (1 if fault == "lost_reply_rate" else 0)


async def test_truncated_reply_is_technical(
    hub: MockHub, client: SoapHubClient, admin: Admin
) -> None:
    await admin("PUT", "/faults", {"truncated_rate": 1.0})
    result = await client.verify(ui("S1"))
    assert (result.outcome, result.return_code) == ("technical", "NMVS_TE_XM_01")


async def test_mockhub_unavailable_is_http_503(hub: MockHub, client: SoapHubClient) -> None:
    hub.set_faults(timeout_rate=1.0)
    try:
        result = await client.verify(ui("S1"))
    finally:
        hub.set_faults(timeout_rate=0.0)
    assert (result.outcome, result.return_code) == ("technical", "NMVS_TI_RT_02")
    assert "HTTP 503" in result.message


async def test_hang_with_short_timeout(sim: HubSimulator, admin: Admin) -> None:
    await admin("PUT", "/faults", {"hang_rate": 1.0, "hang_s": 0.6})
    async with SoapHubClient(sim.soap_url, **LOGIN, **pem(sim), timeout=0.2) as client:
        with pytest.raises(HubUnavailable, match="no answer in time"):
            await client.verify(ui("S1"))


async def test_local_validation_sends_nothing(client: SoapHubClient, admin: Admin) -> None:
    before = (await admin("GET", "/stats"))["transactions"]
    bad = [
        await client.verify(ui("S1"), trx="under_score"),
        await client.verify(ui("S1"), trx="x" * 33),
        await client.verify(ui("S\x1d1")),
        await client.verify(ui("S" * 21)),
        await client.verify(ui("S1", expiry="251301")),
        await client.verify(ui("S1", product="04006381333932")),
        await client.verify(PackIdentifier("PPN", "110375286415", "S1", "B1", None, "261231")),
        await client.decommission(ui("S1"), Reason.RECALLED),
        await client.decommission(ui("S1"), Reason.CHECKED_OUT),
        await client.undo(ui("S1"), Reason.SUPPLIED, ref_trx="bad ref"),
    ]
    assert {r.outcome for r in bad} == {"invalid_request"}
    assert [r.return_code for r in bad] == [
        *["NMVS_TE_XM_01"] * 4,
        "NMVS_FE_LOT_07",
        "NMVS_FE_GR_01",
        "NMVS_FE_GR_02",
        *["NMVS_TE_XM_01"] * 3,
    ]
    assert all(r.message.startswith("refused locally, not sent") for r in bad)
    assert (await admin("GET", "/stats"))["transactions"] == before


# -- the simulator's answers to bad requests -------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"<not xml", SOAP_MEDIA_TYPE, 400),
        (b"<?xml version='1.0'?><a/>", SOAP_MEDIA_TYPE, 400),
        (b"<!DOCTYPE x [<!ENTITY e 'x'>]><x>&e;</x>", SOAP_MEDIA_TYPE, 400),
        (b"<x/>", "application/json", 415),
    ],
    ids=["malformed", "not-soap", "doctype", "content-type"],
)
async def test_simulator_faults_bad_requests(
    sim: HubSimulator, body: bytes, content_type: str, status: int
) -> None:
    async with httpx.AsyncClient(verify=_context(sim)) as http:
        response = await http.post(
            f"{sim.soap_url}{SINGLE_PATH}", content=body, headers={"content-type": content_type}
        )
    assert response.status_code == status
    assert response.headers["content-type"].startswith(SOAP_MEDIA_TYPE)
    assert b"NMVS_TE_XM_01" in response.content
    assert b"Traceback" not in response.content


# -- unusable HTTP answers (no network) ------------------------------------------------------------


async def _body(size: int) -> AsyncIterator[bytes]:
    for _ in range(size // 100_000 + 1):
        yield b"x" * 100_000


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(302, headers={"location": "https://elsewhere/"}), "redirect"),
        (
            httpx.Response(200, content=b"x" * 1_000_001, headers={"content-type": "x"}),
            "larger",
        ),
        (httpx.Response(200, content=_body(1_100_000)), "larger"),
        (httpx.Response(200, content=b"<a/>", headers={"content-type": "text/html"}), "content"),
        (httpx.Response(500, content=b"oops"), "HTTP 500"),
    ],
    ids=["redirect", "too-large", "too-large-streamed", "content-type", "500"],
)
async def test_unusable_http_answers_are_technical(response: httpx.Response, message: str) -> None:
    transport = httpx.MockTransport(lambda request: response)
    async with SoapHubClient("https://hub.test/soap", **LOGIN, transport=transport) as client:
        result = await client.verify(ui("S1"))
    assert result.outcome == "technical"
    assert message in result.message


async def test_http_429_is_rate_limited() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(429))
    async with SoapHubClient("https://hub.test/soap", **LOGIN, transport=transport) as client:
        result = await client.decommission(ui("S1"), Reason.SUPPLIED, trx="t-429")
    assert (result.outcome, result.client_trx_id) == ("rate_limited", "t-429")


def _context(sim: HubSimulator) -> ssl.SSLContext:
    assert sim.pki is not None
    context = ssl.create_default_context(cafile=str(sim.pki.ca))
    context.load_cert_chain(str(sim.pki.client_cert), str(sim.pki.client_key))
    return context
