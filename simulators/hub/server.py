"""Runs the hub simulator on loopback: SOAP over mutual TLS on one port, REST over TLS on another.

`HubSimulator` serves from its own thread (its own event loop), so a daemon in the same process
reaches it over real sockets, TLS and HTTP, exactly as it would reach a national system. Its
certificates and private keys live in a folder: a temporary one, removed when it stops (or fails
to start), or one it is given, kept with its PKI for the next start.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
import tempfile
import threading
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from fmd.hub import MockHub
from fmd.hub.rest import RestHubClient
from fmd.hub.soap import SoapHubClient
from simulators.hub.accounts import AccountBook, Accounts
from simulators.hub.app import DIALECTS, REST_PREFIX, SOAP_PREFIX, create_app
from simulators.hub.faults import Faults
from simulators.hub.tls import Pki, load_pki, make_pki

KEPT_PKI_DAYS = 365
PORTS_FILE = "ports.json"
"""How long the certificates of a PKI kept in a given folder are valid (made afresh a day
before they run out)."""


class HubSimulator:
    """The simulator's servers; use as a context manager or call `start()` and `stop()`.
    `folder`: where its PKI is kept across restarts (None: a temporary folder, removed by
    `stop()`). `strict_media_type` makes the SOAP side refuse `text/xml` (SOAP 1.2 says
    `application/soap+xml`)."""

    def __init__(
        self,
        hub: MockHub,
        *,
        host: str = "127.0.0.1",
        soap_port: int = 0,
        rest_port: int = 0,
        dialects: Sequence[str] = DIALECTS,
        faults: Faults | None = None,
        accounts: Accounts | None = None,
        seed: int = 0,
        folder: Path | None = None,
        server_cert_expired: bool = False,
        strict_media_type: bool = False,
    ) -> None:
        self.hub = hub
        self.host = host
        self.dialects = tuple(dialects)
        self.faults = faults or Faults()
        self.book = AccountBook(accounts)
        self.seed = seed
        self._server_cert_expired = server_cert_expired
        self._strict_media_type = strict_media_type
        self._ports = {"soap": soap_port, "rest": rest_port}
        self._given_folder = folder
        self._folder: Path | None = folder
        self.pki: Pki | None = None
        self.ports: dict[str, int] = {}
        self._servers: list[uvicorn.Server] = []
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    @property
    def accounts(self) -> Accounts:
        """The logins the simulator accepts now."""
        return self.book.accounts

    @accounts.setter
    def accounts(self, accounts: Accounts) -> None:
        """Change the logins while the simulator runs (as a password reset at the hub would)."""
        self.book.accounts = accounts

    @property
    def folder(self) -> Path:
        """The folder of its certificates and keys (while it runs, when it is temporary)."""
        if self._folder is None:
            raise RuntimeError("start the simulator first")
        return self._folder

    @property
    def soap_url(self) -> str:
        return f"https://{self.host}:{self.ports['soap']}{SOAP_PREFIX}"

    @property
    def rest_url(self) -> str:
        return f"https://{self.host}:{self.ports['rest']}{REST_PREFIX}"

    @property
    def admin_url(self) -> str:
        dialect = "rest" if "rest" in self.ports else "soap"
        return f"https://{self.host}:{self.ports[dialect]}/admin"

    def client(
        self, dialect: str | None = None, *, account: int = 0, **options: Any
    ) -> SoapHubClient | RestHubClient:
        """A client of this simulator, logged in as one of its accounts (the first by default),
        trusting its CA and, for SOAP, presenting its client certificate. `options` go to the
        client's constructor (timeouts, transport, …)."""
        pki = self.pki
        if pki is None:
            raise RuntimeError("start the simulator first")
        dialect = dialect or self.dialects[0]
        if dialect == "soap":
            login = self.accounts.soap[account]
            return SoapHubClient(
                self.soap_url,
                client_login_id=login.client_login_id,
                user_id=login.user_id,
                password=login.password,
                cert=str(pki.client_cert),
                key=str(pki.client_key),
                ca=str(pki.ca),
                **options,
            )
        equipment = self.accounts.rest[account]
        return RestHubClient(
            self.rest_url,
            client_id=equipment.client_id,
            client_secret=equipment.client_secret,
            verify=str(pki.ca),
            **options,
        )

    def start(self) -> None:
        """Make (or take up again) the certificates, bind the ports and serve until `stop()`;
        a start that fails stops what it began (a temporary folder is removed)."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        hosts = (self.host, "localhost")
        saved: dict[str, int] = {}
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="fmd-hub-sim-"))
            self.pki = make_pki(self._folder, hosts=hosts, server_expired=self._server_cert_expired)
        else:
            kept = (
                None
                if self._server_cert_expired
                else load_pki(self._folder, hosts=hosts, valid_for=timedelta(days=1))
            )
            self.pki = kept or make_pki(
                self._folder, hosts=hosts, server_expired=self._server_cert_expired,
                days=KEPT_PKI_DAYS,
            )  # fmt: skip
            saved = saved_ports(self._folder)
        sockets = {}
        try:
            for dialect in self.dialects:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
                sockets[dialect] = sock  # NODELAY: IPPROTO_TCP
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((self.host, self._ports[dialect] or saved.get(dialect, 0)))
                self.ports[dialect] = sock.getsockname()[1]
        except BaseException:
            for sock in sockets.values():
                sock.close()
            raise
        if self._given_folder is not None:
            save_ports(self._given_folder, {**saved, **self.ports})
        for index, dialect in enumerate(self.dialects):
            app = create_app(
                self.hub,
                faults=self.faults,
                accounts=self.book,
                dialects=(dialect,),
                seed=self.seed + index,
                strict_media_type=self._strict_media_type,
            )
            config = uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                ssl_certfile=str(self.pki.server_cert),
                ssl_keyfile=str(self.pki.server_key),
                ssl_ca_certs=str(self.pki.ca),
                ssl_cert_reqs=ssl.CERT_REQUIRED if dialect == "soap" else ssl.CERT_NONE,
                lifespan="off",
                timeout_graceful_shutdown=2,  # a hanging fault must not hold up stop()
            )
            self._servers.append(uvicorn.Server(config))
        self._thread = threading.Thread(
            target=self._serve, args=(list(sockets.values()),), name="hub-simulator", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout=20) or self._failure is not None:
            raise RuntimeError(f"the hub simulator did not start: {self._failure!r}")

    def _serve(self, sockets: list[socket.socket]) -> None:
        async def serve_all() -> None:
            tasks = [
                asyncio.create_task(server.serve(sockets=[sock]))
                for server, sock in zip(self._servers, sockets, strict=True)
            ]
            while not all(server.started for server in self._servers):
                ended = next((task for task in tasks if task.done()), None)
                if ended is not None:  # a server gave up before it started: say why
                    self._failure = ended.exception() or RuntimeError("a server stopped early")
                    break
                await asyncio.sleep(0.01)
            self._ready.set()
            await asyncio.gather(*tasks)

        try:
            asyncio.run(serve_all())
        except BaseException as error:  # noqa: BLE001 - reported to the thread that started us
            self._failure = error
            self._ready.set()

    def stop(self) -> None:
        """Stop serving; remove the folder unless it was given."""
        for server in self._servers:
            server.should_exit = True
        try:
            if self._thread is not None:
                self._thread.join(timeout=10)
                if self._thread.is_alive():
                    raise RuntimeError("the hub simulator did not stop within 10 s")
        finally:
            if self._given_folder is None and self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)
                self._folder = None

    def __enter__(self) -> HubSimulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def saved_ports(folder: Path) -> dict[str, int]:
    """The ports a simulator kept in `folder` served on last time, by dialect (none: {})."""
    path = folder / PORTS_FILE
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise RuntimeError(f"{path}: cannot be read ({error}); remove it") from None
    if not isinstance(saved, dict) or not all(
        dialect in DIALECTS and isinstance(port, int) and 0 < port < 65536
        for dialect, port in saved.items()
    ):
        raise RuntimeError(f"{path}: not the ports of a hub simulator; remove it")
    return saved


def save_ports(folder: Path, ports: dict[str, int]) -> None:
    """Keep the ports served on in `folder`, for the next start."""
    (folder / PORTS_FILE).write_text(json.dumps(ports) + "\n", encoding="utf-8")
