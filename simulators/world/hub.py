"""The simulated national system: master data in a file for the in-process mock, or the SOAP
or REST simulator on loopback serving it over HTTPS."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fmd.hub import MockHub
from fmd.hub.master_data import MasterData, load_master_data
from simulators.hub import Accounts, HubSimulator
from simulators.world.spec import (
    HubEndpoint,
    HubFaults,
    HubKind,
    MockHubEndpoint,
    RestHubEndpoint,
    SoapHubEndpoint,
    WorldError,
)


def write_master_data(data: MasterData, path: Path) -> Path:
    """The master-data file `[hub] master_data` and `sim hub --master-data` read."""
    path.write_text(json.dumps(data.as_json(), indent=1) + "\n", encoding="utf-8")
    return path


@asynccontextmanager
async def simulated_hub(
    kind: HubKind, data: MasterData, folder: Path, *, location: str, faults: HubFaults
) -> AsyncIterator[HubEndpoint | None]:
    """The endpoint of a national system holding `data` (None for kind "none")."""
    if kind == "none":
        yield None
        return
    master_data = await asyncio.to_thread(write_master_data, data, folder / "master-data.json")
    if kind == "mock":
        yield MockHubEndpoint(master_data)
        return
    hub = MockHub(seed=faults.seed, market=faults.market)
    load_master_data(hub, data)
    hub.set_faults(
        latency_s=faults.latency_s,
        timeout_rate=faults.timeout_rate,
        technical_error_rate=faults.technical_error_rate,
        lost_reply_rate=faults.lost_reply_rate,
    )
    accounts = Accounts.for_location(location)
    simulator = HubSimulator(hub, dialects=(kind,), accounts=accounts, folder=folder / "hub")
    try:
        await asyncio.to_thread(simulator.start)
    except (OSError, RuntimeError) as error:
        raise WorldError(f"the {kind} hub simulator did not start: {error}") from None
    try:
        yield endpoint_of(simulator, kind)
    finally:
        await asyncio.to_thread(simulator.stop)


def endpoint_of(simulator: HubSimulator, dialect: str) -> SoapHubEndpoint | RestHubEndpoint:
    """How a client of `dialect` reaches a running simulator as its first account; the secret
    is written to a file in the simulator's folder (readable by its owner only)."""
    pki = simulator.pki
    if pki is None:
        raise WorldError("the hub simulator started without its certificates")
    secret_file = simulator.folder / f"{dialect}-secret"
    if dialect == "soap":
        login = simulator.accounts.soap[0]
        _write_secret(secret_file, login.password)
        return SoapHubEndpoint(
            url=simulator.soap_url,
            ca=pki.ca,
            client_cert=pki.client_cert,
            client_key=pki.client_key,
            client_login_id=login.client_login_id,
            user_id=login.user_id,
            password_file=secret_file,
        )
    equipment = simulator.accounts.rest[0]
    _write_secret(secret_file, equipment.client_secret)
    return RestHubEndpoint(
        url=simulator.rest_url, ca=pki.ca, client_id=equipment.client_id, secret_file=secret_file
    )


def _write_secret(path: Path, secret: str) -> None:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(secret, encoding="utf-8")
