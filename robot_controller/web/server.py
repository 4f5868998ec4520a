"""Serve the app beside the daemon, in its event loop (uvicorn, with TLS when configured).

The socket is bound at `start`, so a taken port or an unusable certificate is one
`ConfigError` line (naming the file at fault) before anything runs; the daemon's own signal
handlers stay in charge (uvicorn does not take SIGINT/SIGTERM here: the daemon stops the
server when it stops).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI

from robot_controller.config import ConfigError, WebConfig

SHUTDOWN_S = 5
"""How long open requests get to finish at a stop (the live streams end at once: `aclose`
closes the feed they follow)."""


def check_tls(certificate: Path, private_key: Path) -> None:
    """`ConfigError` (one line naming the key and file at fault) unless both files can be read
    and hold a PEM certificate and an unencrypted PEM private key."""
    contents = []
    for key, path in (("certificate", certificate), ("private_key", private_key)):
        try:
            contents.append(path.read_bytes())
        except OSError as error:
            raise ConfigError(f"web.{key}: cannot read {path}: {error.strerror or error}") from None
    try:
        x509.load_pem_x509_certificates(contents[0])
    except ValueError:
        raise ConfigError(
            f"web.certificate: {certificate} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ) from None
    try:
        serialization.load_pem_private_key(contents[1], password=None)
    except TypeError:
        raise ConfigError(
            f"web.private_key: {private_key} is encrypted; give the key without a passphrase "
            "(readable only by the service's user)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(f"web.private_key: {private_key} holds no PEM private key") from None


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the daemon owns the signals
        yield


class WebServer:
    """The screens and the API on `[web]`'s address, until `aclose`."""

    def __init__(self, app: FastAPI, web: WebConfig) -> None:
        self._app = app
        self._web = web
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = web.port

    @property
    def url(self) -> str:
        scheme = "https" if self._web.tls else "http"
        host = self._web.host if ":" not in self._web.host else f"[{self._web.host}]"
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> None:
        """Bind and start serving; `ConfigError` (one line) when the address cannot be used."""
        web = self._web
        config = uvicorn.Config(
            self._app,
            log_config=None,
            access_log=False,
            ssl_certfile=str(web.certificate) if web.certificate else None,
            ssl_keyfile=str(web.private_key) if web.private_key else None,
            timeout_graceful_shutdown=SHUTDOWN_S,
            lifespan="off",
            server_header=False,
        )
        if web.certificate is not None and web.private_key is not None:
            check_tls(web.certificate, web.private_key)
        try:
            config.load()
        except (OSError, ssl.SSLError) as error:
            reason = getattr(error, "reason", None)
            if reason == "KEY_VALUES_MISMATCH":
                raise ConfigError(
                    f"web.private_key: {web.private_key} is not the key of the certificate "
                    f"{web.certificate}"
                ) from None
            raise ConfigError(
                f"web: the certificate {web.certificate} or its key {web.private_key} cannot be "
                f"used: {getattr(error, 'strerror', None) or error}"
            ) from None
        family = socket.AF_INET6 if ":" in web.host else socket.AF_INET
        # IPPROTO_TCP named, or asyncio does not set TCP_NODELAY on the accepted sockets, and
        # Nagle with the client's delayed ACK held every answer back ~40 ms (bench/web.py)
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((web.host, web.port))
        except OSError as error:
            sock.close()
            raise ConfigError(
                f"web: cannot listen on {web.host}:{web.port} ({error.strerror or error}; "
                "is another fmd-robot serving there? set [web] port, or enabled = false)"
            ) from None
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="web")
        listening = asyncio.create_task(self._server.listening.wait())
        await asyncio.wait({listening, self._task}, return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        if self._task.done():
            self._task.result()  # it failed to start: its error

    async def aclose(self) -> None:
        """Stop serving: the live feed's streams end first, so none holds the stop up."""
        if self._server is None or self._task is None:
            return
        services = getattr(self._app.state, "services", None)
        if services is not None:  # the live streams end now, so the stop need not wait for them
            services.feed.close()
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
