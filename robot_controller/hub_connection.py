"""Connections to the simulated national system: in process, or over the wire via the simulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from fmd.hub import HubClient, MockHub
from fmd.hub.resilient import ResilientHub
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
    try:
        client = simulator.client()
        try:
            yield ResilientHub(client)
        finally:
            await client.aclose()
    finally:
        await asyncio.to_thread(simulator.stop)
