"""`fmd-robot sim hub` (the NMVS simulator on its own) and `fmd-robot sim delivery` (a
generated delivery's master data and raw scans, as files)."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from fmd.hub import MockHub
from fmd.hub.markets import MARKETS, market_profile
from fmd.hub.master_data import MasterData, MasterDataError, load_master_data
from robot_controller.config import MockHubConfig
from robot_controller.config_toml import toml_section
from robot_controller.console import err, fail, out
from robot_controller.simulated import hub_config
from robot_controller.wiring import read_master_data
from simulators.delivery import generate_delivery, master_data
from simulators.hub import Faults, HubSimulator
from simulators.world import endpoint_of, write_master_data, write_scans


def sim_hub(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=0, max=65534, help="REST port; SOAP on the next.")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the master data and of the faults.")] = 1,
    packs: Annotated[int, typer.Option(min=0, help="Packs of master data to load.")] = 200,
    dialects: Annotated[str, typer.Option(help="Comma-separated: soap,rest.")] = "soap,rest",
    market: Annotated[
        str,
        typer.Option(
            help=f"The national system it answers as: {', '.join(MARKETS)} (where they differ)."
        ),
    ] = "strict",
    fault: Annotated[
        list[str] | None,
        typer.Option(help="A fault setting NAME=VALUE, e.g. lost_reply_rate=0.1 (repeatable)."),
    ] = None,
    master_data: Annotated[
        Path | None,
        typer.Option(
            "--master-data",
            help="A JSON file of products, batches and packs to serve (default: a generated "
            "delivery's, from --packs and --seed).",
        ),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir",
            help="Keep the CA, keys, secrets and ports here across restarts (default: a "
            "temporary folder, removed at exit).",
        ),
    ] = None,
    print_config: Annotated[
        bool,
        typer.Option(
            "--print-config",
            help="Print the \\[hub] section that connects to it (the first of --dialects) on "
            "stdout, and the rest on stderr.",
        ),
    ] = False,
) -> None:
    """Serve the NMVS simulator (SOAP over mutual TLS, REST over TLS) until Ctrl-C or SIGTERM."""
    chosen = tuple(d.strip() for d in dialects.split(",") if d.strip())
    if not chosen or set(chosen) - {"soap", "rest"}:
        raise fail("--dialects takes soap, rest or soap,rest")
    faults = Faults()
    malformed = [item for item in fault or [] if "=" not in item]
    if malformed:
        raise fail(f"--fault takes NAME=VALUE, not {malformed[0]!r}")
    try:
        faults.update(dict(item.split("=", 1) for item in fault or []))
    except ValueError as error:
        raise fail(f"--fault: {error} (NAME=VALUE, names: {', '.join(vars(faults))})") from None
    try:
        profile = market_profile(market)
    except ValueError as error:
        raise fail(f"--market: {error}") from None
    hub = MockHub(seed=seed, market=profile)
    try:
        data = (
            read_master_data(master_data)
            if master_data is not None
            else _master_data_of(packs, seed)
        )
        load_master_data(hub, data)
    except MasterDataError as error:
        raise fail(f"--master-data {master_data}: {error}") from None
    simulator = HubSimulator(
        hub,
        host=host,
        rest_port=port,
        soap_port=port + 1 if port else 0,
        dialects=chosen,
        seed=seed,
        faults=faults,
        folder=state_dir.resolve() if state_dir else None,  # the printed paths are absolute
    )
    stop = threading.Event()
    for ending in (signal.SIGTERM, signal.SIGHUP):  # before anything is made: nothing is left
        signal.signal(ending, lambda *_: stop.set())
    try:
        simulator.start()  # a start that fails removes what it made
    except (OSError, RuntimeError) as error:
        raise fail(f"cannot start the simulator: {error}") from None
    except KeyboardInterrupt:
        return
    try:
        market_line = f"market {profile.name}: {profile.source}"
        _announce(simulator, chosen, market_line, len(data.packs), print_config=print_config)
        # Woken now and then: a signal may be delivered to a server thread, and its Python
        # handler runs only once the main thread runs again (a bare wait() can sleep forever).
        while not stop.wait(timeout=0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the clean-up
        simulator.stop()


def _announce(
    simulator: HubSimulator,
    dialects: tuple[str, ...],
    market: str,
    packs: int,
    *,
    print_config: bool,
) -> None:
    """Say where the simulator serves and how to log in; with `print_config`, the `[hub]`
    section that connects to it goes to stdout and the rest to stderr."""
    pki = simulator.pki
    if pki is None:
        raise fail("the simulator started without its certificates")
    if print_config:
        section = hub_config(MockHubConfig(), endpoint_of(simulator, dialects[0]))
        sys.stdout.write(toml_section("hub", section))
        sys.stdout.flush()
    console = err if print_config else out
    soap, rest = simulator.accounts.soap[0], simulator.accounts.rest[0]
    # soft_wrap: URLs, paths and secrets are never broken across lines (a pipe is 80 columns)
    if "soap" in dialects:
        console.print(f"SOAP  {simulator.soap_url}  (client certificate required)",
                      soft_wrap=True, highlight=False)  # fmt: skip
    if "rest" in dialects:
        console.print(f"REST  {simulator.rest_url}", soft_wrap=True, highlight=False)
    console.print(f"admin {simulator.admin_url}/stats, PUT {simulator.admin_url}/faults",
                  soft_wrap=True, highlight=False)  # fmt: skip
    console.print(
        f"CA {pki.ca}\nclient certificate {pki.client_cert} key {pki.client_key}\n"
        f"SOAP login {soap.client_login_id} / {soap.user_id} / {soap.password}; REST client "
        f"{rest.client_id} / {rest.client_secret}\n{market}\n{packs} packs of master data "
        "loaded. Ctrl-C stops.",
        soft_wrap=True,
        highlight=False,
    )


def _master_data_of(packs: int, seed: int) -> MasterData:
    return master_data(generate_delivery(packs, seed=seed))


def sim_delivery(
    out_file: Annotated[Path, typer.Option("--out", help="The master-data JSON file to write.")],
    scans_file: Annotated[
        Path, typer.Option("--scans", help="The raw scans to write, one per line (GS as 0x1D).")
    ],
    packs: Annotated[int, typer.Option(min=0, help="Packs in the delivery.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the delivery (same seed, same files).")] = 1,
    suspect_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of suspect packs.")
    ] = 0.1,
) -> None:
    """Write a generated delivery: its master data (for `[hub] master_data` or `sim hub
    --master-data`) and its raw scans (for a script scanner or a virtual one)."""
    delivery = generate_delivery(packs, seed=seed, suspect_rate=suspect_rate)
    try:
        write_master_data(master_data(delivery), out_file)
        write_scans(delivery.raws, scans_file)
    except OSError as error:
        raise fail(f"cannot write {error.filename}: {error.strerror or error}") from None
    out.print(
        f"{len(delivery.packs)} packs: master data in {out_file}, scans in {scans_file}",
        highlight=False,
    )
