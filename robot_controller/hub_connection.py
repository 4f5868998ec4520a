"""Connections to the simulated national system: in process, or over the wire via the simulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from fmd.hub import HubClient, MockHub
from fmd.hub.resilient import ResilientHub
from fmd.hub.rest import RestHubClient
from fmd.hub.soap import SoapHubClient
from simulators.hub import Accounts, HubSimulator, RestEquipment, SoapLogin

HubKind = Literal["mock", "soap", "rest"]
HUB_KINDS: tuple[HubKind, ...] = ("mock", "soap", "rest")

_SOAP_LOGIN = ("PHARMACY01", "robot01", "sim-password-1")
_REST_CLIENT = ("robot-equipment-01", "sim-secret-1")


@asynccontextmanager
async def simulated_hub(
    kind: HubKind, hub: MockHub, *, location: str, user: str = "robot"
) -> AsyncIterator[HubClient]:
    """A client of `hub` for `location`: the `MockHub` itself (`mock`), or the SOAP or REST
    dialect over HTTPS to the simulator on loopback, behind the resilience wrapper."""
    if kind == "mock":
        yield hub.client(location, user)
        return
    accounts = Accounts(
        soap=(SoapLogin(*_SOAP_LOGIN, location),), rest=(RestEquipment(*_REST_CLIENT, location),)
    )
    simulator = HubSimulator(hub, dialects=(kind,), accounts=accounts)
    await asyncio.to_thread(simulator.start)
    pki = simulator.pki
    assert pki is not None
    client: SoapHubClient | RestHubClient
    if kind == "soap":
        login, user_id, password = _SOAP_LOGIN
        client = SoapHubClient(
            simulator.soap_url,
            client_login_id=login,
            user_id=user_id,
            password=password,
            cert=str(pki.client_cert),
            key=str(pki.client_key),
            ca=str(pki.ca),
        )
    else:
        client_id, secret = _REST_CLIENT
        client = RestHubClient(
            simulator.rest_url, client_id=client_id, client_secret=secret, verify=str(pki.ca)
        )
    try:
        yield ResilientHub(client)
    finally:
        await client.aclose()
        await asyncio.to_thread(simulator.stop)
